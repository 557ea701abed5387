import os

import numpy as np
import pytest
import tensorflow as tf

from recipes.interleave_and_map import COLS, fused, label_of, labelled_files, separate


def elements(dataset):
    return [(row.tolist(), int(label)) for row, label in dataset.as_numpy_iterator()]


def numpy_normalize(rows):
    return (rows - rows.mean(axis=-1, keepdims=True)) / np.abs(rows).max(axis=-1, keepdims=True)


def test_files_and_labels():
    with labelled_files(num_files=3, rows_per_file=2, num_classes=2) as paths:
        folder = os.path.dirname(paths[0])
        assert [os.path.basename(p) for p in paths] == [
            "label-0-part-000.f32", "label-1-part-001.f32", "label-0-part-002.f32"]
        assert [int(label_of(tf.constant(p))) for p in paths] == [0, 1, 0]
        assert np.fromfile(paths[2], dtype="<f4").reshape(-1, COLS).tolist() == [[20, 21, 22], [21, 22, 23]]
    assert not os.path.exists(folder)


@pytest.mark.parametrize("num_files, rows_per_file", [(1, 1), (3, 2), (5, 7)])
def test_fused_and_separate_are_identical(num_files, rows_per_file):
    with labelled_files(num_files, rows_per_file, num_classes=3) as paths:
        a = elements(fused(paths))
        b = elements(separate(paths))
        c = elements(separate(paths, batch_size=4))
    assert len(a) == num_files * rows_per_file
    assert a == b
    assert [label for _, label in a] == [label for _, label in c]
    np.testing.assert_allclose([row for row, _ in a], [row for row, _ in c], rtol=1e-6)


def test_exact_order_values_and_spec():
    with labelled_files(num_files=3, rows_per_file=2, num_classes=3) as paths:
        ds = fused(paths, cycle_length=2)
        assert ds.element_spec == (tf.TensorSpec((COLS,), tf.float32), tf.TensorSpec((), tf.int32))
        got = elements(ds)
    starts = [0, 10, 1, 11, 20, 21]  # round robin over files 0 and 1, then file 2
    raw = np.array([[s, s + 1, s + 2] for s in starts], dtype=np.float32)
    np.testing.assert_allclose([row for row, _ in got], numpy_normalize(raw), rtol=1e-6)
    assert [label for _, label in got] == [0, 1, 0, 1, 2, 2]


@pytest.mark.parametrize("kwargs", [{"num_files": 0}, {"rows_per_file": 0}, {"num_classes": -1}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        with labelled_files(**kwargs):
            pass


def test_path_dataset_is_the_same_function_in_both_file_recipes():
    """Each recipe carries its own copy (it must run alone); the copies may not drift apart."""
    import ast
    import inspect

    from recipes import interleave_and_map, interleave_files
    from tests.pages import parse_python

    sources = [ast.dump(parse_python(inspect.getsource(m.path_dataset)))
               for m in (interleave_files, interleave_and_map)]
    assert sources[0] == sources[1]


def test_fused_work_also_runs_in_files_opened_ahead_of_the_cycle():
    import threading
    import time

    lock, mapped_from = threading.Lock(), set()

    def note(x):
        with lock:
            mapped_from.add(int(x) // 10)  # which input (file) this row came from
        return x

    rows = tf.data.Dataset.range(6).interleave(
        lambda i: tf.data.Dataset.range(i * 10, i * 10 + 5).map(
            lambda x: tf.numpy_function(note, [x], tf.int64, stateful=False)),
        cycle_length=1, num_parallel_calls=1)
    iterator = iter(rows)
    assert int(next(iterator)) == 0
    deadline = time.monotonic() + 60
    while len(mapped_from) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    assert mapped_from == {0, 1, 2}, "the cycle's input and two opened ahead; no others yet"
    del iterator
