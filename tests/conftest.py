"""Shared fixtures: a quiet TensorFlow and one build of the site per run, made
exactly as the Pages workflow makes the site it publishes."""

import os

# Before anything imports TensorFlow: keep its C++ start-up notices out of test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")

import subprocess
import sys

import pytest

from tests.pages import ROOT, workflow_build_step

# What the workflow's ${{ ... }} expressions stand for in the test build.
TEST_SITE_URL = "https://example.org/generator-pipelines/"
TEST_EDIT_URL_BASE = "https://example.org/repo/edit/main/docs/"


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """Run the workflow's build step (its command, its variables) and return the site folder."""
    site = tmp_path_factory.mktemp("site")
    command, variables = workflow_build_step()
    values = {"SITE_URL": TEST_SITE_URL, "EDIT_URL_BASE": TEST_EDIT_URL_BASE}
    assert set(variables) == set(values), f"the workflow's build sets {sorted(variables)}"
    args = command.split()
    assert args[:2] == ["python3", "tasks.py"] and args[-2:] == ["--site-dir", "site"], command
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "TF_", "PYTHONPATH"))}
    proc = subprocess.run(
        [sys.executable, *args[1:-1], str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=1200, env={**env, **values},
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    problems = [line for line in log.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert not problems, "\n".join(problems)
    return site
