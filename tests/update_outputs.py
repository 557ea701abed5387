"""Rewrite the output blocks of every page from real runs.

    python3 tasks.py test --update-outputs   # this, then the whole test suite

For each page under ``docs/``:

* the console block titled "Run the recipe on its own" gets what
  ``python NAME.py`` prints when the recipe module is copied alone into an
  empty folder (as ``tests/test_pages.py`` runs it);
* every text block marked ``<!--pytest-codeblocks:expected-output-->`` gets
  what the Python blocks before it printed, when the page's Python blocks
  (included recipe code expanded) run in page order as one script from the
  repository root.

After a TensorFlow upgrade this is one command plus a reviewed ``git diff``.
It changes output blocks only, never code.
"""

import re
import shutil
import sys
import tempfile
from pathlib import Path

from tests.pages import DOCS, EXPECTED_OUTPUT_MARK, ROOT, STANDALONE_TITLE, fence_spans, include_sections, run_python

MARK = "\x1eGP-OUTPUT\x1e"
INCLUDE = re.compile(r'^--8<-- "(?P<path>[^":]+)(?::(?P<section>[\w-]+))?"$')


def expand_includes(body):
    parts = []
    for line in body.splitlines():
        m = INCLUDE.match(line.strip())
        if not m:
            continue
        text = (ROOT / m["path"]).read_text(encoding="utf-8")
        parts.append(include_sections(text)[m["section"]] if m["section"] else text)
    return "\n".join(parts)


def update_page(md_path):
    lines = md_path.read_text(encoding="utf-8").splitlines()
    blocks = fence_spans(lines)
    replacements = {}  # start line -> new body lines

    def body(start, end, indent):
        return "\n".join(line[indent:] for line in lines[start + 1:end])

    # Python blocks in page order, with a marker after each block whose output is shown.
    program, targets = [], []
    for n, (start, end, indent, info) in enumerate(blocks):
        if info == "python":
            program.append(body(start, end, indent))
            following = blocks[n + 1] if n + 1 < len(blocks) else None
            if following and EXPECTED_OUTPUT_MARK in "\n".join(lines[end + 1:following[0]]):
                program.append(f"import sys as _gp_sys\n_gp_sys.stdout.write({MARK!r} + '\\n')")
                targets.append(following)
        elif info.startswith("python"):
            program.append(expand_includes(body(start, end, indent)))
    if targets:
        with tempfile.TemporaryDirectory() as folder:
            script = Path(folder) / "pipeline.py"
            script.write_text("\n".join(program), encoding="utf-8")
            proc = run_python([str(script)], cwd=ROOT)
        if proc.returncode:
            raise SystemExit(f"{_shown(md_path)}: its blocks fail:\n{proc.stderr[-3000:]}")
        chunks = proc.stdout.split(MARK + "\n")[:-1]
        for (start, _end, indent, _), chunk in zip(targets, chunks):
            replacements[start] = [" " * indent + line for line in chunk.rstrip("\n").split("\n")]

    # The standalone run of the page's recipe module.
    for start, _end, indent, info in blocks:
        if info.startswith("console") and STANDALONE_TITLE in info:
            stem = md_path.stem
            # Folders mirror the site: docs/**/troubleshooting/x.md is recipes/troubleshooting/x.py.
            module = ROOT / "recipes" / md_path.parent.name / f"{stem}.py"
            if not module.is_file():
                module = ROOT / "recipes" / f"{stem}.py"
            with tempfile.TemporaryDirectory() as folder:
                shutil.copy(module, folder)
                proc = run_python([f"{stem}.py"], cwd=folder)
            if proc.returncode:
                raise SystemExit(f"{_shown(module)} fails on its own:\n{proc.stderr[-3000:]}")
            output = [f"$ python {stem}.py", *proc.stdout.rstrip("\n").split("\n")]
            replacements[start] = [" " * indent + line for line in output]

    new = []
    skip_to = -1
    for i, line in enumerate(lines):
        if i < skip_to:
            continue
        new.append(line)
        if i in replacements:
            end = next(e for s, e, _, _ in blocks if s == i)
            new.extend(replacements[i])
            skip_to = end
    text = "\n".join(new) + "\n"
    changed = text != md_path.read_text(encoding="utf-8")
    if changed:
        md_path.write_text(text, encoding="utf-8")
    return changed


def _shown(path):
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def main(argv):
    pages = [Path(a).resolve() for a in argv] or sorted(DOCS.rglob("*.md"))
    changed = []
    for page in pages:
        print(f"  {_shown(page)}", file=sys.stderr, flush=True)
        if update_page(page):
            changed.append(page)
    print(f"Updated output blocks in {len(changed)} of {len(pages)} pages"
          + "".join(f"\n  {_shown(p)}" for p in changed))


if __name__ == "__main__":
    main(sys.argv[1:])
