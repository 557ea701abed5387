"""The per-element work of each workload class, and its parameters.

A. latency-bound: a blocking wait (``time.sleep``) that stands in for network
   or disk; releases the GIL.
B. pure-Python CPU-bound: an interpreter loop; holds the GIL.
C. NumPy-heavy: ``np.sort`` of 300,000 floats; releases the GIL.
D. TF-op-bound: decode a PNG and resize it, as TensorFlow ops.
E. array results: the same Python work per element (an interpreter loop of
   about 0.4 ms) returning arrays of four sizes, from 8 B to 2.4 MB, so the
   hand-off of the result is what differs.

Each work function takes an element index and returns it (class E: writes it
into the first 8 bytes of the array it returns), so the consumer can check that
every element arrived exactly once. Worker processes import this
module: its top level imports only the standard library and NumPy (TensorFlow,
for class D, is imported inside the functions that need it).
"""

import functools
import os
import time
from dataclasses import dataclass

import numpy as np

LATENCY_S = 0.002  # class A: per-element wait
PY_LOOP = 40_000  # class B: interpreter iterations per element (about 1.5-2 ms)
SORT_SIZE = 300_000  # class C: floats sorted per element (about 2 ms)
PNG_SIDE, RESIZE_SIDE = 512, 384  # class D: decode a 512x512 PNG, resize to 384x384
MAX_SHARDS = 16
BATCH = 32  # every pattern and peer is consumed in batches of 32, as a training step takes them
E_PY_LOOP = 8_000  # class E: interpreter iterations per element (about 0.4 ms)
# class E element sizes: key -> (shape, dtype, label)
SIZES = {
    "8B": ((), "int64", "8 B (int64)"),
    "150KB": ((224, 224, 3), "uint8", "150 KB (224x224x3 uint8)"),
    "600KB": ((224, 224, 3), "float32", "600 KB (224x224x3 float32)"),
    "2400KB": ((448, 448, 3), "float32", "2.4 MB (448x448x3 float32)"),
}


def element_bytes(size=None):
    """Bytes of one element: 8 (an int64 index) for classes A to D."""
    if size is None:
        return 8
    shape, dtype, _ = SIZES[size]
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


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


def _stamp(array, i):
    """Write the index ``i`` into the first 8 bytes of ``array``."""
    array.reshape(-1).view(np.uint8)[:8] = np.frombuffer(np.int64(i).tobytes(), np.uint8)
    return array


def work_e(size, i):
    """Class E: a Python loop, then an array of the size, every byte written (as a decoder would)."""
    acc = 0
    for j in range(E_PY_LOOP):
        acc += j * j % 7
    shape, dtype, _ = SIZES[size]
    if not shape:
        return np.int64(i + (acc & 0))
    return _stamp(np.full(shape, i % 199, dtype=dtype), i)


def work_for(workload, size=None):
    """The picklable per-element work of a class (and, for class E, a size)."""
    if workload == "E":
        return functools.partial(work_e, size)
    return PY_WORK[workload]


def spec_args(workload, size=None):
    """(shape, numpy dtype name) of one element."""
    if workload == "E":
        shape, dtype, _ = SIZES[size]
        return shape, dtype
    return (), "int64"


def indices_of(batch):
    """The element indices in one batch (or one element) of any pattern or peer."""
    array = np.asarray(batch)
    if array.ndim <= 1:
        return array.astype(np.int64).reshape(-1)
    rows = np.ascontiguousarray(array).reshape(len(array), -1).view(np.uint8)
    return rows[:, :8].copy().view(np.int64).reshape(-1)


def time_bare_work(workload, seconds, size=None, copy=False, start_at=None):
    """Run the bare work for ``seconds`` (at least one batch); returns ``(elements, elapsed_s)``.

    Runs in a worker process of its own (several at once for the limit).
    With ``copy``, each result is also copied once into a batch buffer, as the
    one copy into the batch tensor that no pipeline can avoid (the buffer is
    allocated and touched before the clock starts: the bound stays an upper
    bound). With ``start_at`` (``time.time()``), the clock starts then, so
    several processes run at once.
    """
    work = work_for(workload, size)
    first = np.asarray(work(0))
    batch = np.zeros((BATCH, *first.shape), first.dtype) if copy else None
    if start_at is not None:
        time.sleep(max(0.0, start_at - time.time()))
    count, start = 0, time.perf_counter()
    while True:
        result = work(count)
        if copy:
            batch[count % BATCH] = result
        count += 1
        elapsed = time.perf_counter() - start
        if count >= BATCH and elapsed >= seconds:
            return count, elapsed


@dataclass
class Workload:
    key: str
    title: str
    description: str
    limit_rule: str


WORKLOADS = {
    "A": Workload("A", "latency-bound", f"time.sleep({LATENCY_S * 1000:g} ms) per element; releases the GIL",
                  f"{MAX_SHARDS} concurrent waits / {LATENCY_S * 1e3:g} ms, exact"),
    "B": Workload("B", "pure-Python CPU-bound", f"a {PY_LOOP:,}-step interpreter loop per element; holds the GIL",
                  "cores x single-core rate of the bare work"),
    "C": Workload("C", "NumPy-heavy", f"np.sort of {SORT_SIZE:,} float64 per element; releases the GIL",
                  "cores x single-core rate of the bare work"),
    "D": Workload("D", "TF-op-bound",
                  f"decode a {PNG_SIDE}x{PNG_SIDE} PNG and resize to {RESIZE_SIDE}x{RESIZE_SIDE} with TF ops",
                  "cores x single-core rate of the bare work"),
    "E": Workload("E", "array results",
                  f"a {E_PY_LOOP:,}-step interpreter loop per element, then an array of 8 B to 2.4 MB "
                  "with every byte written; holds the GIL",
                  "the lower of: cores x single-core rate of the bare work; "
                  "memory-copy bandwidth / element size"),
}

PARAMETERS = {"latency_s": LATENCY_S, "py_loop": PY_LOOP, "sort_size": SORT_SIZE,
              "png_side": PNG_SIDE, "resize_side": RESIZE_SIDE, "max_shards": MAX_SHARDS,
              "batch_size": BATCH, "e_py_loop": E_PY_LOOP,
              "sizes": {k: {"shape": list(shape), "dtype": dtype, "label": label, "element_bytes": element_bytes(k)}
                        for k, (shape, dtype, label) in SIZES.items()}}


def tf():
    """TensorFlow, imported on first use (never at a module's top level)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow
    return tensorflow


_PNG = None


def _png():
    """The PNG every class-D element decodes, made once, eagerly."""
    global _PNG
    import tensorflow as t  # already imported by whoever traces this (no call autograph would convert)
    if _PNG is None:
        with t.init_scope():  # never inside a traced function
            image = t.random.stateless_uniform([PNG_SIDE, PNG_SIDE, 3], seed=[1, 2], maxval=256, dtype=t.int32)
            _PNG = t.io.encode_png(t.cast(image, t.uint8))
    return _PNG


def tf_work(i):
    """Class D work as TF ops: decode the PNG, resize, reduce (result unused)."""
    import tensorflow as t
    image = t.io.decode_png(_png(), channels=3)
    resized = t.image.resize(t.cast(image, t.float32), [RESIZE_SIDE, RESIZE_SIDE])
    return i, t.reduce_mean(resized)
