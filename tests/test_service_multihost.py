"""tf.data service across simulated hosts: faults with exact counts (recipes/service.py).

Each host is a Linux network namespace that ``tests/service_hosts.py`` creates
and removes; the servers run with the recipe's own command line
(``python -m recipes.service ...``) exactly as docs/recipes/service.md shows it.
The whole scenario runs once (one dispatcher host, two worker hosts, a client,
an outsider on the job's network and a stranger on another network), every
namespace and process is removed before the tests look at its results, and
each test checks one fault. 10 files of 20 rows: 200 rows per epoch.
"""

import fcntl
import json
import os
import signal
import tempfile
import time
import traceback
from collections import Counter

import psutil
import pytest

from tests import service_hosts
from tests.service_hosts import Client, hosts, namespaces_left

pytestmark = [pytest.mark.timeout(1200)]
if service_hosts.unavailable():
    pytestmark.append(pytest.mark.skip(reason=service_hosts.unavailable()))

ALL = Counter(100 * f + r for f in range(10) for r in range(20))
LAYOUT = {"dispatcher": 0, "w1": 0, "w2": 0, "w3": 0, "client": 0, "outsider": 0, "stranger": 1}
STALL_S = 6.0  # the client's read timeout where an epoch is expected to stall
HEARTBEAT_MS = "2000"


def run_scenario(log_dir):
    r = {"timings": {}}
    with hosts(LAYOUT, log_dir) as h, tempfile.TemporaryDirectory(prefix="genpipe-service-journal-") as journal:
        a = h.address
        disp = f"{a('dispatcher')}:5050"

        def dispatcher(*extra):
            proc, line = h.server("dispatcher", ["dispatcher", "--port", "5050", "--host", a("dispatcher"), *extra])
            assert line == f"ready {disp}", line
            return proc

        def worker(host, *extra):  # the job's workers report every 2 s, as the page recommends
            return h.server(host, ["worker", "--dispatcher", disp, "--heartbeat-ms", HEARTBEAT_MS, *extra])

        d = dispatcher()
        w1, r["w1_line"] = worker("w1", "--port", "5051", "--worker-host", a("w1"))
        w2, r["w2_line"] = worker("w2", "--port", "5051", "--worker-host", a("w2"))
        client = Client(h, "client", disp)
        r["happy"] = client.epoch()
        r["happy_parallel"] = client.epoch("parallel_epochs")

        # A worker killed mid-epoch, then later epochs.
        r["kill_mid_epoch"] = client.epoch(timeout_s=STALL_S, pause_at=50,
                                           while_paused=lambda: os.killpg(w2.pid, signal.SIGKILL))
        r["after_kill"] = client.epoch(timeout_s=STALL_S)
        r["after_kill_parallel"] = client.epoch("parallel_epochs", timeout_s=STALL_S)
        # A replacement on a new port does not heal; one on the same host:port does.
        w2b, r["new_port_line"] = worker("w2", "--worker-host", a("w2"))
        r["new_port"] = client.epoch(timeout_s=STALL_S)
        start = time.monotonic()
        w2c, r["same_port_line"] = worker("w2", "--port", "5051", "--worker-host", a("w2"))
        r["same_port"] = client.epoch(timeout_s=60)
        r["timings"]["same_port_recovery_s"] = round(time.monotonic() - start, 1)

        # Worker stopped while idle (SIGTERM): the same stale entry.
        os.killpg(w2b.pid, signal.SIGTERM)
        w2b.wait(60)
        r["stopped_idle"] = client.epoch(timeout_s=STALL_S)

        # The job's two workers, restarted at their fixed addresses (the recovery procedure).
        job_workers = {"w1": w1, "w2": w2c}

        def restart_workers():
            for host, proc in job_workers.items():
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(60)
                job_workers[host], line = worker(host, "--port", "5051", "--worker-host", a(host))
                assert line == f"ready {a(host)}:5051", line

        # Dispatcher killed mid-epoch, no --work-dir, restarted: the workers register again at
        # their next heartbeat, but still hold the tasks they finished under the old numbers.
        def restart_dispatcher(*extra):
            os.killpg(d.pid, signal.SIGKILL)
            d.wait(60)
            return dispatcher(*extra)

        holder = {}
        r["dispatcher_no_workdir"] = client.epoch(
            timeout_s=STALL_S, pause_at=50, while_paused=lambda: holder.setdefault("d", restart_dispatcher()))
        d = holder["d"]
        r["dispatcher_only_epochs"] = [client.epoch(timeout_s=30) for _ in range(3)]
        # The procedure: restart the workers too.
        start = time.monotonic()
        restart_workers()
        r["after_dispatcher_restart"] = client.epoch(timeout_s=60)
        r["timings"]["dispatcher_restart_recovery_s"] = round(time.monotonic() - start, 1)
        r["parallel_after_dispatcher_restart"] = client.epoch("parallel_epochs", timeout_s=60)

        # Dispatcher with --work-dir (a fresh journal, so the workers restart too), killed
        # mid-epoch and restarted on the same folder.
        os.killpg(d.pid, signal.SIGTERM)
        d.wait(60)
        d = dispatcher("--work-dir", journal)
        restart_workers()
        r["workdir_first"] = client.epoch(timeout_s=60)
        holder.clear()
        start = time.monotonic()
        r["dispatcher_workdir"] = client.epoch(
            timeout_s=60, pause_at=50,
            while_paused=lambda: holder.setdefault("d", restart_dispatcher("--work-dir", journal)))
        r["timings"]["dispatcher_workdir_epoch_s"] = round(time.monotonic() - start, 1)
        d = holder["d"]

        # A stranger on another network cannot register (the recommended deployment).
        stranger, r["stranger_line"] = h.server("stranger", ["worker", "--dispatcher", disp, "--timeout-s", "5"])
        r["stranger_exit"] = stranger.wait(60)
        r["after_stranger"] = client.epoch()

        # An outsider on the job's network registers without credentials, then dies.
        outsider, r["outsider_line"] = h.server(  # an outsider uses TensorFlow's defaults
            "outsider", ["worker", "--dispatcher", disp, "--worker-host", a("outsider")])
        os.killpg(outsider.pid, signal.SIGKILL)
        r["after_outsider"] = client.epoch(timeout_s=STALL_S)

        # A restart on the journal keeps the outsider's stale entry; a fresh dispatcher drops it.
        d = restart_dispatcher("--work-dir", journal)
        r["after_workdir_restart"] = client.epoch(timeout_s=STALL_S)
        d = restart_dispatcher()
        restart_workers()
        r["after_fresh_restart"] = client.epoch(timeout_s=60)

        # A worker on another host without --worker-host registers as localhost.
        w3, r["w3_line"] = worker("w3")
        r["no_worker_host"] = client.epoch(timeout_s=STALL_S)
        r["namespaces_inside"] = namespaces_left()
        r["pids"] = [p.pid for p in h.procs]
    r["namespaces_after"] = namespaces_left()
    r["alive_after"] = [pid for pid in r["pids"] if psutil.pid_exists(pid)
                        and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    return r


@pytest.fixture(scope="session")
def scenario(tmp_path_factory):
    """The scenario's results, made once per run: under pytest-xdist the first worker to ask runs
    it and the others wait for its file (the lock is released when that worker ends)."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's folder, above each worker's own
    result = shared / "service-hosts-scenario.json"
    with open(shared / "service-hosts-scenario.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not result.exists():
            try:
                made = run_scenario(tmp_path_factory.mktemp("service-hosts"))
            except Exception:
                made = {"failed": traceback.format_exc()}
            result.write_text(json.dumps(made))
        r = json.loads(result.read_text())
    if "failed" in r:
        pytest.fail("the multi-host scenario failed:\n" + r["failed"], pytrace=False)
    print(r)  # shown when a test fails
    return r


def counts(result):
    return Counter(result["rows"])


def test_happy_path_across_hosts(scenario):
    assert scenario["w1_line"] == "ready 10.201.0.11:5051"
    assert counts(scenario["happy"]) == ALL and scenario["happy"]["outcome"] == "ended"
    assert counts(scenario["happy_parallel"]) == Counter({k: 2 for k in ALL})


def test_worker_killed_mid_epoch_loses_its_splits_and_the_epoch_stalls(scenario):
    got = counts(scenario["kill_mid_epoch"])
    assert max(got.values()) == 1 and set(got) <= set(ALL)  # nothing twice, nothing invented
    # the killed worker's splits in flight are lost, unless their rows had already reached the client
    assert 50 <= len(got) <= 200
    assert scenario["kill_mid_epoch"]["outcome"] == "timeout"


def test_every_later_epoch_delivers_all_rows_then_stalls(scenario):
    assert counts(scenario["after_kill"]) == ALL and scenario["after_kill"]["outcome"] == "timeout"
    assert "accepts connections, so the likely cause is a worker it still lists" in scenario["after_kill"]["error"]
    # parallel_epochs: the one live worker's copy, then the wait for the dead one
    assert counts(scenario["after_kill_parallel"]) == ALL
    assert scenario["after_kill_parallel"]["outcome"] == "timeout"


def test_a_replacement_on_a_new_port_does_not_heal(scenario):
    assert scenario["new_port_line"].startswith("ready 10.201.0.12:")
    assert counts(scenario["new_port"]) == ALL and scenario["new_port"]["outcome"] == "timeout"


def test_a_replacement_on_the_same_host_and_port_heals(scenario):
    assert scenario["same_port_line"] == "ready 10.201.0.12:5051"
    assert counts(scenario["same_port"]) == ALL and scenario["same_port"]["outcome"] == "ended"


def test_a_worker_stopped_while_idle_stalls_the_next_epoch(scenario):
    assert counts(scenario["stopped_idle"]) == ALL and scenario["stopped_idle"]["outcome"] == "timeout"


def test_dispatcher_killed_without_work_dir(scenario):
    broken = scenario["dispatcher_no_workdir"]
    assert broken["outcome"] in {"error", "timeout"} and max(counts(broken).values()) == 1
    assert len(broken["rows"]) <= 200
    # the workers register again at their next heartbeat, but until they restart, an epoch may
    # stall or end early (a fresh dispatcher numbers its tasks from the start again)
    for epoch in scenario["dispatcher_only_epochs"]:
        assert epoch["outcome"] in {"ended", "timeout"}
        assert set(counts(epoch)) <= set(ALL) and max(counts(epoch).values(), default=1) == 1
    # the procedure: restart the workers at their addresses; then every row once, and it ends
    assert counts(scenario["after_dispatcher_restart"]) == ALL
    assert scenario["after_dispatcher_restart"]["outcome"] == "ended"
    assert counts(scenario["parallel_after_dispatcher_restart"]) == Counter({k: 2 for k in ALL})
    assert scenario["parallel_after_dispatcher_restart"]["outcome"] == "ended"


def test_dispatcher_killed_with_work_dir_loses_nothing(scenario):
    assert counts(scenario["workdir_first"]) == ALL
    assert counts(scenario["dispatcher_workdir"]) == ALL
    assert scenario["dispatcher_workdir"]["outcome"] == "ended"


def test_an_outsider_registers_a_worker_and_stalls_the_job(scenario):
    assert scenario["outsider_line"] == "ready 10.201.0.15:" + scenario["outsider_line"].rsplit(":", 1)[1]
    assert counts(scenario["after_outsider"]) == ALL and scenario["after_outsider"]["outcome"] == "timeout"


def test_the_journal_keeps_a_stale_worker_and_a_fresh_dispatcher_drops_it(scenario):
    assert scenario["after_workdir_restart"]["outcome"] == "timeout"
    assert counts(scenario["after_fresh_restart"]) == ALL
    assert scenario["after_fresh_restart"]["outcome"] == "ended"


def test_a_host_off_the_job_network_cannot_register(scenario):
    assert scenario["stranger_line"].startswith(
        "error worker cannot reach its dispatcher within 5 s: 10.201.0.10:5050 cannot be reached (")
    assert scenario["stranger_exit"] == 1
    assert counts(scenario["after_stranger"]) == ALL and scenario["after_stranger"]["outcome"] == "ended"


def test_a_worker_without_worker_host_on_another_host(scenario):
    assert scenario["w3_line"].startswith("ready localhost:")
    assert scenario["w3_line"].endswith("(this machine only: pass --host for other machines)")
    got = counts(scenario["no_worker_host"])  # what the other workers made; its own never arrives
    assert max(got.values()) == 1
    assert scenario["no_worker_host"]["outcome"] == "timeout"


def test_nothing_is_left_behind(scenario):
    assert len(scenario["namespaces_inside"]) == len(LAYOUT) + 1
    assert scenario["namespaces_after"] == []
    assert scenario["alive_after"] == []
