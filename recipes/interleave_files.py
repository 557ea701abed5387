"""Files named by a Python generator, read in parallel with ``interleave``.

A Python generator yields file paths; ``Dataset.interleave`` turns each path into
its own dataset and keeps ``cycle_length`` files in flight at once. Three loaders
do the per-file work, each right for a different situation:

* ``rows_with_generator``: an inner ``from_generator`` that receives the path
  through ``args=(path,)`` (it arrives as ``bytes``). Any Python reader works.
* ``rows_with_numpy_function``: one ``tf.numpy_function`` call loads a whole file
  as an array; TensorFlow then slices it into rows.
* ``rows_with_tf_ops``: TensorFlow ops only (``tf.io.read_file`` and
  ``tf.io.decode_raw``); no Python runs while the pipeline iterates.

Run ``python interleave_files.py`` to see the three agree. Needs only the
standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import contextlib
import os
import tempfile

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

COLS = 4  # every row in every file has this many float32 values
ROW_SPEC = tf.TensorSpec(shape=(COLS,), dtype=tf.float32)
# --8<-- [end:setup]


# --8<-- [start:source]
@contextlib.contextmanager
def sample_files(num_files=4, rows_per_file=3):
    """Write small float32 ``.npy`` files into a private temporary folder.

    Every value in row ``r`` of file ``f`` is ``100 * f + r``, so a row tells
    which file and which position it came from. The folder and its files are
    removed when the ``with`` block ends, even after an error.
    """
    if not isinstance(num_files, int) or num_files < 1:
        raise ValueError(f"num_files must be a positive int, got {num_files!r}")
    if not isinstance(rows_per_file, int) or rows_per_file < 1:
        raise ValueError(f"rows_per_file must be a positive int, got {rows_per_file!r}")
    with tempfile.TemporaryDirectory(prefix="genpipe-files-") as folder:  # private (mode 700), removed on exit
        paths = []
        for f in range(num_files):
            column = 100 * f + np.arange(rows_per_file, dtype=np.float32)
            rows = np.repeat(column[:, None], COLS, axis=1)
            path = os.path.join(folder, f"part-{f:03d}.npy")
            np.save(path, rows, allow_pickle=False)
            paths.append(path)
        yield paths


def path_dataset(paths):
    """The source: a Python generator that yields one path (a string) at a time."""
    paths = [os.fspath(p) for p in paths]

    def generate_paths():  # a generator *function*: called anew for each epoch
        yield from paths

    return tf.data.Dataset.from_generator(
        generate_paths, output_signature=tf.TensorSpec(shape=(), dtype=tf.string))
# --8<-- [end:source]


# --8<-- [start:generator_loader]
def _rows_from_file(path):
    # from_generator hands each value in `args` to this function as a NumPy
    # value: a string tensor arrives as `bytes`, so decode it to a str path.
    yield from np.load(os.fsdecode(path), allow_pickle=False)  # one row at a time


def rows_with_generator(path):
    """Loader 1: an inner ``from_generator``; the path goes in through ``args``."""
    return tf.data.Dataset.from_generator(
        _rows_from_file, args=(path,), output_signature=ROW_SPEC
    )
# --8<-- [end:generator_loader]


# --8<-- [start:numpy_function_loader]
def _load_array(path):
    return np.load(os.fsdecode(path), allow_pickle=False).astype(np.float32)


def rows_with_numpy_function(path):
    """Loader 2: one ``tf.numpy_function`` call per file, then TF slices rows."""
    rows = tf.numpy_function(_load_array, [path], Tout=tf.float32, stateful=False)
    rows = tf.ensure_shape(rows, (None, COLS))  # numpy_function loses the shape
    return tf.data.Dataset.from_tensor_slices(rows)
# --8<-- [end:numpy_function_loader]


# --8<-- [start:tf_ops_loader]
def rows_with_tf_ops(path):
    """Loader 3: parse a version 1.0 little-endian float32 ``.npy`` with TF ops."""
    raw = tf.io.read_file(path)
    # Bytes 0-7: magic "\x93NUMPY" and version 1.0; bytes 8-9: header length.
    magic_ok = tf.equal(tf.strings.substr(raw, 0, 8), b"\x93NUMPY\x01\x00")
    header_len = tf.cast(
        tf.io.decode_raw(tf.strings.substr(raw, 8, 2), tf.uint16)[0], tf.int32
    )
    header = tf.strings.substr(raw, 10, header_len)
    layout_ok = tf.strings.regex_full_match(
        header, r"(?s).*'descr': '<f4', 'fortran_order': False.*"
    )
    check = tf.debugging.Assert(
        tf.logical_and(magic_ok, layout_ok),
        ["not a C-ordered float32 .npy (version 1.0):", path],
    )
    with tf.control_dependencies([check]):
        body = tf.strings.substr(raw, 10 + header_len, -1)  # -1: to the end
    values = tf.io.decode_raw(body, tf.float32, little_endian=True)
    return tf.data.Dataset.from_tensor_slices(tf.reshape(values, (-1, COLS)))
# --8<-- [end:tf_ops_loader]


# --8<-- [start:pipeline]
LOADERS = {
    "generator": rows_with_generator,
    "numpy_function": rows_with_numpy_function,
    "tf_ops": rows_with_tf_ops,
}


def interleaved_rows(paths, loader, cycle_length=2, deterministic=True):
    """Rows of all files, drawn in turn from ``cycle_length`` files at a time.

    The parallel interleave also opens up to ``2 * cycle_length`` files ahead
    of the cycle, so up to ``3 * cycle_length`` files are open at once.

    With ``deterministic=True`` the order is fixed: one row from each open file
    in turn (``block_length=1``), and a finished file is replaced by the next
    path. With ``deterministic=False`` a file that is ready first goes first.
    """
    if loader not in LOADERS.values():
        names = ", ".join(f.__name__ for f in LOADERS.values())
        raise ValueError(f"loader must be one of {names}, got {loader!r}")
    if not isinstance(cycle_length, int) or cycle_length < 1:
        raise ValueError(f"cycle_length must be a positive int, got {cycle_length!r}")
    return path_dataset(paths).interleave(
        loader,
        cycle_length=cycle_length,
        block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=deterministic,
    )
# --8<-- [end:pipeline]


def main():
    with sample_files(num_files=4, rows_per_file=3) as paths:
        folder = os.path.dirname(paths[0])
        for name, loader in LOADERS.items():
            dataset = interleaved_rows(paths, loader, cycle_length=2)
            firsts = [int(row[0]) for row in dataset.as_numpy_iterator()]
            print(f"{name:<15} {firsts}")
    print("temporary folder removed:", not os.path.exists(folder))


if __name__ == "__main__":
    main()
