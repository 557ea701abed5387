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
ROW_KEYS = {"workload", "pattern", "label", "recommended", "peer", "params", "size", "element_bytes",
            "elements_per_s", "mb_per_s", "elements_per_s_min", "elements_per_s_max", "spread", "noisy",
            "ratio_to_naive", "ratio_to_limit", "elements_checked", "first_element_s", "startup_s", "repetitions"}
CLASSES = "ABCDE"


def _groups(rows):
    """(class, size) -> its rows, in order: classes A to D have one group, E one per size."""
    out = {}
    for r in rows:
        out.setdefault((r["workload"], r["size"]), []).append(r)
    return out


def check_report(report, mode, reps):
    assert report["mode"] == mode
    assert report["command"].startswith("python -m benchmarks")
    assert report["machine"]["cores"] >= 1 and report["machine"]["cpu_model"]
    assert report["machine"]["memory_copy_bytes_per_s"] > 0
    assert {"tensorflow", "numpy", "torch", "grain", "keras"} <= set(report["versions"])
    assert report["parameters"]["max_shards"] == 16 and report["parameters"]["batch_size"] == 32
    sizes = report["parameters"]["sizes"]
    assert [s["element_bytes"] for s in sizes.values()] == [8, 150_528, 602_112, 2_408_448]
    rows = report["results"]
    assert {r["workload"] for r in rows} == set(CLASSES)
    for row in rows:
        assert set(row) == ROW_KEYS, row
        e = row["workload"] == "E"
        assert row["repetitions"] == (min(reps, measure.E_MAX_REPS) if e else reps)
        assert row["element_bytes"] == (sizes[row["size"]]["element_bytes"] if e else 8)
        assert (row["size"] in sizes) if e else row["size"] is None
        assert row["elements_per_s"] > 0 and row["ratio_to_limit"] > 0
        assert row["mb_per_s"] == pytest.approx(row["elements_per_s"] * row["element_bytes"] / 1e6)
        assert row["elements_per_s_min"] <= row["elements_per_s"] <= row["elements_per_s_max"]
        assert row["spread"] == pytest.approx(
            (row["elements_per_s_max"] - row["elements_per_s_min"]) / row["elements_per_s"])
        assert row["noisy"] == (row["spread"] > measure.NOISY)
        if row["pattern"].startswith("limit"):
            assert row["ratio_to_naive"] is None and row["ratio_to_limit"] == 1.0
        else:
            assert row["ratio_to_naive"] > 0
            assert row["elements_checked"] >= row["repetitions"] * 40, "every pattern delivered and was checked"
        if row["pattern"].startswith("process_pool"):
            assert row["startup_s"] > 0, "the recipe's worker start-up is reported apart"
    expected_sizes = patterns.sizes_for(quick=(mode == "quick"))
    assert [size for (w, size) in _groups(rows) if w == "E"] == expected_sizes
    for (w, size), group in _groups(rows).items():
        names = [r["pattern"] for r in group]
        suffix = f"_{size}" if size else ""
        assert names[0] == "naive" + suffix and names[-1] == "limit" + suffix
        assert len(names) == len(set(names))
        assert sum(r["recommended"] for r in group) == 1
        assert group[0]["ratio_to_naive"] == pytest.approx(1.0)
        own = [r["pattern"] for r in group if not r["peer"]][:-1]
        expected = [p.name for p in patterns.patterns_for(w, quick=(mode == "quick")) if p.size == size]
        assert own == expected
    assert report["targets"] == bench_report.TARGETS
    assert report["target_results"] == bench_report.evaluate_targets(rows)
    assert {(t["workload"], t["size"]) for t in report["target_results"]} == set(_groups(rows))
    assert [r["workers"] for r in report["service"]] == [1, 2]
    for r in report["service"]:
        assert r["elements_per_s"] > 0 and r["in_process_elements_per_s"] > 0
        assert r["elements_checked"] >= 300 and r["ratio_to_in_process"] > 0
    installed = {k for k in ("torch", "grain", "keras") if report["versions"][k]}
    if mode == "full":  # the committed results; CI's quick run has only what requirements.txt installs
        assert installed == {"torch", "grain", "keras"}, "the full set of peers was measured"
    else:
        import importlib.util
        assert installed == {k for k in ("torch", "grain", "keras") if importlib.util.find_spec(k)}
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
    check_report(report, "quick", reps=1)
    assert report["command"].startswith("python -m benchmarks --quick")


def test_quick_mode_prints_a_table_and_says_which_peers_were_skipped(quick_run):
    proc, report, _ = quick_run
    assert proc.stdout.splitlines()[0].split() == ["class", "pattern", "elements/s", "MB/s", "x", "naive",
                                                   "x", "limit", "spread", "1st", "(s)"]
    for s in report["skipped_peers"]:
        assert f"skipped peer {s['peer']} for class {s['workload']}: {s['reason']}" in proc.stdout
    assert re.search(r"\] \d+/\d+ done", proc.stderr), "the progress bar reached the end"


def test_quick_mode_writes_one_chart_per_class(quick_run):
    *_, out = quick_run
    charts = sorted(p.name for p in (out / "plots").iterdir())
    assert charts == [f"class_{w}.svg" for w in CLASSES]
    assert all((out / "plots" / c).read_text().lstrip().startswith("<?xml") for c in charts)


def test_committed_results_are_a_full_run_with_charts():
    report = json.loads(RESULTS.read_text())
    check_report(report, "full", reps=4)
    for w in CLASSES:
        assert (RESULTS.parent / f"class_{w}.svg").is_file()


def test_consume_reads_indices_from_batches_of_any_element_size_and_skips_the_warm_up():
    import numpy as np

    from benchmarks.workloads import SIZES, indices_of, work_e
    for size in SIZES:
        batch = np.stack([np.asarray(work_e(size, i)) for i in (5, 3, 9)])
        assert indices_of(batch).tolist() == [5, 3, 9]
    batches = [np.arange(k, min(k + 32, 1000)) for k in range(0, 1000, 32)]
    steady, first, skipped = measure.consume(iter(batches), 1000)
    assert skipped == measure.WARMUP_BATCHES * 32 and steady >= 0 and first >= 0
    assert measure.consume(iter(batches[:2] + [np.arange(64, 70)]), 70)[2] == 32, "at most half the run"


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
                   "class-d-tf-op-bound", "class-e-array-results", "tfdata-service", "targets"):
        assert re.search(rf'<h2 id="{anchor}"', html), f"section {anchor} is not a heading"
    assert html.count("<table>") == 9, "machine, targets, five classes, the size grid and the service table"
    assert "[[bench:" not in html and "::: bench" not in html
    for w in CLASSES:
        assert f'src="../../assets/bench/class_{w}.svg"' in html


def test_replot_redraws_charts_from_a_results_file(tmp_path):
    proc = run_python(["-m", "benchmarks", "--replot", str(RESULTS), "--plot", str(tmp_path)], cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"class_{w}.svg" for w in CLASSES]
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


def test_hook_renders_the_size_grid_and_rows_without_the_newer_fields():
    hook = _hook()
    report = json.loads(RESULTS.read_text())
    grid = hook.render("::: bench-sizes\n", lambda: report).splitlines()
    sizes = [k for k in report["parameters"]["sizes"] if any(r["size"] == k for r in report["results"])]
    assert len(grid[0].split("|")) - 3 == len(sizes)
    recipe = next(line for line in grid if "process pool" in line)
    rows = {r["size"]: r for r in report["results"] if r["pattern"].startswith("process_pool_")}
    for size in sizes:
        assert f"{rows[size]['elements_per_s']:,.0f}/s" in recipe
    old = {**report, "results": [{k: v for k, v in r.items() if k not in ("spread", "noisy", "mb_per_s", "size")}
                                 for r in report["results"] if r["workload"] == "A"]}
    table = hook.render("::: bench-table A\n", lambda: old)
    body = table.splitlines()[2:]
    assert len(body) == len(old["results"])
    assert all(line.endswith("| n/a |") for line in body), "no spread in an older file: n/a, not a failure"
