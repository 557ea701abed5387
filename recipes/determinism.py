"""Order and reproducibility in generator pipelines.

What decides the order of elements, and what makes two runs give the same data:

* ``deterministic=`` on ``interleave`` and ``map``: ``True`` keeps the order a
  sequential pipeline would give; ``False`` lets ready elements overtake slow
  ones. The *multiset* of elements is the same either way.
* ``tf.data.Options().deterministic``: the default for every stage that was not
  given ``deterministic=`` explicitly.
* ``shuffle(buffer, seed=...)``: with a seed, the sequence of epoch orders is the
  same in every run; ``reshuffle_each_iteration`` makes each epoch different.
* randomness inside ``map``: stateless ops seeded per element (see the parallel
  map recipe).

Run ``python determinism.py`` to see each. Needs only the standard library,
NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import os
import time

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

SPEC = tf.TensorSpec(shape=(), dtype=tf.int64)
# --8<-- [end:setup]


# --8<-- [start:straggler]
def read_shard(shard, per_shard, slow_shard, delay_s):
    """Shard ``j`` yields ``j*per_shard .. (j+1)*per_shard - 1``; one shard is slow."""
    for m in range(int(per_shard)):
        if int(shard) == int(slow_shard):
            time.sleep(float(delay_s))  # a straggler: a slow disk, a far server
        yield np.int64(int(shard) * int(per_shard) + m)


def with_straggler(num_shards=3, per_shard=3, slow_shard=0, delay_s=0.1, deterministic=None):
    """Shards merged by a parallel interleave; ``deterministic=None`` defers to Options."""
    if not isinstance(num_shards, int) or num_shards < 1:
        raise ValueError(f"num_shards must be a positive int, got {num_shards!r}")
    if not isinstance(per_shard, int) or per_shard < 0:
        raise ValueError(f"per_shard must be a non-negative int, got {per_shard!r}")
    return tf.data.Dataset.range(num_shards).interleave(
        lambda j: tf.data.Dataset.from_generator(
            read_shard, args=(j, per_shard, slow_shard, delay_s), output_signature=SPEC),
        cycle_length=num_shards,
        num_parallel_calls=num_shards,
        deterministic=deterministic,
    )


def nondeterministic_by_default(dataset):
    """Make ``deterministic=False`` the default for every stage not set explicitly."""
    options = tf.data.Options()
    options.deterministic = False
    return dataset.with_options(options)
# --8<-- [end:straggler]


# --8<-- [start:shuffle]
def shuffled(num_elements=8, seed=42, buffer_size=8, reshuffle_each_iteration=True):
    """A generator's elements, shuffled with a fixed seed."""
    def generate():
        yield from range(num_elements)

    source = tf.data.Dataset.from_generator(generate, output_signature=SPEC)
    return source.shuffle(buffer_size, seed=seed, reshuffle_each_iteration=reshuffle_each_iteration)


def epochs(dataset, count):
    """The elements of ``count`` successive iterations (epochs) of one dataset."""
    return [[int(x) for x in dataset] for _ in range(count)]
# --8<-- [end:shuffle]


def main():
    ordered = [int(x) for x in with_straggler(deterministic=True)]
    print("deterministic=True: ", ordered)
    free = [int(x) for x in with_straggler(deterministic=False)]
    print("deterministic=False, same elements:", sorted(free) == sorted(ordered))
    print("shard 0 (slow) first without determinism:", free[0] == 0)
    run_1 = epochs(shuffled(seed=42), 2)
    run_2 = epochs(shuffled(seed=42), 2)
    print("seeded shuffle, epoch 1:", run_1[0])
    print("seeded shuffle, epoch 2:", run_1[1])
    print("a second run repeats both epochs:", run_1 == run_2)


if __name__ == "__main__":
    main()
