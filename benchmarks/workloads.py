"""The per-element work of each workload class, and its parameters.

A. latency-bound: a blocking wait (``time.sleep``) that stands in for network
   or disk; releases the GIL.
B. pure-Python CPU-bound: an interpreter loop; holds the GIL.
C. NumPy-heavy: ``np.sort`` of 300,000 floats; releases the GIL.
D. TF-op-bound: decode a PNG and resize it, as TensorFlow ops.

Each work function takes an element index and returns it, so the consumer can
check that every element arrived exactly once. Worker processes import this
module: its top level imports only the standard library and NumPy (TensorFlow,
for class D, is imported inside the functions that need it).
"""

import os
import time
from dataclasses import dataclass

import numpy as np

LATENCY_S = 0.002  # class A: per-element wait
PY_LOOP = 40_000  # class B: interpreter iterations per element (about 1.5-2 ms)
SORT_SIZE = 300_000  # class C: floats sorted per element (about 2 ms)
PNG_SIDE, RESIZE_SIDE = 512, 384  # class D: decode a 512x512 PNG, resize to 384x384
MAX_SHARDS = 16


def work_a(i):
    time.sleep(LATENCY_S)
    return i


def work_b(i):
    acc = 0
    for j in range(PY_LOOP):
        acc += j * j % 7
    return i + (acc & 0)  # uses acc, adds 0


_SORT_INPUT = None


def work_c(i):
    global _SORT_INPUT
    if _SORT_INPUT is None:
        _SORT_INPUT = np.random.default_rng(0).random(SORT_SIZE)
    np.sort(_SORT_INPUT)
    return i


PY_WORK = {"A": work_a, "B": work_b, "C": work_c}


def time_bare_work(workload, n):
    """Single-thread rate of the bare work (run in a fresh worker process)."""
    work = PY_WORK[workload]
    work(0)
    start = time.perf_counter()
    for i in range(n):
        work(i)
    return n / (time.perf_counter() - start)


@dataclass
class Workload:
    key: str
    title: str
    description: str
    limit_rule: str


WORKLOADS = {
    "A": Workload("A", "latency-bound", f"time.sleep({LATENCY_S * 1000:g} ms) per element; releases the GIL",
                  f"{MAX_SHARDS} concurrent waits / measured wait"),
    "B": Workload("B", "pure-Python CPU-bound", f"a {PY_LOOP:,}-step interpreter loop per element; holds the GIL",
                  "cores x single-core rate of the bare work"),
    "C": Workload("C", "NumPy-heavy", f"np.sort of {SORT_SIZE:,} float64 per element; releases the GIL",
                  "cores x single-core rate of the bare work"),
    "D": Workload("D", "TF-op-bound",
                  f"decode a {PNG_SIDE}x{PNG_SIDE} PNG and resize to {RESIZE_SIDE}x{RESIZE_SIDE} with TF ops",
                  "cores x single-core rate of the bare work"),
}

PARAMETERS = {"latency_s": LATENCY_S, "py_loop": PY_LOOP, "sort_size": SORT_SIZE,
              "png_side": PNG_SIDE, "resize_side": RESIZE_SIDE, "max_shards": MAX_SHARDS}


def tf():
    """TensorFlow, imported on first use (never at a module's top level)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow
    return tensorflow


_PNG = None


def _png():
    """The PNG every class-D element decodes, made once, eagerly."""
    global _PNG
    t = tf()
    if _PNG is None:
        with t.init_scope():  # never inside a traced function
            image = t.random.stateless_uniform([PNG_SIDE, PNG_SIDE, 3], seed=[1, 2], maxval=256, dtype=t.int32)
            _PNG = t.io.encode_png(t.cast(image, t.uint8))
    return _PNG


def tf_work(i):
    """Class D work as TF ops: decode the PNG, resize, reduce (result unused)."""
    t = tf()
    image = t.io.decode_png(_png(), channels=3)
    resized = t.image.resize(t.cast(image, t.float32), [RESIZE_SIDE, RESIZE_SIDE])
    return i, t.reduce_mean(resized)
