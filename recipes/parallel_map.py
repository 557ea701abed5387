"""Augment generator output with a parallel ``map``, reproducibly.

A Python generator yields raw records (or raw batches, as a database cursor's
``fetchmany`` would); ``Dataset.map(..., num_parallel_calls=tf.data.AUTOTUNE)``
augments them on tf.data's threads. Randomness comes from *stateless* random
ops whose seed is derived from a base seed and the element's index, so every run
gives the same augmented data however the parallel calls are scheduled.

Run ``python parallel_map.py`` for a short demonstration. Needs only the
standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import os

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

HEIGHT, WIDTH = 4, 4  # small grey-scale "images"
# --8<-- [end:setup]


# --8<-- [start:source]
def _image(i):
    pixels = (64 + i + np.arange(HEIGHT * WIDTH)) % 256
    return pixels.astype(np.uint8).reshape(HEIGHT, WIDTH)


def _check_positive(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def raw_images(num_images=8):
    """Source of single records: pixel ``(r, c)`` of image ``i`` is ``64 + i + 4r + c``."""
    _check_positive("num_images", num_images)

    def generate():
        for i in range(num_images):
            yield _image(i)

    spec = tf.TensorSpec(shape=(HEIGHT, WIDTH), dtype=tf.uint8)
    return tf.data.Dataset.from_generator(generate, output_signature=spec)


def raw_batches(num_images=8, batch_size=4):
    """Source of whole batches, as ``cursor.fetchmany(batch_size)`` would give.

    The last batch is shorter when ``batch_size`` does not divide ``num_images``,
    so the batch dimension is ``None`` in the signature.
    """
    _check_positive("num_images", num_images)
    _check_positive("batch_size", batch_size)

    def generate():
        for start in range(0, num_images, batch_size):
            stop = min(start + batch_size, num_images)
            yield np.stack([_image(i) for i in range(start, stop)])

    spec = tf.TensorSpec(shape=(None, HEIGHT, WIDTH), dtype=tf.uint8)
    return tf.data.Dataset.from_generator(generate, output_signature=spec)
# --8<-- [end:source]


# --8<-- [start:augment]
def augment_batch(index, images, base_seed):
    """Augment a batch of images; the result depends only on the inputs.

    ``index`` numbers the batch (from ``Dataset.enumerate``); the pair
    ``(base_seed, index)`` seeds every random draw, so the same batch gets the
    same flips and brightness shifts in every run, on any thread.
    """
    seed = tf.stack([tf.cast(base_seed, tf.int64), tf.cast(index, tf.int64)])
    n = tf.shape(images)[0]
    x = tf.cast(images, tf.float32) / 255.0
    flip = tf.random.stateless_uniform([n], seed=seed) < 0.5
    x = tf.where(flip[:, None, None], tf.reverse(x, axis=[2]), x)
    shift_seed = tf.random.experimental.stateless_fold_in(seed, 1)
    shift = tf.random.stateless_uniform([n, 1, 1], seed=shift_seed, minval=-0.1, maxval=0.1)
    return tf.clip_by_value(x + shift, 0.0, 1.0)
# --8<-- [end:augment]


# --8<-- [start:pipelines]
def augmented_batches(source, base_seed=42, deterministic=True):
    """Augment a dataset of batches in parallel: one ``map`` call per batch."""
    return (
        source.enumerate()
        .map(
            lambda index, images: augment_batch(index, images, base_seed),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=deterministic,
        )
        .prefetch(tf.data.AUTOTUNE)
    )


def vectorized(images, batch_size=4, base_seed=42):
    """Vectorized map: batch single records first, then map once per batch.

    One call on a batch of 32 does the work of 32 calls on single records, with
    1/32 of the per-call overhead, and TensorFlow's ops work on the whole batch.
    """
    _check_positive("batch_size", batch_size)
    return augmented_batches(images.batch(batch_size), base_seed=base_seed)
# --8<-- [end:pipelines]


def main():
    batches = augmented_batches(raw_batches(num_images=8, batch_size=4))
    for batch in batches.as_numpy_iterator():
        corner = [round(float(v) * 255) for v in batch[:, 0, 0]]
        print(batch.shape, batch.dtype, "top-left pixels x 255:", corner)
    first = [b.tolist() for b in augmented_batches(raw_batches()).as_numpy_iterator()]
    again = [b.tolist() for b in augmented_batches(raw_batches()).as_numpy_iterator()]
    print("same result in a second run:", first == again)


if __name__ == "__main__":
    main()
