"""Grain behind from_generator: values and order, exactly once, shards, training, and no leaks.

Every case that ends an iteration (normal end, take, break, an exception in the
consumer or in a worker) is followed by a check of the worker processes (this
process's spawned children), of the shared-memory segments this process opened
(still in /dev/shm?) and of the semaphores it still has open. All are polled
with a generous bound, so the checks hold on two busy cores and beside other
processes that use /dev/shm.
"""

import gc
import os
import textwrap
import time
from multiprocessing import shared_memory

import grain
import numpy as np
import psutil
import pytest
import tensorflow as tf

from recipes.grain_source import (
    decode_image,
    example,
    fail_on_13,
    grain_dataset,
    grain_pipeline,
    grain_records,
    parse_record,
)
from tests.pages import ROOT, run_python

INT = tf.TensorSpec((), tf.int64)
IMAGE = tf.TensorSpec((64, 64, 3), tf.uint8)


def values(dataset):
    return [int(x) for x in dataset.as_numpy_iterator()]


def worker_processes():
    """Grain workers of this process (not multiprocessing's resource tracker)."""
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(p.cmdline())
        except psutil.Error:
            continue
        if "spawn_main" in cmd and "resource_tracker" not in cmd:
            out.append(p)
    return out


OPENED = set()  # shared-memory names this process opened or created during a test


def our_segments_left():
    """Segments this process opened (every segment Grain hands over) still in /dev/shm."""
    return {name for name in OPENED if os.path.exists(f"/dev/shm/{name}")}


def our_semaphores():
    """multiprocessing semaphores this process still has open (Grain's queues and events)."""
    with open("/proc/self/maps", encoding="utf-8") as maps:
        return {line.split("/dev/shm/")[1].split()[0] for line in maps if "/dev/shm/sem.mp-" in line}


@pytest.fixture(autouse=True)
def released(monkeypatch):
    """No worker, no segment and no semaphore of this process is left once a test is over.

    /dev/shm is shared with every other process on the machine, so only what this
    process opened counts: segments are recorded as they are opened, semaphores
    read from this process's memory map. Polled for up to a minute: on two busy
    cores, Grain's clean-up may lag.
    """
    init = shared_memory.SharedMemory.__init__

    def recording_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        OPENED.add(self.name)

    monkeypatch.setattr(shared_memory.SharedMemory, "__init__", recording_init)
    gc.collect()
    OPENED.clear()
    semaphores_before = our_semaphores()
    assert not worker_processes(), "a previous test left a worker"
    yield
    deadline = time.monotonic() + 60
    while True:
        gc.collect()
        segments, semaphores = our_segments_left(), our_semaphores() - semaphores_before
        workers = worker_processes()
        if (not segments and not semaphores and not workers) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not workers, f"workers left: {workers}"
    assert not segments, f"shared memory left in /dev/shm: {sorted(segments)}"
    assert not semaphores, f"semaphores still open: {sorted(semaphores)}"


@pytest.mark.parametrize("worker_count", [0, 1, 2])
def test_exact_values_in_source_order_whatever_the_worker_count(worker_count):
    dataset = grain_dataset(range(37), parse_record, INT, worker_count=worker_count)
    assert dataset.element_spec == INT
    assert values(dataset) == list(range(37))


def test_batches_are_made_by_grain_with_exact_pixels():
    dataset = grain_dataset(range(70), decode_image, IMAGE, worker_count=2, batch_size=32)
    assert dataset.element_spec == tf.TensorSpec((None, 64, 64, 3), tf.uint8)
    batches = list(dataset.as_numpy_iterator())
    assert [b.shape[0] for b in batches] == [32, 32, 6]
    pixels = np.concatenate(batches)
    assert pixels.dtype == np.uint8
    assert [int(image[0, 0, 0]) for image in pixels] == [i % 256 for i in range(70)]
    assert all((image == image[0, 0, 0]).all() for image in pixels)
    del batches, pixels


def test_a_batch_held_by_the_consumer_holds_no_grain_shared_memory():
    """The generator copies each batch out of Grain's segment, which Grain then releases."""
    batches = list(grain_dataset(range(64), decode_image, IMAGE, worker_count=2, batch_size=16))
    assert len(OPENED) >= 4  # the batches came through shared memory
    deadline = time.monotonic() + 60
    while our_segments_left() and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.2)
    assert not our_segments_left()
    assert [int(b[0, 0, 0, 0]) for b in batches] == [0, 16, 32, 48]  # still intact
    del batches


def test_drop_remainder_and_cardinality():
    dataset = grain_dataset(range(70), parse_record, INT, worker_count=1, batch_size=32, drop_remainder=True)
    assert int(dataset.cardinality()) == 2
    assert [b.tolist() for b in dataset.as_numpy_iterator()] == [list(range(32)), list(range(32, 64))]
    assert int(grain_dataset(range(70), parse_record, INT, worker_count=1).cardinality()) == 70


def test_shuffled_order_is_a_permutation_new_each_epoch_and_seeded():
    """Shuffled (not in source order): still each record exactly once per epoch;
    epoch k uses seed + k, so two datasets with the same seed give the same epochs."""
    a = grain_dataset(range(40), parse_record, INT, worker_count=2, seed=3)
    b = grain_dataset(range(40), parse_record, INT, worker_count=1, seed=3)
    a1, a2 = values(a), values(a)
    b1, b2 = values(b), values(b)
    assert sorted(a1) == sorted(a2) == list(range(40))
    assert a1 != list(range(40)) and a1 != a2
    assert (a1, a2) == (b1, b2)  # same seed, any worker count: the same orders
    # Grain's own repeated shuffle: epoch 1 of ds.shuffle(seed).repeat() is our second epoch.
    repeated = grain.MapDataset.source(range(40)).shuffle(seed=3).repeat(2)
    assert [int(x) for x in repeated] == a1 + a2


def test_a_non_deterministic_map_after_it_still_delivers_each_element_once():
    dataset = grain_dataset(range(200), parse_record, INT, worker_count=2)
    dataset = dataset.map(lambda x: x * 2, num_parallel_calls=4, deterministic=False)
    got = values(dataset)
    assert sorted(got) == [2 * i for i in range(200)]


def test_shards_partition_the_source():
    shards = [
        values(grain_dataset(range(23), parse_record, INT, worker_count=1,
                             shard_options=grain.sharding.ShardOptions(i, 3)))
        for i in range(3)
    ]
    assert shards == [list(range(i, 23, 3)) for i in range(3)]
    even = [
        values(grain_dataset(range(23), parse_record, INT, worker_count=0,
                             shard_options=grain.sharding.ShardOptions(i, 3, drop_remainder=True)))
        for i in range(3)
    ]
    assert [len(s) for s in even] == [7, 7, 7] and sorted(sum(even, [])) == list(range(21))


def test_shuffle_then_shard_splits_one_permutation():
    shards = [
        values(grain_dataset(range(30), parse_record, INT, worker_count=0, seed=1,
                             shard_options=grain.sharding.ShardOptions(i, 2)))
        for i in range(2)
    ]
    assert sorted(shards[0] + shards[1]) == list(range(30))


def test_each_iteration_starts_and_ends_its_own_workers():
    dataset = grain_dataset(range(10), parse_record, INT, worker_count=2)
    assert not worker_processes()  # building the dataset starts nothing
    iterator = iter(dataset)
    assert int(next(iterator)) == 0
    assert len(worker_processes()) == 2
    assert [int(x) for x in iterator] == list(range(1, 10))
    del iterator
    assert values(dataset) == list(range(10))  # a second epoch: new workers, every element


def test_a_full_epoch_frees_its_shared_memory_without_waiting_for_the_garbage_collector():
    """Two of Grain's batches stay in a reference cycle after the last one is read: without the recipe's
    gc.collect() they stayed in /dev/shm until the next collection, and at exit the resource tracker
    warned of "2 leaked shared_memory objects". The fixture collects, so this test looks first."""
    dataset = grain_dataset(range(64), decode_image, IMAGE, worker_count=2, batch_size=8)
    gc.disable()
    try:
        assert sum(1 for _ in dataset) == 8
        deadline = time.monotonic() + 30  # Grain unlinks on a thread of its own: poll, never collect
        while our_segments_left() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(OPENED) >= 8 and not our_segments_left(), sorted(our_segments_left())
    finally:
        gc.enable()


@pytest.mark.parametrize("stop", ["take", "break"])
def test_stopping_early_stops_the_workers(stop):
    dataset = grain_dataset(range(10_000), decode_image, IMAGE, worker_count=2, batch_size=8)
    if stop == "take":
        assert [int(b.shape[0]) for b in dataset.take(3)] == [8, 8, 8]
    else:
        for n, _batch in enumerate(dataset):
            if n == 2:
                break
        del _batch


def test_an_exception_in_the_consumer_stops_the_workers():
    dataset = grain_dataset(range(10_000), parse_record, INT, worker_count=2)

    def consume():
        for x in dataset:
            if int(x) == 5:
                raise RuntimeError("consumer failed")

    with pytest.raises(RuntimeError, match="consumer failed"):
        consume()


def test_a_worker_error_reaches_the_consumer_after_every_earlier_element():
    got = []
    with pytest.raises(tf.errors.InvalidArgumentError, match="ValueError: record 13 is corrupt"):
        for x in grain_dataset(range(100), fail_on_13, INT, worker_count=2):
            got.append(int(x))
    assert got == list(range(13))


def test_grain_pipeline_alone_closes_its_workers():
    iterator = iter(grain_pipeline(range(100), parse_record, worker_count=2, batch_size=10))
    assert next(iterator).tolist() == list(range(10))
    assert len(worker_processes()) == 2
    iterator.close()
    assert not worker_processes()  # close() joins them


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(worker_count=-1), ValueError, "worker_count must be an int >= 0"),
    (dict(worker_count=1.5), ValueError, "worker_count must be an int >= 0"),
    (dict(worker_count=1, batch_size=0), ValueError, "batch_size must be a positive int"),
    (dict(worker_count=1, seed=-1), ValueError, "Seed must be an integer between 0 and 2**32-1"),
    (dict(worker_count=1, read_threads=-1), ValueError, "read_threads must be an int >= 0"),
    (dict(worker_count=1, read_threads=None), ValueError, "read_threads must be an int >= 0"),
])
def test_bad_arguments_fail_before_any_worker(kwargs, error, message):
    with pytest.raises(error, match=message.replace("*", r"\*")):
        grain_dataset(range(10), parse_record, INT, **kwargs)
    assert not worker_processes()


class Recorded:
    """A source that records which records were read (in this process: worker_count=0)."""

    def __init__(self, n):
        self.n, self.read = n, []

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.read.append(i)
        return i


@pytest.mark.parametrize("read_threads, most", [(0, 1), (2, 1 + 4 * 2 + 2)])
def test_read_ahead_is_bounded_by_read_threads(read_threads, most):
    """The recipe reads what is asked, plus at most its threads' buffer (``4 * read_threads``)."""
    source = Recorded(200)
    iterator = iter(grain_pipeline(source, parse_record, worker_count=0, read_threads=read_threads))
    try:
        assert next(iterator) == 0
        time.sleep(0.3)  # time for threads, had there been any, to read ahead (a bound on counts, not on time)
        assert 1 <= len(source.read) <= most, sorted(source.read)
        assert list(iterator) == list(range(1, 200))
    finally:
        iterator.close()


def test_grain_default_read_options_read_ahead_of_what_is_asked():
    """What the recipe's read_threads=0 avoids: Grain's defaults (16 threads, 500 ahead) read all 200 records."""
    source = Recorded(200)
    iterator = iter(grain_records(source, parse_record).to_iter_dataset())
    try:
        assert next(iterator) == 0
        deadline = time.monotonic() + 30
        while len(source.read) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(source.read) == list(range(200))
    finally:
        iterator.close()


def test_grain_records_is_the_per_record_work():
    records = grain_records(range(10), example, batch_size=4)
    assert len(records) == 3
    x, y = records[0]
    assert x.shape == (4, 3) and x.dtype == np.float32 and np.allclose(x.sum(axis=1), y)


def test_model_fit_and_a_custom_loop():
    """fit knows the epoch length (cardinality): two epochs, no 'ran out of data'."""
    from recipes.grain_source import example_spec

    model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(1)])
    model.compile(optimizer=tf.keras.optimizers.SGD(0.05), loss="mse")
    dataset = grain_dataset(range(64), example, example_spec(), worker_count=1, batch_size=16)
    history = model.fit(dataset, epochs=2, shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 2

    seen = []
    for x, y in dataset:  # a custom loop: ordinary eager tensors, in source order
        seen.append((x.numpy(), y.numpy()))
    del x, y
    xs, ys = np.concatenate([x for x, _ in seen]), np.concatenate([y for _, y in seen])
    assert np.array_equal(xs, np.stack([example(i)[0] for i in range(64)]))
    assert np.array_equal(ys, np.array([example(i)[1] for i in range(64)]))
    del model, history, dataset


def test_mirrored_strategy_per_replica_shards_deliver_each_example_once():
    # Logical devices must be set before TensorFlow starts: a fresh process.
    code = textwrap.dedent("""
        import numpy as np
        import tensorflow as tf
        from recipes.grain_source import distribute_per_replica, example, per_replica_dataset_fn

        if __name__ == "__main__":
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(2)])
            strategy = tf.distribute.MirroredStrategy(
                [d.name for d in tf.config.list_logical_devices("CPU")])
            dist = distribute_per_replica(strategy, per_replica_dataset_fn(70, 16, worker_count=1))
            parts = []
            for x, y in dist:
                parts.append([p.numpy()[:, 0].tolist()
                              for p in strategy.experimental_local_results(x)])
            first = lambda i: float(example(i)[0][0])
            print(strategy.num_replicas_in_sync, len(parts), {len(p) for step in parts for p in step})
            print(parts[0] == [[first(i) for i in range(0, 16, 2)], [first(i) for i in range(1, 16, 2)]])
            print(sorted(v for step in parts for p in step for v in p) == sorted(first(i) for i in range(64)))
            with strategy.scope():
                model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(1)])
                model.compile(optimizer=tf.keras.optimizers.SGD(0.05), loss="mse")
            dist = distribute_per_replica(strategy, per_replica_dataset_fn(64, 16, worker_count=1))
            print(len(model.fit(dist, epochs=2, steps_per_epoch=4, shuffle=False, verbose=0).history["loss"]))
            del dist, x, y
    """)
    proc = run_python(["-c", code], cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == "2 4 {8}\nTrue\nTrue\n2\n"


@pytest.mark.parametrize("kind", ["records", "pipeline"])
def test_keras_fit_takes_grain_directly(kind, recwarn):
    """Keras 3 has a Grain adapter: fit on a MapDataset or on the IterDataset with
    worker processes. The adapter does not read a length, even a MapDataset's: the
    first epoch ends by running out of data, and Keras warns."""
    model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(1)])
    model.compile(optimizer=tf.keras.optimizers.SGD(0.05), loss="mse")
    if kind == "records":
        data = grain_records(range(64), example, batch_size=16)
    else:
        data = grain_pipeline(range(64), example, worker_count=1, batch_size=16)
    history = model.fit(data, epochs=2, shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 2
    ran_out = [w for w in recwarn if "Your input ran out of data" in str(w.message)]
    assert ran_out
    del data, model, history


def test_grain_checkpoints_its_own_position_but_not_behind_from_generator(tmp_path):
    """Grain's iterator has get_state/set_state (resume exactly, with workers); a
    tf.train.Checkpoint of the tf.data iterator cannot save a from_generator."""
    pipeline = grain_pipeline(range(50), parse_record, worker_count=2, seed=4)
    first = iter(pipeline)
    head = [int(next(first)) for _ in range(7)]
    state = first.get_state()
    rest = [int(x) for x in first]
    first.close()
    resumed = iter(pipeline)
    resumed.set_state(state)
    assert [int(x) for x in resumed] == rest and sorted(head + rest) == list(range(50))
    resumed.close()

    iterator = iter(grain_dataset(range(50), parse_record, INT, worker_count=1))
    next(iterator)
    with pytest.raises(tf.errors.FailedPreconditionError, match="PyFunc is stateful"):
        tf.train.Checkpoint(it=iterator).save(str(tmp_path / "ckpt"))
    del iterator


def test_a_killed_worker_fails_the_iteration_with_a_clear_error():
    iterator = iter(grain_dataset(range(100_000), parse_record, INT, worker_count=2))
    assert int(next(iterator)) == 0
    victim = worker_processes()[0]
    victim.kill()
    with pytest.raises(tf.errors.UnknownError, match="Worker process was terminated unexpectedly with exit code -9"):
        for _ in iterator:
            pass
    del iterator
