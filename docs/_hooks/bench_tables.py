"""MkDocs hook: render benchmark figures from the committed results file.

Numbers on the site are never typed by hand. ``docs/assets/bench/results.json``
is written by ``python -m benchmarks --json ...``; pages refer to it with

* ``::: bench-machine`` for the hardware, versions and the exact command;
* ``::: bench-table A`` for the table of class A (class E: every element size);
* ``::: bench-sizes`` for class E as a grid: one row per pattern, one column
  per element size, elements/s and MB/s in each cell;
* ``::: bench-targets`` for the targets (defined by the benchmark, stored in the
  file with their measured values), each marked met or not met;
* ``::: bench-service`` for the tf.data service measurement;
* ``[[bench:A:pattern:field]]`` inline, for one figure in running text
  (``field`` is one of ``FIELDS``).

A page that uses none of these is returned untouched and the file is not read.
An unknown directive or field fails the build instead of reaching the page.
"""

import json
import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "assets" / "bench" / "results.json"
DIRECTIVE = re.compile(r"^::: bench-.*$", re.MULTILINE)
BLOCK = re.compile(r"^::: bench-(machine|targets|service|sizes|table (?P<w>[A-Z]))[ \t]*$")
INLINE_ANY = re.compile(r"\[\[bench:[^\]]*\]\]")
INLINE = re.compile(r"\[\[bench:(?P<w>[A-Z]):(?P<p>\w+):(?P<f>\w+)\]\]")
FIELDS = {"elements_per_s", "ratio_to_naive", "ratio_to_limit", "mb_per_s", "spread", "startup_s",
          "first_element_s"}


class BenchDirectiveError(ValueError):
    """A page asks for a benchmark figure this hook does not know."""


def _load():
    return json.loads(RESULTS.read_text(encoding="utf-8"))


def _row(report, w, pattern):
    for r in report["results"]:
        if r["workload"] == w and r["pattern"] == pattern:
            return r
    raise BenchDirectiveError(f"no benchmark row for class {w}, pattern {pattern!r} in {RESULTS.name}")


def fmt(field, value):
    if value is None:
        return "n/a"
    if field == "elements_per_s":
        return f"{value:,.0f}"
    if field == "mb_per_s":
        return f"{value:,.0f}" if value >= 10 else f"{value:.2f}"
    if field == "spread":
        return f"{value:.0%}"
    return f"{value:.2f}"


def _spread(row):
    if row.get("spread") is None:
        return "n/a"
    return fmt("spread", row["spread"]) + (" ⚠" if row.get("noisy") else "")


def _size_label(report, size):
    return report["parameters"]["sizes"][size]["label"] if size else "8 B"


def machine(report):
    m, v = report["machine"], report["versions"]
    peers = ", ".join(f"{k} {val}" for k, val in v.items() if k in ("torch", "grain", "keras") and val)
    reps = sorted({(r["workload"] == "E", r["repetitions"]) for r in report["results"]})
    rep_text = "; ".join(f"{n} per pattern" + (" (class E)" if e else "") for e, n in reps)
    rows = [
        "| Measured on | |", "|---|---|",
        f"| CPU | {m['cpu_model']}, {m['cores']} cores (shared machine) |",
        f"| Platform | {m['platform']}, Python {m['python']} |",
        f"| Versions | TensorFlow {v['tensorflow']}, NumPy {v['numpy']}; peers: {peers or 'none installed'} |",
        f"| Command | `{report['command']}` ({report['mode']} mode, {report['seconds']} s) |",
        f"| Repetitions | {rep_text}; medians, ratios within each repetition |",
    ]
    if m.get("memory_copy_bytes_per_s"):
        rows.append(f"| Memory copy | {m['memory_copy_bytes_per_s'] / 1e9:.1f} GB/s (one thread, np.copyto of 64 MB) |")
    return "\n".join(rows)


def table(report, w):
    rows = [r for r in report["results"] if r["workload"] == w]
    if not rows:
        raise BenchDirectiveError(f"no benchmark rows for class {w} in {RESULTS.name}")
    sized = any(r.get("size") for r in rows)
    head = ["Pattern", "elements/s", "× naive", "× limit", "spread"]
    align = ["---", "---:", "---:", "---:", "---:"]
    if sized:
        head[2:2], align[2:2] = ["MB/s"], ["---:"]
        head[:0], align[:0] = ["Element"], ["---"]
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for r in rows:
        label = r["label"]
        if r["recommended"]:
            label = f"**{label}** (recommended)"
        elif r["peer"]:
            label = f"*{label}* (peer)"
        cells = [label, fmt("elements_per_s", r["elements_per_s"]), fmt("ratio", r["ratio_to_naive"]),
                 fmt("ratio", r["ratio_to_limit"]), _spread(r)]
        if sized:
            cells[2:2] = [fmt("mb_per_s", r.get("mb_per_s"))]
            cells[:0] = [_size_label(report, r.get("size"))]
        out.append("| " + " | ".join(cells) + " |")
    skipped = [s for s in report.get("skipped_peers", []) if s["workload"] == w]
    if skipped:
        out.append("")
        out.append("Peers not measured for this class: " + "; ".join(
            f"{s['peer']} ({s['reason']})" for s in skipped) + ".")
    return "\n".join(out)


def sizes(report):
    rows = [r for r in report["results"] if r["workload"] == "E"]
    if not rows:
        raise BenchDirectiveError(f"no class E (element size) rows in {RESULTS.name}")
    order = [k for k in report["parameters"]["sizes"] if any(r["size"] == k for r in rows)]
    families = {}
    for r in rows:
        fam = r["pattern"][: -len(r["size"]) - 1]
        families.setdefault(fam, {})[r["size"]] = r
    out = ["| Pattern | " + " | ".join(_size_label(report, k) for k in order) + " |",
           "|---|" + "---:|" * len(order)]
    for by_size in families.values():
        first = next(iter(by_size.values()))
        label = first["label"]
        if first["recommended"]:
            label = f"**{label}**"
        elif first["peer"]:
            label = f"*{label}*"
        cells = [f"{fmt('elements_per_s', by_size[k]['elements_per_s'])}/s<br>"
                 f"{fmt('mb_per_s', by_size[k]['mb_per_s'])} MB/s" if k in by_size else "n/a" for k in order]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def targets(report):
    if "target_results" not in report:
        raise BenchDirectiveError(f"{RESULTS.name} has no target_results: rerun python -m benchmarks --json ...")
    out = ["| Class | Target | Measured | Met? |", "|---|---|---:|---|"]
    for t in report["target_results"]:
        text = f"{t['text']} ({t['detail']})" if t["detail"] else t["text"]
        measured = "n/a" if t["measured"] is None else f"{t['measured']:.2f}"
        met = "n/a" if t["met"] is None else ("yes" if t["met"] else "no")
        where = t["workload"] + (f", {_size_label(report, t['size'])}" if t.get("size") else "")
        out.append(f"| {where} | {text} | {measured} | {met} |")
    return "\n".join(out)


def service(report):
    out = ["| Workers (separate processes) | elements/s | same pipeline in-process | × in-process "
           "| first element (s) |", "|---:|---:|---:|---:|---:|"]
    for r in report.get("service", []):
        out.append(f"| {r['workers']} | {fmt('elements_per_s', r['elements_per_s'])} | "
                   f"{fmt('elements_per_s', r['in_process_elements_per_s'])} | "
                   f"{r['ratio_to_in_process']:.2f} | {r['first_element_s']:.2f} |")
    return "\n".join(out)


def render_block(report, line):
    m = BLOCK.match(line)
    if not m:
        raise BenchDirectiveError(f"unknown benchmark directive {line.strip()!r}")
    if m.group(1) == "machine":
        return machine(report)
    if m.group(1) == "targets":
        return targets(report)
    if m.group(1) == "service":
        return service(report)
    if m.group(1) == "sizes":
        return sizes(report)
    return table(report, m.group("w"))


def render_inline(report, text):
    m = INLINE.fullmatch(text)
    if not m or m["f"] not in FIELDS:
        raise BenchDirectiveError(f"unknown benchmark figure {text!r}; fields: {sorted(FIELDS)}")
    return fmt(m["f"], _row(report, m["w"], m["p"])[m["f"]])


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
