"""The statements of docs/explanation/machinery.md, checked on the pinned TensorFlow.

Counts, orders and error texts only: concurrency is measured with a lock-protected
counter of function bodies running at once, upper bounds where the thread pool
guarantees them, lower bounds with a barrier that only opens when that many
bodies run together.
"""

import math
import os
import threading
import time

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import graph_pb2
from tensorflow.python.data.experimental.ops import testing as tf_data_testing

SPEC = tf.TensorSpec((), tf.int64)
CORES = len(os.sched_getaffinity(0))  # what tf.data calls the schedulable cores


class Concurrency:
    """Counts function bodies running at once; ``peak`` is the most seen together."""

    def __init__(self, hold_s=0.03):
        self.lock = threading.Lock()
        self.running = self.peak = self.calls = 0
        self.hold_s = hold_s

    def __call__(self, value):
        with self.lock:
            self.running += 1
            self.calls += 1
            self.peak = max(self.peak, self.running)
        time.sleep(self.hold_s)  # waits with the GIL released, like I/O
        with self.lock:
            self.running -= 1
        return value


class Starts:
    """A generator function that records which shards started and how many elements it made."""

    def __init__(self, per_shard=5):
        self.lock = threading.Lock()
        self.started, self.produced, self.per_shard = [], 0, per_shard

    def __call__(self, shard):
        with self.lock:
            self.started.append(int(shard))
        for j in range(self.per_shard):
            with self.lock:
                self.produced += 1
            yield int(shard) * 100 + j


def shards(n, generator, **interleave_args):
    return tf.data.Dataset.range(n).interleave(
        lambda i: tf.data.Dataset.from_generator(generator, args=(i,), output_signature=SPEC), **interleave_args)


def wait_until(condition, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def with_options(dataset, **settings):
    options = tf.data.Options()
    for dotted, value in settings.items():
        target = options
        *path, name = dotted.split("__")
        for part in path:
            target = getattr(target, part)
        setattr(target, name, value)
    return dataset.with_options(options)


# Functions are traced, not called per element ----------------------------------------------

def test_map_function_runs_once_at_trace_time():
    calls = []

    def double(x):
        calls.append(type(x).__name__)
        return x * 2

    dataset = tf.data.Dataset.range(5).map(double)
    assert [int(x) for x in dataset] == [0, 2, 4, 6, 8] and [int(x) for x in dataset] == [0, 2, 4, 6, 8]
    assert calls == ["SymbolicTensor"], "traced once, with a symbolic tensor; never called per element"


def test_symbolic_tensor_has_no_value_to_decode():
    with pytest.raises(AttributeError, match="'SymbolicTensor' object has no attribute 'decode'"):
        tf.data.Dataset.from_tensor_slices(["a"]).map(lambda path: path.decode())


# What from_generator really is -----------------------------------------------------------

def test_from_generator_is_a_generator_dataset_of_three_py_funcs():
    dataset = tf.data.Dataset.from_generator(lambda: iter([1]), output_signature=SPEC)
    graph = graph_pb2.GraphDef.FromString(dataset._as_serialized_graph().numpy())
    nodes = [node for function in graph.library.function for node in function.node_def]
    tokens = {node.attr["token"].s.decode() for node in nodes if node.op == "PyFunc"}
    assert "FlatMapDataset" in {node.op for node in graph.node}  # over a one-element dataset
    assert "GeneratorDataset" in {node.op for function in graph.library.function for node in function.node_def}
    assert len(tokens) == 3 and all(t.startswith("pyfunc_") for t in tokens), tokens


def test_a_composite_signature_makes_the_next_step_an_eager_py_func():
    ragged = tf.RaggedTensorSpec(shape=(None, None), dtype=tf.int64)
    dataset = tf.data.Dataset.from_generator(
        lambda: iter([tf.ragged.constant([[1], [2, 3]], dtype=tf.int64)]), output_signature=ragged)
    graph = graph_pb2.GraphDef.FromString(dataset._as_serialized_graph().numpy())
    ops = [node.op for function in graph.library.function for node in function.node_def]
    assert ops.count("EagerPyFunc") == 1 and ops.count("PyFunc") == 2
    assert [x.to_list() for x in dataset] == [[[1], [2, 3]]]


def test_numpy_function_hands_numpy_values_and_py_function_hands_eager_tensors():
    seen = {}

    def record(name):
        def function(value):
            seen[name] = type(value)
            return value
        return function

    numbers = tf.data.Dataset.from_tensor_slices([[1, 2]])
    numpy_mapped = numbers.map(lambda x: tf.numpy_function(record("numpy_function"), [x], tf.int32))
    py_mapped = numbers.map(lambda x: tf.py_function(record("py_function"), [x], tf.int32))
    assert [x.tolist() for x in numpy_mapped.as_numpy_iterator()] == [[1, 2]]
    assert [x.tolist() for x in py_mapped.as_numpy_iterator()] == [[1, 2]]
    assert seen["numpy_function"] is np.ndarray
    scalars = tf.data.Dataset.from_tensor_slices([1, 2]).map(
        lambda x: tf.numpy_function(record("numpy_function"), [x], tf.int32))
    assert list(scalars.as_numpy_iterator()) == [1, 2] and seen["numpy_function"] is np.int32
    assert issubclass(seen["py_function"], tf.Tensor) and seen["py_function"].__name__ == "EagerTensor"
    for dataset, op in [(numpy_mapped, "PyFunc"), (py_mapped, "EagerPyFunc")]:
        graph = graph_pb2.GraphDef.FromString(dataset._as_serialized_graph().numpy())
        ops = {node.op for function in graph.library.function for node in function.node_def}
        assert op in ops and ({"PyFunc", "EagerPyFunc"} - {op}).isdisjoint(ops)


def test_generator_is_created_at_the_first_element_and_dropped_at_the_end():
    events = []

    def numbers():
        events.append("start")
        try:
            yield 1
            yield 2
        finally:
            events.append("closed")

    dataset = tf.data.Dataset.from_generator(numbers, output_signature=SPEC)
    iterator = iter(dataset)
    assert events == []
    assert int(next(iterator)) == 1 and events == ["start"]
    assert [int(x) for x in iterator] == [2]
    assert wait_until(lambda: events == ["start", "closed"], 10)


def test_one_generator_runs_one_element_at_a_time_whatever_comes_after():
    body = Concurrency()

    def numbers():
        for i in range(8):
            yield body(i)

    dataset = tf.data.Dataset.from_generator(numbers, output_signature=SPEC).map(
        lambda x: x + 1, num_parallel_calls=8).prefetch(8)
    assert [int(x) for x in dataset] == list(range(1, 9))
    assert body.peak == 1


# Threads, pools and AUTOTUNE ---------------------------------------------------------------

def test_default_pool_runs_at_most_one_python_call_per_core():
    body = Concurrency()

    def shard(i):
        for j in range(3):
            yield body(int(i) * 10 + j)

    n = 2 * CORES + 2
    assert len(list(shards(n, shard, cycle_length=n, num_parallel_calls=n))) == 3 * n
    assert 1 <= body.peak <= CORES, f"{body.peak} generator bodies at once on {CORES} cores"
    body.peak = 0
    mapped = tf.data.Dataset.range(3 * n).map(lambda x: tf.numpy_function(body, [x], tf.int64), num_parallel_calls=n)
    assert len(list(mapped)) == 3 * n and body.peak <= CORES


def test_cpu_budget_does_not_raise_the_pool_ceiling():
    body = Concurrency()
    mapped = tf.data.Dataset.range(4 * CORES + 4).map(
        lambda x: tf.numpy_function(body, [x], tf.int64), num_parallel_calls=tf.data.AUTOTUNE)
    assert len(list(with_options(mapped, autotune__cpu_budget=4 * CORES))) == 4 * CORES + 4
    assert body.peak <= CORES


def _barrier_shards(parties, count):
    barrier = threading.Barrier(parties, timeout=60)

    def shard(i):
        barrier.wait()  # opens only when `parties` generator bodies run at once
        yield int(i)

    return shards(count, shard, cycle_length=count, num_parallel_calls=count)


def test_a_private_pool_runs_more_python_calls_than_cores():
    parties = CORES + 1
    dataset = with_options(_barrier_shards(parties, 2 * parties), threading__private_threadpool_size=2 * parties)
    assert sorted(int(x) for x in dataset) == list(range(2 * parties))


def test_unbounded_threadpool_map_runs_more_calls_than_cores():
    parties = CORES + 1
    barrier = threading.Barrier(parties, timeout=60)

    def wait_for_the_others(x):
        barrier.wait()
        return x

    mapped = tf.data.Dataset.range(2 * parties).map(
        lambda x: tf.numpy_function(wait_for_the_others, [x], tf.int64),
        num_parallel_calls=2 * parties, use_unbounded_threadpool=True)
    assert [int(x) for x in mapped] == list(range(2 * parties))


# interleave -------------------------------------------------------------------------------

def test_parallel_interleave_opens_future_inputs_ahead_and_buffers_their_output():
    source = Starts(per_shard=5)
    iterator = iter(shards(10, source, cycle_length=2, num_parallel_calls=2))
    assert int(next(iterator)) == 0
    # cycle_length current inputs + 2 * cycle_length future ones; more start only as inputs finish.
    assert wait_until(lambda: len(source.started) >= 6), source.started
    time.sleep(0.3)
    assert sorted(source.started) == [0, 1, 2, 3, 4, 5]
    # each input buffers up to 2 * block_length + 1 = 3 elements ahead; one was consumed.
    assert 6 < source.produced <= 6 * 3 + 1
    del iterator


def test_sequential_interleave_opens_only_cycle_length_inputs():
    source = Starts(per_shard=5)
    dataset = with_options(shards(10, source, cycle_length=2), experimental_optimization__inject_prefetch=False)
    iterator = iter(dataset)
    assert [int(next(iterator)) for _ in range(3)] == [0, 100, 1]
    time.sleep(0.3)
    assert sorted(source.started) == [0, 1] and source.produced == 3
    del iterator


def test_default_cycle_length_with_autotune_is_a_third_of_the_cores():
    cycle = math.ceil(CORES / 3)  # ceil(cores / (2 + 1)): current plus future inputs per core
    got = [int(x) for x in shards(3, Starts(per_shard=2), num_parallel_calls=tf.data.AUTOTUNE)]
    expected = []
    for first in range(0, 3, cycle):
        group = range(first, min(first + cycle, 3))
        expected += [s * 100 + j for j in range(2) for s in group]
    assert got == expected, f"on {CORES} cores"
    if CORES <= 3:
        assert got == [0, 1, 100, 101, 200, 201], "fully sequential"


def test_fixed_parallel_calls_above_the_cores_without_cycle_length_fails_when_iterated():
    dataset = shards(3, Starts(per_shard=1), num_parallel_calls=CORES + 1)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"`num_parallel_calls` is {CORES + 1} and `cycle_length` is {CORES}"):
        list(dataset)


def test_default_cycle_length_without_parallel_calls_is_the_core_count():
    got = [int(x) for x in shards(CORES + 1, Starts(per_shard=1))]
    assert got == [s * 100 for s in range(CORES + 1)]
    got = [int(x) for x in shards(CORES + 1, Starts(per_shard=2))]
    first_cycle = [s * 100 + j for j in range(2) for s in range(CORES)]
    assert got[: 2 * CORES] == first_cycle


# prefetch and memory --------------------------------------------------------------------

def _produced_ahead(dataset_of, at_least, **settings):
    produced = []

    def numbers():
        for i in range(100):
            produced.append(i)
            yield i

    dataset = with_options(dataset_of(tf.data.Dataset.from_generator(numbers, output_signature=SPEC)), **settings)
    iterator = iter(dataset)
    next(iterator)
    wait_until(lambda: len(produced) >= at_least)
    time.sleep(0.3)  # an upper bound: nothing more may arrive
    count = len(produced)
    del iterator
    return count


def test_prefetch_holds_its_buffer_and_ram_budget_does_not_shrink_a_fixed_one():
    assert _produced_ahead(lambda d: d.prefetch(4), 5) == 1 + 4
    assert _produced_ahead(lambda d: d.prefetch(4), 5, autotune__ram_budget=1) == 1 + 4


# Default graph rewrites -------------------------------------------------------------------

def test_inject_prefetch_runs_a_bare_generator_ahead():
    assert _produced_ahead(lambda d: d, 2) >= 2
    assert _produced_ahead(lambda d: d, 1, experimental_optimization__inject_prefetch=False) == 1


def test_map_parallelization_runs_a_stateless_map_in_parallel():
    barrier = threading.Barrier(2, timeout=60)

    def pair_up(x):
        barrier.wait()  # opens only when two calls run at once
        return x

    stateless = tf.data.Dataset.range(6).map(lambda x: tf.numpy_function(pair_up, [x], tf.int64, stateful=False))
    assert [int(x) for x in stateless] == list(range(6)), "still in input order"
    body = Concurrency()
    off = with_options(
        tf.data.Dataset.range(6).map(lambda x: tf.numpy_function(body, [x], tf.int64, stateful=False)),
        experimental_optimization__map_parallelization=False)
    assert [int(x) for x in off] == list(range(6)) and body.peak == 1
    body.peak = 0
    stateful = tf.data.Dataset.range(6).map(lambda x: tf.numpy_function(body, [x], tf.int64))
    assert [int(x) for x in stateful] == list(range(6)) and body.peak == 1, "stateful maps are left alone"


def test_map_and_batch_fusion_fuses_by_default_and_can_be_disabled():
    fused = tf.data.Dataset.range(4).apply(tf_data_testing.assert_next(["MapAndBatch"])).map(
        lambda x: x * 2).batch(2)
    assert [b.tolist() for b in fused.as_numpy_iterator()] == [[0, 2], [4, 6]]
    kept = with_options(
        tf.data.Dataset.range(4).apply(tf_data_testing.assert_next(["ParallelMap", "Batch"])).map(
            lambda x: x * 2).batch(2),
        experimental_optimization__map_and_batch_fusion=False)
    assert [b.tolist() for b in kept.as_numpy_iterator()] == [[0, 2], [4, 6]]


def test_rewrite_options_are_unset_by_default_and_all_rewrites_can_be_turned_off():
    optimization = tf.data.Options().experimental_optimization
    assert optimization.map_parallelization is None and optimization.inject_prefetch is None
    assert optimization.map_and_batch_fusion is None and optimization.apply_default_optimizations is None
    body = Concurrency()
    plain = with_options(
        tf.data.Dataset.range(6).map(lambda x: tf.numpy_function(body, [x], tf.int64, stateful=False)),
        experimental_optimization__apply_default_optimizations=False)
    assert [int(x) for x in plain] == list(range(6)) and body.peak == 1
