"""Datasets mixed and balanced: sample, choose, zip, concatenate, and balance classes.

Several generators feed one model: one per class, one per source, features
and labels from two places. This module mixes them with
``tf.data.Dataset.sample_from_datasets`` (random, by weight) and
``choose_from_datasets`` (in an order you give), and balances the classes of
a generator's output: oversampling the minority (it repeats, from a cache),
undersampling the majority (each record at most once), or
``rejection_resample`` on one mixed stream. Each way has its own rule for when
the mixed dataset ends; those rules are what this module's tests pin down.

Run ``python mixing.py`` for a short demonstration. Needs only the standard
library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import os

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

EXAMPLE = (tf.TensorSpec((), tf.int64), tf.TensorSpec((), tf.int64))  # (record id, label)
# --8<-- [end:setup]


# --8<-- [start:source]
def class_examples(label, count):
    """One class, as a folder or a table per class gives it: ids ``1000 * label + i``."""
    for i in range(int(count)):
        yield np.int64(1000 * int(label) + i), np.int64(label)


def class_source(label, count):
    """The examples of one class as a dataset."""
    return tf.data.Dataset.from_generator(class_examples, args=(label, count), output_signature=EXAMPLE)


def mixed_examples(count, positive_every):
    """One stream of both classes: every ``positive_every``-th record has label 1."""
    for i in range(int(count)):
        yield np.int64(i), np.int64(1 if i % int(positive_every) == 0 else 0)


def mixed_source(count, positive_every=10):
    """The mixed stream as a dataset."""
    return tf.data.Dataset.from_generator(
        mixed_examples, args=(count, positive_every), output_signature=EXAMPLE)
# --8<-- [end:source]


# --8<-- [start:mix]
def oversampled(majority, minority, seed=None):
    """Half and half: the minority repeats (from a cache); the epoch ends when the majority runs out.

    Every majority record comes once. ``stop_on_empty_dataset=True`` is what
    ends it: without it the repeated minority would go on for ever.
    """
    return tf.data.Dataset.sample_from_datasets(
        [majority, minority.cache().repeat()], weights=[0.5, 0.5], seed=seed, stop_on_empty_dataset=True)


def undersampled(majority, minority, seed=None):
    """Half and half until the sampler picks the emptied minority: each record at most once."""
    return tf.data.Dataset.sample_from_datasets(
        [majority, minority], weights=[0.5, 0.5], seed=seed, stop_on_empty_dataset=True)


def alternating(datasets):
    """One element of each dataset in turn; ends when it comes to one that is empty."""
    order = tf.data.Dataset.range(len(datasets)).repeat()
    return tf.data.Dataset.choose_from_datasets(datasets, order)


def by_class(stream, num_classes):
    """One dataset per class of a mixed ``(id, label)`` stream: each reads the whole stream."""
    return [stream.filter(lambda _, label, c=c: label == c) for c in range(num_classes)]


def resampled(stream, target, initial=None, seed=None):
    """``rejection_resample`` of an ``(id, label)`` stream towards ``target`` class shares."""
    return stream.rejection_resample(
        lambda _, label: tf.cast(label, tf.int32), target_dist=target, initial_dist=initial, seed=seed,
    ).map(lambda _, example: example)
# --8<-- [end:mix]


def label_counts(dataset):
    """``{label: count}`` of an ``(id, label)`` dataset, read once."""
    counts = {}
    for _, label in dataset.as_numpy_iterator():
        counts[int(label)] = counts.get(int(label), 0) + 1
    return dict(sorted(counts.items()))


def main():
    tf.get_logger().setLevel("ERROR")
    big, small = tf.data.Dataset.range(10), tf.data.Dataset.range(100, 103)
    for stop in (False, True):
        out = tf.data.Dataset.sample_from_datasets([big, small], seed=1, stop_on_empty_dataset=stop)
        print(f"sample_from_datasets, stop_on_empty_dataset={stop}:", [int(x) for x in out])
    print("choose_from_datasets in turn:", [int(x) for x in alternating([big, small])])
    print("zip stops at the shorter:", [(int(x), int(y)) for x, y in tf.data.Dataset.zip(big, small)])
    majority, minority = class_source(0, 90), class_source(1, 10)
    print("source:", label_counts(majority.concatenate(minority)))
    print("oversampled:", label_counts(oversampled(majority, minority, seed=1)))
    print("undersampled:", label_counts(undersampled(majority, minority, seed=1)))
    balanced = resampled(mixed_source(1000), [0.5, 0.5], seed=2)
    ids = [int(i) for i, _ in balanced.as_numpy_iterator()]
    print("rejection_resample of a 1-in-10 stream:", label_counts(balanced),
          f"| {len(ids)} records, {len(set(ids))} distinct")


if __name__ == "__main__":
    main()
