"""Sequences and windows from a generator: ``window``, sliding windows, and regrouping.

A generator yields one reading (or one ``(x, y)`` pair) at a time, and the
model wants fixed-length windows of consecutive readings. ``Dataset.window``
groups elements, but each window it gives is a small *dataset*, not a tensor:
``flat_map`` with ``batch`` turns it into one. This module builds sliding
windows that way, over single values, ``(x, y)`` pairs and dicts; next-step
pairs for forecasting; windows that stay inside one series; the same windows
as ``tf.keras.utils.timeseries_dataset_from_array`` (which needs the whole
array in memory); and it regroups a generator that already yields batches.

Run ``python windows.py`` for a short demonstration. Needs only the standard
library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import os

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

# --8<-- [end:setup]


# --8<-- [start:source]
def readings(count):
    """The stream: reading ``i`` is ``float(i)``, one per ``next()``."""
    for i in range(int(count)):
        yield np.float32(i)


def series(count):
    """The readings as a dataset of scalars."""
    return tf.data.Dataset.from_generator(
        readings, args=(count,), output_signature=tf.TensorSpec((), tf.float32))


def labelled(count):
    """A dataset of ``(x, y)`` pairs: reading ``i`` with label ``10 * i``."""
    def pairs(count):
        for i in range(int(count)):
            yield np.float32(i), np.int32(10 * i)

    return tf.data.Dataset.from_generator(
        pairs, args=(count,),
        output_signature=(tf.TensorSpec((), tf.float32), tf.TensorSpec((), tf.int32)))
# --8<-- [end:source]


# --8<-- [start:windows]
def sliding_windows(dataset, size, shift=1):
    """Windows of ``size`` consecutive elements, a new one every ``shift`` elements.

    ``window`` gives, per window, one small dataset per component of the
    element; ``batch(size)`` turns each into a tensor of ``size`` values and
    ``zip`` puts the components back together ((x, y) pairs and dicts keep
    their structure). Short windows at the end are dropped, so every window has
    the static shape ``(size, ...)``.
    """
    def to_tensors(*window):
        parts = window[0] if len(window) == 1 else window
        batched = tf.nest.map_structure(lambda part: part.batch(size, drop_remainder=True), parts)
        return tf.data.Dataset.zip(batched)

    return dataset.window(size, shift=shift, drop_remainder=True).flat_map(to_tensors)


def next_step_pairs(dataset, size):
    """``(the last size readings, the reading after them)``: inputs and target for forecasting."""
    return sliding_windows(dataset, size + 1).map(lambda w: (w[:size], w[size]))


def labelled_by_last(pairs, size):
    """Windows of ``x`` over ``(x, y)`` pairs, each labelled with the ``y`` of its last step."""
    return sliding_windows(pairs, size).map(lambda x, y: (x, y[-1]))


def windows_within(sequences, size):
    """Sliding windows inside each sequence a generator yields; no window spans two sequences."""
    return sequences.flat_map(
        lambda sequence: sliding_windows(tf.data.Dataset.from_tensor_slices(sequence), size))
# --8<-- [end:windows]


# --8<-- [start:keras]
def keras_windows(array, size, batch_size):
    """The same sliding windows from an in-memory array, batched, with Keras' utility."""
    return tf.keras.utils.timeseries_dataset_from_array(
        array, None, sequence_length=size, sequence_stride=1, batch_size=batch_size, shuffle=False)
# --8<-- [end:keras]


# --8<-- [start:prebatched]
def chunks(count, chunk):
    """A generator that already yields batches: readings in arrays of ``chunk`` (the last shorter)."""
    for start in range(0, int(count), int(chunk)):
        yield np.arange(start, min(start + int(chunk), int(count)), dtype=np.float32)


def chunked(count, chunk):
    """The chunks as a dataset; the signature's first dimension is ``None``."""
    return tf.data.Dataset.from_generator(
        chunks, args=(count, chunk), output_signature=tf.TensorSpec((None,), tf.float32))


def rebatched(dataset, batch_size, shuffle_buffer=None, seed=None):
    """Split the generator's batches into elements, optionally shuffle them, and batch again."""
    elements = dataset.unbatch()
    if shuffle_buffer:
        elements = elements.shuffle(shuffle_buffer, seed=seed)
    return elements.batch(batch_size)
# --8<-- [end:prebatched]


def main():
    window = series(7).window(3, shift=2)
    print("window(3, shift=2) gives", type(next(iter(window))).__name__, "elements:",
          [[int(v) for v in w.as_numpy_iterator()] for w in window])
    windows = sliding_windows(series(6), 3)
    print("sliding windows:", [w.astype(int).tolist() for w in windows.as_numpy_iterator()],
          "shape", windows.element_spec.shape)
    print("next-step pairs:", [(x.astype(int).tolist(), int(y)) for x, y in
                               next_step_pairs(series(5), 3).as_numpy_iterator()])
    print("(x, y) windows:", [(x.astype(int).tolist(), int(y)) for x, y in
                              labelled_by_last(labelled(5), 3).as_numpy_iterator()])
    ours = np.stack(list(sliding_windows(series(50), 10).as_numpy_iterator()))
    theirs = np.concatenate(list(keras_windows(np.arange(50, dtype=np.float32), 10, 16).as_numpy_iterator()))
    print("same windows as timeseries_dataset_from_array:", ours.shape, np.array_equal(ours, theirs))
    print("generator batches", [len(c) for c in chunked(10, 4).as_numpy_iterator()], "rebatched to 3:",
          [len(b) for b in rebatched(chunked(10, 4), 3).as_numpy_iterator()])


if __name__ == "__main__":
    main()
