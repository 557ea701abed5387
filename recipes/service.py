"""Scale out with the tf.data service: a dispatcher, workers, and pipelines they can run.

Start the servers as separate processes (on one machine here, on many in
production)::

    python -m recipes.service dispatcher [--port 5050] [--host HOST] [--work-dir DIR]
    python -m recipes.service worker --dispatcher HOST:5050 [--port 5051] [--worker-host HOST] [--timeout-s 60]

Each prints one ``ready <address>`` line when it serves, then runs until
stopped; a worker that cannot register with its dispatcher within
``--timeout-s`` prints one ``error ...`` line and exits with status 1. A
client pipeline runs on the workers through ``distributed`` and is read with
``read``, which raises ``ServiceTimeout`` instead of waiting forever.

The pitfall: a ``from_generator`` pipeline cannot run on a worker in another
process. Its generator is a ``py_func``, and a ``py_func`` exists only in the
Python process that built the pipeline; the worker fails with ``Could not find
callback with key=pyfunc_0 in the registry``. The fix is to make the source a
list of shard names or files and do loading and decoding with TensorFlow ops,
so that any worker can run the graph; Python-only work can stay on the client,
after ``distribute``.

Failure: the dispatcher never forgets a worker. After a worker dies, every
later job waits for it; restart it at the same host and port, or restart the
dispatcher. ``read`` turns that wait into an error that says so.

Security: both servers listen on every interface of the machine and do not
authenticate anyone; whoever reaches the dispatcher can run any dataset graph
on the workers and register a worker of their own. Run them on a private
network only your jobs' machines can reach.

Run ``python service.py`` to start a small cluster on this machine and try each
mode. Needs only the standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import argparse
import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

# TF_CPP_MIN_LOG_LEVEL hides TensorFlow's C++ log lines, but not the notices
# printed while its libraries load (oneDNN, absl): those go to file descriptor
# 2, which is closed to them for the import alone.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_stderr = os.dup(2)
try:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    import tensorflow as tf
finally:
    os.dup2(_stderr, 2)
    os.close(_stderr)

import numpy as np

COLS = 4
# --8<-- [end:setup]


# --8<-- [start:servers]
def serve(role, port=0, dispatcher=None, work_dir=None, host=None, timeout_s=60.0, worker_timeout_ms=None,
          heartbeat_ms=None):
    """Run one server in this process until it is stopped (the CLI calls this).

    Both servers listen on every network interface of the machine, without
    authentication: run them only on a network that only your jobs can reach.
    ``host`` is the name or address other machines use to reach this server.
    A worker tells the dispatcher ``host:port`` as its address, and the
    dispatcher hands that to clients; without ``host`` it is ``localhost``,
    which works only when everything runs on one machine. ``heartbeat_ms``
    is how often a worker reports to the dispatcher (TensorFlow's default:
    30 s); a restarted dispatcher learns of its workers at their next report.
    """
    service = tf.data.experimental.service
    if role == "dispatcher":
        server = service.DispatchServer(service.DispatcherConfig(
            port=port,
            work_dir=work_dir,  # a journal for restarts (needs fault_tolerant_mode)
            fault_tolerant_mode=work_dir is not None,
            worker_timeout_ms=worker_timeout_ms,  # TF 2.21: does not drop a dead worker from jobs
        ))
        port = server.target.rsplit(":", 1)[1]
    else:
        # WorkerServer blocks (holding Python's lock) until the dispatcher
        # accepts it, however long that takes: first wait until the
        # dispatcher's port answers, and give up after timeout_s with a
        # line that says why.
        deadline = time.monotonic() + timeout_s
        while "cannot be reached" in (reach := _reachability(dispatcher, timeout_s=2.0)):
            if time.monotonic() > deadline:
                print(f"error worker cannot reach its dispatcher within {timeout_s:g} s: {reach}", flush=True)
                sys.exit(1)
            time.sleep(0.5)
        server = service.WorkerServer(service.WorkerConfig(
            dispatcher_address=dispatcher, port=port,
            worker_address=f"{host or 'localhost'}:%port%",  # what the dispatcher tells clients
            heartbeat_interval_ms=heartbeat_ms,  # None: TensorFlow's 30 s
        ))
        port = server._address.rsplit(":", 1)[1]  # the port it bound
    if host:
        print("ready", f"{host}:{port}", flush=True)
    else:
        print("ready", f"localhost:{port}", "(this machine only: pass --host for other machines)", flush=True)
    server.join()


def _reachability(address, timeout_s=5.0):
    """One TCP connection attempt to ``host:port``: what it says about the address."""
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return f"{address} accepts connections"
    except OSError as error:
        return f"{address} cannot be reached ({error.strerror or error}); check that the dispatcher runs " \
               "and that this machine can reach that host and port"


def start_server(args, timeout_s=120, command=None):
    """Start ``python service.py ARGS`` as a child process; wait for ``ready``.

    ``command`` replaces the start of the command line (for example to run
    the server on another host); the default is this Python and this file.
    """
    proc = subprocess.Popen(
        [*(command or [sys.executable, os.path.abspath(__file__)]), *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        start_new_session=True,  # its own process group: stop() ends all of it
    )
    line = _read_line(proc, timeout_s)
    if not line.startswith("ready "):
        stop(proc)
        raise RuntimeError(f"server {args[0]} did not start: {line or 'no output'}")
    return proc, line.split()[1]


def _read_line(proc, timeout_s):
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout_s):
            return ""
    return proc.stdout.readline().strip()


def stop(proc, timeout_s=20, sig=signal.SIGTERM):
    """Stop a server process group: ``sig``, then SIGKILL if it does not exit."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout_s)
    if proc.stdout:
        proc.stdout.close()


@contextlib.contextmanager
def local_cluster(num_workers=2, work_dir=None, worker_timeout_ms=None):
    """A dispatcher and ``num_workers`` workers, each its own process, on loopback.

    Yields ``(dispatcher_address, worker_processes)``; every process is stopped
    on exit, also after an error.
    """
    if not isinstance(num_workers, int) or num_workers < 1:
        raise ValueError(f"num_workers must be a positive int, got {num_workers!r}")
    procs = []
    try:
        args = ["dispatcher", "--host", "localhost"]
        if work_dir:
            args += ["--work-dir", work_dir]
        if worker_timeout_ms:
            args += ["--worker-timeout-ms", str(worker_timeout_ms)]
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
    with tempfile.TemporaryDirectory(prefix="genpipe-service-") as folder:
        paths = []
        for f in range(num_files):
            rows = np.repeat(100 * f + np.arange(rows_per_file, dtype=np.float32)[:, None], COLS, axis=1)
            path = os.path.join(folder, f"shard-{f:03d}.f32")
            rows.astype("<f4").tofile(path)
            paths.append(path)
        yield paths
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


def distributed(dataset, dispatcher_address, mode="distributed_epoch", job_name=None, timeout_s=60.0):
    """Run everything before this point on the service's workers.

    ``distributed_epoch`` (``ShardingPolicy.DYNAMIC``): the dispatcher hands
    out the source's elements (here files) to workers; each element once.
    ``parallel_epochs`` (``ShardingPolicy.OFF``): every worker runs the whole
    dataset; with ``n`` workers, every element ``n`` times. Read the result
    with ``read``: iterating it directly can wait forever after a failure.

    ``distribute`` registers the dataset with the dispatcher at once and
    retries without end while it cannot reach it, so this first waits at most
    ``timeout_s`` seconds for the dispatcher's port to answer, then raises
    ``ServiceTimeout``.
    """
    _wait_for_dispatcher(dispatcher_address, job_name, timeout_s)
    return dataset.apply(tf.data.experimental.service.distribute(
        processing_mode=mode, service=f"grpc://{dispatcher_address}", job_name=job_name))


def _wait_for_dispatcher(dispatcher_address, job_name, timeout_s):
    deadline = time.monotonic() + timeout_s
    while "cannot be reached" in _reachability(dispatcher_address, timeout_s=min(timeout_s, 2.0)):
        if time.monotonic() > deadline:
            raise ServiceTimeout(_stall_message(dispatcher_address, job_name, timeout_s, 0))
        time.sleep(0.5)


class ServiceTimeout(TimeoutError):
    """No element arrived from the tf.data service within the timeout."""


def read(dataset, dispatcher_address, timeout_s=60.0, job_name=None):
    """Iterate ``dataset`` (NumPy elements); raise ``ServiceTimeout`` if it stalls.

    TensorFlow's own iterator waits forever for a worker that is gone. Here a
    thread iterates and this generator waits at most ``timeout_s`` seconds
    for each element (the first one included, so allow for start-up). On a
    timeout the reading thread may stay blocked inside TensorFlow; the error
    says what to do, and the process should restart its input. ``job_name``
    is the name given to ``distributed``, for the message.
    """
    elements = queue.Queue(maxsize=2)
    done, stopping = object(), threading.Event()

    def hand_over(item):  # False once the reader has gone
        while not stopping.is_set():
            with contextlib.suppress(queue.Full):
                elements.put(item, timeout=0.5)
                return True
        return False

    def produce():
        try:
            for element in dataset.as_numpy_iterator():
                if not hand_over(element):
                    return
            hand_over(done)
        except BaseException as error:  # handed to the reader, raised there
            hand_over(error)

    threading.Thread(target=produce, daemon=True, name="service-reader").start()
    received = 0
    try:
        while True:
            try:
                element = elements.get(timeout=timeout_s)
            except queue.Empty:
                raise ServiceTimeout(_stall_message(dispatcher_address, job_name, timeout_s, received)) from None
            if element is done:
                return
            if isinstance(element, BaseException):
                raise element
            received += 1
            yield element
    finally:
        stopping.set()


def _stall_message(dispatcher_address, job_name, timeout_s, received):
    job = f"job {job_name!r}" if job_name else "this iteration's job (pass job_name= to name it)"
    head = (f"no element from the tf.data service within {timeout_s:g} s "
            f"(dispatcher {dispatcher_address}, {job}, {received} elements received). ")
    reach = _reachability(dispatcher_address)
    if "cannot be reached" in reach:
        return head + f"The dispatcher {reach}."
    return head + (
        f"The dispatcher {reach}, so the likely cause is a worker it still lists but that is gone: "
        "the dispatcher never drops a worker, and every job waits for each one it lists. "
        "Fix: restart that worker with the same --worker-host (or --host) and --port, or restart "
        "the dispatcher (with an empty or no --work-dir) and then the workers; "
        "a worker that registered as localhost on another machine causes the same wait.")


def with_client_side_python(dataset):
    """The hybrid: Python-only work after ``distribute`` runs on the client."""
    def label(row):  # any Python: a lookup table, a tokenizer, a legacy library
        return np.int64(int(row[0]) // 100)

    return dataset.map(lambda row: (row, tf.ensure_shape(tf.numpy_function(label, [row], tf.int64), ())))
# --8<-- [end:pipelines]


def kill_worker_mid_epoch(paths, address, worker, rows_before_kill=60, timeout_s=10):
    """Kill one worker (SIGKILL) mid-epoch; report what the client receives.

    Returns ``(rows, outcome)``: the rows that arrived, and ``"ended"`` if the
    iteration ended or ``"timeout"`` if ``read`` gave up after ``timeout_s``
    seconds without an element.
    """
    rows = []
    try:
        for row in read(distributed(portable_pipeline(paths), address), address, timeout_s):
            rows.append(int(row[0]))
            if len(rows) == rows_before_kill:
                os.killpg(worker.pid, signal.SIGKILL)
    except ServiceTimeout:
        return rows, "timeout"
    return rows, "ended"


def main(argv=None):
    parser = argparse.ArgumentParser(description="tf.data service servers and a demonstration")
    sub = parser.add_subparsers(dest="role")
    d = sub.add_parser("dispatcher")
    d.add_argument("--port", type=int, default=0)
    d.add_argument("--host", help="host name or address other machines use to reach the dispatcher")
    d.add_argument("--work-dir", help="journal folder on durable storage: the dispatcher survives restarts")
    d.add_argument("--worker-timeout-ms", type=int, help="TensorFlow's setting; in 2.21 it does not drop dead workers")
    w = sub.add_parser("worker")
    w.add_argument("--dispatcher", required=True, help="HOST:PORT of the dispatcher")
    w.add_argument("--port", type=int, default=0)
    w.add_argument("--worker-host", help="host name or address clients use to reach this worker")
    w.add_argument("--timeout-s", type=float, default=60.0, help="give up registering after this long")
    w.add_argument("--heartbeat-ms", type=int,
                   help="how often to report to the dispatcher (TensorFlow's default: 30000); "
                        "a restarted dispatcher knows this worker again after its next report")
    args = parser.parse_args(argv)
    if args.role == "dispatcher":
        return serve("dispatcher", args.port, work_dir=args.work_dir, host=args.host,
                     worker_timeout_ms=args.worker_timeout_ms)
    if args.role == "worker":
        return serve("worker", args.port, dispatcher=args.dispatcher, host=args.worker_host,
                     timeout_s=args.timeout_s, heartbeat_ms=args.heartbeat_ms)
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
