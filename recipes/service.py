"""Scale out with the tf.data service: a dispatcher, workers, and pipelines they can run.

Start the servers as separate processes (on one machine here, on many in
production)::

    python -m recipes.service dispatcher [--port 5050] [--work-dir DIR] [--worker-timeout-ms 2000]
    python -m recipes.service worker --dispatcher localhost:5050 [--port 5051] [--worker-host HOST]

Each prints one ``ready <address>`` line when it serves, then runs until
stopped. A client pipeline then runs on the workers with
``tf.data.experimental.service.distribute``.

The pitfall: a ``from_generator`` pipeline cannot run on a worker in another
process. Its generator is a ``py_func``, and a ``py_func`` exists only in the
Python process that built the pipeline; the worker fails with ``Could not find
callback with key=pyfunc_0 in the registry``. The fix is to make the source a
list of shard names or files and do loading and decoding with TensorFlow ops,
so that any worker can run the graph; Python-only work can stay on the client,
after ``distribute``.

Security: both servers listen on every interface of the machine and do not
authenticate clients; anyone who reaches the dispatcher can run any dataset
graph on the workers, including ops that read or write files there. Run them
on a private network only your jobs can reach.

Run ``python service.py`` to start a small cluster on this machine and try each
mode. Needs only the standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

COLS = 4
# --8<-- [end:setup]


# --8<-- [start:servers]
def serve(role, port=0, dispatcher=None, work_dir=None, worker_timeout_ms=None, worker_host=None):
    """Run one server in this process until it is stopped (the CLI calls this).

    Both servers listen on every network interface of the machine, without
    authentication: run them only on a network that only your jobs can reach.
    ``worker_host`` is the name clients use to reach this worker (default
    ``localhost``, which only works when clients run on the same machine).
    """
    service = tf.data.experimental.service
    if role == "dispatcher":
        config = service.DispatcherConfig(
            port=port,
            work_dir=work_dir,  # journal for restarts; needs fault_tolerant_mode
            fault_tolerant_mode=work_dir is not None,
            worker_timeout_ms=worker_timeout_ms,  # how soon a silent worker counts as gone
        )
        server = service.DispatchServer(config)
        address = server.target.split("://")[1]
    else:
        server = service.WorkerServer(service.WorkerConfig(
            dispatcher_address=dispatcher, port=port,
            worker_address=f"{worker_host or 'localhost'}:%port%",  # what the dispatcher tells clients
        ))
        port = server._address.rsplit(":", 1)[1]  # the port it bound
        address = f"{worker_host or 'localhost'}:{port}"  # as it registered with the dispatcher
    print("ready", address, flush=True)
    server.join()


def start_server(args, timeout_s=120):
    """Start ``python service.py ARGS`` as a child process; wait for ``ready``."""
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        start_new_session=True,  # its own process group: stop() ends all of it
    )
    line = _read_line(proc, timeout_s)
    if not line.startswith("ready "):
        stop(proc)
        raise RuntimeError(f"server {args[0]} did not start: {line!r}")
    return proc, line.split()[1]


def _read_line(proc, timeout_s):
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout_s):
            return ""
    return proc.stdout.readline().strip()


def stop(proc, timeout_s=20):
    """Stop a server process group: SIGTERM, then SIGKILL if it does not exit."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout_s)
    if proc.stdout:
        proc.stdout.close()


@contextlib.contextmanager
def local_cluster(num_workers=2, work_dir=None, worker_timeout_ms=2000):
    """A dispatcher and ``num_workers`` workers, each its own process, on loopback.

    Yields ``(dispatcher_address, worker_processes)``; every process is stopped
    on exit, also after an error.
    """
    if not isinstance(num_workers, int) or num_workers < 1:
        raise ValueError(f"num_workers must be a positive int, got {num_workers!r}")
    procs = []
    try:
        args = ["dispatcher", "--worker-timeout-ms", str(worker_timeout_ms)]
        if work_dir:
            args += ["--work-dir", work_dir]
        dispatcher, address = start_server(args)
        procs.append(dispatcher)
        workers = []
        for _ in range(num_workers):
            worker, _ = start_server(["worker", "--dispatcher", address])
            procs.append(worker)
            workers.append(worker)
        yield address, workers
    finally:
        for proc in reversed(procs):
            stop(proc)
# --8<-- [end:servers]


# --8<-- [start:data]
@contextlib.contextmanager
def shard_files(num_files=6, rows_per_file=5):
    """Headerless float32 files; row ``r`` of file ``f`` is ``100 f + r`` repeated."""
    folder = tempfile.mkdtemp(prefix="genpipe-service-")
    try:
        paths = []
        for f in range(num_files):
            rows = np.repeat(100 * f + np.arange(rows_per_file, dtype=np.float32)[:, None], COLS, axis=1)
            path = os.path.join(folder, f"shard-{f:03d}.f32")
            rows.astype("<f4").tofile(path)
            paths.append(path)
        yield paths
    finally:
        shutil.rmtree(folder, ignore_errors=True)
# --8<-- [end:data]


# --8<-- [start:pipelines]
def generator_pipeline(paths):
    """The usual pipeline: a Python generator reads the files. Not portable."""
    def rows():
        for path in paths:
            yield from np.fromfile(path, dtype="<f4").reshape(-1, COLS)

    return tf.data.Dataset.from_generator(rows, output_signature=tf.TensorSpec((COLS,), tf.float32))


def portable_pipeline(paths):
    """The same rows, with only TensorFlow ops: any worker can run it.

    The source is the list of files (splittable, for ``distributed_epoch``);
    reading and decoding happen in ``interleave`` on the workers.
    """
    def rows_of(path):
        values = tf.io.decode_raw(tf.io.read_file(path), tf.float32, little_endian=True)
        return tf.data.Dataset.from_tensor_slices(tf.reshape(values, (-1, COLS)))

    return tf.data.Dataset.from_tensor_slices(paths).interleave(
        rows_of, cycle_length=2, num_parallel_calls=tf.data.AUTOTUNE)


def distributed(dataset, dispatcher_address, mode="distributed_epoch"):
    """Run everything before this point on the service's workers.

    ``distributed_epoch`` (``ShardingPolicy.DYNAMIC``): the dispatcher hands
    out the source's elements (here files) to workers; each element once.
    ``parallel_epochs`` (``ShardingPolicy.OFF``): every worker runs the whole
    dataset; with ``n`` workers, every element ``n`` times.
    """
    return dataset.apply(tf.data.experimental.service.distribute(
        processing_mode=mode, service=f"grpc://{dispatcher_address}"))


def with_client_side_python(dataset):
    """The hybrid: Python-only work after ``distribute`` runs on the client."""
    def label(row):  # any Python: a lookup table, a tokenizer, a legacy library
        return np.int64(int(row[0]) // 100)

    return dataset.map(lambda row: (row, tf.ensure_shape(tf.numpy_function(label, [row], tf.int64), ())))
# --8<-- [end:pipelines]


def kill_worker_mid_epoch(paths, address, worker, rows_before_kill=60, wait_s=10):
    """Kill one worker (SIGKILL) mid-epoch; report what the client receives.

    Returns ``(rows, finished)``: the rows that arrived, and whether the
    iteration ended within ``wait_s`` seconds after the kill. The reading runs
    in a daemon thread, because it may never end.
    """
    import threading

    iterator = iter(distributed(portable_pipeline(paths), address))
    rows = [int(next(iterator)[0]) for _ in range(rows_before_kill)]
    os.killpg(worker.pid, signal.SIGKILL)
    finished = threading.Event()

    def drain():
        for row in iterator:
            rows.append(int(row[0]))
        finished.set()

    threading.Thread(target=drain, daemon=True).start()
    finished.wait(wait_s)
    return list(rows), finished.is_set()


def main(argv=None):
    parser = argparse.ArgumentParser(description="tf.data service servers and a demonstration")
    sub = parser.add_subparsers(dest="role")
    d = sub.add_parser("dispatcher")
    d.add_argument("--port", type=int, default=0)
    d.add_argument("--work-dir")
    d.add_argument("--worker-timeout-ms", type=int)
    w = sub.add_parser("worker")
    w.add_argument("--dispatcher", required=True)
    w.add_argument("--port", type=int, default=0)
    w.add_argument("--worker-host", help="host name or address clients use to reach this worker")
    args = parser.parse_args(argv)
    if args.role == "dispatcher":
        return serve("dispatcher", args.port, work_dir=args.work_dir, worker_timeout_ms=args.worker_timeout_ms)
    if args.role == "worker":
        return serve("worker", args.port, dispatcher=args.dispatcher, worker_host=args.worker_host)
    demo()


def demo():
    """The demonstration ``python service.py`` prints: both processing modes, then client-side Python."""
    with shard_files(num_files=6, rows_per_file=5) as paths, local_cluster(num_workers=2) as (address, _):
        rows = sorted(int(r[0]) for r in distributed(portable_pipeline(paths), address, "distributed_epoch"))
        print("distributed_epoch, 2 workers:", len(rows), "rows, each once:", len(set(rows)) == len(rows))
        rows = sorted(int(r[0]) for r in distributed(portable_pipeline(paths), address, "parallel_epochs"))
        print("parallel_epochs, 2 workers: ", len(rows), "rows, each twice:", rows[::2] == rows[1::2])
        labelled = with_client_side_python(distributed(portable_pipeline(paths), address))
        print("hybrid, labels from client-side Python:", sorted({int(l) for _, l in labelled}))
        try:
            list(distributed(generator_pipeline(paths), address))
        except tf.errors.OpError as error:
            line = next(l for l in error.message.splitlines() if "Could not find callback" in l)
            print("from_generator on a worker:", type(error).__name__, "-",
                  line[line.index("Could not find"):].split(".")[0] + ".")
    print("all server processes stopped")


if __name__ == "__main__":
    main()
