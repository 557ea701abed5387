"""Is my training input-bound? Time the pipeline alone against the training step alone.

Three measurements over the same number of batches: the input pipeline alone
(iterate it, do nothing with the batches), the training step alone (on one
batch kept in memory), and both together. If the pipeline alone needs more
time per batch than the step alone, the accelerator waits for data: training is
input-bound, and a faster model or a bigger accelerator will not help; a faster
pipeline will. The verdict is what this module prints; the timings are
returned for you to look at.

Run ``python input_bound.py`` for a short demonstration. Needs only the
standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import os
import time

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

BATCH = (tf.TensorSpec((None, 2), tf.float32), tf.TensorSpec((None,), tf.float32))
# --8<-- [end:setup]


# --8<-- [start:measure]
def seconds_per_batch(run_one, batches):
    """Call ``run_one()`` ``batches`` times after one warm-up call; mean seconds per call."""
    run_one()  # warm-up: tracing, thread pools, the first buffer fills
    start = time.perf_counter()
    for _ in range(batches):
        run_one()
    return (time.perf_counter() - start) / batches


def pipeline_alone(dataset, batches):
    """Seconds per batch to produce batches, with nothing consuming them."""
    iterator = iter(dataset.repeat())
    return seconds_per_batch(lambda: next(iterator), batches)


def step_alone(train_step, dataset, batches):
    """Seconds per training step on one batch held in memory (no input cost)."""
    x, y = next(iter(dataset))
    return seconds_per_batch(lambda: train_step(x, y), batches)


def together(train_step, dataset, batches):
    """Seconds per batch of the real thing: the pipeline feeding the step."""
    iterator = iter(dataset.repeat())

    def one():
        x, y = next(iterator)
        train_step(x, y)

    return seconds_per_batch(one, batches)


def diagnose(train_step, dataset, batches=10):
    """The three timings and the verdict."""
    timings = {
        "pipeline_alone": pipeline_alone(dataset, batches),
        "step_alone": step_alone(train_step, dataset, batches),
        "together": together(train_step, dataset, batches),
    }
    timings["verdict"] = "input-bound" if timings["pipeline_alone"] > timings["step_alone"] else "not input-bound"
    return timings
# --8<-- [end:measure]


# --8<-- [start:demo]
def keras_step():
    """A tiny model's ``train_on_batch``: a fast training step."""
    model = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model.train_on_batch


def slow_source(seconds_per_batch=0.2):
    """A generator that needs ``seconds_per_batch`` for each batch (a slow reader)."""
    def batches():
        i = 0
        while True:
            time.sleep(seconds_per_batch)
            yield np.full((8, 2), i, np.float32), np.full(8, i, np.float32)
            i += 1

    return tf.data.Dataset.from_generator(batches, output_signature=BATCH)


def fast_source():
    """Batches already in memory."""
    x = np.zeros((64, 2), np.float32)
    return tf.data.Dataset.from_tensor_slices((x, x[:, 0])).batch(8)


def slow_step(seconds=0.2):
    """A training step that needs ``seconds`` (a large model)."""
    fast = keras_step()

    def step(x, y):
        time.sleep(seconds)
        return fast(x, y)

    return step
# --8<-- [end:demo]


def main():
    print("slow generator, tiny model:", diagnose(keras_step(), slow_source())["verdict"])
    print("batches in memory, slow step:", diagnose(slow_step(), fast_source())["verdict"])
    prefetched = slow_source().prefetch(tf.data.AUTOTUNE)
    print("slow generator with prefetch, tiny model:", diagnose(keras_step(), prefetched)["verdict"])


if __name__ == "__main__":
    main()
