"""Client process for the multi-host tests: reads epochs on command (JSON lines on stdin)."""

import json
import sys
import time

from recipes.service import ServiceTimeout, distributed, portable_pipeline, read, shard_files


def main(dispatcher, num_files, rows_per_file):
    with shard_files(int(num_files), int(rows_per_file)) as paths:
        print("ready", flush=True)
        for line in sys.stdin:
            command = json.loads(line)
            rows, outcome, error, start = [], "ended", "", time.monotonic()
            last = start
            try:
                dataset = distributed(portable_pipeline(paths), dispatcher, command["mode"])
                for row in read(dataset, dispatcher, command["timeout_s"]):
                    rows.append(int(row[0]))
                    last = time.monotonic()
                    if len(rows) == command["pause_at"]:
                        print("paused", flush=True)
                        sys.stdin.readline()
            except ServiceTimeout as e:
                outcome, error = "timeout", str(e)
            except Exception as e:  # a TensorFlow error ends the epoch: report it
                outcome, error = "error", f"{type(e).__name__}: {e}"
            print(json.dumps({"rows": rows, "outcome": outcome, "error": error[:2000],
                              "seconds": round(time.monotonic() - start, 1),
                              "last_row_s": round(last - start, 1)}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
