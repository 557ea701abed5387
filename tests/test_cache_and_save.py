import os
import subprocess
import sys
import tempfile

import pytest
import tensorflow as tf

from recipes.cache_and_save import (
    CountingSource,
    file_cache_runs,
    memory_cache_epochs,
    save_then_load,
    values,
)
from tests.pages import ROOT, clean_env

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
    with tempfile.TemporaryDirectory() as folder:
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
    with tempfile.TemporaryDirectory() as folder:
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


def _epochs(dataset, n):
    return [values(dataset) for _ in range(n)]


def test_cache_before_take_runs_the_generator_every_epoch():
    wrong, right = CountingSource(5), CountingSource(5)
    assert _epochs(wrong.dataset().cache().take(2), 3) == [EXPECTED[:2]] * 3
    assert _epochs(right.dataset().take(2).cache(), 3) == [EXPECTED[:2]] * 3
    assert (wrong.produced, right.produced) == (6, 2)


def test_partial_cache_logs_the_take_cache_warning():
    code = (
        "import tensorflow as tf\n"
        "ds = tf.data.Dataset.range(5).cache().take(2)\n"
        "print([int(x) for x in ds])\n"
    )
    env = {**clean_env(), "TF_CPP_MIN_LOG_LEVEL": "0"}  # the warning is a C++ log line
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == "[0, 1]\n"
    assert "The calling iterator did not fully read the dataset being cached." in proc.stderr
    assert "You should use `dataset.take(k).cache().repeat()` instead." in proc.stderr


def test_second_writer_of_a_file_cache_fails():
    with tempfile.TemporaryDirectory() as folder:
        cached = tf.data.Dataset.range(5).cache(os.path.join(folder, "rows"))
        first = iter(cached)
        next(first)
        with pytest.raises(tf.errors.AlreadyExistsError,
                           match="There appears to be a concurrent caching iterator running"):
            next(iter(cached))
        del first


def test_snapshot_of_a_generator_is_written_again_for_every_new_dataset():
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "snap")
        source = CountingSource(4)
        for run in range(1, 3):
            assert values(source.dataset().snapshot(path)) == EXPECTED[:4]
            assert source.produced == 4 * run
        assert len(os.listdir(path)) == 2, "one fingerprint folder per dataset object"
        same = CountingSource(4)
        snapshotted = same.dataset().snapshot(os.path.join(folder, "same"))
        assert _epochs(snapshotted, 3) == [EXPECTED[:4]] * 3
        assert same.produced == 4, "the same dataset object reads its snapshot"


def test_snapshot_of_tensorflow_ops_is_found_by_a_new_dataset():
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "snap")
        for _ in range(2):
            assert values(tf.data.Dataset.range(4).map(lambda i: tf.cast(i, tf.float32) * 10).snapshot(path)) \
                == EXPECTED[:4]
        assert len(os.listdir(path)) == 1, "the same graph has the same fingerprint"


SNAPSHOT_RUN = """
import os
import sys
import tensorflow as tf
from recipes.cache_and_save import CountingSource, values

if sys.argv[2] == "shifted":  # one more py_func created first shifts the callback keys
    tf.data.Dataset.range(1).map(lambda x: tf.numpy_function(lambda v: v, [x], tf.int64))
source = CountingSource(4)
print(values(source.dataset().snapshot(sys.argv[1])), source.produced, len(os.listdir(sys.argv[1])))
"""


def test_snapshot_of_a_generator_is_found_only_if_the_callback_keys_match():
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "snap")
        runs = []
        for mode in ("same", "same", "shifted"):
            proc = subprocess.run([sys.executable, "-c", SNAPSHOT_RUN, path, mode], cwd=ROOT, env=clean_env(),
                                  capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0, proc.stderr[-2000:]
            runs.append(proc.stdout)
    assert runs == [
        "[0.0, 10.0, 20.0, 30.0] 4 1\n",  # writes the snapshot
        "[0.0, 10.0, 20.0, 30.0] 0 1\n",  # a fresh process, same keys: reads it
        "[0.0, 10.0, 20.0, 30.0] 4 2\n",  # another py_func first: new fingerprint, written again
    ]
