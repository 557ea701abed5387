"""Persisting a generator's output: each message is raised as the page quotes it; each fix works."""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from recipes.troubleshooting import persisting as t
from tests.troubleshooting.pages import FOLDER, entries, in_background, quoted

PAGE = FOLDER / "persisting.md"
QUOTED = quoted(PAGE)


def _snapshot_runs(folder):
    return t._snapshot_of_a_changed_generator_broken(str(folder))


def test_writer_takes_bytes_only(tmp_path):
    with pytest.raises(TypeError) as info:
        t._write_a_tensor_broken(str(tmp_path))
    lines = str(info.value).splitlines()
    assert f"TypeError: {lines[0]}" == QUOTED["write-incompatible-function-arguments"]
    assert lines[1].strip() == ("1. (self: tensorflow.python.lib.io._pywrap_record_io.RecordWriter, "
                                "record: str) -> None")
    assert t.bytes_for_the_writer_fixed(str(tmp_path)) == [[0.0, 0.5], [1.0, 1.5], [2.0, 2.5]]
    path = str(tmp_path / "strings.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        writer.write("é")  # a str is stored as its UTF-8 bytes
        writer.write(b"\x00\xff")
    assert [r.numpy() for r in tf.data.TFRecordDataset(path)] == [b"\xc3\xa9", b"\x00\xff"]


def test_tf_train_lists_take_bytes_and_flat_numbers():
    with pytest.raises(TypeError) as info:
        t._tensor_in_bytes_list_broken()
    assert f"TypeError: {info.value}" == QUOTED["expected-bytes-eagertensor-found"]
    for value, message in (("abc", "expected bytes, str found"), (np.str_("abc"), "expected bytes, numpy.str_ found")):
        with pytest.raises(TypeError, match=f"^{message}$"):
            tf.train.BytesList(value=[value])
    with pytest.raises(TypeError, match=r"has type ndarray, but expected one of: float$"):
        tf.train.FloatList(value=np.zeros((2, 2)))
    assert t.example_from_tensors_fixed() == ([0.0, 0.5], [0.0, 0.5], 2)


def test_parse_tensor_checks_the_written_dtype():
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        t._parse_with_another_dtype_broken()
    assert t.last_line(info.value) == QUOTED["type-mismatch-between-parsed-tensor-and-dtype"]
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        tf.io.parse_tensor(tf.io.serialize_tensor(tf.constant([1], tf.int64)), tf.int32)
    assert t.last_line(info.value) == (
        "InvalidArgumentError: Type mismatch between parsed tensor (int64) and dtype (int32)")
    assert t.parse_with_the_written_dtype_fixed() == ("float32", [0.0, 0.5])


def test_load_reads_the_files_only_when_iterated(tmp_path):
    with pytest.raises(tf.errors.NotFoundError) as info:
        t._load_from_a_deleted_folder_broken(str(tmp_path))
    assert t.last_line(info.value).replace(str(tmp_path), "/tmp/genpipe") == QUOTED["could-not-find-metadata-file"]
    with pytest.raises(tf.errors.NotFoundError) as info:
        tf.data.Dataset.load(str(tmp_path / "never-saved"))
    assert str(info.value).replace(str(tmp_path), "/tmp/genpipe") == (
        "tf.data snapshot element_spec file not found: /tmp/genpipe/never-saved/dataset_spec.pb.")
    spec, values = t.load_while_the_files_exist_fixed()
    assert spec == tf.TensorSpec((2,), tf.float32) and values == [[0.0, 0.5], [1.0, 1.5], [2.0, 2.5]]


SNAPSHOT_FOLDER = FOLDER.parent.parent.parent / "test-artifacts" / "snapshot-of-a-generator"
shutil.rmtree(SNAPSHOT_FOLDER, ignore_errors=True)
SNAPSHOT = in_background(_snapshot_runs, SNAPSHOT_FOLDER)  # two fresh interpreters, started now


def test_a_snapshot_of_a_generator_is_reused_after_the_generator_changed(tmp_path):
    try:
        assert SNAPSHOT.result() == ["[0, 1, 2]", "[0, 1, 2]"]  # the second run's generator yields 5
        assert len(os.listdir(SNAPSHOT_FOLDER)) == 1  # one fingerprint for both runs
    finally:
        shutil.rmtree(SNAPSHOT_FOLDER, ignore_errors=True)
    assert t.save_under_a_versioned_name_fixed(str(tmp_path)) == [[0, 1, 2], [0, 1, 2, 3, 4]]


def test_a_dataset_cannot_be_pickled_and_its_recipe_can():
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        t._pickle_a_dataset_broken()
    assert t.last_line(info.value) == QUOTED["cannot-convert-a-tensor-of-dtype-variant-to-a-numpy-array"]
    assert t.send_the_recipe_fixed() == [(2, 2), (1, 2)]


def test_every_message_entry_is_reproduced_and_every_entry_has_a_thread():
    assert set(QUOTED) == {"write-incompatible-function-arguments", "expected-bytes-eagertensor-found",
                           "type-mismatch-between-parsed-tensor-and-dtype", "could-not-find-metadata-file",
                           "cannot-convert-a-tensor-of-dtype-variant-to-a-numpy-array"}
    text = PAGE.read_text(encoding="utf-8")
    for _, anchor, _ in entries(PAGE):
        section = text.split(f"{{ #{anchor} }}", 1)[1].split("\n## ", 1)[0]
        assert "Seen in: [" in section, anchor
