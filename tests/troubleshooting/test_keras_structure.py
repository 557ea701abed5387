"""Keras models with several inputs or outputs: each message is raised or warned as the page quotes it."""

import numpy as np
import pytest
import tensorflow as tf

from recipes.troubleshooting import keras_structure as t
from tests.troubleshooting.pages import FOLDER, entries, normalise, quoted

keras = tf.keras
PAGE = FOLDER / "keras_structure.md"
QUOTED = quoted(PAGE)

RAISED = [  # (reproduction, what it raises, the entry that quotes its message)
    (t._labels_keyed_by_other_names_broken, TypeError, "expected-float32-but-got-of-type-str"),
    (t._one_metric_list_for_two_outputs_broken, ValueError, "tuple-arity-mismatch-invalid-metrics"),
    (t._class_weight_with_two_outputs_broken, ValueError,
     "class-weight-is-only-supported-for-models-with-a-single-output"),
    (t._sample_weight_argument_broken, ValueError, "sample-weights-should-not-be-passed"),
    (t._four_items_per_element_broken, ValueError, "data-is-expected-to-be-in-format-x-y-sample-weight"),
]
WARNED = [(t._tuple_for_a_dict_model_broken, "the-structure-of-inputs-doesnt-match-the-expected-structure")]


@pytest.mark.parametrize("broken, raises, anchor", RAISED, ids=[r[2] for r in RAISED])
def test_message_is_raised_as_quoted(broken, raises, anchor):
    with pytest.raises(raises) as info:
        broken()
    assert normalise(t.keras_message(info.value)) == normalise(QUOTED[anchor])


@pytest.mark.parametrize("broken, anchor", WARNED, ids=[w[1] for w in WARNED])
def test_warning_is_issued_as_quoted(broken, anchor):
    messages = broken()
    assert messages and all(f"UserWarning: {m}" == QUOTED[anchor] for m in messages)


def test_every_message_entry_is_reproduced_and_every_entry_has_a_thread():
    assert set(QUOTED) == {r[2] for r in RAISED} | {w[1] for w in WARNED}
    text = PAGE.read_text(encoding="utf-8")
    for _, anchor, _ in entries(PAGE):
        section = text.split(f"{{ #{anchor} }}", 1)[1].split("\n## ", 1)[0]
        assert "Seen in: [" in section, anchor


def test_fixes():
    assert t.dict_for_a_dict_model_fixed() == []
    assert t.labels_keyed_by_output_names_fixed() == (["price", "kind"], ["kind_loss", "loss", "price_loss"])
    assert t.metrics_per_output_fixed() == ["kind_accuracy", "kind_loss", "loss", "price_loss"]
    assert t.class_weights_as_sample_weights_fixed() == ([0, 1, 2, 0], [1.0, 2.0, 4.0, 1.0], 1)
    assert t.sample_weight_in_the_elements_fixed() == 1
    assert t.inputs_label_weight_fixed() == (3, 1)


def _probe(keys):
    """A dict model that returns each input unchanged under its own key: it shows which tensor reached which input."""
    inputs = {key: keras.Input((2,), name=key) for key in keys}
    model = keras.Model(inputs, {key: keras.layers.Identity(name=f"out_{key}")(inputs[key]) for key in keys})
    return model


def test_a_tuple_for_a_dict_model_is_paired_by_position_or_refused():
    numbers, other = np.zeros((1, 2), np.float32), np.ones((1, 2), np.float32)
    with pytest.warns(UserWarning, match="structure of `inputs`"):  # keys in sorted order: warned, by position
        out = _probe(("numbers", "tags")).predict_on_batch((numbers, other))
    assert np.array_equal(out["numbers"], numbers) and np.array_equal(out["tags"], other)
    with pytest.raises(ValueError) as info:  # keys not in sorted order: refused
        _probe(("numbers", "extra")).predict_on_batch((numbers, other))
    assert t.keras_message(info.value).startswith(
        "ValueError: The structure of `inputs` doesn't match the expected structure.\n"
        "Expected: {'numbers': 'numbers', 'extra': 'extra'}")


def test_a_model_built_on_a_list_of_one_input_takes_a_plain_tensor_without_a_warning():
    features = keras.Input((2,), name="features")
    model = keras.Model([features], keras.layers.Dense(1)(features))
    messages = t.caught_warnings(lambda: model.predict_on_batch(np.zeros((1, 2), np.float32)))
    assert [m for m in messages if "structure of `inputs`" in m] == []


def test_a_sequential_model_fed_a_dict_raises_the_same_sentence():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    data = tf.data.Dataset.from_tensor_slices(({"numbers": np.zeros((4, 2), np.float32)}, np.zeros(4, np.float32)))
    with pytest.raises(ValueError) as info:
        model.fit(data.batch(2), epochs=1, shuffle=False, verbose=0)
    assert t.keras_message(info.value).startswith(
        "ValueError: The structure of `inputs` doesn't match the expected structure.")


@pytest.mark.parametrize("metrics", [{"kind": ["accuracy"]}, [[], ["accuracy"]]], ids=["dict", "lists"])
def test_metrics_per_output_as_a_dict_or_one_list_per_output(metrics):
    model = t.two_output_model()
    model.compile(optimizer="sgd", loss=t.LOSSES, metrics=metrics)
    data = t._dataset(lambda r: (r[0], {"price": r[1], "kind": r[2]}), t.LABEL_SPEC)
    history = model.fit(data, epochs=1, shuffle=False, verbose=0)
    assert sorted(history.history) == ["kind_accuracy", "kind_loss", "loss", "price_loss"]


def test_a_labels_dict_packed_as_a_list_of_outputs_becomes_its_keys():
    # what Keras does with labels it cannot match to the output names
    assert keras.tree.pack_sequence_as([0, 0], {"target_price": 1.0, "target_kind": 2}) == [
        "target_price", "target_kind"]
