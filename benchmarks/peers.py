"""Peer loaders: the same per-element work, each in its best setup.

Optional: install ``requirements-bench.txt`` to include them. A peer that is not
installed is skipped, and the benchmark says so. Each peer does exactly the
work of the class (``benchmarks.workloads.work_*``) for elements ``0..n-1``:

* PyTorch ``DataLoader``: a map-style dataset, worker *processes* (forked, the
  Linux default), batched hand-off (batch_size 32); 16 workers for waits,
  one per core otherwise.
* Grain: ``MapDataset.map`` read with its reader *threads* (16 for waits, one
  per core otherwise), and with worker *processes* (``mp_prefetch``).

Worker processes import this module: torch and grain are imported inside the
functions, and nothing here imports TensorFlow.
"""

import os

from benchmarks.patterns import Pattern
from benchmarks.workloads import MAX_SHARDS, PY_WORK


class _Work:
    """Picklable per-element work for one class."""

    def __init__(self, workload):
        self.workload = workload

    def __call__(self, i):
        return PY_WORK[self.workload](int(i))


def _torch_peers(workload):
    import torch
    from torch.utils.data import DataLoader, Dataset

    class Indices(Dataset):
        def __init__(self, n, work):
            self.n, self.work = n, work

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            return self.work(i)

    workers = MAX_SHARDS if workload == "A" else (os.cpu_count() or 1)

    def make(n):
        loader = DataLoader(Indices(n, _Work(workload)), batch_size=32, num_workers=workers,
                            prefetch_factor=4, multiprocessing_context="fork")
        for batch in loader:
            yield from torch.as_tensor(batch).tolist()

    return [Pattern(f"torch_dataloader_{workers}w", f"PyTorch DataLoader, {workers} worker processes, batch 32",
                    make, peer=True, min_n=400, params={"workers": workers, "batch_size": 32,
                                                        "torch": torch.__version__})]


def _grain_peers(workload):
    import grain

    threads = MAX_SHARDS if workload == "A" else (os.cpu_count() or 1)
    work = _Work(workload)

    def make_threads(n):
        ds = grain.MapDataset.range(n).map(work).to_iter_dataset(
            grain.ReadOptions(num_threads=threads, prefetch_buffer_size=4 * threads))
        return iter(ds)

    workers = os.cpu_count() or 1

    def make_processes(n):
        # Batched hand-off: each worker sends batches of 32, not single elements.
        ds = grain.MapDataset.range(n).map(work).batch(32).to_iter_dataset(
            grain.ReadOptions(num_threads=1, prefetch_buffer_size=4))
        for batch in ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers)):
            yield from batch.tolist()

    out = [Pattern(f"grain_threads_{threads}", f"Grain, {threads} reader threads", make_threads,
                   peer=True, min_n=400, params={"threads": threads})]
    if workload != "A":
        out.append(Pattern(f"grain_processes_{workers}", f"Grain, {workers} worker processes, batch 32",
                           make_processes, peer=True, min_n=400,
                           params={"workers": workers, "batch_size": 32}))
    return out


def peers_for(workload):
    """(patterns, [(peer, reason skipped)]) for one workload class."""
    if workload == "D":
        reason = "class D is TensorFlow ops; the peers would run different ops"
        return [], [("torch", reason), ("grain", reason)]
    patterns, skipped = [], []
    for name, build in (("torch", _torch_peers), ("grain", _grain_peers)):
        try:
            patterns += build(workload)
        except ImportError as error:
            skipped.append((name, f"not installed ({error.name}); pip install -r requirements-bench.txt"))
    return patterns, skipped
