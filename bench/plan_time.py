#!/usr/bin/env python3
"""How long kql takes to parse and plan real queries, and to start: issue #12's targets
(parse + plan of every corpus query <= 2 ms median; `print 1` <= 20 ms, whole process).

Every query of the corpus files (`sentinel.jsonl`, `m365d_hunting.jsonl`, `sigma_kusto.jsonl`)
is written to a file and checked in ONE `kql check --timings --format jsonl` run, with the
samples' tables and functions registered, so that queries over `SecurityEvent`,
`WindowsEvent`, `Event`, `NetworkSession` ... are planned in full: kql's planner, DataFusion's
logical optimizer and its physical planner (`--timings` makes the physical plan). Queries over
tables the samples do not have are parsed and then stop at the unknown table. The time of each
query is measured inside the process (`elapsed_us`); startup is measured apart, as the wall
clock of `kql -c 'print 1'`.

    python3 bench/plan_time.py [../shared/corpus] [target/release/kql] [--runs N] [-- KQL ARGS...]

Arguments after `--` go to `kql check` too, e.g. `-- --table DeviceProcessEvents=FILE` to plan
the Sigma rules over Defender's table as well.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

extra = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
own = sys.argv[1 : sys.argv.index("--")] if "--" in sys.argv else sys.argv[1:]
args = [a for i, a in enumerate(own) if not a.startswith("--") and not (i > 0 and own[i - 1] == "--runs")]
corpus_dir = args[0] if args else "../shared/corpus"
kql = args[1] if len(args) > 1 else "target/release/kql"
runs = int(own[own.index("--runs") + 1]) if "--runs" in own else 20
if not os.path.isdir(corpus_dir):
    sys.exit(f"no corpus at {corpus_dir} (give its folder as the first argument)")

tmp = tempfile.mkdtemp(prefix="kql-plan-time-")
for name in ["sentinel.jsonl", "m365d_hunting.jsonl", "sigma_kusto.jsonl"]:
    with open(os.path.join(corpus_dir, name)) as f:
        for i, line in enumerate(f, 1):
            with open(os.path.join(tmp, f"{name[:-6]}-{i:05d}.kql"), "w") as out:
                out.write(json.loads(line)["query"])

samples = ["--data", "samples/data", "--functions", "samples/functions/asim.kql"]
run = subprocess.run([kql, "check", tmp, "--format", "jsonl", "--timings", *samples, *extra], capture_output=True, text=True)
verdicts = [json.loads(l) for l in run.stdout.splitlines() if l.startswith("{")]
if not verdicts:
    sys.exit(f"kql check gave no verdicts: {run.stderr.strip()[:2000]}")


def describe(label, values):
    if not values:
        print(f"{label:<44} none")
        return
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))] / 1000
    print(
        f"{label:<44} {len(values):>6} queries  median {statistics.median(values) / 1000:6.2f} ms"
        f"  p90 {pick(0.9):6.2f} ms  p99 {pick(0.99):7.2f} ms  max {values[-1] / 1000:8.2f} ms"
    )


timed = [v for v in verdicts if v.get("elapsed_us") is not None]
describe("every query (parse, and plan where it can)", [v["elapsed_us"] for v in timed])
describe("planned in full (logical + physical)", [v["elapsed_us"] for v in timed if v["ok"] and v["stage"] == "plan"])
describe("parsed only (tables the samples lack)", [v["elapsed_us"] for v in timed if v["ok"] and v["stage"] == "parse"])
describe("failed", [v["elapsed_us"] for v in timed if not v["ok"]])
slowest = sorted(timed, key=lambda v: -v["elapsed_us"])[:5]
for v in slowest:
    print(f"  slow: {v['elapsed_us'] / 1000:8.2f} ms  {os.path.basename(v['file'])}  ({v['stage']}, ok={v['ok']})")

times = []
for _ in range(runs):
    start = time.perf_counter()
    subprocess.run([kql, "-c", "print 1"], capture_output=True, check=True)
    times.append(time.perf_counter() - start)
print(f"`kql -c 'print 1'` whole process, {runs} runs: median {statistics.median(times) * 1000:.1f} ms, min {min(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms")
