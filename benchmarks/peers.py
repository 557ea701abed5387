"""Peer loaders: the same per-element work, each set up as its documentation recommends.

A peer that is not installed is skipped, and the benchmark says so
(``pip install -r requirements-bench.txt`` adds PyTorch). Each peer does exactly
the work of the class (``benchmarks.workloads.work_for``) for elements
``0..n-1``, makes batches of ``BATCH`` in its workers, and is consumed the way
our pipelines are: behind ``tf.data.Dataset.from_generator`` with an exact
``output_signature`` (a batch of 32), then the same ``tf.data`` tail
(``measure.TAIL``), in a plain loop. The settings of each peer are in its
row's ``params`` and on the Performance page:

* PyTorch ``DataLoader``: a map-style dataset, ``num_workers`` worker processes
  (forked, the Linux default), ``batch_size=32`` (tensors travel through shared
  memory), ``persistent_workers=True``, ``prefetch_factor=2`` (its default).
* Grain: ``MapDataset.map`` then ``batch(32)`` in the worker processes of
  ``mp_prefetch`` (``MultiprocessingOptions(num_workers=...)``): with the batch
  as the last step before ``mp_prefetch`` Grain hands the arrays over through
  its shared-memory path; read options and buffers at Grain's defaults. When
  ``recipes/grain_source.py`` is present, the Grain recipe builds the pipeline.
  For waits (class A), Grain's reader threads instead (``ReadOptions``).
* Keras 3 ``PyDataset`` with ``workers`` and ``use_multiprocessing=True``, its
  ``__getitem__`` making a whole batch, ``max_queue_size=10`` (its default),
  iterated by Keras's own adapter as ``model.fit`` does.

Worker processes import this module: torch, grain and keras are imported
inside the functions, and nothing here imports TensorFlow at the top.
"""

import os

from benchmarks.patterns import Pattern, sizes_for
from benchmarks.workloads import BATCH, MAX_SHARDS, spec_args, tf, work_for


class _Work:
    """Picklable per-element work for one class (and size)."""

    def __init__(self, workload, size=None):
        self.workload, self.size = workload, size
        self.work = work_for(workload, size)

    def __call__(self, i):
        return self.work(int(i))


class _BatchWork:
    """Picklable: the arrays of elements ``first .. last-1``, stacked (one batch)."""

    def __init__(self, workload, size=None):
        self.work = _Work(workload, size)

    def __call__(self, indices):
        import numpy as np
        return np.stack([np.asarray(self.work(i)) for i in indices])


def _suffix(size):
    return f"_{size}" if size else ""


def _workers(workload, workers=None):
    return workers or (MAX_SHARDS if workload == "A" else (os.cpu_count() or 1))


def behind_from_generator(batches, workload, size=None):
    """A tf.data dataset of the batches an iterable factory yields (numpy or torch), with an exact signature."""
    t = tf()
    shape, dtype = spec_args(workload, size)
    spec = t.TensorSpec((None, *shape), t.as_dtype(dtype))

    def generate():
        for batch in batches():
            yield batch.numpy() if hasattr(batch, "numpy") else batch
    return t.data.Dataset.from_generator(generate, output_signature=spec)


def _torch_peers(workload, size, quick, workers=None):
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

    workers = _workers(workload, workers)
    settings = {"num_workers": workers, "batch_size": BATCH, "persistent_workers": True, "prefetch_factor": 2,
                "multiprocessing_context": "fork"}

    def make(n):
        loader = DataLoader(Indices(n, _Work(workload, size)), **settings)
        return behind_from_generator(lambda: iter(loader), workload, size)

    return [Pattern(f"torch_dataloader_{workers}w{_suffix(size)}",
                    f"PyTorch DataLoader, {workers} worker processes, batch {BATCH}",
                    make, peer=True, batched=True, min_n=400, size=size,
                    params={**settings, "torch": torch.__version__})]


def _grain_recipe():
    """``recipes.grain_source.grain_dataset`` when the Grain recipe is committed, else None."""
    from benchmarks.provenance import recipe_measured

    if not recipe_measured("recipes/grain_source.py"):
        return None
    try:
        from recipes import grain_source
    except ImportError:
        return None
    return getattr(grain_source, "grain_dataset", None)


def _grain_peers(workload, size, quick, workers=None):
    import grain

    out = []
    if workload == "A":
        threads = _workers(workload, workers)
        read = {"num_threads": threads, "prefetch_buffer_size": 4 * threads}
        work = _Work(workload, size)

        def make_threads(n):
            ds = grain.MapDataset.range(n).map(work).to_iter_dataset(grain.ReadOptions(**read)).batch(BATCH)
            return behind_from_generator(lambda: iter(ds), workload, size)

        out.append(Pattern(f"grain_threads_{threads}", f"Grain, {threads} reader threads, batch {BATCH}",
                           make_threads, peer=True, batched=True, min_n=400, size=size,
                           params={**read, "batch_size": BATCH, "grain": grain.__version__}))
        return out
    workers = _workers(workload, workers)
    work = _Work(workload, size)
    # ReadOptions.num_threads=0: Grain's advice for data already in memory (its
    # default, 16 threads and 500 elements ahead, runs Python work in threads
    # that contend for each worker's GIL and computes far ahead).
    settings = {"num_workers": workers, "batch_size": BATCH, "batch_in_workers": True,
                "shared_memory": True, "read_options": "num_threads=0", "per_worker_buffer_size": "default (1)"}

    def make_processes(n):
        # The batch is the last step before mp_prefetch: workers batch, and
        # Grain moves the batch's arrays through shared memory.
        ds = grain.MapDataset.range(n).map(work).to_iter_dataset(grain.ReadOptions(num_threads=0)).batch(BATCH)
        ds = ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers))
        return behind_from_generator(lambda: iter(ds), workload, size)

    out.append(Pattern(f"grain_processes_{workers}{_suffix(size)}",
                       f"Grain, {workers} worker processes, batch {BATCH} in the workers",
                       make_processes, peer=True, batched=True, min_n=400, size=size,
                       params={**settings, "grain": grain.__version__}))
    recipe = _grain_recipe()
    if recipe is not None:
        def make_recipe(n):
            t = tf()
            shape, dtype = spec_args(workload, size)
            return recipe(range(n), work, t.TensorSpec(shape, t.as_dtype(dtype)), worker_count=workers,
                          batch_size=BATCH)

        out.append(Pattern(f"grain_recipe_{workers}{_suffix(size)}",
                           f"recipe: Grain behind from_generator, {workers} worker processes, batch {BATCH}",
                           make_recipe, peer=True, batched=True, min_n=400, size=size,
                           params={"worker_count": workers, "batch_size": BATCH, "worker_buffer_size": 1,
                                   "read_threads": 0, "recipe": "recipes.grain_source.grain_dataset",
                                   "grain": grain.__version__}))
    return out


def _keras_peers(workload, size, quick, workers=None):
    import keras

    workers = _workers(workload, workers)
    batch_work = _BatchWork(workload, size)
    settings = {"workers": workers, "use_multiprocessing": True, "max_queue_size": 10, "batch_size": BATCH}

    class Batches(keras.utils.PyDataset):
        def __init__(self, n):
            super().__init__(workers=workers, use_multiprocessing=True, max_queue_size=10)
            self.n = n

        def __len__(self):
            return -(-self.n // BATCH)

        def __getitem__(self, index):
            return (batch_work(range(index * BATCH, min((index + 1) * BATCH, self.n))),)

    def make(n):
        from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

        def batches():
            adapter = PyDatasetAdapter(Batches(n), shuffle=False)
            for (batch,) in adapter.get_numpy_iterator():
                yield batch
        return behind_from_generator(batches, workload, size)

    return [Pattern(f"keras_pydataset_{workers}w{_suffix(size)}",
                    f"Keras 3 PyDataset, {workers} worker processes, batch {BATCH}",
                    make, peer=True, batched=True, min_n=400, size=size,
                    params={**settings, "keras": keras.__version__})]


PEERS = (("torch", _torch_peers), ("grain", _grain_peers), ("keras", _keras_peers))


def peers_for(workload, quick=False, sizes=None, workers=None):
    """(patterns, [(peer, reason skipped)]) for one workload class (class E: every size)."""
    if workload == "D":
        reason = "class D is TensorFlow ops; the peers would run different ops"
        return [], [(name, reason) for name, _ in PEERS]
    patterns, skipped = [], []
    if workload == "E":
        sizes = sizes or sizes_for(quick)
    else:
        sizes = [None]
    for name, build in PEERS:
        try:
            for size in sizes:
                patterns += build(workload, size, quick, workers)
        except ImportError as error:
            skipped.append((name, f"not installed ({error.name}); pip install -r requirements-bench.txt"))
    return patterns, skipped
