"""Set-up and everyday commands, with nothing but Python 3 installed.

    python3 tasks.py serve    # make .venv if needed, then serve the site on 127.0.0.1:8000
    python3 tasks.py test     # make .venv if needed, then run every test (lint and site build included)
    python3 tasks.py build    # the site into site/, exactly as the Pages workflow publishes it
    python3 tasks.py test --fast
                              # the inner loop: recipe and unit tests, no site build, no browser
    python3 tasks.py test recipes/NAME.py
                              # everything about one recipe: its tests, its page's blocks, its
                              # standalone run and its page contracts
    python3 tasks.py test --update-outputs
                              # first rewrite the output blocks of every page from real runs, then test

The virtual environment lives in ``.venv``; it is brought up to date whenever
``requirements.txt`` or ``pyproject.toml`` changes, and holds this project as an
editable install (so ``import recipes`` works everywhere, with no PYTHONPATH).
Uses only the standard library.
"""

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".requirements.sha256"
# The Pythons that requirements.txt installs on and CI tests (keep in step with
# pyproject.toml's requires-python and the workflow's matrix).
SUPPORTED = ((3, 11, 5), (3, 14))
# Everything else a build needs (quiet notebook kernels, the footer) is set by
# the site's own hooks, so `mkdocs serve` from the venv behaves the same.
ENV = {
    "NO_MKDOCS_2_WARNING": "1",  # Material's end-of-life banner on every build
    "PYTHONDONTWRITEBYTECODE": "1",
}


def check_python(version=sys.version_info):
    low, high = SUPPORTED
    if not low <= tuple(version[:3]) < high:
        found = ".".join(map(str, version[:3]))
        return (f"Python {found} is not supported: the pinned requirements install on Python "
                f"{'.'.join(map(str, low))} up to {high[0]}.{high[1] - 1}. "
                "Run this with a supported python3 (for example python3.11 tasks.py test).")
    return None


def _stamp():
    digest = hashlib.sha256()
    for name in ("requirements.txt", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_venv():
    problem = check_python()
    if problem:
        sys.exit(problem)
    wanted = _stamp()
    if PY.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    print(f"Setting up {VENV.relative_to(ROOT)} from requirements.txt ...", flush=True)
    try:
        if not PY.exists():
            venv.EnvBuilder(with_pip=True).create(VENV)
    except (subprocess.CalledProcessError, OSError) as error:
        sys.exit(f"Could not create {VENV}: {error}\n"
                 "On Debian or Ubuntu, install the venv module first: apt-get install python3-venv")
    pip = [str(PY), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run(pip + ["install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run(pip + ["install", "--quiet", "-r", str(ROOT / "requirements.txt")], check=True)
    # The project itself, editable; its dependencies are already pinned above.
    # (setuptools' notice about editable installs is only shown if this fails.)
    editable = subprocess.run(pip + ["install", "--quiet", "--no-deps", "--no-build-isolation", "-e", str(ROOT)],
                              capture_output=True, text=True)
    if editable.returncode:
        sys.exit(editable.stdout + editable.stderr + "\nCould not install this project into .venv (see above).")
    STAMP.write_text(wanted + "\n")


def ensure_browser():
    """In CI (CI=true, running as root), install Debian's Chromium for the
    browser tests when it is missing; elsewhere those tests skip and say how."""
    if os.path.exists("/usr/bin/chromium") or os.environ.get("CI") != "true":
        return
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    print("Installing Debian's chromium for the browser tests ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env,
                   stdout=subprocess.DEVNULL)


FAST = ["-m", "not site and not pages and not bench and not multihost"]


def pytest_arguments(rest):
    """pytest's arguments for ``tasks.py test REST``: ``--fast`` and ``recipes/...py`` paths expanded."""
    out = []
    for arg in rest:
        if arg == "--fast":
            out += FAST
        elif arg.startswith("recipes/") and arg.endswith(".py") and (ROOT / arg).is_file():
            out.append(f"--recipe={arg}")  # tests/conftest.py keeps what concerns it
        else:
            out.append(arg)
    return out


def run(args):
    return subprocess.run([str(PY), *args], cwd=ROOT, env={**os.environ, **ENV}).returncode


COMMANDS = {
    "serve": ["-m", "mkdocs", "serve", "--dev-addr", "127.0.0.1:8000"],
    "build": ["-m", "mkdocs", "build", "--strict"],
    "test": ["-m", "pytest"],
}


def main(argv):
    if not argv or argv[0] not in COMMANDS:
        print(__doc__.strip())
        return 2
    ensure_venv()
    command, rest = argv[0], argv[1:]
    if command == "test":
        ensure_browser()
        if "--update-outputs" in rest:
            rest = [a for a in rest if a != "--update-outputs"]
            code = run(["-m", "tests.update_outputs"])
            if code:
                return code
        rest = pytest_arguments(rest)
    return run(COMMANDS[command] + rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
