"""The targets, the JSON report and the charts.

The targets live here, and the report carries both their definitions
(``targets``) and how each class measured against them (``target_results``);
the Performance page renders the latter, so no threshold is typed on a page.
"""

import os

from benchmarks.workloads import PARAMETERS, WORKLOADS

TARGETS = [
    {"id": "recommended_vs_limit", "text": "recommended pattern ≥ 0.9 × limit",
     "minimum": 0.9, "workloads": "all", "field": "ratio_to_limit"},
    {"id": "recommended_vs_copy_limit", "text": "recommended pattern ≥ 0.75 × one-copy limit",
     "minimum": 0.75, "workloads": ["E"], "sizes": ["150KB", "600KB", "2400KB"], "field": "ratio_to_limit"},
    {"id": "recommended_vs_best_peer", "text": "recommended ≥ 1.0 × best peer",
     "minimum": 1.0, "workloads": "all", "field": "ratio_to_best_peer"},
    {"id": "shards16_vs_naive", "text": "16 shards ≥ 12 × naive",
     "minimum": 12.0, "workloads": ["A"], "field": "ratio_to_naive"},
]

def _target(target_id):
    return next(t for t in TARGETS if t["id"] == target_id)


def verdict(row, field, minimum):
    """(met, verdict): met only when the whole 95 % interval clears the minimum.

    ``met`` is True (interval at or above), False (interval below), or None: the
    interval straddles the minimum ("inside the noise"), the row is wide, or
    there is no figure.
    """
    if row is None or row.get(field) is None:
        return None, "no figure"
    if row["wide"]:
        return None, "row too noisy (wide interval): not evaluated"
    low, high = row.get(f"{field}_low"), row.get(f"{field}_high")
    if low is None:
        return None, "no interval"
    if low >= minimum:
        return True, "met"
    if high < minimum:
        return False, "not met"
    return None, "inside the noise"


def _result(w, size, target_id, row, detail=""):
    t = _target(target_id)
    met, text = verdict(row, t["field"], t["minimum"])
    field = t["field"]
    return {"workload": w, "size": size, "target": target_id, "text": t["text"], "minimum": t["minimum"],
            "measured": None if row is None else row.get(field),
            "low": None if row is None else row.get(f"{field}_low"),
            "high": None if row is None else row.get(f"{field}_high"),
            "met": met, "verdict": text, "detail": detail}


def main_groups(results):
    """(class, size) -> rows of the main (non-scaling) groups, in measured order."""
    out = {}
    for r in results:
        if r.get("workers") is None:
            out.setdefault((r["workload"], r.get("size")), []).append(r)
    return out


def _applies(t, w, size):
    return (t["workloads"] == "all" or w in t["workloads"]) and (size in t.get("sizes", [size]))


def evaluate_targets(results):
    """One row per class (class E: per element size) and applicable target: measured, interval, verdict."""
    out = []
    for (w, size), rows in sorted(main_groups(results).items(), key=lambda kv: kv[0][0]):
        rec = next((r for r in rows if r["recommended"]), None)
        if rec:
            for t in TARGETS:
                if t["id"] in ("recommended_vs_limit", "recommended_vs_copy_limit") and _applies(t, w, size):
                    out.append(_result(w, size, t["id"], rec, rec["label"]))
            if any(r["peer"] for r in rows):
                best = next(r for r in rows if r["pattern"] == rec["best_peer"])
                out.append(_result(w, size, "recommended_vs_best_peer", rec, f"best: {best['label']}"))
            else:
                out.append(_result(w, size, "recommended_vs_best_peer", None, "no peer measured"))
        if _applies(_target("shards16_vs_naive"), w, size):
            k16 = [r for r in rows if r["params"].get("k") == 16 and not r["peer"] and not r["wide"]]
            if k16:
                best = max(k16, key=lambda r: r["ratio_to_naive"])
                out.append(_result(w, size, "shards16_vs_naive", best, f"best: {best['label']}"))
    return out


def faster_than(a, b):
    """True when row ``a`` is faster than row ``b`` beyond both 95 % intervals."""
    return a["elements_per_s_low"] is not None and b["elements_per_s_high"] is not None and \
        a["elements_per_s_low"] > b["elements_per_s_high"]


def evaluate_recommendations(results):
    """Per group: is the recommended pattern the fastest candidate, within the intervals?

    Candidates are our patterns that keep the recommendation's constraints (in
    order, every element). Wide rows are never used. ``follows_data`` is False
    when the recommended row is wide or a candidate is faster beyond both
    intervals; the Performance page then states the measured reason (the
    ``REASONS`` of its hook, which the tests require). Peers (the maintained
    loaders) that match the recommended pattern within the interval are
    listed: where one does, the site recommends the maintained one.
    """
    out = []
    for (w, size), rows in main_groups(results).items():
        rec = next((r for r in rows if r["recommended"]), None)
        if rec is None:
            continue
        usable = [r for r in rows if r["candidate"] and not r["wide"]]
        fastest = max(usable, key=lambda r: r["elements_per_s"], default=None)
        beaten_by = [r["pattern"] for r in usable if r is not rec and faster_than(r, rec)]
        matching_peers = [r["pattern"] for r in rows if r["peer"] and not r["wide"] and not faster_than(rec, r)]
        follows = not rec["wide"] and not beaten_by
        out.append({"workload": w, "size": size, "recommended": rec["pattern"], "recommended_wide": rec["wide"],
                    "fastest_candidate": fastest and fastest["pattern"], "faster_beyond_interval": beaten_by,
                    "peers_matching": matching_peers, "follows_data": follows})
    return out


def limit_violations(results):
    """Rows above their limit by more than their interval (the limit would not be an upper bound)."""
    return [r["pattern"] + (f" [{r['size']}]" if r.get("size") else "")
            for r in results if r["ratio_to_limit_low"] is not None and r["ratio_to_limit_low"] > 1.0]


def build_report(*, command, quick, date, machine, versions, provenance, discipline, workloads, results, skipped,
                 service, breakdown, seconds):
    """The results file: everything the Performance page renders."""
    return {
        "command": command,
        "mode": "quick" if quick else "full",
        "date": date,
        "seconds": seconds,
        "provenance": provenance,
        "machine": machine,
        "versions": versions,
        "discipline": discipline,
        "parameters": dict(PARAMETERS),
        "workloads": {w: vars(WORKLOADS[w]) for w in workloads},
        "targets": TARGETS,
        "target_results": evaluate_targets(results),
        "recommendations": evaluate_recommendations(results),
        "results": results,
        "breakdown": breakdown,
        "skipped_peers": skipped,
        "service": service,
    }


def family(row):
    """A class E pattern's name without its size suffix (``process_pool_600KB`` -> ``process_pool``)."""
    return row["pattern"][: -len(row["size"]) - 1] if row.get("size") else row["pattern"]


def _size_plot(report, plt, path):
    rows = [r for r in report["results"] if r["workload"] == "E" and r.get("workers") is None]
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
    95 % intervals; for class E, throughput against element size."""
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
        main = [r for r in report["results"] if r["workload"] == w and r.get("workers") is None]
        rows = [r for r in main if r["pattern"] != "limit"]
        limit = next(r for r in main if r["pattern"] == "limit")
        fig, ax = plt.subplots(figsize=(12, 0.42 * len(rows) + 1.4))
        labels = [r["label"] + ("  (recommended)" if r["recommended"] else "") for r in rows]
        colors = ["#e65100" if r["recommended"] else ("#6a1b9a" if r["peer"] else "#90a4ae") for r in rows]
        rates = [r["elements_per_s"] for r in rows]
        low = [v if r["elements_per_s_low"] is None else r["elements_per_s_low"] for v, r in zip(rates, rows)]
        high = [v if r["elements_per_s_high"] is None else r["elements_per_s_high"] for v, r in zip(rates, rows)]
        errors = [[v - lo for v, lo in zip(rates, low)], [hi - v for v, hi in zip(rates, high)]]
        bars = ax.barh(range(len(rows)), rates, color=colors, xerr=errors,
                       error_kw={"elinewidth": 0.8, "capsize": 2})
        for bar, r in zip(bars, rows):
            if r["wide"]:
                bar.set_alpha(0.35)  # wide interval: greyed, as on the page
        ax.axvline(limit["elements_per_s"], color="black", linestyle="--", label="limit")
        ax.set_yticks(range(len(rows)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("elements per second (median; whiskers: 95 % interval; pale bars: wide interval)")
        ax.set_title(f"Class {w}: {report['workloads'][w]['title']}", fontsize=10)
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        fig.savefig(path, metadata={"Date": None})
        plt.close(fig)
        written.append(path)
    return written
