"""Is my training input-bound? The verdict for sources and steps whose answer is known.

The slow side sleeps 200 ms per batch while the fast side needs a few milliseconds,
so the verdicts hold on a loaded machine (sleeping does not need a free core).
"""

import numpy as np
import tensorflow as tf

from recipes import input_bound as ib


def test_slow_generator_is_input_bound():
    result = ib.diagnose(ib.keras_step(), ib.slow_source(0.2), batches=5)
    assert result["verdict"] == "input-bound"
    assert result["pipeline_alone"] >= 0.2


def test_slow_step_is_not_input_bound():
    result = ib.diagnose(ib.slow_step(0.2), ib.fast_source(), batches=5)
    assert result["verdict"] == "not input-bound"
    assert result["step_alone"] >= 0.2 and result["together"] >= 0.2


def test_prefetch_does_not_hide_a_source_slower_than_the_step():
    prefetched = ib.slow_source(0.2).prefetch(tf.data.AUTOTUNE)
    assert ib.diagnose(ib.keras_step(), prefetched, batches=5)["verdict"] == "input-bound"


def test_step_alone_reads_one_batch():
    read = []

    def counted():
        for i in range(100):
            read.append(i)
            yield np.zeros((8, 2), np.float32), np.zeros(8, np.float32)

    dataset = tf.data.Dataset.from_generator(counted, output_signature=ib.BATCH)
    calls = []
    ib.step_alone(lambda x, y: calls.append(x.shape[0]), dataset, batches=7)
    assert calls == [8] * 8  # a warm-up call and 7 timed calls, all on the same batch
    assert len(read) <= 2  # the first batch (and at most one read ahead)
