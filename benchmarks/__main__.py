"""``python -m benchmarks``: the command line."""

import argparse
import dataclasses
import datetime
import json
import subprocess
import sys
import time

import benchmarks
from benchmarks import measure, provenance, report
from benchmarks.workloads import SIZES, WORKLOADS

PROG = "python -m benchmarks"


def _dirty(files):
    """Measured files that differ from the last commit (None outside a git work tree)."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--", *files], cwd=provenance.ROOT,
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return sorted(line[3:] for line in out.splitlines())


def main(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description=benchmarks.__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 2 short repetitions, two element sizes (figures not for reading)")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--plot", metavar="DIR", help="write one SVG chart per class (class E: against size)")
    parser.add_argument("--only", metavar="CLASSES", default=",".join(WORKLOADS), help="e.g. A,E")
    parser.add_argument("--sizes", metavar="SIZES", help=f"class E sizes, e.g. 150KB ({', '.join(SIZES)})")
    parser.add_argument("--patterns", metavar="KEYS",
                        help="only patterns and peers whose name contains one of these (naive and the limit stay)")
    parser.add_argument("--scaling", metavar="CLASSES", default=None,
                        help="classes whose recipe also runs with 1..cores-1 workers (default: B on a full run)")
    parser.add_argument("--budget", type=float, default=None, metavar="MINUTES",
                        help="re-measure wide rows only while on pace for this many minutes (default 22 full)")
    parser.add_argument("--reps", type=int, help="interleaved repetitions per group (default 5; quick 2)")
    parser.add_argument("--no-breakdown", dest="breakdown", action="store_false",
                        help="skip the class E breakdown of where the time goes")
    parser.add_argument("--replot", metavar="JSON",
                        help="only redraw the charts of an existing results file (with --plot)")
    parser.add_argument("--no-service", dest="service", action="store_false",
                        help="skip the tf.data service measurement (it starts server processes)")
    args = parser.parse_args(argv)
    if args.replot:
        if not args.plot:
            parser.error("--replot needs --plot DIR")
        with open(args.replot, encoding="utf-8") as f:
            existing = json.load(f)
        for path in report.write_plots(existing, args.plot):
            print("wrote", path)
        return existing
    workloads = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload class {unknown}; choose from {sorted(WORKLOADS)}")
    sizes = [s.strip() for s in args.sizes.split(",")] if args.sizes else None
    if sizes and [s for s in sizes if s not in SIZES]:
        parser.error(f"unknown element size {[s for s in sizes if s not in SIZES]}; choose from {list(SIZES)}")
    if args.reps is not None and args.reps < 1:
        parser.error("--reps must be at least 1")
    scaling = args.scaling if args.scaling is not None else ("" if args.quick else "B")
    scaling = [w.strip().upper() for w in scaling.split(",") if w.strip()]
    if [w for w in scaling if w not in ("B", "C")]:
        parser.error("--scaling takes classes whose recipe has worker processes: B, C")
    disc = measure.QUICK if args.quick else measure.FULL
    if args.reps:
        disc = dataclasses.replace(disc, reps=args.reps)
    started = time.time()
    command = f"{PROG} " + " ".join(argv if argv is not None else sys.argv[1:])
    code = provenance.code_hash()
    only = [k.strip() for k in args.patterns.split(",")] if args.patterns else None
    groups, skipped = measure.plan(workloads, args.quick, sizes, only, scaling)
    print(f"{len(groups)} groups, {sum(len(g.patterns) + 1 for g in groups)} rows, {disc.reps} interleaved "
          f"repetitions each (code {code['sha256'][:12]})", file=sys.stderr, flush=True)
    budget = args.budget if args.budget is not None else (None if args.quick else 22)
    try:
        bandwidth = measure.memory_copy_bandwidth(16 if args.quick else 64) if "E" in workloads else None
        results = measure.run(groups, disc, None if budget is None else 60 * budget)
        parts = []
        if "E" in workloads and args.breakdown:
            for size in sorted({g.size for g in groups if g.workload == "E"}, key=list(SIZES).index):
                print(f"class E breakdown, {size} ...", file=sys.stderr, flush=True)
                parts.append(measure.breakdown(size, disc, reps=1 if args.quick else 3))
        service, service_error = [], None
        for attempt in range(2 if args.service else 0):  # the servers may fail to start on a loaded machine
            try:
                service = measure.service_rows(disc.reps, args.quick)
                service_error = None
                break
            except RuntimeError as error:
                service_error = str(error)
                print(f"tf.data service measurement failed (attempt {attempt + 1}): {error}", flush=True)
    finally:
        measure.close_process_pools()
    for s in skipped:
        print(f"skipped peer {s['peer']} for class {s['workload']}: {s['reason']}")
    machine = {**measure.machine_info(), "memory_copy_bytes_per_s": bandwidth}
    code["dirty"] = _dirty(list(code["files"]))
    out = report.build_report(
        command=command.strip(), quick=args.quick,
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=machine, versions=measure.versions(), provenance=code, discipline=dataclasses.asdict(disc),
        workloads=workloads, results=results, skipped=skipped, service=service, breakdown=parts,
        seconds=round(time.time() - started, 1))
    out["service_error"] = service_error
    out["budget_minutes"] = budget
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
    if args.plot:
        for path in report.write_plots(out, args.plot):
            print("wrote", path)
    print(f"finished in {out['seconds']} s")
    return out


if __name__ == "__main__":
    main()
