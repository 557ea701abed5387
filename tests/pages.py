"""Helpers for the page tests: read code blocks from Markdown and built HTML."""

import ast
import gc
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXPECTED_OUTPUT_MARK = "pytest-codeblocks:expected-output"
STANDALONE_TITLE = "Run the recipe on its own"


@dataclass
class Block:
    lang: str
    title: str
    text: str
    expected_output: bool = False


class _BlockParser(HTMLParser):
    """Collects code blocks of a built page in document order.

    Material renders a fence as ``<div class="language-X highlight">`` with an
    optional ``<span class="filename">`` title and the code in ``<code>``. An
    ``expected-output`` HTML comment marks the next block as printed output.
    """

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.blocks = []
        self._lang = None
        self._title = None
        self._in_title = False
        self._code = None
        self._expect_next = False

    def handle_comment(self, data):
        if data.strip() == EXPECTED_OUTPUT_MARK:
            self._expect_next = True

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "div" and "highlight" in classes:
            langs = [c[len("language-"):] for c in classes if c.startswith("language-")]
            self._lang = langs[0] if langs else ""
            self._title = ""
        elif tag == "span" and "filename" in classes and self._lang is not None:
            self._in_title = True
        elif tag == "code" and self._lang is not None:
            self._code = []

    def handle_endtag(self, tag):
        if tag == "span" and self._in_title:
            self._in_title = False
        elif tag == "code" and self._code is not None:
            self.blocks.append(Block(self._lang, self._title, "".join(self._code), self._expect_next))
            self._expect_next = False
            self._code = None
            self._lang = None

    def handle_data(self, data):
        if self._in_title:
            self._title += data
        elif self._code is not None:
            self._code.append(data)


def html_blocks(html_path):
    parser = _BlockParser()
    parser.feed(Path(html_path).read_text(encoding="utf-8"))
    return parser.blocks


def built_page(site, md_relpath):
    """Path of the HTML page built from ``docs/<md_relpath>``."""
    stem = md_relpath[: -len(".md")]
    if stem == "index" or stem.endswith("/index"):
        return Path(site) / stem[: -len("index")] / "index.html"
    return Path(site) / stem / "index.html"


FENCE = re.compile(r"^(?P<indent> *)(?P<ticks>```+)(?P<info>[^\n`]*)$")


def fence_spans(lines):
    """(start line, end line, indent, info) of every fenced block; the body is start+1 .. end-1."""
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, ticks = i, m["ticks"]
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(ticks):
            i += 1
        out.append((start, i, len(m["indent"]), m["info"].strip()))
        i += 1
    return out


def markdown_fences(md_path):
    """(info string, body) of every fenced block in a Markdown file, in order."""
    lines = Path(md_path).read_text(encoding="utf-8").splitlines()
    return [(info, "\n".join(line[indent:] for line in lines[start + 1:end]))
            for start, end, indent, info in fence_spans(lines)]


def clean_env():
    """The environment of a reader's fresh shell: no test-runner paths."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "PYTHONPATH", "COV_"))}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


def run_python(args, cwd, stdin=None, timeout=600):
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, input=stdin, capture_output=True,
        text=True, timeout=timeout, env=clean_env(),
    )


def parse_python(source):
    """``ast.parse`` with the garbage collector paused while it runs.

    On Python 3.11 the counter that the AST builder uses to check its recursion
    is shared by every thread. A collection during a parse can finalize a
    TensorFlow iterator left by an earlier test, and deleting it releases the
    GIL; a TensorFlow thread that formats a Python exception meanwhile (for a
    ``py_func`` error: ``traceback`` parses each line to place its carets)
    resets the counter, and the parse fails with ``SystemError: AST constructor
    recursion depth mismatch``. Seen in 4 of 11 runs of the lifecycle page's
    tests, with the other thread caught in ``traceback.format_exception``.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(source)
    finally:
        if enabled:
            gc.enable()


def imported_top_level_modules(py_path):
    tree = parse_python(Path(py_path).read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names.add(".")
            else:
                names.add(node.module.split(".")[0])
    return names


WORKFLOW = ROOT / ".github" / "workflows" / "site.yml"
BUILD_STEP = "Build the site for Pages"


def workflow_build_step():
    """(command, variable names) of the step that builds the published site."""
    import yaml

    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    for job in workflow["jobs"].values():
        for step in job.get("steps", []):
            if step.get("name") == BUILD_STEP:
                return step["run"].strip(), sorted(step.get("env", {}))
    raise AssertionError(f"{WORKFLOW.name} has no step named {BUILD_STEP!r}")


def include_sections(module_text):
    """{section name: dedented text} of the ``# --8<-- [start:x]`` sections of a module."""
    import textwrap

    sections, current = {}, []
    for line in module_text.splitlines():
        m = re.match(r"^\s*# --8<-- \[(start|end):([\w-]+)\]\s*$", line)
        if m and m[1] == "start":
            current.append((m[2], []))
        elif m and m[1] == "end":
            name, body = current.pop()
            sections[name] = textwrap.dedent("\n".join(body))
        else:
            for _, body in current:
                body.append(line)
    return sections
