"""Consuming, checking and timing the patterns; the limit; the service rows.

Within a repetition, the naive pipeline and every pattern run back to back, so
the ratio to naive is taken under the same machine load; the reported figure is
the median over repetitions. Every run checks that exactly the elements
``0..n-1`` arrived, each once.
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
from benchmarks.workloads import LATENCY_S, MAX_SHARDS, WORKLOADS, tf, tf_work, time_bare_work

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
        t = tf()
        fn = t.function(tf_work)
        fn(t.constant(0, t.int64))
        start = time.perf_counter()
        for i in range(n):
            fn(t.constant(i, t.int64))
        return n / (time.perf_counter() - start)
    # In a fresh worker process: no TensorFlow threads competing for the core.
    return shared_process_pool(1).submit(time_bare_work, workload, n).result()


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
    t = tf()
    from recipes.service import local_cluster

    n = 300 if quick else 1200

    def pipeline():
        return t.data.Dataset.range(n).map(tf_work).map(lambda i, _: i)

    rows = []
    for workers in (1, 2):
        with local_cluster(num_workers=workers) as (address, _):
            remote, local, first = [], [], []
            for _ in range(reps):
                settle()
                steady, _ = consume(pipeline(), n)
                local.append((n - 1) / steady)
                settle()
                service = t.data.experimental.service.distribute("distributed_epoch", f"grpc://{address}")
                steady, first_s = consume(pipeline().apply(service), n)
                remote.append((n - 1) / steady)
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


HEADER = f"{'class':<6}{'pattern':<58}{'elements/s':>12}{'x naive':>9}{'x limit':>9}{'1st (s)':>9}"


def run(workloads, quick, reps=None):
    """Measure every pattern and peer of each class; returns (rows, skipped peers)."""
    reps = reps or (3 if quick else 5)
    target_s = 0.25 if quick else 2.0
    limit_n = 100 if quick else 300
    results, skipped = [], []
    plan = {w: patterns_for(w, quick) for w in workloads}
    for w in workloads:
        found, why = peers.peers_for(w)
        plan[w] += found
        skipped += [{"workload": w, "peer": name, "reason": reason} for name, reason in why]
    total = sum(len(p) + 1 for p in plan.values()) * reps
    done = 0
    print(HEADER)
    print("-" * len(HEADER))
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
