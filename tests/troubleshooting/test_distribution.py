"""Distribution, sharding and streams: each message is raised or logged as the page quotes it."""

import re

import pytest
import tensorflow as tf

from recipes.troubleshooting import distribution as t
from tests.troubleshooting.pages import FOLDER, entries, in_background, normalise, quoted

PAGE = FOLDER / "distribution.md"
QUOTED = quoted(PAGE)
STRATEGY = in_background(t._generator_under_a_strategy_broken)  # a fresh interpreter: start it now


def test_generator_on_a_remote_worker():
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        t._generator_on_remote_worker_broken()
    line = t.last_line(info.value)
    assert re.fullmatch(r"ValueError: Could not find callback with key=pyfunc_\d+ in the registry\.", line)
    assert normalise(line) == normalise(QUOTED["could-not-find-callback-with-key-pyfunc-in-the-registry"])
    assert t.tf_ops_on_remote_worker_fixed() == [0, 1, 2]


def test_generator_under_a_strategy_logs_the_quoted_warning_and_delivers_everything_once():
    warnings, (whole, per_pipeline) = STRATEGY.result()
    assert warnings == [QUOTED["input-of-generatordatasetop-will-not-be-optimized"]]
    assert whole == per_pipeline == list(range(8))


_REBATCH = """\
import json
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
dataset = tf.data.Dataset.from_generator(
    lambda: iter(range(8)), output_signature=tf.TensorSpec((), tf.int64)).batch(4)
print(json.dumps([[[int(v) for v in replica.numpy()] for replica in strategy.experimental_local_results(batch)]
                  for batch in strategy.experimental_distribute_dataset(dataset)]))
"""


def _rebatched_under_a_strategy():
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "1"}
    proc = subprocess.run([sys.executable, "-c", _REBATCH], capture_output=True, text=True,
                          env=env, timeout=300, check=True)
    return proc.stderr, json.loads(proc.stdout)


REBATCH = in_background(_rebatched_under_a_strategy)


def test_stages_after_the_generator_are_still_rebatched_per_replica():
    log, steps = REBATCH.result()
    assert QUOTED["input-of-generatordatasetop-will-not-be-optimized"] in log  # the warning is printed ...
    assert steps == [[[0, 1], [2, 3]], [[4, 5], [6, 7]]]  # ... and batch(4) still becomes 2 per replica


def test_shard_after_the_generator_makes_the_source_produce_everything():
    assert t._shard_after_generator_broken(num_workers=4, count=40) == (10, 40)
    assert t.shard_inside_the_generator_fixed(num_workers=4, count=40) == (10, 10)


def test_a_queue_without_end_marker_never_ends_the_epoch():
    received, still_waiting = t._queue_without_end_broken(wait_seconds=2.0)
    assert received == [0, 1, 2] and still_waiting
    assert t.queue_with_end_marker_fixed() == [0, 1, 2]


def test_every_message_entry_is_reproduced_and_every_entry_has_a_thread():
    assert set(QUOTED) == {"could-not-find-callback-with-key-pyfunc-in-the-registry",
                           "input-of-generatordatasetop-will-not-be-optimized"}
    text = PAGE.read_text(encoding="utf-8")
    for _, anchor, _ in entries(PAGE):
        section = text.split(f"{{ #{anchor} }}", 1)[1].split("\n## ", 1)[0]
        assert "Seen in: [" in section, anchor
