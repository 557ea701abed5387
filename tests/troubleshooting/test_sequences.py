"""Sequences and time series: each message is raised as the page quotes it; each fix does what it says."""

import re

import numpy as np
import pytest
import tensorflow as tf

from recipes.troubleshooting import sequences as t
from tests.troubleshooting.pages import FOLDER, entries, quoted

PAGE = FOLDER / "sequences.md"
QUOTED = quoted(PAGE)

BROKEN = [  # (reproduction, what it raises, the entry that quotes its message)
    (t._slicing_a_window_broken, TypeError, "variantdataset-object-is-not-subscriptable"),
    (t._batching_a_window_of_dicts_broken, AttributeError, "dict-object-has-no-attribute-batch"),
    (t._fitting_on_windows_broken, ValueError, "only-input-tensors-may-be-passed-as-positional-arguments"),
    (t._batching_short_last_windows_broken, tf.errors.InvalidArgumentError,
     "cannot-batch-tensors-with-different-shapes-in-component-0"),
    (t._timeseries_from_a_generator_broken, TypeError, "the-dataset-length-is-unknown"),
]


def _address_free(text):
    return re.sub(r" at 0x[0-9a-f]+>", " at 0x...>", text)


@pytest.mark.parametrize("broken, raises, anchor", BROKEN, ids=[b[2] for b in BROKEN])
def test_message_is_raised_as_quoted(broken, raises, anchor):
    with pytest.raises(raises) as info:
        broken()
    assert _address_free(t.last_line(info.value)) == _address_free(QUOTED[anchor])


def test_every_message_entry_is_reproduced_and_every_entry_has_a_thread():
    assert set(QUOTED) == {b[2] for b in BROKEN}
    text = PAGE.read_text(encoding="utf-8")
    for _, anchor, _ in entries(PAGE):
        section = text.split(f"{{ #{anchor} }}", 1)[1].split("\n## ", 1)[0]
        assert "Seen in: [" in section, anchor


def test_windows_are_datasets_and_windows_of_dicts_are_dicts_of_datasets():
    assert isinstance(t.readings().window(3).element_spec, tf.data.DatasetSpec)
    spec = t.rows().window(3).element_spec
    assert sorted(spec) == ["label", "temperature"]
    assert all(isinstance(s, tf.data.DatasetSpec) for s in spec.values())


def test_other_tensor_operations_on_a_window_fail_the_same_way():
    windows = t.readings().window(3)
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for \+: '_VariantDataset' and 'int'"):
        windows.map(lambda w: w + 1)
    with pytest.raises(AttributeError, match="'_VariantDataset' object has no attribute 'numpy'"):
        next(iter(windows)).numpy()


def test_the_last_windows_are_shorter_without_drop_remainder():
    lengths = [len(w) for w in t.values(t.readings().window(4, shift=1).flat_map(lambda w: w.batch(4)))]
    assert lengths == [4, 4, 4, 4, 4, 3, 2, 1]


def test_the_keras_utility_wants_a_length():
    with pytest.raises(TypeError, match=r"^object of type 'generator' has no len\(\)$"):
        tf.keras.utils.timeseries_dataset_from_array((i for i in range(8)), None, sequence_length=3)
    assert t.readings().cardinality() == tf.data.UNKNOWN_CARDINALITY


def test_targets_belong_to_the_window_that_starts_at_their_index():
    data = np.arange(8, dtype=np.float32)
    unshifted = tf.keras.utils.timeseries_dataset_from_array(data, data, sequence_length=3, batch_size=8)
    x, y = next(unshifted.as_numpy_iterator())
    assert np.array_equal(y, x[:, 0])  # every target is its window's first step
    shifted = tf.keras.utils.timeseries_dataset_from_array(data[:-1], data[3:], sequence_length=3, batch_size=8)
    x, y = next(shifted.as_numpy_iterator())
    assert x.tolist() == [[s, s + 1, s + 2] for s in range(5)] and y.tolist() == [3, 4, 5, 6, 7]


def test_fixes():
    assert t.window_batched_then_sliced_fixed() == [([0.0, 1.0, 2.0], 3.0), ([1.0, 2.0, 3.0], 4.0)]
    assert t.window_of_dicts_zipped_fixed() == {"temperature": [0.0, 1.0, 2.0], "label": [0, 1, 0]}
    assert t.fitting_on_window_tensors_fixed() == ([None, 3], 1)
    assert t.full_windows_only_fixed() == ([4], [5])
    assert t.windows_from_the_stream_fixed() == (True, 6)
    assert t._targets_passed_unshifted_broken() == ([0.0, 1.0, 2.0], 0.0)
    assert t.targets_shifted_by_the_window_length_fixed() == ([0.0, 1.0, 2.0], 3.0, 5)
