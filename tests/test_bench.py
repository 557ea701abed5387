"""The benchmark command: structure of its results and exactly-once delivery.

No test here asserts a time or a speed: the machine is shared. The quick mode
runs for real, so every pattern is exercised and checked for delivering each
element exactly once.
"""

import ast
import importlib.util
import json
import re

import pytest

from benchmarks import measure, patterns
from benchmarks import report as bench_report
from tests.pages import DOCS, ROOT, run_python

RESULTS = DOCS / "assets" / "bench" / "results.json"
ROW_KEYS = {"workload", "pattern", "label", "recommended", "peer", "params", "elements_per_s",
            "ratio_to_naive", "ratio_to_limit", "elements_checked", "first_element_s", "repetitions"}


def check_report(report, mode, reps):
    assert report["mode"] == mode
    assert report["command"].startswith("python -m ")
    assert report["machine"]["cores"] >= 1 and report["machine"]["cpu_model"]
    assert {"tensorflow", "numpy", "torch", "grain"} <= set(report["versions"])
    assert report["parameters"]["max_shards"] == 16
    rows = report["results"]
    assert {r["workload"] for r in rows} == {"A", "B", "C", "D"}
    for row in rows:
        assert set(row) == ROW_KEYS, row
        assert row["repetitions"] == reps
        assert row["elements_per_s"] > 0
        assert row["ratio_to_limit"] > 0
        if row["pattern"] == "limit":
            assert row["ratio_to_naive"] is None and row["ratio_to_limit"] == 1.0
        else:
            assert row["ratio_to_naive"] > 0
            assert row["elements_checked"] >= reps * 40, "every pattern delivered and was checked"
    for w in "ABCD":
        names = [r["pattern"] for r in rows if r["workload"] == w]
        assert names[0] == "naive" and names[-1] == "limit"
        assert len(names) == len(set(names))
        assert sum(r["recommended"] for r in rows if r["workload"] == w) == 1
        naive = next(r for r in rows if r["workload"] == w and r["pattern"] == "naive")
        assert naive["ratio_to_naive"] == pytest.approx(1.0)
        own = [r["pattern"] for r in rows if r["workload"] == w and not r["peer"]][:-1]
        assert own == [p.name for p in patterns.patterns_for(w, quick=(mode == "quick"))]
    assert report["targets"] == bench_report.TARGETS
    assert report["target_results"] == bench_report.evaluate_targets(rows)
    assert {t["workload"] for t in report["target_results"]} == {"A", "B", "C", "D"}
    assert [r["workers"] for r in report["service"]] == [1, 2]
    for r in report["service"]:
        assert r["elements_per_s"] > 0 and r["in_process_elements_per_s"] > 0
        assert r["elements_checked"] >= 300 and r["ratio_to_in_process"] > 0
    installed = {k for k in ("torch", "grain") if report["versions"][k]}
    for s in report["skipped_peers"]:
        assert s["peer"] not in installed or s["workload"] == "D"
        assert s["reason"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    proc = run_python(["-m", "benchmarks", "--quick", "--json", str(out / "r.json"),
                       "--plot", str(out / "plots")], cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc, json.loads((out / "r.json").read_text()), out


def test_quick_mode_results_have_the_documented_structure(quick_run):
    _, report, _ = quick_run
    check_report(report, "quick", reps=3)
    assert report["command"].startswith("python -m benchmarks --quick")


def test_quick_mode_prints_a_table_and_says_which_peers_were_skipped(quick_run):
    proc, report, _ = quick_run
    assert proc.stdout.splitlines()[0].split() == ["class", "pattern", "elements/s", "x", "naive",
                                                   "x", "limit", "1st", "(s)"]
    for s in report["skipped_peers"]:
        assert f"skipped peer {s['peer']} for class {s['workload']}: {s['reason']}" in proc.stdout
    assert re.search(r"\] \d+/\d+ done", proc.stderr), "the progress bar reached the end"


def test_quick_mode_writes_one_chart_per_class(quick_run):
    *_, out = quick_run
    charts = sorted(p.name for p in (out / "plots").iterdir())
    assert charts == ["class_A.svg", "class_B.svg", "class_C.svg", "class_D.svg"]
    assert all((out / "plots" / c).read_text().lstrip().startswith("<?xml") for c in charts)


def test_committed_results_are_a_full_run_with_charts():
    report = json.loads(RESULTS.read_text())
    check_report(report, "full", reps=5)
    for w in "ABCD":
        assert (RESULTS.parent / f"class_{w}.svg").is_file()


def test_consume_rejects_a_missing_or_duplicated_element():
    assert measure.consume(iter([2, 0, 1]), 3)[0] >= 0
    with pytest.raises(AssertionError, match="each of 0..2 once"):
        measure.consume(iter([0, 1, 1]), 3)
    with pytest.raises(AssertionError, match="each of 0..2 once"):
        measure.consume(iter([0, 1]), 3)


def test_bad_arguments_are_rejected():
    proc = run_python(["-m", "benchmarks", "--only", "Z"], cwd=ROOT)
    assert proc.returncode == 2 and "unknown workload class ['Z']" in proc.stderr
    proc = run_python(["-m", "benchmarks", "--reps", "0"], cwd=ROOT)
    assert proc.returncode == 2 and "--reps must be at least 1" in proc.stderr


def test_performance_page_renders_every_section_and_table(built_site):
    html = (built_site / "reference" / "performance" / "index.html").read_text()
    for anchor in ("class-a-latency-bound", "class-b-pure-python-cpu-bound", "class-c-numpy-heavy",
                   "class-d-tf-op-bound", "tfdata-service", "targets"):
        assert re.search(rf'<h2 id="{anchor}"', html), f"section {anchor} is not a heading"
    assert html.count("<table>") == 7, "machine, targets, four classes and the service table"
    assert "[[bench:" not in html and "::: bench" not in html
    for w in "ABCD":
        assert f'src="../../assets/bench/class_{w}.svg"' in html


def test_replot_redraws_charts_from_a_results_file(tmp_path):
    proc = run_python(["-m", "benchmarks", "--replot", str(RESULTS), "--plot", str(tmp_path)], cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"class_{w}.svg" for w in "ABCD"]
    proc = run_python(["-m", "benchmarks", "--replot", str(RESULTS)], cwd=ROOT)
    assert proc.returncode == 2 and "--replot needs --plot DIR" in proc.stderr


def _hook():
    spec = importlib.util.spec_from_file_location("bench_tables", DOCS / "_hooks" / "bench_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hook_leaves_pages_without_directives_alone_and_does_not_read_the_results():
    hook = _hook()

    def loader():
        raise AssertionError("results read for a page that does not use them")
    page = "# Title\n\n::: recipes.process_pool\n\nText [[other]] and `bench` here.\n"
    assert hook.render(page, loader) == page


def test_hook_renders_targets_from_the_results_file():
    hook = _hook()
    report = json.loads(RESULTS.read_text())
    out = hook.render("::: bench-targets\n", lambda: report)
    lines = out.splitlines()
    assert len(lines) == 2 + len(report["target_results"])
    first = report["target_results"][0]
    assert lines[2].startswith(f"| {first['workload']} | {first['text']}")


@pytest.mark.parametrize("text, message", [
    ("::: bench-tables A\n", "unknown benchmark directive '::: bench-tables A'"),
    ("::: bench-table a\n", "unknown benchmark directive"),
    ("see [[bench:A:naive:elements]]", "unknown benchmark figure '[[bench:A:naive:elements]]'"),
    ("see [[bench:A:naive]]", "unknown benchmark figure"),
    ("see [[bench:A:no_such_pattern:elements_per_s]]", "no benchmark row for class A, pattern 'no_such_pattern'"),
])
def test_hook_fails_on_an_unknown_directive_or_field(text, message):
    hook = _hook()
    report = json.loads(RESULTS.read_text())
    with pytest.raises(hook.BenchDirectiveError, match=re.escape(message)):
        hook.render(text, lambda: report)


def _package_imports(path):
    """Top-level (module-level) imports of one benchmarks module."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_benchmark_package_has_no_import_cycle_and_no_tensorflow_at_module_level():
    folder = ROOT / "benchmarks"
    modules = {p.stem: p for p in folder.glob("*.py") if p.stem != "__init__"}
    graph = {m: {n.split(".")[1] for n in _package_imports(p)
                 if n.startswith("benchmarks.") and n.split(".")[1] in modules and n.split(".")[1] != m}
             for m, p in modules.items()}
    order, todo = [], dict(graph)
    while todo:  # Kahn: a cycle leaves modules with unmet imports
        ready = [m for m, deps in todo.items() if deps <= set(order)]
        assert ready, f"import cycle among {sorted(todo)}"
        order += sorted(ready)
        for m in ready:
            del todo[m]
    for p in [folder / "__init__.py", *modules.values()]:
        imported = {n.split(".")[0] for n in _package_imports(p)}
        assert not imported & {"tensorflow", "torch", "grain", "matplotlib"}, p.name
    proc = run_python(["-c", "import sys, benchmarks.peers, benchmarks.measure, benchmarks.report;"
                       "print(sorted(m for m in ('tensorflow', 'torch', 'grain', 'matplotlib')"
                       " if m in sys.modules))"], cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[]\n"
