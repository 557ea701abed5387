"""MkDocs hook: execute the tutorial notebooks, with a cache that knows about recipes/.

Every build (``mkdocs serve``, ``mkdocs build``, the test suite, the Pages
workflow) renders the tutorials from an *executed* copy of each notebook, so a
reader browsing locally sees the same outputs and plots as the published site.

The executed copy is kept in ``.cache/notebooks/`` under a key made of the
notebook, every module of ``recipes/`` and the pinned requirements: change any
of them and the notebook runs again; change nothing and the build reuses it, so
``mkdocs serve`` starts in seconds. mkdocs-jupyter then only converts (its own
``execute`` is off: its cache would not notice a change in ``recipes/``).

The kernel runs with the notebook's folder as working directory and with
TensorFlow's C++ start-up notices switched off, and it does not capture output
written at the C level, so no TensorFlow or absl log line reaches a cell. A
cell that raises fails the build.
"""

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "notebooks"
KERNEL_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",  # TensorFlow's C++ notices
    "TF_ENABLE_ONEDNN_OPTS": "0",  # the oneDNN notice, printed before logging is set up
    "PYTHONDONTWRITEBYTECODE": "1",
}
log = logging.getLogger("mkdocs.hooks.notebooks")


def cache_key(notebook: Path) -> str:
    """Hash of the notebook, the recipes it may import and the pinned versions."""
    digest = hashlib.sha256(notebook.read_bytes())
    for path in sorted((ROOT / "recipes").rglob("*.py")) + [ROOT / "requirements.txt"]:
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def execute(notebook: Path, target: Path) -> None:
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    with tempfile.TemporaryDirectory() as sockets:
        # Local sockets in a private folder: the kernel listens on no TCP port.
        kernel = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "kernel"))
        client = NotebookClient(
            nb, km=kernel, timeout=600, allow_errors=False,
            resources={"metadata": {"path": str(notebook.parent)}},
            extra_arguments=["--IPKernelApp.capture_fd_output=False"],
        )
        try:
            client.execute(env={**os.environ, **KERNEL_ENV})
        finally:
            if kernel.has_kernel:
                kernel.shutdown_kernel(now=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")  # builds may run side by side
    partial.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, partial)
    partial.replace(target)


def executed_copy(notebook: Path, src_uri: str) -> Path:
    # The folder carries the key; below it the notebook keeps its path in docs/
    # (mkdocs-jupyter picks pages by that path) and its name, which is what
    # readers download next to the page.
    key = cache_key(notebook)
    target = CACHE / f"{notebook.stem}-{key}" / src_uri
    if not target.exists():
        log.info("Executing %s (no executed copy of this version of it and of recipes/)", src_uri)
        for stale in CACHE.glob(f"{notebook.stem}-*"):
            if stale.name != f"{notebook.stem}-{key}":  # another build may be writing this one
                shutil.rmtree(stale, ignore_errors=True)
        execute(notebook, target)
    return target


def on_files(files, config):
    for file in files:
        if file.src_uri.startswith("tutorials/") and file.src_uri.endswith(".ipynb"):
            file.abs_src_path = str(executed_copy(Path(file.abs_src_path), file.src_uri))
    return files
