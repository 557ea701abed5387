"""The tf.data pipelines the benchmark measures, per workload class.

A pattern's ``make(n)`` returns an iterable over the elements for the indices
``0..n-1``: a ``tf.data.Dataset`` of single elements (the benchmark batches it
by 32), or, when ``batched`` is set, of batches or an iterator of batches (as
peers give them). Recommended patterns are the recipes as their pages
recommend them, imported from ``recipes``.
"""

import concurrent.futures as cf
import os
from dataclasses import dataclass, field

import numpy as np

from benchmarks.workloads import BATCH, LATENCY_S, MAX_SHARDS, PY_WORK, SIZES, spec_args, tf, tf_work, work_for


@dataclass
class Pattern:
    name: str
    label: str
    make: object  # n -> iterable of element indices (tf.data dataset or iterator)
    recommended: bool = False
    peer: bool = False
    min_n: int = 128  # smallest run (4 batches); process-based peers need more to reach steady state
    params: dict = field(default_factory=dict)
    batched: bool = False  # make(n) already yields batches of BATCH
    size: str = None  # class E: the element size (a key of SIZES)
    candidate: bool = False  # keeps the recommendation's constraints (ordered, every element): may be recommended
    workers: int = None  # scaling runs: the worker (or shard) count this row was measured with


def _with_private_pool(dataset, threads):
    options = tf().data.Options()
    options.threading.private_threadpool_size = threads
    return dataset.with_options(options)


def _spec(workload="A", size=None):
    t = tf()
    shape, dtype = spec_args(workload, size)
    return t.TensorSpec(shape=shape, dtype=t.as_dtype(dtype))


def naive(workload, size=None):
    work = work_for(workload, size)

    def make(n):
        def generate():
            for i in range(n):
                yield work(i)
        return tf().data.Dataset.from_generator(generate, output_signature=_spec(workload, size))
    return make


def numpy_function_map(workload, pool=None, unbounded=False):
    work = PY_WORK[workload]

    def call(i):
        return np.int64(work(int(i)))

    def make(n):
        t = tf()
        ds = t.data.Dataset.range(n).map(
            lambda i: t.ensure_shape(t.numpy_function(call, [i], t.int64), ()),
            num_parallel_calls=MAX_SHARDS if unbounded else t.data.AUTOTUNE,
            use_unbounded_threadpool=unbounded)
        return _with_private_pool(ds, pool) if pool else ds
    return make


def _shard(workload, size, shard, num_shards, n):
    text = lambda v: v.decode() if isinstance(v, bytes) else v  # noqa: E731
    work = work_for(text(workload), text(size) or None)
    for i in range(int(shard), int(n), int(num_shards)):
        yield work(i)


def sharded(workload, k, deterministic=True, pool=None, autotune=False, size=None):
    """k generators under interleave, each producing every k-th element."""
    def make(n):
        t = tf()
        spec = _spec(workload, size)  # outside the traced lambda
        ds = t.data.Dataset.range(k).interleave(
            lambda j: t.data.Dataset.from_generator(
                _shard, args=(workload, size or "", j, k, n), output_signature=spec),
            cycle_length=k,
            num_parallel_calls=t.data.AUTOTUNE if autotune else k,
            deterministic=deterministic)
        return _with_private_pool(ds, pool) if pool else ds
    return make


def threads_in_generator(workload, threads):
    """The generator itself overlaps waits with a thread pool (ordered)."""
    work = PY_WORK[workload]

    def make(n):
        def generate():
            window = 4 * threads
            with cf.ThreadPoolExecutor(threads) as pool:
                pending = [pool.submit(work, i) for i in range(min(window, n))]
                nxt = len(pending)
                while pending:
                    yield pending.pop(0).result()
                    if nxt < n:
                        pending.append(pool.submit(work, nxt))
                        nxt += 1
        return tf().data.Dataset.from_generator(generate, output_signature=_spec())
    return make


def recipe_sharded(k, block):
    """The sharded_generator recipe as its page recommends it for waits."""
    def make(n):
        from recipes.sharded_generator import sharded as recipe
        return recipe(n, k, block_length=block, latency_s=LATENCY_S, chunked=True, private_threads=k)
    return make


def recipe_process_pool(workload, workers, chunk, size=None):
    """The process_pool recipe: chunks in, results through shared memory; with
    chunks of BATCH it yields whole batches, otherwise single elements."""
    def make(n):
        from recipes.process_pool import pooled_dataset
        return pooled_dataset(work_for(workload, size), range(n), _spec(workload, size),
                              batch_size=chunk, workers=workers, yield_batches=(chunk == BATCH))
    return make


def d_naive():
    """The generator runs the TF ops itself, eagerly, one element at a time."""
    def make(n):
        def generate():
            for i in range(n):
                tf_work(i)
                yield i
        return tf().data.Dataset.from_generator(generate, output_signature=_spec())
    return make


def d_generator_then_map(chunk=None):
    """A light generator yields indices (or chunks of them); TF ops in ``map``."""
    def make(n):
        t = tf()
        if chunk:
            def generate():
                for s in range(0, n, chunk):
                    yield np.arange(s, min(s + chunk, n), dtype=np.int64)
            ds = t.data.Dataset.from_generator(
                generate, output_signature=t.TensorSpec((None,), t.int64)).unbatch()
        else:
            def generate():
                yield from range(n)
            ds = t.data.Dataset.from_generator(generate, output_signature=_spec())
        return ds.map(tf_work, num_parallel_calls=t.data.AUTOTUNE).map(lambda i, _: i)
    return make


E_QUICK_SIZES = ["8B", "2400KB"]


def sizes_for(quick):
    """Class E sizes measured: all four, or the two extremes in quick mode."""
    return E_QUICK_SIZES if quick else list(SIZES)


def pool_pattern(workload, workers, size=None, recommended=True):
    """The process pool recipe with ``workers`` processes, batches of BATCH (one size of class E)."""
    suffix = f"_{size}" if size else ""
    name = (f"process_pool{suffix}" if workload == "E" else "process_pool_chunk32")
    return Pattern(name, f"recipe: process pool of {workers}, shared memory, batches of {BATCH}",
                   recipe_process_pool(workload, workers, BATCH, size), recommended=recommended, batched=True,
                   candidate=True, min_n=400, size=size,
                   params={"workers": workers, "chunk": BATCH, "ring_size": 2 * workers,
                           "recipe": "recipes.process_pool.pooled_dataset"})


def size_patterns(size, quick=False):
    """Class E, one size: naive, sharded generators on threads, the process pool recipe."""
    cores = os.cpu_count() or 1
    return [
        Pattern(f"naive_{size}", "naive from_generator", naive("E", size), size=size),
        Pattern(f"sharded_k{cores}_{size}", f"{cores} sharded generators (interleave, tf.data threads)",
                sharded("E", cores, size=size), params={"k": cores}, size=size, candidate=True),
        pool_pattern("E", cores, size),
    ]


def patterns_for(workload, quick):
    """Our patterns for one class, naive first, exactly one recommended (class E: per size)."""
    shards = [2, 16]
    cores = os.cpu_count() or 1
    p = []
    if workload == "E":
        return [pattern for size in sizes_for(quick) for pattern in size_patterns(size, quick)]
    if workload == "D":
        p.append(Pattern("naive", "naive from_generator (TF ops run eagerly in the generator)", d_naive()))
        p.append(Pattern("generator_map", "light generator + TF-op map (AUTOTUNE)", d_generator_then_map(),
                         candidate=True))
        p.append(Pattern("chunked_generator_map", "recipe: generator yields chunks of 64 + unbatch + TF-op map",
                         d_generator_then_map(chunk=64), params={"chunk": 64}, recommended=True, candidate=True))
        return p
    p.append(Pattern("naive", "naive from_generator", naive(workload)))
    p.append(Pattern("numpy_function_map", "map over tf.numpy_function (AUTOTUNE)", numpy_function_map(workload),
                     candidate=True))
    if workload == "A":
        p.append(Pattern("numpy_function_map_pool16", "map over tf.numpy_function, AUTOTUNE, private pool 16",
                         numpy_function_map(workload, pool=MAX_SHARDS), params={"pool": MAX_SHARDS},
                         candidate=True))
        p.append(Pattern("numpy_function_map_unbounded",
                         "map over tf.numpy_function, 16 calls, use_unbounded_threadpool",
                         numpy_function_map(workload, unbounded=True),
                         params={"num_parallel_calls": MAX_SHARDS, "use_unbounded_threadpool": True},
                         candidate=True))
        for k in shards:
            p.append(Pattern(f"sharded_k{k}", f"{k} sharded generators (interleave)", sharded(workload, k),
                             params={"k": k}))
        for k in shards:
            if k > cores:
                p.append(Pattern(f"sharded_k{k}_pool", f"{k} sharded generators + private pool of {k}",
                                 sharded(workload, k, pool=k),
                                 params={"k": k, "pool": k}, candidate=True))
        p.append(Pattern(f"sharded_k{MAX_SHARDS}_pool_chunk8",
                         f"recipe: {MAX_SHARDS} shards yield blocks of 8 + unbatch, private pool",
                         recipe_sharded(MAX_SHARDS, 8), recommended=True, candidate=True,
                         params={"k": MAX_SHARDS, "pool": MAX_SHARDS, "chunk": 8,
                                 "recipe": "recipes.sharded_generator.sharded"}))
        p.append(Pattern(f"sharded_k{MAX_SHARDS}_pool_nondet",
                         f"{MAX_SHARDS} sharded generators + private pool, deterministic=False",
                         sharded(workload, MAX_SHARDS, deterministic=False, pool=MAX_SHARDS),
                         params={"k": MAX_SHARDS, "pool": MAX_SHARDS, "deterministic": False}))
        p.append(Pattern(f"sharded_k{MAX_SHARDS}_autotune",
                         f"{MAX_SHARDS} sharded generators, num_parallel_calls=AUTOTUNE",
                         sharded(workload, MAX_SHARDS, autotune=True), params={"k": MAX_SHARDS}))
        p.append(Pattern("threads_in_generator", f"thread pool of {MAX_SHARDS} inside the generator",
                         threads_in_generator(workload, MAX_SHARDS), params={"threads": MAX_SHARDS},
                         candidate=True))
    else:
        p.append(Pattern(f"sharded_k{cores}", f"{cores} sharded generators (interleave)",
                         sharded(workload, cores), params={"k": cores}, candidate=True))
        if workload == "C":
            p.append(Pattern("threads_in_generator", f"thread pool of {cores} inside the generator",
                             threads_in_generator(workload, cores), params={"threads": cores}, candidate=True))
        p.append(Pattern("process_pool_chunk1", f"recipe: process pool of {cores}, 1 item per task",
                         recipe_process_pool(workload, cores, 1), min_n=400, candidate=True,
                         params={"workers": cores, "chunk": 1, "ring_size": 2 * cores,
                                 "recipe": "recipes.process_pool.pooled_dataset"}))
        p.append(pool_pattern(workload, cores))
    return p


def scaling_patterns(workload, workers, size=None):
    """The rows of a scaling run: naive and the process pool recipe with ``workers`` processes."""
    plan = size_patterns(size) if workload == "E" else patterns_for(workload, quick=False)
    naive_row = plan[0]
    return [naive_row, pool_pattern(workload, workers, size)]
