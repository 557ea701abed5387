from collections import Counter

import pytest

from recipes.determinism import epochs, nondeterministic_by_default, shuffled, with_straggler


def values(ds):
    return [int(x) for x in ds]


def test_deterministic_order_is_round_robin_despite_the_straggler():
    assert values(with_straggler(deterministic=True)) == [0, 3, 6, 1, 4, 7, 2, 5, 8]
    assert values(with_straggler(deterministic=True)) == [0, 3, 6, 1, 4, 7, 2, 5, 8]


def test_without_determinism_same_elements_and_the_straggler_is_overtaken():
    free = values(with_straggler(deterministic=False, delay_s=0.2))
    assert Counter(free) == Counter(range(9))
    assert free[0] != 0, "with 0.2 s per element, a fast shard's element comes first"


def test_explicit_argument_beats_the_option():
    relaxed = values(nondeterministic_by_default(with_straggler(delay_s=0.2)))
    assert Counter(relaxed) == Counter(range(9)) and relaxed[0] != 0
    pinned = values(nondeterministic_by_default(with_straggler(deterministic=True)))
    assert pinned == [0, 3, 6, 1, 4, 7, 2, 5, 8]


def test_seeded_shuffle_repeats_across_runs_and_differs_across_epochs():
    a = epochs(shuffled(num_elements=20, seed=3, buffer_size=20), 3)
    b = epochs(shuffled(num_elements=20, seed=3, buffer_size=20), 3)
    assert a == b
    assert all(sorted(e) == list(range(20)) for e in a)
    assert a[0] != a[1] != a[2]
    c = epochs(shuffled(num_elements=20, seed=4, buffer_size=20), 1)
    assert c[0] != a[0]


def test_no_reshuffle_keeps_one_order():
    a = epochs(shuffled(num_elements=10, seed=1, reshuffle_each_iteration=False), 3)
    assert a[0] == a[1] == a[2] and sorted(a[0]) == list(range(10))


@pytest.mark.parametrize("kwargs, name", [({"num_shards": 0}, "num_shards"), ({"per_shard": -1}, "per_shard")])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        with_straggler(**kwargs)
