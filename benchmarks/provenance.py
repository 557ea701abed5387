"""What made a results file: a content hash of the code that measured.

The hash covers every ``.py`` file of ``benchmarks/`` and every recipe module
the benchmark measures (``RECIPES``). ``tests/test_bench.py`` recomputes it
from the committed files and fails when ``results.json`` was written by other
code: changing the benchmark or a measured recipe means running it again.
"""

import hashlib
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The recipe modules whose code runs inside the measured pipelines.
RECIPES = ("recipes/process_pool.py", "recipes/sharded_generator.py", "recipes/service.py",
           "recipes/grain_source.py")


def _tracked(root, paths):
    """The paths git tracks (all of them outside a git work tree)."""
    try:
        out = subprocess.run(["git", "ls-files", "--", *paths], cwd=root, capture_output=True, text=True,
                             timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return set(paths)
    return set(out.split())


def recipe_measured(path, root=ROOT):
    """True when the benchmark measures this recipe module: it exists and, in a git work tree, is committed
    (a recipe still being written is neither measured nor hashed)."""
    return (root / path).is_file() and path in _tracked(root, [path])


def measured_files(root=ROOT):
    """Repository-relative paths of the files the hash covers, sorted."""
    files = sorted(p.relative_to(root).as_posix() for p in (root / "benchmarks").glob("*.py"))
    present = [r for r in RECIPES if (root / r).is_file()]
    tracked = _tracked(root, present) if present else set()
    return sorted(files + [r for r in present if r in tracked])


def code_hash(root=ROOT):
    """``{"sha256": ..., "files": {path: sha256}}`` of the measured code, as it is on disk."""
    files = {}
    for rel in measured_files(root):
        files[rel] = hashlib.sha256((root / rel).read_bytes()).hexdigest()
    total = hashlib.sha256("".join(f"{rel}\0{digest}\n" for rel, digest in files.items()).encode()).hexdigest()
    return {"sha256": total, "files": files}
