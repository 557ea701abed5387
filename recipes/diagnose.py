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
import contextlib
import importlib
import inspect
import itertools
import json
import math
import multiprocessing
import os
import pickle
import queue
import re
import subprocess
import sys
import tempfile
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
GIL_HELD = 0.4  # share of the time the GIL probe found the GIL taken: above it, Python computes
GENERATOR_LATE_S = 0.011  # a 1 ms sleep beside a generator that takes longer waited for a forced switch
OWN_CPU = 0.3  # CPU outside the GIL, as a share of one core: below it, the generator waits
IN_TENSORFLOW = 0.5  # share of samples inside TensorFlow's Python code: above it, eager ops
MAX_THREADS = 16
# Where per-element Python work should go, maintained options first (recipes/process_pool.md has the
# decision guide, each row backed by a test or a benchmark row).
MAINTAINED = ("per-element Python work belongs in worker processes. Maintained options first: a Keras "
              "PyDataset with workers (recipes/keras_integration.md) if you only call fit; Grain behind "
              "from_generator (recipes/grain_source.md) for any tf.data pipeline, custom loop or tf.distribute. "
              "This project's process pool (recipes/process_pool.md) when you need workers that last across "
              "epochs and a set memory bound, or when the Performance page measures it faster at your "
              "element size")


# Start-up lines TensorFlow 2.21 writes to file descriptor 2 while it is imported,
# whatever TF_CPP_MIN_LOG_LEVEL says (absl logging is not set up yet then).
_START_UP_NOTICE = re.compile(r"absl::InitializeLog|oneDNN custom operations|cpu_feature_guard|"
                              r"rebuild TensorFlow with the appropriate compiler flags|cuInit|"
                              r"Unable to register cu|computation placer already registered")


def _tf():
    """TensorFlow, imported on first use with its start-up notices filtered out."""
    if "tensorflow" not in sys.modules:
        _import_tensorflow_quietly()
    import tensorflow as tf  # here, not at the top: see the module docstring

    return tf


def _import_tensorflow_quietly():
    """Import TensorFlow with file descriptor 2 sent to a temporary file, then pass on
    every line of it that is not a start-up notice (an error during the import stays)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            log.seek(0)
            kept = [line for line in log.read().decode(errors="replace").splitlines(keepends=True)
                    if not _START_UP_NOTICE.search(line)]
            sys.stderr.write("".join(kept))


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


# Helper scripts run in a process of their own beside the measured one (so they share no GIL with it),
# from their "ready" line until their stdin closes; then each prints one number.
# The same 1 ms sleeps as a GIL probe: the share of its time spent in sleeps that took over argv[1]
# seconds, which only busy cores can make late.
_LATE_ELSEWHERE = """
import sys, threading, time
bar, stop = float(sys.argv[1]), threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
late = total = 0.0
print("ready", flush=True)
while not stop.is_set():
    t0 = time.perf_counter()
    time.sleep(0.001)
    took = time.perf_counter() - t0
    late += took if took > bar else 0.0
    total += took
print(late / max(total, 1e-9), flush=True)
"""
# How many threads of process argv[1] are running or waiting for a core (state R in /proc), on
# average: the CPU the process asks for, whether the machine gives it or not.
_RUNNING_THREADS = """
import os, random, sys, threading, time
task, stop = f"/proc/{sys.argv[1]}/task", threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
running = samples = 0
print("ready", flush=True)
while not stop.is_set():
    for tid in os.listdir(task):
        try:
            with open(f"{task}/{tid}/stat", "rb") as stat:
                running += stat.read().rsplit(b")", 1)[1].split()[0] == b"R"
        except (OSError, IndexError):
            pass
    samples += 1
    time.sleep(random.uniform(0.003, 0.017))  # not in step with the threads' own timers
print(running / max(samples, 1), flush=True)
"""


class _Beside:
    """``with _Beside(script, *args) as helper:`` runs ``script`` beside this process; ``helper.value`` is
    the number it printed, read when the block ends without an error."""

    def __init__(self, script, *args):
        self.command, self.value = [sys.executable, "-c", script, *map(str, args)], None

    def __enter__(self):
        self.process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.process.stdout.readline().strip() != "ready":
            self.__exit__(DiagnoseError, None, None)
            raise DiagnoseError(f"a measuring helper process did not start ({sys.executable})")
        return self

    def __exit__(self, kind, error, traceback):
        try:
            out = self.process.communicate(timeout=30)[0]  # closes its stdin: it prints and ends
            if kind is None:
                self.value = float(out)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        return False


def _run_copies(streams, threads, seconds, probe=False):
    """Run ``threads`` copies of the generator, one per thread, for ``seconds``.

    ``streams`` holds the generators already started (a generator with a slow
    start, such as opening a connection, pays it once, not in every phase);
    missing ones are added.

    With ``probe``, this thread meanwhile sleeps 1 ms at a time and notes how
    late it wakes: a wake-up needs the GIL, so it is late by about the switch
    interval (set to 20 ms here) when the generator holds the GIL, and on time
    when the generator waits or runs native code that released it. The share
    of the probe's time spent in late sleeps is the share of time the GIL was
    held (a count of late sleeps would not be: on a busy machine the generator
    waits for a core between turns, the GIL sits free, and the probe's quick
    on-time sleeps outnumber the long late ones). Busy cores alone also make
    sleeps late; the same sleeps in a separate process, at the same moment,
    measure that, and it is taken out. It also notes whether the generator is
    inside TensorFlow's Python code.
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
    late = total = 0.0
    in_tf = samples = 0
    switch = sys.getswitchinterval()
    reference = _Beside(_LATE_ELSEWHERE, GENERATOR_LATE_S) if probe else contextlib.nullcontext()
    with reference:
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
                    took = time.perf_counter() - t0
                    late += took if took > GENERATOR_LATE_S else 0.0
                    total += took
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
        held, elsewhere = late / max(total, 1e-9), reference.value
        result.update(probe_samples=samples, gil_held_share=max(0.0, held - elsewhere) / max(1e-9, 1 - elsewhere),
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
            *([f"maintained first: {MAINTAINED}"] if self.bottleneck == "python" else []),
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
    # GIL-held seconds per element in any threaded pipeline. A thread holds the GIL only while it runs,
    # so at most the CPU it uses: on a busy machine a thread that takes the GIL for a moment can lose its
    # core holding it, and the probe reads that wait as held (CI read a generator that sleeps 50 ms at
    # 0.12 or more, and got 4 shards instead of 16).
    gil_t = min(gil, gen["cpu_per_wall"]) * gen_t + handoff

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
        # What each element costs the process inside from_generator (hand-off, tf.data's threads),
        # on the CPU that was free: k shards need k times it per element time.
        fg_cpu_t = fg["cpu_per_element"] / max(free, cores * free)
        new_t = max(fg_t / k, gil_t, cpu_t, fg_cpu_t)
        return "waiting", {"num_shards": k, "private_threads": k}, fg_t / new_t, (
            f"CPU is {gen['cpu_per_wall']:.0%} of wall time: {k} shards wait at once; each element "
            f"holds the GIL {gil_t * 1e6:.0f} us of its {fg_t * 1e3:.2f} ms and costs "
            f"{fg['cpu_per_element'] * 1e6:.0f} us of CPU ({cores * free:.1f} cores free)")
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
    if first_s > budget_s / 4:  # the first may pay once (kernels, caches, connections): judge the next
        start = time.perf_counter()
        samples.append(stream.next())
        if time.perf_counter() - start > budget_s / 4:
            raise DiagnoseError(_too_slow(name, 1, time.perf_counter() - start, budget_s))
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


# --8<-- [start:stages]
PYTHON_OPS = {"EagerPyFunc", "PyFunc", "PyFuncStateless"}
LOOP_OPS = {"While", "StatelessWhile"}
WAITING_CORES = 0.15  # a stage whose pipeline keeps less CPU busy than this waits, however busy the machine
WAITING_SHARE = 0.5  # ... or less than this share of the CPU that was free (a computing stage fills it)
WAITING_THREADS = 1.0  # ... if it also keeps fewer threads running or ready to run, on average (Linux)
STALL_S = 0.5  # a first element later than this after its input's is a stall
NAMES = {  # class of a transformation's dataset in TF 2.21 -> the method that made it
    "_MapDataset": "map", "_ParallelMapDataset": "map", "_BatchDataset": "batch",
    "_ParallelBatchDataset": "batch", "_PaddedBatchDataset": "padded_batch", "_UnbatchDataset": "unbatch",
    "_InterleaveDataset": "interleave", "_ParallelInterleaveDataset": "interleave",
    "_FlatMapDataset": "flat_map", "_FilterDataset": "filter", "CacheDataset": "cache",
    "_ShuffleDataset": "shuffle", "_PrefetchDataset": "prefetch", "_RepeatDataset": "repeat",
    "_TakeDataset": "take", "_SkipDataset": "skip", "_ShardDataset": "shard",
}
HIDDEN = {"_OptionsDataset", "_RestructuredDataset"}  # carry options or types, no work
WORK = {"map", "interleave", "flat_map", "filter", "padded_batch", "from_generator"}  # run functions


@dataclass
class Stage:
    """One transformation of a pipeline: ``dataset`` is the pipeline cut after it."""

    index: int
    name: str
    label: str
    parallel: str
    settings: dict
    dataset: object = field(repr=False)
    function: object = field(default=None, repr=False)
    python: bool = False  # its function calls Python (py_function, numpy_function)
    stateful: bool = False  # stateful ops: tf.data will not parallelize it by itself
    loops: bool = False  # a While loop (tf.map_fn): one element after another
    per_input: float | None = 1.0  # its elements per element of its input, where known
    generator: object = field(default=None, repr=False)


def _value(tensor):
    value = _tf().get_static_value(tensor)
    return None if value is None else value.item() if hasattr(value, "item") else value


def _ops(concrete):
    """Op types of a traced function and of every function it calls (nested datasets too)."""
    graph = concrete.graph.as_graph_def()
    return {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}


def _stateful(ops):
    from tensorflow.python.framework import op_def_registry  # no public way to ask

    return sorted(op for op in ops if op not in ("Assert", "NoOp") and
                  getattr(op_def_registry.get(op), "is_stateful", False))


def _generator_of(dataset):
    """The generator function of a ``from_generator`` dataset, else None."""
    func = getattr(getattr(dataset, "_map_func", None), "_func", None)
    if type(dataset).__name__ != "_FlatMapDataset" or "_from_generator" not in getattr(func, "__qualname__", ""):
        return None
    seen, todo = set(), [func]
    while todo:
        fn = todo.pop()
        for var, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
            obj = cell.cell_contents
            if var == "args" and obj:
                return "from_generator"  # called with args: diagnose cannot call it the same way
            if type(obj).__name__ == "_GeneratorState":
                return obj._generator
            if callable(obj) and getattr(obj, "__closure__", None) and id(obj) not in seen:
                seen.add(id(obj))
                todo.append(obj)
    return "from_generator"


def _parallel(dataset, name, stateful, options):
    calls = getattr(dataset, "_num_parallel_calls", None)
    if calls is not None:
        calls = _value(calls)
        return "AUTOTUNE" if calls == -1 else str(calls)
    if name == "map" and not stateful and options.experimental_optimization.map_parallelization is not False:
        return "by tf.data"  # map_parallelization rewrites a stateless map to a parallel one
    if name in ("map", "interleave", "flat_map", "filter", "from_generator"):
        return "serial"
    if name == "prefetch":
        return "async"
    return "-"


def pipeline_stages(dataset):
    """The stages of ``dataset`` from its source to its end, as :class:`Stage` rows."""
    tf = _tf()
    if not isinstance(dataset, tf.data.Dataset):
        raise DiagnoseError(f"expected a tf.data.Dataset, got {type(dataset).__name__} {dataset!r:.80}")
    options, chain, d = dataset.options(), [], dataset
    while True:
        kind = type(d).__name__
        func = getattr(getattr(d, "_map_func", None) or getattr(d, "_predicate", None), "_func", None)
        generator = _generator_of(d)
        if generator is not None:
            chain.append(("from_generator", d, None, generator))
            break
        if kind == "_MapDataset" and "normalize_to_dense" in getattr(func, "__qualname__", ""):
            d = d._input_dataset  # part of unbatch()
            continue
        source = kind not in NAMES and kind not in HIDDEN or not isinstance(
            getattr(d, "_input_dataset", None), tf.data.Dataset)
        if source:
            chain.append((kind.strip("_").replace("Dataset", "").lower() or "source", d, None, None))
            break
        if kind not in HIDDEN:
            chain.append((NAMES[kind], d, func, None))
        d = d._input_dataset
    stages = []
    for index, (name, d, func, generator) in enumerate(reversed(chain)):
        ops = _ops(d._map_func.function) if hasattr(d, "_map_func") and name != "from_generator" else set()
        stateful = _stateful(ops)
        settings, per_input = {}, 1.0
        if name in ("batch", "padded_batch"):
            settings["batch_size"] = _value(d._batch_size)
            per_input = 1 / settings["batch_size"] if settings["batch_size"] else None
        elif name == "unbatch":
            dims = [s.shape[0] for s in tf.nest.flatten(d._input_dataset.element_spec) if s.shape.rank]
            per_input = float(dims[0]) if dims and dims[0] else None
        elif name in ("interleave",):
            settings.update(cycle_length=_value(d._cycle_length), block_length=_value(d._block_length))
            per_input = None
        elif name in ("shuffle", "prefetch"):
            settings["buffer_size"] = _value(d._buffer_size)
        elif name == "cache":
            settings["filename"] = _value(d._filename).decode() if isinstance(_value(d._filename), bytes) else ""
        elif name in ("repeat", "take", "skip"):
            settings["count"] = _value(d._count)
        elif name in ("flat_map", "filter", "from_generator", "shard"):
            per_input = None
        if name in ("map", "interleave", "flat_map", "filter"):
            settings["function"] = getattr(func, "__name__", "?")
        if stateful:
            settings["stateful_ops"] = stateful
        shown = ["AUTOTUNE" if v == -1 else str(v) for k, v in settings.items()
                 if k not in ("stateful_ops", "block_length", "filename")]
        label = name + (f"({', '.join(shown)})" if shown or name in NAMES.values() else "")
        if name == "from_generator" and callable(generator):
            label = f"from_generator({_name(generator)})"
        stages.append(Stage(
            index=index, name=name, label=label, parallel=_parallel(d, name, stateful, options),
            settings=settings, dataset=d, function=func, python=bool(ops & PYTHON_OPS),
            stateful=bool(stateful), loops=bool(ops & LOOP_OPS), per_input=per_input,
            generator=generator if callable(generator) else None))
    return stages
# --8<-- [end:stages]


# --8<-- [start:cuts]
def _first_and_rate(dataset, seconds, step=None, warm=0, at_least=10, demand=False):
    """Time to the first element, then elements per second of ``dataset`` repeated.

    Each element becomes a constant, so the consumer does no work; fast
    pipelines are counted in batches, so Python's loop does not cap the rate.
    Counts ``at_least`` elements when they come within four times ``seconds``.
    With ``step`` (seconds or a function of one element), the consumer spends
    that long on each element, as a training step would. With ``demand`` (on
    Linux), ``threads_running`` is how many of this process's threads were
    running or waiting for a core, on average, while the rate was timed.
    """
    tf = _tf()
    endless = dataset.repeat()
    start = time.perf_counter()
    if step is not None:
        iterator = iter(endless)
    else:
        iterator = iter(endless.map(lambda *_: tf.constant(0, tf.int8)))
    try:
        next(iterator)
    except StopIteration:
        raise DiagnoseError("the dataset is empty: it ended before its first element") from None
    except tf.errors.OpError as error:
        raise DiagnoseError(_op_error(error)) from error
    first = time.perf_counter() - start
    try:
        return _rate_after_first(endless, iterator, first, seconds, step, warm, at_least, demand)
    except tf.errors.OpError as error:
        raise DiagnoseError(_op_error(error)) from error


def _op_error(error):
    """The first line of a TensorFlow error, without its ``{{function_node ...}}`` prefix."""
    first = re.sub(r"\{\{[^}]*\}\}\s*", "", error.message.strip().splitlines()[0])
    return f"raised {type(error).__name__}: {first}"


def _rate_after_first(endless, iterator, first, seconds, step, warm, at_least, demand=False):
    """The rest of :func:`_first_and_rate`, after the first element came."""
    tf = _tf()
    for _ in range(warm):
        next(iterator)
    task = f"/proc/{os.getpid()}/task"
    sampler = _Beside(_RUNNING_THREADS, os.getpid()) if demand and os.path.isdir(task) else contextlib.nullcontext()
    with sampler:
        done, start, cpu0 = 0, time.perf_counter(), time.process_time()
        size, times, counts = 1, [start], [0]
        while True:
            elapsed = time.perf_counter() - start
            if elapsed >= seconds and (done >= at_least or elapsed >= 4 * seconds):
                break
            if step is None and done >= 200 and done / elapsed > 2_000 and size == 1:
                size = max(2, int(done / elapsed * 0.02))  # about 20 ms of elements per batch
                iterator = iter(endless.map(lambda *_: tf.constant(0, tf.int8)).batch(size))
                next(iterator)
                done, start, cpu0 = 0, time.perf_counter(), time.process_time()
                times, counts = [start], [0]
                continue
            element = next(iterator)
            if step is None:
                done += len(element) if size > 1 else 1
            else:
                _consume(element, step)
                done += 1
            times.append(time.perf_counter())
            counts.append(done)
        cpu = time.process_time() - cpu0
    return {"first_s": first, "elements": done, "seconds": elapsed, "rate": _steady_rate(times, counts),
            "cores_busy": cpu / elapsed, "threads_running": getattr(sampler, "value", None)}


def _steady_rate(times, counts, points=200):
    """Elements per second: the median slope between every two arrivals (Theil-Sen), so that one
    stall of the whole process (common on a busy machine, and long against a short cut) moves it
    little, where elements over elapsed time would count the stall in full."""
    t, c = np.asarray(times, float), np.asarray(counts, float)
    if len(t) > points:
        pick = np.linspace(0, len(t) - 1, points).round().astype(int)
        t, c = t[pick], c[pick]
    i, j = np.triu_indices(len(t), 1)
    dt = t[j] - t[i]
    ok = dt > 0
    if len(t) < 3 or not ok.any():
        return c[-1] / max(t[-1] - t[0], 1e-9)
    return float(np.median((c[j] - c[i])[ok] / dt[ok]))


def _consume(element, step):
    if callable(step):
        step(element)
    else:
        time.sleep(step)


LATE_S = 0.0015  # a 1 ms sleep that takes longer woke late: waiting py_functions stay near 1.1 ms
GIL_CPU_FLOOR = 0.5  # the GIL share is of the cores the pipeline kept busy, counted as at least this

def _gil_held_share(dataset, seconds):
    """Share of the time ``dataset`` keeps a core busy that it holds the GIL.

    A probe thread runs 1 ms sleeps while the pipeline runs; one that wakes
    over 0.5 ms late found the GIL taken, and the time it took counts as time
    the GIL was held. A py_function call holds the GIL for the whole call, not
    for a switch interval, so the bar is much lower than the generator
    probe's. A sleep can also wake late because the cores are busy (other
    work, or the pipeline's own threads); the same sleeps in a separate
    process, at the same moment, measure that, and it is taken out. On a busy
    machine the pipeline runs, and so holds the GIL, only part of the time;
    the share is of the CPU it kept busy (up to one core, at least half
    of one), so that load does not read as a GIL left free. Returns that
    share and the share of wall time: a stage that waits is judged on the
    second, since a function that holds the GIL while it waits holds it
    nearly all the time, whatever CPU it uses.
    """
    stop, late, total = threading.Event(), [0.0], [0.0]

    def probe():
        while not stop.is_set():
            t0 = time.perf_counter()
            time.sleep(0.001)
            took = time.perf_counter() - t0
            late[0] += took if took > LATE_S else 0.0
            total[0] += took

    switch = sys.getswitchinterval()
    thread = threading.Thread(target=probe, daemon=True)
    with _Beside(_LATE_ELSEWHERE, LATE_S) as reference:
        sys.setswitchinterval(0.02)
        try:
            thread.start()
            cores_busy = _first_and_rate(dataset, seconds)["cores_busy"]
            busy = late[0] / max(total[0], 1e-9)
        finally:
            stop.set()
            if thread.is_alive():
                thread.join()
            sys.setswitchinterval(switch)
    elsewhere = reference.value
    held = max(0.0, busy - elsewhere) / max(1e-9, 1 - elsewhere)  # share of wall time
    return {"of_cpu": min(1.0, held / min(1.0, max(GIL_CPU_FLOOR, cores_busy))), "of_wall": min(1.0, held)}


def _step_time(dataset, step, seconds):
    """Seconds ``step`` takes per element, on elements taken from ``dataset``."""
    elements = list(dataset.take(4))
    if not elements:
        raise DiagnoseError("the dataset is empty: it ended before its first element")
    for element in elements:
        step(element)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or calls < 4:
        step(elements[calls % len(elements)])
        calls += 1
    return (time.perf_counter() - start) / calls
# --8<-- [end:cuts]


# --8<-- [start:rebuild]
def _rebuild(stages, upto, options, change=None, drop=(), after=None):
    """Stages ``0..upto`` again on top of stage 0 (or a new source), with one change.

    ``change`` maps a stage index to new keyword settings, ``drop`` removes
    stages, ``after`` is ``(index, name, settings)``: a stage to add. Returns
    None where a stage cannot be built again from what the dataset keeps.
    """
    tf = _tf()
    change = change or {}
    source = change.get(0, {}).get("dataset")
    dataset = source if source is not None else stages[0].dataset
    for stage in stages[1:upto + 1]:
        if stage.index not in drop:
            dataset = _again(stage, dataset, change.get(stage.index, {}))
            if dataset is None:
                return None
        if after and after[0] == stage.index:
            dataset = _again(Stage(0, after[1], after[1], "-", after[2], None), dataset, {})
    return dataset.with_options(options) if isinstance(dataset, tf.data.Dataset) else None


def _again(stage, dataset, new):
    """``stage`` applied to ``dataset``, its settings updated with ``new``."""
    s = {**stage.settings, **new}
    calls = new.get("num_parallel_calls", -1 if stage.parallel == "AUTOTUNE" else
                    int(stage.parallel) if stage.parallel.isdigit() else None)
    d = stage.dataset
    if stage.name == "map":
        return dataset.map(stage.function, num_parallel_calls=calls)
    if stage.name in ("interleave", "flat_map") and stage.function is not None:
        if stage.name == "flat_map" and not new:
            return dataset.flat_map(stage.function)
        return dataset.interleave(stage.function, cycle_length=s.get("cycle_length"),
                                  block_length=s.get("block_length") or 1, num_parallel_calls=calls)
    if stage.name == "filter":
        return dataset.filter(stage.function)
    if stage.name == "batch":
        drop = bool(_value(d._drop_remainder)) if d is not None else False
        return dataset.batch(s["batch_size"], drop_remainder=drop, num_parallel_calls=calls)
    if stage.name == "unbatch":
        return dataset.unbatch()
    if stage.name == "cache":
        return dataset.cache(s.get("filename", ""))
    if stage.name == "shuffle":
        return dataset.shuffle(s["buffer_size"], reshuffle_each_iteration=d._reshuffle_each_iteration)
    if stage.name == "prefetch":
        return dataset.prefetch(s["buffer_size"])
    if stage.name in ("repeat", "take", "skip"):
        return getattr(dataset, stage.name)(s["count"])
    return None  # padded_batch, shard and others: kept only in the original
# --8<-- [end:rebuild]


# --8<-- [start:pipeline-report]
@dataclass
class PipelineDiagnosis:
    """What :func:`diagnose_pipeline` found.

    ``stages`` holds one row per stage (``elements_per_s`` in the stage's own
    elements, ``share`` of the time per output element it adds, ``cores_busy``
    while the pipeline cut after it ran). ``kind`` names the change:
    ``parallel-map``, ``python-out-of-map``, ``map-before-batch``,
    ``parallel-interleave``, ``thread-pool``, ``move-cache``, ``shuffle-buffer``,
    ``add-prefetch``, ``generator``, or ``tuned`` and ``not-the-pipeline``
    when nothing in the pipeline needs to change. ``bottleneck`` is the
    stage's index (None for those two). ``measured_speedup`` is None when the
    change could not be applied to a copy, with the reason in ``measured_with``.
    """

    pipeline: str
    kind: str
    bottleneck: int | None
    stage: str
    reason: str
    change: str
    predicted_speedup: float | None
    prediction_basis: str
    measured_speedup: float | None
    measured_with: str
    also: list
    stages: list
    measurements: dict = field(repr=False)

    def verdict(self):
        """One line: the stage and the kind of change."""
        if self.bottleneck is None:
            return f"bottleneck: none in the pipeline ({self.kind})"
        return f"bottleneck: stage {self.bottleneck} {self.stage} -> {self.kind}"

    def table(self):
        """The stage-by-stage table."""
        rows = [f"  {'#':>2}  {'stage':<34} {'parallel':<10} {'elements/s':>12} {'first (s)':>9} "
                f"{'share':>6} {'CPU':>5}"]
        for r in self.stages:
            share = "-" if r["share"] is None else f"{r['share']:.0%}"
            rows.append(f"  {r['index']:>2}  {r['stage'][:34]:<34} {r['parallel']:<10} "
                        f"{r['elements_per_s']:>12,.1f} {r['first_s']:>9.2f} {share:>6} {r['cores_busy']:>5.1f}")
        return "\n".join(rows)

    def summary(self):
        """The report the command prints."""
        m = self.measurements
        predicted = ("-" if self.predicted_speedup is None
                     else f"{self.predicted_speedup:.1f}x ({self.prediction_basis})")
        measured = (f"{self.measured_speedup:.1f}x ({self.measured_with})" if self.measured_speedup is not None
                    else f"not measured: {self.measured_with}")
        lines = [f"{self.pipeline}: {len(self.stages)} stages, TensorFlow {m['tensorflow']}, {m['cores']} cores "
                 f"({m['cpu_share_available']:.0%} of a core was free); CPU is cores busy, share is of "
                 "the time per output element", self.table(), self.verdict(), f"why: {self.reason}",
                 f"change: {self.change}", f"predicted speed-up: {predicted}", f"measured speed-up: {measured}"]
        lines += [f"also: {line}" for line in self.also]
        return "\n".join(lines)

    def to_json(self):
        """The diagnosis as a JSON string (what ``--json PATH`` writes)."""
        return json.dumps(asdict(self), indent=2, sort_keys=True, default=str)
# --8<-- [end:pipeline-report]


# --8<-- [start:pipeline-rules]

THREADS = (", and options.threading.private_threadpool_size = {k}: a call that waits holds one of "
           "tf.data's threads, and by default there are as many as cores")


def _slowest(stages, costs):
    """The stage that adds the most time, among those that run your functions or make elements.

    batch, prefetch, cache, shuffle, repeat and take move elements: what they
    seem to add is mostly the load on the machine changing between cuts.
    """
    work = [(c, s.index) for s, c in zip(stages, costs) if c is not None and (s.index == 0 or s.name in WORK)]
    return max(work or [(c, i) for i, c in enumerate(costs) if c is not None])[1]


def _costs(stages, rates):
    """Seconds each stage adds per output element, where the element counts allow it."""
    per_output, scale = [None] * len(stages), 1.0
    for stage in reversed(stages):
        per_output[stage.index] = None if scale is None else 1 / (rates[stage.index] * scale)
        if scale is not None and stage.per_input is not None:
            scale *= stage.per_input
        elif stage.index:
            scale = None
    # A stage cannot make the pipeline before it faster for a consumer that does no work: a cut
    # measured faster than the one before it is noise, so each time is at least the one before.
    costs, before = [], 0.0
    for stage in stages:
        t = per_output[stage.index]
        if t is not None:
            t = per_output[stage.index] = max(t, before)
        costs.append(None if t is None else t - before)
        before = t or 0.0
    return per_output, costs


def _finding(stages, cuts, costs, per_output, m, gil, options):
    """(kind, bottleneck index, reason, change, stage gain or None, copy spec or None)."""
    n = len(stages) - 1
    cores, free = m["cores"], m["cpu_share_available"]
    usable = max(1.0, cores * free)
    for stage in stages[1:]:  # a shuffle whose buffer holds back the first element
        stall = cuts[stage.index]["first_s"] - cuts[stage.index - 1]["first_s"]
        if stage.name == "shuffle" and stall >= STALL_S:
            buffer = stage.settings["buffer_size"]
            new = min(buffer - 1, max(16, int(buffer * 0.2 / stall)))  # fills in about 0.2 s
            return ("shuffle-buffer", stage.index,
                    f"its buffer of {buffer:,} elements takes {stall:.1f} s to fill before the first element, "
                    "and again at each pass when the data is repeated after the shuffle",
                    f".shuffle({new}) (or shuffle file names or indices before the expensive stages and keep "
                    "a small buffer after them)", ("stall", stall, buffer / new),
                    {"change": {stage.index: {"buffer_size": new}}})
    b = _slowest(stages, costs)
    stage, cut = stages[b], cuts[b]
    # A stage that computes keeps the free CPU busy; one that waits leaves most of it idle. The bar is
    # relative, since other threads of the process (and of the machine) add to what is measured. But
    # load that comes after the free share was read starves a computing stage too, so (on Linux) a
    # stage that waits must also keep fewer than one thread running or ready to run: a computing one
    # keeps at least one, however busy the machine (waiting ones measured 0.04-0.89, computing 1.22-1.77).
    # A parallel stage that computes keeps its whole thread pool running, so its bar is the pool's size.
    running = cut.get("threads_running")
    threads = 1 if stage.parallel in ("serial", "1", "-") else \
        (options.threading.private_threadpool_size or m["cores"])
    waiting = cut["cores_busy"] < max(WAITING_CORES, WAITING_SHARE * min(1.0, free)) and \
        (running is None or running < WAITING_THREADS * threads)
    if stage.name == "from_generator":
        return ("generator", b, "the Python generator is the slowest stage",
                f"diagnose the generator itself: python -m recipes.diagnose MODULE:{_name(stage.generator)}",
                None, {"generator": stage.generator})
    # Under load, the GIL a waiting map takes for a moment per call reads as up to a quarter of the wall
    # time (0.24 on CI), half of the half-core floor; so a stage that waits is judged on wall time: one
    # whose function holds the GIL while it waits holds it nearly all of it.
    held = None if gil is None else gil["of_wall"] if waiting else gil["of_cpu"]
    if stage.name == "map" and stage.python and held is not None and held >= GIL_HELD:
        of = "of the time, even while it waits" if waiting else "of the time it keeps a core busy"
        return ("python-out-of-map", b,
                f"its function runs Python (py_function) that holds the GIL {held:.0%} {of}, so parallel "
                "calls cannot overlap it", "move the Python out of the map: " + MAINTAINED,
                usable, None)
    for c in range(b):  # an expensive deterministic stage after a cache: cache it instead
        if stages[c].name == "cache" and stage.name == "map" and not stage.stateful and \
                _value(stage.dataset.cardinality()) not in (-1, -2):
            return ("move-cache", b,
                    f"cache() is at stage {c}, before this map, so the map runs again on every pass",
                    f"move .cache() after stage {b} {stage.label} (its function is stateless, so the cached "
                    "elements are the same every pass; check they fit in memory or give cache a file name)",
                    ("cache", c),
                    {"drop": (c,), "after": (b, "cache", {"filename": stages[c].settings["filename"]})})
    if stage.name == "map" and stage.parallel == "serial":
        k = "tf.data.AUTOTUNE" if not waiting else _pow2_floor(1 / max(cut["cores_busy"], 1 / MAX_THREADS), 2,
                                                                   MAX_THREADS)
        gain = k if waiting else usable
        why = (f"it runs one call at a time and tf.data does not parallelize it because its function is "
               f"stateful ({', '.join(stage.settings.get('stateful_ops', []))})")
        if stage.loops and b and stages[b - 1].name in ("batch", "padded_batch"):
            return ("map-before-batch", b,
                    why + "; it loops over the elements of each batch (tf.map_fn)",
                    f"map each element before .batch(), with num_parallel_calls={k}, or vectorise the function "
                    "over the batch", gain, {"change": {b: {"num_parallel_calls": k if waiting else -1}},
                                     "threads": waiting and k})
        return ("parallel-map", b, why, f".map({stage.settings['function']}, num_parallel_calls={k})"
                + (THREADS.format(k=k) if waiting else ""), gain,
                {"change": {b: {"num_parallel_calls": k if waiting else -1}},
                                     "threads": waiting and k})
    if stage.name == "map" and stage.parallel == "1":
        return ("parallel-map", b, "num_parallel_calls=1 runs one call at a time",
                f".map({stage.settings['function']}, num_parallel_calls=tf.data.AUTOTUNE)", usable,
                {"change": {b: {"num_parallel_calls": -1}}})
    if stage.name in ("interleave", "flat_map") and stage.parallel in ("serial", "1"):
        k = usable if not waiting else _pow2_floor(1 / max(cut["cores_busy"], 1 / MAX_THREADS), 2, MAX_THREADS)
        k = max(2, int(round(k)))
        cycle = stage.settings.get("cycle_length")
        why = ("flat_map reads one input dataset after another" if stage.name == "flat_map" else
               "cycle_length=1 reads one input dataset after another" if cycle == 1 else
               f"without num_parallel_calls its {cycle} input datasets are read one element at a time")
        what = "waits" if waiting else "computes"
        return ("parallel-interleave", b, f"{why}; each {what}",
                f".interleave({stage.settings.get('function', '...')}, cycle_length={k}, num_parallel_calls={k}"
                + (", deterministic=False" if waiting else "") + ")" + (THREADS.format(k=k) if waiting else ""),
                k if waiting else usable,
                {"change": {b: {"cycle_length": k, "num_parallel_calls": k}}, "threads": waiting and k})
    pool = options.threading.private_threadpool_size or m["cores"]
    if stage.parallel.isdigit() and int(stage.parallel) > pool and waiting:
        k = int(stage.parallel)
        return ("thread-pool", b,
                f"it asks for {k} calls at once, but they wait, and each waiting call holds one of tf.data's "
                f"{pool} threads", f"options.threading.private_threadpool_size = {k} (dataset.with_options)",
                k / pool, {"threads": k})
    no_inject = options.experimental_optimization.inject_prefetch is False or options.autotune.enabled is False
    if stages[n].name != "prefetch" and no_inject:
        return ("add-prefetch", n,
                "the pipeline ends without prefetch and its options turn off the prefetch tf.data would "
                "inject, so the model waits while the next element is made",
                ".prefetch(2) (or tf.data.AUTOTUNE) as the last stage", ("prefetch",), {"prefetch": True})
    return ("tuned", None, f"its slowest stage, {b} {stage.label}, already runs {stage.parallel} "
            f"({cut['cores_busy']:.1f} cores busy)", "nothing in the pipeline: the work itself is what costs; "
            "cheaper work, or more machines (recipes/service.md)", None, None)
# --8<-- [end:pipeline-rules]


# --8<-- [start:diagnose-pipeline]
def diagnose_pipeline(dataset, budget_s=20.0, step=None, try_change=True, progress=True, name="pipeline"):
    """Time ``dataset`` cut after each stage, name the slowest stage and the change, and try it.

    ``dataset`` is any ``tf.data.Dataset``, finite or not. ``step``, if given,
    is your training step as a function of one element: its time is measured
    and compared with the pipeline's. ``budget_s`` bounds the measurements
    (tracing, the first elements and TensorFlow's start come on top).
    ``try_change=False`` skips building the changed copy. Progress goes to
    stderr. Returns a :class:`PipelineDiagnosis`; raises
    :class:`DiagnoseError` for input that cannot be measured.
    """
    if not budget_s > 0:
        raise DiagnoseError(f"budget_s must be positive, got {budget_s!r}")
    tf = _tf()
    stages = pipeline_stages(dataset)
    options, n = dataset.options(), len(stages) - 1
    say = (lambda text: print(f"diagnose: {text}", file=sys.stderr, flush=True)) if progress else (lambda _: None)
    free = _cpu_share()
    each = max(0.2, 0.45 * budget_s / len(stages))
    cuts = []
    for stage in stages:
        say(f"stage {stage.index}/{n} {stage.label}: the pipeline cut after it ({each:.1f} s)")
        try:
            cuts.append(_first_and_rate(stage.dataset.with_options(options), each, at_least=5, demand=True))
        except DiagnoseError as error:
            if "empty" in str(error) and stage.index:
                raise DiagnoseError(f"stage {stage.index} {stage.label} gave no element, though its input "
                                    "did: the pipeline is empty from there on") from None
            raise DiagnoseError(f"stage {stage.index} {stage.label}: {error}" if stage.index or "empty"
                                not in str(error) else str(error)) from error.__cause__
    m = {"tensorflow": tf.__version__, "cores": _cores(), "cpu_share_available": (free + _cpu_share()) / 2,
         "cuts": cuts, "budget_s": budget_s}
    rates = [c["rate"] for c in cuts]
    per_output, costs = _costs(stages, rates)
    total = sum(c for c in costs if c is not None) or 1.0
    step_s = None
    if step is not None:
        say(f"your step on four elements ({0.1 * budget_s:.1f} s)")
        step_s = _step_time(dataset, step, 0.1 * budget_s)
        m["step_s"] = step_s
    b = _slowest(stages, costs)
    gil = None
    if stages[b].python:
        probe_s = max(0.5, 0.1 * budget_s)
        say(f"GIL probe on stage {b} ({probe_s:.1f} s)")
        gil = _gil_held_share(stages[b].dataset.with_options(options), probe_s)
        m["gil_held_share"], m["gil_held_share_of_wall"] = gil["of_cpu"], gil["of_wall"]
    kind, bottleneck, reason, change, gain, copy = _finding(stages, cuts, costs, per_output, m, gil, options)
    t_n = per_output[n]
    predicted, basis, also = None, "", []
    if isinstance(gain, (int, float)):
        c = costs[bottleneck]
        predicted = t_n / (t_n - c + c / gain)
        basis = (f"stage {bottleneck} adds {c * 1e3:.2f} ms of the {t_n * 1e3:.2f} ms per output element; "
                 f"{gain:.1f}x faster there, the rest unchanged")
    elif isinstance(gain, tuple) and gain[0] == "cache":
        t_new = t_n - per_output[bottleneck] + per_output[gain[1]]
        predicted = t_n / t_new
        basis = (f"after the first pass, stages up to {bottleneck} cost what reading the cache costs "
                 f"({per_output[gain[1]] * 1e3:.3f} ms per output element) instead of "
                 f"{per_output[bottleneck] * 1e3:.2f} ms")
    elif isinstance(gain, tuple) and gain[0] == "stall":
        predicted = gain[2]
        basis = (f"the first element waits {gain[1]:.1f} s for the buffer to fill; a buffer "
                 f"{gain[2]:.0f}x smaller fills {gain[2]:.0f}x sooner (steady-state speed is unchanged)")
    elif isinstance(gain, tuple) and gain[0] == "prefetch":
        s = step_s or t_n
        predicted = (t_n + s) / max(t_n, s)
        basis = (f"{t_n * 1e3:.2f} ms per element to make and {s * 1e3:.2f} ms to use "
                 f"({'your step, measured' if step_s else 'a step as long as the pipeline, assumed'}) overlap")
    generator_diagnosis = None
    if kind == "generator" and copy["generator"] is not None:
        say("the generator itself")
        try:
            generator_diagnosis = diagnose(copy["generator"], budget_s=max(3.0, 0.3 * budget_s),
                                           try_recipe=False, progress=False)
        except DiagnoseError as error:
            also.append(f"diagnose could not measure the generator on its own: {error}")
    if generator_diagnosis is not None:
        g = generator_diagnosis.predicted_speedup
        c = costs[bottleneck]
        predicted = t_n / (t_n - c + c / g)
        basis = f"the generator's diagnosis predicts {g:.1f}x for it ({generator_diagnosis.prediction_basis})"
        settings = ", ".join(f"{k}={v}" for k, v in generator_diagnosis.settings.items())
        change = (f"{generator_diagnosis.verdict()} with {settings}"
                  + ("; " + MAINTAINED if generator_diagnosis.bottleneck == "python" else ""))
        m["generator"] = json.loads(generator_diagnosis.to_json())
    if step_s is not None and t_n < 0.8 * step_s and kind != "add-prefetch":
        also.append(f"without the step, the change would be: {kind} at stage {bottleneck}: {change}")
        kind, bottleneck, reason = "not-the-pipeline", None, (
            f"the pipeline makes an element in {t_n * 1e3:.2f} ms and your step takes {step_s * 1e3:.2f} ms: "
            "the model is the bottleneck")
        change, predicted, basis, copy = "nothing in the pipeline", None, "", None
    measured, measured_with = None, "skipped (try_change=False)"
    if try_change and copy is None:
        measured_with = ("the change is to your code, not to the pipeline's settings" if kind not in
                         ("tuned", "not-the-pipeline") else "nothing to change")
        if kind == "python-out-of-map":
            measured_with = "the Python inside the map must move to worker processes by hand"
    elif try_change:
        say(f"the change, applied to a copy ({0.3 * budget_s:.1f} s)")
        measured, measured_with = _try_change(stages, n, options, kind, copy, cuts, step_s, t_n,
                                              generator_diagnosis, 0.15 * budget_s)
    rows = [{"index": s.index, "stage": s.label, "parallel": s.parallel, "elements_per_s": cuts[s.index]["rate"],
             "first_s": cuts[s.index]["first_s"], "cores_busy": cuts[s.index]["cores_busy"],
             "share": None if costs[s.index] is None else costs[s.index] / total,
             "python": s.python, "stateful": s.stateful} for s in stages]
    return PipelineDiagnosis(
        pipeline=name, kind=kind, bottleneck=bottleneck,
        stage="" if bottleneck is None else stages[bottleneck].label, reason=reason, change=change,
        predicted_speedup=None if predicted is None else round(predicted, 2), prediction_basis=basis,
        measured_speedup=None if measured is None else round(measured, 2), measured_with=measured_with,
        also=also, stages=rows, measurements=m)


def _try_change(stages, n, options, kind, copy, cuts, step_s, t_n, generator_diagnosis, seconds):
    """Build the changed copy and measure it against the original: (speed-up, what was built)."""
    original = stages[n].dataset.with_options(options)
    if kind == "generator":
        g = generator_diagnosis
        if g is None or g.bottleneck not in ("waiting", "gil-free"):
            return None, ("the generator's recipe must be applied to your code; diagnose(generator) "
                          "measures it on the generator alone")
        signature = stages[0].dataset.element_spec
        source = _copies(copy["generator"], (), signature, g.settings["num_shards"], g.settings["private_threads"])
        changed = _rebuild(stages, n, options, change={0: {"dataset": source}})
        what = f"{g.settings['num_shards']} copies of the generator under interleave, the rest unchanged"
    elif kind == "add-prefetch":
        changed = original.prefetch(2)
        what = ".prefetch(2) appended"
    else:
        if copy.get("threads"):
            threads = _tf().data.Options()
            threads.threading.private_threadpool_size = copy["threads"]
            options = options.merge(threads)
        changed = _rebuild(stages, n, options, change=copy.get("change"), drop=copy.get("drop", ()),
                           after=copy.get("after"))
        what = "the change applied to a copy of the pipeline"
    if changed is None:
        return None, "a stage of this pipeline cannot be built again from the dataset (padded_batch, shard, ...)"
    if kind == "shuffle-buffer":
        new = _first_and_rate(changed, 0.05)
        return cuts[n]["first_s"] / max(new["first_s"], 1e-3), (
            f"{what}; time to the first element, {cuts[n]['first_s']:.2f} s before, {new['first_s']:.2f} s after")
    step = None
    if kind == "add-prefetch":
        step = step_s or t_n
    warm = 0
    if kind == "move-cache":  # one pass fills the cache; count after it
        b = copy["after"][0]
        warm = _value(stages[b].dataset.cardinality())
        for stage in stages[b + 1:]:
            warm = None if warm is None or stage.per_input is None else warm * stage.per_input
        warm = int(warm or 0) + 1
    before = _first_and_rate(original, seconds, step=step)
    after = _first_and_rate(changed, seconds, step=step, warm=warm)
    return after["rate"] / before["rate"], what + (" (after one pass fills the cache)" if warm else "") + (
        f" (consumer step {step * 1e3:.1f} ms)" if step else "")
# --8<-- [end:diagnose-pipeline]


# --8<-- [start:example-pipelines]
def _tf_work(x, size=60_000):
    """About 5 ms of TensorFlow ops on one core, stateless (tf.data may parallelize it)."""
    tf = _tf()
    values = tf.random.stateless_uniform([size], seed=tf.stack([tf.cast(x, tf.int64), tf.constant(7, tf.int64)]))
    return tf.reduce_sum(tf.sort(values))


def _tf_augment(x, size=60_000):
    """The same work with a stateful random op: tf.data leaves a map of it serial."""
    tf = _tf()
    return tf.reduce_sum(tf.sort(tf.random.uniform([size]))) + tf.cast(x, tf.float32)


def _python_work(x):
    return np.float32(sum(i * i % 7 for i in range(40_000)) + int(x))


def _wait(x):
    time.sleep(0.01)  # a read from a slow remote store
    return x


def _py(function, dtype):
    tf = _tf()
    return lambda x: tf.py_function(function, [x], dtype)


def _slow_file(i):
    """One 'file' of 20 records, each a 10 ms wait."""
    tf = _tf()
    return tf.data.Dataset.range(20).map(_py(_wait, tf.int64))


def example_records():
    """A generator that waits 5 ms per record (a remote API)."""
    for i in range(10**9):
        time.sleep(0.005)
        yield np.int64(i)


class ExamplePipelines:
    """Pipelines with a known right answer. Try one with
    ``python -m recipes.diagnose --pipeline recipes.diagnose:ExamplePipelines.serial_map``."""

    @staticmethod
    def serial_map():
        """parallel-map at stage 1: a stateful map (tf.random.uniform) that tf.data leaves serial."""
        tf = _tf()
        return tf.data.Dataset.range(10**9).map(_tf_augment).batch(8).prefetch(tf.data.AUTOTUNE)

    @staticmethod
    def one_call_map():
        """parallel-map at stage 1: num_parallel_calls=1."""
        tf = _tf()
        return tf.data.Dataset.range(10**9).map(_tf_work, num_parallel_calls=1).batch(8).prefetch(tf.data.AUTOTUNE)

    @staticmethod
    def python_map():
        """python-out-of-map at stage 1: pure Python in a py_function holds the GIL."""
        tf = _tf()
        return (tf.data.Dataset.range(10**9).map(_py(_python_work, tf.float32), num_parallel_calls=tf.data.AUTOTUNE)
                .batch(8).prefetch(tf.data.AUTOTUNE))

    @staticmethod
    def waiting_map():
        """parallel-map at stage 1: a py_function that waits (GIL free), left serial."""
        tf = _tf()
        return tf.data.Dataset.range(10**9).map(_py(_wait, tf.int64)).batch(8).prefetch(tf.data.AUTOTUNE)

    @staticmethod
    def map_fn_on_batches():
        """map-before-batch at stage 2: a serial map that loops over each batch with tf.map_fn."""
        tf = _tf()
        return (tf.data.Dataset.range(10**9).batch(8)
                .map(lambda batch: tf.map_fn(_tf_augment, batch, fn_output_signature=tf.float32,
                                             parallel_iterations=1))
                .prefetch(tf.data.AUTOTUNE))

    @staticmethod
    def cycle_length_one():
        """parallel-interleave at stage 1: cycle_length=1 reads one file after another."""
        tf = _tf()
        return (tf.data.Dataset.range(10**6).interleave(_slow_file, cycle_length=1)
                .batch(8).prefetch(tf.data.AUTOTUNE))

    @staticmethod
    def serial_interleave():
        """parallel-interleave at stage 1: cycle_length=4 without num_parallel_calls."""
        tf = _tf()
        return (tf.data.Dataset.range(10**6).interleave(_slow_file, cycle_length=4)
                .batch(8).prefetch(tf.data.AUTOTUNE))

    @staticmethod
    def flat_map_files():
        """parallel-interleave at stage 1: flat_map is an interleave with cycle_length=1."""
        tf = _tf()
        return tf.data.Dataset.range(10**6).flat_map(_slow_file).batch(8).prefetch(tf.data.AUTOTUNE)

    @staticmethod
    def cache_too_early():
        """move-cache at stage 2: cache() before the expensive stateless map."""
        tf = _tf()
        return (tf.data.Dataset.range(160).cache().map(_tf_work, num_parallel_calls=tf.data.AUTOTUNE)
                .batch(8).repeat().prefetch(tf.data.AUTOTUNE))

    @staticmethod
    def big_shuffle():
        """shuffle-buffer at stage 2: a buffer of 400 made elements before the first one."""
        tf = _tf()
        return (tf.data.Dataset.range(10**9).map(_tf_work, num_parallel_calls=tf.data.AUTOTUNE)
                .shuffle(400).batch(8))

    @staticmethod
    def no_prefetch():
        """add-prefetch at the last stage: autotune is off, so tf.data injects no prefetch."""
        tf = _tf()
        options = tf.data.Options()
        options.autotune.enabled = False
        return tf.data.Dataset.range(10**9).map(_tf_work, num_parallel_calls=2).batch(8).with_options(options)

    @staticmethod
    def slow_generator():
        """generator at stage 0: from_generator over a generator that waits 5 ms per record."""
        tf = _tf()
        return (tf.data.Dataset.from_generator(example_records, output_signature=tf.TensorSpec((), tf.int64))
                .map(lambda x: x * 2, num_parallel_calls=tf.data.AUTOTUNE).batch(8).prefetch(tf.data.AUTOTUNE))

    @staticmethod
    def tuned_map():
        """tuned: the expensive map runs with num_parallel_calls=AUTOTUNE, then batch and prefetch."""
        tf = _tf()
        return (tf.data.Dataset.range(10**9).map(_tf_work, num_parallel_calls=tf.data.AUTOTUNE)
                .batch(8).prefetch(tf.data.AUTOTUNE))

    @staticmethod
    def stateless_serial_map():
        """tuned: a serial map of stateless ops, which tf.data 2.21 runs in parallel by itself."""
        tf = _tf()
        return tf.data.Dataset.range(10**9).map(_tf_work).batch(8)

    @staticmethod
    def small_thread_pool():
        """thread-pool at stage 1: eight waiting files at once on tf.data's default threads (one per core)."""
        tf = _tf()
        return (tf.data.Dataset.range(10**6)
                .interleave(_slow_file, cycle_length=8, num_parallel_calls=8, deterministic=False)
                .batch(8).prefetch(tf.data.AUTOTUNE))

    @staticmethod
    def tuned_files():
        """tuned: eight waiting files read at once, on eight threads of their own."""
        tf = _tf()
        options = tf.data.Options()
        options.threading.private_threadpool_size = 8
        return ExamplePipelines.small_thread_pool().with_options(options)
# --8<-- [end:example-pipelines]



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
    """Command line: ``MODULE:FUNCTION`` (a generator function) or ``--pipeline MODULE:FUNCTION``
    (a function that returns a tf.data.Dataset), ``[--args ...] [--seconds S] [--json PATH]``;
    no target runs the demo."""
    parser = argparse.ArgumentParser(
        prog="diagnose", description="Measure a generator function, or each stage of a tf.data pipeline, "
        "and name the change that makes it fast.")
    parser.add_argument("target", nargs="?", help="MODULE:FUNCTION, the generator function")
    parser.add_argument("--pipeline", metavar="MODULE:FUNCTION",
                        help="a function that returns your tf.data.Dataset (or the dataset itself)")
    parser.add_argument("--step", metavar="MODULE:FUNCTION",
                        help="with --pipeline: your training step, a function of one element")
    parser.add_argument("--args", nargs="*", default=[], metavar="ARG",
                        help="arguments for FUNCTION (Python literals, else strings)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement budget (default 20)")
    parser.add_argument("--json", metavar="PATH", help="write the diagnosis as JSON to PATH")
    parser.add_argument("--no-try", action="store_true", help="do not build the recommended pipeline")
    options = parser.parse_args(argv)
    if options.target and options.pipeline:
        parser.error("give a generator function or --pipeline, not both")
    if options.step and not options.pipeline:
        parser.error("--step goes with --pipeline")
    if options.target is None and options.pipeline is None:
        return _demo()
    sys.path.insert(0, os.getcwd())  # MODULE is looked up in the current folder, as `python -m` does
    _tf()  # before your module imports TensorFlow, so its start-up notices are filtered
    args = [_literal(a) for a in options.args]
    try:
        if options.pipeline:
            result = diagnose_pipeline(
                _dataset_from(options.pipeline, args), budget_s=options.seconds,
                step=load_function(options.step) if options.step else None,
                try_change=not options.no_try, name=options.pipeline)
        else:
            result = diagnose(load_function(options.target), args, budget_s=options.seconds,
                              try_recipe=not options.no_try)
            result.function = options.target
    except DiagnoseError as error:
        print(f"diagnose: error: {error}", file=sys.stderr)
        return 2
    print(result.summary())
    if options.json:
        with open(options.json, "w", encoding="utf-8") as f:
            f.write(result.to_json() + "\n")
    return 0


def _dataset_from(spec, args):
    """The dataset named by ``spec``: a dataset, or a function called with ``args`` that returns one."""
    obj = load_function(spec)
    tf = _tf()
    if callable(obj) and not isinstance(obj, tf.data.Dataset):
        try:
            obj = obj(*args)
        except DiagnoseError:
            raise
        except Exception as error:
            raise DiagnoseError(f"calling {spec}() raised {type(error).__name__}: {error}") from error
    if not isinstance(obj, tf.data.Dataset):
        raise DiagnoseError(f"{spec} gave {type(obj).__name__}, not a tf.data.Dataset")
    return obj


def _demo():
    print("example: waiting_records(), a generator that sleeps 50 ms per record")
    result = diagnose(waiting_records, budget_s=8)
    print(result.verdict())
    print("settings:", ", ".join(f"{k}={v}" for k, v in result.settings.items()))
    print("recommended pipeline at least 4x faster:", result.measured_speedup >= 4)
    print("example: ExamplePipelines.serial_map(), a stateful map left serial, then batch and prefetch")
    pipeline = diagnose_pipeline(ExamplePipelines.serial_map(), budget_s=4, try_change=False)
    print(pipeline.verdict())
    print("change:", pipeline.change)
    return 0


if __name__ == "__main__":
    sys.exit(main())
