from collections import Counter

import numpy as np
import pytest
import tensorflow as tf

from recipes.variable_length import (
    PAD,
    bucketed,
    padded,
    padding_fraction,
    ragged,
    sequence_lengths,
    sequences,
)


def tokens(rows):
    return Counter(int(t) for row in rows for t in row if t != PAD)


def expected_tokens(n, max_length, seed):
    lengths = sequence_lengths(n, max_length, seed)
    return Counter({i + 1: length for i, length in enumerate(lengths)}), lengths


def test_source_lengths_and_values():
    seqs = list(sequences(6, 9, seed=3).as_numpy_iterator())
    assert [len(s) for s in seqs] == sequence_lengths(6, 9, 3)
    assert all(s.dtype == np.int32 and set(s.tolist()) == {i + 1} for i, s in enumerate(seqs))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_padded_batch_keeps_every_token_and_pads_to_the_longest(seed):
    want, lengths = expected_tokens(11, 10, seed)
    batches = list(padded(sequences(11, 10, seed), 4).as_numpy_iterator())
    assert [b.shape[0] for b in batches] == [4, 4, 3]
    for k, b in enumerate(batches):
        assert b.shape[1] == max(lengths[4 * k: 4 * k + 4])
    assert tokens(r for b in batches for r in b) == want


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bucketing_keeps_every_token_and_groups_lengths(seed):
    want, _ = expected_tokens(40, 10, seed)
    batches = list(bucketed(sequences(40, 10, seed), 4, boundaries=(4, 7)).as_numpy_iterator())
    assert tokens(r for b in batches for r in b) == want
    assert sum(b.shape[0] for b in batches) == 40
    for b in batches:
        lengths = [int(np.sum(row != PAD)) for row in b]
        buckets = {0 if n < 4 else 1 if n < 7 else 2 for n in lengths}
        assert len(buckets) == 1, f"one bucket per batch, got lengths {lengths}"
    plain = list(padded(sequences(40, 10, seed), 4).as_numpy_iterator())
    assert padding_fraction(batches) < padding_fraction(plain)


def test_ragged_batch_has_no_padding():
    want, lengths = expected_tokens(7, 6, 5)
    batches = list(ragged(sequences(7, 6, 5), 3))
    assert all(isinstance(b, tf.RaggedTensor) for b in batches)
    assert [n for b in batches for n in b.row_lengths().numpy().tolist()] == lengths
    assert tokens(row for b in batches for row in b.to_list()) == want


def test_padding_fraction():
    assert padding_fraction([np.array([[1, 0], [2, 2]])]) == 0.25
    assert padding_fraction([]) == 0.0


@pytest.mark.parametrize("kwargs", [{"num_sequences": 0}, {"max_length": -3}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        sequences(**kwargs)


def test_bucketing_changes_the_order_padding_keeps_it():
    def ids(batches):  # every token of sequence k is k
        return [int(row[row != PAD][0]) for b in batches for row in b]

    bucketed_ids = ids(bucketed(sequences(40, 10, 0), 4, boundaries=(4, 7)).as_numpy_iterator())
    padded_ids = ids(padded(sequences(40, 10, 0), 4).as_numpy_iterator())
    assert padded_ids == list(range(1, 41))
    assert sorted(bucketed_ids) == padded_ids and bucketed_ids != padded_ids
