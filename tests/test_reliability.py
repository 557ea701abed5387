"""Reliability: long runs, safety rules, and faults across the recipes.

Each long run iterates a recipe's pipeline for many epochs and checks that the
process's resident memory and thread count stay flat and that every
``from_generator`` generator object is released (the per-iterator Python
state ``from_generator`` keeps in its registry is dropped).
"""

import ast
import gc
import os
import tempfile
import threading
import weakref

import psutil
import pytest
import tensorflow as tf

from tests.pages import ROOT, parse_python

EPOCHS = 200
MAX_RSS_GROWTH = 50 * 2 ** 20


def _pipelines():
    from recipes import bad_input, interleave_and_map, interleave_files, parallel_map, sharded_generator

    with interleave_files.sample_files(num_files=3, rows_per_file=2) as paths:
        yield "interleave_files (generator loader)", interleave_files.interleaved_rows(
            paths, interleave_files.rows_with_generator), 6
        yield "interleave_files (tf ops)", interleave_files.interleaved_rows(
            paths, interleave_files.rows_with_tf_ops, deterministic=False), 6
    yield "parallel_map", parallel_map.augmented_batches(parallel_map.raw_batches(8, 4)), 2
    with interleave_and_map.labelled_files(num_files=3, rows_per_file=2) as paths:
        yield "interleave_and_map", interleave_and_map.separate(paths, batch_size=2), 6
    yield "sharded_generator", sharded_generator.sharded(12, 4, chunked=True, block_length=2), 12
    with bad_input.files_with_bad_ones() as paths:
        yield "bad_input (skip)", bad_input.rows_from_files(paths)[0], 9


PIPELINES = ["interleave_files (generator loader)", "interleave_files (tf ops)", "parallel_map",
             "interleave_and_map", "sharded_generator", "bad_input (skip)"]


def test_every_long_run_pipeline_is_named():
    assert [name for name, _, _ in _pipelines()] == PIPELINES


@pytest.mark.timeout(600)
@pytest.mark.parametrize("pipeline", PIPELINES)
def test_many_epochs_keep_memory_threads_and_generators_flat(pipeline):
    """One pipeline per test, so that the long runs spread over the workers."""
    process = psutil.Process()
    for name, dataset, per_epoch in _pipelines():
        if name != pipeline:
            continue
        for _ in range(20):  # warm up: thread pools, tracing, allocator
            assert sum(1 for _ in dataset) == per_epoch
        gc.collect()
        rss, threads = process.memory_info().rss, threading.active_count()
        os_threads = process.num_threads()
        for _ in range(EPOCHS):
            assert sum(1 for _ in dataset) == per_epoch, name
        gc.collect()
        growth = process.memory_info().rss - rss
        assert growth < MAX_RSS_GROWTH, f"{name}: resident memory grew {growth / 2**20:.1f} MB"
        assert threading.active_count() <= threads, f"{name}: Python threads grew"
        grown = process.num_threads() - os_threads
        assert grown <= 4, f"{name}: OS threads grew by {grown}"


def test_from_generator_releases_every_generator():
    made = []

    def generate():
        def gen():
            yield from range(3)
        g = gen()
        made.append(weakref.ref(g))
        return g

    dataset = tf.data.Dataset.from_generator(generate, output_signature=tf.TensorSpec((), tf.int64))
    for epoch in range(EPOCHS):
        if epoch % 2:
            assert [int(x) for x in dataset] == [0, 1, 2]
        else:
            assert len(list(dataset.take(1))) == 1  # stopped early
    gc.collect()
    assert len(made) == EPOCHS
    assert sum(ref() is not None for ref in made) == 0, "generators kept alive after their iterators"


def test_every_npy_read_refuses_pickles():
    for path in (ROOT / "recipes").rglob("*.py"):
        for node in ast.walk(parse_python(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "load" \
                    and getattr(node.func.value, "id", "") == "np":
                kwargs = {k.arg: k.value for k in node.keywords}
                assert "allow_pickle" in kwargs and kwargs["allow_pickle"].value is False, \
                    f"{path.name}:{node.lineno}: np.load without allow_pickle=False"


def test_temporary_folders_are_private_and_removed():
    from recipes import bad_input, interleave_and_map, interleave_files
    makers = [interleave_files.sample_files, interleave_and_map.labelled_files, bad_input.files_with_bad_ones,
              tempfile.TemporaryDirectory]
    for make in makers:
        with make() as made:
            folder = made if isinstance(made, str) else os.path.dirname(made[0])
            assert os.stat(folder).st_mode & 0o077 == 0, f"{make.__name__}: folder readable by others"
        assert not os.path.exists(folder), f"{make.__name__}: folder left behind"


def test_dependencies_are_pinned():
    for name in ("requirements.txt", "requirements-bench.txt"):
        for line in (ROOT / name).read_text().splitlines():
            line = line.strip()
            if line and not line.startswith(("#", "-r")):
                assert "==" in line, f"{name}: {line!r} is not pinned"


@pytest.mark.timeout(120)
def test_file_disappearing_between_listing_and_reading_is_reported():
    from recipes.bad_input import files_with_bad_ones, rows_from_files

    with files_with_bad_ones() as paths:
        dataset, report = rows_from_files(paths, on_error="skip", cycle_length=1)
        os.remove(paths[2])  # a good file, listed, then gone before the pipeline reads it
        rows = sorted(int(r[0]) for r in dataset)
    assert rows == [0, 1, 2, 50, 51, 52]
    assert sorted(name for name, _ in report.bad) == [
        "part-1-missing.npy", "part-2-good.npy", "part-3-truncated.npy", "part-4-garbage.npy"]


def _dies_on_5(i):
    if i == 5:
        os._exit(3)  # the worker process dies, as with an OOM kill
    return i


@pytest.mark.timeout(120)
def test_a_dying_pool_worker_stops_the_pipeline_with_an_error_and_no_hang():
    from recipes.process_pool import pooled_dataset, segments_left

    with pytest.raises(tf.errors.OpError) as info:
        list(pooled_dataset(_dies_on_5, range(40), tf.TensorSpec((), tf.int64), batch_size=4, workers=2))
    assert "WorkerDiedError" in info.value.message and "(exit code 3)" in info.value.message
    assert segments_left() == []


@pytest.mark.timeout(120)
def test_a_straggler_shard_delays_but_does_not_lose_or_duplicate():
    from recipes.determinism import with_straggler

    for deterministic in (True, False):
        got = sorted(int(x) for x in with_straggler(num_shards=4, per_shard=3, delay_s=0.05,
                                                    deterministic=deterministic))
        assert got == list(range(12))


def test_guarantees_page_names_only_tests_that_exist():
    import re

    page = (ROOT / "docs" / "reference" / "guarantees.md").read_text()
    refs = re.findall(r"`(tests/test_\w+\.py)::(test_\w+)`", page)
    assert len(refs) >= 25
    for path, name in refs:
        tree = parse_python((ROOT / path).read_text())
        names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert name in names, f"guarantees.md names {path}::{name}, which does not exist"
