"""Mixing and balancing: sample_from_datasets, choose_from_datasets, zip, concatenate, resampling."""

from collections import Counter

import numpy as np
import pytest
import tensorflow as tf

from recipes import mixing as m
from tests.pages import ROOT, run_python

BIG, SMALL = tf.data.Dataset.range(10), tf.data.Dataset.range(100, 103)


def ints(dataset):
    return [int(x) for x in dataset]


def counted_source(label, count, starts):
    """``class_source`` whose generator records each time it is started."""
    def examples(label, count):
        starts.append(int(label))
        yield from m.class_examples(label, count)

    return tf.data.Dataset.from_generator(examples, args=(label, count), output_signature=m.EXAMPLE)


def test_sample_from_datasets_goes_on_without_an_emptied_dataset_by_default():
    out = ints(tf.data.Dataset.sample_from_datasets([BIG, SMALL], seed=1))
    assert out == [100, 0, 1, 2, 3, 4, 101, 102, 5, 6, 7, 8, 9]
    stopped = ints(tf.data.Dataset.sample_from_datasets([BIG, SMALL], seed=1, stop_on_empty_dataset=True))
    assert stopped == [100, 0, 1, 2, 3, 4, 101, 102]


def sampled_both_ways(seed):
    """(output with stop_on_empty_dataset=False, output with True), same weights and seed."""
    def run(stop):
        return ints(tf.data.Dataset.sample_from_datasets([BIG, SMALL], [0.7, 0.3], seed=seed,
                                                         stop_on_empty_dataset=stop))
    return run(False), run(True)


@pytest.mark.parametrize("seed", range(6))
def test_stop_on_empty_dataset_ends_where_the_sampler_first_picks_an_empty_dataset(seed):
    full, stopped = sampled_both_ways(seed)
    assert sorted(full) == list(range(10)) + [100, 101, 102]  # every element once, order kept per side
    assert [x for x in full if x < 100] == list(range(10)) and [x for x in full if x >= 100] == [100, 101, 102]
    assert stopped == full[:len(stopped)], "the same draws, cut short"
    exhausted = set(stopped) >= set(range(10)) or set(stopped) >= {100, 101, 102}
    assert exhausted, "it stops only after one side ran out"


def test_stop_on_empty_dataset_cuts_most_seeds_short():
    shorter = [len(stopped) < len(full) for full, stopped in map(sampled_both_ways, range(6))]
    assert shorter == [True, False, True, False, False, True]


def test_a_repeated_side_never_ends_without_stop_on_empty_dataset():
    endless = tf.data.Dataset.sample_from_datasets([BIG, SMALL.repeat()], seed=1)
    first = ints(endless.take(300))
    assert len(first) == 300 and sorted(x for x in first if x < 100) == list(range(10))
    last_big = max(i for i, x in enumerate(first) if x < 100)
    assert set(first[last_big + 1:]) == {100, 101, 102}  # after the big side ran out, only the repeated one


def test_sample_from_datasets_checks_weights_and_specs():
    with pytest.raises(ValueError, match=r"Invalid `weights`\. `weights` should have the same length as "
                                         r"`datasets` but got `len\(weights\)=1` vs\. `len\(datasets\)=2`\."):
        tf.data.Dataset.sample_from_datasets([BIG, SMALL], [0.5])
    floats = tf.data.Dataset.range(3).map(lambda x: tf.cast(x, tf.float32))
    with pytest.raises(TypeError, match=r"Invalid `datasets`\. `datasets` must have compatible element specs\."):
        tf.data.Dataset.sample_from_datasets([BIG, floats])


def test_choose_from_datasets_follows_the_order_and_stops_at_an_empty_choice():
    assert ints(m.alternating([BIG, SMALL])) == [0, 100, 1, 101, 2, 102, 3]
    choice = tf.data.Dataset.from_tensor_slices(tf.constant([0, 1, 1, 1, 1, 0, 0], tf.int64))
    assert ints(tf.data.Dataset.choose_from_datasets([BIG, SMALL], choice)) == [0, 100, 101, 102]
    assert ints(tf.data.Dataset.choose_from_datasets([BIG, SMALL], choice, stop_on_empty_dataset=False)) == [
        0, 100, 101, 102, 1, 2]


def test_choose_from_datasets_wants_int64_choices_in_range():
    with pytest.raises(TypeError, match=r"Invalid `choice_dataset`\. Elements of `choice_dataset` must be "
                                        r"scalar `tf\.int64` tensors but are TensorSpec\(shape=\(\), "
                                        r"dtype=tf\.int32, name=None\)\."):
        tf.data.Dataset.choose_from_datasets([BIG, SMALL], tf.data.Dataset.from_tensor_slices([0, 1]))
    out_of_range = tf.data.Dataset.from_tensor_slices(tf.constant([0, 2], tf.int64))
    with pytest.raises(tf.errors.InvalidArgumentError, match="Selector index out of range: 2 >= 2"):
        ints(tf.data.Dataset.choose_from_datasets([BIG, SMALL], out_of_range))


def test_zip_stops_at_the_shorter_and_a_repeated_side_fills_it():
    assert [(int(a), int(b)) for a, b in tf.data.Dataset.zip(BIG, SMALL)] == [(0, 100), (1, 101), (2, 102)]
    filled = [(int(a), int(b)) for a, b in tf.data.Dataset.zip(BIG, SMALL.repeat())]
    assert filled == [(i, 100 + i % 3) for i in range(10)]


def test_concatenate_keeps_the_order_and_needs_compatible_elements():
    assert ints(BIG.concatenate(SMALL)) == list(range(10)) + [100, 101, 102]
    floats = tf.data.Dataset.range(3).map(lambda x: tf.cast(x, tf.float32))
    with pytest.raises(TypeError, match=r"Incompatible dataset elements:\n  TensorSpec\(shape=\(\), "
                                        r"dtype=tf\.int64, name=None\) vs\.   TensorSpec\(shape=\(\), "
                                        r"dtype=tf\.float32, name=None\)"):
        BIG.concatenate(floats)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_oversampling_keeps_every_majority_record_once_and_reads_each_source_once(seed):
    starts = []
    majority, minority = counted_source(0, 90, starts), counted_source(1, 10, starts)
    out = list(m.oversampled(majority, minority, seed=seed).as_numpy_iterator())
    ids = Counter(int(i) for i, _ in out)
    assert sorted(i for i in ids if i < 1000) == list(range(90)) and all(ids[i] == 1 for i in range(90))
    assert set(i for i in ids if i >= 1000) <= set(range(1000, 1010))
    assert sum(1 for _, label in out if label == 1) > 40  # far above the 10 of the source
    assert int(out[-1][1]) == 0 or len(out) > 90  # the epoch ends with the majority
    assert sorted(starts) == [0, 1], "the cache keeps the minority's generator to one pass"


def test_oversampling_counts_are_fixed_by_the_seed():
    assert m.label_counts(m.oversampled(m.class_source(0, 90), m.class_source(1, 10), seed=1)) == {0: 90, 1: 74}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_undersampling_uses_each_record_at_most_once_and_every_minority_record(seed):
    out = list(m.undersampled(m.class_source(0, 90), m.class_source(1, 10), seed=seed).as_numpy_iterator())
    ids = [int(i) for i, _ in out]
    assert len(ids) == len(set(ids))
    assert {i for i in ids if i >= 1000} == set(range(1000, 1010))
    assert sum(1 for i in ids if i < 1000) < 90


def test_undersampling_counts_are_fixed_by_the_seed():
    assert m.label_counts(m.undersampled(m.class_source(0, 90), m.class_source(1, 10), seed=1)) == {0: 17, 1: 10}


def test_by_class_reads_the_whole_stream_once_per_class():
    starts = []

    def stream():
        starts.append(1)
        yield from m.mixed_examples(100, 10)

    source = tf.data.Dataset.from_generator(stream, output_signature=m.EXAMPLE)
    negatives, positives = m.by_class(source, 2)
    assert m.label_counts(negatives) == {0: 90} and m.label_counts(positives) == {1: 10}
    assert len(starts) == 2


@pytest.mark.parametrize("initial, passes", [([0.9, 0.1], 2), (None, 5)])
def test_rejection_resample_reads_the_generator_again_and_repeats_records(initial, passes):
    starts = []

    def stream():
        starts.append(1)
        yield from m.mixed_examples(1000, 10)

    source = tf.data.Dataset.from_generator(stream, output_signature=m.EXAMPLE)
    out = list(m.resampled(source, [0.5, 0.5], initial=initial, seed=2).as_numpy_iterator())
    ids = Counter(int(i) for i, _ in out)
    counts = Counter(int(label) for _, label in out)
    assert len(starts) == passes
    assert {i for i in ids if i % 10 == 0} == set(range(0, 1000, 10))  # every positive
    assert counts[1] > 100 and max(ids.values()) == 2  # so some positives come twice
    assert abs(counts[0] - counts[1]) < 0.2 * len(out)
    assert len(out) < 300  # most negatives are dropped


def test_rejection_resample_counts_are_fixed_by_the_seed():
    assert m.label_counts(m.resampled(m.mixed_source(1000), [0.5, 0.5], [0.9, 0.1], seed=2)) == {0: 112, 1: 113}
    assert m.label_counts(m.resampled(m.mixed_source(1000), [0.5, 0.5], seed=2)) == {0: 130, 1: 115}


def test_rejection_resample_logs_that_it_rejects_many(tmp_path):
    code = ("import tensorflow as tf\nfrom recipes import mixing as m\n"
            "print(m.label_counts(m.resampled(m.mixed_source(1000), [0.5, 0.5], [0.9, 0.1], seed=2)))\n")
    proc = run_python(["-c", code], cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == "{0: 112, 1: 113}\n"
    assert "Proportion of examples rejected by sampler is high: [0.9][0.9 0.1][0 1]" in proc.stderr


def test_label_counts():
    assert m.label_counts(m.class_source(2, 3).concatenate(m.class_source(0, 1))) == {0: 1, 2: 3}
    assert np.array_equal([int(i) for i, _ in m.class_source(1, 3)], [1000, 1001, 1002])
