"""Simulated separate hosts for the tf.data service tests: one Linux network
namespace per host, created and removed by the test.

Every host gets one interface, ``eth0``, with an address in ``10.201.N.0/24``
(``N`` = its network), plugged into a bridge that lives in a namespace of its
own. Nothing is added to the machine's own (root) namespace: no link, no
address, no route. The namespaces have no route out, so traffic stays among
them. ``Hosts.close`` ends every process and deletes every namespace; it runs
on every exit path of the ``hosts`` context manager.
"""

import contextlib
import json
import os
import shutil
import subprocess
import sys

from recipes.service import stop
from tests.pages import ROOT, clean_env

IP = shutil.which("ip") or "/usr/sbin/ip"
PREFIX = f"gp-{os.getpid()}-"


def unavailable():
    """Why namespaces cannot be made here, or ``""``."""
    if os.geteuid() != 0:
        return "multi-host tests need root to create network namespaces (run pytest as root, as CI does)"
    if not os.path.exists(IP):
        return "multi-host tests need iproute2's `ip` (apt-get install iproute2)"
    return ""


def _ip(*args):
    subprocess.run([IP, *args], check=True, capture_output=True, text=True, timeout=30)


def namespaces_left(prefix=PREFIX):
    out = subprocess.run([IP, "netns", "list"], capture_output=True, text=True, timeout=30).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]


class Hosts:
    """Hosts by name; ``address(name)`` is its private address."""

    def __init__(self, layout, log_dir):
        """``layout``: ``{host_name: network_number}``; servers' standard error goes to ``log_dir``."""
        self.layout = dict(layout)
        self.log_dir = log_dir
        self.procs = []
        self.made = []
        self.switch = PREFIX + "switch"

    def ns(self, name):
        return PREFIX + name

    def address(self, name):
        network = self.layout[name]
        index = list(self.layout).index(name)
        return f"10.201.{network}.{10 + index}"

    def create(self):
        _ip("netns", "add", self.switch)
        self.made.append(self.switch)
        for network in sorted(set(self.layout.values())):
            _ip("-n", self.switch, "link", "add", f"br{network}", "type", "bridge")
            _ip("-n", self.switch, "link", "set", f"br{network}", "up")
        for index, (name, network) in enumerate(self.layout.items()):
            ns = self.ns(name)
            _ip("netns", "add", ns)
            self.made.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", f"p{index}", "netns", self.switch)
            _ip("-n", self.switch, "link", "set", f"p{index}", "master", f"br{network}", "up")
            _ip("-n", ns, "addr", "add", f"{self.address(name)}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")

    def popen(self, name, args, **kwargs):
        """Run ``python ARGS`` on host ``name`` (its own process group)."""
        proc = subprocess.Popen(
            [IP, "netns", "exec", self.ns(name), sys.executable, *args], cwd=ROOT, env=clean_env(),
            start_new_session=True, text=True, **kwargs)
        self.procs.append(proc)
        return proc

    def server(self, name, args, timeout_s=120):
        """Start ``python -m recipes.service ARGS`` on host ``name``; ``(proc, first line)``."""
        from recipes.service import _read_line

        with open(os.path.join(self.log_dir, f"{name}-{len(self.procs)}-{args[0]}.log"), "w") as log:
            proc = self.popen(name, ["-m", "recipes.service", *args], stdout=subprocess.PIPE, stderr=log)
        return proc, _read_line(proc, timeout_s)

    def close(self):
        for proc in reversed(self.procs):
            stop(proc)
            for stream in (proc.stdin, proc.stdout):
                if stream:
                    with contextlib.suppress(OSError):
                        stream.close()
        for ns in reversed(self.made):
            subprocess.run([IP, "netns", "del", ns], capture_output=True, timeout=30)


@contextlib.contextmanager
def hosts(layout, log_dir):
    made = Hosts(layout, log_dir)
    try:
        made.create()
        yield made
    finally:
        made.close()


class Client:
    """A long-lived client process on a host: one TensorFlow start for many epochs."""

    def __init__(self, made, name, dispatcher, num_files=10, rows_per_file=20):
        self.proc = made.popen(name, ["-m", "tests.service_client", dispatcher, str(num_files), str(rows_per_file)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self._line(180) == "ready"

    def _line(self, timeout_s):
        from recipes.service import _read_line

        return _read_line(self.proc, timeout_s)

    def epoch(self, mode="distributed_epoch", timeout_s=6.0, pause_at=None, while_paused=None):
        """One epoch through ``read``; ``while_paused()`` runs when ``pause_at`` rows have arrived."""
        self.proc.stdin.write(json.dumps({"mode": mode, "timeout_s": timeout_s, "pause_at": pause_at}) + "\n")
        self.proc.stdin.flush()
        if pause_at is not None:
            assert self._line(180) == "paused"
            while_paused()
            self.proc.stdin.write("go\n")
            self.proc.stdin.flush()
        return json.loads(self._line(300) or "null")
