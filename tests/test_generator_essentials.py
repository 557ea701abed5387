import threading

import numpy as np
import pytest
import tensorflow as tf

from recipes.generator_essentials import (
    RECORD_SIGNATURE,
    generate_records,
    ragged_dataset,
    record_dataset,
    with_known_length,
)
from tests.pages import ROOT, run_python


def test_element_spec_is_the_signature():
    assert record_dataset(2).element_spec == RECORD_SIGNATURE


def test_every_record_exactly():
    got = [
        (int(f["id"]), f["tokens"].tolist(), f["tokens"].dtype, float(label), name)
        for f, (label, name) in record_dataset(4, prefix="p").as_numpy_iterator()
    ]
    assert got == [
        (i, list(range(i + 1)), np.int32, i / 2, f"p-{i}".encode()) for i in range(4)
    ]


def test_args_arrive_as_numpy_values():
    seen = []

    def gen(count, name, scale):
        seen.append((type(count), type(name), type(scale)))
        yield 0

    list(tf.data.Dataset.from_generator(gen, args=(3, "x", 0.5), output_signature=tf.TensorSpec((), tf.int32)))
    assert seen == [(np.int32, bytes, np.float32)]
    assert list(generate_records(np.int64(1), b"z")) [0][1] == (0.0, "z-0")


def test_fresh_generator_per_iteration_and_after_take():
    records = record_dataset(5)
    assert len(list(records.take(2))) == 2
    assert len(list(records)) == 5 and len(list(records)) == 5
    assert [int(f["id"]) for f, _ in records.repeat(2)] == [0, 1, 2, 3, 4] * 2


def test_empty_dataset():
    assert list(record_dataset(0)) == []


def test_ragged():
    ds = ragged_dataset(4)
    assert ds.element_spec == tf.RaggedTensorSpec(shape=(2, None), dtype=tf.int32)
    assert [m.to_list() for m in ds] == [[[], [-1]], [[1], [-1]], [[2, 2], [-1]], [[3, 3, 3], [-1]]]


def test_cardinality_unknown_then_asserted():
    records = record_dataset(3)
    assert int(records.cardinality()) == tf.data.UNKNOWN_CARDINALITY == -2
    asserted = with_known_length(records, 3)
    assert int(asserted.cardinality()) == 3
    assert len(list(asserted)) == 3


@pytest.mark.parametrize("declared, message", [
    (5, "Input dataset was expected to contain 5 elements but contained only 3 elements."),
    (2, "Input dataset was expected to contain 2 elements but contained at least 3 elements."),
])
def test_wrong_cardinality_fails_while_iterating(declared, message):
    with pytest.raises(tf.errors.FailedPreconditionError) as info:
        list(with_known_length(record_dataset(3), declared))
    assert message in info.value.message


def test_output_types_is_deprecated():
    # TensorFlow logs each deprecation once per process: check in a fresh one.
    code = ("import tensorflow as tf\n"
            "ds = tf.data.Dataset.from_generator(lambda: iter([1]), output_types=tf.int64, output_shapes=())\n"
            "print(ds.element_spec)")
    proc = run_python(["-c", code], cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "TensorSpec(shape=(), dtype=tf.int64, name=None)\n"
    assert "with output_types is deprecated" in proc.stderr
    assert "Use output_signature instead" in proc.stderr


def test_mismatching_elements_raise_with_the_reason():
    def too_long():
        yield np.zeros(4, np.float32)

    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        list(tf.data.Dataset.from_generator(too_long, output_signature=tf.TensorSpec((3,), tf.float32)))
    assert ("TypeError: `generator` yielded an element of shape (4,) where an element "
            "of shape (3,) was expected.") in info.value.message

    def float64():
        yield np.ones(3, np.float64)

    out = list(tf.data.Dataset.from_generator(float64, output_signature=tf.TensorSpec((3,), tf.float32)))
    assert out[0].dtype == tf.float32  # converted, not rejected


@pytest.mark.parametrize("kwargs, error", [
    ({"num_records": -1}, ValueError), ({"num_records": 2.0}, ValueError), ({"prefix": 3}, TypeError),
])
def test_bad_arguments(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        record_dataset(**kwargs)


def _yielded_as(dtype, value, shape=()):
    dataset = tf.data.Dataset.from_generator(lambda: iter([value]), output_signature=tf.TensorSpec(shape, dtype))
    return [x.tolist() for x in dataset.as_numpy_iterator()]


def test_yielded_values_are_cast_silently_even_when_lossy():
    assert _yielded_as(tf.float32, np.float64(0.1)) == [np.float32(0.1).item()]
    assert _yielded_as(tf.int32, 2.7) == [2]
    assert _yielded_as(tf.int32, np.array([2.7, -3.9]), shape=(2,)) == [[2, -3]]
    assert _yielded_as(tf.uint8, 300) == [44]
    with pytest.warns(RuntimeWarning, match="overflow encountered in cast"):  # NumPy's, not TensorFlow's
        assert _yielded_as(tf.float32, 1e40) == [float("inf")]


def test_small_int_args_arrive_as_int32_and_overflow():
    seen = []

    def square(n):
        with np.errstate(over="ignore"):
            seen.append((type(n).__name__, int(n * n), int(n) * int(n)))
        yield 0

    spec = tf.TensorSpec((), tf.int64)
    list(tf.data.Dataset.from_generator(square, args=(100_000,), output_signature=spec))
    list(tf.data.Dataset.from_generator(square, args=(2**40,), output_signature=spec))
    assert seen == [("int32", 1410065408, 10_000_000_000), ("int64", 0, 2**80)]


def test_generators_of_one_dataset_run_at_the_same_time():
    # Both shards must be inside their generator body at once to pass the barrier.
    barrier = threading.Barrier(2, timeout=60)

    def shard(i):
        barrier.wait()
        yield int(i)

    rows = tf.data.Dataset.range(2).interleave(
        lambda i: tf.data.Dataset.from_generator(shard, args=(i,), output_signature=tf.TensorSpec((), tf.int64)),
        cycle_length=2, num_parallel_calls=2)
    assert sorted(int(x) for x in rows) == [0, 1]


def test_one_python_generator_shared_by_two_shards_fails():
    inside, release = threading.Event(), threading.Event()

    def source():
        for i in range(4):
            inside.set()
            release.wait(60)  # keeps this generator executing, with the GIL released
            yield i

    shared = source()

    def shard(i):
        if int(i) == 1:
            inside.wait(60)  # shard 0 is inside next(shared) now
            try:
                yield next(shared)
            finally:
                release.set()
        else:
            yield next(shared)

    rows = tf.data.Dataset.range(2).interleave(
        lambda i: tf.data.Dataset.from_generator(shard, args=(i,), output_signature=tf.TensorSpec((), tf.int64)),
        cycle_length=2, num_parallel_calls=2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="generator already executing"):
        list(rows)
