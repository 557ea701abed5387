"""The shared-memory process pool: values and order, batches, reuse, and no leaks.

Every case that ends an iteration (normal end, take, break, an exception in the
consumer or in a worker, a worker killed with SIGKILL) is followed by a check
of /dev/shm for this process's segments and of the worker processes.
"""

import ast
import gc
import os
import signal
import time

import numpy as np
import psutil
import pytest
import tensorflow as tf

from recipes.process_pool import (
    ALIGN,
    _aligned_copy,
    decode_image,
    fail_on_13,
    parse_record,
    pooled_dataset,
    segments_left,
)
from tests.pages import ROOT, parse_python

INT = tf.TensorSpec((), tf.int64)


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


def released(timeout=30):
    """Nothing left: no segment in /dev/shm, no worker process."""
    gc.collect()
    return segments_left() == [] and wait_for_no_workers(timeout) == []


@pytest.fixture(autouse=True)
def clean_before_and_after():
    assert released(), "a previous test leaked"
    yield
    assert released(), "this test leaked a segment or a worker"


@pytest.mark.parametrize("batch_size, workers, n", [(1, 1, 5), (8, 2, 50), (32, 2, 33), (64, 3, 10)])
def test_exact_values_in_order(batch_size, workers, n):
    ds = pooled_dataset(parse_record, range(n), INT, batch_size=batch_size, workers=workers)
    assert ds.element_spec == INT
    assert values(ds) == list(range(n))


def test_order_holds_when_later_chunks_finish_first():
    # One chunk per item; the first item is slow, the rest are instant, so the
    # second worker finishes many chunks before the first one is done.
    items = [range(3_000_000)] + [range(k) for k in range(1, 12)]
    ds = pooled_dataset(sum, items, INT, batch_size=1, workers=2, ring_size=6)
    assert values(ds) == [sum(r) for r in items]


def test_empty_items():
    assert values(pooled_dataset(parse_record, [], INT, workers=1)) == []


def test_whole_batches_of_images_with_exact_pixels():
    spec = tf.TensorSpec((64, 64, 3), tf.uint8)
    ds = pooled_dataset(decode_image, range(300, 370), spec, workers=2, yield_batches=True)
    assert ds.element_spec == tf.TensorSpec((None, 64, 64, 3), tf.uint8)
    batches = list(ds.as_numpy_iterator())
    assert [b.shape[0] for b in batches] == [32, 32, 6]
    stacked = np.concatenate(batches)
    assert stacked.dtype == np.uint8
    for k, i in enumerate(range(300, 370)):
        assert (stacked[k] == i % 256).all()


def test_nested_signatures_tuple_and_dict():
    pair = (tf.TensorSpec((), tf.int64), tf.TensorSpec((2,), tf.float32))
    ds = pooled_dataset(tuple, [(i, [i / 2, -i]) for i in range(5)], pair, batch_size=2, workers=1)
    assert ds.element_spec == pair
    got = [(int(a), b.tolist()) for a, b in ds.as_numpy_iterator()]
    assert got == [(i, [i / 2, -i]) for i in range(5)]
    spec = {"label": tf.TensorSpec((), tf.int32), "image": tf.TensorSpec((2, 2), tf.uint8)}
    items = [{"image": np.full((2, 2), i, np.uint8), "label": i} for i in range(3)]
    ds = pooled_dataset(dict, items, spec, batch_size=2, workers=1, yield_batches=True)
    batches = list(ds.as_numpy_iterator())
    assert [b["label"].tolist() for b in batches] == [[0, 1], [2]]
    assert batches[1]["image"].tolist() == [[[2, 2], [2, 2]]]


def test_workers_start_once_and_serve_every_epoch():
    ds = pooled_dataset(parse_record, range(40), INT, batch_size=8, workers=2)
    assert not ds.pool.running, "nothing starts before the first iteration"
    assert values(ds) == list(range(40))
    pids, segment = ds.pool.pids, ds.pool.segment
    assert ds.pool.startup_s > 0 and len(pids) == 2
    assert values(ds.repeat(2)) == list(range(40)) * 2
    assert [int(x) for x in ds.take(3)] == [0, 1, 2]
    assert ds.pool.starts == 1 and ds.pool.pids == pids and ds.pool.segment == segment
    assert segments_left() == [segment]
    ds.pool.close()
    assert segments_left() == [] and not ds.pool.running


def test_the_ring_bounds_memory_and_work_ahead():
    spec = tf.TensorSpec((64, 64, 3), tf.uint8)
    ds = pooled_dataset(decode_image, range(3_200), spec, batch_size=32, workers=2, ring_size=3,
                        yield_batches=True)
    it = iter(ds)
    next(it)
    time.sleep(0.5)  # give the workers time to run ahead as far as they can
    segment = ds.pool.segment
    assert os.path.getsize(f"/dev/shm/{segment}") == 3 * 32 * 64 * 64 * 3
    ahead = ds.pool.tasks_sent - ds.pool.batches_copied
    assert ds.pool.batches_copied >= 1 and 0 < ahead <= 3, "no chunk is sent beyond the ring"


def test_a_released_dataset_shuts_its_workers_down():
    ds = pooled_dataset(parse_record, range(20), INT, batch_size=4, workers=2)
    assert values(ds) == list(range(20))
    assert len(segments_left()) == 1 and len(worker_processes()) == 2
    del ds  # the fixture checks that the segment and the workers are gone


@pytest.mark.parametrize("stop", ["take", "break"])
def test_stopping_early_leaves_the_pool_ready_and_releases_everything_at_the_end(stop):
    ds = pooled_dataset(parse_record, range(2_000), INT, batch_size=8, workers=2)
    if stop == "take":
        assert [int(x) for x in ds.take(5)] == [0, 1, 2, 3, 4]
    else:
        for x in ds:
            if int(x) == 4:
                break
    sent = ds.pool.tasks_sent
    assert values(ds.take(20)) == list(range(20)), "the ring was drained and is reused"
    assert ds.pool.starts == 1 and ds.pool.tasks_sent > sent


def test_an_exception_in_the_consumer_releases_everything():
    def consume():
        ds = pooled_dataset(parse_record, range(500), INT, batch_size=8, workers=2)
        for x in ds:
            if int(x) == 10:
                raise KeyError("consumer failed")

    with pytest.raises(KeyError, match="consumer failed"):
        consume()


def test_worker_error_reaches_consumer_with_its_message():
    ds = pooled_dataset(fail_on_13, range(40), INT, batch_size=8, workers=2)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        list(ds)
    assert "ValueError: record 13 is corrupt" in info.value.message
    assert values(ds.take(8)) == list(range(8)), "the pool still serves the next iteration"
    assert ds.pool.starts == 1


def test_results_before_a_failing_item_are_delivered_first():
    ds = pooled_dataset(fail_on_13, range(40), INT, batch_size=2, workers=2)
    got = []
    with pytest.raises(tf.errors.InvalidArgumentError, match="record 13 is corrupt"):
        for x in ds:
            got.append(int(x))
    assert got == list(range(12)), "every chunk before the failing one, in order"


def test_a_result_of_the_wrong_shape_is_an_error_not_a_broadcast():
    ds = pooled_dataset(np.zeros, [(2,), (3,)], tf.TensorSpec((2,), tf.float64), batch_size=1, workers=1)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        list(ds)
    assert "ValueError: work((3,)) returned shape (3,), output_signature says (2,)" in info.value.message


def test_a_killed_worker_fails_the_pipeline_clearly_and_releases_the_memory():
    ds = pooled_dataset(parse_record, range(4_000), INT, batch_size=8, workers=2)
    it = iter(ds)
    assert int(next(it)) == 0
    victim = ds.pool.pids[0]
    os.kill(victim, signal.SIGKILL)
    with pytest.raises(tf.errors.UnknownError) as info:
        for _ in it:
            pass
    assert (f"WorkerDiedError: worker process {victim} stopped unexpectedly (killed by SIGKILL) "
            "while computing") in info.value.message
    assert "the pool was shut down and its shared memory released" in info.value.message
    assert segments_left() == [], "released at once, while the dataset still exists"
    assert not ds.pool.running
    assert values(ds.take(3)) == [0, 1, 2], "the next iteration starts a fresh pool"


def test_two_iterators_at_once_each_get_every_item():
    ds = pooled_dataset(parse_record, range(30), INT, batch_size=4, workers=1)
    pairs = [(int(a), int(b)) for a, b in tf.data.Dataset.zip(ds, ds)]
    assert pairs == [(i, i) for i in range(30)]


def test_from_generator_takes_an_aligned_array_without_copying_it():
    """Why the generator copies out of the ring: TensorFlow would otherwise
    alias the shared buffer, which the next chunk overwrites."""
    aligned = _aligned_copy(np.zeros(1024, np.float32))
    raw = np.zeros(4096 + 2 * ALIGN, np.uint8)
    start = -raw.ctypes.data % ALIGN + 8
    unaligned = raw[start:start + 4096].view(np.float32)
    seen = []
    for array in (aligned, unaligned):
        ds = tf.data.Dataset.from_generator(lambda a=array: iter([a]),
                                            output_signature=tf.TensorSpec((1024,), tf.float32))
        tensor = next(iter(ds))
        array[0] = 7.0  # written after TensorFlow took the array
        seen.append(float(tensor[0]))
    assert aligned.ctypes.data % ALIGN == 0
    assert seen == [7.0, 0.0], "aligned: the tensor shares the memory; unaligned: TensorFlow copied it"


def test_module_top_level_imports_no_tensorflow():
    tree = parse_python((ROOT / "recipes" / "process_pool.py").read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = {a.name.split(".")[0] for n in top for a in n.names} | {
        n.module.split(".")[0] for n in top if isinstance(n, ast.ImportFrom) and n.module}
    assert "tensorflow" not in names
    assert "get_context" not in (ROOT / "recipes" / "process_pool.py").read_text().split("def ")[0]


@pytest.mark.parametrize("kwargs, error, message", [
    ({"work": "parse"}, TypeError, "work must be a callable"),
    ({"work": lambda i: i}, TypeError, "work must be picklable"),
    ({"batch_size": 0}, ValueError, "batch_size must be a positive int, got 0"),
    ({"workers": -1}, ValueError, "workers must be a positive int, got -1"),
    ({"ring_size": 1.5}, ValueError, "ring_size must be a positive int, got 1.5"),
    ({"output_signature": tf.TensorSpec((None,), tf.int64)}, ValueError, "fully defined shapes"),
    ({"output_signature": tf.TensorSpec((), tf.string)}, ValueError, "numeric or bool"),
])
def test_bad_arguments_fail_before_any_pool(kwargs, error, message):
    args = {"work": parse_record, "items": range(3), "output_signature": INT, **kwargs}
    with pytest.raises(error, match=message):
        pooled_dataset(**args)
    assert worker_processes() == [] and segments_left() == []


def test_tensorflow_runs_threads_once_a_dataset_was_iterated():
    """Why the workers are spawned, not forked: by the time a pipeline runs,
    TensorFlow's thread pools run in the process, and fork copies only the
    calling thread (a lock held by another one stays held in the child)."""
    code = ("import threading, psutil, tensorflow as tf\n"
            "before = psutil.Process().num_threads()\n"
            "list(tf.data.Dataset.range(100).map(lambda x: x + 1, num_parallel_calls=2))\n"
            "print(before, psutil.Process().num_threads(), threading.active_count())\n")
    from tests.pages import run_python
    proc = run_python(["-c", code], cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    before, after, python_threads = map(int, proc.stdout.split())
    assert after > before and after > python_threads == 1, "native threads that Python does not know about"
