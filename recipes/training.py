"""Feed ``model.fit`` from a generator pipeline, on one device or several.

* A finite generator: declare its length with ``assert_cardinality`` so Keras
  knows the epoch length (otherwise it learns it by running out of data, and
  warns every epoch that the input "ran out of data").
* An infinite generator: ``repeat`` or ``while True``; give ``steps_per_epoch``.
* Validation data from a second generator.
* What Keras 3 does with a plain Python generator and with ``PyDataset``.
* Per-replica input with ``tf.distribute``: ``distribute_datasets_from_function``
  and ``InputContext`` (shard per input pipeline, batch per replica).

Run ``python training.py`` to train a tiny model every way, including on two
logical CPU devices with ``MirroredStrategy``. Needs only the standard library,
NumPy and TensorFlow (Keras comes with it as ``tf.keras``).
"""

# --8<-- [start:setup]
import os

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

FEATURES = 3
SPEC = (
    tf.TensorSpec(shape=(FEATURES,), dtype=tf.float32),
    tf.TensorSpec(shape=(), dtype=tf.float32),
)
# --8<-- [end:setup]


# --8<-- [start:data]
def example(index, seed):
    """Example number ``index``: ``x`` random from ``(seed, index)``, ``y = sum(x)``."""
    rng = np.random.default_rng([int(seed), int(index)])
    x = rng.normal(size=FEATURES).astype(np.float32)
    return x, np.float32(x.sum())


def examples(num_examples, seed, shard=0, num_shards=1):
    """Generator function: examples ``shard``, ``shard + num_shards``, ...

    Each example is computed from its number alone, so a shard reads only its
    own examples. ``num_examples < 0`` means forever. ``args`` arrive as NumPy
    ``int32`` values: ``int()`` keeps the arithmetic in Python ints.
    """
    num_examples, index, step = int(num_examples), int(shard), int(num_shards)
    while num_examples < 0 or index < num_examples:
        yield example(index, seed)
        index += step


def finite_dataset(num_examples=256, batch_size=32, seed=0):
    """A finite generator whose length is declared, then batched."""
    if not isinstance(num_examples, int) or num_examples < 1:
        raise ValueError(f"num_examples must be a positive int, got {num_examples!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    dataset = tf.data.Dataset.from_generator(
        examples, args=(num_examples, seed), output_signature=SPEC)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(num_examples))
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def infinite_dataset(batch_size=32, seed=0):
    """A generator that never ends: ``fit`` needs ``steps_per_epoch``."""
    dataset = tf.data.Dataset.from_generator(examples, args=(-1, seed), output_signature=SPEC)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
# --8<-- [end:data]


# --8<-- [start:fit]
def tiny_model():
    """A one-layer regression model, compiled: enough to show the input pipeline at work."""
    model = tf.keras.Sequential([tf.keras.Input((FEATURES,)), tf.keras.layers.Dense(1)])
    model.compile(optimizer=tf.keras.optimizers.SGD(0.05), loss="mse")
    return model


def fit(dataset, epochs=2, steps_per_epoch=None, validation_data=None, model=None):
    """Train and return ``(history, model)``."""
    model = model or tiny_model()
    # shuffle=False: these inputs are streams; shuffle them in the pipeline.
    history = model.fit(dataset, epochs=epochs, steps_per_epoch=steps_per_epoch,
                        validation_data=validation_data, shuffle=False, verbose=0)
    return history, model
# --8<-- [end:fit]


# --8<-- [start:keras_inputs]
def python_generator_batches(batch_size=32, seed=0):
    """Keras 3 also takes a plain Python generator of *batches* (no tf.data)."""
    gen = examples(-1, seed)
    while True:
        pairs = [next(gen) for _ in range(batch_size)]
        yield np.stack([x for x, _ in pairs]), np.array([y for _, y in pairs])


class ExamplesPyDataset(tf.keras.utils.PyDataset):
    """Keras' own indexed source: ``len`` batches, ``__getitem__`` builds one.

    ``workers`` and ``use_multiprocessing`` let Keras fetch batches in threads or
    processes; every batch must be computable from its index alone.
    """

    def __init__(self, batches=8, batch_size=32, **kwargs):
        super().__init__(**kwargs)  # workers, use_multiprocessing, max_queue_size
        self._batches, self._batch_size = batches, batch_size

    def __len__(self):
        return self._batches

    def __getitem__(self, index):
        rng = np.random.default_rng(index)
        x = rng.normal(size=(self._batch_size, FEATURES)).astype(np.float32)
        return x, x.sum(axis=1)
# --8<-- [end:keras_inputs]


# --8<-- [start:distributed]
def use_logical_cpus(count=2):
    """Split the CPU into ``count`` logical devices (before TensorFlow starts)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def per_replica_dataset(global_batch_size=32, num_examples=256, seed=0):
    """A ``dataset_fn`` for ``distribute_datasets_from_function``.

    Called once per input pipeline (one per worker machine) with an
    ``InputContext``. The pipeline's id goes to the generator through ``args``,
    so each pipeline's generator reads only its own shard of the source (a
    ``.shard()`` after ``from_generator`` would make every pipeline read all of
    it and drop the rest). Batches are per replica; the strategy hands them to
    the replicas in turn.
    """
    def dataset_fn(context):
        per_replica = context.get_per_replica_batch_size(global_batch_size)
        return tf.data.Dataset.from_generator(
            examples,
            args=(num_examples, seed, context.input_pipeline_id, context.num_input_pipelines),
            output_signature=SPEC,
        ).batch(per_replica).prefetch(tf.data.AUTOTUNE)
    return dataset_fn


def fit_distributed(strategy, epochs=1, steps_per_epoch=4, global_batch_size=32):
    """Train under ``strategy`` with per-replica input; returns the history."""
    dataset = strategy.distribute_datasets_from_function(
        per_replica_dataset(global_batch_size, num_examples=global_batch_size * steps_per_epoch * epochs))
    with strategy.scope():
        model = tiny_model()
    return model.fit(dataset, epochs=epochs, steps_per_epoch=steps_per_epoch, shuffle=False, verbose=0)
# --8<-- [end:distributed]


def main():
    devices = use_logical_cpus(2)  # first, before anything starts TensorFlow's runtime
    tf.keras.utils.set_random_seed(0)
    history, _ = fit(finite_dataset(256, 32), epochs=3, validation_data=finite_dataset(64, 32, seed=1))
    print("finite, 3 epochs:", len(history.history["loss"]), "losses;",
          "validation loss recorded:", "val_loss" in history.history)
    history, _ = fit(infinite_dataset(32), epochs=2, steps_per_epoch=5)
    print("infinite, 2 epochs x 5 steps:", len(history.history["loss"]), "losses")
    history, _ = fit(python_generator_batches(32), epochs=1, steps_per_epoch=4)
    print("plain Python generator:", len(history.history["loss"]), "loss")
    history, _ = fit(ExamplesPyDataset(batches=4, workers=2), epochs=2)
    print("PyDataset, 2 threads:", len(history.history["loss"]), "losses")
    strategy = tf.distribute.MirroredStrategy(devices)
    history = fit_distributed(strategy, epochs=2, steps_per_epoch=4)
    print(f"MirroredStrategy on {strategy.num_replicas_in_sync} logical CPUs:",
          len(history.history["loss"]), "losses")


if __name__ == "__main__":
    main()
