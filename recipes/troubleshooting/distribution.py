"""Troubleshooting, distribution: sharding, strategies, services and streaming sources.

Each private ``_*_broken`` function triggers one message exactly as TensorFlow
2.21 raises or logs it, or shows a silent problem; the public function next to
it does the same job the right way. Run ``python distribution.py`` to see every message and every fix. Needs
only the standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import contextlib
import json
import os
import queue
import re
import subprocess
import sys
import threading

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf

INT = tf.TensorSpec(shape=(), dtype=tf.int64)
# --8<-- [end:setup]


# --8<-- [start:registry_broken]
_WORKER = (
    "import os, sys; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'; import tensorflow as tf; "
    "s = tf.data.experimental.service; "
    "w = s.WorkerServer(s.WorkerConfig(dispatcher_address=sys.argv[1])); "
    "print('ready', flush=True); w.join()"
)


@contextlib.contextmanager
def _dispatcher_and_remote_worker():
    """A dispatcher in this process and one worker in *another* process."""
    import subprocess
    import sys

    dispatcher = tf.data.experimental.service.DispatchServer()
    address = dispatcher.target.split("://")[1]
    worker = subprocess.Popen([sys.executable, "-c", _WORKER, address],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert worker.stdout.readline().strip() == "ready"
        yield dispatcher.target
    finally:
        worker.kill()
        worker.wait()
        worker.stdout.close()


def _generator_on_remote_worker_broken():
    """Sends a from_generator pipeline to a worker in another process."""
    with _dispatcher_and_remote_worker() as target:
        dataset = tf.data.Dataset.from_generator(
            lambda: iter(range(3)), output_signature=tf.TensorSpec(shape=(), dtype=tf.int64))
        dataset = dataset.apply(tf.data.experimental.service.distribute("parallel_epochs", target))
        return list(dataset)
# --8<-- [end:registry_broken]


# --8<-- [start:registry_fixed]
def tf_ops_on_remote_worker_fixed():
    """The same elements from TensorFlow ops only: the worker can run them."""
    with _dispatcher_and_remote_worker() as target:
        dataset = tf.data.Dataset.range(3)
        dataset = dataset.apply(tf.data.experimental.service.distribute("parallel_epochs", target))
        return sorted(int(x) for x in dataset)
# --8<-- [end:registry_fixed]



# --8<-- [start:strategy_broken]
_MIRRORED = """\
import json
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])  # two replicas

def pipeline(batch_size):
    return tf.data.Dataset.from_generator(lambda: iter(range(8)),
                                          output_signature=tf.TensorSpec((), tf.int64)).batch(batch_size)

def values(distributed):
    return sorted(int(v) for batch in distributed
                  for replica in strategy.experimental_local_results(batch) for v in replica)

whole = strategy.experimental_distribute_dataset(pipeline(4))
per_pipeline = strategy.distribute_datasets_from_function(
    lambda context: pipeline(context.get_per_replica_batch_size(4)))
print(json.dumps([values(whole), values(per_pipeline)]))
"""


def _generator_under_a_strategy_broken():
    """A from_generator pipeline given to MirroredStrategy; returns its log and what arrived."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "1"}  # 1 shows warnings
    proc = subprocess.run([sys.executable, "-c", _MIRRORED], capture_output=True, text=True,
                          env=env, timeout=300, check=True)
    warnings = sorted({re.sub(r"^W\d{4} [\d:.]+\s+\d+ \S+:\d+\] ", "", line)
                       for line in proc.stderr.splitlines() if re.match(r"^W\d{4} ", line)})
    return warnings, json.loads(proc.stdout)
# --8<-- [end:strategy_broken]


# --8<-- [start:queue_broken]
def _stream(source):
    while True:  # a consumer that waits for the next message, forever
        yield source.get()


def _queue_without_end_broken(wait_seconds=2.0):
    """The producer is done, but the generator waits on ``get()``: the epoch never ends."""
    source = queue.Queue()
    for i in range(3):
        source.put(i)
    dataset = tf.data.Dataset.from_generator(lambda: _stream(source), output_signature=INT)
    received = []

    def read():
        with contextlib.suppress(tf.errors.OpError):  # the None put below ends it with an error
            received.extend(int(x) for x in dataset)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(wait_seconds)
    still_waiting = reader.is_alive()
    source.put(None)  # unblock the generator so the thread can end (and this demo returns)
    return received, still_waiting
# --8<-- [end:queue_broken]


# --8<-- [start:queue_fixed]
END = object()  # the producer puts this after its last item


def stream_until_end(source, timeout=60.0):
    """Yield items until the end marker; fail instead of hanging if the producer dies."""
    while True:
        item = source.get(timeout=timeout)  # raises queue.Empty after `timeout` seconds
        if item is END:
            return
        yield item


def queue_with_end_marker_fixed():
    """The producer marks the end, so the epoch ends."""
    source = queue.Queue()
    for i in range(3):
        source.put(i)
    source.put(END)
    dataset = tf.data.Dataset.from_generator(lambda: stream_until_end(source, timeout=5), output_signature=INT)
    return [int(x) for x in dataset]
# --8<-- [end:queue_fixed]


# --8<-- [start:shard_broken]
def _records(read, count):
    for i in range(count):
        read.append(i)  # count what the source had to produce
        yield i


def _shard_after_generator_broken(num_workers=4, count=40):
    """``shard`` after the generator: every worker's generator produces everything."""
    read = []
    dataset = tf.data.Dataset.from_generator(lambda: _records(read, count), output_signature=INT)
    mine = [int(x) for x in dataset.shard(num_workers, index=0)]
    return len(mine), len(read)
# --8<-- [end:shard_broken]


# --8<-- [start:shard_fixed]
def _records_of_shard(read, count, num_workers, index):
    for i in range(index, count, num_workers):  # the source itself skips other workers' rows
        read.append(i)
        yield i


def shard_inside_the_generator_fixed(num_workers=4, count=40):
    """Give the generator its worker index: it produces only its own rows."""
    read = []
    dataset = tf.data.Dataset.from_generator(
        lambda: _records_of_shard(read, count, num_workers, 0), output_signature=INT)
    mine = [int(x) for x in dataset]
    return len(mine), len(read)
# --8<-- [end:shard_fixed]


def last_line(error):
    """The line a user searches for: ``Type: message``, without TensorFlow's wrapping.

    TensorFlow wraps errors raised inside a ``py_func`` in an ``OpError`` whose
    text holds the original traceback; this returns its last ``...Error:`` line.
    """
    text = getattr(error, "message", None) or str(error)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if head.isidentifier() and head.endswith(("Error", "Exception")):
            return line
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def main():
    strategy = threading.Thread(target=lambda: results.append(_generator_under_a_strategy_broken()))
    results = []
    strategy.start()  # a fresh interpreter, while the service demo runs here
    try:
        _generator_on_remote_worker_broken()
    except tf.errors.InvalidArgumentError as error:
        print("generator_on_remote_worker_broken: InvalidArgumentError")
        print("   ", re.sub(r"pyfunc_\d+", "pyfunc_<n>", last_line(error)))
    print("tf_ops_on_remote_worker_fixed:", tf_ops_on_remote_worker_fixed())
    strategy.join()
    warnings, (whole, per_pipeline) = results[0]
    print("generator_under_a_strategy_broken:", warnings)
    print("    every element once:", whole == list(range(8)), per_pipeline == list(range(8)))
    print("queue_without_end_broken:", _queue_without_end_broken())
    print("queue_with_end_marker_fixed:", queue_with_end_marker_fixed())
    print("shard_after_generator_broken (kept, produced):", _shard_after_generator_broken())
    print("shard_inside_the_generator_fixed (kept, produced):", shard_inside_the_generator_fixed())


if __name__ == "__main__":
    main()
