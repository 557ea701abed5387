"""MkDocs hook: render benchmark figures from the committed results file.

Numbers on the site are never typed by hand. ``docs/assets/bench/results.json``
is written by ``python -m benchmarks --json ...``; pages refer to it with

* ``::: bench-banner``: a warning when the published run is a quick smoke run
  (or was made from uncommitted code); nothing for a full run;
* ``::: bench-machine`` for the date, the exact command, the code hash, the
  discipline, the hardware and the versions;
* ``::: bench-table A`` for the table of class A (class E: every element size);
* ``::: bench-sizes`` for class E as a grid (elements/s and MB/s per size);
* ``::: bench-targets`` for the targets, each with its 95 % interval and verdict;
* ``::: bench-recommendations``: per class, the recommended pattern against the
  fastest candidate and the maintained loaders, within the intervals;
* ``::: bench-peers`` for the settings each peer loader ran with;
* ``::: bench-breakdown`` for where the time of one class E element goes;
* ``::: bench-scaling`` for the recipe with 1..N workers;
* ``::: bench-service`` for the tf.data service measurement;
* ``[[bench:A:pattern:field]]`` inline, for one figure in running text
  (``field`` is one of ``FIELDS``; ``..._interval`` gives its 95 % interval).

Rows whose interval is wide are greyed and say so. A page that uses none of
these is returned untouched and the file is not read. An unknown directive or
field fails the build instead of reaching the page.
"""

import json
import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "assets" / "bench" / "results.json"
DIRECTIVE = re.compile(r"^::: bench-.*$", re.MULTILINE)
BLOCK = re.compile(r"^::: bench-(banner|machine|targets|service|sizes|recommendations|peers|breakdown|scaling|limits"
                   r"|table (?P<w>[A-Z]))[ \t]*$")
INLINE_ANY = re.compile(r"\[\[bench:[^\]]*\]\]")
INLINE = re.compile(r"\[\[bench:(?P<w>[A-Z]):(?P<p>\w+):(?P<f>\w+)\]\]")
FIELDS = {"elements_per_s", "ratio_to_naive", "ratio_to_limit", "ratio_to_best_peer", "mb_per_s", "half_width",
          "startup_s", "first_element_s", "end_s", "end_s_max"}
INTERVAL_FIELDS = {"elements_per_s", "ratio_to_naive", "ratio_to_limit", "ratio_to_best_peer"}
GREY = '<span class="bench-wide" style="opacity: 0.5">{}</span>'


# A candidate measured faster than a class's recommended pattern beyond both intervals
# (``recommendations`` in the results), with the measured reason the site still recommends
# the other: {(class, size or None, pattern): reason}. Kept here, not in ``benchmarks/``,
# so stating a reason does not change the code the results were made by.
REASONS = {}

# A row above its limit beyond its interval (``ratio_to_limit_low`` > 1), with the
# reason for it: {(class, size or None, workers or None, pattern): reason}. A test
# fails on any other such row, and on a reason whose row is no longer above its limit.
LIMIT_REASONS = {}


class BenchDirectiveError(ValueError):
    """A page asks for a benchmark figure this hook does not know."""


def _load():
    return json.loads(RESULTS.read_text(encoding="utf-8"))


def _main_rows(report):
    return [r for r in report["results"] if r.get("workers") is None]


def _row(report, w, pattern):
    for r in _main_rows(report):
        if r["workload"] == w and r["pattern"] == pattern:
            return r
    raise BenchDirectiveError(f"no benchmark row for class {w}, pattern {pattern!r} in {RESULTS.name}")


def fmt(field, value):
    if value is None:
        return "n/a"
    if field in ("elements_per_s", "mb_per_s"):
        return f"{value:,.0f}" if value >= 10 else f"{value:.2f}"
    if field == "half_width":
        return f"±{value:.0%}"
    if field in ("startup_s", "first_element_s", "end_s", "end_s_max"):
        return f"{value:.2f}"
    return f"{value:.2f}"


def interval(row, field):
    low, high = row.get(f"{field}_low"), row.get(f"{field}_high")
    if low is None or high is None:
        return "n/a"
    return f"{fmt(field, low)}–{fmt(field, high)}"


def _with_interval(row, field):
    if row.get(field) is None:
        return "n/a"
    return f"{fmt(field, row[field])} ({interval(row, field)})"


def _size_label(report, size):
    return report["parameters"]["sizes"][size]["label"] if size else "8 B"


def banner(report):
    notes = []
    if report["mode"] != "full":
        notes.append(
            f"The published results are a **{report['mode']} smoke run** (`{report['command']}`), made to check "
            "that every pattern runs and delivers every element. Its figures are not measurements to read or "
            "compare: most intervals are wide, and the prose below does not draw conclusions from them. The full "
            "run is `python -m benchmarks --json docs/assets/bench/results.json --plot docs/assets/bench`.")
    dirty = (report.get("provenance") or {}).get("dirty")
    if dirty:
        notes.append("These results were made with uncommitted changes to: " + ", ".join(f"`{d}`" for d in dirty)
                     + ".")
    if not notes:
        return ""
    title = "Smoke run, not a measurement" if report["mode"] != "full" else "Made from uncommitted code"
    return f"!!! warning \"{title}\"\n\n" + "\n\n".join(
        "    " + note for note in notes) + "\n"


def machine(report):
    m, v = report["machine"], report["versions"]
    peers = ", ".join(f"{k} {val}" for k, val in v.items() if k in ("torch", "grain", "keras") and val)
    d = report["discipline"]
    prov = report["provenance"]
    rows = [
        "| Measured | |", "|---|---|",
        f"| Date | {report['date']} |",
        f"| Command | `{report['command']}` ({report['mode']} run, {report['seconds']:.0f} s) |",
        f"| Code | SHA-256 `{prov['sha256'][:16]}` of {len(prov['files'])} files: `benchmarks/*.py` and the "
        f"measured recipes ({', '.join(f'`{f}`' for f in prov['files'] if f.startswith('recipes/'))}) |",
        f"| Discipline | {d['reps']} interleaved repetitions per group; each times ≥ {d['min_batches']} batches "
        f"and ≥ {d['min_seconds']:g} s after {d['warmup_batches']} warm-up batches; wide rows measured "
        f"{d['extra_reps']} more times (at most {d['extra_rounds']} round) |",
        f"| CPU | {m['cpu_model']}, {m['cores']} cores (shared machine) |",
        f"| Platform | {m['platform']}, Python {m['python']} |",
        f"| Versions | TensorFlow {v['tensorflow']}, NumPy {v['numpy']}, SciPy {v.get('scipy') or 'n/a'}; "
        f"peers: {peers or 'none installed'} |",
    ]
    if m.get("memory_copy_bytes_per_s"):
        rows.append(f"| Memory copy | {m['memory_copy_bytes_per_s'] / 1e9:.1f} GB/s (one thread, np.copyto) |")
    return "\n".join(rows)


def _label(r):
    label = r["label"]
    if r["recommended"]:
        return f"**{label}** (recommended)"
    if r["peer"]:
        return f"*{label}* (peer)"
    return label


def _cells(cells, wide):
    return [GREY.format(c) for c in cells] if wide else cells


def table(report, w):
    rows = [r for r in _main_rows(report) if r["workload"] == w]
    if not rows:
        raise BenchDirectiveError(f"no benchmark rows for class {w} in {RESULTS.name}")
    sized = any(r.get("size") for r in rows)
    head = ["Pattern", "elements/s (95 % interval)", "× naive", "× limit", "reps"]
    align = ["---", "---:", "---:", "---:", "---:"]
    if sized:
        head[2:2], align[2:2] = ["MB/s"], ["---:"]
        head[:0], align[:0] = ["Element"], ["---"]
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for r in rows:
        label = _label(r) + (" — wide interval" if r["wide"] else "")
        cells = [label, _with_interval(r, "elements_per_s"), _with_interval(r, "ratio_to_naive"),
                 _with_interval(r, "ratio_to_limit"), str(r["repetitions"])]
        if sized:
            cells[2:2] = [fmt("mb_per_s", r.get("mb_per_s"))]
            cells[:0] = [_size_label(report, r.get("size"))]
        out.append("| " + " | ".join(_cells(cells, r["wide"])) + " |")
    skipped = [s for s in report.get("skipped_peers", []) if s["workload"] == w]
    if skipped:
        out.append("")
        out.append("Peers not measured for this class: " + "; ".join(
            f"{s['peer']} ({s['reason']})" for s in skipped) + ".")
    return "\n".join(out)


def _family(r):
    return r["pattern"][: -len(r["size"]) - 1] if r.get("size") else r["pattern"]


def sizes(report):
    rows = [r for r in _main_rows(report) if r["workload"] == "E"]
    if not rows:
        raise BenchDirectiveError(f"no class E (element size) rows in {RESULTS.name}")
    order = [k for k in report["parameters"]["sizes"] if any(r["size"] == k for r in rows)]
    families = {}
    for r in rows:
        families.setdefault(_family(r), {})[r["size"]] = r
    out = ["| Pattern | " + " | ".join(_size_label(report, k) for k in order) + " |",
           "|---|" + "---:|" * len(order)]
    for by_size in families.values():
        first = next(iter(by_size.values()))
        label = f"**{first['label']}**" if first["recommended"] else (
            f"*{first['label']}*" if first["peer"] else first["label"])
        cells = []
        for k in order:
            if k not in by_size:
                cells.append("n/a")
                continue
            r = by_size[k]
            cell = f"{fmt('elements_per_s', r['elements_per_s'])}/s<br>{fmt('mb_per_s', r['mb_per_s'])} MB/s"
            cells.append(GREY.format(cell + " (wide)") if r["wide"] else cell)
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def _where(report, t):
    return t["workload"] + (f", {_size_label(report, t['size'])}" if t.get("size") else "")


def targets(report):
    if "target_results" not in report:
        raise BenchDirectiveError(f"{RESULTS.name} has no target_results: rerun python -m benchmarks --json ...")
    out = ["| Class | Target | Measured (95 % interval) | Verdict |", "|---|---|---:|---|"]
    for t in report["target_results"]:
        text = f"{t['text']} ({t['detail']})" if t["detail"] else t["text"]
        measured = "n/a" if t["measured"] is None else (
            f"{t['measured']:.2f}" + ("" if t["low"] is None else f" ({t['low']:.2f}–{t['high']:.2f})"))
        out.append(f"| {_where(report, t)} | {text} | {measured} | {t['verdict']} |")
    return "\n".join(out)


def recommendations(report):
    names = {(r["workload"], r["pattern"]): r["label"] for r in _main_rows(report)}
    out = ["| Class | Recommended | Fastest candidate | Faster beyond the interval | Peers matching it "
           "| Follows the data? |", "|---|---|---|---|---|---|"]
    for rec in report["recommendations"]:
        w = rec["workload"]

        def name(p, w=w):
            return names.get((w, p), p) if p else "n/a"
        reasons = {p: REASONS.get((w, rec.get("size"), p)) for p in rec["faster_beyond_interval"]}
        beaten = "; ".join(name(p) + (f" (recommended all the same: {reasons[p]})" if reasons[p] else "")
                           for p in rec["faster_beyond_interval"]) or "none"
        follows = "yes" if rec["follows_data"] else ("no: its interval is wide" if rec["recommended_wide"]
                                                     else "with the stated reason" if all(reasons.values())
                                                     else "no")
        where = w + (f", {_size_label(report, rec['size'])}" if rec.get("size") else "")
        out.append(f"| {where} | {name(rec['recommended'])} | {name(rec['fastest_candidate'])} | {beaten} | "
                   f"{'; '.join(name(p) for p in rec['peers_matching']) or 'none'} | {follows} |")
    return "\n".join(out)


def limits(report):
    over = [r for r in report["results"] if r.get("ratio_to_limit_low") is not None and r["ratio_to_limit_low"] > 1]
    if not over:
        return "No row is above its limit beyond its interval."
    out = ["| Class | Pattern | × limit (95 % interval) | Why |", "|---|---|---:|---|"]
    for r in over:
        key = (r["workload"], r.get("size"), r.get("workers"), r["pattern"])
        where = r["workload"] + (f", {_size_label(report, r['size'])}" if r.get("size") else "") + (
            f", {r['workers']} worker" + ("s" if r["workers"] > 1 else "") if r.get("workers") else "")
        out.append(f"| {where} | {r['label']} | {_with_interval(r, 'ratio_to_limit')} | "
                   f"{LIMIT_REASONS.get(key, 'no reason stated')} |")
    return "\n".join(out)


def peers(report):
    seen, out = {}, ["| Peer | Classes | Settings |", "|---|---|---|"]
    for r in _main_rows(report):
        if not r["peer"]:
            continue
        key = _family(r)
        settings = ", ".join(f"`{k}={v}`" for k, v in r["params"].items())
        seen.setdefault((key, settings), (r["label"], []))[1].append(r["workload"])
    for (_, settings), (label, classes) in seen.items():
        out.append(f"| {label} | {', '.join(sorted(set(classes)))} | {settings} |")
    return "\n".join(out)


def breakdown(report):
    parts = report.get("breakdown") or []
    if not parts:
        return "No breakdown in this run."
    by_size = {r["size"]: r for r in _main_rows(report) if r["workload"] == "E" and r["recommended"]}
    out = ["| Element | work (worker) | write into the ring (worker) | pipe message | copy out of the ring "
           "| batch to tensor | consumer CPU, all of it | CPU per element | bound: cores / CPU | recipe measured |",
           "|---|" + "---:|" * 9]
    for p in parts:
        rec = by_size.get(p["size"])
        measured = "n/a" if rec is None else fmt("elements_per_s", rec["elements_per_s"]) + "/s"
        out.append(f"| {_size_label(report, p['size'])} | " + " | ".join(
            f"{p[k]:,.0f} µs" if p[k] >= 10 else f"{p[k]:.1f} µs"
            for k in ("work", "ring_write", "pipe_message", "copy_out", "to_tensor", "consumer_cpu",
                      "cpu_per_element"))
            + f" | {p['bound_elements_per_s']:,.0f}/s | {measured} |")
    return "\n".join(out)


def scaling(report):
    extra = [r for r in report["results"] if r.get("workers") is not None]
    if not extra:
        return "No scaling run in this results file (`--scaling B`)."
    cores = report["machine"]["cores"]
    out = ["| Class | Workers | Pattern | elements/s (95 % interval) | × limit with as many processes |",
           "|---|---:|---|---:|---:|"]
    for w in sorted({r["workload"] for r in extra}):
        main = [r for r in _main_rows(report) if r["workload"] == w and (r["recommended"] or
                                                                          r["pattern"] == "limit")]
        for r in [x for x in extra if x["workload"] == w and not x["pattern"].startswith("naive")] + main:
            workers = r["workers"] or cores
            cells = [w, str(workers), r["label"], _with_interval(r, "elements_per_s"),
                     "1.00" if r["pattern"].startswith("limit") else _with_interval(r, "ratio_to_limit")]
            out.append("| " + " | ".join(_cells(cells, r["wide"])) + " |")
    return "\n".join(out)


def service(report):
    out = ["| Workers (separate processes) | elements/s | same pipeline in-process | × in-process (95 % interval) "
           "| first element (s) |", "|---:|---:|---:|---:|---:|"]
    for r in report.get("service", []):
        ratio = f"{r['ratio_to_in_process']:.2f}"
        if r.get("ratio_to_in_process_low") is not None:
            ratio += f" ({r['ratio_to_in_process_low']:.2f}–{r['ratio_to_in_process_high']:.2f})"
        out.append(f"| {r['workers']} | {fmt('elements_per_s', r['elements_per_s'])} | "
                   f"{fmt('elements_per_s', r['in_process_elements_per_s'])} | {ratio} | "
                   f"{r['first_element_s']:.2f} |")
    return "\n".join(out)


RENDER = {"banner": banner, "machine": machine, "targets": targets, "service": service, "sizes": sizes,
          "recommendations": recommendations, "peers": peers, "breakdown": breakdown, "scaling": scaling,
          "limits": limits}


def render_block(report, line):
    m = BLOCK.match(line)
    if not m:
        raise BenchDirectiveError(f"unknown benchmark directive {line.strip()!r}")
    if m.group("w"):
        return table(report, m.group("w"))
    return RENDER[m.group(1)](report)


def render_inline(report, text):
    m = INLINE.fullmatch(text)
    field = m and m["f"]
    if field and field.endswith("_interval") and field[: -len("_interval")] in INTERVAL_FIELDS:
        row = _row(report, m["w"], m["p"])
        value = interval(row, field[: -len("_interval")])
        return GREY.format(value + " (wide)") if row.get("wide") else value
    if not m or field not in FIELDS:
        raise BenchDirectiveError(f"unknown benchmark figure {text!r}; fields: {sorted(FIELDS)}")
    row = _row(report, m["w"], m["p"])
    value = fmt(field, row.get(field))
    return GREY.format(value + " (wide interval)") if row.get("wide") else value


def render(markdown, report_loader=_load):
    """Replace every directive and inline figure; raise on any unknown one."""
    if not DIRECTIVE.search(markdown) and not INLINE_ANY.search(markdown):
        return markdown
    report = report_loader()
    markdown = DIRECTIVE.sub(lambda m: render_block(report, m.group(0)), markdown)
    return INLINE_ANY.sub(lambda m: render_inline(report, m.group(0)), markdown)


def on_page_markdown(markdown, page, config, files):
    from mkdocs.exceptions import PluginError

    try:
        return render(markdown)
    except BenchDirectiveError as error:
        raise PluginError(f"{page.file.src_path}: {error}") from None
