import ast
import time

import psutil
import pytest
import tensorflow as tf

from recipes.process_pool import fail_on_13, parse_record, pooled_dataset, pooled_results
from tests.pages import ROOT


def values(dataset):
    return [int(x) for x in dataset.as_numpy_iterator()]


def worker_processes():
    """Pool workers of this process (not multiprocessing's resource tracker,
    which spawn starts once and keeps for the life of the parent)."""
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(p.cmdline())
        except psutil.Error:
            continue
        if "spawn_main" in cmd and "resource_tracker" not in cmd:
            out.append(p)
    return out


def wait_for_no_workers(timeout=30):
    deadline = time.monotonic() + timeout
    while worker_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    return worker_processes()


@pytest.mark.parametrize("chunk_size, workers, n", [(1, 1, 5), (8, 2, 50), (32, 2, 33), (64, 3, 10)])
def test_exact_values_in_order(chunk_size, workers, n):
    ds = pooled_dataset(parse_record, range(n), chunk_size=chunk_size, workers=workers)
    assert ds.element_spec == tf.TensorSpec((), tf.int64)
    assert values(ds) == list(range(n))


def test_empty_items():
    assert values(pooled_dataset(parse_record, [], workers=1)) == []


def test_chunks_are_arrays_of_chunk_size():
    chunks = list(pooled_results(parse_record, range(10), chunk_size=4, workers=1))
    assert [c.tolist() for c in chunks] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_worker_error_reaches_consumer_with_its_message():
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        list(pooled_dataset(fail_on_13, range(40), chunk_size=8, workers=2))
    assert "ValueError: record 13 is corrupt" in info.value.message
    assert wait_for_no_workers() == []


def test_second_epoch_works_and_leaves_no_workers():
    ds = pooled_dataset(parse_record, range(20), chunk_size=4, workers=2)
    assert values(ds) == values(ds) == list(range(20))
    assert wait_for_no_workers() == []


def test_stopping_early_shuts_the_pool_down():
    ds = pooled_dataset(parse_record, range(2_000), chunk_size=8, workers=2)
    it = iter(ds)
    assert [int(next(it)) for _ in range(3)] == [0, 1, 2]
    assert worker_processes(), "the pool is running while iterating"
    del it  # the consumer stops: TensorFlow drops the generator, which closes it
    assert wait_for_no_workers() == [], "workers outlived the iteration"
    assert [int(x) for x in ds.take(5)] == [0, 1, 2, 3, 4]
    assert wait_for_no_workers() == []


def test_module_top_level_imports_no_tensorflow():
    tree = ast.parse((ROOT / "recipes" / "process_pool.py").read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = {a.name.split(".")[0] for n in top for a in n.names} | {
        n.module.split(".")[0] for n in top if isinstance(n, ast.ImportFrom) and n.module}
    assert "tensorflow" not in names


@pytest.mark.parametrize("kwargs, error, name", [
    ({"work": "parse"}, TypeError, "work"),
    ({"chunk_size": 0}, ValueError, "chunk_size"),
    ({"workers": -1}, ValueError, "workers"),
])
def test_bad_arguments_fail_before_any_pool(kwargs, error, name):
    args = {"work": parse_record, "items": range(3), **kwargs}
    with pytest.raises(error, match=name):
        pooled_dataset(**args)
    assert worker_processes() == []
