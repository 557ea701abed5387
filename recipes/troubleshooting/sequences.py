"""Troubleshooting, sequences and time series from a generator's output: reproductions and their fixes.

``Dataset.window`` and what its elements are (datasets, or dicts of datasets),
windows handed to Keras, windows of different lengths in one batch,
``timeseries_dataset_from_array`` on a generator and how it lines targets up.
Each private ``_*_broken`` function triggers one message exactly as
TensorFlow 2.21 raises it, or shows a silent problem; the public function next
to it does the same job the right way. Run ``python sequences.py`` to see every
message and every fix. Needs only the standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import os
import re

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

keras = tf.keras  # Keras 3, as TensorFlow 2.21 ships it


def readings(n=8):
    """A generator dataset of ``n`` readings of one sensor: 0.0, 1.0, ..., n - 1."""
    return tf.data.Dataset.from_generator(
        lambda: (np.float32(i) for i in range(n)), output_signature=tf.TensorSpec((), tf.float32))


def rows(n=8):
    """A generator dataset of ``n`` dict rows: a ``temperature`` and a ``label`` per step."""
    spec = {"temperature": tf.TensorSpec((), tf.float32), "label": tf.TensorSpec((), tf.int64)}
    return tf.data.Dataset.from_generator(
        lambda: ({"temperature": np.float32(i), "label": np.int64(i % 2)} for i in range(n)),
        output_signature=spec)


def values(dataset):
    """Every element of ``dataset`` as nested Python lists."""
    return [np.asarray(x).tolist() for x in dataset.as_numpy_iterator()]
# --8<-- [end:setup]


# --8<-- [start:subscript_broken]
def _slicing_a_window_broken():
    """Splits each window into inputs and target as if it were a tensor."""
    windows = readings().window(4, shift=1, drop_remainder=True)
    return windows.map(lambda window: (window[:-1], window[-1]))
# --8<-- [end:subscript_broken]


# --8<-- [start:subscript_fixed]
def window_batched_then_sliced_fixed():
    """``flat_map`` + ``batch`` turn each window into one tensor; then slice it."""
    windows = readings().window(4, shift=1, drop_remainder=True)
    tensors = windows.flat_map(lambda window: window.batch(4, drop_remainder=True))
    pairs = tensors.map(lambda w: (w[:-1], w[-1]))
    return [(x.tolist(), float(y)) for x, y in pairs.take(2).as_numpy_iterator()]
# --8<-- [end:subscript_fixed]


# --8<-- [start:dict_broken]
def _batching_a_window_of_dicts_broken():
    """A window over dict elements is a dict of datasets, which has no ``batch``."""
    windows = rows().window(3, shift=1, drop_remainder=True)
    return windows.flat_map(lambda window: window.batch(3))
# --8<-- [end:dict_broken]


# --8<-- [start:dict_fixed]
def window_of_dicts_zipped_fixed():
    """Batch every key's dataset, then ``zip`` the dict back into one dataset."""
    windows = rows().window(3, shift=1, drop_remainder=True)
    tensors = windows.flat_map(
        lambda window: tf.data.Dataset.zip({key: part.batch(3) for key, part in window.items()}))
    first = next(tensors.as_numpy_iterator())
    return {key: value.tolist() for key, value in first.items()}
# --8<-- [end:dict_fixed]


# --8<-- [start:fit_broken]
def _fitting_on_windows_broken():
    """Hands Keras windows that are still datasets (window, map to pairs, batch)."""
    windows = readings().window(4, shift=1, drop_remainder=True)
    pairs = windows.map(lambda window: (window.take(3), window.skip(3)))
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(pairs.batch(2), epochs=1, shuffle=False, verbose=0)
# --8<-- [end:fit_broken]


# --8<-- [start:fit_fixed]
def fitting_on_window_tensors_fixed():
    """Windows as tensors first, then pairs, then batches: Keras gets (batch, 3) and (batch,)."""
    windows = readings().window(4, shift=1, drop_remainder=True)
    tensors = windows.flat_map(lambda window: window.batch(4, drop_remainder=True))
    pairs = tensors.map(lambda w: (w[:-1], w[-1])).batch(2)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(pairs.apply(tf.data.experimental.assert_cardinality(3)), epochs=1, shuffle=False, verbose=0)
    return pairs.element_spec[0].shape.as_list(), len(history.history["loss"])
# --8<-- [end:fit_fixed]


# --8<-- [start:short_windows_broken]
def _batching_short_last_windows_broken():
    """``window`` without ``drop_remainder``: the last windows are shorter, and ``batch`` refuses them."""
    windows = readings().window(4, shift=1)
    tensors = windows.flat_map(lambda window: window.batch(4))
    return values(tensors.batch(8))
# --8<-- [end:short_windows_broken]


# --8<-- [start:short_windows_fixed]
def full_windows_only_fixed():
    """``drop_remainder=True`` in ``window`` keeps only full windows: all of shape (4,)."""
    windows = readings().window(4, shift=1, drop_remainder=True)
    tensors = windows.flat_map(lambda window: window.batch(4, drop_remainder=True))
    return tensors.element_spec.shape.as_list(), [len(b) for b in values(tensors.batch(8))]
# --8<-- [end:short_windows_fixed]


# --8<-- [start:length_broken]
def _timeseries_from_a_generator_broken():
    """``timeseries_dataset_from_array`` indexes its data; a generator's dataset has no length."""
    return keras.utils.timeseries_dataset_from_array(readings(), None, sequence_length=3)
# --8<-- [end:length_broken]


# --8<-- [start:length_fixed]
def windows_from_the_stream_fixed():
    """The same windows as the Keras utility, built from the stream with ``window``."""
    stream = readings().window(3, shift=1, drop_remainder=True)
    streamed = values(stream.flat_map(lambda window: window.batch(3, drop_remainder=True)))
    in_memory = np.arange(8, dtype=np.float32)
    keras_windows = keras.utils.timeseries_dataset_from_array(in_memory, None, sequence_length=3, batch_size=8)
    return streamed == values(keras_windows.unbatch()), len(streamed)
# --8<-- [end:length_fixed]


# --8<-- [start:targets_broken]
def _targets_passed_unshifted_broken():
    """``targets=data`` gives each window the reading at its *first* step as its target."""
    data = np.arange(8, dtype=np.float32)
    pairs = keras.utils.timeseries_dataset_from_array(data, data, sequence_length=3, batch_size=8)
    x, y = next(pairs.as_numpy_iterator())
    return x[0].tolist(), float(y[0])
# --8<-- [end:targets_broken]


# --8<-- [start:targets_fixed]
def targets_shifted_by_the_window_length_fixed():
    """Next-reading targets: the data without its last step (it has no next one), the targets from step 3 on."""
    data = np.arange(8, dtype=np.float32)
    pairs = keras.utils.timeseries_dataset_from_array(data[:-1], data[3:], sequence_length=3, batch_size=8)
    x, y = next(pairs.as_numpy_iterator())
    return x[0].tolist(), float(y[0]), len(y)
# --8<-- [end:targets_fixed]


def last_line(error):
    """``Type: message`` with the message cut to what a user searches for.

    Errors raised while tracing a ``map`` function come inside an ``in user
    code:`` traceback; TensorFlow op errors end with ``[Op:IteratorGetNext]``
    and the name of the op.
    """
    text = str(error).strip()
    if "in user code:" in text:
        return text.splitlines()[-1].strip()  # already ``Type: message``
    text = re.sub(r"^\{\{function_node [^}]*\}\} ", "", text)
    text = re.sub(r" \[Op:IteratorGetNext\] name: ?$", "", text)
    return f"{type(error).__name__}: {text}"


def _report(broken):
    try:
        broken()
    except Exception as error:  # noqa: BLE001 - the demo prints whatever it raises
        print(f"{broken.__name__.lstrip('_')}: {type(error).__name__}")
        print("   ", re.sub(r" at 0x[0-9a-f]+>", " at 0x...>", last_line(error)))


def main():
    for broken in (_slicing_a_window_broken, _batching_a_window_of_dicts_broken, _fitting_on_windows_broken,
                   _batching_short_last_windows_broken, _timeseries_from_a_generator_broken):
        _report(broken)
    print("window_batched_then_sliced_fixed:", window_batched_then_sliced_fixed())
    print("window_of_dicts_zipped_fixed:", window_of_dicts_zipped_fixed())
    print("fitting_on_window_tensors_fixed:", fitting_on_window_tensors_fixed())
    print("full_windows_only_fixed:", full_windows_only_fixed())
    print("windows_from_the_stream_fixed:", windows_from_the_stream_fixed())
    print("targets_passed_unshifted_broken:", _targets_passed_unshifted_broken())
    print("targets_shifted_by_the_window_length_fixed:", targets_shifted_by_the_window_length_fixed())


if __name__ == "__main__":
    main()
