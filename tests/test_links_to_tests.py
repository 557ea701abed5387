"""Statements on the pages name the tests that prove them; every named test must exist.

A page links a test as inline code, ``tests/test_<stem>.py::test_<name>`` (a
parametrized id such as ``test_x[3]`` names the test ``test_x``). This file
finds every such name in ``docs/`` and ``README.md`` and checks, by parsing the
test files, that the function exists at the top level of that file.
"""

import ast
import functools
import re

import pytest

from tests.pages import DOCS, ROOT, parse_python

LINK = re.compile(r"`(?P<path>tests/(?:\w+/)*test_\w+\.py)::(?P<name>test_\w+)(?:\[[^\]`]*\])?`")
MIN_DISTINCT = 80


def _sources():
    files = sorted(DOCS.rglob("*.md")) + [ROOT / "README.md"]
    return [p for p in files if p.is_file()]


def _links():
    found = []
    for source in _sources():
        for m in LINK.finditer(source.read_text(encoding="utf-8")):
            found.append((str(source.relative_to(ROOT)), m["path"], m["name"]))
    return found


@functools.cache
def _test_functions(path):
    file = ROOT / path
    if not file.is_file():
        return frozenset()
    tree = parse_python(file.read_text(encoding="utf-8"))
    return frozenset(
        node.name for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_")
    )


def test_the_pattern_reads_plain_and_parametrized_names():
    text = "see `tests/test_a.py::test_b` and `tests/test_c.py::test_d[3-x]`, not tests/test_e.py::test_f"
    assert [(m["path"], m["name"]) for m in LINK.finditer(text)] == [
        ("tests/test_a.py", "test_b"), ("tests/test_c.py", "test_d")]


@pytest.mark.parametrize("source, path, name", sorted(set(_links())))
def test_linked_test_exists(source, path, name):
    assert (ROOT / path).is_file(), f"{source} links {path}, which does not exist"
    assert name in _test_functions(path), f"{source} links {path}::{name}, which does not exist"


def test_pages_link_enough_distinct_tests():
    distinct = {(path, name) for _, path, name in _links()}
    assert len(distinct) >= MIN_DISTINCT, f"only {len(distinct)} distinct tests are linked from the pages"


def test_explanation_and_why_sections_link_their_proof():
    """The machinery page and every recipe's why/which/choosing/how section name at least one test."""
    missing = []
    for page in [DOCS / "explanation" / "machinery.md", *sorted((DOCS / "recipes").glob("*.md"))]:
        if page.name == "index.md":
            continue
        text = page.read_text(encoding="utf-8")
        sections = re.split(r"^## ", text, flags=re.M)
        if page.parent.name == "recipes":
            explaining = [s for s in sections if re.match(r"(Why|Which|Choosing|What|How)", s)]
            missing += [f"{page.name}: {s.splitlines()[0]}" for s in explaining if not LINK.search(s)]
        elif not LINK.search(text):
            missing.append(page.name)
    assert not missing, f"pages whose explanations link no test: {missing}"
