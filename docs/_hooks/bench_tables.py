"""MkDocs hook: render benchmark figures from the committed results file.

Numbers on the site are never typed by hand. ``docs/assets/bench/results.json``
is written by ``python -m recipes.bench --json ...``; pages refer to it with

* ``::: bench-machine`` for the hardware, versions and the exact command;
* ``::: bench-table A`` for the table of class A;
* ``::: bench-targets`` for the targets, each marked met or not met;
* ``::: bench-service`` for the tf.data service measurement;
* ``[[bench:A:pattern:field]]`` inline, for one figure in running text
  (``field`` is ``elements_per_s``, ``ratio_to_naive`` or ``ratio_to_limit``).
"""

import json
import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "assets" / "bench" / "results.json"
BLOCK = re.compile(r"^::: bench-(machine|targets|service|table (?P<w>[A-Z]))[ \t]*$", re.MULTILINE)
INLINE = re.compile(r"\[\[bench:(?P<w>[A-Z]):(?P<p>[\w]+):(?P<f>\w+)\]\]")


def _load():
    return json.loads(RESULTS.read_text(encoding="utf-8"))


def _row(report, w, pattern):
    for r in report["results"]:
        if r["workload"] == w and r["pattern"] == pattern:
            return r
    raise KeyError(f"no benchmark row for class {w}, pattern {pattern!r} in {RESULTS.name}")


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
    out = ["| Class | Target | Measured | Met? |", "|---|---|---:|---|"]
    for w in sorted({r["workload"] for r in report["results"]}):
        rows = [r for r in report["results"] if r["workload"] == w]
        rec = next((r for r in rows if r["recommended"]), None)
        if rec:
            ok = rec["ratio_to_limit"] >= 0.9
            out.append(f"| {w} | recommended pattern ≥ 0.9 × limit | {rec['ratio_to_limit']:.2f} | {'yes' if ok else 'no'} |")
            peers = [r for r in rows if r["peer"]]
            if peers:
                best = max(peers, key=lambda r: r["elements_per_s"])
                ratio = rec["elements_per_s"] / best["elements_per_s"]
                out.append(f"| {w} | recommended ≥ 1.0 × best peer ({best['label']}) | {ratio:.2f} | {'yes' if ratio >= 1.0 else 'no'} |")
            else:
                out.append(f"| {w} | recommended ≥ 1.0 × best peer | no peer measured | n/a |")
        if w == "A":
            k16 = [r for r in rows if r["params"].get("k") == 16 and not r["peer"]]
            if k16:
                best = max(k16, key=lambda r: r["ratio_to_naive"])
                ok = best["ratio_to_naive"] >= 12
                out.append(f"| A | 16 shards ≥ 12 × naive (best: {best['label']}) | {best['ratio_to_naive']:.2f} | {'yes' if ok else 'no'} |")
    return "\n".join(out)


def service(report):
    out = ["| Workers (separate processes) | elements/s | same pipeline in-process | × in-process | first element (s) |",
           "|---:|---:|---:|---:|---:|"]
    for r in report.get("service", []):
        out.append(f"| {r['workers']} | {fmt('elements_per_s', r['elements_per_s'])} | "
                   f"{fmt('elements_per_s', r['in_process_elements_per_s'])} | "
                   f"{r['ratio_to_in_process']:.2f} | {r['first_element_s']:.2f} |")
    return "\n".join(out)


def on_page_markdown(markdown, page, config, files):
    if "::: bench-" not in markdown and "[[bench:" not in markdown:
        return markdown
    report = _load()

    def block(m):
        if m.group(1) == "machine":
            return machine(report)
        if m.group(1) == "targets":
            return targets(report)
        if m.group(1) == "service":
            return service(report)
        return table(report, m.group("w"))

    markdown = BLOCK.sub(block, markdown)
    return INLINE.sub(lambda m: fmt(m["f"], _row(report, m["w"], m["p"])[m["f"]]), markdown)
