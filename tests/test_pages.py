"""The page contracts: single source, standalone recipes, copy-paste in page order."""

import ast
import re
import shutil
import sys

import pytest

from tests.pages import (
    DOCS,
    ROOT,
    STANDALONE_TITLE,
    built_page,
    html_blocks,
    imported_top_level_modules,
    markdown_fences,
    parse_python,
    run_python,
)

SUBPACKAGES = sorted(p.parent.name for p in (ROOT / "recipes").glob("*/__init__.py"))
# A recipe module, named by its path under recipes/ without ".py": "parallel_map",
# "troubleshooting/lifecycle". Folders mirror the site: recipes/<folder>/<stem>.py
# pairs with docs/**/<folder>/<stem>.md and tests/<folder>/test_<stem>.py.
RECIPE_MODULES = sorted(
    p.relative_to(ROOT / "recipes").with_suffix("").as_posix()
    for p in [*(ROOT / "recipes").glob("*.py"), *(ROOT / "recipes").glob("*/*.py")]
    if not p.name.startswith("_")
)


def module_path(name):
    return ROOT / "recipes" / f"{name}.py"


def dotted(name):
    return "recipes." + name.replace("/", ".")


def stem_of(name):
    return name.rpartition("/")[2]


def recipe_pages(name):
    """The pages of ``recipes/<name>.py``: ``docs/**/<name>.md``; a top-level module's page
    is not inside a folder that mirrors a subpackage of recipes/."""
    folder, _, stem = name.rpartition("/")
    if folder:
        return list(DOCS.rglob(f"{folder}/{stem}.md"))
    return [p for p in DOCS.rglob(f"{stem}.md") if p.parent.name not in SUBPACKAGES]


def recipe_test(name):
    folder, _, stem = name.rpartition("/")
    return ROOT / "tests" / folder / f"test_{stem}.py"


RECIPE_STEM = {str(page.relative_to(DOCS)): name for name in RECIPE_MODULES for page in recipe_pages(name)}
RECIPE_PAGES = sorted(RECIPE_STEM)
ALL_PAGES = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
ALLOWED_IMPORTS = set(sys.stdlib_module_names) | {"numpy", "tensorflow"}
# The one named library a recipe may add, where the recipe is about that library.
NAMED_LIBRARY = {"grain_source": {"grain"}}
INCLUDE = re.compile(r'^--8<-- "(?P<path>[^":]+)(?::(?P<section>[\w-]+))?"$')


def test_every_recipe_has_a_page_and_a_test_with_the_same_stem():
    assert RECIPE_MODULES, "no recipe modules found"
    for name in RECIPE_MODULES:
        pages = recipe_pages(name)
        assert len(pages) == 1, f"recipes/{name}.py needs exactly one docs page, found {pages}"
        assert recipe_test(name).is_file(), f"{recipe_test(name).relative_to(ROOT)} is missing"


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


@pytest.mark.parametrize("name", RECIPE_MODULES)
def test_recipe_imports_only_stdlib_numpy_tensorflow(name):
    extra = imported_top_level_modules(module_path(name)) - ALLOWED_IMPORTS - NAMED_LIBRARY.get(name, set())
    assert not extra, f"recipes/{name}.py imports {sorted(extra)}; recipes must stand alone"


def _standalone_block(page):
    for info, body in markdown_fences(DOCS / page):
        if info.startswith("console") and STANDALONE_TITLE in info:
            return body
    raise AssertionError(f"{page} has no console block titled {STANDALONE_TITLE!r}")


@pytest.mark.parametrize("page", RECIPE_PAGES)
def test_recipe_runs_alone_in_an_empty_folder_and_prints_what_its_page_says(page, tmp_path):
    name = RECIPE_STEM[page]
    stem = stem_of(name)
    command, _, shown_output = _standalone_block(page).partition("\n")
    assert command == f"$ python {stem}.py"
    shutil.copy(module_path(name), tmp_path / f"{stem}.py")
    proc = run_python([f"{stem}.py"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout == shown_output + "\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{stem}.py"], "the demo left files behind"


def _rendered_code_and_output(built_site, page):
    blocks = html_blocks(built_page(built_site, page))
    code = [b.text for b in blocks if b.lang == "python" and not b.expected_output]
    assert code, f"{page}: no python blocks rendered"
    shown = "".join(b.text for b in blocks if b.expected_output)
    return blocks, "\n".join(code), shown


@pytest.mark.parametrize("page", RECIPE_PAGES)
def test_rendered_python_blocks_run_in_page_order(page, built_site, tmp_path):
    """Copy every rendered python block, in order, into one file and run it.

    Included code counts: the blocks are read from the built HTML, as a reader
    sees and copies them. Saved as one script and run with ``python
    that_file.py`` from the repository root (the way most readers run copied
    code), the printed output must equal the output blocks the page shows, in
    order. A spawned worker re-imports that script, so pages that start
    processes must show the ``if __name__ == "__main__":`` guard themselves;
    those pages are also run as pasted into an interpreter (``python -c``).
    """
    blocks, code, shown = _rendered_code_and_output(built_site, page)
    assert any(b.title for b in blocks if b.lang == "python"), f"{page}: no included recipe code rendered"
    script = tmp_path / "pipeline.py"
    script.write_text(code, encoding="utf-8")
    proc = run_python([str(script)], cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout == shown
    if "__main__" in code:
        proc = run_python(["-c", code], cwd=ROOT)
        assert proc.returncode == 0, proc.stderr[-4000:]
        assert proc.stdout == shown


@pytest.mark.parametrize("page", RECIPE_PAGES)
def test_blocks_that_start_processes_guard_them(page, built_site):
    """A block that starts worker processes keeps them under the main guard."""
    starts = re.compile(r"ProcessPoolExecutor\(|multiprocessing\.\w*Pool\(|\.Process\(|pooled_dataset\(")
    for block in (b.text for b in html_blocks(built_page(built_site, page)) if b.lang == "python" and not b.title):
        if starts.search(block):
            assert 'if __name__ == "__main__":' in block, f"{page}: unguarded process start in\n{block}"


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
    missing = [name for name in RECIPE_MODULES if f"::: {dotted(name)}\n" not in api + "\n"]
    assert not missing, f"docs/reference/api.md lacks {missing}"


def _public_names(name):
    tree = parse_python(module_path(name).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_") and node.name != "main":
            yield node


@pytest.mark.parametrize("name", RECIPE_MODULES)
def test_every_public_function_and_class_is_documented(name):
    tree = parse_python(module_path(name).read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"recipes/{name}.py has no module docstring"
    undocumented = [node.name for node in _public_names(name) if not ast.get_docstring(node)]
    assert not undocumented, f"recipes/{name}.py: public names without a docstring: {undocumented}"


def test_api_page_renders_every_public_name(built_site):
    html = (built_site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    missing = [f"{dotted(name)}.{node.name}" for name in RECIPE_MODULES for node in _public_names(name)
               if f'id="{dotted(name)}.{node.name}"' not in html]
    assert not missing, f"the API page lacks {missing}"
    assert 'id="recipes.' in html and "no docstring" not in html


def test_update_outputs_rewrites_stale_output_blocks_from_real_runs(tmp_path):
    """`python3 tasks.py test --update-outputs` restores every output block of a page."""
    from tests.update_outputs import update_page

    original = (DOCS / "recipes" / "variable_length.md").read_text(encoding="utf-8")
    stale = re.sub(r"(<!--pytest-codeblocks:expected-output-->\n\n```text\n)(.*?)(\n```)", r"\1stale\3",
                   original, flags=re.S)
    stale = stale.replace("$ python variable_length.py\n", "$ python variable_length.py\nstale\n")
    assert stale.count("stale") >= 3
    copy = tmp_path / "variable_length.md"
    copy.write_text(stale, encoding="utf-8")
    assert update_page(copy) is True
    assert copy.read_text(encoding="utf-8") == original
    assert update_page(copy) is False


def test_recipes_index_lists_every_recipe_page():
    index = (DOCS / "recipes" / "index.md").read_text(encoding="utf-8")
    pages = sorted(p.name for p in (DOCS / "recipes").glob("*.md") if p.name != "index.md")
    missing = [name for name in pages if f"]({name})" not in index]
    assert not missing, f"docs/recipes/index.md does not list {missing}"
