"""Parallelize one slow generator by sharding it across ``interleave``.

One Python generator produces one element at a time. If the source can be split
(rows ``i`` with ``i % k == j``, files, key ranges, pages of an API), run ``k``
generators at once, each producing its own shard, and let ``interleave`` merge
them::

    tf.data.Dataset.range(k).interleave(
        lambda j: tf.data.Dataset.from_generator(gen, args=(j, k), ...),
        cycle_length=k, num_parallel_calls=k)

With ``deterministic=True`` and block-strided shards the merged order equals the
serial order. tf.data runs Python generators on its thread pool, which is sized
to the number of cores, so for waiting-bound sources the pipeline gets a private
pool with one thread per shard.

Run ``python sharded_generator.py`` to see shards merge back into the serial
order. Needs only the standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import os
import time

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

ELEMENT_SPEC = tf.TensorSpec(shape=(), dtype=tf.int64)
# --8<-- [end:setup]


# --8<-- [start:shard]
def shard_of(i, num_shards, block_length=1):
    """The shard that element ``i`` of the source belongs to.

    Blocks of ``block_length`` consecutive elements go to the shards in turn, so
    a deterministic interleave with the same ``block_length`` restores the
    source order exactly.
    """
    return (i // block_length) % num_shards


def read_shard(shard, num_shards, total, block_length, latency_s, chunked):
    """Generator function for one shard: yields the source elements it owns.

    Stands in for a reader of rows, files or pages: each element costs
    ``latency_s`` seconds of waiting (``time.sleep`` releases the GIL, as
    network and disk waits do). Arguments arrive as NumPy values via ``args``.
    With ``chunked``, each block is yielded as one array: one hand-off from
    Python to TensorFlow per block instead of one per element.
    """
    shard, num_shards = int(shard), int(num_shards)
    total, block_length = int(total), int(block_length)
    stride = num_shards * block_length
    for start in range(shard * block_length, total, stride):  # this shard's blocks
        block = []
        for i in range(start, min(start + block_length, total)):
            if latency_s > 0:
                time.sleep(float(latency_s))
            if not chunked:
                yield np.int64(i)
            block.append(i)
        if chunked:
            yield np.array(block, dtype=np.int64)


# --8<-- [end:shard]


# --8<-- [start:pipeline]
def sharded(total, num_shards, block_length=1, latency_s=0.0,
            deterministic=True, private_threads=None, chunked=False):
    """Elements ``0 .. total-1`` produced by ``num_shards`` generators at once.

    ``private_threads``: size of a thread pool for this pipeline alone. The
    default pool has one thread per core; generators that mostly wait need one
    thread each to overlap their waits, so pass ``num_shards`` for them.
    ``chunked``: each shard yields whole blocks as arrays, and ``unbatch``
    splits them again; the output is the same, with fewer Python calls.
    """
    for name, value in [("total", total), ("num_shards", num_shards), ("block_length", block_length)]:
        if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "total" else 1):
            raise ValueError(f"{name} must be a {'non-negative' if name == 'total' else 'positive'} int, got {value!r}")
    if latency_s < 0:
        raise ValueError(f"latency_s must be >= 0, got {latency_s!r}")
    spec = tf.TensorSpec(shape=(None,), dtype=tf.int64) if chunked else ELEMENT_SPEC

    def one_shard(shard):
        return tf.data.Dataset.from_generator(
            read_shard,
            args=(shard, num_shards, total, block_length, latency_s, chunked),
            output_signature=spec,
        )

    dataset = tf.data.Dataset.range(num_shards).interleave(
        one_shard,
        cycle_length=num_shards,  # every shard in flight at once
        block_length=1 if chunked else block_length,  # a chunk is a whole block
        num_parallel_calls=num_shards,
        deterministic=deterministic,
    )
    if chunked:
        dataset = dataset.unbatch()
    if private_threads is not None:
        options = tf.data.Options()
        options.threading.private_threadpool_size = private_threads
        dataset = dataset.with_options(options)
    return dataset


# --8<-- [end:pipeline]


def main():
    print("serial order:          ", list(range(10)))
    for k, b, chunked in [(3, 1, False), (3, 2, False), (3, 2, True)]:
        got = [int(x) for x in sharded(10, k, block_length=b, chunked=chunked).as_numpy_iterator()]
        print(f"k={k} block={b}{' chunked' if chunked else '        '}:", got)
    shuffled = [int(x) for x in sharded(10, 3, deterministic=False).as_numpy_iterator()]
    print("deterministic=False, sorted:", sorted(shuffled))


if __name__ == "__main__":
    main()
