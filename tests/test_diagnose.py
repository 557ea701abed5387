"""diagnose: each kind of generator gets its verdict; predictions hold; bad input gets a message.

The generators here differ from the benchmark's workloads (``time.sleep``, an
arithmetic loop, ``np.sort``) and from each other. Verdicts rest on shares
(GIL probes, stack samples, CPU over wall time), never on absolute speed, so
they hold on a loaded machine; budgets are short to keep the file fast.
"""

import hashlib
import json
import os
import queue
import re
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
import zlib

import numpy as np
import pytest
import tensorflow as tf

import recipes.diagnose as diagnose_module
from recipes.diagnose import (
    RECIPES,
    DiagnoseError,
    Diagnosis,
    ExamplePipelines,
    _cores,
    _finding,
    _first_and_rate,
    _gil_held_share,
    _importable,
    _rebuild,
    _run_copies,
    _steady_rate,
    _Stream,
    classify,
    diagnose,
    diagnose_pipeline,
    load_function,
    main,
    pipeline_stages,
)
from tests.pages import ROOT

BUDGET = 1.5  # seconds of measurement per generator (TensorFlow's start comes on top)


# Waiting: four ways to block that release the GIL.
def wait_on_event():
    never_set = threading.Event()
    for i in range(100_000):
        never_set.wait(0.005)
        yield np.float32(i)


def wait_long_on_event():
    never_set = threading.Event()
    for i in range(100_000):
        never_set.wait(0.03)  # 30 ms: 16 shards need about a fifth of a core, even on a busy machine
        yield np.float32(i)


def wait_on_select():
    a, b = socket.socketpair()
    try:
        for i in range(100_000):
            ready, _, _ = select.select([a], [], [], 0.005)  # nothing ever arrives: times out
            yield i, not ready
    finally:
        a.close()
        b.close()


def wait_on_queue():
    inbox = queue.Queue()
    for i in range(100_000):
        try:
            inbox.get(timeout=0.005)
        except queue.Empty:
            yield {"index": i}


def wait_on_a_slow_peer():
    """A local 'server' thread answers each request after 5 ms; recv blocks meanwhile."""
    client, server = socket.socketpair()
    stop = threading.Event()

    def answer():
        while not stop.is_set():
            try:
                request = server.recv(4)
            except OSError:
                return
            if not request:
                return
            stop.wait(0.005)
            server.sendall(request[::-1])

    peer = threading.Thread(target=answer, daemon=True)
    peer.start()
    try:
        for i in range(100_000):
            client.sendall(i.to_bytes(4, "little"))
            yield int.from_bytes(client.recv(4), "big")
    finally:
        stop.set()
        client.close()
        server.close()
        peer.join()


# Python: three kinds of pure-Python work that hold the GIL.
def parse_key_values():
    for i in range(100_000):
        line = ";".join(f"k{k}={k * i}" for k in range(3000))
        fields = dict(pair.split("=") for pair in line.split(";"))
        yield sum(int(v) for v in fields.values())


def build_nested_dicts():
    for i in range(100_000):
        table = {f"row{r}": [c * r + i for c in range(40)] for r in range(400)}
        yield np.array([max(v) for v in table.values()], dtype=np.int64)


def fnv_hash_words():
    words = [f"word{w}".encode() for w in range(2000)]
    for i in range(100_000):
        h = 2166136261 ^ i
        for word in words:
            for byte in word:
                h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
        yield h


# GIL-free: three native libraries that release the GIL on large inputs.
def sha256_of_buffers():
    buffer = np.random.default_rng(0).bytes(3_000_000)
    while True:
        yield hashlib.sha256(buffer).digest()


def zlib_compress_buffers():
    data = np.random.default_rng(1).integers(0, 40, 100_000, dtype=np.uint8).tobytes()
    while True:
        yield len(zlib.compress(data, 6))


def numpy_fft_spectra():
    signal = np.random.default_rng(2).random(1 << 16)
    while True:
        yield np.abs(np.fft.rfft(signal)[:16]).astype(np.float32)


# TensorFlow ops, run eagerly inside the generator.
def tf_fft_spectra():
    signal = tf.complex(tf.random.stateless_normal([1 << 15], seed=[1, 2]), 0.0)
    while True:
        yield tf.abs(tf.signal.fft(signal))[:8]


def tf_resized_images():
    image = tf.random.stateless_uniform([1, 96, 96, 3], seed=[3, 4])
    while True:
        yield tf.image.resize(image, [192, 192])[0, :4, :4, 0]


def tf_inverted_matrices():
    matrix = tf.random.stateless_normal([160, 160], seed=[5, 6]) + 160.0 * tf.eye(160)
    while True:
        yield tf.linalg.inv(matrix)[0, :4]


# Not the generator: it is faster than the hand-off to TensorFlow.
def counter():
    yield from range(10**9)


def same_row():
    row = np.arange(16, dtype=np.float32)
    while True:
        yield row


KINDS = {
    "waiting": [wait_on_event, wait_on_select, wait_on_queue, wait_on_a_slow_peer],
    "python": [parse_key_values, build_nested_dicts, fnv_hash_words],
    "gil-free": [sha256_of_buffers, zlib_compress_buffers, numpy_fft_spectra],
    "tf-ops": [tf_fft_spectra, tf_resized_images, tf_inverted_matrices],
    "not-the-generator": [counter, same_row],
}
CASES = [(kind, fn) for kind, fns in KINDS.items() for fn in fns]


@pytest.mark.parametrize("kind, function", CASES, ids=[fn.__name__ for _, fn in CASES])
def test_each_kind_of_generator_gets_its_verdict(kind, function):
    result = diagnose(function, budget_s=BUDGET, try_recipe=False, progress=False)
    m = result.measurements
    assert result.bottleneck == kind, result.summary()
    assert result.recipe == RECIPES[kind]
    assert result.predicted_speedup > 0 and result.measured_speedup is None
    gen = m["generator"]
    if kind == "python":
        assert gen["gil_held_share"] >= 0.4, result.summary()
    if kind in ("waiting", "gil-free"):
        assert gen["gil_held_share"] < 0.4, result.summary()
    # tf-ops is told by the stack samples, before the GIL is looked at: eager dispatch of small ops holds
    # the GIL between kernels (tf_resized_images read 0.46 under CI's load), while kernels that do real
    # work release it (test_eager_tensorflow_ops_release_the_gil).
    if kind == "tf-ops":
        assert gen["in_tensorflow_share"] >= 0.5 and m["elements"]["tf_tensors"]


def test_eager_tensorflow_ops_release_the_gil():
    """What makes tf-ops different from python: eager kernels run without the GIL."""
    result = diagnose(tf_inverted_matrices, budget_s=1.0, try_recipe=False, progress=False)
    assert result.measurements["generator"]["gil_held_share"] < 0.4
    assert result.measurements["generator"]["in_tensorflow_share"] >= 0.5


def test_waiting_prediction_is_within_a_factor_of_two_of_the_measured_speedup():
    """Sharding a source that waits far longer than it computes: prediction within 0.5x to 2x.

    30 ms of waiting per element, a few hundred microseconds of CPU: 16 shards
    need about a fifth of a core, so the gain stays steady however busy the
    machine is (the suite checks it with both cores loaded), and a factor of two
    still separates 4 from 16 shards. Where the shards' CPU nears what is free,
    the gain depends on how the OS shares the cores among threads (a process
    with 16 threads gets more than the one-thread probe saw); that case is not
    promised.
    """
    result = diagnose(wait_long_on_event, budget_s=6.0, progress=False)
    assert result.bottleneck == "waiting"
    k = result.settings["num_shards"]
    assert result.settings == {"num_shards": k, "private_threads": k} and 2 <= k <= 16
    assert result.measured_speedup is not None, result.measured_with
    assert 0.5 <= result.measured_speedup / result.predicted_speedup <= 2.0, result.summary()
    assert f"{k} copies of the generator under interleave, {k} private threads" == result.measured_with


def test_not_the_generator_builds_batched_handoff():
    result = diagnose(same_row, budget_s=BUDGET, progress=False)
    assert result.bottleneck == "not-the-generator"
    batch = result.settings["yield_batches_of"]
    assert result.measured_with == f"the generator's elements handed over in batches of {batch}, then unbatch()"
    assert result.measured_speedup > 1.0, result.summary()  # hundreds of hand-offs become one


def test_json_and_summary_have_the_promised_fields():
    result = diagnose(counter, budget_s=1.0, try_recipe=False, progress=False)
    assert isinstance(result, Diagnosis)
    lines = result.summary().splitlines()
    assert lines[0] == "counter"
    assert "bottleneck: not-the-generator -> read recipes/parallel_map.md" in lines
    assert lines[-1] == "measured speed-up: not measured: skipped (try_recipe=False)"
    data = json.loads(result.to_json())
    assert {"bottleneck", "recipe", "settings", "predicted_speedup", "measured_speedup",
            "measurements"} <= set(data)
    assert data["measured_speedup"] is None and data["bottleneck"] == "not-the-generator"
    assert {"generator", "threads", "elements", "from_generator", "cores"} <= set(data["measurements"])
    assert data["measurements"]["threads"]["speedup"] > 0


def _m(gen_t, fg_t, handoff, gil, cpu_per_wall, tf_share=0.0, free=1.0, cores=2, fg_cpu=None):
    return {
        "cores": cores, "cpu_share_available": free,
        "generator": {"rate": 1 / gen_t, "gil_held_share": gil, "cpu_per_wall": cpu_per_wall,
                      "in_tensorflow_share": tf_share},
        "from_generator": {"rate": 1 / fg_t, "handoff_s": handoff, "tfdata_floor_s": 1e-6,
                           "cpu_per_element": handoff if fg_cpu is None else fg_cpu},
        "threads": {"speedup": 1.0},
        "elements": {"to_tensor_s": 1e-5, "pickle_s": 1e-6, "stack_s": 1e-6},
    }


def test_classify_rules_and_predictions_on_fixed_measurements():
    # 10 ms waits, 100 us of GIL per element: 16 shards, 10 ms / 0.1 ms caps far above 16.
    bottleneck, settings, predicted, _ = classify(_m(0.010, 0.0101, 1e-4, 0.0, 0.01))
    assert (bottleneck, settings) == ("waiting", {"num_shards": 16, "private_threads": 16})
    assert predicted == pytest.approx(16.0)
    # The same generator on a busy machine: the probe read the GIL at 0.15, but a thread holds it only
    # while it runs, and the process used 1 % of a core: still 16 shards (CI read 4 from the probe alone).
    bottleneck, settings, predicted, _ = classify(_m(0.010, 0.0101, 1e-4, 0.15, 0.01))
    assert (bottleneck, settings) == ("waiting", {"num_shards": 16, "private_threads": 16})
    # 1 ms waits, 200 us of GIL: the GIL allows ~5x, so 4 shards, predicted 1.2 ms / 0.3 ms.
    bottleneck, settings, predicted, _ = classify(_m(0.001, 0.0012, 2e-4, 0.0, 0.02))
    assert (bottleneck, settings) == ("waiting", {"num_shards": 4, "private_threads": 4})
    assert predicted == pytest.approx(4.0)
    # 10 ms waits, but each element costs the process 2 ms of CPU in from_generator and only a
    # third of a core is free on each of 2 cores: 16 shards, bounded by the CPU at 10.1 / 3.
    bottleneck, settings, predicted, basis = classify(_m(0.010, 0.0101, 1e-4, 0.0, 0.01, free=1 / 3,
                                                         fg_cpu=0.002))
    assert (bottleneck, settings) == ("waiting", {"num_shards": 16, "private_threads": 16})
    assert predicted == pytest.approx(0.0101 / 0.003)
    assert "costs 2000 us of CPU (0.7 cores free)" in basis
    # Python: the GIL is held, two workers on two free cores halve 4 ms.
    bottleneck, settings, predicted, _ = classify(_m(0.004, 0.0041, 1e-4, 0.95, 1.0))
    assert (bottleneck, settings) == ("python", {"workers": 2, "batch_size": 4})
    assert predicted == pytest.approx(2.0, rel=0.05)
    # The same on a machine where only half a core is free: no gain predicted.
    assert classify(_m(0.004, 0.0041, 1e-4, 0.95, 0.5, free=0.5))[2] == pytest.approx(1.0, rel=0.05)
    assert classify(_m(0.004, 0.0041, 1e-4, 0.0, 0.95))[0] == "gil-free"
    assert classify(_m(0.004, 0.0041, 1e-4, 0.0, 0.95, tf_share=0.9))[0] == "tf-ops"
    bottleneck, settings, predicted, _ = classify(_m(1e-6, 5e-5, 5e-5, 1.0, 1.0))
    assert bottleneck == "not-the-generator" and settings["yield_batches_of"] == 256


def test_functions_in_main_or_nested_are_not_sent_to_worker_processes():
    def nested():
        yield 1

    assert _importable(parse_key_values) == (("tests.test_diagnose", "parse_key_values"), None)
    assert "defined inside a function" in _importable(nested)[1]
    namespace = {"__name__": "__main__"}
    exec("def records():\n    yield 1\n", namespace)
    assert "defined in __main__" in _importable(namespace["records"])[1]


def _yields_nothing():
    return
    yield


def _raises_after_three():
    yield from range(3)
    raise ValueError("record 3 is corrupt")


def _raises_later():
    i = 0
    while True:
        i += 1
        if i == 40:
            raise RuntimeError("connection reset")
        yield i


def _returns_a_list():
    return [1, 2, 3]


def _too_slow():
    pause = threading.Event()
    while True:
        pause.wait(0.4)
        yield 0


@pytest.mark.parametrize("call, message", [
    (lambda: load_function("no_such_module_here:records"), "cannot import 'no_such_module_here'"),
    (lambda: load_function("json:no_such_function"), "module 'json' has no attribute 'no_such_function'"),
    (lambda: load_function("json.dumps"), "expected MODULE:FUNCTION"),
    (lambda: diagnose(_returns_a_list, progress=False),
     "_returns_a_list is not a generator function: calling it returned list, not a generator"),
    (lambda: diagnose(counter(), progress=False), "pass the generator function itself"),
    (lambda: diagnose(42, progress=False), "expected a generator function, got int 42"),
    (lambda: diagnose(_yields_nothing, progress=False), "_yields_nothing yielded nothing"),
    (lambda: diagnose(_raises_after_three, progress=False),
     "_raises_after_three raised ValueError after 3 elements: record 3 is corrupt"),
    (lambda: diagnose(_raises_later, budget_s=BUDGET, progress=False),
     "_raises_later raised RuntimeError after 39 elements: connection reset"),
    (lambda: diagnose(_too_slow, budget_s=1.0, progress=False), "_too_slow is too slow to measure in 1 s"),
])
def test_bad_input_gets_a_clear_message(call, message):
    with pytest.raises(DiagnoseError, match=re.escape(message)):
        call()


def test_command_reports_a_name_that_does_not_import(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "recipes.diagnose", "my_reader:records"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("diagnose: error: cannot import 'my_reader': No module named 'my_reader'")


SLOW_PARSER = '''
def records(n):
    for i in range(n):
        line = ",".join(str(i * 31 + j) for j in range(3000))
        yield sum(int(x) for x in line.split(","))
'''


def test_copied_file_diagnoses_a_module_in_the_current_folder(tmp_path):
    """The standalone command: a pure-Python reader, the process pool tried for real, JSON written."""
    shutil.copy(ROOT / "recipes" / "diagnose.py", tmp_path / "diagnose.py")
    (tmp_path / "slow_parser.py").write_text(SLOW_PARSER, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "diagnose.py", "slow_parser:records", "--args", "100000", "--seconds", "4",
         "--json", "diagnosis.json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "bottleneck: python -> read recipes/process_pool.md" in proc.stdout
    assert "diagnose [6/6]" in proc.stderr  # progress goes to stderr
    data = json.loads((tmp_path / "diagnosis.json").read_text(encoding="utf-8"))
    assert data["function"] == "slow_parser:records" and data["bottleneck"] == "python"
    assert data["settings"]["workers"] >= 1
    assert isinstance(data["measured_speedup"], float), data["measured_with"]
    assert data["measured_with"].startswith(f"{data['settings']['workers']} worker processes")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "__pycache__") == [
        "diagnose.py", "diagnosis.json", "slow_parser.py"]


# ---------------------------------------------------------------------------------------------
# diagnose_pipeline: every stage of a tf.data pipeline. Each example has one right answer: the
# stage and the kind of change. Work per element is milliseconds of ops (or of waiting), so the
# slowest stage costs tens of times the others and the verdict holds on a busy machine.

PIPELINE_BUDGET = 2.0

EXPECTED = {  # example -> (kind, bottleneck stage, words the change must contain)
    "serial_map": ("parallel-map", 1, "num_parallel_calls=tf.data.AUTOTUNE"),
    "one_call_map": ("parallel-map", 1, "num_parallel_calls=tf.data.AUTOTUNE"),
    "python_map": ("python-out-of-map", 1, "Grain behind from_generator"),
    "waiting_map": ("parallel-map", 1, "private_threadpool_size"),
    "map_fn_on_batches": ("map-before-batch", 2, "map each element before .batch()"),
    "cycle_length_one": ("parallel-interleave", 1, "num_parallel_calls="),
    "serial_interleave": ("parallel-interleave", 1, "num_parallel_calls="),
    "flat_map_files": ("parallel-interleave", 1, ".interleave(_slow_file, cycle_length="),
    "cache_too_early": ("move-cache", 2, "move .cache() after stage 2 map(_tf_work)"),
    "big_shuffle": ("shuffle-buffer", 2, ".shuffle("),
    "no_prefetch": ("add-prefetch", 2, ".prefetch(2)"),
    "slow_generator": ("generator", 0, "bottleneck: waiting -> read recipes/sharded_generator.md"),
    "small_thread_pool": ("thread-pool", 1, "options.threading.private_threadpool_size = 8"),
    "tuned_map": ("tuned", None, "nothing in the pipeline"),
    "stateless_serial_map": ("tuned", None, "nothing in the pipeline"),
    "tuned_files": ("tuned", None, "nothing in the pipeline"),
}


@pytest.mark.parametrize("example", sorted(EXPECTED))
def test_each_example_pipeline_gets_its_stage_and_change(example):
    kind, stage, words = EXPECTED[example]
    dataset = getattr(ExamplePipelines, example)()
    result = diagnose_pipeline(dataset, budget_s=PIPELINE_BUDGET, try_change=False, progress=False, name=example)
    assert (result.kind, result.bottleneck) == (kind, stage), result.summary()
    assert words in result.change, result.summary()
    assert [row["index"] for row in result.stages] == list(range(len(pipeline_stages(dataset))))
    assert result.measured_speedup is None
    assert ExamplePipelines.__dict__[example].__func__.__doc__.startswith(kind), "docstring names the answer"


def test_a_model_slower_than_the_pipeline_gets_not_the_pipeline():
    result = diagnose_pipeline(ExamplePipelines.tuned_map(), budget_s=PIPELINE_BUDGET, progress=False,
                               step=lambda batch: time.sleep(0.3))
    assert (result.kind, result.bottleneck) == ("not-the-pipeline", None), result.summary()
    assert 0.3 <= result.measurements["step_s"] < 1.0
    assert result.verdict() == "bottleneck: none in the pipeline (not-the-pipeline)"


def test_the_change_is_applied_to_a_copy_and_measured():
    threads = threading.active_count()
    result = diagnose_pipeline(ExamplePipelines.serial_map(), budget_s=PIPELINE_BUDGET, progress=False)
    assert result.kind == "parallel-map"
    assert result.measured_speedup is not None and result.predicted_speedup is not None, result.summary()
    assert result.measured_with == "the change applied to a copy of the pipeline"
    assert threading.active_count() == threads  # the GIL probe and the copies leave no thread behind
    data = json.loads(result.to_json())
    assert {"kind", "bottleneck", "stage", "change", "predicted_speedup", "measured_speedup", "stages",
            "measurements"} <= set(data)
    assert set(data["stages"][1]) >= {"stage", "parallel", "elements_per_s", "share", "cores_busy", "first_s"}


def test_a_change_it_cannot_apply_says_so():
    result = diagnose_pipeline(ExamplePipelines.python_map(), budget_s=PIPELINE_BUDGET, progress=False)
    assert result.kind == "python-out-of-map" and result.measured_speedup is None
    assert result.measured_with == "the Python inside the map must move to worker processes by hand"


def _cut(busy, running):
    return {"first_s": 0.01, "elements": 100, "seconds": 1.0, "rate": 100.0, "cores_busy": busy,
            "threads_running": running}


@pytest.mark.parametrize("busy, running, free, waits", [
    (0.45, 1.3, 1.0, False),  # computes, but other work took the cores after the free share was read
    (0.10, 1.0, 0.46, False),  # starved harder still (CI read this one as waiting)
    (0.45, 0.3, 1.0, True),  # the same CPU with its threads asleep: it waits
    (0.08, 0.89, 0.3, True),  # waits on a machine so busy that its woken threads queue for a core
    (1.0, 1.2, 1.0, False),  # computes on an idle machine
    (0.45, None, 1.0, True),  # no /proc: the free share read before and after decides, as it can
])
def test_waiting_is_judged_by_cpu_and_by_threads_ready_to_run(busy, running, free, waits):
    """A serial map waits when it keeps less than half the free CPU busy and fewer than one thread running
    or ready to run. CI once read a computing map, starved by tests that started after the free share was
    read, as waiting; a stage that waits gets threads of its own in the change."""
    stages = pipeline_stages(ExamplePipelines.serial_map())
    cuts = [_cut(1.0, 1.0) for _ in stages]
    cuts[1] = _cut(busy, running)
    costs = [0.001, 0.1, None, None]
    m = {"cores": 2, "cpu_share_available": free}
    kind, b, _, change, _, copy = _finding(stages, cuts, costs, costs, m, None, tf.data.Options())
    assert (kind, b) == ("parallel-map", 1)
    assert ("private_threadpool_size" in change) == waits, change
    assert bool(copy["threads"]) == waits


@pytest.mark.parametrize("of_cpu, of_wall, busy, running, kind", [
    (0.48, 0.24, 0.10, 0.5, "parallel-map"),  # CI's reading of waiting_map: a waiting stage, judged on wall time
    (0.95, 0.90, 0.05, 0.2, "python-out-of-map"),  # waits while it holds the GIL (a C call that keeps it)
    (0.92, 0.46, 0.50, 1.3, "python-out-of-map"),  # computes in Python on a machine busy with other work
    (0.30, 0.15, 0.50, 1.3, "parallel-map"),  # computes, mostly without the GIL
])
def test_the_gil_bar_is_of_cpu_for_a_computing_map_and_of_wall_time_for_a_waiting_one(
        of_cpu, of_wall, busy, running, kind):
    stages = pipeline_stages(ExamplePipelines.waiting_map())
    cuts = [_cut(1.0, 1.0) for _ in stages]
    cuts[1] = _cut(busy, running)
    costs = [0.001, 0.1, None, None]
    m = {"cores": 2, "cpu_share_available": 0.39}
    found, b, why, *_ = _finding(stages, cuts, costs, costs, m, {"of_cpu": of_cpu, "of_wall": of_wall},
                                 tf.data.Options())
    assert (found, b) == (kind, 1), why
    if kind == "python-out-of-map":
        assert ("even while it waits" in why) == (busy < 0.15), why


def test_a_map_that_waits_holding_the_gil_must_leave_the_map():
    """ctypes.PyDLL keeps the GIL through the C call: a 20 ms usleep there waits and blocks every thread."""
    import ctypes
    usleep = ctypes.PyDLL(None).usleep

    def hold(x):
        usleep(20_000)
        return x

    dataset = tf.data.Dataset.range(10**9).map(lambda x: tf.py_function(hold, [x], tf.int64)).batch(8)
    result = diagnose_pipeline(dataset, budget_s=PIPELINE_BUDGET, try_change=False, progress=False)
    assert (result.kind, result.bottleneck) == ("python-out-of-map", 1), result.summary()
    assert result.measurements["gil_held_share_of_wall"] >= 0.6, result.summary()


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="threads are read from /proc (Linux)")
def test_threads_ready_to_run_separate_computing_from_waiting():
    computing = _first_and_rate(ExamplePipelines.serial_map(), 0.5, at_least=5, demand=True)
    waiting = _first_and_rate(ExamplePipelines.waiting_map(), 0.5, at_least=5, demand=True)
    assert computing["threads_running"] >= 1.0 > waiting["threads_running"], (computing, waiting)
    assert _first_and_rate(ExamplePipelines.serial_map(), 0.2)["threads_running"] is None  # only when asked


def test_a_stall_of_the_whole_process_barely_moves_a_cut_s_rate():
    """CI once stalled the cut of a range (100,000 elements/s) for 0.25 s of its 0.27: 5 elements over the
    elapsed time read 18/s, the range became the slowest stage, and python_map read 'tuned'."""
    times, counts = [0.0, 0.25, 0.2501, 0.2502, 0.2503, 0.2504], [0, 1, 2, 3, 4, 5]
    assert _steady_rate(times, counts) == pytest.approx(10_000)
    steady = np.arange(0, 1, 0.01)
    assert _steady_rate(steady, np.arange(100)) == pytest.approx(100)
    bursts = [0.0] + [k * 0.08 + 1e-4 * i for k in range(1, 6) for i in range(8)]  # 8 at once every 80 ms
    assert _steady_rate(bursts, range(len(bursts))) == pytest.approx(100, rel=0.1)


def python_half_the_time():
    """30 ms of Python holding the GIL, then 30 ms of waiting, per element."""
    for i in range(10**6):
        start = time.perf_counter()
        while time.perf_counter() - start < 0.03:
            pass
        time.sleep(0.03)
        yield i


def test_the_generator_gil_share_is_a_share_of_time_not_of_wake_ups():
    """Half the time in Python reads about half. Counted by wake-ups it read near 0.06: each 30 ms hold
    makes one or two late wake-ups, each 30 ms wait about 27 on-time ones."""
    result = _run_copies([_Stream(python_half_the_time, ())], 1, 1.5, probe=True)
    assert 0.3 <= result["gil_held_share"] <= 0.8, result


def test_the_gil_share_is_of_the_cpu_the_pipeline_kept_busy(monkeypatch):
    """A pipeline that runs Python half the time holds the GIL for all of the CPU it uses: the share must
    say so, not read half (as it did when the share was of wall time, and load halved it again)."""
    def half_python(dataset, seconds, **_):
        start, cpu0 = time.perf_counter(), time.process_time()
        while time.perf_counter() - start < seconds:
            burst = time.perf_counter()
            while time.perf_counter() - burst < 0.01:  # 10 ms of Python, under the probe's 20 ms switch
                pass
            time.sleep(0.01)
        return {"cores_busy": (time.process_time() - cpu0) / (time.perf_counter() - start)}

    def waits(dataset, seconds, **_):
        time.sleep(seconds)
        return {"cores_busy": 0.0}

    monkeypatch.setattr(diagnose_module, "_first_and_rate", half_python)
    assert _gil_held_share(None, 1.0)["of_cpu"] >= 0.7
    monkeypatch.setattr(diagnose_module, "_first_and_rate", waits)
    assert _gil_held_share(None, 0.5)["of_cpu"] < 0.2


def test_rebuilt_copies_give_the_same_elements():
    """The copy with the change gives the elements the original gives (one pass, as a multiset)."""
    def finite(dataset):
        return sorted(np.asarray(x).tolist() for x in dataset.unbatch().take(64).as_numpy_iterator())

    stages = pipeline_stages(tf.data.Dataset.range(64).cache().map(lambda x: x * 3).batch(8))
    options = tf.data.Options()
    moved = _rebuild(stages, 3, options, drop=(1,), after=(2, "cache", {"filename": ""}))
    assert [s.name for s in pipeline_stages(moved)] == ["range", "map", "cache", "batch"]
    assert finite(moved) == finite(stages[3].dataset) == [3 * i for i in range(64)]
    stages = pipeline_stages(tf.data.Dataset.range(4).interleave(
        lambda i: tf.data.Dataset.range(10 * i, 10 * i + 10), cycle_length=1).batch(8))
    parallel = _rebuild(stages, 2, options, change={1: {"cycle_length": 4, "num_parallel_calls": 4}})
    assert pipeline_stages(parallel)[1].parallel == "4"
    assert finite(parallel) == finite(stages[2].dataset) == list(range(40))


def test_stage_table_reads_settings_from_the_dataset():
    def augment(x):
        return tf.random.uniform([]) + tf.cast(x, tf.float32)

    dataset = (tf.data.Dataset.range(100).map(augment).map(lambda x: x * 2, num_parallel_calls=3)
               .shuffle(50).batch(4).unbatch().prefetch(tf.data.AUTOTUNE))
    rows = [(s.label, s.parallel, s.stateful) for s in pipeline_stages(dataset)]
    assert rows == [("range", "-", False), ("map(augment)", "serial", True), ("map(<lambda>)", "3", False),
                    ("shuffle(50)", "-", False), ("batch(4)", "-", False), ("unbatch()", "-", False),
                    ("prefetch(AUTOTUNE)", "async", False)]
    assert pipeline_stages(tf.data.Dataset.range(3).map(lambda x: x))[1].parallel == "by tf.data"


def _assert_next(names, dataset_after):
    """``dataset_after`` applied to range(4), failing unless tf.data's optimized pipeline runs ``names`` next.

    assert_next is TensorFlow's own test helper for its graph rewrites (not in the public API)."""
    from tensorflow.python.data.experimental.ops.testing import assert_next

    return tf.data.Dataset.range(4).apply(assert_next(names)).apply(dataset_after)


def test_tf_parallelizes_a_serial_map_of_stateless_ops():
    """TF 2.21's map_parallelization (on by default) turns a stateless Dataset.map into ParallelMap."""
    stateless = _assert_next(["ParallelMap"], lambda d: d.map(lambda x: x * 2))
    assert list(stateless.as_numpy_iterator()) == [0, 2, 4, 6]
    stateful = _assert_next(["ParallelMap"], lambda d: d.map(lambda x: tf.random.uniform([]) + 1.0))
    with pytest.raises(tf.errors.InvalidArgumentError, match="Asserted transformation matching "
                       "ParallelMap at offset 0 but encountered Map transformation instead"):
        list(stateful)


def test_tf_injects_prefetch_after_a_synchronous_last_stage_unless_autotune_is_off():
    """inject_prefetch (on by default) adds prefetch after a last stage that is synchronous."""
    def stateful(d):
        return d.map(lambda x: tf.random.uniform([]) + tf.cast(x, tf.float32))

    assert len(list(_assert_next(["Map", "Prefetch"], stateful))) == 4
    off = tf.data.Options()
    off.autotune.enabled = False
    with pytest.raises(tf.errors.InvalidArgumentError, match="Asserted transformation matching "
                       "Prefetch at offset 1 but encountered Root transformation instead"):
        list(_assert_next(["Map", "Prefetch"], stateful).with_options(off))


def test_waiting_calls_hold_tf_data_threads_unless_the_pool_is_private():
    """A map call that waits occupies one of tf.data's threads; by default there are as many as cores."""
    lock, running, most = threading.Lock(), [0], [0]

    def wait(x):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return x

    def peak(threads):
        most[0] = 0
        dataset = tf.data.Dataset.range(48).map(lambda x: tf.py_function(wait, [x], tf.int64),
                                                 num_parallel_calls=8)
        if threads:
            options = tf.data.Options()
            options.threading.private_threadpool_size = threads
            dataset = dataset.with_options(options)
        assert sorted(dataset.as_numpy_iterator()) == list(range(48))
        return most[0]

    assert peak(None) <= _cores()
    assert peak(8) == 8


def _raises_at_three(x):
    if x == 3:
        raise ValueError("record 3 is corrupt")
    return x


@pytest.mark.parametrize("make, message", [
    (lambda: [1, 2, 3], "expected a tf.data.Dataset, got list [1, 2, 3]"),
    (lambda: tf.data.Dataset.range(0).map(lambda x: x + 1), "the dataset is empty: it ended before its first"),
    (lambda: tf.data.Dataset.range(10).filter(lambda x: x < 0).batch(2),
     "stage 1 filter(<lambda>) gave no element, though its input did"),
    (lambda: tf.data.Dataset.range(10).map(lambda x: tf.py_function(_raises_at_three, [x], tf.int64)).batch(2),
     "stage 1 map(<lambda>): raised InvalidArgumentError: "),
])
def test_bad_pipelines_get_a_clear_message(make, message):
    with pytest.raises(DiagnoseError, match=re.escape(message)) as caught:
        diagnose_pipeline(make(), budget_s=1.0, progress=False)
    if "raised" in message:
        assert str(caught.value).endswith("ValueError: record 3 is corrupt")


PIPELINE_MODULE = '''
import tensorflow as tf  # imported before diagnose gets to filter its notices


def make(n):
    return tf.data.Dataset.range(n).map(lambda x: tf.py_function(lambda y: y, [x], tf.int64)).batch(4)
'''


def test_copied_file_diagnoses_a_pipeline_without_tensorflow_notices(tmp_path):
    """The command on a reader's module that imports TensorFlow first: no start-up lines, progress on stderr."""
    shutil.copy(ROOT / "recipes" / "diagnose.py", tmp_path / "diagnose.py")
    (tmp_path / "my_pipeline.py").write_text(PIPELINE_MODULE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_CPP", "PYTHONPATH"))}
    proc = subprocess.run(
        [sys.executable, "diagnose.py", "--pipeline", "my_pipeline:make", "--args", "100000", "--seconds", "1.5",
         "--no-try", "--json", "d.json"], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not re.search(r"oneDNN|absl::|port\.cc|cpu_feature_guard", proc.stderr + proc.stdout), proc.stderr
    assert all(line.startswith("diagnose: ") for line in proc.stderr.splitlines()), proc.stderr
    assert re.search(r"^bottleneck: ", proc.stdout, re.MULTILINE), proc.stdout
    data = json.loads((tmp_path / "d.json").read_text(encoding="utf-8"))
    assert data["pipeline"] == "my_pipeline:make" and [r["stage"] for r in data["stages"]] == [
        "range", "map(<lambda>)", "batch(4)"]


def test_command_errors_for_a_pipeline_name(capsys):
    assert main(["--pipeline", "json:no_such_function"]) == 2
    assert main(["--pipeline", "json:dumps", "--args", "1"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == ("diagnose: error: module 'json' has no attribute 'no_such_function'\n"
                                 "diagnose: error: json:dumps gave str, not a tf.data.Dataset\n")


def test_tf_cpp_min_log_level_does_not_hide_the_onednn_notice():
    """TensorFlow 2.21 writes its oneDNN notice during import, before its logging honours the level."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TF_")}, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "oneDNN custom operations are on" in proc.stderr
