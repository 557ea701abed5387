"""Troubleshooting, Keras 3 models with several inputs or outputs fed by generator datasets.

The structure Keras expects of each element (inputs, per-output labels,
weights), the structure warnings Keras 3 prints, and the ``fit`` arguments
that do not combine with a dataset. Each private ``_*_broken`` function
triggers one message exactly as TensorFlow 2.21 with Keras 3 raises or warns
it; the public function next to it does the same job the right way. Run
``python keras_structure.py`` to see every message and every fix. Needs only
the standard library, NumPy and TensorFlow.
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

FEATURES = tf.TensorSpec((2,), tf.float32)


def houses(n=8):
    """``n`` records: two features, a price (regression) and a kind in 0..2 (classification)."""
    for i in range(n):
        yield np.array([i, 1], np.float32), np.float32(i), np.int64(i % 3)


def two_output_model():
    """One input, two named outputs: ``price`` (1 value) and ``kind`` (3 class probabilities)."""
    features = keras.Input((2,), name="features")
    price = keras.layers.Dense(1, name="price")(features)
    kind = keras.layers.Dense(3, activation="softmax", name="kind")(features)
    return keras.Model(features, [price, kind])


LOSSES = {"price": "mse", "kind": "sparse_categorical_crossentropy"}


def caught_warnings(call):
    """Run ``call()`` and return the text of every warning it issued."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [str(w.message) for w in caught]
# --8<-- [end:setup]


def _dataset(element, spec):
    """The eight records through ``element``, with their length declared, in batches of 4."""
    data = tf.data.Dataset.from_generator(lambda: map(element, houses()), output_signature=spec)
    return data.apply(tf.data.experimental.assert_cardinality(8)).batch(4)


# --8<-- [start:inputs_structure_broken]
INPUTS_SPEC = ((FEATURES, tf.TensorSpec((3,), tf.float32)), tf.TensorSpec((), tf.float32))


def two_input_model():
    """A model built on a dict of two inputs, ``numbers`` (2 values) and ``tags`` (3 values)."""
    inputs = {"numbers": keras.Input((2,), name="numbers"), "tags": keras.Input((3,), name="tags")}
    joined = keras.layers.Concatenate()([inputs["numbers"], inputs["tags"]])
    model = keras.Model(inputs, keras.layers.Dense(1)(joined))
    model.compile(optimizer="sgd", loss="mse")
    return model


def _tuple_for_a_dict_model_broken():
    """The generator yields the two inputs as a tuple; the model was built on a dict."""
    data = _dataset(lambda r: ((r[0], np.full(3, r[1], np.float32)), r[1]), INPUTS_SPEC)
    model = two_input_model()
    messages = caught_warnings(lambda: model.fit(data, epochs=1, shuffle=False, verbose=0))
    return [m for m in messages if "structure of `inputs`" in m]
# --8<-- [end:inputs_structure_broken]


# --8<-- [start:inputs_structure_fixed]
DICT_INPUTS_SPEC = ({"numbers": FEATURES, "tags": tf.TensorSpec((3,), tf.float32)},
                    tf.TensorSpec((), tf.float32))


def dict_for_a_dict_model_fixed():
    """Yield the inputs in the structure the model was built on: a dict with the same keys."""
    data = _dataset(lambda r: ({"numbers": r[0], "tags": np.full(3, r[1], np.float32)}, r[1]),
                    DICT_INPUTS_SPEC)
    model = two_input_model()
    messages = caught_warnings(lambda: model.fit(data, epochs=1, shuffle=False, verbose=0))
    return [m for m in messages if "structure of `inputs`" in m]
# --8<-- [end:inputs_structure_fixed]


# --8<-- [start:label_keys_broken]
LABEL_SPEC_WRONG_KEYS = (FEATURES, {"target_price": tf.TensorSpec((), tf.float32),
                                    "target_kind": tf.TensorSpec((), tf.int64)})


def _labels_keyed_by_other_names_broken():
    """Per-output labels in a dict whose keys are not the names of the model's outputs."""
    data = _dataset(lambda r: (r[0], {"target_price": r[1], "target_kind": r[2]}), LABEL_SPEC_WRONG_KEYS)
    model = two_output_model()
    model.compile(optimizer="sgd", loss=["mse", "sparse_categorical_crossentropy"])
    model.fit(data, epochs=1, shuffle=False, verbose=0)
# --8<-- [end:label_keys_broken]


# --8<-- [start:label_keys_fixed]
LABEL_SPEC = (FEATURES, {"price": tf.TensorSpec((), tf.float32), "kind": tf.TensorSpec((), tf.int64)})


def labels_keyed_by_output_names_fixed():
    """Key the labels (and the losses) by ``model.output_names``, the names of the output layers."""
    data = _dataset(lambda r: (r[0], {"price": r[1], "kind": r[2]}), LABEL_SPEC)
    model = two_output_model()
    model.compile(optimizer="sgd", loss=LOSSES)
    history = model.fit(data, epochs=1, shuffle=False, verbose=0)
    return model.output_names, sorted(history.history)
# --8<-- [end:label_keys_fixed]


# --8<-- [start:metrics_broken]
def _one_metric_list_for_two_outputs_broken():
    """``metrics=["accuracy"]`` on a model with two outputs."""
    model = two_output_model()
    model.compile(optimizer="sgd", loss=LOSSES, metrics=["accuracy"])
    data = _dataset(lambda r: (r[0], {"price": r[1], "kind": r[2]}), LABEL_SPEC)
    model.fit(data, epochs=1, shuffle=False, verbose=0)
# --8<-- [end:metrics_broken]


# --8<-- [start:metrics_fixed]
def metrics_per_output_fixed():
    """Name the metrics of each output in a dict keyed by output name."""
    model = two_output_model()
    model.compile(optimizer="sgd", loss=LOSSES, metrics={"kind": ["accuracy"]})
    data = _dataset(lambda r: (r[0], {"price": r[1], "kind": r[2]}), LABEL_SPEC)
    history = model.fit(data, epochs=1, shuffle=False, verbose=0)
    return sorted(history.history)
# --8<-- [end:metrics_fixed]


# --8<-- [start:class_weight_broken]
def _class_weight_with_two_outputs_broken():
    """``class_weight`` for the ``kind`` output of a model with two outputs."""
    model = two_output_model()
    model.compile(optimizer="sgd", loss=LOSSES)
    data = _dataset(lambda r: (r[0], {"price": r[1], "kind": r[2]}), LABEL_SPEC)
    model.fit(data, class_weight={0: 1.0, 1: 2.0, 2: 4.0}, epochs=1, shuffle=False, verbose=0)
# --8<-- [end:class_weight_broken]


# --8<-- [start:class_weight_fixed]
KIND_WEIGHTS = tf.constant([1.0, 2.0, 4.0])  # the weight of kind 0, 1 and 2


def with_kind_weights(features, labels):
    """Add per-output sample weights: the class weight for ``kind``, 1 for ``price``."""
    weights = (tf.ones_like(labels["price"]), tf.gather(KIND_WEIGHTS, labels["kind"]))
    return features, labels, weights  # weights in the order of the model's outputs: price, kind


def class_weights_as_sample_weights_fixed():
    """The class weights of one output become that output's sample weights, in the pipeline."""
    model = two_output_model()
    model.compile(optimizer="sgd", loss=LOSSES)
    data = _dataset(lambda r: (r[0], {"price": r[1], "kind": r[2]}), LABEL_SPEC).map(with_kind_weights)
    history = model.fit(data, epochs=1, shuffle=False, verbose=0)
    _, labels, weights = next(iter(data))
    return labels["kind"].numpy().tolist(), weights[1].numpy().tolist(), len(history.history["loss"])
# --8<-- [end:class_weight_fixed]


# --8<-- [start:sample_weight_broken]
def _sample_weight_argument_broken():
    """Weights passed to ``fit`` next to a dataset."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    data = _dataset(lambda r: (r[0], r[1]), (FEATURES, tf.TensorSpec((), tf.float32)))
    model.fit(data, sample_weight=np.linspace(0.5, 1.0, 8), epochs=1, shuffle=False, verbose=0)
# --8<-- [end:sample_weight_broken]


# --8<-- [start:sample_weight_fixed]
def sample_weight_in_the_elements_fixed():
    """Yield ``(features, label, weight)``: Keras reads the third item as the sample weight."""
    def weighted(record):
        features, price, _ = record
        return features, price, np.float32(0.5 + price / 14)  # the weight of each record

    spec = (FEATURES, tf.TensorSpec((), tf.float32), tf.TensorSpec((), tf.float32))
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(_dataset(weighted, spec), epochs=1, shuffle=False, verbose=0)
    return len(history.history["loss"])
# --8<-- [end:sample_weight_fixed]


# --8<-- [start:four_items_broken]
FOUR_ITEMS_SPEC = (FEATURES, tf.TensorSpec((3,), tf.float32), tf.TensorSpec((), tf.float32),
                   tf.TensorSpec((), tf.float32))


def _four_items_per_element_broken():
    """Yields (numbers, tags, label, weight) for a model with two inputs."""
    data = _dataset(lambda r: (r[0], np.full(3, r[1], np.float32), r[1], np.float32(1)), FOUR_ITEMS_SPEC)
    two_input_model().fit(data, epochs=1, shuffle=False, verbose=0)
# --8<-- [end:four_items_broken]


# --8<-- [start:four_items_fixed]
NESTED_SPEC = ({"numbers": FEATURES, "tags": tf.TensorSpec((3,), tf.float32)},
               tf.TensorSpec((), tf.float32), tf.TensorSpec((), tf.float32))


def inputs_label_weight_fixed():
    """Three items: the inputs (one dict), the label, the weight."""
    data = _dataset(lambda r: ({"numbers": r[0], "tags": np.full(3, r[1], np.float32)}, r[1], np.float32(1)),
                    NESTED_SPEC)
    history = two_input_model().fit(data, epochs=1, shuffle=False, verbose=0)
    return len(data.element_spec), len(history.history["loss"])
# --8<-- [end:four_items_fixed]


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
        print("   ", keras_message(error).splitlines()[0])


def main():
    print("tuple_for_a_dict_model_broken:", [m.splitlines()[0] for m in _tuple_for_a_dict_model_broken()])
    print("dict_for_a_dict_model_fixed:", dict_for_a_dict_model_fixed())
    for broken in (_labels_keyed_by_other_names_broken, _one_metric_list_for_two_outputs_broken,
                   _class_weight_with_two_outputs_broken, _sample_weight_argument_broken,
                   _four_items_per_element_broken):
        _report(broken)
    print("labels_keyed_by_output_names_fixed:", labels_keyed_by_output_names_fixed())
    print("metrics_per_output_fixed:", metrics_per_output_fixed())
    print("class_weights_as_sample_weights_fixed:", class_weights_as_sample_weights_fixed())
    print("sample_weight_in_the_elements_fixed:", sample_weight_in_the_elements_fixed())
    print("inputs_label_weight_fixed:", inputs_label_weight_fixed())


if __name__ == "__main__":
    main()
