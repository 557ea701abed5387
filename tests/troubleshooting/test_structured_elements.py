"""Structured elements: each message is raised as the page quotes it; each fix does what it says."""

import numpy as np
import pytest
import tensorflow as tf

from recipes.troubleshooting import structured_elements as t
from tests.troubleshooting.pages import FOLDER, entries, normalise, quoted

PAGE = FOLDER / "structured_elements.md"
QUOTED = quoted(PAGE)

BROKEN = [  # (reproduction, what it raises, the entry that quotes its message)
    (t._dict_as_tout_broken, TypeError, "cannot-convert-the-argument-type-value-to-a-tensorflow-dtype"),
    (t._two_values_for_one_tout_broken, tf.errors.InvalidArgumentError,
     "pyfunc-returns-2-values-but-expects-to-see-1-values"),
    (t._lists_for_a_ragged_spec_broken, tf.errors.InvalidArgumentError,
     "yielded-an-element-of-tensorspec-where-raggedtensorspec-was-expected"),
    (t._one_padded_shape_for_a_dict_broken, TypeError,
     "if-shallow-structure-is-a-sequence-input-must-also-be-a-sequence"),
    (t._python_int_padding_value_broken, TypeError, "invalid-padding-values-type-does-not-match"),
]


@pytest.mark.parametrize("broken, raises, anchor", BROKEN, ids=[b[2] for b in BROKEN])
def test_message_is_raised_as_quoted(broken, raises, anchor):
    with pytest.raises(raises) as info:
        broken()
    assert normalise(t.last_line(info.value)) == normalise(QUOTED[anchor])


def test_every_message_entry_is_reproduced_and_every_entry_has_a_thread():
    assert set(QUOTED) == {b[2] for b in BROKEN}
    text = PAGE.read_text(encoding="utf-8")
    for _, anchor, _ in entries(PAGE):
        section = text.split(f"{{ #{anchor} }}", 1)[1].split("\n## ", 1)[0]
        assert "Seen in: [" in section, anchor


def test_numpy_function_refuses_a_dict_tout_too_and_py_function_takes_a_ragged_spec():
    with pytest.raises(TypeError) as info:
        t.records().map(lambda r: tf.numpy_function(lambda x: {"n": x}, [r["label"]], Tout={"n": tf.int64}))
    assert t.last_line(info.value) == (
        "TypeError: Cannot convert the argument `type_value`: {'n': tf.int64} to a TensorFlow DType.")
    spec = tf.RaggedTensorSpec((None, None), tf.int64)
    ragged = t.records(2).map(lambda r: tf.py_function(lambda x: tf.RaggedTensor.from_row_lengths(x, [len(x)]),
                                                        [r["tokens"]], Tout=spec))
    assert ragged.element_spec == spec and t.values(ragged) == [[[1]], [[1, 2]]]


def test_py_function_keeps_the_first_of_several_values_for_one_tout():
    kept = t.records().map(lambda r: tf.py_function(lambda x: (x, x * 10), [r["label"]], Tout=tf.int64))
    assert t.values(kept) == [0, 1, 0, 1]


def test_ragged_lists_of_different_lengths_fail_on_the_structure():
    def paragraphs():
        yield [[1, 2, 3], [4]]

    dataset = tf.data.Dataset.from_generator(paragraphs, output_signature=t.RAGGED)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        t.values(dataset)
    assert t.last_line(info.value) == (
        "TypeError: `generator` yielded an element that did not match the expected structure. The expected "
        "structure was RaggedTensorSpec(TensorShape([None, None]), tf.int32, 1, tf.int64), but the yielded "
        "element was [[1, 2, 3], [4]].")


def test_padding_is_to_the_longest_in_each_batch_by_default_and_a_matching_dtype_is_accepted():
    batches = t.values(t.records().padded_batch(2))
    assert [b["tokens"] for b in batches] == [[[1, 0], [1, 2]], [[1, 2, 3, 0], [1, 2, 3, 4]]]
    assert [b["label"] for b in batches] == [[0, 1], [0, 1]]
    padded = t.values(t.records().padded_batch(2, padding_values=np.int64(-1)))
    assert padded[0]["tokens"] == [[1, -1], [1, 2]]


def test_fixes():
    element, spec = t.flat_outputs_packed_back_fixed()
    assert element == {"tokens": [1, 2], "label": 1, "count": 2, "mean": 1.5}
    assert spec == tf.TensorSpec((), tf.float32)
    assert t.one_tout_per_value_fixed() == [(1, 1.0), (2, 1.5)]
    spec, paragraphs = t.ragged_from_flat_values_fixed()
    assert spec == t.RAGGED and paragraphs == [[[1, 2], [3, 4]], [[5], [6, 7], [8, 9, 10]]]
    assert t.ragged_tensors_yielded_fixed() == paragraphs
    assert t.padded_shapes_per_key_fixed() == ([[1, 0], [1, 2]], [[1, 0, 0, 0, 0], [1, 2, 0, 0, 0]])
    assert t.padding_values_of_the_elements_dtype_fixed() == [[1, -1], [1, 2]]
