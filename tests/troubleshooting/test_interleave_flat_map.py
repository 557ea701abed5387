"""Functions for interleave and flat_map: each message is raised as the page quotes it; each fix works."""

import os

import pytest
import tensorflow as tf

from recipes.troubleshooting import interleave_flat_map as t
from tests.troubleshooting.pages import FOLDER, entries, quoted

PAGE = FOLDER / "interleave_flat_map.md"
QUOTED = quoted(PAGE)


def test_returning_a_tensor_fails_while_building_the_message():
    with pytest.raises(AttributeError) as info:
        t._flat_map_returns_a_tensor_broken()
    assert f"AttributeError: {info.value}" == QUOTED["tensor-object-has-no-attribute-name"]
    with pytest.raises(AttributeError, match="^'Tensor' object has no attribute '_name'$"):
        tf.data.Dataset.range(2).interleave(lambda x: x)
    assert t.flat_map_returns_a_dataset_fixed() == ([0, 10, 20, 30, 40, 50], [0, 10, 20, 30, 40, 50])


def test_returning_a_tuple_a_list_or_a_dict():
    with pytest.raises(TypeError) as info:
        t._interleave_returns_a_tuple_broken()
    assert f"TypeError: {info.value}" == QUOTED["map-func-must-return-a-dataset-object"]
    ids = tf.data.Dataset.range(2)
    with pytest.raises(TypeError, match=r"Got <class 'tuple'>\.$"):
        ids.flat_map(lambda i: [tf.data.Dataset.range(i), tf.data.Dataset.range(i)])
    with pytest.raises(TypeError, match=r"Got <class 'dict'>\.$"):
        ids.flat_map(lambda i: {"x": tf.data.Dataset.range(i)})
    assert t.interleave_returns_a_zipped_dataset_fixed() == [(0, 0), (1, 0), (1, 1), (2, 1)]


def test_tuple_elements_arrive_as_separate_arguments(tmp_path):
    with pytest.raises(TypeError) as info:
        t._one_parameter_for_a_pair_broken()
    assert str(info.value).strip().splitlines()[-1].strip() == QUOTED[
        "takes-1-positional-argument-but-2-were-given"]
    records = tf.data.Dataset.from_tensor_slices({"path": ["a"], "label": [0]})
    with pytest.raises(TypeError, match="missing 1 required positional argument"):
        records.interleave(lambda path, label: tf.data.Dataset.from_tensors(path))
    assert t.one_parameter_per_component_fixed(str(tmp_path)) == [("a1", 0), ("b1", 1), ("a2", 0), ("b2", 1)]


def test_a_generator_gets_the_element_through_args_as_bytes(tmp_path):
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        t._generator_closes_over_the_tensor_broken(str(tmp_path))
    assert t.last_line(info.value) == QUOTED["expected-str-bytes-or-os-pathlike-object-not-symbolictensor"]
    assert str(info.value).strip().splitlines()[-1].strip().startswith("[[{{node PyFunc}}]]")
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        t._bytes_argument_used_as_str_broken(str(tmp_path))
    assert t.last_line(info.value) == QUOTED["endswith-first-arg-must-be-bytes"]
    path = b"/tmp/a.csv"
    with pytest.raises(TypeError, match="^can't concat str to bytes$"):
        path + ".txt"
    with pytest.raises(TypeError, match="^a bytes-like object is required, not 'str'$"):
        path.split("/")
    assert t.generator_gets_the_path_through_args_fixed(str(tmp_path)) == ["a1", "b1", "a2", "b2"]


def test_interleave_keeps_cycle_length_generators_open():
    count, most, still_open = t._default_cycle_length_broken()
    assert (count, most, still_open) == (192, min(os.cpu_count(), 64), 0)
    assert t.explicit_cycle_length_fixed() == ((192, 2, 0), (192, 4, 0))
    count, most, still_open = t.most_open_generators(64, cycle_length=2, num_parallel_calls=2)
    assert count == 192 and most > 2 and still_open == 0  # inputs opened ahead of time


def test_every_message_entry_is_reproduced_and_every_entry_has_a_thread():
    assert set(QUOTED) == {"tensor-object-has-no-attribute-name", "map-func-must-return-a-dataset-object",
                           "takes-1-positional-argument-but-2-were-given",
                           "expected-str-bytes-or-os-pathlike-object-not-symbolictensor",
                           "endswith-first-arg-must-be-bytes"}
    text = PAGE.read_text(encoding="utf-8")
    for _, anchor, _ in entries(PAGE):
        section = text.split(f"{{ #{anchor} }}", 1)[1].split("\n## ", 1)[0]
        assert "Seen in: [" in section, anchor
