"""The benchmark command: every pattern against the naive pipeline and the limit.

    python -m recipes.bench [--quick] [--json PATH] [--plot DIR] [--only A,B]

Four workload classes, each a few milliseconds of work per element:

A. latency-bound: a blocking wait (``time.sleep``) that stands in for network
   or disk; releases the GIL.
B. pure-Python CPU-bound: an interpreter loop; holds the GIL.
C. NumPy-heavy: ``np.sort`` of 300,000 floats; releases the GIL.
D. TF-op-bound: decode a PNG and resize it, as TensorFlow ops.

For each class, every applicable pattern runs over several repetitions. Within
a repetition, the naive pipeline and every pattern run back to back, so the
ratio to naive is taken under the same machine load; the reported figure is the
median over repetitions. Every run checks that exactly the elements ``0..n-1``
arrived, each once.

The module's top level imports only the standard library and NumPy, and
TensorFlow is imported inside functions: process-pool workers started with
``spawn`` re-import this module and must not pay for (or fork) TensorFlow.
"""

import argparse
import concurrent.futures as cf
import gc
import json
import multiprocessing
import os
import platform
import random
import statistics
import sys
import time
from dataclasses import dataclass, field

import numpy as np

LATENCY_S = 0.002  # class A: per-element wait
PY_LOOP = 40_000  # class B: interpreter iterations per element (about 1.5-2 ms)
SORT_SIZE = 300_000  # class C: floats sorted per element (about 2 ms)
PNG_SIDE, RESIZE_SIDE = 512, 384  # class D: decode a 512x512 PNG, resize to 384x384
MAX_SHARDS = 16


# ---------------------------------------------------------------- the work
# Each work function takes an element index and returns it, so the consumer
# can check that every element arrived exactly once.

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


def run_chunk(workload, start, stop):
    """Process-pool task: a chunk of elements, handed over in one message."""
    work = PY_WORK[workload]
    return [work(i) for i in range(start, stop)]


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
    "D": Workload("D", "TF-op-bound", f"decode a {PNG_SIDE}x{PNG_SIDE} PNG and resize to {RESIZE_SIDE}x{RESIZE_SIDE} with TF ops",
                  "cores x single-core rate of the bare work"),
}


# ---------------------------------------------------------------- patterns

@dataclass
class Pattern:
    name: str
    label: str
    make: object  # n -> iterable of element indices (tf.data dataset or iterator)
    recommended: bool = False
    peer: bool = False
    min_n: int = 40  # smallest run; process-based peers need more to reach steady state
    params: dict = field(default_factory=dict)


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    return tf


def _with_private_pool(dataset, threads):
    tf = _tf()
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    return dataset.with_options(options)


def _spec():
    tf = _tf()
    return tf.TensorSpec(shape=(), dtype=tf.int64)


def naive(workload):
    tf = _tf()
    work = PY_WORK[workload]

    def make(n):
        def generate():
            for i in range(n):
                yield work(i)
        return tf.data.Dataset.from_generator(generate, output_signature=_spec())
    return make


def numpy_function_map(workload, pool=None, unbounded=False):
    tf = _tf()
    work = PY_WORK[workload]

    def call(i):
        return np.int64(work(int(i)))

    def make(n):
        ds = tf.data.Dataset.range(n).map(
            lambda i: tf.ensure_shape(tf.numpy_function(call, [i], tf.int64), ()),
            num_parallel_calls=MAX_SHARDS if unbounded else tf.data.AUTOTUNE,
            use_unbounded_threadpool=unbounded)
        return _with_private_pool(ds, pool) if pool else ds
    return make


def _shard(workload, shard, num_shards, n):
    work = PY_WORK[workload.decode() if isinstance(workload, bytes) else workload]
    for i in range(int(shard), int(n), int(num_shards)):
        yield work(i)


def sharded(workload, k, deterministic=True, pool=None, autotune=False):
    """k generators under interleave, each producing every k-th element."""
    tf = _tf()

    def make(n):
        ds = tf.data.Dataset.range(k).interleave(
            lambda j: tf.data.Dataset.from_generator(
                _shard, args=(workload, j, k, n), output_signature=_spec()),
            cycle_length=k,
            num_parallel_calls=tf.data.AUTOTUNE if autotune else k,
            deterministic=deterministic)
        return _with_private_pool(ds, pool) if pool else ds
    return make


def threads_in_generator(workload, threads):
    """The generator itself overlaps waits with a thread pool (ordered)."""
    tf = _tf()
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
        return tf.data.Dataset.from_generator(generate, output_signature=_spec())
    return make


_POOLS = {}


def shared_process_pool(workers):
    """A spawned pool, kept for the run: measures the bare work in a process
    with no TensorFlow threads. Workers import this module, whose top level
    imports no TensorFlow, so they start in well under a second."""
    if workers not in _POOLS:
        ctx = multiprocessing.get_context("spawn")
        _POOLS[workers] = cf.ProcessPoolExecutor(workers, mp_context=ctx)
    return _POOLS[workers]


def close_process_pools():
    while _POOLS:
        _POOLS.popitem()[1].shutdown(wait=True, cancel_futures=True)


def recipe_sharded(k, block):
    """The sharded_generator recipe as its page recommends it for waits."""
    def make(n):
        from recipes.sharded_generator import sharded as recipe
        return recipe(n, k, block_length=block, latency_s=LATENCY_S, chunked=True, private_threads=k)
    return make


def recipe_process_pool(workload, workers, chunk):
    """The process_pool recipe: a pool per iteration, chunks in, arrays out."""
    def make(n):
        from recipes.process_pool import pooled_dataset
        return pooled_dataset(PY_WORK[workload], range(n), chunk_size=chunk, workers=workers)
    return make


_PNG = None


def _png():
    """The PNG every class-D element decodes, made once, eagerly."""
    global _PNG
    import tensorflow as tf
    if _PNG is None:
        with tf.init_scope():  # never inside a traced function
            image = tf.random.stateless_uniform([PNG_SIDE, PNG_SIDE, 3], seed=[1, 2], maxval=256, dtype=tf.int32)
            _PNG = tf.io.encode_png(tf.cast(image, tf.uint8))
    return _PNG


def tf_work(i):
    """Class D work as TF ops: decode the PNG, resize, reduce (result unused)."""
    import tensorflow as tf
    image = tf.io.decode_png(_png(), channels=3)
    resized = tf.image.resize(tf.cast(image, tf.float32), [RESIZE_SIDE, RESIZE_SIDE])
    return i, tf.reduce_mean(resized)


def d_naive():
    """The generator runs the TF ops itself, eagerly, one element at a time."""
    tf = _tf()

    def make(n):
        def generate():
            for i in range(n):
                tf_work(i)
                yield i
        return tf.data.Dataset.from_generator(generate, output_signature=_spec())
    return make


def d_generator_then_map(chunk=None):
    """A light generator yields indices (or chunks of them); TF ops in ``map``."""
    tf = _tf()

    def make(n):
        if chunk:
            def generate():
                for s in range(0, n, chunk):
                    yield np.arange(s, min(s + chunk, n), dtype=np.int64)
            ds = tf.data.Dataset.from_generator(
                generate, output_signature=tf.TensorSpec((None,), tf.int64)).unbatch()
        else:
            def generate():
                yield from range(n)
            ds = tf.data.Dataset.from_generator(generate, output_signature=_spec())
        return ds.map(tf_work, num_parallel_calls=tf.data.AUTOTUNE).map(lambda i, _: i)
    return make


def patterns_for(workload, quick):
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
        p.append(Pattern("numpy_function_map_unbounded", "map over tf.numpy_function, 16 calls, use_unbounded_threadpool",
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
        p.append(Pattern(f"sharded_k{MAX_SHARDS}_autotune", f"{MAX_SHARDS} sharded generators, num_parallel_calls=AUTOTUNE",
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


# ---------------------------------------------------------------- measuring

def consume(iterable, n):
    """Iterate in a plain loop, as training does, and check that 0..n-1 arrived.

    Returns ``(steady_seconds, first_seconds)``: the time from the first element
    to the last, and the time to the first element. Throughput is taken over
    the steady part, so start-up costs (worker processes, threads, tracing)
    are reported apart instead of being spread over a short run.
    """
    got = []
    start = time.perf_counter()
    first = None
    for x in iterable:
        got.append(x)
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    got = np.array([int(x) for x in got], dtype=np.int64)
    if got.shape != (n,) or not np.array_equal(np.sort(got), np.arange(n)):
        raise AssertionError(f"expected each of 0..{n - 1} once, got {got.size} elements")
    return end - (first if first is not None else start), (first or end) - start


def bare_rate(workload, n):
    """Single-thread rate of the work alone, without tf.data."""
    if workload == "A":  # one wait at a time: the measured length of a wait
        start = time.perf_counter()
        for _ in range(n):
            time.sleep(LATENCY_S)
        return n / (time.perf_counter() - start)
    if workload == "D":
        tf = _tf()
        fn = tf.function(tf_work)
        fn(tf.constant(0, tf.int64))
        start = time.perf_counter()
        for i in range(n):
            fn(tf.constant(i, tf.int64))
        return n / (time.perf_counter() - start)
    # In a fresh worker process: no TensorFlow threads competing for the core.
    return shared_process_pool(1).submit(time_bare_work, workload, n).result()


def time_bare_work(workload, n):
    work = PY_WORK[workload]
    work(0)
    start = time.perf_counter()
    for i in range(n):
        work(i)
    return n / (time.perf_counter() - start)


def limit_rate(workload, n):
    """Class A: MAX_SHARDS waits at once; B to D: every core doing bare work."""
    parallel = MAX_SHARDS if workload == "A" else (os.cpu_count() or 1)
    return parallel * bare_rate(workload, n)


def settle():
    """Let the previous pattern's threads and processes wind down first."""
    gc.collect()
    time.sleep(0.3)


def run_pattern(pattern, target_s, n=None, max_n=40_000):
    """Measure one pattern; without ``n``, first size the run to ``target_s``.

    Returns ``(elements_per_s, n, first_element_s)``.
    """
    min_n = pattern.min_n
    if n is None:
        steady, _ = consume(pattern.make(min_n), min_n)
        rate = (min_n - 1) / max(steady, 1e-6)
        n = int(min(max(rate * target_s, min_n), max_n))
    steady, first = consume(pattern.make(n), n)
    return (n - 1) / max(steady, 1e-9), n, first


def service_rows(reps, quick):
    """Class D work run by tf.data service workers (separate processes) versus
    the same pipeline in this process, for one and two workers."""
    tf = _tf()
    from recipes.service import local_cluster

    n = 300 if quick else 1200

    def pipeline():
        return tf.data.Dataset.range(n).map(tf_work).map(lambda i, _: i)

    rows = []
    for workers in (1, 2):
        with local_cluster(num_workers=workers) as (address, _):
            remote, local, first = [], [], []
            for _ in range(reps):
                settle()
                steady, _ = consume(pipeline(), n)
                local.append((n - 1) / steady)
                settle()
                service = tf.data.experimental.service.distribute("distributed_epoch", f"grpc://{address}")
                steady, first_s = consume(pipeline().apply(service), n)
                remote.append((n - 1) / steady)
                first.append(first_s)
        rows.append({
            "workers": workers,
            "elements_per_s": statistics.median(remote),
            "in_process_elements_per_s": statistics.median(local),
            "ratio_to_in_process": statistics.median(r / l for r, l in zip(remote, local)),
            "first_element_s": statistics.median(first),
            "elements_checked": reps * n,
            "repetitions": reps,
        })
        print(f"{'svc':<6}{f'tf.data service, {workers} worker(s), class D work':<58}"
              f"{rows[-1]['elements_per_s']:>12.0f}{'':>9}{'':>9}{rows[-1]['first_element_s']:>9.3f}"
              f"   x in-process {rows[-1]['ratio_to_in_process']:.2f}", flush=True)
    return rows


def machine_info():
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu_model": cpu, "platform": platform.platform(),
            "python": platform.python_version()}


def versions():
    out = {"numpy": np.__version__, "tensorflow": _tf().__version__}
    for name in ("torch", "grain"):
        try:
            module = __import__(name)
            out[name] = getattr(module, "__version__", "installed")
        except ImportError:
            out[name] = None
    return out


def progress(done, total, text):
    width = 24
    filled = int(width * done / max(total, 1))
    bar = "#" * filled + "." * (width - filled)
    end = "\r" if sys.stderr.isatty() else "\n"
    print(f"[{bar}] {done}/{total} {text:<60}", end=end, file=sys.stderr, flush=True)


def run(workloads, quick, reps=None):
    from recipes import bench_peers
    reps = reps or (3 if quick else 5)
    target_s = 0.25 if quick else 2.0
    limit_n = 100 if quick else 300
    results, skipped = [], []
    plan = {w: patterns_for(w, quick) for w in workloads}
    for w in workloads:
        peers, why = bench_peers.peers_for(w)
        plan[w] += peers
        skipped += [{"workload": w, "peer": name, "reason": reason} for name, reason in why]
    total = sum(len(p) + 1 for p in plan.values()) * reps
    done = 0
    header = f"{'class':<6}{'pattern':<58}{'elements/s':>12}{'x naive':>9}{'x limit':>9}{'1st (s)':>9}"
    print(header)
    print("-" * len(header))
    for w in workloads:
        per_rep = []
        for rep in range(reps):
            progress(done, total, f"{w}: limit (rep {rep + 1}/{reps})")
            limit = limit_rate(w, limit_n)
            done += 1
            rates = {}
            order = list(plan[w])
            random.Random(rep).shuffle(order)  # no pattern always runs right after another
            for pattern in order:
                settle()
                progress(done, total, f"{w}: {pattern.name} (rep {rep + 1}/{reps})")
                sized = per_rep[0][1][pattern.name][1] if per_rep else None  # same n every rep
                rates[pattern.name] = run_pattern(pattern, target_s, n=sized)
                done += 1
            per_rep.append((limit, rates))
        limits = [lim for lim, _ in per_rep]
        for pattern in plan[w]:
            rate_list = [rates[pattern.name][0] for _, rates in per_rep]
            naive_list = [rates["naive"][0] for _, rates in per_rep]
            row = {
                "workload": w,
                "pattern": pattern.name,
                "label": pattern.label,
                "recommended": pattern.recommended,
                "peer": pattern.peer,
                "params": pattern.params,
                "elements_per_s": statistics.median(rate_list),
                "ratio_to_naive": statistics.median(r / b for r, b in zip(rate_list, naive_list)),
                "ratio_to_limit": statistics.median(r / lim for r, lim in zip(rate_list, limits)),
                "elements_checked": sum(rates[pattern.name][1] for _, rates in per_rep),
                "first_element_s": statistics.median(rates[pattern.name][2] for _, rates in per_rep),
                "repetitions": reps,
            }
            results.append(row)
            flag = " *" if pattern.recommended else ""
            print(f"{w:<6}{(pattern.label + flag)[:57]:<58}{row['elements_per_s']:>12.0f}"
                  f"{row['ratio_to_naive']:>9.2f}{row['ratio_to_limit']:>9.2f}{row['first_element_s']:>9.3f}",
                  flush=True)
        print(f"{w:<6}{'limit: ' + WORKLOADS[w].limit_rule:<58}{statistics.median(limits):>12.0f}", flush=True)
        results.append({"workload": w, "pattern": "limit", "label": "limit: " + WORKLOADS[w].limit_rule,
                        "recommended": False, "peer": False, "params": {},
                        "elements_per_s": statistics.median(limits), "ratio_to_naive": None,
                        "ratio_to_limit": 1.0, "elements_checked": 0, "first_element_s": None,
                        "repetitions": reps})
    close_process_pools()
    progress(total, total, "done")
    for s in skipped:
        print(f"skipped peer {s['peer']} for class {s['workload']}: {s['reason']}")
    return results, skipped


def write_plots(report, folder):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(folder, exist_ok=True)
    written = []
    for w in sorted({r["workload"] for r in report["results"]}):
        rows = [r for r in report["results"] if r["workload"] == w and r["pattern"] != "limit"]
        limit = next(r for r in report["results"] if r["workload"] == w and r["pattern"] == "limit")
        fig, ax = plt.subplots(figsize=(12, 0.42 * len(rows) + 1.4))
        labels = [r["label"] + ("  (recommended)" if r["recommended"] else "") for r in rows]
        colors = ["#e65100" if r["recommended"] else ("#6a1b9a" if r["peer"] else "#90a4ae") for r in rows]
        ax.barh(range(len(rows)), [r["elements_per_s"] for r in rows], color=colors)
        ax.axvline(limit["elements_per_s"], color="black", linestyle="--", label="limit")
        ax.set_yticks(range(len(rows)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("elements per second (median)")
        ax.set_title(f"Class {w}: {WORKLOADS[w].title}", fontsize=10)
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        path = os.path.join(folder, f"class_{w}.svg")
        fig.savefig(path, metadata={"Date": None})
        plt.close(fig)
        written.append(path)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m recipes.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter runs (under 2 minutes)")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--plot", metavar="DIR", help="write one SVG chart per class")
    parser.add_argument("--only", metavar="CLASSES", default="A,B,C,D", help="e.g. A,C")
    parser.add_argument("--reps", type=int, help="repetitions per pattern (default 3 quick, 5 full)")
    parser.add_argument("--replot", metavar="JSON",
                        help="only redraw the charts of an existing results file (with --plot)")
    parser.add_argument("--no-service", dest="service", action="store_false",
                        help="skip the tf.data service measurement (it starts server processes)")
    args = parser.parse_args(argv)
    if args.replot:
        if not args.plot:
            parser.error("--replot needs --plot DIR")
        with open(args.replot, encoding="utf-8") as f:
            report = json.load(f)
        for path in write_plots(report, args.plot):
            print("wrote", path)
        return report
    workloads = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload class {unknown}; choose from {sorted(WORKLOADS)}")
    if args.reps is not None and args.reps < 1:
        parser.error("--reps must be at least 1")
    started = time.time()
    command = "python -m recipes.bench " + " ".join(argv if argv is not None else sys.argv[1:])
    results, skipped = run(workloads, args.quick, args.reps)
    service = service_rows(args.reps or (1 if args.quick else 5), args.quick) if args.service else []
    report = {
        "command": command.strip(),
        "mode": "quick" if args.quick else "full",
        "machine": machine_info(),
        "versions": versions(),
        "parameters": {"latency_s": LATENCY_S, "py_loop": PY_LOOP, "sort_size": SORT_SIZE,
                       "png_side": PNG_SIDE, "resize_side": RESIZE_SIDE, "max_shards": MAX_SHARDS},
        "workloads": {w: vars(WORKLOADS[w]) for w in workloads},
        "results": results,
        "skipped_peers": skipped,
        "service": service,
        "seconds": round(time.time() - started, 1),
    }
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
            f.write("\n")
    if args.plot:
        for path in write_plots(report, args.plot):
            print("wrote", path)
    print(f"finished in {report['seconds']} s")
    return report


if __name__ == "__main__":
    main()
