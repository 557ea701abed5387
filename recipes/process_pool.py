"""Feed ``from_generator`` from worker processes through shared memory.

Python work that holds the GIL (parsing, pure-Python decoding, feature code)
gets one core's worth of CPU however many threads tf.data gives it. Worker
*processes* each have their own interpreter and their own GIL. This recipe runs
``work(item)`` for every item in a pool of worker processes and hands the
results to TensorFlow through one generator:

* results travel through shared memory, not pipes: a bounded ring of
  preallocated batch buffers (``multiprocessing.shared_memory``) that workers
  write into; a worker sends back only the buffer's index; the generator copies
  the batch out once, into an array TensorFlow takes without another copy, and
  the buffer is reused;
* items travel to the workers in chunks of ``batch_size`` (one message per
  chunk), results come out in item order, each item once, and memory stays
  bounded by the ring;
* the workers are started once and kept across epochs; they are shut down
  when the dataset is no longer referenced and its last iterator is done, at
  interpreter exit, or on ``dataset.pool.close()``; ``dataset.pool.startup_s``
  reports the start-up cost apart;
* an exception in a worker reaches the consumer with its original message; a
  worker that dies (killed, out of memory) fails the pipeline with a clear
  error; in every case, and when the consumer stops early, the shared memory
  is released.

Workers are started with ``spawn``: they import this module afresh, so its top
level imports no TensorFlow (``import tensorflow`` happens inside
``pooled_dataset``). Forking a process that already runs TensorFlow's threads
is not safe. Run ``python process_pool.py`` for a demonstration. Needs only the
standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import math
import multiprocessing
import multiprocessing.connection
import os
import pickle
import secrets
import signal
import threading
import time
import weakref
from multiprocessing import shared_memory

# Hide TensorFlow's C++ start-up notices before it is imported (inside
# pooled_dataset). Nothing at the top level imports TensorFlow: spawned
# workers re-import this module and must stay light.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

ALIGN = 64  # bytes; TensorFlow takes an array aligned like this without copying it
SEGMENT_PREFIX = "gp_pool_"  # names in /dev/shm: gp_pool_<pid>_<random>
# --8<-- [end:setup]


# --8<-- [start:work]
def parse_record(i):
    """Example work: pure Python, holds the GIL (about a millisecond)."""
    text = ",".join(str(i * 7 + j) for j in range(2_000))
    fields = [int(x) for x in text.split(",")]
    return fields[0] // 7  # the item back, so the output is easy to check


def decode_image(i):
    """Example work that returns an image: a 64x64 RGB array, every pixel ``i % 256``.

    Stands in for a decoder written in Python; the item is easy to read back.
    """
    row = bytes([i % 256]) * (64 * 3)
    return np.frombuffer(row * 64, dtype=np.uint8).reshape(64, 64, 3)
# --8<-- [end:work]


# --8<-- [start:worker]
def _flatten(value, template):
    """The leaves of ``value`` in ``tf.nest`` order (dict keys sorted), without TensorFlow."""
    if isinstance(template, dict):
        if sorted(value) != sorted(template):
            raise ValueError(f"work returned keys {sorted(value)}, output_signature has {sorted(template)}")
        return [leaf for key in sorted(template) for leaf in _flatten(value[key], template[key])]
    if isinstance(template, (tuple, list)):
        if len(value) != len(template):
            raise ValueError(f"work returned {len(value)} parts, output_signature has {len(template)}")
        return [leaf for v, t in zip(value, template) for leaf in _flatten(v, t)]
    return [value]


def _slot_views(buffer, layout):
    """``views[slot][leaf]``: room for ``batch_size`` elements inside the shared segment."""
    return [[np.ndarray((layout["batch_size"], *shape), dtype, buffer=buffer,
                        offset=slot * layout["slot_bytes"] + offset)
             for dtype, shape, offset in layout["leaves"]]
            for slot in range(layout["ring_size"])]


def _portable(error):
    """The worker's exception if it survives pickling, else one that does."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")


def _worker_main(conn, segment, layout, work):
    """A worker process: compute chunks of items straight into ring buffers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is for the parent to handle
    shm = shared_memory.SharedMemory(name=segment)
    views = _slot_views(shm.buf, layout)
    conn.send("ready")
    try:
        while True:
            try:
                task = conn.recv()
            except EOFError:  # the parent went away
                break
            if task is None:
                break
            task_id, slot, items = task
            try:
                for k, item in enumerate(items):
                    leaves = _flatten(work(item), layout["template"])
                    for value, out, (_, shape, _) in zip(leaves, views[slot], layout["leaves"]):
                        value = np.asarray(value)
                        if value.shape != shape:
                            raise ValueError(f"work({item!r}) returned shape {value.shape}, "
                                             f"output_signature says {shape}")
                        np.copyto(out[k:k + 1], value[np.newaxis], casting="same_kind")
                conn.send((task_id, None))  # only the index travels back
            except Exception as error:
                conn.send((task_id, _portable(error)))
    finally:
        del views
        shm.close()
# --8<-- [end:worker]


# --8<-- [start:pool]
class WorkerDiedError(RuntimeError):
    """A worker process ended without being asked to (killed, crashed, out of memory)."""


def _aligned_copy(view):
    """One copy of ``view`` into fresh memory aligned to ``ALIGN`` bytes."""
    raw = np.empty(view.nbytes + ALIGN, dtype=np.uint8)
    start = -raw.ctypes.data % ALIGN
    out = raw[start:start + view.nbytes].view(view.dtype).reshape(view.shape)
    np.copyto(out, view)
    return out


class WorkerPool:
    """Worker processes and a ring of shared-memory batch buffers, kept across epochs.

    Made by ``pooled_dataset`` (as ``dataset.pool``). Started by the first
    iteration; ``close()`` stops the workers and releases the shared memory.
    """

    def __init__(self, work, layout, workers):
        self.work, self.layout, self.workers = work, layout, workers
        self.startup_s = None  # seconds the last start took (processes up, segment attached)
        self.starts = 0  # how many times workers were started
        self.tasks_sent = 0  # chunks handed to workers, over the pool's life
        self.batches_copied = 0  # chunks copied out of the ring, over the pool's life
        self._lock = threading.Lock()
        self._busy = False
        self._owner_gone = False
        self._procs, self._conns, self._shm, self._views = [], [], None, None

    @property
    def running(self):
        """True while worker processes are up."""
        return bool(self._procs)

    @property
    def pids(self):
        """Process ids of the running workers."""
        return [p.pid for p in self._procs]

    @property
    def segment(self):
        """Name of the shared-memory segment in ``/dev/shm`` (None when not running)."""
        return self._shm.name if self._shm else None

    def start(self):
        """Start the workers and allocate the ring (no-op when running)."""
        if self._procs:
            return
        begin = time.perf_counter()
        ctx = multiprocessing.get_context("spawn")
        size = self.layout["ring_size"] * self.layout["slot_bytes"]
        name = f"{SEGMENT_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
        self._shm = shared_memory.SharedMemory(name=name, create=True, size=size)
        try:
            for _ in range(self.workers):
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_worker_main, args=(child, name, self.layout, self.work), daemon=True)
                proc.start()
                child.close()
                self._procs.append(proc)
                self._conns.append(parent)
            for index, conn in enumerate(self._conns):
                multiprocessing.connection.wait([conn, self._procs[index].sentinel])
                if not conn.poll() or conn.recv() != "ready":
                    self._died(index, "while starting (in a script, start the pipeline under "
                                      "`if __name__ == \"__main__\":`)")
        except BaseException:
            self.close()
            raise
        self._views = _slot_views(self._shm.buf, self.layout)
        self.startup_s = time.perf_counter() - begin
        self.starts += 1

    def _died(self, index, when):
        proc = self._procs[index]
        proc.join(timeout=5)
        code = proc.exitcode
        how = f"killed by {signal.Signals(-code).name}" if code and code < 0 else f"exit code {code}"
        raise WorkerDiedError(f"worker process {proc.pid} stopped unexpectedly ({how}) {when}; "
                              "the pool was shut down and its shared memory released")

    def _receive(self, outstanding, done, load):
        """Wait for at least one finished task; a worker's exception is kept for its turn."""
        conns, sentinels = list(self._conns), [p.sentinel for p in self._procs]
        ready = multiprocessing.connection.wait(conns + sentinels)
        for obj in sorted(ready, key=lambda o: o not in conns):  # results before deaths
            if obj in conns:
                try:
                    task_id, error = obj.recv()
                except (EOFError, OSError):
                    self._died(conns.index(obj), "while computing")
                slot, count, _, worker = outstanding.pop(task_id)
                load[worker] -= 1
                done[task_id] = (slot, count, error)
            else:
                first = min((v[2] for v in outstanding.values()), default=None)
                self._died(sentinels.index(obj), "while idle" if first is None
                           else f"while computing (the first item in flight was number {first})")

    def try_acquire(self):
        """Claim the pool for one iteration; False if another iteration holds it."""
        with self._lock:
            if self._busy:
                return False
            self._busy = True
            return True

    def batches(self, items):
        """Yield, in item order, one list of arrays (one per signature leaf) per chunk of items."""
        if not self.try_acquire():
            raise RuntimeError("this pool is already being iterated")
        return self._iterate(list(items))

    def _iterate(self, items):
        size, ring = self.layout["batch_size"], self.layout["ring_size"]
        chunks = [items[i:i + size] for i in range(0, len(items), size)]
        outstanding, done, load, broken = {}, {}, [0] * self.workers, False
        try:
            self.start()
            free, submitted = list(range(ring)), 0
            for wanted in range(len(chunks)):
                while submitted < len(chunks) and free:  # keep every buffer of the ring busy
                    worker = load.index(min(load))
                    slot = free.pop()
                    try:
                        self._conns[worker].send((submitted, slot, chunks[submitted]))
                    except OSError:  # its end of the pipe is gone
                        self._died(worker, f"while computing (it was sent item number {submitted * size})")
                    outstanding[submitted] = (slot, len(chunks[submitted]), submitted * size, worker)
                    load[worker] += 1
                    submitted += 1
                    self.tasks_sent += 1
                while wanted not in done:
                    self._receive(outstanding, done, load)
                slot, count, error = done.pop(wanted)
                if error is not None:
                    raise error  # in item order: every earlier result was delivered
                batch = [_aligned_copy(view[:count]) for view in self._views[slot]]
                free.append(slot)  # the copy is made: the buffer can be written again
                self.batches_copied += 1
                yield batch
        except WorkerDiedError:
            broken = True
            raise
        finally:
            self._finish(outstanding, done, load, broken)

    def _finish(self, outstanding, done, load, broken):
        """After an iteration: collect the tasks still in flight, so the ring is free again."""
        try:
            while outstanding and not broken:
                try:
                    self._receive(outstanding, done, load)
                except WorkerDiedError:
                    broken = True
        finally:
            with self._lock:
                self._busy = False
                close = broken or self._owner_gone
            if close:
                self.close()

    def _release_owner(self):
        """The dataset is gone: close now, or when its last iteration ends."""
        with self._lock:
            self._owner_gone = True
            close = not self._busy
        if close:
            self.close()

    def close(self):
        """Stop the workers and remove the shared-memory segment (idempotent)."""
        for conn in self._conns:
            try:
                conn.send(None)
            except (OSError, ValueError):
                pass
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self._conns:
            conn.close()
        self._procs, self._conns, self._views = [], [], None
        if self._shm is not None:
            shm, self._shm = self._shm, None
            try:
                shm.unlink()
            finally:
                try:
                    shm.close()
                except BufferError:  # an array still points into it; the mapping goes with that array
                    pass
# --8<-- [end:pool]


# --8<-- [start:dataset]
def _layout(flat_specs, template, batch_size, ring_size):
    leaves, offset = [], 0
    for spec in flat_specs:
        dtype = np.dtype(spec.dtype.as_numpy_dtype)
        shape = tuple(spec.shape.as_list())
        leaves.append((dtype, shape, offset))
        offset += math.ceil(batch_size * math.prod(shape) * dtype.itemsize / ALIGN) * ALIGN
    return {"leaves": leaves, "template": template, "batch_size": batch_size,
            "ring_size": ring_size, "slot_bytes": max(offset, ALIGN)}


def pooled_dataset(work, items, output_signature, *, batch_size=32, workers=None, ring_size=None,
                   yield_batches=False):
    """A dataset of ``work(item)`` for every item, computed in worker processes.

    ``output_signature`` describes ONE result: a ``tf.TensorSpec`` with a fully
    defined shape, or a nested structure (tuple, dict) of them. ``work`` must be
    picklable (a function defined at the top level of a module). Items go to
    the workers ``batch_size`` at a time; ``ring_size`` buffers of one batch
    each (default ``2 * workers``) bound the memory. With ``yield_batches=True``
    the dataset yields whole batches (first dimension ``None``: the last one may
    be shorter) instead of single elements. The pool is ``dataset.pool``.
    """
    if not callable(work):
        raise TypeError(f"work must be a callable, got {type(work).__name__}")
    for name, value in [("batch_size", batch_size), ("workers", workers), ("ring_size", ring_size)]:
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    try:
        pickle.dumps(work)
    except Exception as error:
        raise TypeError(f"work must be picklable (defined at the top level of a module): {error}") from None
    import tensorflow as tf  # here, not at the top: see the module docstring

    flat = tf.nest.flatten(output_signature)
    for spec in flat:
        if not isinstance(spec, tf.TensorSpec) or not spec.shape.is_fully_defined():
            raise ValueError(f"output_signature needs tf.TensorSpec leaves with fully defined shapes "
                             f"(the buffers are allocated in advance), got {spec!r}")
        if not (spec.dtype.is_numpy_compatible and (spec.dtype.is_floating or spec.dtype.is_integer
                                                    or spec.dtype.is_bool or spec.dtype.is_complex)):
            raise ValueError(f"output_signature leaves must be numeric or bool, got {spec.dtype!r}")
    workers = workers or os.cpu_count() or 1
    template = tf.nest.map_structure(lambda _: None, output_signature)
    layout = _layout(flat, template, batch_size, ring_size or 2 * workers)
    pool = WorkerPool(work, layout, workers)
    items = list(items)

    def generate():
        source = pool
        if not pool.try_acquire():  # a second iterator at the same time gets a pool of its own
            source = WorkerPool(work, layout, workers)
            source.try_acquire()
        try:
            for leaves in source._iterate(items):
                yield tf.nest.pack_sequence_as(output_signature, leaves)
        finally:
            if source is not pool:
                source.close()

    batched = tf.nest.map_structure(lambda s: tf.TensorSpec((None, *s.shape), s.dtype), output_signature)
    dataset = tf.data.Dataset.from_generator(generate, output_signature=batched)
    if not yield_batches:
        dataset = dataset.unbatch()
    dataset.pool = pool
    weakref.finalize(dataset, pool._release_owner)  # also runs at interpreter exit
    return dataset
# --8<-- [end:dataset]


def fail_on_13(i):
    """Work that fails for one item, to show how a worker's error surfaces."""
    if i == 13:
        raise ValueError(f"record {i} is corrupt")
    return i


def segments_left():
    """Shared-memory segments of this process's pools still in ``/dev/shm``."""
    prefix = f"{SEGMENT_PREFIX}{os.getpid()}_"
    return sorted(name for name in os.listdir("/dev/shm") if name.startswith(prefix))


def main():
    """The demonstration ``python process_pool.py`` prints."""
    import tensorflow as tf

    dataset = pooled_dataset(parse_record, range(100), tf.TensorSpec((), tf.int64), batch_size=16, workers=2)
    values = [int(x) for x in dataset.as_numpy_iterator()]
    print("100 records, in order:", values == list(range(100)))
    print("first five:", values[:5])
    print("stopped early:", [int(x) for x in dataset.take(3)])
    print("workers started once for 3 iterations:", dataset.pool.starts == 1)
    images = pooled_dataset(decode_image, range(70), tf.TensorSpec((64, 64, 3), tf.uint8),
                            workers=2, yield_batches=True)
    print("image batches:", [tuple(b.shape) for b in images])
    try:
        list(pooled_dataset(fail_on_13, range(40), tf.TensorSpec((), tf.int64), batch_size=8, workers=2))
    except tf.errors.InvalidArgumentError as error:
        line = next(l for l in error.message.splitlines() if "record 13" in l)
        print("worker error reached the consumer:", line.split("}} ")[-1].strip())
    dataset.pool.close()
    images.pool.close()
    print("shared memory left:", segments_left())


if __name__ == "__main__":
    main()
