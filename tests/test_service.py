"""tf.data service: real dispatcher and worker processes on loopback, bounded in time."""

import re
import socket
import subprocess
import sys
import textwrap
from collections import Counter

import psutil
import pytest
import tensorflow as tf

from recipes.service import (
    _read_line,
    distributed,
    generator_pipeline,
    local_cluster,
    portable_pipeline,
    shard_files,
    stop,
    with_client_side_python,
)
from tests.pages import ROOT, clean_env, run_python

pytestmark = pytest.mark.timeout(300)


def server_processes():
    """This test process's server processes (other test processes may run servers of their own)."""
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(p.cmdline())
        except psutil.NoSuchProcess:
            continue
        if "service.py" in cmd and (" dispatcher" in cmd or " worker" in cmd):
            out.append(p)
    return out


@pytest.fixture(scope="module")
def cluster():
    with shard_files(num_files=6, rows_per_file=4) as paths, local_cluster(num_workers=2) as (address, workers):
        yield paths, address, workers
    assert psutil.wait_procs(server_processes(), timeout=30)[1] == [], "server processes left behind"


ALL_ROWS = Counter(100 * f + r for f in range(6) for r in range(4))


def test_servers_are_separate_processes(cluster):
    _, _, workers = cluster
    assert len(workers) == 2 and all(w.poll() is None for w in workers)
    assert len(server_processes()) == 3


def test_distributed_epoch_delivers_each_row_exactly_once(cluster):
    paths, address, _ = cluster
    rows = [int(r[0]) for r in distributed(portable_pipeline(paths), address, "distributed_epoch")]
    assert Counter(rows) == ALL_ROWS


def test_parallel_epochs_delivers_each_row_once_per_worker(cluster):
    paths, address, _ = cluster
    rows = [int(r[0]) for r in distributed(portable_pipeline(paths), address, "parallel_epochs")]
    assert Counter(rows) == Counter({k: 2 for k in ALL_ROWS})


def test_hybrid_runs_python_on_the_client(cluster):
    paths, address, _ = cluster
    labelled = list(with_client_side_python(distributed(portable_pipeline(paths), address)))
    assert Counter(int(label) for _, label in labelled) == Counter({f: 4 for f in range(6)})
    assert all(int(label) == int(row[0]) // 100 for row, label in labelled)


def test_generator_pipeline_fails_on_a_remote_worker_with_the_registry_message(cluster):
    paths, address, _ = cluster
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        list(distributed(generator_pipeline(paths), address))
    assert "ValueError: Could not find callback with key=pyfunc_" in info.value.message
    assert "in the registry." in info.value.message


def test_portable_and_generator_pipelines_agree_locally():
    with shard_files(3, 2) as paths:
        a = sorted(int(r[0]) for r in portable_pipeline(paths))
        b = sorted(int(r[0]) for r in generator_pipeline(paths))
    assert a == b == [0, 1, 100, 101, 200, 201]


def test_registry_message_is_pyfunc_0_in_a_fresh_client():
    code = textwrap.dedent("""
        import tensorflow as tf
        from recipes.service import distributed, generator_pipeline, local_cluster, shard_files
        with shard_files(2, 2) as paths, local_cluster(1) as (address, _):
            try:
                list(distributed(generator_pipeline(paths), address))
            except tf.errors.InvalidArgumentError as error:
                line = [l for l in error.message.splitlines() if l.startswith("ValueError")][-1]
                print(line)
    """)
    proc = run_python(["-c", code], cwd=ROOT, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == "ValueError: Could not find callback with key=pyfunc_0 in the registry.\n"


def test_killing_a_worker_mid_epoch_duplicates_nothing_and_does_not_end():
    # In a fresh process: read() leaves a thread stuck in TensorFlow behind.
    code = textwrap.dedent("""
        from collections import Counter
        from recipes.service import kill_worker_mid_epoch, local_cluster, shard_files
        with shard_files(20, 20) as paths, local_cluster(2) as (address, workers):
            rows, outcome = kill_worker_mid_epoch(paths, address, workers[0], rows_before_kill=60, timeout_s=8)
        counts = Counter(rows)
        print(max(counts.values()), 60 <= len(rows) <= 400, outcome, flush=True)
    """)
    before = {p.pid for p in server_processes()}  # e.g. the module's own cluster
    proc = run_python(["-c", code], cwd=ROOT, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # no duplicates; the rows of its splits in flight are lost unless they had
    # already reached the client; the epoch did not end: read() raised ServiceTimeout
    assert proc.stdout == "1 True timeout\n"
    leftover = [p for p in server_processes() if p.pid not in before]
    assert psutil.wait_procs(leftover, timeout=30)[1] == [], "the killed test's servers outlived it"


def test_read_raises_a_clear_error_for_a_stale_worker_and_worker_timeout_ms_does_not_help():
    # A worker stopped while idle; the dispatcher's worker_timeout_ms (1 s) has long passed.
    code = textwrap.dedent("""
        import time
        from recipes.service import (ServiceTimeout, distributed, local_cluster, portable_pipeline, read,
                                     shard_files, stop)
        with shard_files(10, 20) as paths, local_cluster(2, worker_timeout_ms=1000) as (address, workers):
            stop(workers[0])
            time.sleep(3)
            rows = []
            try:
                for row in read(distributed(portable_pipeline(paths), address), address, timeout_s=8):
                    rows.append(int(row[0]))
            except ServiceTimeout as error:
                print(len(rows), len(set(rows)))
                print(str(error).replace(address, "ADDRESS"))
    """)
    proc = run_python(["-c", code], cwd=ROOT, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    count, message = proc.stdout.splitlines()
    assert count == "200 200"  # every row once, from the live worker; then the wait for the dead one
    assert message == (
        "no element from the tf.data service within 8 s (dispatcher ADDRESS, this iteration's job "
        "(pass job_name= to name it), 200 elements received). The dispatcher ADDRESS accepts connections, "
        "so the likely cause is a worker it still lists but that is gone: the dispatcher never drops a "
        "worker, and every job waits for each one it lists. Fix: restart that worker with the same "
        "--worker-host (or --host) and --port, or restart the dispatcher (with an empty or no --work-dir) "
        "and then the workers; a worker that registered as localhost on another machine causes the same wait.")


def test_read_names_an_unreachable_dispatcher():
    with socket.socket() as s:  # a free port that nothing listens on
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
    code = textwrap.dedent(f"""
        import tensorflow as tf
        from recipes.service import ServiceTimeout, distributed, read
        try:
            list(read(distributed(tf.data.Dataset.range(3), "{address}", job_name="nightly", timeout_s=5),
                      "{address}", 5))
        except ServiceTimeout as error:
            print(error)
    """)
    proc = run_python(["-c", code], cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == (
        f"no element from the tf.data service within 5 s (dispatcher {address}, job 'nightly', 0 elements "
        f"received). The dispatcher {address} cannot be reached (Connection refused); check that the "
        "dispatcher runs and that this machine can reach that host and port.\n")


def test_cli_prints_only_its_line_and_a_worker_without_dispatcher_says_so():
    proc = run_python(["-m", "recipes.service", "worker", "--dispatcher", "127.0.0.1:1", "--timeout-s", "3"],
                      cwd=ROOT, timeout=240)
    assert proc.returncode == 1
    assert proc.stdout == ("error worker cannot reach its dispatcher within 3 s: 127.0.0.1:1 cannot be reached "
                           "(Connection refused); check that the dispatcher runs and that this machine can reach "
                           "that host and port\n")
    assert proc.stderr == ""  # no oneDNN or absl start-up notices


def test_dispatcher_ready_line_says_how_to_get_a_usable_address():
    for extra, expected in [([], r"ready localhost:\d+ \(this machine only: pass --host for other machines\)"),
                            (["--host", "10.1.2.3"], r"ready 10\.1\.2\.3:\d+")]:
        proc = subprocess.Popen([sys.executable, "-m", "recipes.service", "dispatcher", *extra], cwd=ROOT,
                                env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            line = _read_line(proc, 120)
        finally:
            stop(proc)
            err = proc.stderr.read()
            proc.stderr.close()
        assert re.fullmatch(expected, line), line
        assert err == ""  # no start-up notices


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_workers"):
        with local_cluster(num_workers=0):
            pass


def _listening(proc):
    return [c for c in psutil.Process(proc.pid).net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN]


def test_servers_listen_on_every_interface(cluster):
    _, address, workers = cluster
    dispatcher = next(p for p in server_processes() if " dispatcher" in " ".join(p.cmdline()))
    port = int(address.rsplit(":", 1)[1])
    sockets = _listening(dispatcher)
    assert port in {c.laddr.port for c in sockets}
    for proc in [dispatcher, *workers]:
        listening = _listening(proc)
        assert listening, f"process {proc.pid} listens on nothing"
        assert {c.laddr.ip for c in listening} <= {"0.0.0.0", "::"}, "bound to all interfaces, not loopback"


def test_a_client_reads_a_file_of_the_worker_machine(cluster, tmp_path):
    _, address, _ = cluster
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"worker-side file contents\n")
    # Any client that reaches the dispatcher can send any graph; here one that reads a file.
    probe = tf.data.Dataset.from_tensors(str(secret)).map(tf.io.read_file)
    loopback = "127.0.0.1:" + address.rsplit(":", 1)[1]
    assert [bytes(x) for x in distributed(probe, loopback).as_numpy_iterator()] == [b"worker-side file contents\n"]


def test_static_sharding_needs_a_fixed_worker_list(cluster):
    paths, address, _ = cluster
    static = portable_pipeline(paths).apply(tf.data.experimental.service.distribute(
        processing_mode=tf.data.experimental.service.ShardingPolicy.FILE, service=f"grpc://{address}"))
    with pytest.raises(tf.errors.NotFoundError, match=r"Worker localhost:\d+ is not in the workers list"):
        list(static)


def test_a_worker_in_the_client_process_runs_a_generator_pipeline():
    # Why generator pipelines seem to work in single-process tests: same registry.
    service = tf.data.experimental.service
    dispatcher = service.DispatchServer()
    address = dispatcher.target.split("://")[1]
    worker = service.WorkerServer(service.WorkerConfig(dispatcher_address=address))
    try:
        with shard_files(num_files=2, rows_per_file=2) as paths:
            rows = sorted(int(r[0]) for r in distributed(generator_pipeline(paths), address))
        assert rows == [0, 1, 100, 101]
    finally:
        worker._stop()
        dispatcher._stop()


def test_the_profiler_answers_on_the_dispatcher_and_worker_ports(cluster):
    # The dispatcher's gRPC server also serves TensorFlow's profiler service:
    # its Monitor method answers "unimplemented." (the profiler service's own
    # reply), where a gRPC server without that service answers "Method not found!".
    from concurrent import futures

    import grpc

    _, address, workers = cluster
    ports = {int(address.rsplit(":", 1)[1])} | {c.laddr.port for w in workers for c in _listening(w)}
    assert len(ports) == 3  # the dispatcher's and each worker's one port
    for port in ports:
        with pytest.raises(RuntimeError, match=r"^UNIMPLEMENTED: unimplemented\.$"):
            tf.profiler.experimental.client.monitor(f"grpc://127.0.0.1:{port}", 100, 1)
    bare = grpc.server(futures.ThreadPoolExecutor(1))
    bare_port = bare.add_insecure_port("127.0.0.1:0")
    bare.start()
    try:
        with pytest.raises(RuntimeError, match=r"^UNIMPLEMENTED: Method not found!$"):
            tf.profiler.experimental.client.monitor(f"grpc://127.0.0.1:{bare_port}", 100, 1)
    finally:
        bare.stop(0)


def test_plain_grpc_is_the_only_protocol():
    # No secure (or local-only) credentials are registered in the pip build.
    # In a fresh interpreter: in the full suite, the half-made server crashed its test process once.
    code = ("import os\nimport tensorflow as tf\nservice = tf.data.experimental.service\ntry:\n"
            "    service.DispatchServer(service.DispatcherConfig(protocol='grpc+local'))\n"
            "except RuntimeError as error:\n    print(type(error).__name__, error, flush=True)\nos._exit(0)\n")
    proc = run_python(["-c", code], cwd=ROOT, timeout=300)
    assert proc.stdout.strip() == (
        "RuntimeError No credentials factory has been registered for protocol grpc+local. "
        "The available types are: [ grpc ]"), proc.stderr[-2000:]
