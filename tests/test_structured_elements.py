"""Structured elements: nested signatures, ragged values, py_function with structure, batching, Keras inputs."""

import warnings

import numpy as np
import pytest
import tensorflow as tf

from recipes import structured_elements as s

RAGGED = tf.RaggedTensorSpec((None, None), tf.int32, ragged_rank=1)


def test_the_signature_carries_nested_dicts_and_ragged_values():
    dataset = s.source(3)
    assert dataset.element_spec == s.SIGNATURE
    features, label = list(dataset)[2]
    assert isinstance(features["sentences"], tf.RaggedTensor)
    assert features["sentences"].to_list() == [[3], [4, 4], [5, 5, 5]]
    assert features["words"].numpy().tolist() == [b"w2"]
    assert (int(features["meta"]["id"]), features["meta"]["source"].numpy(), int(label)) == (2, b"book", 0)


def test_a_ragged_spec_needs_the_generator_to_yield_a_ragged_tensor():
    def lists():
        yield [[1], [2, 3]]

    def array():
        yield np.array([[1, 2], [3, 4]], np.int32)

    with pytest.raises(tf.errors.InvalidArgumentError, match=(
            r"`generator` yielded an element that did not match the expected structure\. The expected "
            r"structure was RaggedTensorSpec\(TensorShape\(\[None, None\]\), tf\.int32, 1, tf\.int64\), "
            r"but the yielded element was \[\[1\], \[2, 3\]\]\.")):
        list(tf.data.Dataset.from_generator(lists, output_signature=RAGGED))
    with pytest.raises(tf.errors.InvalidArgumentError, match=(
            r"`generator` yielded an element of TensorSpec\(shape=\(2, 2\), dtype=tf\.int32, name=None\) "
            r"where an element of RaggedTensorSpec\(TensorShape\(\[None, None\]\), tf\.int32, 1, tf\.int64\) "
            r"was expected\.")):
        list(tf.data.Dataset.from_generator(array, output_signature=RAGGED))


def test_a_tuple_element_reaches_map_as_separate_arguments():
    with pytest.raises(TypeError, match=r"<lambda>\(\) takes 1 positional argument but 2 were given"):
        s.source(2).map(lambda element: element)
    pairs = s.source(2).map(lambda features, label: (features["meta"]["id"], label))
    assert [(int(i), int(y)) for i, y in pairs] == [(0, 0), (1, 1)]


def test_map_turns_the_ragged_sentences_into_model_inputs():
    dataset = s.source(3).map(s.to_model_inputs)
    assert dataset.element_spec == ({"tokens": tf.TensorSpec((None,), tf.int32),
                                     "length": tf.TensorSpec((1,), tf.float32)}, tf.TensorSpec((), tf.int32))
    got = [({k: v.tolist() for k, v in f.items()}, int(y)) for f, y in dataset.as_numpy_iterator()]
    assert got == [({"tokens": [1], "length": [1.0]}, 0), ({"tokens": [2, 3, 3], "length": [3.0]}, 1),
                   ({"tokens": [3, 4, 4, 5, 5, 5], "length": [6.0]}, 0)]


def test_py_function_takes_no_nested_tout_nor_dict_inputs():
    words = s.source(2).map(lambda features, label: features["words"])
    with pytest.raises(TypeError, match=r"Cannot convert the argument `type_value`: \{'a': tf\.string\} to a "
                                        r"TensorFlow DType\."):
        words.map(lambda w: tf.py_function(lambda x: {"a": x}, [w], Tout={"a": tf.string}))
    with pytest.raises(TypeError, match=r"Tensors in list passed to 'input' of 'EagerPyFunc' Op have types "
                                        r"\[<NOT CONVERTIBLE TO TENSOR>\] that are invalid\."):
        s.source(2).map(lambda features, label: tf.py_function(lambda x: x, [features["meta"]], Tout=[tf.string]))


def test_py_function_takes_ragged_specs_in_tout_numpy_function_does_not():
    words = s.source(2).map(lambda features, label: features["words"])
    ragged = words.map(lambda w: tf.py_function(lambda x: tf.ragged.constant([[1], [2, 3]]), [w], Tout=RAGGED))
    assert ragged.element_spec == RAGGED and [r.to_list() for r in ragged] == [[[1], [2, 3]]] * 2
    with pytest.raises(TypeError, match=r"Expected DataType for argument 'Tout' not RaggedTensorSpec\("
                                        r"TensorShape\(\[None, None\]\), tf\.int32, 1, tf\.int64\)\."):
        words.map(lambda w: tf.numpy_function(lambda x: x, [w], Tout=RAGGED))


def test_py_function_loses_static_shapes_and_py_structured_restores_them():
    plain = s.source(2).map(lambda f, y: tf.py_function(lambda w: [tf.constant(1)], [f["words"]], Tout=[tf.int32]))
    assert plain.element_spec == (tf.TensorSpec(None, tf.int32),)
    numpy = s.source(2).map(lambda f, y: tf.numpy_function(lambda w: np.int32(1), [f["words"]], Tout=tf.int32))
    assert numpy.element_spec == tf.TensorSpec(None, tf.int32) and [int(x) for x in numpy] == [1, 1]
    structured = s.source(4).map(s.with_word_info)
    assert structured.element_spec[0]["word_info"] == s.WORD_INFO
    assert {k: v for k, v in structured.element_spec[0].items() if k != "word_info"} == s.SIGNATURE[0]
    infos = [(f["word_info"]["chars"].to_list(), int(f["word_info"]["count"])) for f, _ in structured]
    assert infos == [([[119, 48]], 1), ([[119, 49]] * 2, 2), ([[119, 50]], 1), ([[119, 51]] * 2, 2)]


def test_py_structured_fails_per_element_when_python_breaks_the_shape():
    def wrong(inputs):
        return {"chars": tf.ragged.constant([[1]]), "count": tf.constant([1])}  # shape (1,), not ()

    dataset = s.source(2).map(lambda f, y: s.py_structured(wrong, {"words": f["words"]}, s.WORD_INFO))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Shape of tensor EagerPyFunc:2 \[1\] is not "
                                                             r"compatible with expected shape \[\]\."):
        list(dataset)


def test_py_structured_checks_the_structure_python_returns():
    def missing_key(inputs):
        return {"chars": tf.ragged.constant([[1]])}

    dataset = s.source(1).map(lambda f, y: s.py_structured(missing_key, {"words": f["words"]}, s.WORD_INFO))
    with pytest.raises(tf.errors.InvalidArgumentError, match="The two structures don't have the same"):
        list(dataset)


def test_batch_fails_on_variable_length_dense_components_and_names_the_flat_position():
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Cannot batch tensors with different shapes in "
                                                             r"component 3\. First element had shape \[1\] and "
                                                             r"element 1 had shape \[2\]\."):
        list(s.source(3).batch(3))
    # component 3 is "words": the flat order sorts dict keys (meta/id, meta/source, sentences, words, label)
    assert tf.nest.flatten(s.SIGNATURE)[3] == s.SIGNATURE[0]["words"]


def test_batch_keeps_ragged_components_ragged_and_ragged_batch_makes_the_rest_ragged():
    batched = s.source(3).map(lambda f, y: (f["sentences"], y)).batch(3)
    assert batched.element_spec[0] == tf.RaggedTensorSpec((None, None, None), tf.int32, ragged_rank=2)
    features, labels = next(iter(s.ragged_batches(s.source(3), 3)))
    assert isinstance(features["words"], tf.RaggedTensor) and features["words"].shape.as_list() == [3, None]
    assert features["sentences"].to_list() == [[[1]], [[2], [3, 3]], [[3], [4, 4], [5, 5, 5]]]
    assert features["meta"]["id"].numpy().tolist() == [0, 1, 2] and labels.numpy().tolist() == [0, 1, 0]


def test_padded_batch_pads_dicts_and_refuses_ragged_components():
    with pytest.raises(TypeError, match=r"`padded_batch` is only supported for datasets that produce tensor "
                                        r"elements but type spec of elements in the input dataset is not a "
                                        r"subclass of TensorSpec: `RaggedTensorSpec\(TensorShape\(\[None, "
                                        r"None\]\), tf\.int32, 1, tf\.int64\)`\."):
        s.padded_batches(s.source(3), 3)
    features, labels = next(iter(s.training_data(3, 3)))
    assert features["tokens"].numpy().tolist() == [[1, 0, 0, 0, 0, 0], [2, 3, 3, 0, 0, 0], [3, 4, 4, 5, 5, 5]]
    assert features["length"].numpy().tolist() == [[1.0], [3.0], [6.0]] and labels.numpy().tolist() == [0, 1, 0]


def test_padding_values_follow_the_element_structure():
    dense = s.source(3).map(s.to_model_inputs)
    with pytest.raises(TypeError, match=r"The two structures don't have the same sequence type\. Input "
                                        r"structure has type 'tuple', while shallow structure has type 'dict'\."):
        dense.padded_batch(3, padding_values={"tokens": -1})
    padded = dense.padded_batch(3, padding_values=({"tokens": -1, "length": 0.0}, 0))
    assert next(iter(padded))[0]["tokens"].numpy().tolist()[0] == [1, -1, -1, -1, -1, -1]


@pytest.fixture(scope="module")
def trained():
    tf.keras.utils.set_random_seed(0)
    model = s.build_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = model.fit(s.training_data(8, 4), epochs=2, verbose=0)
    return model, history


def test_keras_takes_dict_features_by_input_name(trained):
    model, history = trained
    assert sorted(model.input) == ["length", "tokens"] and len(history.history["loss"]) == 2
    features, _ = next(iter(s.training_data(4, 4)))
    reordered = {"length": features["length"], "tokens": features["tokens"]}
    assert list(reordered) != list(features)
    np.testing.assert_array_equal(model.predict(features, verbose=0), model.predict(reordered, verbose=0))


def test_keras_names_a_missing_input(trained):
    model, _ = trained
    features, _ = next(iter(s.training_data(4, 4)))
    with pytest.raises(ValueError, match=r'Missing data for input "length"\. You passed a data dictionary with '
                                         r"keys \['tokens'\]\. Expected the following keys: \['length', 'tokens'\]"):
        model.predict({"tokens": features["tokens"]}, verbose=0)


def test_an_extra_key_only_warns_and_then_inputs_go_by_sorted_position(trained):
    model, _ = trained
    features, _ = next(iter(s.training_data(4, 4)))
    plain = model.predict(features, verbose=0)
    warning = r"The structure of `inputs` doesn't match the expected structure\."
    with pytest.warns(UserWarning, match=warning):  # "zzz" sorts after the model's keys: ignored
        np.testing.assert_array_equal(model.predict({**features, "zzz": tf.ones((4, 1))}, verbose=0), plain)
    with pytest.warns(UserWarning, match=warning):  # "id" sorts first: it feeds "length", "length" feeds "tokens"
        shifted = model.predict({**features, "id": tf.zeros((4, 1))}, verbose=0)
    fed_by_position = {"length": tf.zeros((4, 1)), "tokens": tf.cast(features["length"], tf.int32)}
    np.testing.assert_array_equal(shifted, model.predict(fed_by_position, verbose=0))
    assert not np.array_equal(shifted, plain)
