"""Errors and bad input: fail fast or skip and report, and clean up on early stops.

Real sources have bad records: a missing file, a truncated ``.npy``, garbage.
This recipe reads files through ``interleave`` with a loader that either

* fails fast (``on_error="raise"``): the first bad file stops the pipeline with
  an error that names the file and the reason; or
* skips and reports (``on_error="skip"``): a bad file contributes no rows, is
  recorded with its reason in a ``Report``, and every good row arrives exactly
  once.

It also shows what reaches the caller when a generator raises (the TensorFlow
error type depends on the Python exception type; the message survives) and
that a generator's ``finally`` block runs when the consumer stops early, so
files are closed.

Run ``python bad_input.py`` for a demonstration. Needs only the standard
library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import contextlib
import os
import tempfile
import threading

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

COLS = 2
ROW_SPEC = tf.TensorSpec(shape=(COLS,), dtype=tf.float32)
# --8<-- [end:setup]


# --8<-- [start:files]
@contextlib.contextmanager
def files_with_bad_ones():
    """Five files in a private temporary folder: three good, three kinds of bad.

    Good file ``f`` holds rows ``[10 f + r, 10 f + r]`` for ``r`` in 0..2.
    Returns the paths in order: good, missing, good, truncated, garbage, good.
    """
    with tempfile.TemporaryDirectory(prefix="genpipe-bad-") as folder:  # private (mode 700), removed on exit
        paths = []
        for f, kind in enumerate(["good", "missing", "good", "truncated", "garbage", "good"]):
            path = os.path.join(folder, f"part-{f}-{kind}.npy")
            rows = np.repeat(10 * f + np.arange(3, dtype=np.float32)[:, None], COLS, axis=1)
            if kind in ("good", "truncated"):
                np.save(path, rows, allow_pickle=False)
            if kind == "truncated":
                with open(path, "r+b") as handle:
                    handle.truncate(os.path.getsize(path) - 5)  # cut short mid-write
            if kind == "garbage":
                with open(path, "wb") as handle:
                    handle.write(b"this is not an npy file")
            paths.append(path)
        yield paths
# --8<-- [end:files]


# --8<-- [start:loader]
class Report:
    """Bad inputs seen by the loaders, shared safely between tf.data threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self.bad = []  # (file name, reason)
        self.open_files = 0  # files opened and not yet closed

    def add(self, path, error):
        # For OS errors, the reason without the path (the name is kept apart).
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        with self._lock:
            self.bad.append((os.path.basename(path), f"{type(error).__name__}: {reason}"))

    def opened(self, delta):
        with self._lock:
            self.open_files += delta


def read_rows(path, report, on_error):
    """Generator for one file: its rows, or nothing (skip) or an error (raise)."""
    path = os.fsdecode(path)
    try:
        handle = open(path, "rb")
    except OSError as error:
        rows_or_error = error
    else:
        report.opened(+1)
        try:
            with handle:
                rows_or_error = np.load(handle, allow_pickle=False)
                for row in rows_or_error:
                    yield row.astype(np.float32)  # a consumer may stop at any row
                return
        except (ValueError, OSError, EOFError) as error:
            rows_or_error = error
        finally:
            report.opened(-1)  # runs on success, on error and on early stop
    if on_error == "raise":
        # ValueError reaches the caller as tf.errors.InvalidArgumentError.
        raise ValueError(f"bad input file {os.path.basename(path)}: {rows_or_error}")
    report.add(path, rows_or_error)


def rows_from_files(paths, on_error="skip", cycle_length=2):
    """All rows of all files; returns ``(dataset, report)``."""
    if on_error not in ("skip", "raise"):
        raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
    if not isinstance(cycle_length, int) or isinstance(cycle_length, bool) or cycle_length < 1:
        raise ValueError(f"cycle_length must be a positive int, got {cycle_length!r}")
    report = Report()
    path_spec = tf.TensorSpec(shape=(), dtype=tf.string)
    paths = [os.fspath(p) for p in paths]
    source = tf.data.Dataset.from_generator(lambda: iter(paths), output_signature=path_spec)
    dataset = source.interleave(
        lambda path: tf.data.Dataset.from_generator(
            lambda p: read_rows(p, report, on_error), args=(path,), output_signature=ROW_SPEC),
        cycle_length=cycle_length,
        num_parallel_calls=cycle_length,
        deterministic=True,
    )
    return dataset, report
# --8<-- [end:loader]


# --8<-- [start:generator_errors]
def error_from_generator(exception_type):
    """What reaches the caller when a generator raises ``exception_type``."""
    def records():
        yield np.float32(1)
        raise exception_type("record 7 is corrupt")

    dataset = tf.data.Dataset.from_generator(records, output_signature=tf.TensorSpec((), tf.float32))
    try:
        list(dataset)
    except tf.errors.OpError as error:
        survived = "record 7 is corrupt" in error.message
        return type(error).__name__, survived
    return None, False
# --8<-- [end:generator_errors]


def main():
    with files_with_bad_ones() as paths:
        dataset, report = rows_from_files(paths, on_error="skip")
        firsts = [int(row[0]) for row in dataset.as_numpy_iterator()]
        print("good rows:", firsts)
        for name, reason in sorted(report.bad):  # threads report in any order
            print("  skipped", name, "-", reason.split(".")[0])
        dataset, report = rows_from_files(paths, on_error="raise")
        try:
            list(dataset)
        except tf.errors.InvalidArgumentError as error:
            line = next(l for l in error.message.splitlines() if l.startswith("ValueError: bad input"))
            print("fail fast:", line[:58], "...")
        dataset, report = rows_from_files(paths, on_error="skip")
        print("stopped after", len(list(dataset.take(2))), "rows; files left open:", report.open_files)
    for exception_type in (ValueError, KeyError, MemoryError):
        print(f"{exception_type.__name__} in a generator ->", *error_from_generator(exception_type))


if __name__ == "__main__":
    main()
