import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest
import tensorflow as tf

from recipes.bad_input import error_from_generator, files_with_bad_ones, rows_from_files
from tests.pages import ROOT, clean_env

GOOD = [0, 1, 2, 20, 21, 22, 50, 51, 52]


def firsts(dataset):
    return [int(row[0]) for row in dataset.as_numpy_iterator()]


def eventually_zero(read, timeout=10):
    deadline = time.monotonic() + timeout
    while read() and time.monotonic() < deadline:
        time.sleep(0.05)
    return read()


@pytest.mark.parametrize("cycle_length", [1, 2, 4])
def test_skip_delivers_every_good_row_once_and_reports_each_bad_file(cycle_length):
    with files_with_bad_ones() as paths:
        dataset, report = rows_from_files(paths, on_error="skip", cycle_length=cycle_length)
        got = firsts(dataset)
    assert Counter(got) == Counter(GOOD)
    assert sorted(report.bad) == [
        ("part-1-missing.npy", "FileNotFoundError: No such file or directory"),
        ("part-3-truncated.npy", "ValueError: Failed to read all data for array. Expected (3, 2) = 6 elements, "
                                 "could only read 4 elements. (file seems not fully written?)"),
        ("part-4-garbage.npy", "ValueError: This file contains pickled (object) data. If you trust the file "
                               "you can load it unsafely using the `allow_pickle=` keyword argument or "
                               "`pickle.load()`."),
    ]


def test_skip_order_is_deterministic():
    with files_with_bad_ones() as paths:
        assert firsts(rows_from_files(paths)[0]) == [0, 1, 20, 2, 21, 22, 50, 51, 52]


def test_a_second_epoch_reports_again():
    with files_with_bad_ones() as paths:
        dataset, report = rows_from_files(paths)
        assert Counter(firsts(dataset) + firsts(dataset)) == Counter(GOOD * 2)
    assert len(report.bad) == 6


def test_raise_stops_at_the_first_bad_file_with_its_name():
    with files_with_bad_ones() as paths:
        dataset, report = rows_from_files(paths, on_error="raise", cycle_length=1)
        got = []
        with pytest.raises(tf.errors.InvalidArgumentError) as info:
            for row in dataset.as_numpy_iterator():
                got.append(int(row[0]))
    assert got == [0, 1, 2]
    assert "ValueError: bad input file part-1-missing.npy: [Errno 2] No such file or directory" in info.value.message
    assert report.bad == []


@pytest.mark.parametrize("exception_type, tf_error", [
    (ValueError, "InvalidArgumentError"), (TypeError, "InvalidArgumentError"),
    (KeyError, "UnknownError"), (RuntimeError, "UnknownError"), (OSError, "UnknownError"),
    (MemoryError, "ResourceExhaustedError"), (NotImplementedError, "UnimplementedError"),
])
def test_generator_exception_types_and_message(exception_type, tf_error):
    assert error_from_generator(exception_type) == (tf_error, True)


@pytest.mark.parametrize("stop", ["take", "break", "error_in_consumer"])
def test_early_stop_closes_every_file(stop):
    with files_with_bad_ones() as paths:
        dataset, report = rows_from_files(paths, cycle_length=2)
        if stop == "take":
            assert len(list(dataset.take(2))) == 2
        elif stop == "break":
            for i, _ in enumerate(dataset):
                if i == 1:
                    break
        else:
            with pytest.raises(RuntimeError):
                for _ in dataset:
                    raise RuntimeError("training step failed")
        assert eventually_zero(lambda: report.open_files) == 0


@pytest.mark.parametrize("kwargs, name", [({"on_error": "ignore"}, "on_error"), ({"cycle_length": 0}, "cycle_length")])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        rows_from_files(["x.npy"], **kwargs)


def _raising_at(fail_at, count=6):
    def numbers(start=0):
        for i in range(int(start), int(start) + count):
            if i == int(start) + fail_at:
                raise ValueError(f"bad record {i}")
            yield i
    return numbers


def test_ignore_errors_after_a_generator_loses_everything_after_the_error():
    numbers = tf.data.Dataset.from_generator(_raising_at(2), output_signature=tf.TensorSpec((), tf.int64))
    assert [int(x) for x in numbers.ignore_errors()] == [0, 1], "a generator that raised is finished"


def test_ignore_errors_inside_interleave_loses_the_rest_of_the_failing_shard():
    def shard(start):
        for i in range(int(start), int(start) + 3):
            if i == 11:
                raise ValueError("bad record 11")
            yield i

    rows = tf.data.Dataset.from_tensor_slices(tf.constant([0, 10, 20], tf.int64)).interleave(
        lambda s: tf.data.Dataset.from_generator(shard, args=(s,), output_signature=tf.TensorSpec((), tf.int64)),
        cycle_length=3, num_parallel_calls=3)
    assert sorted(int(x) for x in rows.ignore_errors()) == [0, 1, 2, 10, 20, 21, 22], "12 is lost with 11"


def test_ignore_errors_logs_only_with_log_warning():
    code = textwrap.dedent("""
        import os
        import tensorflow as tf

        def numbers():
            yield 0
            raise ValueError("bad record 1")

        ds = tf.data.Dataset.from_generator(numbers, output_signature=tf.TensorSpec((), tf.int64))
        print([int(x) for x in ds.ignore_errors()], flush=True)
        os.write(2, b"--- log_warning=True ---\\n")
        print([int(x) for x in ds.ignore_errors(log_warning=True)], flush=True)
    """)
    env = {**clean_env(), "TF_CPP_MIN_LOG_LEVEL": "0"}  # the warning is a C++ log line
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == "[0]\n[0]\n"
    silent, _, logged = proc.stderr.partition("--- log_warning=True ---")
    assert "Error raised with error message" not in silent
    assert "Error raised with error message" in logged and "bad record 1" in logged
