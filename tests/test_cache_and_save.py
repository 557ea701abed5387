import logging
import os

import pytest
import tensorflow as tf

from recipes.cache_and_save import (
    CountingSource, file_cache_runs, memory_cache_epochs, save_then_load, scratch_folder, values,
)

EXPECTED = [0.0, 10.0, 20.0, 30.0, 40.0]


def test_without_cache_every_epoch_runs_the_generator():
    source = CountingSource(5)
    ds = source.dataset()
    assert values(ds) == values(ds) == EXPECTED
    assert source.produced == 10


def test_memory_cache_runs_the_generator_once():
    source = CountingSource(5)
    assert memory_cache_epochs(source, 4) == [EXPECTED] * 4
    assert source.produced == 5


def test_file_cache_survives_a_new_dataset_object():
    with scratch_folder() as folder:
        source = CountingSource(5)
        assert file_cache_runs(source, os.path.join(folder, "rows"), runs=3) == [EXPECTED] * 3
        assert source.produced == 5
        assert any(name.startswith("rows") for name in os.listdir(folder))
    assert not os.path.exists(folder)


def test_partial_epoch_leaves_no_cache():
    source = CountingSource(5)
    ds = source.dataset().cache()
    assert values(ds.take(2)) == EXPECTED[:2]
    assert values(ds) == EXPECTED
    assert source.produced == 2 + 5, "the partial first epoch was discarded"
    assert values(ds) == EXPECTED and source.produced == 7


def test_save_and_load_without_the_generator():
    with scratch_folder() as folder:
        source = CountingSource(5)
        spec, loaded = save_then_load(source, os.path.join(folder, "saved"))
        assert spec == tf.TensorSpec((), tf.float32)
        assert loaded == EXPECTED and source.produced == 5
        again = tf.data.Dataset.load(os.path.join(folder, "saved"))
        assert values(again) == EXPECTED and source.produced == 5


def test_empty_source_and_bad_arguments():
    assert memory_cache_epochs(CountingSource(0), 2) == [[], []]
    with pytest.raises(ValueError, match="num_records"):
        CountingSource(-1)


def test_missing_folders_are_rejected_before_any_work():
    source = CountingSource(3)
    with pytest.raises(ValueError, match="prefix"):
        file_cache_runs(source, "/nonexistent-folder/rows")
    with pytest.raises(ValueError, match="path"):
        save_then_load(source, "/nonexistent-folder/saved")
    assert source.produced == 0
