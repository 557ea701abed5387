"""Grain worker processes behind ``from_generator``, then the usual tf.data stages.

Grain (``pip install grain``) is a maintained data loader: it runs your
per-element Python work in worker processes, each with its own interpreter and
GIL, hands the results back through shared memory, and keeps a deterministic
order. This recipe builds the Grain pipeline the way Grain's Dataset API
documents it and iterates it behind ``tf.data.Dataset.from_generator`` with an
exact ``output_signature``, so that everything after it is ordinary tf.data:
``batch``/``prefetch``, ``tf.distribute``, the tf.data service client, and
checkpointing of what comes after.

Public API::

    grain_records(source, transform, *, batch_size=None, drop_remainder=False,
                  seed=None, shard_options=None) -> grain.MapDataset
    grain_pipeline(source, transform, *, worker_count, worker_buffer_size=1,
                   read_threads=0, **grain_records_options) -> grain.IterDataset
    grain_dataset(source, transform, output_signature, *, worker_count,
                  batch_size=None, drop_remainder=False, seed=None,
                  shard_options=None, worker_buffer_size=1,
                  read_threads=0) -> tf.data.Dataset

* ``source``: anything with ``__len__`` and ``__getitem__`` (a list, a
  ``range``, a Grain data source); ``transform(record) -> element`` is the
  per-element work, a function defined at the top level of a module (workers
  are spawned and receive it pickled by name).
* ``worker_count``: Grain worker processes (``0`` runs everything in this
  process). ``worker_buffer_size``: elements (or batches) each worker prepares
  ahead (Grain's ``per_worker_buffer_size``, default 1).
* ``read_threads``: threads in each worker that compute elements ahead
  (Grain's ``ReadOptions.num_threads``). The default ``0`` computes them in the
  worker's own loop, as Grain's ``ReadOptions`` advises for data already in
  memory: threads that run Python work only contend for the worker's GIL, and
  Grain's defaults (16 threads, 500 elements ahead per process) would compute
  up to 500 elements, or batches, ahead in every worker. Give threads to a
  ``transform`` that waits on I/O; each such worker then holds up to
  ``4 * read_threads`` elements ahead.
* ``batch_size``: if given, Grain batches in the workers and the dataset yields
  batches (leading dimension ``None``); otherwise it yields elements.
* ``seed``: if given, a global shuffle with Grain's ``shuffle``; iteration
  number ``k`` of the dataset (epoch ``k``) uses seed ``seed + k``, as Grain's
  own repeated shuffle does: a new order every epoch, the same orders for the
  same seed.
* ``shard_options``: a ``grain.sharding.ShardOptions``; this pipeline reads
  only its shard (records ``shard_index``, ``shard_index + shard_count``, ...).

Order: always deterministic. Grain's workers take turns, so elements come out
in the order of the (shuffled) source whatever ``worker_count`` is.
Each iteration of the ``tf.data.Dataset`` (each epoch) starts its own workers;
they stop when the iteration ends, stops early or fails.

Workers are started with ``spawn`` and import this module afresh, so its top
level imports no TensorFlow (``import tensorflow`` happens inside
``grain_dataset``). Run ``python grain_source.py`` for a demonstration. Needs
the standard library, NumPy, TensorFlow and Grain.
"""

# --8<-- [start:setup]
import gc
import itertools
import os

# Hide TensorFlow's C++ start-up notices before it is imported (inside
# grain_dataset). Spawned Grain workers import this module: keep it light.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import grain
import numpy as np

# --8<-- [end:setup]


# --8<-- [start:work]
def parse_record(i):
    """Example work: pure Python, holds the GIL (about a millisecond)."""
    text = ",".join(str(i * 7 + j) for j in range(2_000))
    fields = [int(x) for x in text.split(",")]
    return fields[0] // 7  # the record back, so the output is easy to check


def decode_image(i):
    """Example work that returns an image: a 64x64 RGB array, every pixel ``i % 256``."""
    row = bytes([i % 256]) * (64 * 3)
    return np.frombuffer(row * 64, dtype=np.uint8).reshape(64, 64, 3)


def fail_on_13(i):
    """Example work that fails on one record, to show how errors travel."""
    if i == 13:
        raise ValueError(f"record {i} is corrupt")
    return i
# --8<-- [end:work]


# --8<-- [start:pipeline]
def grain_records(source, transform, *, batch_size=None, drop_remainder=False, seed=None,
                  shard_options=None):
    """Grain's ``MapDataset``: source, shuffle, this shard's records, the work, batches."""
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
    if not callable(transform):
        raise TypeError(f"transform must be callable, got {transform!r}")
    records = grain.MapDataset.source(source)
    if seed is not None:
        records = records.shuffle(seed=seed)
    if shard_options is not None:  # records shard_index, shard_index + shard_count, ...
        count = shard_options.shard_count
        end = len(records) - len(records) % count if shard_options.drop_remainder else len(records)
        records = records[shard_options.shard_index:end:count]
    records = records.map(transform)
    if batch_size is not None:
        records = records.batch(batch_size, drop_remainder=drop_remainder)
    return records


def grain_pipeline(source, transform, *, worker_count, worker_buffer_size=1, read_threads=0, **options):
    """``grain_records(...)`` computed by ``worker_count`` Grain worker processes."""
    if not isinstance(worker_count, int) or worker_count < 0:
        raise ValueError(f"worker_count must be an int >= 0, got {worker_count!r}")
    if not isinstance(read_threads, int) or read_threads < 0:
        raise ValueError(f"read_threads must be an int >= 0, got {read_threads!r}")
    read = grain.ReadOptions(num_threads=read_threads, prefetch_buffer_size=4 * read_threads)
    pipeline = grain_records(source, transform, **options).to_iter_dataset(read)
    if worker_count > 0:
        pipeline = pipeline.mp_prefetch(grain.MultiprocessingOptions(
            num_workers=worker_count, per_worker_buffer_size=worker_buffer_size))
    return pipeline
# --8<-- [end:pipeline]


# --8<-- [start:dataset]
def _owned(value):
    """``value`` with every array copied once out of Grain's shared memory.

    The copy is 64-byte aligned, so ``from_generator`` takes it without copying
    again, and Grain's segment is released as soon as the copy is made (a
    tensor that kept pointing into it would keep it alive until the tensor goes).
    """
    if isinstance(value, dict):
        return {key: _owned(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return tuple(_owned(item) for item in value)
    array = np.asarray(value)
    raw = np.empty(array.nbytes + 64, np.uint8)
    start = -raw.ctypes.data % 64
    out = raw[start:start + array.nbytes].view(array.dtype).reshape(array.shape)
    out[...] = array
    return out


def grain_dataset(source, transform, output_signature, *, worker_count, batch_size=None,
                  drop_remainder=False, seed=None, shard_options=None, worker_buffer_size=1, read_threads=0):
    """A ``tf.data.Dataset`` of ``transform(record)`` for every record of ``source``.

    Each iteration of the dataset iterates a fresh Grain pipeline and closes it
    (workers and shared memory) when the iteration ends, stops early or fails.
    With ``batch_size`` the elements are Grain's batches: ``output_signature``
    describes one element, the dataset's spec gains a leading ``None``. The
    dataset's length is known (``cardinality``), so Keras knows the epoch length.
    """
    import tensorflow as tf

    options = dict(batch_size=batch_size, drop_remainder=drop_remainder, shard_options=shard_options)
    length = len(grain_records(source, transform, seed=seed, **options))  # checks the arguments
    grain_pipeline(source, transform, worker_count=worker_count, read_threads=read_threads,
                   **options)  # checks the rest; starts no worker
    epochs = itertools.count()
    if batch_size is not None:
        output_signature = tf.nest.map_structure(
            lambda spec: tf.TensorSpec((None, *spec.shape), spec.dtype), output_signature)

    def generator():
        # Epoch k shuffles with seed + k, as Grain's own repeated shuffle does.
        epoch_seed = None if seed is None else (seed + next(epochs)) % 2**32
        iterator = iter(grain_pipeline(source, transform, worker_count=worker_count, seed=epoch_seed,
                                       worker_buffer_size=worker_buffer_size, read_threads=read_threads,
                                       **options))
        element = None
        try:
            for element in iterator:
                yield _owned(element)
        finally:
            iterator.close()  # stop the workers now, not when garbage collected
            iterator = element = None
            # Two of Grain's batches are left in a reference cycle of young objects: collecting the young
            # generations (well under 1 ms; a full collection beside TensorFlow takes ~0.4 s) frees their
            # shared memory now, not at the next automatic collection or with a warning at exit.
            gc.collect(1)

    dataset = tf.data.Dataset.from_generator(generator, output_signature=output_signature)
    return dataset.apply(tf.data.experimental.assert_cardinality(length))
# --8<-- [end:dataset]


# --8<-- [start:training]
FEATURES = 3


def example(i):
    """Training example number ``i``: ``x`` random from ``i``, ``y = sum(x)``."""
    x = np.random.default_rng([0, i]).normal(size=FEATURES).astype(np.float32)
    return x, np.float32(x.sum())


def example_spec():
    """The ``output_signature`` of one ``example``."""
    import tensorflow as tf

    return (tf.TensorSpec((FEATURES,), tf.float32), tf.TensorSpec((), tf.float32))


def per_replica_dataset_fn(num_examples, global_batch_size, *, worker_count=1, seed=None):
    """A ``dataset_fn`` for ``distribute_datasets_from_function`` in ``PER_REPLICA`` mode.

    Called once per replica: replica ``i`` of ``n`` reads shard ``i`` of the
    source through Grain's ``ShardOptions`` and batches per replica in Grain.
    ``drop_remainder`` on both keeps the replicas in step (the last
    ``num_examples % global_batch_size`` examples are dropped).
    """
    def dataset_fn(context):
        shard = grain.sharding.ShardOptions(
            context.input_pipeline_id, context.num_input_pipelines, drop_remainder=True)
        return grain_dataset(
            range(num_examples), example, example_spec(), worker_count=worker_count,
            batch_size=context.get_per_replica_batch_size(global_batch_size), drop_remainder=True,
            seed=seed, shard_options=shard)
    return dataset_fn


def distribute_per_replica(strategy, dataset_fn):
    """One Grain pipeline per replica (the function runs once per replica)."""
    import tensorflow as tf

    options = tf.distribute.InputOptions(
        experimental_replication_mode=tf.distribute.InputReplicationMode.PER_REPLICA,
        experimental_fetch_to_device=False)
    return strategy.distribute_datasets_from_function(dataset_fn, options=options)
# --8<-- [end:training]


# --8<-- [start:main]
def main():
    import tensorflow as tf

    records = grain_dataset(range(50), parse_record, tf.TensorSpec((), tf.int64), worker_count=2)
    print(records.element_spec)
    print([int(x) for x in records] == list(range(50)))

    images = grain_dataset(range(70), decode_image, tf.TensorSpec((64, 64, 3), tf.uint8),
                           worker_count=2, batch_size=32)
    print(images.element_spec)
    print([int(batch.shape[0]) for batch in images])

    shuffled = grain_dataset(range(10), parse_record, tf.TensorSpec((), tf.int64),
                             worker_count=2, seed=7)
    first, second = ([int(x) for x in shuffled] for _ in range(2))
    print("shuffled, every record once per epoch:", sorted(first) == sorted(second) == list(range(10)))
    print("a new order each epoch:", first != second)


if __name__ == "__main__":
    main()
# --8<-- [end:main]
