"""Shuffle and split a generator's output without leaks, and know what the buffer costs.

A generator yields records with a stable id. The split into training and
validation is decided by a hash of that id (``filter``), so it is the same in
every epoch and every run, whatever the order the pipeline delivers. Only the
training part is shuffled, with a buffer whose size sets both how far records
can move and how much memory and start-up reading it costs.

Run ``python shuffle_split.py`` for a short demonstration. Needs only the
standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import os
import zlib

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

RECORD = {"id": tf.TensorSpec((), tf.int64), "features": tf.TensorSpec((16,), tf.float32)}
# --8<-- [end:setup]


# --8<-- [start:source]
def records(count):
    """``count`` records in id order, as a database cursor or a log file would give them."""
    for row_id in range(int(count)):
        yield {"id": np.int64(row_id), "features": np.full(16, row_id, np.float32)}


def source(count):
    """The generator as a dataset."""
    return tf.data.Dataset.from_generator(records, args=(count,), output_signature=RECORD)
# --8<-- [end:source]


# --8<-- [start:split]
def in_validation(record, percent):
    """True for about ``percent`` % of ids, always the same ones (a hash of the id)."""
    bucket = tf.strings.to_hash_bucket_fast(tf.strings.as_string(record["id"]), 100)
    return bucket < percent


def split_by_id(dataset, validation_percent=20):
    """Two datasets over the same source, disjoint and stable across epochs and runs."""
    train = dataset.filter(lambda r: tf.logical_not(in_validation(r, validation_percent)))
    validation = dataset.filter(lambda r: in_validation(r, validation_percent))
    return train, validation
# --8<-- [end:split]


# --8<-- [start:at_source]
def records_on_side(count, validation, percent):
    """Only the records of one side: the side is decided from the id, before the record is built.

    The hash is CRC-32 of the id, stable across runs like the fingerprint of
    ``in_validation`` but a different function: the two designs put different
    ids on each side, so pick one and keep it.
    """
    for row_id in range(int(count)):
        if (zlib.crc32(b"%d" % row_id) % 100 < percent) == bool(validation):
            yield {"id": np.int64(row_id), "features": np.full(16, row_id, np.float32)}


def split_at_source(count, validation_percent=20, generator=records_on_side):
    """Two datasets whose generators each build only their own side: one read of the source in all."""
    def side(validation):
        return tf.data.Dataset.from_generator(
            generator, args=(count, validation, validation_percent), output_signature=RECORD)
    return side(False), side(True)
# --8<-- [end:at_source]


def generator_yields(count, at_source, validation_percent=20):
    """(records the generators yield, records the two sides deliver) for one pass over both sides."""
    yielded = []

    def counting(generator):
        def wrapped(*args):
            for record in generator(*args):
                yielded.append(1)
                yield record
        return wrapped

    if at_source:
        train, validation = split_at_source(count, validation_percent, generator=counting(records_on_side))
    else:
        counted = tf.data.Dataset.from_generator(counting(records), args=(count,), output_signature=RECORD)
        train, validation = split_by_id(counted, validation_percent)
    delivered = len(ids(train)) + len(ids(validation))
    return len(yielded), delivered


# --8<-- [start:shuffle]
def shuffled_training(train, buffer_size, seed=None):
    """Shuffle the training part only, a new order every epoch."""
    return train.shuffle(buffer_size, seed=seed, reshuffle_each_iteration=True)


def buffer_bytes(dataset, buffer_size):
    """Memory the shuffle buffer holds once full: ``buffer_size`` elements of this spec."""
    per_element = sum(
        spec.shape.num_elements() * spec.dtype.size for spec in tf.nest.flatten(dataset.element_spec))
    return buffer_size * per_element


def reads_before_first_element(count, buffer_size):
    """How many records the generator yields before the shuffled dataset gives its first.

    At least ``buffer_size`` (the buffer is filled first); the generator may be
    one record further on by the time this is read.
    """
    read = []

    def counted():
        for record in records(count):
            read.append(1)
            yield record

    dataset = tf.data.Dataset.from_generator(counted, output_signature=RECORD).shuffle(buffer_size, seed=1)
    next(iter(dataset))
    return len(read)


def earliest_moves(count, buffer_size, seed=1):
    """For each record, (its position out of the shuffle) - (its position in): the minimum."""
    out = [int(r["id"]) for r in source(count).shuffle(buffer_size, seed=seed)]
    return min(position - row_id for position, row_id in enumerate(out))
# --8<-- [end:shuffle]


def ids(dataset):
    """The ids a dataset delivers, in order."""
    return [int(r["id"]) for r in dataset]


def main():
    train, validation = split_by_id(source(100), validation_percent=20)
    shuffled = shuffled_training(train, 32, seed=1)
    first, second = ids(shuffled), ids(shuffled)  # two epochs
    val_ids = ids(validation)
    print("train/validation sizes:", len(first), len(val_ids))
    print("overlap:", len(set(first) & set(val_ids)), "| same validation every pass:", ids(validation) == val_ids)
    print("epochs differ in order, not in content:", first != second, sorted(first) == sorted(second))
    two_filters, at_source = generator_yields(100, at_source=False)[0], generator_yields(100, at_source=True)[0]
    print("generator yields for 100 records, both sides once:",
          f"two filters {two_filters}, split at the source {at_source}")
    for buffer_size in (1, 32, 100):
        read = reads_before_first_element(100, buffer_size)
        print(f"buffer {buffer_size:>3}: reads at least the buffer first {read >= buffer_size},",
              f"earliest move {earliest_moves(100, buffer_size):>4},",
              f"holds {buffer_bytes(source(100), buffer_size)} bytes")


if __name__ == "__main__":
    main()
