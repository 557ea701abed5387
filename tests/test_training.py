import textwrap
import warnings

import pytest
import tensorflow as tf

import recipes.training
from recipes.training import (
    SPEC,
    ExamplesPyDataset,
    example,
    examples,
    finite_dataset,
    fit,
    infinite_dataset,
    per_replica_dataset,
    python_generator_batches,
    tiny_model,
)
from tests.pages import ROOT, run_python

RAN_OUT = "Your input ran out of data; interrupting training."


def test_examples_are_exact_and_seeded():
    a = list(examples(5, 3))
    b = list(examples(5, 3))
    assert len(a) == 5 and all((x == x2).all() and y == y2 for (x, y), (x2, y2) in zip(a, b))
    assert all(abs(float(x.sum()) - float(y)) < 1e-5 for x, y in a)


def test_finite_dataset_length_and_batches():
    ds = finite_dataset(100, 32)
    assert int(ds.cardinality()) == 4
    assert [int(x.shape[0]) for x, _ in ds] == [32, 32, 32, 4]


def test_finite_training_with_validation():
    history, model = fit(finite_dataset(128, 32), epochs=2, validation_data=finite_dataset(64, 32, seed=1))
    assert sorted(history.history) == ["loss", "val_loss"]
    assert len(history.history["loss"]) == 2
    assert model.count_params() == 4


def test_declared_length_silences_the_ran_out_warning():
    spec = (tf.TensorSpec((3,), tf.float32), tf.TensorSpec((), tf.float32))
    unknown = tf.data.Dataset.from_generator(examples, args=(64, 0), output_signature=spec).batch(32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(unknown, epochs=2)
    assert any(RAN_OUT in str(w.message) for w in caught)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(finite_dataset(64, 32), epochs=2)
    assert not any(RAN_OUT in str(w.message) for w in caught)


def test_infinite_generator_with_steps_per_epoch():
    history, _ = fit(infinite_dataset(16), epochs=3, steps_per_epoch=2)
    assert len(history.history["loss"]) == 3


def test_keras_python_inputs():
    history, _ = fit(python_generator_batches(8), epochs=2, steps_per_epoch=2)
    assert len(history.history["loss"]) == 2
    ds = ExamplesPyDataset(batches=3, batch_size=5, workers=2)
    assert len(ds) == 3 and ds[1][0].shape == (5, 3)
    history, _ = fit(ds, epochs=1)
    assert len(history.history["loss"]) == 1


@pytest.mark.parametrize("kwargs", [{"num_examples": 0}, {"batch_size": -1}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        finite_dataset(**kwargs)


def test_mirrored_strategy_on_two_logical_cpus_delivers_each_example_once():
    # Logical devices must be set before TensorFlow starts: a fresh process.
    code = textwrap.dedent("""
        import numpy as np
        import tensorflow as tf
        from recipes.training import examples, fit_distributed, per_replica_dataset, use_logical_cpus

        devices = use_logical_cpus(2)
        strategy = tf.distribute.MirroredStrategy(devices)
        dist = strategy.distribute_datasets_from_function(per_replica_dataset(16, num_examples=64, seed=5))
        seen, sizes = [], []
        for x, y in dist:
            for part in strategy.experimental_local_results(x):
                sizes.append(int(part.shape[0]))
                seen.extend(np.round(part.numpy()[:, 0], 5).tolist())
        want = sorted(np.round(np.array([x for x, _ in examples(64, 5)])[:, 0], 5).tolist())
        print(strategy.num_replicas_in_sync, set(sizes), sorted(seen) == want)
        print(len(fit_distributed(strategy, epochs=2, steps_per_epoch=2).history["loss"]))
    """)
    proc = run_python(["-c", code], cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == "2 {8} True\n2\n"


def test_steps_per_epoch_without_repeat_still_runs_out():
    # 2 batches, steps_per_epoch=3, 4 epochs: every epoch stops after 2 steps and warns.
    spec = (tf.TensorSpec((3,), tf.float32), tf.TensorSpec((), tf.float32))
    data = tf.data.Dataset.from_generator(examples, args=(4, 0), output_signature=spec).batch(2)
    steps = []

    class CountSteps(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            steps.append(0)

        def on_train_batch_end(self, batch, logs=None):
            steps[-1] += 1

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tiny_model().fit(data, epochs=4, steps_per_epoch=3, callbacks=[CountSteps()], verbose=0)
    assert sum(RAN_OUT in str(w.message) for w in caught) == 4
    assert steps == [2, 2, 2, 2]


@pytest.fixture
def counted_examples(monkeypatch):
    """Record the number of every example the generator computes."""
    computed = []

    def counting(index, seed):
        computed.append(int(index))
        return example(index, seed)

    monkeypatch.setattr(recipes.training, "example", counting)
    return computed


def test_each_input_pipeline_generates_only_its_shard(counted_examples):
    context = tf.distribute.InputContext(num_input_pipelines=3, input_pipeline_id=1, num_replicas_in_sync=3)
    dataset = per_replica_dataset(global_batch_size=6, num_examples=10, seed=4)(context)
    xs = [x.tolist() for batch, _ in dataset.as_numpy_iterator() for x in batch]
    assert counted_examples == [1, 4, 7], "the generator computed examples of other shards"
    assert xs == [example(i, 4)[0].tolist() for i in (1, 4, 7)]


def test_shard_after_a_generator_reads_everything(counted_examples):
    dataset = tf.data.Dataset.from_generator(examples, args=(10, 4), output_signature=SPEC).shard(3, 1)
    assert len(list(dataset)) == 3
    assert counted_examples == list(range(10)), "shard() discards what the generator already made"


def test_shards_of_the_generator_partition_the_examples():
    union = sorted(x[0] for s in range(3) for x, _ in examples(10, 4, s, 3))
    assert union == sorted(x[0] for x, _ in examples(10, 4))


def test_auto_shard_falls_back_to_data_for_a_generator():
    from tensorflow.python.data.experimental.ops.distribute import _AutoShardDataset  # what distribute uses

    produced = []

    def numbers():
        for i in range(6):
            produced.append(i)
            yield i

    source = tf.data.Dataset.from_generator(numbers, output_signature=tf.TensorSpec((), tf.int64))
    policy = tf.data.experimental.AutoShardPolicy
    assert tf.data.Options().experimental_distribute.auto_shard_policy == policy.AUTO
    for chosen in (policy.AUTO, policy.DATA):
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = chosen
        produced.clear()
        worker_1 = _AutoShardDataset(source.with_options(options), num_workers=2, index=1)
        assert [int(x) for x in worker_1] == [1, 3, 5]
        assert produced == list(range(6)), "every worker runs the whole generator"
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = policy.FILE
    with pytest.raises(tf.errors.NotFoundError, match="Found an unshardable source dataset"):
        list(_AutoShardDataset(source.with_options(options), num_workers=2, index=1))
