import textwrap
from collections import Counter

import pytest

from recipes.determinism import epochs, nondeterministic_by_default, shuffled, with_straggler
from tests.pages import ROOT, run_python


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


OP_DETERMINISM_PROBE = textwrap.dedent("""
    import threading
    import time

    import tensorflow as tf
    from recipes.determinism import with_straggler

    tf.config.experimental.enable_op_determinism()
    lock, running, peak = threading.Lock(), [0], [0]

    def busy(x):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return x

    def shard(i):
        for j in range(2):
            yield int(busy(i * 10 + j))

    def measure(dataset):
        peak[0] = 0
        return [int(x) for x in dataset], peak[0]

    spec = tf.TensorSpec((), tf.int64)
    print([int(x) for x in with_straggler(deterministic=False)])
    print(measure(tf.data.Dataset.range(4).interleave(
        lambda i: tf.data.Dataset.from_generator(shard, args=(i,), output_signature=spec),
        cycle_length=4, num_parallel_calls=4, deterministic=False)))
    print(measure(tf.data.Dataset.range(6).map(
        lambda x: tf.numpy_function(busy, [x], tf.int64), num_parallel_calls=3, deterministic=False)))
    slow_first = tf.data.Dataset.range(6).map(
        lambda x: tf.numpy_function(lambda v: time.sleep(0.2 if v == 0 else 0) or v, [x], tf.int64,
                                    stateful=False),
        num_parallel_calls=3, deterministic=False)
    print([int(x) for x in slow_first])
""")


def test_op_determinism_forces_order_and_serializes_python_stages():
    proc = run_python(["-c", OP_DETERMINISM_PROBE], cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == [
        "[0, 3, 6, 1, 4, 7, 2, 5, 8]",  # deterministic=False overridden: round robin despite the straggler
        "([0, 10, 20, 30, 1, 11, 21, 31], 1)",  # one generator body at a time
        "([0, 1, 2, 3, 4, 5], 1)",  # a stateful numpy_function map runs one call at a time
        "[0, 1, 2, 3, 4, 5]",  # a stateless map keeps input order despite the slow first element
    ]


def test_unseeded_shuffle_differs_between_runs_unless_a_global_seed_is_set():
    code = textwrap.dedent("""
        import tensorflow as tf
        print([int(x) for x in tf.data.Dataset.range(20).shuffle(20)])
        tf.random.set_seed(5)
        print([int(x) for x in tf.data.Dataset.range(20).shuffle(20)])
    """)
    runs = []
    for _ in range(2):
        proc = run_python(["-c", code], cwd=ROOT, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs.append(proc.stdout.splitlines())
    assert runs[0][0] != runs[1][0], "different in every run (1 in 20! to coincide)"
    assert runs[0][1] == runs[1][1], "tf.random.set_seed fixes the order"
