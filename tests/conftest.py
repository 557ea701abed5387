"""Shared fixtures: a quiet TensorFlow and one strict build of the site per run."""

import os

# Before anything imports TensorFlow: keep its C++ start-up notices out of test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")

import subprocess
import sys

import pytest

from tests.pages import ROOT


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """Build the site with ``mkdocs build --strict`` once and return its folder."""
    site = tmp_path_factory.mktemp("site")
    env = {
        **os.environ,
        "EXECUTE_NOTEBOOKS": "true",  # tutorials run during the build; errors fail it
        "PYTHONPATH": str(ROOT),  # the notebooks import the recipes package
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TF_ENABLE_ONEDNN_OPTS": "0",  # no oneDNN start-up notice in notebook outputs
    }
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=900, env=env,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    problems = [line for line in log.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert not problems, "\n".join(problems)
    return site
