"""Tutorial notebooks: committed without outputs, executed at build, no log noise."""

import json
import re

import pytest

from tests.pages import DOCS

NOTEBOOKS = sorted((DOCS / "tutorials").glob("*.ipynb"))
NOISE = re.compile(r"oneDNN|absl::|cuda|cuInit|TF_ENABLE_ONEDNN_OPTS|Traceback", re.IGNORECASE)


def test_there_is_a_tutorial():
    assert NOTEBOOKS


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(notebook):
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, \
                "outputs come from executing the notebook at build time, never from the repository"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_executed_at_build_with_real_outputs_and_no_noise(notebook, built_site):
    page = built_site / "tutorials" / notebook.stem / "index.html"
    html = page.read_text(encoding="utf-8")
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    code_cells = sum(cell["cell_type"] == "code" for cell in nb["cells"])
    assert html.count("jp-OutputArea-output") >= code_cells - 2, "cells were not executed"
    assert "x naive" in html and "records/s" in html
    assert re.search(r'<img[^>]+src="data:image/png;base64,', html), "the chart was not drawn"
    assert not NOISE.search(re.sub(r"<[^>]+>", "", html)), NOISE.search(re.sub(r"<[^>]+>", "", html))
    assert (page.parent / notebook.name).is_file(), "the notebook is downloadable next to its page"
