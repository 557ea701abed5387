"""Troubleshooting, shuffling and splitting a generator's output: reproductions and fixes.

Each private ``_*_broken`` function triggers one message exactly as TensorFlow
2.21 logs or raises it, or shows a silent problem; the public function next to
it does the same job the right way. Run ``python shuffling_splitting.py`` to see every message and every fix.
Needs only the standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import os
import re
import subprocess
import sys

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

ID = tf.TensorSpec((), tf.int64)


def ordered_ids(count):
    """A source in id order: rows of a table, lines of a log."""
    return tf.data.Dataset.from_generator(lambda: iter(range(count)), output_signature=ID)
# --8<-- [end:setup]


# --8<-- [start:filling_broken]
_SLOW_SOURCE = """
import time
import tensorflow as tf

def slow_records():  # a generator that needs 50 ms per record
    for i in range(240):
        time.sleep(0.05)
        yield i

dataset = tf.data.Dataset.from_generator(slow_records, output_signature=tf.TensorSpec((), tf.int64))
first = next(iter(dataset.shuffle(buffer_size=240)))  # waits for all 240 records
"""


def _slow_fill_broken():
    """A buffer as large as the data, on a slow generator: the log lines while it fills."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"}  # 0 shows INFO lines
    proc = subprocess.run([sys.executable, "-c", _SLOW_SOURCE], capture_output=True, text=True,
                          env=env, timeout=300, check=True)
    return [re.sub(r"^I\d{4} [\d:.]+\s+\d+ \S+:\d+\] ", "", line)
            for line in proc.stderr.splitlines() if "shuffle buffer" in line.lower()]
# --8<-- [end:filling_broken]


# --8<-- [start:filling_fixed]
def reads_before_first_element(buffer_size, count=240):
    """Records the generator must yield before the shuffled dataset gives its first."""
    read = []

    def counted():
        for i in range(count):
            read.append(i)
            yield i

    dataset = tf.data.Dataset.from_generator(counted, output_signature=ID)
    next(iter(dataset.shuffle(buffer_size, seed=1)))
    return len(read) >= buffer_size, len(read) <= buffer_size + 1
# --8<-- [end:filling_fixed]


# --8<-- [start:leak_broken]
def _ids(dataset):
    return {int(x) for x in dataset}


def _shuffle_then_take_skip_broken(count=100, validation=20):
    """Splits after a shuffle that reshuffles: each pass draws a new split."""
    shuffled = ordered_ids(count).shuffle(count, seed=1)  # reshuffle_each_iteration=True
    validation_ids = shuffled.take(validation)
    training_ids = shuffled.skip(validation)
    epoch_1, epoch_2 = _ids(training_ids), _ids(training_ids)
    return len(_ids(validation_ids) & epoch_1), len(_ids(validation_ids) & epoch_2), epoch_1 == epoch_2
# --8<-- [end:leak_broken]


# --8<-- [start:leak_fixed]
def _in_validation(row_id, percent):
    return tf.strings.to_hash_bucket_fast(tf.strings.as_string(row_id), 100) < percent


def split_by_hash_fixed(count=100, percent=20):
    """The side of each record depends on its id only; shuffle the training side after."""
    source = ordered_ids(count)
    validation_ids = source.filter(lambda i: _in_validation(i, percent))
    training_ids = source.filter(lambda i: tf.logical_not(_in_validation(i, percent))).shuffle(count, seed=1)
    epoch_1, epoch_2 = _ids(training_ids), _ids(training_ids)
    return len(_ids(validation_ids) & epoch_1), len(_ids(validation_ids) & epoch_2), epoch_1 == epoch_2
# --8<-- [end:leak_fixed]


# --8<-- [start:small_buffer_broken]
def _small_buffer_broken(count=1000, buffer_size=10):
    """A small buffer on an ordered source: the first batch holds only the first ids."""
    first_batch = next(iter(ordered_ids(count).shuffle(buffer_size, seed=1).batch(32)))
    return int(np.max(first_batch.numpy()))
# --8<-- [end:small_buffer_broken]


# --8<-- [start:small_buffer_fixed]
def shuffled_shards_fixed(count=1000, shards=50, buffer_size=10):
    """Shuffle the order of shards, interleave them, then a small buffer mixes the rest."""
    shard_size = count // shards

    def shard(first):
        return tf.data.Dataset.from_generator(
            lambda first: iter(range(int(first), int(first) + shard_size)), args=(first,), output_signature=ID)

    starts = tf.data.Dataset.range(0, count, shard_size).shuffle(shards, seed=1)
    mixed = starts.interleave(shard, cycle_length=8, block_length=1).shuffle(buffer_size, seed=1)
    first_batch = next(iter(mixed.batch(32)))
    return int(np.max(first_batch.numpy()))
# --8<-- [end:small_buffer_fixed]


# --8<-- [start:validation_split_broken]
def _tiny_model():
    model = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _pairs(first, count):
    for i in range(int(first), int(first) + int(count)):
        yield np.array([i, 1], np.float32), np.float32(i)


PAIR = (tf.TensorSpec((2,), tf.float32), tf.TensorSpec((), tf.float32))


def _validation_split_on_dataset_broken():
    """``validation_split`` with a dataset."""
    dataset = tf.data.Dataset.from_generator(_pairs, args=(0, 8), output_signature=PAIR).batch(4)
    _tiny_model().fit(dataset, validation_split=0.25, verbose=0)
# --8<-- [end:validation_split_broken]


# --8<-- [start:validation_split_fixed]
def two_generators_fixed():
    """Two pipelines over disjoint parts of the source, the second as validation_data."""
    def part(first, count):
        dataset = tf.data.Dataset.from_generator(_pairs, args=(first, count), output_signature=PAIR)
        return dataset.apply(tf.data.experimental.assert_cardinality(count)).batch(4)

    history = _tiny_model().fit(part(0, 6), validation_data=part(6, 2), shuffle=False, verbose=0)
    return sorted(history.history)
# --8<-- [end:validation_split_fixed]


def main():
    print("slow_fill_broken:", sorted({re.sub(r": \d+ of", ": <n> of", m) for m in _slow_fill_broken()}))
    print("reads_before_first_element(16):", reads_before_first_element(16))
    print("shuffle_then_take_skip_broken:", _shuffle_then_take_skip_broken())
    print("split_by_hash_fixed:", split_by_hash_fixed())
    print("small_buffer_broken: largest id in the first batch", _small_buffer_broken())
    print("shuffled_shards_fixed: largest id in the first batch", shuffled_shards_fixed())
    try:
        _validation_split_on_dataset_broken()
    except ValueError as error:
        print("validation_split_on_dataset_broken: ValueError")
        print("    ValueError:", str(error).split(" [<class")[0])
    print("two_generators_fixed:", two_generators_fixed())


if __name__ == "__main__":
    main()
