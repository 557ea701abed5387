"""Feed ``from_generator`` from a pool of worker processes, in chunks.

Python work that holds the GIL (parsing, pure-Python decoding, feature code)
gets one core's worth of CPU however many threads tf.data gives it. Worker
*processes* each have their own interpreter and their own GIL. This recipe runs
``work(item)`` for every item in a ``concurrent.futures.ProcessPoolExecutor``
and hands the results to TensorFlow through one generator:

* items travel to the workers in chunks (one message per chunk, not per item),
  and each chunk comes back as one array that ``unbatch`` splits in TensorFlow;
* at most ``2 * workers`` chunks are in flight, so memory stays bounded, and
  results come out in item order;
* an exception in a worker reaches the consumer with its original message;
* when iteration stops early (``take``, ``break``), queued chunks are cancelled
  and the pool is shut down.

Workers are started with ``spawn``: they import this module afresh, so its top
level imports no TensorFlow (``import tensorflow`` happens inside
``pooled_dataset``). Forking a process that already runs TensorFlow's threads
is not safe. Run ``python process_pool.py`` for a demonstration. Needs only the
standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import concurrent.futures as cf
import multiprocessing
import os

# Hide TensorFlow's C++ start-up notices before it is imported (inside
# pooled_dataset). Nothing at the top level imports TensorFlow: spawned
# workers re-import this module and must stay light.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
# --8<-- [end:setup]


# --8<-- [start:work]
def parse_record(i):
    """Example work: pure Python, holds the GIL (about a millisecond)."""
    text = ",".join(str(i * 7 + j) for j in range(2_000))
    fields = [int(x) for x in text.split(",")]
    return fields[0] // 7  # the item back, so the output is easy to check


def run_chunk(work, items):
    """Runs in a worker process: one task, a whole chunk of items."""
    return [work(item) for item in items]
# --8<-- [end:work]


# --8<-- [start:pool]
def pooled_results(work, items, chunk_size=32, workers=None):
    """Yield ``work(item)`` for every item, in order, as arrays of one chunk each."""
    items = list(items)
    workers = workers or os.cpu_count() or 1
    chunks = [items[i:i + chunk_size] for i in range(0, len(items), chunk_size)]
    pool = cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    in_flight = []
    try:
        for chunk in chunks:
            in_flight.append(pool.submit(run_chunk, work, chunk))
            if len(in_flight) >= 2 * workers:
                yield np.asarray(in_flight.pop(0).result())  # re-raises a worker's error
        while in_flight:
            yield np.asarray(in_flight.pop(0).result())
    finally:
        # Runs on normal exit, on error, and when the consumer stops early.
        pool.shutdown(wait=True, cancel_futures=True)


def pooled_dataset(work, items, dtype="int64", chunk_size=32, workers=None):
    """A dataset of ``work(item)`` for every item, computed in worker processes.

    ``work`` must be picklable: a function defined at the top level of a module.
    """
    if not callable(work):
        raise TypeError(f"work must be a callable, got {type(work).__name__}")
    for name, value in [("chunk_size", chunk_size), ("workers", workers)]:
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    import tensorflow as tf  # here, not at the top: see the module docstring

    items = list(items)
    spec = tf.TensorSpec(shape=(None,), dtype=tf.as_dtype(dtype))
    return tf.data.Dataset.from_generator(
        lambda: pooled_results(work, items, chunk_size, workers), output_signature=spec
    ).unbatch()
# --8<-- [end:pool]


def fail_on_13(i):
    """Work that fails for one item, to show how a worker's error surfaces."""
    if i == 13:
        raise ValueError(f"record {i} is corrupt")
    return i


def main():
    dataset = pooled_dataset(parse_record, range(100), chunk_size=16, workers=2)
    values = [int(x) for x in dataset.as_numpy_iterator()]
    print("100 records, in order:", values == list(range(100)))
    print("first five:", values[:5])
    print("stopped early:", [int(x) for x in dataset.take(3)])
    import tensorflow as tf
    try:
        list(pooled_dataset(fail_on_13, range(40), chunk_size=8, workers=2))
    except tf.errors.InvalidArgumentError as error:
        line = next(l for l in error.message.splitlines() if "record 13" in l)
        print("worker error reached the consumer:", line.split("}} ")[-1].strip())


if __name__ == "__main__":
    main()
