"""The targets, the JSON report and the charts.

The targets live here, and the report carries both their definitions
(``targets``) and how each class measured against them (``target_results``);
the Performance page renders the latter, so no threshold is typed on a page.
"""

import os

from benchmarks.workloads import PARAMETERS, WORKLOADS

TARGETS = [
    {"id": "recommended_vs_limit", "text": "recommended pattern ≥ 0.9 × limit",
     "minimum": 0.9, "workloads": "all"},
    {"id": "recommended_vs_best_peer", "text": "recommended ≥ 1.0 × best peer",
     "minimum": 1.0, "workloads": "all"},
    {"id": "shards16_vs_naive", "text": "16 shards ≥ 12 × naive",
     "minimum": 12.0, "workloads": ["A"]},
]


def _target(target_id):
    return next(t for t in TARGETS if t["id"] == target_id)


def _result(w, target_id, measured, detail=""):
    t = _target(target_id)
    return {"workload": w, "target": target_id, "text": t["text"], "minimum": t["minimum"],
            "measured": measured, "met": None if measured is None else measured >= t["minimum"],
            "detail": detail}


def evaluate_targets(results):
    """One row per class and applicable target: measured value and whether it is met."""
    out = []
    for w in sorted({r["workload"] for r in results}):
        rows = [r for r in results if r["workload"] == w]
        rec = next((r for r in rows if r["recommended"]), None)
        if rec:
            out.append(_result(w, "recommended_vs_limit", rec["ratio_to_limit"], rec["label"]))
            peers = [r for r in rows if r["peer"]]
            if peers:
                best = max(peers, key=lambda r: r["elements_per_s"])
                out.append(_result(w, "recommended_vs_best_peer",
                                   rec["elements_per_s"] / best["elements_per_s"], f"best: {best['label']}"))
            else:
                out.append(_result(w, "recommended_vs_best_peer", None, "no peer measured"))
        if w in _target("shards16_vs_naive")["workloads"]:
            k16 = [r for r in rows if r["params"].get("k") == 16 and not r["peer"]]
            if k16:
                best = max(k16, key=lambda r: r["ratio_to_naive"])
                out.append(_result(w, "shards16_vs_naive", best["ratio_to_naive"], f"best: {best['label']}"))
    return out


def build_report(command, quick, machine, versions, workloads, results, skipped, service, seconds):
    """The results file: everything the Performance page renders."""
    return {
        "command": command,
        "mode": "quick" if quick else "full",
        "machine": machine,
        "versions": versions,
        "parameters": dict(PARAMETERS),
        "workloads": {w: vars(WORKLOADS[w]) for w in workloads},
        "targets": TARGETS,
        "target_results": evaluate_targets(results),
        "results": results,
        "skipped_peers": skipped,
        "service": service,
        "seconds": seconds,
    }


def write_plots(report, folder):
    """One horizontal bar chart per class (SVG, no date, so redraws diff cleanly)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(folder, exist_ok=True)
    written = []
    for w in sorted({r["workload"] for r in report["results"]}):
        rows = [r for r in report["results"] if r["workload"] == w and r["pattern"] != "limit"]
        limit = next(r for r in report["results"] if r["workload"] == w and r["pattern"] == "limit")
        fig, ax = plt.subplots(figsize=(12, 0.42 * len(rows) + 1.4))
        labels = [r["label"] + ("  (recommended)" if r["recommended"] else "") for r in rows]
        colors = ["#e65100" if r["recommended"] else ("#6a1b9a" if r["peer"] else "#90a4ae") for r in rows]
        ax.barh(range(len(rows)), [r["elements_per_s"] for r in rows], color=colors)
        ax.axvline(limit["elements_per_s"], color="black", linestyle="--", label="limit")
        ax.set_yticks(range(len(rows)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("elements per second (median)")
        ax.set_title(f"Class {w}: {report['workloads'][w]['title']}", fontsize=10)
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        path = os.path.join(folder, f"class_{w}.svg")
        fig.savefig(path, metadata={"Date": None})
        plt.close(fig)
        written.append(path)
    return written
