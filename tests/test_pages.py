"""The page contracts: single source, standalone recipes, copy-paste in page order."""

import re
import shutil
import sys

import pytest

from tests.pages import (
    DOCS, ROOT, STANDALONE_TITLE, built_page, html_blocks, imported_top_level_modules,
    markdown_fences, run_python,
)

TOOLING = {"bench", "bench_peers"}  # the benchmark command: tested in tests/test_bench.py
RECIPE_MODULES = sorted(
    p.stem for p in (ROOT / "recipes").glob("*.py")
    if not p.name.startswith("_") and p.stem not in TOOLING
)
RECIPE_PAGES = sorted(
    str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if p.stem in RECIPE_MODULES
)
ALL_PAGES = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
ALLOWED_IMPORTS = set(sys.stdlib_module_names) | {"numpy", "tensorflow"}
INCLUDE = re.compile(r'^--8<-- "(?P<path>[^":]+)(?::(?P<section>[\w-]+))?"$')


def test_every_recipe_has_a_page_and_a_test_with_the_same_stem():
    assert RECIPE_MODULES, "no recipe modules found"
    for stem in RECIPE_MODULES:
        pages = list(DOCS.rglob(f"{stem}.md"))
        assert len(pages) == 1, f"recipes/{stem}.py needs exactly one docs page, found {pages}"
        assert (ROOT / "tests" / f"test_{stem}.py").is_file(), f"tests/test_{stem}.py is missing"


@pytest.mark.parametrize("page", ALL_PAGES)
def test_shown_code_is_included_and_runnable_code_is_run(page):
    """Titled python blocks hold only includes from recipes/; plain ones are run.

    pytest-codeblocks runs fences whose info string is exactly ``python``; a
    titled fence is shown, not run, so it must be an include of tested code.
    No block may be hidden from pytest-codeblocks by a skip marker.
    """
    text = (DOCS / page).read_text(encoding="utf-8")
    assert "pytest-codeblocks:skip" not in text and "pytest.mark.skip" not in text
    for info, body in markdown_fences(DOCS / page):
        if info.startswith("python") and info != "python":
            lines = [line for line in body.splitlines() if line.strip()]
            assert lines, f"{page}: empty titled block"
            for line in lines:
                m = INCLUDE.match(line.strip())
                assert m, f"{page}: shown code must be included from recipes/, got {line!r}"
                assert m["path"].startswith("recipes/")
        elif info == "python":
            assert "--8<--" not in body, f"{page}: an include in a plain python block would be run as code"
        elif info.split()[0] in ("sh", "bash", "shell"):
            pytest.fail(f"{page}: shell commands belong in console fences, not {info!r}")


@pytest.mark.parametrize("stem", RECIPE_MODULES)
def test_recipe_imports_only_stdlib_numpy_tensorflow(stem):
    extra = imported_top_level_modules(ROOT / "recipes" / f"{stem}.py") - ALLOWED_IMPORTS
    assert not extra, f"recipes/{stem}.py imports {sorted(extra)}; recipes must stand alone"


def _standalone_block(page):
    for info, body in markdown_fences(DOCS / page):
        if info.startswith("console") and STANDALONE_TITLE in info:
            return body
    raise AssertionError(f"{page} has no console block titled {STANDALONE_TITLE!r}")


@pytest.mark.parametrize("page", RECIPE_PAGES)
def test_recipe_runs_alone_in_an_empty_folder_and_prints_what_its_page_says(page, tmp_path):
    stem = page.rsplit("/", 1)[-1][: -len(".md")]
    command, _, shown_output = _standalone_block(page).partition("\n")
    assert command == f"$ python {stem}.py"
    shutil.copy(ROOT / "recipes" / f"{stem}.py", tmp_path / f"{stem}.py")
    proc = run_python([f"{stem}.py"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout == shown_output + "\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{stem}.py"], "the demo left files behind"


@pytest.mark.parametrize("page", RECIPE_PAGES)
def test_rendered_python_blocks_run_in_page_order(page, built_site):
    """Copy every rendered python block, in order, into one fresh interpreter.

    Included code counts: the blocks are read from the built HTML, as a reader
    sees and copies them. The printed output must equal the output blocks the
    page shows, in order.
    """
    blocks = html_blocks(built_page(built_site, page))
    code = [b.text for b in blocks if b.lang == "python" and not b.expected_output]
    assert code, f"{page}: no python blocks rendered"
    assert any(b.title for b in blocks if b.lang == "python"), f"{page}: no included recipe code rendered"
    shown = "".join(b.text for b in blocks if b.expected_output)
    # `-c`, like a reader pasting into an interactive interpreter: the code has
    # no file, so spawned worker processes do not try to re-import it.
    proc = run_python(["-c", "\n".join(code)], cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout == shown


def test_site_has_no_third_party_assets(built_site):
    """Fonts, scripts and styles come from the site itself (works offline)."""
    offenders = []
    for html in built_site.rglob("*.html"):
        text = html.read_text(encoding="utf-8")
        for m in re.finditer(r'<(?:link|script|img)\b[^>]*(?:href|src)="(https?:)?//[^"]*"', text):
            if 'rel="canonical"' in m.group(0):  # names the page; never fetched
                continue
            offenders.append(f"{html.relative_to(built_site)}: {m.group(0)}")
    assert not offenders, "\n".join(offenders)


def test_api_reference_covers_every_recipe():
    api = (DOCS / "reference" / "api.md").read_text(encoding="utf-8")
    missing = [stem for stem in RECIPE_MODULES if f"::: recipes.{stem}\n" not in api + "\n"]
    assert not missing, f"docs/reference/api.md lacks {missing}"
