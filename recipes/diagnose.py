"""Measure a generator and name the recipe that will make it fast.

Every recipe in this cookbook starts from one question: where does each
element's time go? ``diagnose`` answers it by measurement. Give it the
generator *function* you pass to ``from_generator``; it measures

* the generator's own element rate, and its CPU time against its wall time;
* how much of that time the generator holds Python's GIL, and whether two
  copies in two threads go faster than one;
* how much of the time is spent inside TensorFlow (eager ops in the generator);
* the size of an element and the cost of converting it to a tensor;
* the rate of ``from_generator`` over it, against the generator alone;

names the bottleneck (``waiting``, ``python``, ``gil-free``, ``tf-ops`` or
``not-the-generator``), the recipe page to read, the settings to start from and
the speed-up it predicts, and then builds that pipeline around your function and
measures the speed-up it really gets, where it can.

Use it three ways::

    python -m recipes.diagnose MODULE:FUNCTION [--args A B] [--json PATH]
    python diagnose.py MODULE:FUNCTION          # this file copied alone
    diagnose(function)                          # in a notebook

Run ``python diagnose.py`` without arguments for a demonstration on a built-in
example. Needs only the standard library, NumPy and TensorFlow. TensorFlow is
imported inside the functions that need it, so worker processes started to try
the process-pool recipe import this module quickly.
"""

# --8<-- [start:setup]
import argparse
import ast
import importlib
import inspect
import itertools
import json
import math
import multiprocessing
import os
import pickle
import queue
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

# Hide TensorFlow's C++ start-up notices before it is imported (inside _tf()).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

RECIPES = {
    "waiting": "recipes/sharded_generator.md",
    "gil-free": "recipes/sharded_generator.md",
    "python": "recipes/process_pool.md",
    "tf-ops": "recipes/parallel_map.md",
    "not-the-generator": "recipes/parallel_map.md",
}
GIL_HELD = 0.4  # share of the probe's wake-ups that found the GIL taken: above it, Python computes
OWN_CPU = 0.3  # CPU outside the GIL, as a share of one core: below it, the generator waits
IN_TENSORFLOW = 0.5  # share of samples inside TensorFlow's Python code: above it, eager ops
MAX_THREADS = 16


def _tf():
    import tensorflow as tf  # here, not at the top: see the module docstring

    return tf


class DiagnoseError(ValueError):
    """Raised with a message for the reader when a function cannot be measured."""
# --8<-- [end:setup]


# --8<-- [start:load]
def load_function(spec):
    """The object named by ``"MODULE:FUNCTION"`` (``FUNCTION`` may be dotted)."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise DiagnoseError(f"expected MODULE:FUNCTION, for example my_reader:records, got {spec!r}")
    try:
        obj = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise DiagnoseError(
            f"cannot import {module_name!r}: {error}. Run from the folder that holds "
            f"{module_name.split('.')[0]}.py (now {os.getcwd()}) or add it to PYTHONPATH"
        ) from error
    except Exception as error:
        raise DiagnoseError(f"importing {module_name!r} raised {type(error).__name__}: {error}") from error
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise DiagnoseError(f"module {module_name!r} has no attribute {attribute!r}")
        obj = getattr(obj, part)
    return obj


def _name(function):
    return getattr(function, "__qualname__", None) or repr(function)


def _check_function(function):
    if inspect.isgenerator(function) or isinstance(function, Iterator):
        raise DiagnoseError(
            "got a generator object, which can be iterated only once; pass the generator "
            "function itself, as from_generator wants it: diagnose(records), not diagnose(records())"
        )
    if not callable(function):
        raise DiagnoseError(f"expected a generator function, got {type(function).__name__} {function!r}")


def _new_generator(function, args):
    try:
        iterator = function(*args)
    except Exception as error:
        raise DiagnoseError(f"calling {_name(function)}() raised {type(error).__name__}: {error}") from error
    if not isinstance(iterator, Iterator):
        raise DiagnoseError(
            f"{_name(function)} is not a generator function: calling it returned "
            f"{type(iterator).__name__}, not a generator. from_generator calls the function once per "
            "pass and iterates what it returns; write the loop with `yield`"
        )
    return iterator


class _Stream:
    """Elements of ``function(*args)``, started again whenever it ends."""

    def __init__(self, function, args):
        self.function, self.args = function, args
        self.iterator, self.fresh, self.count = None, True, 0

    def next(self):
        while True:
            if self.iterator is None:
                self.iterator, self.fresh = _new_generator(self.function, self.args), True
            try:
                element = next(self.iterator)
            except StopIteration:
                if self.fresh:
                    raise DiagnoseError(
                        f"{_name(self.function)} yielded nothing: its generator ended before the "
                        "first element, so there is nothing to measure (check its arguments)"
                    ) from None
                self.iterator = None
                continue
            except Exception as error:
                raise DiagnoseError(
                    f"{_name(self.function)} raised {type(error).__name__} after "
                    f"{self.count} elements: {error}"
                ) from error
            self.fresh = False
            self.count += 1
            return element
# --8<-- [end:load]


# --8<-- [start:measure]
def _progress(enabled, step, text):
    if enabled:
        print(f"diagnose [{step}/6] {text}", file=sys.stderr, flush=True)


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _cpu_share(seconds=0.1):
    """Share of one core a busy Python thread gets right now (1.0 on an idle machine)."""
    wall0, cpu0 = time.perf_counter(), time.thread_time()
    x = 0
    while time.perf_counter() - wall0 < seconds:
        for i in range(1000):
            x += i
    return min(1.0, max(0.05, (time.thread_time() - cpu0) / (time.perf_counter() - wall0)))


def _run_copies(streams, threads, seconds, probe=False):
    """Run ``threads`` copies of the generator, one per thread, for ``seconds``.

    ``streams`` holds the generators already started (a generator with a slow
    start, such as opening a connection, pays it once, not in every phase);
    missing ones are added.

    With ``probe``, this thread meanwhile sleeps 1 ms at a time and notes how
    late it wakes: a wake-up needs the GIL, so it is late by about the switch
    interval (set to 20 ms here) when the generator holds the GIL, and on time
    when the generator waits or runs native code that released it. It also
    notes whether the generator is inside TensorFlow's Python code.
    """
    stop, counts, errors = threading.Event(), [0] * threads, []
    while len(streams) < threads:
        streams.append(_Stream(streams[0].function, streams[0].args))

    def work(j):
        stream = streams[j]
        try:
            while not stop.is_set():
                stream.next()
                counts[j] += 1
        except BaseException as error:  # reported by the caller
            errors.append(error)
            stop.set()

    workers = [threading.Thread(target=work, args=(j,), daemon=True) for j in range(threads)]
    late = in_tf = samples = 0
    switch = sys.getswitchinterval()
    if probe:
        sys.setswitchinterval(0.02)
    try:
        wall0, cpu0, own0 = time.perf_counter(), time.process_time(), time.thread_time()
        for w in workers:
            w.start()
        deadline = wall0 + seconds
        if probe:
            while time.perf_counter() < deadline and not stop.is_set():
                t0 = time.perf_counter()
                time.sleep(0.001)
                late += time.perf_counter() - t0 > 0.011
                frame = sys._current_frames().get(workers[0].ident)
                samples += 1
                in_tf += frame is not None and f"{os.sep}tensorflow{os.sep}" in frame.f_code.co_filename
        else:
            stop.wait(seconds)
        stop.set()
        for w in workers:
            w.join()
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0 - (time.thread_time() - own0)  # minus this thread's probing
    finally:
        sys.setswitchinterval(switch)
    if errors:
        raise errors[0]
    result = {"threads": threads, "elements": sum(counts), "seconds": wall, "rate": sum(counts) / wall,
              "cpu_per_wall": cpu / wall}
    if probe:
        result.update(probe_samples=samples, gil_held_share=late / max(samples, 1),
                      in_tensorflow_share=in_tf / max(samples, 1))
    return result


def _leaves(element):
    if isinstance(element, tuple):
        return [leaf for item in element for leaf in _leaves(item)]
    if isinstance(element, dict):
        return [leaf for key in sorted(element) for leaf in _leaves(element[key])]
    return [element]


def _stack(elements):
    """Stack a list of equally shaped elements (arrays, tuples or dicts of them) into one."""
    first = elements[0]
    if isinstance(first, tuple):
        return tuple(_stack([e[i] for e in elements]) for i in range(len(first)))
    if isinstance(first, dict):
        return {key: _stack([e[key] for e in elements]) for key in first}
    return np.stack([np.asarray(e) for e in elements])


def _per_call(fn, seconds):
    """Seconds per call of ``fn``, timed over about ``seconds``."""
    fn()
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return elapsed / calls


def _nbytes(leaf):
    if isinstance(leaf, (str, bytes)):
        return len(leaf)
    return int(np.asarray(leaf).nbytes)


def _signature(samples, name):
    """An ``output_signature`` for elements like ``samples``; varying sizes become None."""
    tf = _tf()

    def spec_of(element):
        if isinstance(element, tuple):
            return tuple(spec_of(item) for item in element)
        if isinstance(element, dict):
            return {key: spec_of(element[key]) for key in element}
        if isinstance(element, int) and not isinstance(element, bool):
            return tf.TensorSpec((), tf.int64)  # Python ints: int32 would overflow on large ones
        tensor = tf.convert_to_tensor(element)
        return tf.TensorSpec(tensor.shape, tensor.dtype)

    def merge(a, b):
        shape = a.shape.most_specific_compatible_shape(b.shape)
        if a.dtype == b.dtype:
            return tf.TensorSpec(shape, a.dtype)
        for kind in ("is_integer", "is_floating"):
            if getattr(a.dtype, kind) and getattr(b.dtype, kind):
                return tf.TensorSpec(shape, max(a.dtype, b.dtype, key=lambda d: d.size))
        raise TypeError(f"elements change dtype from {a.dtype.name} to {b.dtype.name}")

    try:
        specs = [spec_of(e) for e in samples]
        signature = specs[0]
        for spec in specs[1:]:
            signature = tf.nest.map_structure(merge, signature, spec)
    except (TypeError, ValueError) as error:
        raise DiagnoseError(f"from_generator cannot take the elements of {name}: {error}") from error
    return signature


def _element_facts(samples, seconds):
    """Size of an element and what handing it to TensorFlow costs."""
    tf = _tf()
    leaves = [_leaves(e) for e in samples]
    chunk = samples * max(1, 64 // len(samples))
    return {
        "type": type(samples[0]).__name__,
        "tf_tensors": any(isinstance(leaf, tf.Tensor) for leaf in leaves[0]),
        "bytes": int(np.mean([sum(_nbytes(leaf) for leaf in ls) for ls in leaves])),
        "to_tensor_s": _per_call(lambda: [tf.convert_to_tensor(leaf) for ls in leaves for leaf in ls],
                                 seconds / 3) / len(samples),
        "pickle_s": _pickle_cost(chunk, seconds / 3),
        "stack_s": _stackable_cost(chunk, seconds / 3),
    }


def _pickle_cost(chunk, seconds):
    try:
        return _per_call(lambda: pickle.loads(pickle.dumps(chunk, pickle.HIGHEST_PROTOCOL)), seconds) / len(chunk)
    except Exception:
        return None  # elements cannot be pickled: no worker process can send them


def _stackable_cost(chunk, seconds):
    try:
        return _per_call(lambda: _stack(chunk), seconds) / len(chunk)
    except (ValueError, TypeError):
        return None  # elements differ in shape


def _timed_rate(dataset, seconds, guess_rate):
    """Elements per second of ``dataset`` (endless), and CPU seconds per element.

    Each element is mapped to a constant and batched, so Python touches one
    batch of about 50 ms of elements at a time: a Python consumer would compete
    with the generator for the GIL. The first batch (tracing, start-up) is not
    counted.
    """
    tf = _tf()
    size = max(1, min(2_000, int(guess_rate * 0.05)))
    batches = iter(dataset.map(lambda *_: tf.constant(0, tf.int8)).batch(size))
    next(batches)
    done, start, cpu0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        done += len(next(batches))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
    del batches  # ends the iteration: the generators are closed
    return {"elements": done, "seconds": elapsed, "rate": done / elapsed, "cpu_per_element": cpu / done}


def _from_generator(function, args, signature):
    tf = _tf()
    return tf.data.Dataset.from_generator(lambda: function(*args), output_signature=signature).repeat()
# --8<-- [end:measure]


# --8<-- [start:report]
@dataclass
class Diagnosis:
    """What :func:`diagnose` found: the verdict, the advice and the numbers behind them.

    ``bottleneck`` is one of ``waiting``, ``python``, ``gil-free``, ``tf-ops``
    and ``not-the-generator``; ``recipe`` the page to read; ``settings`` where
    to start; ``predicted_speedup`` the gain over the plain ``from_generator``
    pipeline the measurements predict, explained by ``prediction_basis``;
    ``measured_speedup`` the gain of the recommended pipeline built around the
    function (``None`` when it could not be built, with the reason in
    ``measured_with``); ``measurements`` the raw numbers.
    """

    function: str
    bottleneck: str
    recipe: str
    settings: dict
    predicted_speedup: float
    prediction_basis: str
    measured_speedup: float | None
    measured_with: str
    measurements: dict = field(repr=False)

    def verdict(self):
        """One line: the bottleneck and the recipe page."""
        return f"bottleneck: {self.bottleneck} -> read {self.recipe}"

    def summary(self):
        """The short report the command prints."""
        m = self.measurements
        gen, fg, el = m["generator"], m["from_generator"], m["elements"]
        settings = ", ".join(f"{k}={v}" for k, v in self.settings.items())
        measured = (f"{self.measured_speedup:.1f}x ({self.measured_with})" if self.measured_speedup is not None
                    else f"not measured: {self.measured_with}")
        return "\n".join([
            f"{self.function}",
            f"  generator alone    {gen['rate']:,.1f} elements/s, CPU {gen['cpu_per_wall']:.0%} of wall time "
            f"({m['cpu_share_available']:.0%} of a core was free)",
            f"  GIL                held at {gen['gil_held_share']:.0%} of probes; two threads give "
            f"{m['threads']['speedup']:.2f}x one",
            f"  TensorFlow         {gen['in_tensorflow_share']:.0%} of the time in TensorFlow; "
            f"elements are {'tf.Tensor' if el['tf_tensors'] else el['type']}",
            f"  element            {el['bytes']:,} bytes, {el['to_tensor_s'] * 1e6:,.1f} us to convert to tensors",
            f"  from_generator     {fg['rate']:,.1f} elements/s ({fg['vs_generator']:.2f}x the generator alone); "
            f"{fg['handoff_s'] * 1e6:,.1f} us per element of its own",
            self.verdict(),
            f"settings: {settings}",
            f"predicted speed-up: {self.predicted_speedup:.1f}x ({self.prediction_basis})",
            f"measured speed-up: {measured}",
        ])

    def to_json(self):
        """The diagnosis as a JSON string (what ``--json PATH`` writes)."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)
# --8<-- [end:report]


# --8<-- [start:classify]
def _pow2_floor(x, low, high):
    x = max(low, min(high, x))
    return max(low, 2 ** int(math.floor(math.log2(x))))


def _pow2_ceil(x, low, high):
    x = max(low, min(high, x))
    return min(high, 2 ** int(math.ceil(math.log2(x))))


def classify(m):
    """Bottleneck, settings, predicted speed-up and its basis, from measurements ``m``.

    Wall time per element: ``gen_t`` for the generator alone, ``fg_t`` inside
    ``from_generator``, ``handoff`` for ``from_generator`` over the same
    elements taken from a list: what the hand-off to TensorFlow costs
    (converting, checking, the ``py_func`` call, all holding the GIL). The
    verdict rests on shares (of GIL probes, stack samples, CPU over wall
    time), which depend on where the generator spends its time, not on how
    fast or how busy the machine is.
    """
    cores, free = m["cores"], m["cpu_share_available"]
    gen, fg, el = m["generator"], m["from_generator"], m["elements"]
    gen_t, fg_t = 1 / gen["rate"], 1 / fg["rate"]
    handoff = fg["handoff_s"]  # from_generator over elements that cost nothing to make
    floor = fg["tfdata_floor_s"]  # tf.data's own cost per element, without Python
    gil = gen["gil_held_share"]
    own_cpu = max(0.0, gen["cpu_per_wall"] / free - gil)  # CPU outside the GIL, share of a core
    tf_share = gen["in_tensorflow_share"]
    gil_t = gil * gen_t + handoff  # GIL-held seconds per element in any threaded pipeline

    if gen_t < handoff:
        batch = _pow2_ceil(10 * handoff / (gen_t + (el["stack_s"] or 0.0) + floor), 8, 1024)
        new_t = gen_t + (el["stack_s"] or 0.0) + handoff / batch + floor
        return "not-the-generator", {
            "yield_batches_of": batch, "then": "unbatch() or a map over batches",
            "prefetch": "tf.data.AUTOTUNE"}, fg_t / new_t, (
            f"the generator takes {gen_t * 1e6:.1f} us per element and the hand-off to TensorFlow "
            f"{handoff * 1e6:.1f} us; batches of {batch} pay the hand-off once per batch, and unbatching "
            f"costs {floor * 1e6:.1f} us per element")
    if tf_share >= IN_TENSORFLOW:
        new_t = max((1 - tf_share) * gen_t + handoff, tf_share * gen_t / cores)
        return "tf-ops", {
            "generator_yields": "the raw inputs", "map": "num_parallel_calls=tf.data.AUTOTUNE",
            "map_over": "batches", "prefetch": "tf.data.AUTOTUNE"}, fg_t / new_t, (
            f"{tf_share:.0%} of {gen_t * 1e3:.2f} ms per element is eager TensorFlow; in a parallel map it "
            f"spreads over {cores} cores and the generator keeps the rest")
    if gil >= GIL_HELD:
        workers, pickle_s = cores, el["pickle_s"] or 0.0
        chunk = _pow2_ceil(0.01 / gen_t, 1, 1024)  # about 10 ms of work per message
        consumer_t = pickle_s + (handoff + el["to_tensor_s"]) / chunk
        usable = max(1.0, cores * free)  # cores' worth of CPU this process can get now
        new_t = max((gen_t + pickle_s) / workers, consumer_t, (gen_t + pickle_s + consumer_t) / usable)
        return "python", {"workers": workers, "batch_size": chunk}, fg_t / new_t, (
            f"the GIL is held {gil:.0%} of the time, so threads do not help; {workers} processes "
            f"({usable:.1f} cores free) share "
            f"{gen_t * 1e3:.2f} ms per element and add {pickle_s * 1e6:.1f} us of pickling "
            f"and {consumer_t * 1e6:.1f} us in the consumer")
    cpu_t = (gen["cpu_per_wall"] * gen_t + handoff * free) / max(1.0, cores * free)  # on the free cores
    if own_cpu < OWN_CPU:
        k = _pow2_floor(fg_t / gil_t, 2, MAX_THREADS)
        new_t = max(fg_t / k, gil_t, cpu_t)
        return "waiting", {"num_shards": k, "private_threads": k}, fg_t / new_t, (
            f"CPU is {gen['cpu_per_wall']:.0%} of wall time: {k} shards wait at once; each element "
            f"holds the GIL {gil_t * 1e6:.0f} us of its {fg_t * 1e3:.2f} ms")
    new_t = max(fg_t / cores, gil_t, cpu_t)
    return "gil-free", {"num_shards": cores, "private_threads": None}, fg_t / new_t, (
        f"native code runs without the GIL ({gil:.0%} held): {cores} shards on {cores} cores, each element "
        f"needs {cpu_t * 1e3:.2f} ms of the free CPU and holds the GIL {gil_t * 1e6:.0f} us of "
        f"its {fg_t * 1e3:.2f} ms")
# --8<-- [end:classify]


# --8<-- [start:try]
def _copies(function, args, signature, k, private_threads):
    """``k`` copies of the generator under ``interleave``: one per shard, as sharding would run them."""
    tf = _tf()
    dataset = tf.data.Dataset.range(k).interleave(
        lambda _: _from_generator(function, args, signature),
        cycle_length=k, num_parallel_calls=k, deterministic=False)
    if private_threads:
        options = tf.data.Options()
        options.threading.private_threadpool_size = private_threads
        dataset = dataset.with_options(options)
    return dataset


def _batched(function, args, signature, batch):
    tf = _tf()

    def batches():
        buffer = []
        for element in function(*args):
            buffer.append(element)
            if len(buffer) == batch:
                yield _stack(buffer)
                buffer = []
        if buffer:
            yield _stack(buffer)

    spec = tf.nest.map_structure(lambda s: tf.TensorSpec([None, *s.shape], s.dtype), signature)
    return tf.data.Dataset.from_generator(batches, output_signature=spec).repeat().unbatch()


def _resolve(module, qualname):
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _importable(function):
    """``(module, qualname)`` that worker processes can import, or the reason they cannot."""
    module, qualname = getattr(function, "__module__", None), getattr(function, "__qualname__", "")
    if module in (None, "__main__", "__mp_main__"):
        return None, (f"{_name(function)} is defined in __main__ (a notebook or a script run directly), "
                      "which worker processes cannot import; put it in a module")
    if "<" in qualname:
        return None, f"{qualname} is defined inside a function, which worker processes cannot import"
    try:
        if _resolve(module, qualname) is not function:
            raise AttributeError(qualname)
    except Exception:
        return None, f"{module}:{qualname} does not name this function"
    return (module, qualname), None


def _pool_worker(module, qualname, args, chunk, out, stop):
    """Runs in a worker process: one copy of the generator, sent in chunks."""
    function = _resolve(module, qualname)
    buffer = []
    while not stop.is_set():
        for element in function(*args):
            buffer.append(element)
            if len(buffer) < chunk:
                continue
            item, buffer = _stack(buffer), []
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.1)
                    break
                except queue.Full:
                    pass
            if stop.is_set():
                return


def _pooled(target, args, signature, workers, chunk, seconds, guess_rate):
    """Rate of ``workers`` processes, each running a copy of the generator."""
    tf = _tf()
    context = multiprocessing.get_context("spawn")
    out, stop = context.Queue(maxsize=2 * workers), context.Event()
    procs = [context.Process(target=_pool_worker, args=(*target, args, chunk, out, stop), daemon=True)
             for _ in range(workers)]
    for p in procs:
        p.start()
    try:
        out.get(timeout=60)  # the workers are up (not counted in the rate)

        def chunks():
            while True:
                yield out.get(timeout=60)

        spec = tf.nest.map_structure(lambda s: tf.TensorSpec([None, *s.shape], s.dtype), signature)
        dataset = tf.data.Dataset.from_generator(chunks, output_signature=spec).unbatch()
        return _timed_rate(dataset, seconds, guess_rate)["rate"]
    finally:
        stop.set()
        deadline = time.monotonic() + 20
        while any(p.is_alive() for p in procs) and time.monotonic() < deadline:
            try:
                while True:
                    out.get_nowait()  # a worker blocked on a full queue cannot exit
            except queue.Empty:
                pass
            for p in procs:
                p.join(0.05)
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join()
        out.close()
        out.join_thread()


def _try_recipe(function, args, signature, bottleneck, settings, predicted, m, seconds):
    """Build the recommended pipeline around ``function``; its rate over ``from_generator``'s."""
    fg_rate = m["from_generator"]["rate"]
    guess = fg_rate * predicted
    if bottleneck in ("waiting", "gil-free"):
        k = settings["num_shards"]
        rate = _timed_rate(_copies(function, args, signature, k, settings["private_threads"]),
                           seconds, guess)["rate"]
        threads = f"{settings['private_threads']} private threads" if settings["private_threads"] else \
            "the default thread pool"
        return rate / fg_rate, f"{k} copies of the generator under interleave, {threads}"
    if bottleneck == "not-the-generator":
        if m["elements"]["stack_s"] is None:
            return None, "elements differ in shape; batching them needs padding (recipes/variable_length.md)"
        batch = settings["yield_batches_of"]
        rate = _timed_rate(_batched(function, args, signature, batch), seconds, guess)["rate"]
        return rate / fg_rate, f"the generator's elements handed over in batches of {batch}, then unbatch()"
    if bottleneck == "python":
        target, reason = _importable(function)
        if target is None:
            return None, reason
        if m["elements"]["pickle_s"] is None:
            return None, "elements cannot be pickled, so worker processes cannot send them"
        if m["elements"]["stack_s"] is None:
            return None, "elements differ in shape, so chunks cannot be stacked into one array"
        workers, chunk = settings["workers"], settings["batch_size"]
        rate = _pooled(target, args, signature, workers, chunk, seconds, guess)
        return rate / fg_rate, f"{workers} worker processes, each running a copy, chunks of {chunk}"
    return None, ("the TensorFlow ops must be moved out of the generator into a map by hand; "
                  "the prediction assumes that move")
# --8<-- [end:try]


# --8<-- [start:diagnose]
def diagnose(function, args=(), budget_s=20.0, try_recipe=True, progress=True):
    """Measure ``function(*args)``'s generator and name the recipe that makes it fast.

    ``function`` is what you would pass to ``from_generator``: a function that
    returns a new generator each call. ``budget_s`` is the time for the
    measurements (TensorFlow's start and worker processes come on top).
    ``try_recipe=False`` skips building the recommended pipeline. Progress goes
    to stderr. Returns a :class:`Diagnosis`; raises :class:`DiagnoseError`
    with a message for input that cannot be measured.
    """
    _check_function(function)
    if not budget_s > 0:
        raise DiagnoseError(f"budget_s must be positive, got {budget_s!r}")
    args, name = tuple(args), _name(function)
    _progress(progress, 1, "first elements (and TensorFlow's start)")
    tf = _tf()
    stream, start = _Stream(function, args), time.perf_counter()
    samples = [stream.next()]
    first_s = time.perf_counter() - start
    if first_s > budget_s / 4:
        raise DiagnoseError(_too_slow(name, 1, first_s, budget_s))
    while len(samples) < 8 and time.perf_counter() - start < budget_s / 20:
        samples.append(stream.next())
    signature = _signature(samples, name)

    _progress(progress, 2, f"the generator alone, with a GIL probe ({0.2 * budget_s:.1f} s)")
    share = _cpu_share()
    streams = [stream]
    alone = _run_copies(streams, 1, 0.2 * budget_s, probe=True)
    share = (share + _cpu_share()) / 2
    if alone["elements"] < 10:
        raise DiagnoseError(_too_slow(name, alone["elements"], alone["seconds"], budget_s))

    _progress(progress, 3, f"two threads against one ({0.2 * budget_s:.1f} s)")
    rounds = [_run_copies(streams, n, 0.05 * budget_s) for n in (1, 2, 1, 2)]
    del streams, stream  # closes the generators
    one = sum(r["elements"] for r in rounds[0::2]) / sum(r["seconds"] for r in rounds[0::2])
    two = sum(r["elements"] for r in rounds[1::2]) / sum(r["seconds"] for r in rounds[1::2])

    _progress(progress, 4, "element size and conversion to tensors")
    elements = _element_facts(samples, 0.05 * budget_s)

    _progress(progress, 5, f"from_generator: its own cost, then over the generator ({0.3 * budget_s:.1f} s)")
    handoff = _timed_rate(_from_generator(itertools.cycle, (samples,), signature), 0.1 * budget_s,
                          1 / (elements["to_tensor_s"] + 1e-5))
    fg = _timed_rate(_from_generator(function, args, signature), 0.15 * budget_s,
                     1 / (1 / alone["rate"] + 1 / handoff["rate"]))
    fg["vs_generator"] = fg["rate"] / alone["rate"]
    fg["handoff_s"] = 1 / handoff["rate"]  # per element, for elements that cost nothing to make
    tf_only = tf.data.Dataset.range(2**62)
    if elements["stack_s"] is not None:
        tf_only = tf.data.Dataset.from_tensors(_stack(samples)).repeat().unbatch()
    fg["tfdata_floor_s"] = 1 / _timed_rate(tf_only, 0.05 * budget_s, 1e5)["rate"]  # no Python at all
    m = {
        "cores": _cores(), "cpu_share_available": share, "first_element_s": first_s,
        "generator": alone, "threads": {"one_thread_rate": one, "two_threads_rate": two, "speedup": two / one},
        "elements": elements, "from_generator": fg, "tensorflow": tf.__version__,
    }
    bottleneck, settings, predicted, basis = classify(m)
    measured, measured_with = None, "skipped (try_recipe=False)"
    if try_recipe:
        _progress(progress, 6, f"the recommended pipeline ({0.25 * budget_s:.1f} s)")
        measured, measured_with = _try_recipe(function, args, signature, bottleneck, settings,
                                              predicted, m, 0.25 * budget_s)
    return Diagnosis(
        function=name, bottleneck=bottleneck, recipe=RECIPES[bottleneck], settings=settings,
        predicted_speedup=round(predicted, 2), prediction_basis=basis,
        measured_speedup=None if measured is None else round(measured, 2), measured_with=measured_with,
        measurements=m)


def _too_slow(name, elements, seconds, budget_s):
    per = seconds / max(elements, 1)
    return (f"{name} is too slow to measure in {budget_s:g} s: {elements} element(s) in {seconds:.1f} s. "
            f"diagnose needs at least 10 elements in a fifth of its budget: give it about "
            f"{math.ceil(50 * per)} s (budget_s= or --seconds), or yield smaller elements")
# --8<-- [end:diagnose]


def _literal(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a plain string


# --8<-- [start:example]
def waiting_records(latency_s=0.05):
    """Example source: each record costs a round trip of ``latency_s`` (a sleep)."""
    for i in range(10_000):
        time.sleep(latency_s)
        yield np.int64(i)
# --8<-- [end:example]


def main(argv=None):
    """Command line: ``MODULE:FUNCTION [--args ...] [--seconds S] [--json PATH]``; no target runs the demo."""
    parser = argparse.ArgumentParser(
        prog="diagnose", description="Measure a generator function and name the recipe that makes it fast.")
    parser.add_argument("target", nargs="?", help="MODULE:FUNCTION, the generator function")
    parser.add_argument("--args", nargs="*", default=[], metavar="ARG",
                        help="arguments for FUNCTION (Python literals, else strings)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement budget (default 20)")
    parser.add_argument("--json", metavar="PATH", help="write the diagnosis as JSON to PATH")
    parser.add_argument("--no-try", action="store_true", help="do not build the recommended pipeline")
    options = parser.parse_args(argv)
    if options.target is None:
        return _demo()
    sys.path.insert(0, os.getcwd())  # MODULE is looked up in the current folder, as `python -m` does
    try:
        function = load_function(options.target)
        result = diagnose(function, [_literal(a) for a in options.args], budget_s=options.seconds,
                          try_recipe=not options.no_try)
    except DiagnoseError as error:
        print(f"diagnose: error: {error}", file=sys.stderr)
        return 2
    result.function = options.target
    print(result.summary())
    if options.json:
        with open(options.json, "w", encoding="utf-8") as f:
            f.write(result.to_json() + "\n")
    return 0


def _demo():
    print("example: waiting_records(), a generator that sleeps 50 ms per record")
    result = diagnose(waiting_records, budget_s=8)
    print(result.verdict())
    print("settings:", ", ".join(f"{k}={v}" for k, v in result.settings.items()))
    print("recommended pipeline at least 4x faster:", result.measured_speedup >= 4)
    return 0


if __name__ == "__main__":
    sys.exit(main())
