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


def _result(w, size, target_id, measured, detail=""):
    t = _target(target_id)
    return {"workload": w, "size": size, "target": target_id, "text": t["text"], "minimum": t["minimum"],
            "measured": measured, "met": None if measured is None else measured >= t["minimum"],
            "detail": detail}


def evaluate_targets(results):
    """One row per class (class E: per element size) and applicable target: measured value, met or not."""
    out = []
    groups = []
    for r in results:
        key = (r["workload"], r.get("size"))
        if key not in groups:
            groups.append(key)
    groups.sort(key=lambda k: k[0])  # stable: class E sizes keep their measured order
    for w, size in groups:
        rows = [r for r in results if r["workload"] == w and r.get("size") == size]
        rec = next((r for r in rows if r["recommended"]), None)
        if rec:
            out.append(_result(w, size, "recommended_vs_limit", rec["ratio_to_limit"], rec["label"]))
            peers = [r for r in rows if r["peer"]]
            if peers:
                best = max(peers, key=lambda r: r["elements_per_s"])
                out.append(_result(w, size, "recommended_vs_best_peer",
                                   rec["elements_per_s"] / best["elements_per_s"], f"best: {best['label']}"))
            else:
                out.append(_result(w, size, "recommended_vs_best_peer", None, "no peer measured"))
        if w in _target("shards16_vs_naive")["workloads"]:
            k16 = [r for r in rows if r["params"].get("k") == 16 and not r["peer"]]
            if k16:
                best = max(k16, key=lambda r: r["ratio_to_naive"])
                out.append(_result(w, size, "shards16_vs_naive", best["ratio_to_naive"], f"best: {best['label']}"))
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


def family(row):
    """A class E pattern's name without its size suffix (``process_pool_600KB`` -> ``process_pool``)."""
    return row["pattern"][: -len(row["size"]) - 1] if row.get("size") else row["pattern"]


def _size_plot(report, plt, path):
    rows = [r for r in report["results"] if r["workload"] == "E"]
    families = []
    for r in rows:
        if family(r) not in families:
            families.append(family(r))
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.6))
    for fam in families:
        mine = sorted((r for r in rows if family(r) == fam), key=lambda r: r["element_bytes"])
        x = [r["element_bytes"] for r in mine]
        style = {"color": "black", "linestyle": "--"} if fam == "limit" else (
            {"color": "#e65100", "linewidth": 2.5} if mine[0]["recommended"] else
            {"linestyle": ":"} if mine[0]["peer"] else {})
        label = "limit" if fam == "limit" else mine[0]["label"] + (" (recommended)" if mine[0]["recommended"] else "")
        for ax, key in zip(axes, ("elements_per_s", "mb_per_s")):
            ax.plot(x, [r[key] for r in mine], marker="o", label=label, **style)
    bandwidth = report["machine"].get("memory_copy_bytes_per_s")
    if bandwidth:  # the ceiling for large elements: one copy of each at memory-copy speed
        axes[1].axhline(bandwidth / 1e6, color="grey", linestyle="-.",
                        label=f"memory copy, one thread ({bandwidth / 1e9:.1f} GB/s)")
    for ax, title in zip(axes, ("elements per second (median)", "MB per second (median)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("element size (bytes)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=3, frameon=False)
    fig.suptitle("Class E: the same Python work, results of growing size, consumed in batches of 32", fontsize=10)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    fig.savefig(path, metadata={"Date": None})
    plt.close(fig)


def write_plots(report, folder):
    """One chart per class (SVG, no date, so redraws diff cleanly): bars with the
    min-max over repetitions; for class E, throughput against element size."""
    import matplotlib
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "generator-pipelines"  # the same ids every time: redraws diff cleanly
    import matplotlib.pyplot as plt
    os.makedirs(folder, exist_ok=True)
    written = []
    for w in sorted({r["workload"] for r in report["results"]}):
        path = os.path.join(folder, f"class_{w}.svg")
        if w == "E":
            _size_plot(report, plt, path)
            written.append(path)
            continue
        rows = [r for r in report["results"] if r["workload"] == w and r["pattern"] != "limit"]
        limit = next(r for r in report["results"] if r["workload"] == w and r["pattern"] == "limit")
        fig, ax = plt.subplots(figsize=(12, 0.42 * len(rows) + 1.4))
        labels = [r["label"] + ("  (recommended)" if r["recommended"] else "") for r in rows]
        colors = ["#e65100" if r["recommended"] else ("#6a1b9a" if r["peer"] else "#90a4ae") for r in rows]
        rates = [r["elements_per_s"] for r in rows]
        errors = None
        if all("elements_per_s_min" in r for r in rows):
            errors = [[v - r["elements_per_s_min"] for v, r in zip(rates, rows)],
                      [r["elements_per_s_max"] - v for v, r in zip(rates, rows)]]
        ax.barh(range(len(rows)), rates, color=colors, xerr=errors, error_kw={"elinewidth": 0.8, "capsize": 2})
        ax.axvline(limit["elements_per_s"], color="black", linestyle="--", label="limit")
        ax.set_yticks(range(len(rows)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("elements per second (median; whiskers: min to max over repetitions)")
        ax.set_title(f"Class {w}: {report['workloads'][w]['title']}", fontsize=10)
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        fig.savefig(path, metadata={"Date": None})
        plt.close(fig)
        written.append(path)
    return written
