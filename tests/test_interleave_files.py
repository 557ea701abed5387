import os
from collections import Counter

import numpy as np
import pytest
import tensorflow as tf

from recipes.interleave_files import (
    COLS,
    LOADERS,
    interleaved_rows,
    path_dataset,
    rows_with_tf_ops,
    sample_files,
)

LOADER_NAMES = sorted(LOADERS)


def expected_rows(num_files, rows_per_file):
    return [100 * f + r for f in range(num_files) for r in range(rows_per_file)]


def firsts(dataset):
    rows = list(dataset.as_numpy_iterator())
    for row in rows:  # every column of a row holds the same value
        assert row.shape == (COLS,) and row.dtype == np.float32
        assert np.all(row == row[0])
    return [int(row[0]) for row in rows]


def test_sample_files_are_private_and_removed():
    with sample_files(num_files=3, rows_per_file=2) as paths:
        folder = os.path.dirname(paths[0])
        assert len(paths) == 3 and all(os.path.isfile(p) for p in paths)
        assert oct(os.stat(folder).st_mode & 0o777) == oct(0o700)
        data = np.load(paths[2], allow_pickle=False)
        assert data.dtype == np.float32 and data.shape == (2, COLS)
        assert data[:, 0].tolist() == [200.0, 201.0]
    assert not os.path.exists(folder)


def test_sample_files_removed_after_an_error():
    with pytest.raises(RuntimeError, match="boom"):
        with sample_files() as paths:
            folder = os.path.dirname(paths[0])
            raise RuntimeError("boom")
    assert not os.path.exists(folder)


def test_path_dataset_yields_bytes_paths_each_epoch():
    paths = ["a.npy", "b.npy"]
    ds = path_dataset(paths)
    assert ds.element_spec == tf.TensorSpec((), tf.string)
    assert list(ds.as_numpy_iterator()) == [b"a.npy", b"b.npy"]
    assert list(ds.as_numpy_iterator()) == [b"a.npy", b"b.npy"]  # a fresh generator


@pytest.mark.parametrize("name", LOADER_NAMES)
def test_deterministic_order_is_round_robin(name):
    with sample_files(num_files=4, rows_per_file=3) as paths:
        ds = interleaved_rows(paths, LOADERS[name], cycle_length=2)
        assert ds.element_spec == tf.TensorSpec((COLS,), tf.float32)
        got = firsts(ds)
    assert got == [0, 100, 1, 101, 2, 102, 200, 300, 201, 301, 202, 302]


@pytest.mark.parametrize("name", LOADER_NAMES)
@pytest.mark.parametrize("cycle_length", [1, 3, 8])
def test_every_row_exactly_once_without_determinism(name, cycle_length):
    with sample_files(num_files=5, rows_per_file=4) as paths:
        got = firsts(interleaved_rows(paths, LOADERS[name], cycle_length, deterministic=False))
    assert Counter(got) == Counter(expected_rows(5, 4))
    assert len(got) == 20


@pytest.mark.parametrize("name", LOADER_NAMES)
def test_files_of_different_lengths(name, tmp_path):
    paths = []
    for f, n in enumerate([1, 5, 2]):
        path = tmp_path / f"f{f}.npy"
        np.save(path, np.full((n, COLS), 100 * f, dtype=np.float32) + np.arange(n, dtype=np.float32)[:, None])
        paths.append(str(path))
    got = firsts(interleaved_rows(paths, LOADERS[name], cycle_length=2))
    # When file 0 runs out, the turn passes to file 1; file 2 takes over file
    # 0's slot from the next round on.
    assert got == [0, 100, 101, 200, 102, 201, 103, 104]


def test_tf_ops_loader_rejects_a_file_of_another_dtype(tmp_path):
    path = tmp_path / "ints.npy"
    np.save(path, np.zeros((2, COLS), dtype=np.int64))
    ds = interleaved_rows([str(path)], rows_with_tf_ops)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"not a C-ordered float32 \.npy"):
        list(ds)


@pytest.mark.parametrize("name", ["generator", "numpy_function"])
def test_numpy_loaders_refuse_pickles(name, tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(tf.errors.OpError, match="Object arrays cannot be loaded when allow_pickle=False"):
        list(interleaved_rows([str(path)], LOADERS[name]))


@pytest.mark.parametrize("kwargs", [{"num_files": 0}, {"rows_per_file": -1}, {"num_files": "3"}])
def test_sample_files_bad_arguments(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        with sample_files(**kwargs):
            pass


def test_interleaved_rows_bad_arguments():
    with pytest.raises(ValueError, match="cycle_length"):
        interleaved_rows(["x.npy"], rows_with_tf_ops, cycle_length=0)
    with pytest.raises(ValueError, match="loader"):
        interleaved_rows(["x.npy"], print)


def test_list_files_shuffles_unless_told_not_to(tmp_path):
    for i in range(8):
        (tmp_path / f"part-{i}.npy").touch()
    pattern = str(tmp_path / "part-*.npy")

    def names(**kwargs):
        return [os.path.basename(p.decode()) for p in tf.data.Dataset.list_files(pattern, **kwargs).as_numpy_iterator()]

    in_order = [f"part-{i}.npy" for i in range(8)]
    assert names(shuffle=False) == in_order
    shuffled = names(seed=3)  # shuffle=None means shuffle=True
    assert sorted(shuffled) == in_order and shuffled != in_order


def test_parallel_interleave_opens_more_files_than_cycle_length(monkeypatch):
    import threading
    import time

    loads, lock, real_load = [], threading.Lock(), np.load

    def counting_load(path, *args, **kwargs):
        with lock:
            loads.append(os.path.basename(path))
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(np, "load", counting_load)
    with sample_files(num_files=10, rows_per_file=5) as paths:
        iterator = iter(interleaved_rows(paths, LOADERS["generator"], cycle_length=2))
        assert int(next(iterator)[0]) == 0
        deadline = time.monotonic() + 60
        while len(loads) < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        assert len(loads) == 6, "2 files in the cycle and 4 opened ahead of it"
        del iterator
