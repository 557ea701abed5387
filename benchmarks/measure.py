"""Consuming, checking and timing the patterns; the limit; the breakdown; the service rows.

Discipline (``FULL``, or ``QUICK`` for a smoke run):

* Every pattern and peer is consumed in batches of 32 by a plain loop, as a
  training step takes them, through the same ``tf.data`` tail (``tail``).
* One repetition of a pattern times at least ``min_batches`` batches *and* at
  least ``min_seconds`` seconds after a warm-up; a run that falls short is
  made again with more elements (bounded by ``max_n``).
* Repetitions are interleaved: each repetition of a group (a class, or one
  element size of class E) runs every pattern, every peer and the limit once,
  in a shuffled order, so drift in the machine's load hits all of them alike.
* Each row reports the median over repetitions and its 95 % bootstrap interval
  (``benchmarks.stats``), for elements/s and for the ratios to the naive
  pipeline, the best peer and the limit taken *within* each repetition.
* A row whose interval is wide is measured again, with the rows its ratios
  refer to, in ``extra_reps`` more interleaved repetitions (at most
  ``extra_rounds`` times). A row still wide is marked ``wide``.
* Every run checks that exactly the elements ``0..n-1`` arrived, each once.
"""

import concurrent.futures as cf
import gc
import multiprocessing
import os
import platform
import random
import statistics
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np

from benchmarks import peers, stats
from benchmarks.patterns import Pattern, patterns_for, scaling_patterns, size_patterns, sizes_for
from benchmarks.workloads import (
    BATCH,
    LATENCY_S,
    MAX_SHARDS,
    SIZES,
    WORKLOADS,
    element_bytes,
    indices_of,
    spec_args,
    tf,
    tf_work,
    time_bare_work,
    work_for,
)


@dataclass(frozen=True)
class Discipline:
    reps: int  # interleaved repetitions per group
    min_batches: int  # batches timed per repetition, at least
    min_seconds: float  # seconds timed per repetition, at least
    warmup_batches: int  # batches a loader may have made ahead while starting (not timed)
    extra_rounds: int  # rounds of re-measuring wide rows
    extra_reps: int  # repetitions added per round
    max_n: int = 60_000  # elements per run, at most


FULL = Discipline(reps=5, min_batches=10, min_seconds=1.0, warmup_batches=8, extra_rounds=1, extra_reps=2)
QUICK = Discipline(reps=2, min_batches=2, min_seconds=0.05, warmup_batches=2, extra_rounds=1, extra_reps=1,
                   max_n=2_000)

_POOLS = {}


def shared_process_pool(workers):
    """A spawned pool, kept for the run: runs the bare work in processes with
    no TensorFlow threads. Workers import ``benchmarks.workloads``, whose top
    level imports no TensorFlow, so they start in well under a second."""
    if workers not in _POOLS:
        ctx = multiprocessing.get_context("spawn")
        _POOLS[workers] = cf.ProcessPoolExecutor(workers, mp_context=ctx)
    return _POOLS[workers]


def close_process_pools():
    while _POOLS:
        _POOLS.popitem()[1].shutdown(wait=True, cancel_futures=True)


def tail(dataset):
    """The same tf.data tail after every pattern and peer: prefetch, as a training input ends."""
    return dataset.prefetch(tf().data.AUTOTUNE)


def consume(iterable, n, warmup_batches=8):
    """Iterate in a plain loop, as training does, and check that 0..n-1 arrived.

    Returns ``(steady_seconds, first_seconds, skipped, timed_batches,
    steady_cpu_seconds, end_seconds, rate)``: the time from the end of the
    warm-up to the last batch, the time to the first batch, how many elements the
    warm-up held, how many batches were timed, the CPU time this process (all
    its threads) spent over the timed part, the time from the last batch to the
    end of the loop, and the steady rate (:func:`steady_rate`). The warm-up is
    the first ``warmup_batches`` batches (at most half of the run): loaders with
    worker processes compute batches ahead while they start, and those would
    otherwise count as if they had come for free. The end is timed apart because
    it is not throughput: leaving the loop raises ``StopIteration`` and deletes
    the iterator, which stops its threads or worker processes, and on TF 2.21
    deleting the iterator of an autotuned ``tf.data`` pipeline sometimes waits
    for its autotuning thread to wake, a wait that grows with how long the
    iterator ran (about 1-2 s after 1.5-3 s of iterating here, in 1 run of 3).
    Counted in, it made the rates of one pipeline fall into two clusters about
    1.5x apart.
    """
    got, times, cpu = [], [], []
    start = time.perf_counter()
    for batch in iterable:
        got.append(indices_of(batch))
        times.append(time.perf_counter())
        cpu.append(time.process_time())
    end = time.perf_counter()
    sizes = [len(g) for g in got]
    got = np.concatenate(got) if got else np.zeros(0, np.int64)
    if got.shape != (n,) or not np.array_equal(np.sort(got), np.arange(n)):
        raise AssertionError(f"expected each of 0..{n - 1} once, got {got.size} elements")
    if not times:
        return end - start, end - start, 0, 0, 0.0, 0.0
    warm = max(1, min(warmup_batches, len(times) // 2))
    if warm == len(times):  # one batch: nothing after the warm-up to time
        return end - start, times[0] - start, 0, 1, cpu[-1], end - times[-1], n / max(end - start, 1e-9)
    return (times[-1] - times[warm - 1], times[0] - start, sum(sizes[:warm]), len(times) - warm,
            cpu[-1] - cpu[warm - 1], end - times[-1], steady_rate(times[warm - 1:], sizes[warm:]))


def steady_rate(times, sizes, points=400):
    """Elements per second after the warm-up: the Theil-Sen slope of elements delivered against time.

    ``times[0]`` is the last warm-up batch's arrival, ``times[k]`` the arrival of
    the batch of ``sizes[k - 1]`` elements. The median slope between every two
    arrivals moves little for a burst of batches a loader made ahead before the
    clock started (DataLoader with 16 workers keeps 32 ready, more than the
    warm-up skips) or for a stall; elements over elapsed time counts both in
    full. At most ``points`` arrivals, evenly spread, enter the fit.
    """
    import scipy.stats

    t = np.asarray(times, float)
    c = np.concatenate([[0.0], np.cumsum(sizes, dtype=float)])
    if len(t) > points:
        pick = np.linspace(0, len(t) - 1, points).round().astype(int)
        t, c = t[pick], c[pick]
    if len(t) < 3 or t[-1] <= t[0]:
        return (c[-1] - c[0]) / max(t[-1] - t[0], 1e-9)
    return float(scipy.stats.theilslopes(c, t)[0])


def settle():
    """Let the previous pattern's threads and processes wind down first."""
    gc.collect()
    time.sleep(0.1)


def batches(pattern, n):
    """``(pipeline, pool)``: the pattern's pipeline for ``n`` elements as batches of BATCH, and the
    process pool recipe's pool when the pattern is that recipe (None otherwise)."""
    made = pattern.make(n)
    pool = getattr(made, "pool", None)
    if not pattern.batched:
        made = made.batch(BATCH)
    return made, pool


def run_once(pattern, n, disc):
    """One timed run of ``n`` elements: a dict of rate, timed seconds and batches, first batch, start-up."""
    made, pool = batches(pattern, n)
    steady, first, skipped, timed, cpu, end, rate = consume(tail(made), n, warmup_of(pattern, disc))
    return {"rate": rate, "seconds": steady, "batches": timed, "n": n,
            "first_s": first, "end_s": end, "startup_s": pool.startup_s if pool is not None else None,
            "consumer_cpu_us": 1e6 * cpu / max(n - skipped, 1)}


def warmup_of(pattern, disc):
    """Warm-up batches: the discipline's for loaders with worker processes (they make batches ahead while
    they start), at most 2 for pipelines of threads in this process."""
    ahead = pattern.peer or "workers" in pattern.params
    return disc.warmup_batches if ahead else min(2, disc.warmup_batches)


def measure_pattern(pattern, n, disc, tries=4):
    """Run until one run timed at least ``min_batches`` and ``min_seconds``; returns (result, n used)."""
    for _ in range(tries):
        settle()
        result = run_once(pattern, n, disc)
        if (result["seconds"] >= disc.min_seconds and result["batches"] >= disc.min_batches) or n >= disc.max_n:
            return result, n
        warm = warmup_of(pattern, disc) * BATCH
        wanted = max(result["rate"] * disc.min_seconds * 1.3, disc.min_batches * BATCH * 1.3)
        # At most 4x the last run: a short run's rate can be a burst's (batches made ahead), not the steady one.
        n = min(disc.max_n, 4 * n, warm + BATCH * int(np.ceil(wanted / BATCH)))
    return result, n


D_LOOP = 16  # class D limit: elements per call of the graph loop (no Python between them)
_LOOPS = {}


def _graph_loop():
    """Class D's bare ops for D_LOOP elements in one graph (a ``tf.while_loop``): no Python per element."""
    if "D" not in _LOOPS:
        t = tf()

        @t.function
        def loop(start):
            total = t.constant(0.0)
            for i in t.range(start, start + D_LOOP):
                total += tf_work(i)[1]
            return total
        _LOOPS["D"] = loop
    return _LOOPS["D"]


class Limit:
    """The physical limit of a group, measured in each repetition like a pattern.

    Class A: ``MAX_SHARDS`` waits at once, exactly ``MAX_SHARDS / LATENCY_S``
    (a real wait only lasts longer). Classes B, C, E: the bare work in as many
    processes as cores (or as the scaling run's workers), fresh ones each
    repetition, all at once, the fastest one's rate times their
    number; class E also copies each result once
    into a batch buffer (the copy into the batch tensor no pipeline avoids).
    Class D: the bare TF ops in as many threads as cores (the ops release the GIL),
    each thread running them in a graph loop, with no Python per element.
    """

    def __init__(self, workload, size=None, processes=None):
        self.workload, self.size = workload, size
        self.processes = processes or (MAX_SHARDS if workload == "A" else (os.cpu_count() or 1))
        self.name = f"limit_{size}" if size else "limit"
        self.rule = {
            "A": f"{MAX_SHARDS} waits at once / {LATENCY_S * 1e3:g} ms (exact)",
            "D": f"the bare TF ops in a graph loop, in {self.processes} threads at once",
            "E": f"the bare work plus one copy into a batch buffer, in {self._procs()} at once (fastest x processes)",
        }.get(workload, f"the bare work in {self._procs()} at once (fastest x processes)")

    def _procs(self):
        return f"{self.processes} process" + ("es" if self.processes > 1 else "")

    def run(self, disc):
        seconds = max(disc.min_seconds, 0.05)
        if self.workload == "A":  # exact: no element comes before its wait ends, and 16 wait at once at most
            return self.processes / LATENCY_S
        if self.workload == "D":
            t = tf()
            loop = _graph_loop()
            loop(t.constant(0, t.int64))
            rates = [0.0] * self.processes

            def run(k):
                count, start = 0, time.perf_counter()
                while count < BATCH or time.perf_counter() - start < seconds:
                    loop(t.constant(count, t.int64))
                    count += D_LOOP
                rates[k] = count / (time.perf_counter() - start)

            threads = [threading.Thread(target=run, args=(k,)) for k in range(self.processes)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            return sum(rates)
        # Fresh processes every repetition, as the patterns' workers are: processes running the same code
        # differ in speed by up to ~10 % here (memory layout), so a long-lived pool would fix one draw for
        # the whole run. They start the clock together, after all have started. The fastest one's rate
        # times their number: the pattern's workers may be the faster kind; the sum would not bound them.
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(self.processes, mp_context=ctx) as pool:
            list(pool.map(int, range(self.processes)))  # every worker started
            start_at = time.time() + 0.5
            futures = [pool.submit(time_bare_work, self.workload, seconds, self.size, self.workload == "E",
                                   start_at) for _ in range(self.processes)]
            return self.processes * max(count / elapsed for count, elapsed in (f.result() for f in futures))


@dataclass
class Group:
    """Patterns measured against one naive pipeline and one limit."""
    workload: str
    size: str
    workers: int  # None, or the worker count of a scaling run
    patterns: list
    limit: Limit

    @property
    def title(self):
        return (f"{self.workload}" + (f" {self.size}" if self.size else "")
                + (f" scaling {self.workers} worker(s)" if self.workers else ""))


class Progress:
    """One line per measured run on stderr: where the run is, and how long it has taken."""

    def __init__(self, total):
        self.total, self.done, self.start = total, 0, time.time()

    def step(self, text):
        self.done += 1
        elapsed = time.time() - self.start
        left = elapsed / self.done * (self.total - self.done)
        print(f"[{self.done:>4}/{self.total}] {elapsed:6.0f} s  (about {left / 60:.0f} min left)  {text}",
              file=sys.stderr, flush=True)


def _rep(group, names, rng, disc, n_for, progress, rep_label):
    """One interleaved repetition of ``names`` (patterns and the limit) in a shuffled order."""
    by_name = {p.name: p for p in group.patterns}
    order = list(names)
    rng.shuffle(order)
    out = {}
    for name in order:
        if name == group.limit.name:
            out[name] = {"rate": group.limit.run(disc)}
        else:
            p = by_name[name]
            first_n = (warmup_of(p, disc) + disc.min_batches) * BATCH
            out[name], n_for[name] = measure_pattern(p, n_for.get(name, max(first_n, p.min_n)), disc)
        progress.step(f"{group.title}: {name} ({rep_label}) {out[name]['rate']:,.0f}/s")
    return out


def _ratio(reps, name, ref):
    pairs = [r[name]["rate"] / r[ref]["rate"] for r in reps if name in r and ref in r]
    return stats.interval(pairs) if pairs else (None, None, None)


def _best_peer(group, reps):
    names = [p.name for p in group.patterns if p.peer]
    if not names:
        return None
    return max(names, key=lambda n: statistics.median(r[n]["rate"] for r in reps if n in r))


def rows_of(group, reps, base_reps):
    """The published rows of a group: one per pattern and peer, then the limit."""
    naive = group.patterns[0].name
    best = _best_peer(group, reps)
    rows = []
    entries = [(p, p.name) for p in group.patterns] + [(None, group.limit.name)]
    for p, name in entries:
        mine = [r[name] for r in reps if name in r]
        med, low, high = stats.interval([m["rate"] for m in mine])
        ratios = {}
        for key, ref in (("naive", naive), ("limit", group.limit.name), ("best_peer", best)):
            value = (None, None, None) if ref is None or (p is not None and p.peer and key == "best_peer") \
                else _ratio(reps, name, ref)
            ratios.update({f"ratio_to_{key}": value[0], f"ratio_to_{key}_low": value[1],
                           f"ratio_to_{key}_high": value[2]})
        if p is None:
            ratios.update({"ratio_to_naive": None, "ratio_to_naive_low": None, "ratio_to_naive_high": None,
                           "ratio_to_best_peer": None, "ratio_to_best_peer_low": None,
                           "ratio_to_best_peer_high": None})
        timed = [m for m in mine if "batches" in m]
        startups = [m["startup_s"] for m in timed if m.get("startup_s") is not None]
        width = stats.half_width(med, low, high)
        rows.append({
            "workload": group.workload,
            "pattern": name,
            "label": p.label if p else "limit: " + group.limit.rule,
            "recommended": bool(p and p.recommended),
            "candidate": bool(p and p.candidate),
            "peer": bool(p and p.peer),
            "params": dict(p.params) if p else {"processes": group.limit.processes, "rule": group.limit.rule},
            "size": group.size,
            "workers": group.workers,
            "element_bytes": element_bytes(group.size),
            "elements_per_s": med,
            "elements_per_s_low": low,
            "elements_per_s_high": high,
            "half_width": width,
            "wide": stats.is_wide(med, low, high),
            "mb_per_s": med * element_bytes(group.size) / 1e6,
            **ratios,
            "best_peer": best if (p is not None and not p.peer) else None,
            "rates": [m["rate"] for m in mine],
            "repetitions": len(mine),
            "remeasured": len(mine) - base_reps,
            "elements_checked": sum(m["n"] for m in timed),
            "batches_timed_min": min((m["batches"] for m in timed), default=None),
            "seconds_timed_min": min((m["seconds"] for m in timed), default=None),
            "first_element_s": statistics.median(m["first_s"] for m in timed) if timed else None,
            "end_s": statistics.median(m["end_s"] for m in timed) if timed else None,
            "end_s_max": max((m["end_s"] for m in timed), default=None),
            "startup_s": statistics.median(startups) if startups else None,
            "consumer_cpu_us": statistics.median(m["consumer_cpu_us"] for m in timed) if timed else None,
        })
    return rows


def run_group(group, disc, progress, seed, on_pace=lambda: True):
    """All repetitions of one group, then the bounded re-measuring of its wide rows (while the run is on
    pace for its time budget)."""
    rng = random.Random(seed)
    names = [p.name for p in group.patterns] + [group.limit.name]
    n_for, reps = {}, []
    for rep in range(disc.reps):
        reps.append(_rep(group, names, rng, disc, n_for, progress, f"rep {rep + 1}/{disc.reps}"))
    for round_ in range(disc.extra_rounds):
        rows = rows_of(group, reps, disc.reps)
        wide = [r["pattern"] for r in rows if r["wide"]]
        if not wide:
            break
        if not on_pace():
            print(f"{group.title}: {len(wide)} wide row(s) not measured again: the run is behind its time budget",
                  file=sys.stderr, flush=True)
            break
        refs = [group.patterns[0].name, group.limit.name, _best_peer(group, reps)]
        again = [n for n in names if n in wide or n in refs]
        progress.total += disc.extra_reps * len(again)
        for extra in range(disc.extra_reps):
            reps.append(_rep(group, again, rng, disc, n_for, progress,
                             f"re-measure {extra + 1}/{disc.extra_reps}, round {round_ + 1}"))
    return rows_of(group, reps, disc.reps)


def plan(workloads, quick, sizes=None, only_patterns=None, scaling=()):
    """The groups to measure and the peers skipped."""
    groups, skipped = [], []
    cores = os.cpu_count() or 1
    for w in workloads:
        own = ([p for size in (sizes or sizes_for(quick)) for p in size_patterns(size, quick)] if w == "E"
               else patterns_for(w, quick))
        found, why = peers.peers_for(w, quick, sizes)
        skipped += [{"workload": w, "peer": name, "reason": reason} for name, reason in why]
        everything = own + found
        if only_patterns:
            everything = [p for p in everything if p is own[0] or p.name.startswith("naive")
                          or any(key in p.name for key in only_patterns)]
        if w == "E":
            for size in (sizes or sizes_for(quick)):
                mine = [p for p in everything if p.size == size]
                if mine:
                    groups.append(Group(w, size, None, mine, Limit(w, size)))
        else:
            groups.append(Group(w, None, None, everything, Limit(w)))
    for w in scaling:  # the main group of the class has the point for every core
        for workers in range(1, cores):
            groups.append(Group(w, None, workers, scaling_patterns(w, workers), Limit(w, None, workers)))
    return groups, skipped


def run(groups, disc, budget_s=None):
    """Measure every group; returns the rows, in group order.

    ``budget_s``: wide rows are measured again only while the run is on pace to
    finish within it (the repetitions themselves always run).
    """
    progress = Progress(sum((len(g.patterns) + 1) * disc.reps for g in groups))
    print(HEADER)
    print("-" * len(HEADER))
    results = []
    for k, group in enumerate(groups):
        def on_pace(k=k):
            return budget_s is None or time.time() - progress.start < budget_s * (k + 1) / len(groups)
        rows = run_group(group, disc, progress, seed=k, on_pace=on_pace)
        for row in rows:
            _print_row(row)
        results += rows
    return results


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


def _per_element_us(fn, elements, seconds):
    """Microseconds per element of ``fn()`` (which handles ``elements`` elements), repeated for ``seconds``."""
    fn()
    count, start = 0, time.perf_counter()
    while count < 3 or time.perf_counter() - start < seconds:
        fn()
        count += 1
    return 1e6 * (time.perf_counter() - start) / (count * elements)


def breakdown(size, disc, reps=3):
    """Where the time of one class E element goes in the process pool recipe, in microseconds.

    Each part is timed on its own (median of ``reps``): the worker's Python
    work; its copy into the shared-memory ring; the pipe message per chunk;
    the consumer's copy out of the ring into fresh memory; the hand-off of a
    batch to TensorFlow (``from_generator``, tensor creation, the tail); and,
    timed during a real run of the recipe, all the CPU the consuming process
    spends per element. With ``cores`` cores shared by workers and consumer,
    ``cores * 1e6 / (work + ring write + consumer CPU)`` bounds the recipe.
    """
    from multiprocessing import Pipe, shared_memory

    from recipes.process_pool import _aligned_copy

    t = tf()
    seconds = max(disc.min_seconds / 2, 0.05)
    shape, dtype = spec_args("E", size)
    work = work_for("E", size)
    one = np.asarray(work(0))
    batch = np.stack([np.asarray(work(i)) for i in range(BATCH)])
    parts = {k: [] for k in ("work", "ring_write", "pipe_message", "copy_out", "to_tensor", "consumer_cpu")}
    shm = shared_memory.SharedMemory(create=True, size=max(batch.nbytes, 8))
    left, right = Pipe()
    views = {}  # the ring's view into shared memory, dropped before the segment closes
    try:
        views["ring"] = np.ndarray(batch.shape, batch.dtype, buffer=shm.buf)
        views["ring"][:] = batch

        def ring_write():
            ring = views["ring"]
            for k in range(BATCH):
                ring[k] = one

        def pipe_message():
            left.send((0, 1, BATCH))
            right.recv()

        aligned = _aligned_copy(batch)  # as the recipe hands batches over: aligned, so TF can use the memory

        def generate():
            while True:
                yield aligned

        spec = t.TensorSpec((None, *shape), t.as_dtype(dtype))
        handoff = iter(tail(t.data.Dataset.from_generator(generate, output_signature=spec)))

        def to_tensor():
            next(handoff)

        for _ in range(reps):
            count, elapsed = shared_process_pool(1).submit(time_bare_work, "E", seconds, size, False).result()
            parts["work"].append(1e6 * elapsed / count)
            parts["ring_write"].append(_per_element_us(ring_write, BATCH, seconds))
            parts["pipe_message"].append(_per_element_us(pipe_message, BATCH, seconds))
            parts["copy_out"].append(_per_element_us(lambda: _aligned_copy(views["ring"]), BATCH, seconds))
            parts["to_tensor"].append(_per_element_us(to_tensor, BATCH, seconds))
            recipe = next(p for p in size_patterns(size) if p.recommended)
            n = max((disc.warmup_batches + disc.min_batches) * BATCH, 256)
            parts["consumer_cpu"].append(run_once(recipe, n, disc)["consumer_cpu_us"])
    finally:
        views.clear()
        left.close()
        right.close()
        shm.close()
        shm.unlink()
    out = {k: statistics.median(v) for k, v in parts.items()}
    cores = os.cpu_count() or 1
    out["cpu_per_element"] = out["work"] + out["ring_write"] + out["consumer_cpu"]
    out["bound_elements_per_s"] = cores * 1e6 / out["cpu_per_element"]
    out["size"] = size
    return out


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
                steady, _, first_count, *_ = consume(pipeline(), n)
                local.append((n - first_count) / steady)
                settle()
                service = t.data.experimental.service.distribute("distributed_epoch", f"grpc://{address}")
                steady, first_s, first_count, *_ = consume(pipeline().apply(service), n)
                remote.append((n - first_count) / steady)
                first.append(first_s)
        ratio = stats.interval([r / b for r, b in zip(remote, local)])
        rows.append({
            "workers": workers,
            "elements_per_s": statistics.median(remote),
            "in_process_elements_per_s": statistics.median(local),
            "ratio_to_in_process": ratio[0],
            "ratio_to_in_process_low": ratio[1],
            "ratio_to_in_process_high": ratio[2],
            "first_element_s": statistics.median(first),
            "elements_checked": reps * n,
            "repetitions": reps,
        })
        print(f"{'svc':<6}{f'tf.data service, {workers} worker(s), class D work':<58}"
              f"{rows[-1]['elements_per_s']:>12.0f}   x in-process {ratio[0]:.2f}", flush=True)
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
    for name in ("torch", "grain", "keras", "scipy"):
        try:
            module = __import__(name)
            out[name] = getattr(module, "__version__", "installed")
        except ImportError:
            out[name] = None
    return out


HEADER = (f"{'class':<6}{'pattern':<58}{'elements/s':>12}{'95% interval':>22}{'x naive':>9}{'x limit':>9}"
          f"{'reps':>6}")


def _print_row(row):
    flag = (" *" if row["recommended"] else "") + (" (wide)" if row["wide"] else "")
    where = "".join(f"[{x}] " for x in (row["size"], row["workers"] and f"{row['workers']}w") if x)
    naive = "" if row["ratio_to_naive"] is None else f"{row['ratio_to_naive']:.2f}"
    low, high = row["elements_per_s_low"], row["elements_per_s_high"]
    ci = "" if low is None else f"{low:,.0f}-{high:,.0f}"
    print(f"{row['workload']:<6}{(where + row['label'] + flag)[:57]:<58}{row['elements_per_s']:>12,.0f}"
          f"{ci:>22}{naive:>9}{row['ratio_to_limit']:>9.2f}{row['repetitions']:>6}", flush=True)


__all__ = ["FULL", "QUICK", "Discipline", "Group", "Limit", "Pattern", "WORKLOADS", "SIZES", "breakdown",
           "consume", "plan", "run", "service_rows"]
