import os
import tempfile
from collections import Counter

import pytest
import tensorflow as tf

from recipes.checkpoint_resume import (
    first_ids,
    generator_pipeline,
    read_record,
    restore_position,
    resumable_pipeline,
    save_position,
)


def test_records_are_pure_functions_of_their_number():
    assert read_record(3).tolist() == [3, 9] and read_record(3).tolist() == read_record(3).tolist()


@pytest.mark.parametrize("steps_before_save", [0, 1, 3, 6])
def test_restore_continues_exactly_after_the_save_point(steps_before_save):
    dataset = resumable_pipeline(num_records=25, batch_size=4)
    with tempfile.TemporaryDirectory() as folder:
        iterator = iter(dataset)
        before = first_ids([next(iterator) for _ in range(steps_before_save)])
        path = save_position(iterator, folder)
        after = first_ids(list(iterator))
        resumed = first_ids(list(restore_position(dataset, path)))
    assert resumed == after
    flat = [i for batch in before + resumed for i in batch]
    assert Counter(flat) == Counter(range(25)), "each record exactly once across the restart"


def test_values_survive_the_restart():
    dataset = resumable_pipeline(num_records=10, batch_size=5)
    with tempfile.TemporaryDirectory() as folder:
        iterator = iter(dataset)
        next(iterator)
        path = save_position(iterator, folder)
        batch = next(restore_position(dataset, path)).numpy()
    assert batch.shape == (5, 2)
    assert all(row[1] == row[0] ** 2 for row in batch.tolist())


def test_generator_pipeline_cannot_be_checkpointed():
    iterator = iter(generator_pipeline())
    next(iterator)
    with tempfile.TemporaryDirectory() as folder:
        with pytest.raises(tf.errors.FailedPreconditionError, match="PyFunc is stateful."):
            save_position(iterator, folder)


def test_relaxed_policy_changes_only_the_message():
    options = tf.data.Options()
    options.experimental_external_state_policy = tf.data.experimental.ExternalStatePolicy.IGNORE
    iterator = iter(generator_pipeline().with_options(options))
    next(iterator)
    with tempfile.TemporaryDirectory() as folder:
        with pytest.raises(tf.errors.UnimplementedError, match="GeneratorDataset does not support checkpointing."):
            save_position(iterator, folder)


@pytest.mark.parametrize("kwargs, name", [({"num_records": 0}, "num_records"), ({"batch_size": -1}, "batch_size")])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        resumable_pipeline(**kwargs)


def test_missing_checkpoint_folder_is_rejected():
    with pytest.raises(ValueError, match="directory"):
        save_position(iter(resumable_pipeline(4, 2)), "/nonexistent-folder")


def _checkpoint_after_one(dataset):
    iterator = iter(dataset)
    next(iterator)
    with tempfile.TemporaryDirectory() as folder:
        return save_position(iterator, folder)


def test_py_function_map_cannot_be_checkpointed():
    # tf.py_function has no `stateful` argument: its EagerPyFunc op is always stateful.
    dataset = tf.data.Dataset.range(4).map(lambda i: tf.py_function(lambda x: x * 2, [i], tf.int64))
    with pytest.raises(tf.errors.FailedPreconditionError, match="EagerPyFunc is stateful."):
        _checkpoint_after_one(dataset)


def test_stateless_numpy_function_map_checkpoints():
    stateless = tf.data.Dataset.range(4).map(
        lambda i: tf.numpy_function(lambda x: x * 2, [i], tf.int64, stateful=False))
    assert _checkpoint_after_one(stateless)
    stateful = tf.data.Dataset.range(4).map(lambda i: tf.numpy_function(lambda x: x * 2, [i], tf.int64))
    with pytest.raises(tf.errors.FailedPreconditionError, match="PyFunc is stateful."):
        _checkpoint_after_one(stateful)


ELEMENT_BYTES = 20_000 * 4


def _big_records(n=40):
    # Random values do not compress: each element costs its full size in a checkpoint.
    def record(i):
        noise = tf.random.stateless_uniform([20_000 - 1], seed=tf.stack([i, 0]))
        return tf.concat([[tf.cast(i, tf.float32)], noise], axis=0)

    return tf.data.Dataset.range(n).map(record)


def _checkpoint_size_and_resume(dataset, symbolic):
    options = tf.data.Options()
    options.experimental_symbolic_checkpoint = symbolic
    dataset = dataset.with_options(options)
    iterator = iter(dataset)
    [next(iterator) for _ in range(3)]
    with tempfile.TemporaryDirectory() as folder:
        path = tf.train.Checkpoint(iterator=iterator).write(os.path.join(folder, "ckpt"))
        size = sum(os.path.getsize(os.path.join(folder, name)) for name in os.listdir(folder))
        after = [int(x[0]) for x in iterator]
        restored = iter(dataset)
        tf.train.Checkpoint(iterator=restored).read(path).assert_consumed()
        assert [int(x[0]) for x in restored] == after, "the restored iterator continues exactly"
    return size


def test_checkpoint_holds_the_shuffle_buffer_in_both_modes():
    shuffled = _big_records().shuffle(10, seed=1)
    assert _checkpoint_size_and_resume(shuffled, symbolic=False) >= 9 * ELEMENT_BYTES  # 9 or 10 buffered between calls
    assert _checkpoint_size_and_resume(shuffled, symbolic=True) >= 9 * ELEMENT_BYTES


def test_symbolic_checkpoint_saves_positions_not_buffers():
    prefetched = _big_records().map(lambda x: x * 2, num_parallel_calls=2).prefetch(8)
    assert _checkpoint_size_and_resume(prefetched, symbolic=True) < ELEMENT_BYTES // 4
