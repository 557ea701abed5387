"""The tf.data pipelines the benchmark measures, per workload class.

A pattern's ``make(n)`` returns an iterable of the element indices ``0..n-1``
(a ``tf.data.Dataset`` or an iterator). Recommended patterns are the recipes
as their pages recommend them, imported from ``recipes``.
"""

import concurrent.futures as cf
import os
from dataclasses import dataclass, field

import numpy as np

from benchmarks.workloads import LATENCY_S, MAX_SHARDS, PY_WORK, tf, tf_work


@dataclass
class Pattern:
    name: str
    label: str
    make: object  # n -> iterable of element indices (tf.data dataset or iterator)
    recommended: bool = False
    peer: bool = False
    min_n: int = 40  # smallest run; process-based peers need more to reach steady state
    params: dict = field(default_factory=dict)


def _with_private_pool(dataset, threads):
    options = tf().data.Options()
    options.threading.private_threadpool_size = threads
    return dataset.with_options(options)


def _spec():
    t = tf()
    return t.TensorSpec(shape=(), dtype=t.int64)


def naive(workload):
    work = PY_WORK[workload]

    def make(n):
        def generate():
            for i in range(n):
                yield work(i)
        return tf().data.Dataset.from_generator(generate, output_signature=_spec())
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


def _shard(workload, shard, num_shards, n):
    work = PY_WORK[workload.decode() if isinstance(workload, bytes) else workload]
    for i in range(int(shard), int(n), int(num_shards)):
        yield work(i)


def sharded(workload, k, deterministic=True, pool=None, autotune=False):
    """k generators under interleave, each producing every k-th element."""
    def make(n):
        t = tf()
        ds = t.data.Dataset.range(k).interleave(
            lambda j: t.data.Dataset.from_generator(
                _shard, args=(workload, j, k, n), output_signature=_spec()),
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


def recipe_process_pool(workload, workers, chunk):
    """The process_pool recipe: chunks in, arrays out."""
    def make(n):
        from recipes.process_pool import pooled_dataset
        t = tf()
        return pooled_dataset(PY_WORK[workload], range(n), t.TensorSpec((), t.int64),
                              batch_size=chunk, workers=workers)
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


def patterns_for(workload, quick):
    """Our patterns for one class, naive first, exactly one recommended."""
    shards = [2, 16] if quick else [2, 4, 8, 16]
    cores = os.cpu_count() or 1
    p = []
    if workload == "D":
        p.append(Pattern("naive", "naive from_generator (TF ops run eagerly in the generator)", d_naive()))
        p.append(Pattern("generator_map", "light generator + TF-op map (AUTOTUNE)", d_generator_then_map(),
                         recommended=True))
        p.append(Pattern("chunked_generator_map", "generator yields chunks of 64 + unbatch + TF-op map",
                         d_generator_then_map(chunk=64), params={"chunk": 64}))
        return p
    p.append(Pattern("naive", "naive from_generator", naive(workload)))
    p.append(Pattern("numpy_function_map", "map over tf.numpy_function (AUTOTUNE)", numpy_function_map(workload)))
    if workload == "A":
        p.append(Pattern("numpy_function_map_pool16", "map over tf.numpy_function, AUTOTUNE, private pool 16",
                         numpy_function_map(workload, pool=MAX_SHARDS), params={"pool": MAX_SHARDS}))
        p.append(Pattern("numpy_function_map_unbounded",
                         "map over tf.numpy_function, 16 calls, use_unbounded_threadpool",
                         numpy_function_map(workload, unbounded=True),
                         params={"num_parallel_calls": MAX_SHARDS, "use_unbounded_threadpool": True}))
        for k in shards:
            p.append(Pattern(f"sharded_k{k}", f"{k} sharded generators (interleave)", sharded(workload, k),
                             params={"k": k}))
        for k in shards:
            if k > cores:
                p.append(Pattern(f"sharded_k{k}_pool", f"{k} sharded generators + private pool of {k}",
                                 sharded(workload, k, pool=k),
                                 params={"k": k, "pool": k}))
        p.append(Pattern(f"sharded_k{MAX_SHARDS}_pool_chunk8",
                         f"recipe: {MAX_SHARDS} shards yield blocks of 8 + unbatch, private pool",
                         recipe_sharded(MAX_SHARDS, 8), recommended=True,
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
                         threads_in_generator(workload, MAX_SHARDS), params={"threads": MAX_SHARDS}))
    else:
        p.append(Pattern(f"sharded_k{cores}", f"{cores} sharded generators (interleave)",
                         sharded(workload, cores), params={"k": cores}))
        if workload == "C":
            p.append(Pattern("threads_in_generator", f"thread pool of {cores} inside the generator",
                             threads_in_generator(workload, cores), params={"threads": cores}))
        p.append(Pattern("process_pool_chunk1", f"recipe: process pool of {cores}, 1 item per task",
                         recipe_process_pool(workload, cores, 1), min_n=400,
                         params={"workers": cores, "chunk": 1, "recipe": "recipes.process_pool.pooled_dataset"}))
        p.append(Pattern("process_pool_chunk32", f"recipe: process pool of {cores}, 32 items per task",
                         recipe_process_pool(workload, cores, 32), recommended=True, min_n=400,
                         params={"workers": cores, "chunk": 32, "recipe": "recipes.process_pool.pooled_dataset"}))
    return p
