"""Consuming, checking and timing the patterns; the limit; the service rows.

Every pattern and peer is consumed in batches of 32 by a plain loop, as a
training step takes them. Within a repetition, the naive pipeline and every
pattern run back to back, so the ratio to naive is taken under the same machine
load; the reported figure is the median over repetitions, and the spread
(max - min) / median says how noisy the repetitions were. Every run checks that
exactly the elements ``0..n-1`` arrived, each once.
"""

import concurrent.futures as cf
import gc
import multiprocessing
import os
import platform
import random
import statistics
import sys
import time

import numpy as np

from benchmarks import peers
from benchmarks.patterns import patterns_for
from benchmarks.workloads import (
    BATCH,
    LATENCY_S,
    MAX_SHARDS,
    SIZES,
    WORKLOADS,
    element_bytes,
    indices_of,
    tf,
    tf_work,
    time_bare_work,
)

NOISY = 0.15  # a row whose spread over repetitions exceeds this is marked
E_MAX_REPS = 3  # class E: at most this many repetitions per size (the full run stays under 15 minutes)

_POOLS = {}


def shared_process_pool(workers):
    """A spawned pool, kept for the run: measures the bare work in a process
    with no TensorFlow threads. Workers import ``benchmarks.workloads``, whose
    top level imports no TensorFlow, so they start in well under a second."""
    if workers not in _POOLS:
        ctx = multiprocessing.get_context("spawn")
        _POOLS[workers] = cf.ProcessPoolExecutor(workers, mp_context=ctx)
    return _POOLS[workers]


def close_process_pools():
    while _POOLS:
        _POOLS.popitem()[1].shutdown(wait=True, cancel_futures=True)


WARMUP_BATCHES = 8  # batches a loader may have made ahead during its start-up (e.g. 2 workers x prefetch 4)


def consume(iterable, n):
    """Iterate in a plain loop, as training does, and check that 0..n-1 arrived.

    Each item is a batch (or a single element); its element indices are read
    back (``indices_of``). Returns ``(steady_seconds, first_seconds,
    skipped)``: the time from the end of the warm-up to the last batch, the
    time to the first batch, and how many elements the warm-up held. The
    warm-up is the first ``WARMUP_BATCHES`` batches (at most half of the run):
    loaders with worker processes compute batches ahead while they start, and
    those would otherwise count as if they had come for free. Start-up costs
    (worker processes, threads, tracing) are reported apart, as the time to
    the first batch.
    """
    got, times = [], []
    start = time.perf_counter()
    for batch in iterable:
        got.append(indices_of(batch))
        times.append(time.perf_counter())
    end = time.perf_counter()
    sizes = [len(g) for g in got]
    got = np.concatenate(got) if got else np.zeros(0, np.int64)
    if got.shape != (n,) or not np.array_equal(np.sort(got), np.arange(n)):
        raise AssertionError(f"expected each of 0..{n - 1} once, got {got.size} elements")
    if not times:
        return end - start, end - start, 0
    warm = max(1, min(WARMUP_BATCHES, len(times) // 2))
    return end - times[warm - 1], times[0] - start, sum(sizes[:warm])


def bare_rate(workload, n, size=None):
    """Single-thread rate of the work alone, without tf.data."""
    if workload == "A":  # one wait at a time: the measured length of a wait
        start = time.perf_counter()
        for _ in range(n):
            time.sleep(LATENCY_S)
        return n / (time.perf_counter() - start)
    if workload == "D":
        t = tf()
        fn = t.function(tf_work)
        fn(t.constant(0, t.int64))
        start = time.perf_counter()
        for i in range(n):
            fn(t.constant(i, t.int64))
        return n / (time.perf_counter() - start)
    # In a fresh worker process: no TensorFlow threads competing for the core.
    return shared_process_pool(1).submit(time_bare_work, workload, n, size).result()


def memory_copy_bandwidth(megabytes=64, reps=5):
    """Bytes per second one thread copies from one array into another (best of ``reps``)."""
    source = np.ones(megabytes * 2 ** 20, dtype=np.uint8)
    target = np.empty_like(source)
    np.copyto(target, source)  # both touched once: no page faults in the timed copies
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - start)
    return source.nbytes / best


def limit_rate(workload, n, size=None, bandwidth=None):
    """Class A: MAX_SHARDS waits at once; B to E: every core doing bare work;
    class E also: no faster than one copy of every element at memory-copy speed.

    Returns ``(elements_per_s, bound)``.
    """
    parallel = MAX_SHARDS if workload == "A" else (os.cpu_count() or 1)
    cpu = parallel * bare_rate(workload, n, size)
    if workload == "E" and bandwidth:
        copy = bandwidth / element_bytes(size)
        if copy < cpu:
            return copy, "memory copy"
    return cpu, "cpu"


def settle():
    """Let the previous pattern's threads and processes wind down first."""
    gc.collect()
    time.sleep(0.3)


def batches(pattern, n):
    """The pattern's pipeline for ``n`` elements, as batches of BATCH."""
    made = pattern.make(n)
    if pattern.batched:
        return made
    return made.batch(BATCH)


def run_pattern(pattern, target_s, n=None, max_n=40_000):
    """Measure one pattern; without ``n`` (or ``pattern.fixed_n``), first size the run to ``target_s``.

    Returns ``(elements_per_s, n, first_element_s, startup_s)``; ``startup_s``
    is the worker start-up the process pool recipe reports (None elsewhere).
    """
    n = n or pattern.fixed_n
    if n is None:
        min_n = pattern.min_n
        steady, _, skipped = consume(batches(pattern, min_n), min_n)
        rate = (min_n - skipped) / max(steady, 1e-6)
        n = int(min(max(rate * target_s, min_n), max_n))
    made = batches(pattern, n)
    steady, first, skipped = consume(made, n)
    pool = getattr(made, "pool", None) or getattr(getattr(made, "_input_dataset", None), "pool", None)
    startup = pool.startup_s if pool is not None else None
    return (n - skipped) / max(steady, 1e-9), n, first, startup


def service_rows(reps, quick):
    """Class D work run by tf.data service workers (separate processes) versus
    the same pipeline in this process, for one and two workers."""
    t = tf()
    from recipes.service import local_cluster

    n = 300 if quick else 1200

    def pipeline():
        return t.data.Dataset.range(n).map(tf_work).map(lambda i, _: i).batch(BATCH)

    rows = []
    for workers in (1, 2):
        with local_cluster(num_workers=workers) as (address, _):
            remote, local, first = [], [], []
            for _ in range(reps):
                settle()
                steady, _, first_count = consume(pipeline(), n)
                local.append((n - first_count) / steady)
                settle()
                service = t.data.experimental.service.distribute("distributed_epoch", f"grpc://{address}")
                steady, first_s, first_count = consume(pipeline().apply(service), n)
                remote.append((n - first_count) / steady)
                first.append(first_s)
        rows.append({
            "workers": workers,
            "elements_per_s": statistics.median(remote),
            "in_process_elements_per_s": statistics.median(local),
            "ratio_to_in_process": statistics.median(r / b for r, b in zip(remote, local)),
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
    out = {"numpy": np.__version__, "tensorflow": tf().__version__}
    for name in ("torch", "grain", "keras"):
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


HEADER = (f"{'class':<6}{'pattern':<58}{'elements/s':>12}{'MB/s':>9}{'x naive':>9}{'x limit':>9}"
          f"{'spread':>8}{'1st (s)':>9}")


def _groups(workload, plan):
    """Patterns measured against one naive pipeline and one limit: a class, or one size of class E."""
    if workload != "E":
        return [(None, plan)]
    return [(size, [p for p in plan if p.size == size]) for size in SIZES if any(p.size == size for p in plan)]


def _row(workload, size, pattern, rate_list, naive_list, limits, per_rep, reps):
    rates = sorted(rate_list)
    median = statistics.median(rates)
    spread = (rates[-1] - rates[0]) / median if median else None
    startups = [r[pattern.name][3] for _, r in per_rep if r[pattern.name][3] is not None]
    return {
        "workload": workload,
        "pattern": pattern.name,
        "label": pattern.label,
        "recommended": pattern.recommended,
        "peer": pattern.peer,
        "params": pattern.params,
        "size": size,
        "element_bytes": element_bytes(size),
        "elements_per_s": median,
        "mb_per_s": median * element_bytes(size) / 1e6,
        "elements_per_s_min": rates[0],
        "elements_per_s_max": rates[-1],
        "spread": spread,
        "noisy": spread is not None and spread > NOISY,
        "ratio_to_naive": statistics.median(r / b for r, b in zip(rate_list, naive_list)),
        "ratio_to_limit": statistics.median(r / lim for r, lim in zip(rate_list, limits)),
        "elements_checked": sum(r[pattern.name][1] for _, r in per_rep),
        "first_element_s": statistics.median(r[pattern.name][2] for _, r in per_rep),
        "startup_s": statistics.median(startups) if startups else None,
        "repetitions": reps,
    }


def _print_row(row):
    flag = (" *" if row["recommended"] else "") + (" !" if row["noisy"] else "")
    size = f"[{row['size']}] " if row["size"] else ""
    naive = "" if row["ratio_to_naive"] is None else f"{row['ratio_to_naive']:.2f}"
    first = "" if row["first_element_s"] is None else f"{row['first_element_s']:.3f}"
    spread = "" if row["spread"] is None else f"{row['spread']:.0%}"
    print(f"{row['workload']:<6}{(size + row['label'] + flag)[:57]:<58}{row['elements_per_s']:>12.0f}"
          f"{row['mb_per_s']:>9.1f}{naive:>9}{row['ratio_to_limit']:>9.2f}{spread:>8}{first:>9}", flush=True)


def run(workloads, quick, reps=None, target_s=None):
    """Measure every pattern and peer of each class; returns (rows, skipped peers, bandwidth)."""
    reps = reps or (1 if quick else 4)
    target_s = target_s or (0.25 if quick else 1.0)
    limit_n = 100 if quick else 300
    bandwidth = memory_copy_bandwidth(16 if quick else 64) if "E" in workloads else None
    results, skipped = [], []
    plan = {w: patterns_for(w, quick) for w in workloads}
    for w in workloads:
        found, why = peers.peers_for(w, quick)
        plan[w] += found
        skipped += [{"workload": w, "peer": name, "reason": reason} for name, reason in why]
    groups = [(w, size, patterns) for w in workloads for size, patterns in _groups(w, plan[w])]
    group_reps = [min(reps, E_MAX_REPS) if size else reps for _, size, _ in groups]
    total = sum((len(p) + 1) * r for (_, _, p), r in zip(groups, group_reps))
    done = 0
    print(HEADER)
    print("-" * len(HEADER))
    for (w, size, patterns), reps in zip(groups, group_reps):
        per_rep = []
        for rep in range(reps):
            progress(done, total, f"{w}{' ' + size if size else ''}: limit (rep {rep + 1}/{reps})")
            limit, bound = limit_rate(w, limit_n, size, bandwidth)
            done += 1
            rates = {}
            order = list(patterns)
            random.Random(rep).shuffle(order)  # no pattern always runs right after another
            for pattern in order:
                settle()
                progress(done, total, f"{w}: {pattern.name} (rep {rep + 1}/{reps})")
                sized = per_rep[0][1][pattern.name][1] if per_rep else None  # same n every rep
                rates[pattern.name] = run_pattern(pattern, target_s, n=sized)
                done += 1
            per_rep.append(((limit, bound), rates))
        limits = [lim for (lim, _), _ in per_rep]
        naive = next(p.name for p in patterns if p.name.startswith("naive"))
        naive_list = [r[naive][0] for _, r in per_rep]
        for pattern in patterns:
            rate_list = [r[pattern.name][0] for _, r in per_rep]
            row = _row(w, size, pattern, rate_list, naive_list, limits, per_rep, reps)
            results.append(row)
            _print_row(row)
        limit_sorted = sorted(limits)
        median = statistics.median(limits)
        bounds = sorted({b for (_, b), _ in per_rep})
        rule = WORKLOADS[w].limit_rule if not size else (
            "memory-copy bandwidth / element size" if bounds == ["memory copy"] else
            "cores x single-core rate of the bare work" if bounds == ["cpu"] else WORKLOADS[w].limit_rule)
        row = {"workload": w, "pattern": f"limit_{size}" if size else "limit", "label": "limit: " + rule,
               "recommended": False, "peer": False, "params": {"bound": bounds},
               "size": size, "element_bytes": element_bytes(size),
               "elements_per_s": median, "mb_per_s": median * element_bytes(size) / 1e6,
               "elements_per_s_min": limit_sorted[0], "elements_per_s_max": limit_sorted[-1],
               "spread": (limit_sorted[-1] - limit_sorted[0]) / median,
               "noisy": (limit_sorted[-1] - limit_sorted[0]) / median > NOISY,
               "ratio_to_naive": None, "ratio_to_limit": 1.0, "elements_checked": 0,
               "first_element_s": None, "startup_s": None, "repetitions": reps}
        results.append(row)
        _print_row(row)
    close_process_pools()
    progress(total, total, "done")
    for s in skipped:
        print(f"skipped peer {s['peer']} for class {s['workload']}: {s['reason']}")
    return results, skipped, bandwidth
