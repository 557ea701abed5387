from collections import Counter

import pytest

from recipes.sharded_generator import ELEMENT_SPEC, read_shard, shard_of, sharded


def values(dataset):
    return [int(x) for x in dataset.as_numpy_iterator()]


@pytest.mark.parametrize("total", [0, 1, 7, 30])
@pytest.mark.parametrize("k", [1, 2, 3, 16])
@pytest.mark.parametrize("block", [1, 4])
def test_shards_partition_the_source(total, k, block):
    shards = [list(read_shard(j, k, total, block, 0.0, False)) for j in range(k)]
    chunks = [[list(c) for c in read_shard(j, k, total, block, 0.0, True)] for j in range(k)]
    assert [[i for c in shard for i in c] for shard in chunks] == shards
    assert all(len(c) == block for shard in chunks for c in shard[:-1])
    union = Counter(i for shard in shards for i in shard)
    assert union == Counter(range(total)), "every element in exactly one shard"
    for j, shard in enumerate(shards):
        assert all(shard_of(i, k, block) == j for i in shard)


@pytest.mark.parametrize("total, k, block", [(0, 2, 1), (10, 3, 1), (10, 3, 2), (31, 16, 1), (31, 4, 5)])
@pytest.mark.parametrize("chunked", [False, True])
def test_deterministic_merge_is_the_serial_order(total, k, block, chunked):
    ds = sharded(total, k, block_length=block, chunked=chunked)
    assert ds.element_spec == ELEMENT_SPEC
    assert values(ds) == list(range(total))


@pytest.mark.parametrize("chunked", [False, True])
def test_nondeterministic_merge_delivers_each_element_once(chunked):
    got = values(sharded(64, 8, block_length=3, latency_s=0.0005, deterministic=False,
                         private_threads=8, chunked=chunked))
    assert Counter(got) == Counter(range(64))


def test_private_thread_pool_changes_nothing_but_speed():
    assert values(sharded(20, 4, private_threads=4)) == list(range(20))
    opts = sharded(5, 2, private_threads=6).options()
    assert opts.threading.private_threadpool_size == 6


@pytest.mark.parametrize("kwargs, name", [
    ({"total": -1, "num_shards": 2}, "total"),
    ({"total": 5, "num_shards": 0}, "num_shards"),
    ({"total": 5, "num_shards": 2, "block_length": 0}, "block_length"),
    ({"total": 5, "num_shards": 2.0}, "num_shards"),
    ({"total": 5, "num_shards": 2, "latency_s": -0.1}, "latency_s"),
])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        sharded(**kwargs)
