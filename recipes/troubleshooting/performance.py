"""Troubleshooting, performance: is the input the bottleneck, and what slows a custom loop.

Each private ``_*_broken`` function shows one message as TensorFlow 2.21 logs
it, or one symptom; the public function next to it does the same job the
right way. Run ``python performance.py`` to see every message
and every fix. Needs only the standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import logging
import os
import re
import time
import types

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

SEQUENCE = tf.TensorSpec((None,), tf.float32)


def sequences(count=12):
    """Sequences of lengths 1, 2, 3, ...: every padded batch has another length."""
    for i in range(count):
        yield np.ones(i + 1, np.float32)


def batches():
    """Padded batches of two sequences: shapes (2, 2), (2, 4), (2, 6), ..."""
    return tf.data.Dataset.from_generator(sequences, output_signature=SEQUENCE).padded_batch(2)


class TensorFlowWarnings(logging.Handler):
    """Collects what TensorFlow's Python logger warns while it is installed."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())

    def __enter__(self):
        tf.get_logger().addHandler(self)
        return self

    def __exit__(self, *exc):
        tf.get_logger().removeHandler(self)
# --8<-- [end:setup]


# --8<-- [start:retracing_broken]
def _fresh_code(function):
    """A copy of ``function`` with its own code object.

    TensorFlow warns about retracing at most twice per function *code* in a
    process; the copy lets this demonstration warn every time it runs.
    """
    return types.FunctionType(function.__code__.replace(), function.__globals__, function.__name__,
                              function.__defaults__, function.__closure__)


def _train_step_per_shape_broken():
    """A tf.function step without an input signature, fed batches of changing shape."""
    total = tf.Variable(0.0)

    def train_step(batch):
        total.assign_add(tf.reduce_sum(batch))

    train_step = tf.function(_fresh_code(train_step))

    with TensorFlowWarnings() as caught:
        for batch in batches():
            train_step(batch)
    return train_step.experimental_get_tracing_count(), [m for m in caught.messages if "retracing" in m]
# --8<-- [end:retracing_broken]


# --8<-- [start:retracing_fixed]
def train_step_with_signature_fixed():
    """An input signature with ``None`` for the varying dimensions: one trace."""
    total = tf.Variable(0.0)

    @tf.function(input_signature=[tf.TensorSpec((None, None), tf.float32)])
    def train_step(batch):
        total.assign_add(tf.reduce_sum(batch))

    with TensorFlowWarnings() as caught:
        for batch in batches():
            train_step(batch)
    return train_step.experimental_get_tracing_count(), [m for m in caught.messages if "retracing" in m]
# --8<-- [end:retracing_fixed]


# --8<-- [start:input_bound_broken]
def _seconds_per_batch(run_one, count):
    run_one()  # warm-up
    start = time.perf_counter()
    for _ in range(count):
        run_one()
    return (time.perf_counter() - start) / count


def _slow_reader(seconds=0.2):
    def rows():
        while True:
            time.sleep(seconds)  # e.g. a query or a decode per batch
            yield np.zeros((8, 2), np.float32), np.zeros(8, np.float32)

    spec = (tf.TensorSpec((None, 2), tf.float32), tf.TensorSpec((None,), tf.float32))
    return tf.data.Dataset.from_generator(rows, output_signature=spec)


def model_step(seconds=0.05):
    """A training step of ``seconds``; the host only waits, as it does for an accelerator."""
    def step(x, y):
        time.sleep(seconds)  # stands for the model's forward and backward pass

    return step


def is_input_bound(train_step, dataset, count=5):
    """True when producing a batch takes longer than training on one."""
    iterator = iter(dataset.repeat())
    pipeline = _seconds_per_batch(lambda: next(iterator), count)
    x, y = next(iter(dataset))
    step = _seconds_per_batch(lambda: train_step(x, y), count)
    return pipeline > step
# --8<-- [end:input_bound_broken]


# --8<-- [start:input_bound_fixed]
@tf.autograph.experimental.do_not_convert
def _reader_of_shard(shard, seconds=0.2):
    def rows(shard):
        while True:
            time.sleep(seconds)
            yield np.full((8, 2), shard, np.float32), np.zeros(8, np.float32)

    spec = (tf.TensorSpec((None, 2), tf.float32), tf.TensorSpec((None,), tf.float32))
    return tf.data.Dataset.from_generator(rows, args=(shard,), output_signature=spec)


def parallel_readers_fixed(readers=32):
    """32 readers in parallel: their waits overlap (a waiting reader does not hold the GIL)."""
    dataset = tf.data.Dataset.range(readers).interleave(
        _reader_of_shard, cycle_length=readers, num_parallel_calls=readers, deterministic=False)
    options = tf.data.Options()
    options.threading.private_threadpool_size = readers  # default: one thread per core
    dataset = dataset.prefetch(tf.data.AUTOTUNE).with_options(options)
    return is_input_bound(model_step(), dataset, count=20)
# --8<-- [end:input_bound_fixed]


def main():
    traces, messages = _train_step_per_shape_broken()
    print("train_step_per_shape_broken: traces", traces)
    for message in messages:
        print("   ", re.sub(r" at 0x[0-9a-f]+", " at 0x...", message.split(". Tracing")[0]) + ".")
    print("train_step_with_signature_fixed:", train_step_with_signature_fixed())
    print("one slow reader, input-bound:", is_input_bound(model_step(), _slow_reader()))
    print("parallel_readers_fixed, input-bound:", parallel_readers_fixed())


if __name__ == "__main__":
    main()
