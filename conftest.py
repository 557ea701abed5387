"""Run the pages' ```python blocks as ``__main__`` under pytest-codeblocks.

pytest-codeblocks 0.18 runs each block with ``exec(code, {"__MODULE__": "__main__"})``:
the globals have no ``__name__``, so ``__name__`` is ``"builtins"`` and a block
under ``if __name__ == "__main__":`` (which pages that start worker processes
must show, so that the code also works saved as a script) would silently run
nothing. Give the blocks the ``__name__`` a reader's script or interpreter has.
"""

import builtins

import pytest_codeblocks.plugin


def _exec_as_main(code, globals_=None, *args):
    return builtins.exec(code, {**(globals_ or {}), "__name__": "__main__"}, *args)


pytest_codeblocks.plugin.exec = _exec_as_main


# --- Markers for the inner loop and per-recipe targeting ------------------------------------
# `site`: needs the built site or a browser; `pages`: runs a page's code (its blocks, its
# module copied alone); `bench`: runs the benchmark command. `python3 tasks.py test --fast`
# deselects all three; `python3 tasks.py test recipes/NAME.py` keeps what concerns one recipe.

SITE_FIXTURES = {"built_site", "served_site", "browser"}


MULTIHOST = "tests/test_service_multihost.py"


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: two workers per core. Most of the suite's time is spent waiting (TensorFlow
    starting in a fresh interpreter, sleeps that stand for slow sources, servers and worker
    processes starting), so one worker per core left the cores idle about a fifth of the time:
    on the 2-core machine, 19.3 minutes with two workers, 14.7 with four, every test passing."""
    import os

    return 2 * (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def pytest_addoption(parser):
    parser.addoption("--recipe", action="append", default=[], metavar="recipes/NAME.py",
                     help="keep only the tests of this recipe module: its tests, its page's blocks, "
                          "its standalone run and its page contracts")


def pytest_configure(config):
    for name, what in [("site", "needs the built site or a browser"),
                       ("pages", "runs a page's code blocks or a recipe module copied alone"),
                       ("bench", "runs the benchmark command"),
                       ("multihost", "runs servers across network namespaces (needs root and `ip`)")]:
        config.addinivalue_line("markers", f"{name}: {what}")


def _recipe_paths(path):
    """The files whose tests concern ``recipes/NAME.py``, and its page contracts' ids."""
    from tests.pages import DOCS, ROOT
    from tests.test_pages import recipe_pages, recipe_test

    name = (ROOT / path).resolve().relative_to(ROOT / "recipes").with_suffix("").as_posix()
    pages = [p.relative_to(DOCS).as_posix() for p in recipe_pages(name)]
    test = recipe_test(name)
    more = test.parent.glob(f"{test.stem}_*.py")  # e.g. tests/test_service_multihost.py
    files = {t.relative_to(ROOT).as_posix() for t in [test, *more]} | {f"docs/{p}" for p in pages}
    return files, {f"[{key}]" for key in [name, *pages]}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SITE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker("site")
        if item.nodeid.startswith(("docs/", "README.md")) or "test_recipe_runs_alone" in item.nodeid:
            item.add_marker("pages")
        if item.nodeid.startswith("tests/test_bench.py"):
            item.add_marker("bench")
        if item.nodeid.startswith(MULTIHOST):
            item.add_marker("multihost")
    # The multi-host scenario runs once, for minutes, mostly waiting: first in line, so that it
    # overlaps the rest of the run (pytest-xdist hands each worker a stretch of this list).
    items.sort(key=lambda item: not item.nodeid.startswith(MULTIHOST))
    recipes = config.getoption("--recipe")
    if not recipes:
        return
    wanted_files, wanted_ids = set(), set()
    for recipe in recipes:
        files, ids = _recipe_paths(recipe)
        wanted_files |= files
        wanted_ids |= ids
    keep, drop = [], []
    for item in items:
        path, _, rest = item.nodeid.partition("::")
        contract = path == "tests/test_pages.py" and any(key in rest for key in wanted_ids)
        (keep if path in wanted_files or contract else drop).append(item)
    config.hook.pytest_deselected(items=drop)
    items[:] = keep


def pytest_runtest_teardown(item):
    """Undo the process-wide TensorFlow settings a test or a page block may make.

    Under pytest-xdist any test may follow any other in a worker. A recipe that
    calls ``keras.utils.set_random_seed(0)`` (or ``tf.random.set_seed``) changes
    what every later op-seeded shuffle or sampler gives, and a page block that
    calls ``enable_op_determinism()`` makes every later pipeline deterministic.
    Each test starts from TensorFlow's defaults, as in a fresh interpreter.
    """
    import sys

    if "tensorflow" in sys.modules:
        from tensorflow.python.framework import config

        sys.modules["tensorflow"].random.set_seed(None)
        if config.is_op_determinism_enabled():
            config.disable_op_determinism()
