"""``python -m benchmarks``: the command line."""

import argparse
import json
import sys
import time

import benchmarks
from benchmarks import measure, report
from benchmarks.workloads import WORKLOADS

PROG = "python -m benchmarks"


def main(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description=benchmarks.__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter runs (under 2.5 minutes)")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--plot", metavar="DIR", help="write one SVG chart per class (class E: against size)")
    parser.add_argument("--only", metavar="CLASSES", default=",".join(WORKLOADS), help="e.g. A,E")
    parser.add_argument("--reps", type=int, help="repetitions per pattern (default 1 quick, 4 full; class E at most 3)")
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
    if args.reps is not None and args.reps < 1:
        parser.error("--reps must be at least 1")
    started = time.time()
    command = f"{PROG} " + " ".join(argv if argv is not None else sys.argv[1:])
    results, skipped, bandwidth = measure.run(workloads, args.quick, args.reps)
    service = measure.service_rows(args.reps or (1 if args.quick else 3), args.quick) if args.service else []
    machine = {**measure.machine_info(), "memory_copy_bytes_per_s": bandwidth}
    out = report.build_report(command.strip(), args.quick, machine, measure.versions(),
                              workloads, results, skipped, service, round(time.time() - started, 1))
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
