"""Save and resume the input position with ``tf.train.Checkpoint``.

A long training job that restarts should continue with the element after the
last one it used, not from the beginning of the epoch. TensorFlow can save an
iterator's position in a checkpoint, but only if every stage's state lives in
TensorFlow:

* a ``from_generator`` iterator cannot be saved: its position is inside a
  Python generator object, which TensorFlow cannot serialize
  (``FailedPreconditionError: PyFunc is stateful.``);
* a source whose position is a TensorFlow counter can: ``Dataset.range`` over
  record numbers, and a *stateless* ``tf.numpy_function`` that reads record
  ``i`` by its number. Shuffling with a seed, ``map``, ``batch`` and
  ``prefetch`` all checkpoint their state too.

Run ``python checkpoint_resume.py`` to save in the middle of an epoch and resume
in a "new process". Needs only the standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import os
import tempfile

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

# --8<-- [end:setup]


# --8<-- [start:generator]
def generator_pipeline(num_records=20, batch_size=4):
    """The usual generator pipeline: its position cannot be checkpointed."""
    def records():
        for i in range(num_records):
            yield read_record(i)

    spec = tf.TensorSpec(shape=(2,), dtype=tf.int64)
    return tf.data.Dataset.from_generator(records, output_signature=spec).batch(batch_size)
# --8<-- [end:generator]


# --8<-- [start:resumable]
def read_record(i):
    """Random access by record number: a row by key, a file at an offset.

    Must depend on ``i`` only (no hidden cursor), so that reading record ``i``
    again after a restart gives the same record.
    """
    i = int(i)
    return np.array([i, i * i], dtype=np.int64)


def resumable_pipeline(num_records=20, batch_size=4, seed=7):
    """Every stage keeps its position in TensorFlow state, so it checkpoints."""
    for name, value in [("num_records", num_records), ("batch_size", batch_size)]:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")

    def load(i):
        # stateful=False: the call depends only on its input, which is what
        # allows TensorFlow to save and restore the iterator around it.
        record = tf.numpy_function(read_record, [i], tf.int64, stateful=False)
        return tf.ensure_shape(record, (2,))

    return (
        tf.data.Dataset.range(num_records)
        .shuffle(num_records, seed=seed, reshuffle_each_iteration=True)
        .map(load, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size)
        .prefetch(2)
    )
# --8<-- [end:resumable]


# --8<-- [start:save_restore]
def save_position(iterator, directory):
    """Write the iterator's position; returns the checkpoint path."""
    if not os.path.isdir(directory):
        raise ValueError(f"directory must be an existing folder, got {directory!r}")
    return tf.train.Checkpoint(iterator=iterator).save(os.path.join(directory, "input"))


def restore_position(dataset, path):
    """A new iterator over ``dataset``, moved to the saved position."""
    iterator = iter(dataset)
    tf.train.Checkpoint(iterator=iterator).restore(path).assert_consumed()
    return iterator


# --8<-- [end:save_restore]


def first_ids(batches):
    """The record ids of each batch (the first column), as lists of ints."""
    return [[int(r[0]) for r in b] for b in batches]


def main():
    dataset = resumable_pipeline(num_records=20, batch_size=4)
    with tempfile.TemporaryDirectory(prefix="genpipe-ckpt-") as folder:
        iterator = iter(dataset)
        seen = first_ids([next(iterator), next(iterator)])
        path = save_position(iterator, folder)
        rest = first_ids(list(iterator))  # what the job would have seen next
        print("before the save:", seen)
        print("after the save: ", rest)
        resumed = first_ids(list(restore_position(dataset, path)))
        print("after restoring:", resumed)
        print("resumed exactly where it stopped:", resumed == rest)
    try:
        iterator = iter(generator_pipeline())
        next(iterator)
        with tempfile.TemporaryDirectory(prefix="genpipe-ckpt-") as folder:
            save_position(iterator, folder)
    except tf.errors.FailedPreconditionError as error:
        print("from_generator:", type(error).__name__, "-",
              error.message.split("}} ")[-1].split(" [Op:")[0])


if __name__ == "__main__":
    main()
