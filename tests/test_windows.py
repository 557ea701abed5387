"""Windows from a generator: what window gives, sliding windows, Keras' utility, regrouping batches."""

from collections import Counter

import numpy as np
import pytest
import tensorflow as tf

from recipes import windows as w


def values(dataset):
    return [np.asarray(x).tolist() for x in dataset.as_numpy_iterator()]


def test_window_elements_are_datasets_with_a_short_last_window():
    windowed = w.series(7).window(3, shift=2)
    assert isinstance(windowed.element_spec, tf.data.DatasetSpec)
    elements = list(windowed)
    assert all(isinstance(e, tf.data.Dataset) for e in elements)
    assert [values(e) for e in elements] == [[0, 1, 2], [2, 3, 4], [4, 5, 6], [6]]
    assert [values(e) for e in w.series(7).window(3, shift=2, drop_remainder=True)] == [[0, 1, 2], [2, 3, 4], [4, 5, 6]]


def test_a_window_is_not_a_tensor():
    windowed = w.series(7).window(3)
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for \+: '_VariantDataset' and 'int'"):
        windowed.map(lambda x: x + 1)
    with pytest.raises(AttributeError, match="'_VariantDataset' object has no attribute 'numpy'"):
        next(iter(windowed)).numpy()


def test_keras_fit_refuses_windows_that_are_datasets():
    model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    windowed = w.series(8).window(3, drop_remainder=True).map(lambda x: (x, x))
    with pytest.raises(ValueError, match="Only input tensors may be passed as positional arguments"):
        model.fit(windowed, epochs=1, verbose=0)


@pytest.mark.parametrize("count, size, shift", [(6, 3, 1), (10, 4, 2), (10, 3, 3), (2, 3, 1), (5, 5, 1)])
def test_sliding_windows_are_exact_and_have_a_static_shape(count, size, shift):
    windows = w.sliding_windows(w.series(count), size, shift)
    assert windows.element_spec == tf.TensorSpec((size,), tf.float32)
    want = [list(range(s, s + size)) for s in range(0, count - size + 1, shift)]
    assert values(windows) == want


def test_windows_over_pairs_keep_x_and_y_aligned():
    windows = w.sliding_windows(w.labelled(5), 3)
    assert windows.element_spec == (tf.TensorSpec((3,), tf.float32), tf.TensorSpec((3,), tf.int32))
    assert [(x.tolist(), y.tolist()) for x, y in windows.as_numpy_iterator()] == [
        ([0, 1, 2], [0, 10, 20]), ([1, 2, 3], [10, 20, 30]), ([2, 3, 4], [20, 30, 40])]
    labelled = w.labelled_by_last(w.labelled(5), 3)
    assert [(x.tolist(), int(y)) for x, y in labelled.as_numpy_iterator()] == [
        ([0, 1, 2], 20), ([1, 2, 3], 30), ([2, 3, 4], 40)]


def test_windows_over_dicts_keep_their_keys():
    records = tf.data.Dataset.from_tensor_slices({"a": np.arange(5), "b": 10 * np.arange(5)})
    windows = list(w.sliding_windows(records, 2, shift=2).as_numpy_iterator())
    assert [{k: v.tolist() for k, v in x.items()} for x in windows] == [
        {"a": [0, 1], "b": [0, 10]}, {"a": [2, 3], "b": [20, 30]}]


def test_next_step_pairs_target_the_following_reading():
    pairs = w.next_step_pairs(w.series(6), 3)
    assert pairs.element_spec == (tf.TensorSpec((3,), tf.float32), tf.TensorSpec((), tf.float32))
    assert [(x.tolist(), float(y)) for x, y in pairs.as_numpy_iterator()] == [
        ([0, 1, 2], 3), ([1, 2, 3], 4), ([2, 3, 4], 5)]


def test_windows_within_never_span_two_sequences():
    lengths = [5, 2, 4]

    def sequences():
        start = 0
        for n in lengths:
            yield np.arange(start, start + n, dtype=np.float32)
            start += 100

    source = tf.data.Dataset.from_generator(sequences, output_signature=tf.TensorSpec((None,), tf.float32))
    within = values(w.windows_within(source, 3))
    assert within == [[0, 1, 2], [1, 2, 3], [2, 3, 4], [200, 201, 202], [201, 202, 203]]
    flat = values(w.sliding_windows(source.unbatch(), 3))
    assert [0, 100, 101] not in within and [4, 100, 101] in flat  # windowing the joined stream mixes them


@pytest.mark.parametrize("count, size, batch_size", [(50, 10, 16), (20, 3, 7), (9, 9, 4)])
def test_same_windows_as_timeseries_dataset_from_array(count, size, batch_size):
    ours = np.stack(list(w.sliding_windows(w.series(count), size).as_numpy_iterator()))
    keras = w.keras_windows(np.arange(count, dtype=np.float32), size, batch_size)
    batches = list(keras.as_numpy_iterator())
    assert keras.element_spec == tf.TensorSpec((None, None), tf.float32)
    assert [len(b) for b in batches][:-1] == [batch_size] * (len(batches) - 1)
    assert np.array_equal(ours, np.concatenate(batches))


def test_timeseries_dataset_from_array_wants_an_array_not_a_dataset():
    with pytest.raises(TypeError, match=r"^The dataset length is unknown\.$"):
        tf.keras.utils.timeseries_dataset_from_array(w.series(10), None, sequence_length=3)


@pytest.mark.parametrize("count, chunk, batch_size", [(10, 4, 3), (12, 5, 4), (7, 7, 2)])
def test_rebatching_regroups_a_generator_that_yields_batches(count, chunk, batch_size):
    source = w.chunked(count, chunk)
    assert [len(c) for c in source.as_numpy_iterator()] == [min(chunk, count - s) for s in range(0, count, chunk)]
    out = values(w.rebatched(source, batch_size))
    assert out == [list(range(s, min(s + batch_size, count))) for s in range(0, count, batch_size)]
    assert values(source.rebatch(batch_size)) == out


def test_shuffling_between_unbatch_and_batch_mixes_the_generator_batches():
    source = w.chunked(40, 8)
    batches = values(w.rebatched(source, 8, shuffle_buffer=40, seed=3))
    assert Counter(v for b in batches for v in b) == Counter(range(40))
    assert any(len({int(v) // 8 for v in b}) > 1 for b in batches)
    assert values(w.rebatched(source, 8, shuffle_buffer=40, seed=3)) == batches  # seeded: same order


def test_a_generator_that_yields_windows_needs_only_unbatch_and_batch():
    def window_batches():  # a generator that already yields windows, 2 at a time
        for start in (0, 2):
            yield np.stack([np.arange(s, s + 3, dtype=np.float32) for s in (start, start + 1)])

    source = tf.data.Dataset.from_generator(window_batches, output_signature=tf.TensorSpec((None, 3), tf.float32))
    regrouped = w.rebatched(source, 3)
    assert regrouped.element_spec == tf.TensorSpec((None, 3), tf.float32)
    assert values(regrouped) == [[[0, 1, 2], [1, 2, 3], [2, 3, 4]], [[3, 4, 5]]]
