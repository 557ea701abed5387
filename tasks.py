"""Set-up and everyday commands, with nothing but Python 3.10+ installed.

    python3 tasks.py serve   # make .venv if needed, then serve the site on 127.0.0.1:8000
    python3 tasks.py test    # make .venv if needed, then run every test (site build included)

The virtual environment lives in ``.venv`` and is rebuilt whenever
``requirements.txt`` changes. Uses only the standard library.
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
QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",  # TensorFlow's C++ notices
    "NO_MKDOCS_2_WARNING": "1",  # Material's end-of-life banner on every build
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONPATH": str(ROOT),  # tutorials' kernels import the recipes package
}


def _requirements_hash():
    return hashlib.sha256((ROOT / "requirements.txt").read_bytes()).hexdigest()


def ensure_venv():
    if sys.version_info < (3, 10):
        sys.exit(f"Python 3.10 or newer is needed, this is {sys.version.split()[0]}")
    wanted = _requirements_hash()
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


def run(args):
    env = {**os.environ, **QUIET_ENV}
    return subprocess.run([str(PY), *args], cwd=ROOT, env=env).returncode


def main(argv):
    commands = {
        "serve": ["-m", "mkdocs", "serve", "--dev-addr", "127.0.0.1:8000"],
        "build": ["-m", "mkdocs", "build", "--strict"],  # set EXECUTE_NOTEBOOKS=true to run tutorials
        "test": ["-m", "pytest"],
    }
    if not argv or argv[0] not in commands:
        print(__doc__.strip())
        return 2
    ensure_venv()
    if argv[0] == "test":
        ensure_browser()
    return run(commands[argv[0]] + argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
