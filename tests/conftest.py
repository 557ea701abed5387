"""Shared fixtures: a quiet TensorFlow and one build of the site per run, made
exactly as the Pages workflow makes the site it publishes, shared by every
pytest-xdist worker of the run."""

import os

# Before anything imports TensorFlow: keep its C++ start-up notices out of test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")

import fcntl
import subprocess
import sys

import pytest

from tests.pages import ROOT, workflow_build_step

# What the workflow's ${{ ... }} expressions stand for in the test build.
TEST_SITE_URL = "https://example.org/generator-pipelines/"
TEST_EDIT_URL_BASE = "https://example.org/repo/edit/main/docs/"


@pytest.fixture(scope="session")
def built_site(tmp_path_factory, worker_id):
    """Run the workflow's build step (its command, its variables) and return the site folder.

    The first worker of a run that needs the site builds it, under a lock, in the
    run's shared temporary folder; the others wait for it and read the same site.
    """
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":  # pytest-xdist: the run's folder, above each worker's own
        shared = shared.parent
    site, outcome = shared / "site", shared / "site.outcome"
    with open(shared / "site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not outcome.exists():
            outcome.write_text(_build_site(site), encoding="utf-8")
        problem = outcome.read_text(encoding="utf-8")
    assert not problem, problem
    return site


def _build_site(site):
    """Build into ``site``; return "" or what went wrong."""
    command, variables = workflow_build_step()
    values = {"SITE_URL": TEST_SITE_URL, "EDIT_URL_BASE": TEST_EDIT_URL_BASE}
    if set(variables) != set(values):
        return f"the workflow's build sets {sorted(variables)}, the tests expect {sorted(values)}"
    args = command.split()
    if args[:2] != ["python3", "tasks.py"] or args[-2:] != ["--site-dir", "site"]:
        return f"unexpected build command: {command}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "TF_", "PYTHONPATH"))}
    proc = subprocess.run(
        [sys.executable, *args[1:-1], str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=1200, env={**env, **values},
    )
    log = proc.stdout + proc.stderr
    if proc.returncode:
        return f"the build failed ({proc.returncode}):\n{log}"
    problems = [line for line in log.splitlines() if line.startswith(("WARNING", "ERROR"))]
    return "\n".join(problems)
