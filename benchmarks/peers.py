"""Peer loaders: the same per-element work, each in its best setup, in batches of 32.

Optional: install ``requirements-bench.txt`` to include them. A peer that is not
installed is skipped, and the benchmark says so. Each peer does exactly the
work of the class (``benchmarks.workloads.work_for``) for elements ``0..n-1``
and hands over batches of ``BATCH`` to a plain loop, as a training step takes
them:

* PyTorch ``DataLoader``: a map-style dataset, worker *processes* (forked, the
  Linux default), batch_size 32 (tensors travel through shared memory); 16
  workers for waits, one per core otherwise.
* Grain: ``MapDataset.map`` read with its reader *threads* (16 for waits, one
  per core otherwise; not for class E), and with worker *processes*
  (``mp_prefetch``) for work that holds the GIL.
* Keras 3 ``PyDataset`` with ``workers`` and ``use_multiprocessing=True``,
  iterated by Keras's own adapter, as ``model.fit`` does.

Worker processes import this module: torch, grain and keras are imported
inside the functions, and nothing here imports TensorFlow.
"""

import os

from benchmarks.patterns import Pattern, size_patterns, sizes_for
from benchmarks.workloads import BATCH, MAX_SHARDS, work_for


class _Work:
    """Picklable per-element work for one class (and size)."""

    def __init__(self, workload, size=None):
        self.workload, self.size = workload, size
        self.work = work_for(workload, size)

    def __call__(self, i):
        return self.work(int(i))


def _suffix(size):
    return f"_{size}" if size else ""


def _common(size, quick):
    if size is None:
        return {"min_n": 400}
    return {"size": size, "fixed_n": size_patterns(size, quick)[0].fixed_n}


def _torch_peers(workload, size, quick):
    import numpy as np
    import torch
    from torch.utils.data import DataLoader, Dataset

    class Indices(Dataset):
        def __init__(self, n, work):
            self.n, self.work = n, work

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            return np.asarray(self.work(i))

    workers = MAX_SHARDS if workload == "A" else (os.cpu_count() or 1)

    def make(n):
        loader = DataLoader(Indices(n, _Work(workload, size)), batch_size=BATCH, num_workers=workers,
                            prefetch_factor=4, multiprocessing_context="fork")
        yield from loader

    return [Pattern(f"torch_dataloader_{workers}w{_suffix(size)}",
                    f"PyTorch DataLoader, {workers} worker processes, batch {BATCH}",
                    make, peer=True, batched=True, **_common(size, quick),
                    params={"workers": workers, "batch_size": BATCH, "torch": torch.__version__})]


def _grain_peers(workload, size, quick):
    import grain

    threads = MAX_SHARDS if workload == "A" else (os.cpu_count() or 1)
    work = _Work(workload, size)

    def make_threads(n):
        ds = grain.MapDataset.range(n).map(work).batch(BATCH).to_iter_dataset(
            grain.ReadOptions(num_threads=threads, prefetch_buffer_size=4 * threads))
        return iter(ds)

    workers = os.cpu_count() or 1

    def make_processes(n):
        # Batched hand-off: each worker sends batches of 32, not single elements.
        ds = grain.MapDataset.range(n).map(work).batch(BATCH).to_iter_dataset(
            grain.ReadOptions(num_threads=1, prefetch_buffer_size=4))
        return iter(ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers)))

    out = []
    if workload != "E":
        out.append(Pattern(f"grain_threads_{threads}", f"Grain, {threads} reader threads, batch {BATCH}",
                           make_threads, peer=True, batched=True, **_common(size, quick),
                           params={"threads": threads, "batch_size": BATCH}))
    if workload != "A":
        out.append(Pattern(f"grain_processes_{workers}{_suffix(size)}",
                           f"Grain, {workers} worker processes, batch {BATCH}",
                           make_processes, peer=True, batched=True, **_common(size, quick),
                           params={"workers": workers, "batch_size": BATCH}))
    return out


def _keras_peers(workload, size, quick):
    import keras
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    workers = MAX_SHARDS if workload == "A" else (os.cpu_count() or 1)
    work = _Work(workload, size)

    class Batches(keras.utils.PyDataset):
        def __init__(self, n):
            super().__init__(workers=workers, use_multiprocessing=True, max_queue_size=4)
            self.n = n

        def __len__(self):
            return -(-self.n // BATCH)

        def __getitem__(self, index):
            import numpy as np
            return (np.stack([np.asarray(work(i)) for i in range(index * BATCH, min((index + 1) * BATCH, self.n))]),)

    def make(n):
        adapter = PyDatasetAdapter(Batches(n), shuffle=False)
        for (batch,) in adapter.get_numpy_iterator():
            yield batch

    return [Pattern(f"keras_pydataset_{workers}w{_suffix(size)}",
                    f"Keras 3 PyDataset, {workers} worker processes, batch {BATCH}",
                    make, peer=True, batched=True, **_common(size, quick),
                    params={"workers": workers, "use_multiprocessing": True, "batch_size": BATCH,
                            "keras": keras.__version__})]


PEERS = (("torch", _torch_peers), ("grain", _grain_peers), ("keras", _keras_peers))


def peers_for(workload, quick=False):
    """(patterns, [(peer, reason skipped)]) for one workload class (class E: every size)."""
    if workload == "D":
        reason = "class D is TensorFlow ops; the peers would run different ops"
        return [], [(name, reason) for name, _ in PEERS]
    patterns, skipped = [], []
    sizes = sizes_for(quick) if workload == "E" else [None]
    for name, build in PEERS:
        try:
            for size in sizes:
                patterns += build(workload, size, quick)
        except ImportError as error:
            skipped.append((name, f"not installed ({error.name}); pip install -r requirements-bench.txt"))
    return patterns, skipped
