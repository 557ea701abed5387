"""Troubleshooting, Keras 3 with generator datasets: reproductions and their fixes.

``fit``, ``evaluate`` and ``predict`` on ``from_generator`` datasets, multi-input
models, ``PyDataset`` and the Keras 2 APIs that Keras 3 removed. Each private
``_*_broken`` function triggers one message exactly as TensorFlow 2.21 with
Keras 3 raises or warns it; the public function next to it does the same job
the right way. Run ``python keras_fit.py`` to see every message and
every fix. Needs only the standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import os
import re
import warnings

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

keras = tf.keras  # Keras 3, as TensorFlow 2.21 ships it

PAIR_SPEC = (tf.TensorSpec(shape=(2,), dtype=tf.float32), tf.TensorSpec(shape=(), dtype=tf.float32))


def pairs(n=8):
    """``n`` (features, label) pairs: features ``[i, 0]``, label ``i``."""
    for i in range(n):
        yield np.array([i, 0], dtype=np.float32), np.float32(i)


def tiny_model():
    """One Dense unit on two features, compiled for mean squared error."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def caught_warnings(call):
    """Run ``call()`` and return the text of every warning it issued."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [str(w.message) for w in caught]
# --8<-- [end:setup]


# --8<-- [start:ran_out_broken]
def _ran_out_of_data_broken():
    """Trains on a finite generator whose length Keras cannot know."""
    dataset = tf.data.Dataset.from_generator(pairs, output_signature=PAIR_SPEC).batch(4)
    model = tiny_model()
    messages = caught_warnings(lambda: model.fit(dataset, epochs=2, shuffle=False, verbose=0))
    return [m for m in messages if "ran out of data" in m]
# --8<-- [end:ran_out_broken]


# --8<-- [start:ran_out_fixed]
def ran_out_of_data_fixed():
    """Declares the length right after the generator."""
    dataset = tf.data.Dataset.from_generator(pairs, output_signature=PAIR_SPEC)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(8)).batch(4)
    model = tiny_model()
    messages = caught_warnings(lambda: model.fit(dataset, epochs=2, shuffle=False, verbose=0))
    return int(dataset.cardinality()), [m for m in messages if "ran out of data" in m]
# --8<-- [end:ran_out_fixed]


# --8<-- [start:shuffle_warning_broken]
def _fit_with_default_shuffle_broken():
    """``fit`` with its default ``shuffle=True`` on a dataset."""
    dataset = tf.data.Dataset.from_generator(pairs, output_signature=PAIR_SPEC).batch(4)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(2))
    model = tiny_model()
    return [m for m in caught_warnings(lambda: model.fit(dataset, epochs=1, verbose=0))
            if "shuffle" in m]
# --8<-- [end:shuffle_warning_broken]


# --8<-- [start:shuffle_warning_fixed]
def shuffle_in_the_pipeline_fixed():
    """Shuffle in the pipeline, and tell ``fit`` not to."""
    dataset = tf.data.Dataset.from_generator(pairs, output_signature=PAIR_SPEC)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(8))
    dataset = dataset.shuffle(8, seed=1).batch(4)
    model = tiny_model()
    return [m for m in caught_warnings(lambda: model.fit(dataset, epochs=1, shuffle=False, verbose=0))
            if "shuffle" in m]
# --8<-- [end:shuffle_warning_fixed]


# --8<-- [start:unbatched_broken]
def _unbatched_broken():
    """Gives ``fit`` single elements: the model sees shape (2,) instead of (batch, 2)."""
    dataset = tf.data.Dataset.from_generator(pairs, output_signature=PAIR_SPEC)
    tiny_model().fit(dataset, epochs=1, shuffle=False, verbose=0)
# --8<-- [end:unbatched_broken]


# --8<-- [start:unbatched_fixed]
def batched_fixed():
    """``batch`` adds the leading batch dimension Keras expects."""
    dataset = tf.data.Dataset.from_generator(pairs, output_signature=PAIR_SPEC).batch(4)
    history = tiny_model().fit(dataset, epochs=1, shuffle=False, verbose=0)
    return dataset.element_spec[0].shape.as_list(), len(history.history["loss"])
# --8<-- [end:unbatched_fixed]


# --8<-- [start:multi_input_broken]
def two_input_model():
    """A model with two named inputs, ``numbers`` (2 values) and ``extra`` (3 values)."""
    numbers = keras.Input((2,), name="numbers")
    extra = keras.Input((3,), name="extra")
    output = keras.layers.Dense(1)(keras.layers.Concatenate()([numbers, extra]))
    model = keras.Model([numbers, extra], output, name="two_inputs")
    model.compile(optimizer="sgd", loss="mse")
    return model


def _flat_triples():
    for i in range(4):
        yield np.full(2, i, np.float32), np.full(3, i, np.float32), np.float32(i)


def _flat_tuple_broken():
    """Yields (numbers, extra, label): Keras reads it as (x, y, sample_weight)."""
    spec = (tf.TensorSpec((2,), tf.float32), tf.TensorSpec((3,), tf.float32), tf.TensorSpec((), tf.float32))
    dataset = tf.data.Dataset.from_generator(_flat_triples, output_signature=spec).batch(2)
    two_input_model().fit(dataset, epochs=1, shuffle=False, verbose=0)
# --8<-- [end:multi_input_broken]


# --8<-- [start:multi_input_fixed]
def _nested_pairs():
    for i in range(4):
        yield (np.full(2, i, np.float32), np.full(3, i, np.float32)), np.float32(i)


def nested_inputs_fixed():
    """Yields ((numbers, extra), label): the inputs are one element of the pair."""
    spec = ((tf.TensorSpec((2,), tf.float32), tf.TensorSpec((3,), tf.float32)), tf.TensorSpec((), tf.float32))
    dataset = tf.data.Dataset.from_generator(_nested_pairs, output_signature=spec).batch(2)
    history = two_input_model().fit(dataset, epochs=1, shuffle=False, verbose=0)
    return len(history.history["loss"])
# --8<-- [end:multi_input_fixed]


# --8<-- [start:dict_broken]
def _dict_with_other_keys_broken():
    """Yields a dict whose keys are not the names of the model's inputs."""
    def records():
        for i in range(4):
            yield {"x1": np.full(2, i, np.float32), "x2": np.full(3, i, np.float32)}, np.float32(i)

    spec = ({"x1": tf.TensorSpec((2,), tf.float32), "x2": tf.TensorSpec((3,), tf.float32)},
            tf.TensorSpec((), tf.float32))
    dataset = tf.data.Dataset.from_generator(records, output_signature=spec).batch(2)
    two_input_model().fit(dataset, epochs=1, shuffle=False, verbose=0)
# --8<-- [end:dict_broken]


# --8<-- [start:dict_fixed]
def dict_keyed_by_input_names_fixed():
    """Keys equal to the ``name=`` of each ``keras.Input``."""
    def records():
        for i in range(4):
            yield {"numbers": np.full(2, i, np.float32), "extra": np.full(3, i, np.float32)}, np.float32(i)

    spec = ({"numbers": tf.TensorSpec((2,), tf.float32), "extra": tf.TensorSpec((3,), tf.float32)},
            tf.TensorSpec((), tf.float32))
    dataset = tf.data.Dataset.from_generator(records, output_signature=spec).batch(2)
    model = two_input_model()
    history = model.fit(dataset, epochs=1, shuffle=False, verbose=0)
    return [inp.name for inp in model.inputs], len(history.history["loss"])
# --8<-- [end:dict_fixed]


# --8<-- [start:keras2_broken]
def _fit_generator_broken():
    """Keras 2's ``fit_generator``, removed in Keras 3."""
    tiny_model().fit_generator(pairs(), steps_per_epoch=2)


def _fit_with_workers_broken():
    """Keras 2's ``workers``/``use_multiprocessing`` arguments of ``fit``."""
    dataset = tf.data.Dataset.from_generator(pairs, output_signature=PAIR_SPEC).batch(4)
    tiny_model().fit(dataset, workers=2, use_multiprocessing=True, verbose=0)
# --8<-- [end:keras2_broken]


# --8<-- [start:keras2_fixed]
def generator_to_fit_fixed():
    """``fit`` takes the dataset (or a generator, or a PyDataset) directly."""
    dataset = tf.data.Dataset.from_generator(pairs, output_signature=PAIR_SPEC).batch(4)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(2))
    history = tiny_model().fit(dataset, epochs=2, shuffle=False, verbose=0)
    return len(history.history["loss"])
# --8<-- [end:keras2_fixed]


# --8<-- [start:pydataset_broken]
class TwoBatches:
    """Two batches of (features, labels): what both PyDatasets below serve."""

    def __len__(self):
        return 2

    def __getitem__(self, index):
        x = np.full((4, 2), index, dtype=np.float32)
        return x, x[:, 0]


class _Batches(TwoBatches, keras.utils.PyDataset):
    """Forgets to call ``super().__init__``."""

    def __init__(self, workers=1):  # noqa: ARG002 - the mistake being shown
        pass


def _pydataset_without_super_broken():
    model = tiny_model()
    return caught_warnings(lambda: model.fit(_Batches(workers=2), epochs=1, verbose=0))
# --8<-- [end:pydataset_broken]


# --8<-- [start:pydataset_fixed]
class Batches(TwoBatches, keras.utils.PyDataset):
    """Passes ``workers`` and friends on to PyDataset."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)  # workers, use_multiprocessing, max_queue_size


def pydataset_with_super_fixed():
    """The warning is gone and the workers setting is kept."""
    batches = Batches(workers=2)
    model = tiny_model()
    return batches.workers, caught_warnings(lambda: model.fit(batches, epochs=1, verbose=0))
# --8<-- [end:pydataset_fixed]


# --8<-- [start:validation_broken]
class _StillValidating(Exception):
    pass


def _endless_validation_source(counter, limit):
    while True:  # a stream with no end, like a generator over a live source
        counter.append(1)
        if len(counter) > limit:
            raise _StillValidating(f"validation read {limit} batches and had not finished")
        yield np.zeros((4, 2), np.float32), np.zeros(4, np.float32)


BATCH_SPEC = (tf.TensorSpec((None, 2), tf.float32), tf.TensorSpec((None,), tf.float32))


def _validation_never_ends_broken(limit=40):
    """Endless validation data and no ``validation_steps``: Keras validates until the data ends."""
    train = tf.data.Dataset.from_generator(pairs, output_signature=PAIR_SPEC).batch(4)
    train = train.apply(tf.data.experimental.assert_cardinality(2))
    read = []
    validation = tf.data.Dataset.from_generator(
        lambda: _endless_validation_source(read, limit), output_signature=BATCH_SPEC)
    try:
        tiny_model().fit(train, validation_data=validation, epochs=1, shuffle=False, verbose=0)
    except tf.errors.OpError as error:
        return len(read) - 1, re.search(r"validation read \d+ batches", str(error)).group(0)
# --8<-- [end:validation_broken]


# --8<-- [start:validation_fixed]
def validation_steps_fixed():
    """``validation_steps`` bounds every validation pass: 3 batches, then the next epoch."""
    train = tf.data.Dataset.from_generator(pairs, output_signature=PAIR_SPEC).batch(4)
    train = train.apply(tf.data.experimental.assert_cardinality(2))
    read = []
    validation = tf.data.Dataset.from_generator(
        lambda: _endless_validation_source(read, limit=1000), output_signature=BATCH_SPEC)
    history = tiny_model().fit(train, validation_data=validation, validation_steps=3,
                               epochs=2, shuffle=False, verbose=0)
    return len(history.history["val_loss"])
# --8<-- [end:validation_fixed]


# --8<-- [start:predict_broken]
def identity_model():
    """Predicts the first feature exactly (kernel [1, 0], bias 0): prediction i for label i."""
    model = tiny_model()
    model.layers[-1].set_weights([np.array([[1.0], [0.0]], np.float32), np.zeros(1, np.float32)])
    return model


def _predict_then_read_labels_broken():
    """Predicts on a shuffled dataset, then reads the labels in a second pass."""
    dataset = tf.data.Dataset.from_generator(pairs, output_signature=PAIR_SPEC)
    dataset = dataset.shuffle(8, seed=7).batch(4)  # reshuffles on every pass
    predictions = identity_model().predict(dataset, verbose=0)[:, 0]
    labels = np.concatenate([y.numpy() for _, y in dataset])
    return bool(np.array_equal(predictions, labels))
# --8<-- [end:predict_broken]


# --8<-- [start:predict_fixed]
def predictions_with_their_labels_fixed():
    """One pass: predict each batch and keep its labels beside the predictions."""
    dataset = tf.data.Dataset.from_generator(pairs, output_signature=PAIR_SPEC)
    dataset = dataset.shuffle(8, seed=7).batch(4)
    model = identity_model()
    predictions, labels = [], []
    for x, y in dataset:
        predictions.append(model.predict_on_batch(x)[:, 0])
        labels.append(y.numpy())
    predictions, labels = np.concatenate(predictions), np.concatenate(labels)
    return bool(np.array_equal(predictions, labels)), len(labels)
# --8<-- [end:predict_fixed]


def keras_message(error):
    """The line a user searches for: ``Type: message``.

    Keras wraps errors raised inside a layer in ``Exception encountered when
    calling ...`` and prints the cause in bold; this returns the cause.
    """
    text = str(error)
    bold = re.search(r"\x1b\[1m(.*?)\x1b\[0m", text, flags=re.DOTALL)
    return f"{type(error).__name__}: {bold.group(1) if bold else text}"


def _report(broken):
    try:
        broken()
    except Exception as error:  # noqa: BLE001 - the demo prints whatever it raises
        print(f"{broken.__name__.lstrip('_')}: {type(error).__name__}")
        print("   ", re.sub(r"(keras_tensor|functional)(_\d+)?\b", r"\1_<n>", keras_message(error)))


def main():
    print("ran_out_of_data_broken:", [m.split(";")[0] for m in _ran_out_of_data_broken()])
    print("ran_out_of_data_fixed:", ran_out_of_data_fixed())
    print("fit_with_default_shuffle_broken:", [m.split(",")[0] for m in _fit_with_default_shuffle_broken()])
    print("shuffle_in_the_pipeline_fixed:", shuffle_in_the_pipeline_fixed())
    for broken in (_unbatched_broken, _flat_tuple_broken, _dict_with_other_keys_broken,
                   _fit_generator_broken, _fit_with_workers_broken):
        _report(broken)
    print("batched_fixed:", batched_fixed())
    print("nested_inputs_fixed:", nested_inputs_fixed())
    print("dict_keyed_by_input_names_fixed:", dict_keyed_by_input_names_fixed())
    print("generator_to_fit_fixed:", generator_to_fit_fixed())
    print("pydataset_without_super_broken:", [m.split(" in its")[0] for m in _pydataset_without_super_broken()])
    print("pydataset_with_super_fixed:", pydataset_with_super_fixed())
    print("validation_never_ends_broken:", _validation_never_ends_broken())
    print("validation_steps_fixed:", validation_steps_fixed())
    print("predict_then_read_labels_broken:", _predict_then_read_labels_broken())
    print("predictions_with_their_labels_fixed:", predictions_with_their_labels_fixed())


if __name__ == "__main__":
    main()
