"""MkDocs hook: render the API reference of ``recipes`` from its source.

A line ``::: recipes.NAME`` in a page becomes the module docstring and every
public top-level function with its signature and docstring. The source is read
with ``ast``, so building the site never imports TensorFlow, and the reference
cannot drift from the code: there is no second copy.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIRECTIVE = re.compile(r"^::: recipes\.(\w+)[ \t]*$", re.MULTILINE)


def _prose(docstring):
    # The recipes use reStructuredText-style ``literals``; Markdown wants `one`.
    return re.sub(r"``([^`]+)``", r"`\1`", docstring or "").strip()


def render_module(name):
    path = ROOT / "recipes" / f"{name}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = [f"## `recipes.{name}`", "", _prose(ast.get_docstring(tree)), ""]
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_") and node.name != "main":
            signature = f"{node.name}({ast.unparse(node.args)})"
            out += [
                f"### `{name}.{node.name}` {{ #{name}.{node.name} }}",
                "",
                f"```text\n{signature}\n```",
                "",
                _prose(ast.get_docstring(node)) or "*(no docstring)*",
                "",
            ]
    return "\n".join(out)


def on_page_markdown(markdown, page, config, files):
    return DIRECTIVE.sub(lambda m: render_module(m.group(1)), markdown)
