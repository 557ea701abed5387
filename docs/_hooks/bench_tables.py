"""MkDocs hook: render benchmark figures from the committed results file.

Numbers on the site are never typed by hand. ``docs/assets/bench/results.json``
is written by ``python -m benchmarks --json ...``; pages refer to it with

* ``::: bench-machine`` for the hardware, versions and the exact command;
* ``::: bench-table A`` for the table of class A;
* ``::: bench-targets`` for the targets (defined by the benchmark, stored in the
  file with their measured values), each marked met or not met;
* ``::: bench-service`` for the tf.data service measurement;
* ``[[bench:A:pattern:field]]`` inline, for one figure in running text
  (``field`` is ``elements_per_s``, ``ratio_to_naive`` or ``ratio_to_limit``).

A page that uses none of these is returned untouched and the file is not read.
An unknown directive or field fails the build instead of reaching the page.
"""

import json
import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "assets" / "bench" / "results.json"
DIRECTIVE = re.compile(r"^::: bench-.*$", re.MULTILINE)
BLOCK = re.compile(r"^::: bench-(machine|targets|service|table (?P<w>[A-Z]))[ \t]*$")
INLINE_ANY = re.compile(r"\[\[bench:[^\]]*\]\]")
INLINE = re.compile(r"\[\[bench:(?P<w>[A-Z]):(?P<p>\w+):(?P<f>\w+)\]\]")
FIELDS = {"elements_per_s", "ratio_to_naive", "ratio_to_limit"}


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
    return f"{value:.2f}"


def machine(report):
    m, v = report["machine"], report["versions"]
    peers = ", ".join(f"{k} {val}" for k, val in v.items() if k in ("torch", "grain") and val) or "none installed"
    return "\n".join([
        "| Measured on | |", "|---|---|",
        f"| CPU | {m['cpu_model']}, {m['cores']} cores (shared machine) |",
        f"| Platform | {m['platform']}, Python {m['python']} |",
        f"| Versions | TensorFlow {v['tensorflow']}, NumPy {v['numpy']}; peers: {peers} |",
        f"| Command | `{report['command']}` ({report['mode']} mode, {report['seconds']} s) |",
        f"| Repetitions | {report['results'][0]['repetitions']} per pattern; medians, ratios within each repetition |",
    ])


def table(report, w):
    rows = [r for r in report["results"] if r["workload"] == w]
    if not rows:
        raise BenchDirectiveError(f"no benchmark rows for class {w} in {RESULTS.name}")
    out = ["| Pattern | elements/s | × naive | × limit |", "|---|---:|---:|---:|"]
    for r in rows:
        label = r["label"]
        if r["recommended"]:
            label = f"**{label}** (recommended)"
        elif r["peer"]:
            label = f"*{label}* (peer)"
        out.append(f"| {label} | {fmt('elements_per_s', r['elements_per_s'])} | "
                   f"{fmt('ratio', r['ratio_to_naive'])} | {fmt('ratio', r['ratio_to_limit'])} |")
    skipped = [s for s in report.get("skipped_peers", []) if s["workload"] == w]
    if skipped:
        out.append("")
        out.append("Peers not measured for this class: " + "; ".join(
            f"{s['peer']} ({s['reason']})" for s in skipped) + ".")
    return "\n".join(out)


def targets(report):
    if "target_results" not in report:
        raise BenchDirectiveError(f"{RESULTS.name} has no target_results: rerun python -m benchmarks --json ...")
    out = ["| Class | Target | Measured | Met? |", "|---|---|---:|---|"]
    for t in report["target_results"]:
        text = f"{t['text']} ({t['detail']})" if t["detail"] else t["text"]
        measured = "n/a" if t["measured"] is None else f"{t['measured']:.2f}"
        met = "n/a" if t["met"] is None else ("yes" if t["met"] else "no")
        out.append(f"| {t['workload']} | {text} | {measured} | {met} |")
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
