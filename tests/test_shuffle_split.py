"""Shuffle and split: disjoint stable split, per-epoch order, and what the buffer costs."""

import pytest

from recipes import shuffle_split as s


@pytest.mark.parametrize("count, percent", [(100, 20), (57, 50), (10, 0)])
def test_split_is_disjoint_complete_and_stable(count, percent):
    train, validation = s.split_by_id(s.source(count), validation_percent=percent)
    t1, v1 = s.ids(train), s.ids(validation)
    assert not set(t1) & set(v1)
    assert sorted(t1 + v1) == list(range(count))
    assert (s.ids(train), s.ids(validation)) == (t1, v1)
    if percent == 0:
        assert v1 == []


def test_training_order_changes_every_epoch_content_does_not():
    train, _ = s.split_by_id(s.source(100))
    shuffled = s.shuffled_training(train, 32, seed=1)
    epochs = [s.ids(shuffled) for _ in range(3)]
    assert len({tuple(e) for e in epochs}) == 3
    assert all(sorted(e) == sorted(s.ids(train)) for e in epochs)


@pytest.mark.parametrize("buffer_size", [1, 2, 8, 32])
def test_no_record_moves_earlier_than_the_buffer_allows(buffer_size):
    for seed in (1, 2, 3):
        move = s.earliest_moves(60, buffer_size, seed=seed)
        assert move >= -(buffer_size - 1)
    if buffer_size == 1:
        assert s.ids(s.source(20).shuffle(1, seed=4)) == list(range(20))


@pytest.mark.parametrize("buffer_size", [1, 16, 40])
def test_buffer_is_filled_before_the_first_element(buffer_size):
    assert buffer_size <= s.reads_before_first_element(40, buffer_size) <= buffer_size + 1


def test_buffer_bytes():
    assert s.buffer_bytes(s.source(1), 10) == 10 * (8 + 16 * 4)


@pytest.mark.parametrize("count, percent", [(100, 20), (57, 50)])
def test_two_filters_read_the_source_twice_a_split_at_the_source_once(count, percent):
    assert s.generator_yields(count, at_source=False, validation_percent=percent) == (2 * count, count)
    assert s.generator_yields(count, at_source=True, validation_percent=percent) == (count, count)


@pytest.mark.parametrize("count, percent", [(100, 20), (57, 50), (10, 0)])
def test_split_at_the_source_is_disjoint_complete_and_stable(count, percent):
    train, validation = s.split_at_source(count, validation_percent=percent)
    t1, v1 = s.ids(train), s.ids(validation)
    assert not set(t1) & set(v1)
    assert sorted(t1 + v1) == list(range(count))
    assert (s.ids(train), s.ids(validation)) == (t1, v1)
    assert (v1 == []) == (percent == 0)
