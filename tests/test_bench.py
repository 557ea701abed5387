"""The benchmark command: structure, statistics, provenance and the claims its results carry.

No test here asserts a time or a speed: the machine is shared. A tiny smoke run
(two classes, one element size, a few patterns) exercises the command end to
end, every run checked for delivering each element exactly once. The committed
results are checked against the committed code (the provenance hash), and, when
they are a full run, against their own claims: no row above its limit beyond
its interval, targets met only outside the noise, recommendations that follow
the data.
"""

import ast
import copy
import importlib.util
import json
import re
import statistics

import pytest

from benchmarks import measure, patterns, provenance, stats
from benchmarks import report as bench_report
from tests.pages import DOCS, ROOT, parse_python, run_python

RESULTS = DOCS / "assets" / "bench" / "results.json"
ROW_KEYS = {"workload", "pattern", "label", "recommended", "candidate", "peer", "params", "size", "workers",
            "element_bytes", "elements_per_s", "elements_per_s_low", "elements_per_s_high", "half_width", "wide",
            "mb_per_s", "ratio_to_naive", "ratio_to_naive_low", "ratio_to_naive_high", "ratio_to_limit",
            "ratio_to_limit_low", "ratio_to_limit_high", "ratio_to_best_peer", "ratio_to_best_peer_low",
            "ratio_to_best_peer_high", "best_peer", "rates", "repetitions", "remeasured", "elements_checked",
            "batches_timed_min", "seconds_timed_min", "first_element_s", "end_s", "end_s_max", "startup_s",
            "consumer_cpu_us"}
CLASSES = "ABCDE"
SMOKE = ["-m", "benchmarks", "--quick", "--only", "B,E", "--sizes", "8B", "--patterns", "process_pool,keras",
         "--no-service"]


def _groups(rows):
    """(class, size, workers) -> its rows, in order."""
    out = {}
    for r in rows:
        out.setdefault((r["workload"], r["size"], r["workers"]), []).append(r)
    return out


def check_report(report, mode):
    """Structure and internal consistency of a results file (any run)."""
    assert report["mode"] == mode
    assert report["command"].startswith("python -m benchmarks")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", report["date"])
    assert re.fullmatch(r"[0-9a-f]{64}", report["provenance"]["sha256"])
    assert "benchmarks/measure.py" in report["provenance"]["files"]
    assert "recipes/process_pool.py" in report["provenance"]["files"]
    assert report["machine"]["cores"] >= 1 and report["machine"]["cpu_model"]
    assert {"tensorflow", "numpy", "scipy", "torch", "grain", "keras"} <= set(report["versions"])
    disc = report["discipline"]
    assert disc == vars(measure.QUICK if mode == "quick" else measure.FULL) | {"reps": disc["reps"]}
    assert report["parameters"]["batch_size"] == 32
    rows = report["results"]
    for row in rows:
        assert set(row) == ROW_KEYS, set(row) ^ ROW_KEYS
        limit = row["pattern"].startswith("limit")
        assert row["repetitions"] == len(row["rates"]) >= disc["reps"]
        assert row["remeasured"] == row["repetitions"] - disc["reps"]
        assert (row["size"] in report["parameters"]["sizes"]) if row["workload"] == "E" else row["size"] is None
        assert row["elements_per_s"] == pytest.approx(statistics.median(row["rates"]))
        assert row["elements_per_s_low"] <= row["elements_per_s"] <= row["elements_per_s_high"]
        assert row["wide"] == stats.is_wide(row["elements_per_s"], row["elements_per_s_low"],
                                            row["elements_per_s_high"])
        assert row["mb_per_s"] == pytest.approx(row["elements_per_s"] * row["element_bytes"] / 1e6)
        if limit:
            assert row["ratio_to_naive"] is None and row["ratio_to_limit"] == 1.0
            assert row["elements_checked"] == 0
        else:
            assert row["ratio_to_limit_low"] <= row["ratio_to_limit"] <= row["ratio_to_limit_high"]
            assert row["elements_checked"] >= row["repetitions"] * 32, "every run delivered and was checked"
            assert row["batches_timed_min"] >= disc["min_batches"] or row["elements_checked"] >= disc["max_n"]
            assert row["seconds_timed_min"] > 0
        if row["pattern"].startswith("process_pool") and not limit:
            assert row["startup_s"] > 0, "the recipe's worker start-up is reported apart"
    for (_, size, _), group in _groups(rows).items():
        names = [r["pattern"] for r in group]
        suffix = f"_{size}" if size else ""
        assert names[0] == "naive" + suffix and names[-1] == "limit" + suffix
        assert len(names) == len(set(names))
        assert sum(r["recommended"] for r in group) == 1
        assert group[0]["ratio_to_naive"] == pytest.approx(1.0)
        peers = [r for r in group if r["peer"]]
        for r in group[:-1]:
            if peers and not r["peer"]:
                best = max(peers, key=lambda p: p["elements_per_s"])
                assert r["best_peer"] == best["pattern"]
            else:
                assert r["best_peer"] is None and r["ratio_to_best_peer"] is None
    assert report["targets"] == bench_report.TARGETS
    assert report["target_results"] == bench_report.evaluate_targets(rows)
    assert report["recommendations"] == bench_report.evaluate_recommendations(rows)
    for r in report["service"]:
        assert r["elements_per_s"] > 0 and r["in_process_elements_per_s"] > 0 and r["ratio_to_in_process"] > 0
    for part in report["breakdown"]:
        assert part["size"] in report["parameters"]["sizes"]
        assert part["cpu_per_element"] == pytest.approx(part["work"] + part["ring_write"] + part["consumer_cpu"])
    installed = {k for k in ("torch", "grain", "keras") if report["versions"][k]}
    for s in report["skipped_peers"]:
        assert s["peer"] not in installed or s["workload"] == "D"
        assert s["reason"]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    pytest.importorskip("scipy", reason="the benchmark's intervals need scipy (requirements-bench.txt)")
    out = tmp_path_factory.mktemp("bench")
    proc = run_python([*SMOKE, "--json", str(out / "r.json"), "--plot", str(out / "plots")], cwd=ROOT,
                      timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc, json.loads((out / "r.json").read_text()), out


def test_smoke_run_results_have_the_documented_structure(smoke_run):
    _, report, _ = smoke_run
    check_report(report, "quick")
    assert report["command"].startswith("python -m benchmarks " + " ".join(SMOKE[2:]) + " --json ")
    assert {(r["workload"], r["size"]) for r in report["results"]} == {("B", None), ("E", "8B")}
    b = [r["pattern"] for r in report["results"] if r["workload"] == "B"]
    assert b[:3] == ["naive", "process_pool_chunk1", "process_pool_chunk32"] and b[-1] == "limit"
    assert [p["size"] for p in report["breakdown"]] == ["8B"]
    assert report["provenance"]["sha256"] == provenance.code_hash()["sha256"]


def test_smoke_run_prints_progress_a_table_and_the_skipped_peers(smoke_run):
    proc, report, _ = smoke_run
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:4] == ["class", "pattern", "elements/s", "95%"]
    for s in report["skipped_peers"]:
        assert f"skipped peer {s['peer']} for class {s['workload']}: {s['reason']}" in proc.stdout
    steps = re.findall(r"^\[\s*(\d+)/(\d+)\]\s+\d+ s  ", proc.stderr, re.MULTILINE)
    assert steps and steps[-1][0] == steps[-1][1], "one progress line per measured run, up to the last"


def test_smoke_run_writes_one_chart_per_class(smoke_run):
    *_, out = smoke_run
    charts = sorted(p.name for p in (out / "plots").iterdir())
    assert charts == ["class_B.svg", "class_E.svg"]
    assert all((out / "plots" / c).read_text().lstrip().startswith("<?xml") for c in charts)


def test_committed_results_were_made_by_the_committed_code():
    report = json.loads(RESULTS.read_text())
    now = provenance.code_hash()
    changed = sorted(set(now["files"].items()) ^ set(report["provenance"]["files"].items()))
    assert not changed, (f"results.json was made by other code than is committed ({sorted({f for f, _ in changed})}"
                         "): run python -m benchmarks --json docs/assets/bench/results.json --plot docs/assets/bench")
    assert report["provenance"]["sha256"] == now["sha256"]


def test_provenance_hash_changes_with_any_measured_file(tmp_path):
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "recipes").mkdir()
    (tmp_path / "benchmarks" / "a.py").write_text("x = 1\n")
    (tmp_path / "recipes" / "process_pool.py").write_text("y = 1\n")
    (tmp_path / "recipes" / "other.py").write_text("not measured\n")
    first = provenance.code_hash(tmp_path)
    assert sorted(first["files"]) == ["benchmarks/a.py", "recipes/process_pool.py"]
    (tmp_path / "recipes" / "other.py").write_text("changed, still not measured\n")
    assert provenance.code_hash(tmp_path) == first
    (tmp_path / "recipes" / "process_pool.py").write_text("y = 2\n")
    assert provenance.code_hash(tmp_path)["sha256"] != first["sha256"]


def test_committed_results_are_consistent_and_have_charts():
    report = json.loads(RESULTS.read_text())
    check_report(report, report["mode"])
    assert {r["workload"] for r in report["results"]} == set(CLASSES)
    assert [s for (w, s, k) in _groups(report["results"]) if w == "E" and k is None] == \
        patterns.sizes_for(quick=report["mode"] == "quick")
    for w in CLASSES:
        assert (RESULTS.parent / f"class_{w}.svg").is_file()
    if report["mode"] == "full":
        args = report["command"].split()[3:]
        assert not {"--quick", "--only", "--sizes", "--patterns", "--no-service", "--no-breakdown"} & set(args), \
            "a full run measures every class, size and pattern"
        assert "--json" in args and "--plot" in args
        assert {k for k in ("torch", "grain", "keras") if report["versions"][k]} == {"torch", "grain", "keras"}
        assert not report["provenance"]["dirty"], "a full run publishes only committed code"
        assert [r["workers"] for r in report["service"]] == [1, 2]
        assert [p["size"] for p in report["breakdown"]] == list(report["parameters"]["sizes"])
        assert any(r["workers"] for r in report["results"]), "the scaling run is part of the full run"


def _full_or_skip():
    report = json.loads(RESULTS.read_text())
    if report["mode"] != "full":
        pytest.skip("the committed results are a quick smoke run: the claims below are checked on a full run")
    return report


def test_committed_rows_stay_below_their_limits():
    report = _full_or_skip()
    over = {(r["workload"], r["size"], r["workers"], r["pattern"]) for r in report["results"]
            if r["ratio_to_limit_low"] is not None and r["ratio_to_limit_low"] > 1.0}
    assert len(over) == len(bench_report.limit_violations(report["results"]))
    stated = set(_hook().LIMIT_REASONS)
    assert not over - stated, f"rows above their limit beyond the interval, with no stated reason: {over - stated}"
    assert not stated - over, f"a stated reason for a row no longer above its limit (remove it): {stated - over}"


def test_committed_targets_are_met_only_outside_the_noise():
    report = _full_or_skip()
    rows = {(r["workload"], r["size"], r["pattern"]): r for r in report["results"] if r["workers"] is None}
    for t in report["target_results"]:
        if t["met"]:
            assert t["low"] >= t["minimum"], t
        if t["met"] is False:
            assert t["high"] < t["minimum"], t
    for t in report["target_results"]:
        if t["target"].startswith("recommended") and t["measured"] is not None:
            rec = next(r for (w, s, _), r in rows.items() if w == t["workload"] and s == t["size"]
                       and r["recommended"])
            assert not (rec["wide"] and t["met"] is not None), "a wide row is never used for a target"


@pytest.mark.xfail(strict=True, reason=(
    "known gap (issue 19 open): in the full run of 2026-12-06 04:18 on the 2-core machine, 54 of 75 rows were "
    "wider than +-10 % (the machine ran 20-35 % slower and noisier than in the run before, and the run was "
    "behind its time budget, so no wide row was measured again), including the recommended patterns of "
    "classes B, D and E: the data do not support those recommendations; strict, so this fails once a run "
    "supports them"))
def test_committed_recommendations_follow_the_data():
    report = _full_or_skip()
    reasons = _hook().REASONS
    wrong = [r for r in report["recommendations"] if not r["follows_data"] and (
        r["recommended_wide"] or any((r["workload"], r["size"], p) not in reasons
                                     for p in r["faster_beyond_interval"]))]
    assert not wrong, f"recommended patterns that the data does not support (and no stated reason): {wrong}"
    assert sum(r["wide"] for r in report["results"]) <= 0.1 * len(report["results"]), \
        "at least 90 % of rows within ±10 %"


def _row(pattern, rate, low, high, **extra):
    base = {"workload": "B", "size": None, "workers": None, "pattern": pattern, "label": pattern,
            "recommended": False, "candidate": True, "peer": False, "params": {}, "best_peer": None,
            "elements_per_s": rate, "elements_per_s_low": low, "elements_per_s_high": high,
            "wide": stats.is_wide(rate, low, high), "ratio_to_limit": 0.5, "ratio_to_limit_low": 0.45,
            "ratio_to_limit_high": 0.55, "ratio_to_naive": 1.0, "ratio_to_best_peer": None,
            "ratio_to_best_peer_low": None, "ratio_to_best_peer_high": None}
    return {**base, **extra}


def test_recommendation_check_catches_a_faster_candidate_and_ignores_noise():
    rows = [_row("naive", 100, 98, 102, candidate=False), _row("rec", 300, 290, 310, recommended=True),
            _row("other", 305, 295, 315), _row("limit", 600, 590, 610, candidate=False)]
    assert bench_report.evaluate_recommendations(rows)[0]["follows_data"]
    faster = copy.deepcopy(rows)
    faster[2].update(elements_per_s=400, elements_per_s_low=390, elements_per_s_high=410)
    verdict = bench_report.evaluate_recommendations(faster)[0]
    assert not verdict["follows_data"] and verdict["faster_beyond_interval"] == ["other"]
    noisy = copy.deepcopy(faster)
    noisy[2].update(elements_per_s_low=100, wide=True)  # a wide row is never used
    assert bench_report.evaluate_recommendations(noisy)[0]["follows_data"]
    wide_rec = copy.deepcopy(rows)
    wide_rec[1].update(elements_per_s_low=100, wide=True)
    assert not bench_report.evaluate_recommendations(wide_rec)[0]["follows_data"]


def test_target_verdicts_need_the_whole_interval():
    row = _row("rec", 300, 290, 310)
    assert bench_report.verdict(row, "ratio_to_limit", 0.4) == (True, "met")
    assert bench_report.verdict(row, "ratio_to_limit", 0.5) == (None, "inside the noise")
    assert bench_report.verdict(row, "ratio_to_limit", 0.6) == (False, "not met")
    assert bench_report.verdict({**row, "wide": True}, "ratio_to_limit", 0.4)[0] is None


def test_limit_check_catches_a_row_above_its_limit_beyond_its_interval():
    rows = [_row("ok", 1, 1, 1, ratio_to_limit=1.05, ratio_to_limit_low=0.98),
            _row("over", 1, 1, 1, ratio_to_limit=1.2, ratio_to_limit_low=1.1)]
    assert bench_report.limit_violations(rows) == ["over"]


def test_intervals_are_scipy_bootstrap_intervals_of_the_median():
    scipy_stats = pytest.importorskip("scipy.stats")
    import numpy as np
    values = [100.0, 104.0, 97.0, 101.0, 99.0, 103.0, 98.0]
    median, low, high = stats.interval(values)
    assert median == 100.0 and 97.0 <= low <= median <= high <= 104.0
    again = scipy_stats.bootstrap((np.array(values),), np.median, confidence_level=0.95, method="percentile",
                                  n_resamples=stats.RESAMPLES, rng=np.random.default_rng(stats.SEED))
    assert (low, high) == pytest.approx((again.confidence_interval.low, again.confidence_interval.high))
    assert stats.interval([5.0]) == (5.0, None, None) and stats.interval([2.0, 2.0]) == (2.0, 2.0, 2.0)
    assert not stats.is_wide(median, low, high)
    assert stats.is_wide(100, 85, 105) and stats.is_wide(100, None, None)


def test_consume_reads_indices_from_batches_of_any_element_size_and_skips_the_warm_up():
    import numpy as np

    from benchmarks.workloads import SIZES, indices_of, work_e
    for size in SIZES:
        batch = np.stack([np.asarray(work_e(size, i)) for i in (5, 3, 9)])
        assert indices_of(batch).tolist() == [5, 3, 9]
    batches = [np.arange(k, min(k + 32, 1000)) for k in range(0, 1000, 32)]
    steady, first, skipped, timed, cpu, end, rate = measure.consume(iter(batches), 1000, warmup_batches=8)
    assert skipped == 8 * 32 and timed == len(batches) - 8 and min(steady, first, cpu, end, rate) >= 0
    assert measure.consume(iter(batches[:2] + [np.arange(64, 70)]), 70)[2:4] == (32, 2), "at most half the run"


def test_consume_stops_the_clock_at_the_last_batch_and_times_the_end_apart():
    import time

    import numpy as np

    def slow_to_end():
        yield from (np.arange(k, k + 32) for k in range(0, 320, 32))
        time.sleep(0.3)  # as an iterator's deletion can wait after its last batch

    start = time.perf_counter()
    steady, first, skipped, timed, cpu, end, rate = measure.consume(slow_to_end(), 320, warmup_batches=2)
    elapsed = time.perf_counter() - start
    assert (skipped, timed) == (64, 8)
    assert end >= 0.3 and steady + end <= elapsed, "the wait after the last batch is not throughput"


def test_the_steady_rate_is_not_fooled_by_batches_made_ahead():
    """16 DataLoader workers keep 32 batches ready; the warm-up skips 8, so 24 arrive at once after the clock
    starts. Elements over elapsed time counted them as made in no time (1.3x here); the Theil-Sen slope
    reads the steady rate."""
    burst = [i * 1e-5 for i in range(25)]  # the last warm-up batch, then 24 made ahead
    steady = [burst[-1] + 0.01 * k for k in range(1, 77)]  # then one batch of 32 per 10 ms: 3,200/s
    times = burst + steady
    sizes = [32] * (len(times) - 1)
    assert measure.steady_rate(times, sizes) == pytest.approx(3_200, rel=0.05)
    assert 32 * len(sizes) / (times[-1] - times[0]) > 1.25 * 3_200  # what the old rate read
    assert measure.steady_rate([0.0, 0.01], [32]) == pytest.approx(3_200)  # too few points: elements / time


def test_consume_rejects_a_missing_or_duplicated_element():
    assert measure.consume(iter([2, 0, 1]), 3)[0] >= 0
    with pytest.raises(AssertionError, match="each of 0..2 once"):
        measure.consume(iter([0, 1, 1]), 3)
    with pytest.raises(AssertionError, match="each of 0..2 once"):
        measure.consume(iter([0, 1]), 3)


def test_bad_arguments_are_rejected():
    for args, message in [(["--only", "Z"], "unknown workload class ['Z']"),
                          (["--reps", "0"], "--reps must be at least 1"),
                          (["--sizes", "3MB"], "unknown element size ['3MB']"),
                          (["--scaling", "A"], "--scaling takes classes whose recipe has worker processes")]:
        proc = run_python(["-m", "benchmarks", *args], cwd=ROOT)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_performance_page_renders_every_section_and_table(built_site):
    report = json.loads(RESULTS.read_text())
    html = (built_site / "reference" / "performance" / "index.html").read_text()
    for anchor in ("class-a-latency-bound", "class-b-pure-python-cpu-bound", "class-c-numpy-heavy",
                   "class-d-tf-op-bound", "class-e-array-results", "tfdata-service", "targets",
                   "recommendations", "peers", "class-e-breakdown", "scaling"):
        assert re.search(rf'<h[23] id="{anchor}"', html), f"section {anchor} is not a heading"
    scaling = any(r["workers"] for r in report["results"])
    over = any(r["ratio_to_limit_low"] is not None and r["ratio_to_limit_low"] > 1 for r in report["results"])
    assert html.count("<table>") == 12 + scaling + over, (
        "machine, targets, recommendations, peers, five classes, the size grid, the breakdown, the service "
        "(and scaling, and the rows above their limits)")
    assert ("No row is above its limit beyond its interval." in html) == (not over)
    for reason in _hook().LIMIT_REASONS.values():
        assert reason.split("`")[0][:40] in html
    assert "[[bench:" not in html and "::: bench" not in html
    assert report["provenance"]["sha256"][:16] in html and report["date"] in html
    assert ("Smoke run, not a measurement" in html) == (report["mode"] != "full")
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


def test_hook_banner_says_when_the_published_run_is_a_smoke_run():
    hook = _hook()
    report = json.loads(RESULTS.read_text())
    quick = {**report, "mode": "quick", "provenance": {**report["provenance"], "dirty": []}}
    full = {**report, "mode": "full", "provenance": {**report["provenance"], "dirty": []}}
    assert "smoke run" in hook.render("::: bench-banner\n", lambda: quick)
    assert hook.render("::: bench-banner\n", lambda: full).strip() == ""
    dirty = {**full, "provenance": {**report["provenance"], "dirty": ["recipes/process_pool.py"]}}
    assert "uncommitted changes to: `recipes/process_pool.py`" in hook.render("::: bench-banner\n", lambda: dirty)


def test_hook_greys_wide_rows_and_shows_intervals():
    hook = _hook()
    report = json.loads(RESULTS.read_text())
    rows = [r for r in report["results"] if r["workload"] == "B" and r["workers"] is None]
    for wide in (False, True):
        changed = copy.deepcopy(report)
        for r in changed["results"]:
            if r["workload"] == "B":
                r["wide"] = wide
        lines = hook.render("::: bench-table B\n", lambda c=changed: c).splitlines()[2:2 + len(rows)]
        assert len(lines) == len(rows)
        for line, r in zip(lines, rows):
            assert ("bench-wide" in line and "wide interval" in line) == wide
            assert hook.interval(r, "elements_per_s") in line
        figure = hook.render("[[bench:B:naive:elements_per_s]]", lambda c=changed: c)
        assert ("bench-wide" in figure) == wide


def test_hook_renders_targets_recommendations_and_peer_settings():
    hook = _hook()
    report = json.loads(RESULTS.read_text())
    out = hook.render("::: bench-targets\n", lambda: report).splitlines()
    assert len(out) == 2 + len(report["target_results"])
    first = report["target_results"][0]
    assert out[2].startswith(f"| {first['workload']} | {first['text']}") and out[2].endswith(f"| {first['verdict']} |")
    recs = hook.render("::: bench-recommendations\n", lambda: report).splitlines()
    assert len(recs) == 2 + len(report["recommendations"])
    settings = hook.render("::: bench-peers\n", lambda: report)
    for r in report["results"]:
        if r["peer"]:
            assert r["label"] in settings
            assert all(f"`{k}={v}`" in settings for k, v in r["params"].items())


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
    for node in parse_python(path.read_text()).body:
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
        assert not imported & {"tensorflow", "torch", "grain", "matplotlib", "scipy"}, p.name
    proc = run_python(["-c", "import sys, benchmarks.peers, benchmarks.measure, benchmarks.report;"
                       "print(sorted(m for m in ('tensorflow', 'torch', 'grain', 'matplotlib')"
                       " if m in sys.modules))"], cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[]\n"
