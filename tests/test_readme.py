"""The README's two commands: CI runs the test one verbatim, and serve serves."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from tests.pages import ROOT, markdown_fences


def readme_commands():
    for info, body in markdown_fences(ROOT / "README.md"):
        if info == "console":
            return [line[2:] for line in body.splitlines() if line.startswith("$ ")]
    raise AssertionError("README.md has no console block")


def test_readme_has_exactly_a_serve_and_a_test_command():
    assert readme_commands() == ["python3 tasks.py serve", "python3 tasks.py test"]


def test_ci_runs_the_readme_test_command_word_for_word():
    lines = [l.strip() for l in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert readme_commands()[1] in lines


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_command_serves_the_site_on_loopback():
    port = _free_port()
    # tasks.py passes extra arguments on; a second --dev-addr overrides the default port.
    args = readme_commands()[0].split()[1:] + ["--dev-addr", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
                    body = page.read().decode()
                break
            except OSError:
                assert proc.poll() is None, "the serve command exited early"
                assert time.monotonic() < deadline, "the site was not served within 120 s"
                time.sleep(0.5)
        assert "<title>Generator Pipelines</title>" in body
        assert "Which pattern fits your bottleneck?" in body
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_tasks_refuses_unsupported_pythons_with_a_clear_message():
    import tasks

    assert tasks.check_python((3, 11, 7)) is None and tasks.check_python((3, 13, 0)) is None
    for version in [(3, 10, 13), (3, 11, 4), (3, 14, 0)]:
        message = tasks.check_python(version)
        assert message.startswith(f"Python {'.'.join(map(str, version))} is not supported")


def test_supported_pythons_agree_across_readme_pyproject_tasks_and_workflow():
    import tomllib

    import tasks
    from tests.pages import WORKFLOW

    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11.5,<3.14"
    assert tasks.SUPPORTED == ((3, 11, 5), (3, 14))
    assert 'python: ["3.11", "3.12", "3.13"]' in WORKFLOW.read_text()
    assert "Python 3.11 (3.11.5 or newer), 3.12 or 3.13" in (ROOT / "README.md").read_text()
    assert "--python-version 3.11.5" in (ROOT / "requirements.txt").read_text().splitlines()[1]


def test_lint_is_clean():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_served_pages_reload_when_the_code_they_include_changes():
    """`mkdocs serve` watches every folder pages include code from."""
    from mkdocs.config import load_config

    config = load_config(str(ROOT / "mkdocs.yml"))
    watched = {os.path.realpath(path) for path in config.watch}
    included = set()
    for page in (ROOT / "docs").rglob("*.md"):
        for folder in re.findall(r'--8<-- "([^/"]+)/', page.read_text(encoding="utf-8")):
            included.add(os.path.realpath(ROOT / folder))
    assert included and included <= watched, sorted(included - watched)
