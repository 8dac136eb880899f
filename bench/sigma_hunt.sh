#!/usr/bin/env bash
# Benchmark: every Sigma rule of the corpus compiled for Microsoft Defender XDR (pipeline
# "microsoft_xdr") that reads DeviceProcessEvents, run as ONE `kql hunt` over N generated
# DeviceProcessEvents rows (default 10,000,000; `kql-samples device-process`, a 15,000-device
# fleet with planted attacks). Prints what ran, what failed (grouped by the first line of the
# error: what kql cannot run yet), what hit, how many hunts shared one scan of the table, the
# wall time, peak memory and events/s next to hayabusa's published rate; then times the K rules
# likely slowest alone (bench/sigma_rank.py: hunts sharing a scan all report the scan's time, so
# among those the rules asking the most text searches), each run alone, and compares the whole hunt with the
# slowest single rule. With --compare-unshared it also runs the hunt with --no-shared-scans
# (every rule reading the table itself; slow).
#
#   bench/sigma_hunt.sh [--rows N] [--corpus PATH] [--singles K] [--jobs J] [--compare-unshared]
#
# The table is generated once into bench-data/device-process-N/DeviceProcessEvents.parquet;
# the rules are extracted into bench-data/sigma-dpe/RULEID.kql (first line `// title`); the
# hunt writes its results and summary.json into bench-data/sigma-dpe-out-N. The corpus
# (default ../shared/corpus/sigma_kusto.jsonl) is not part of the repository. target/release/kql
# and kql-samples are built when missing; rebuild them yourself to measure a newer tree.
set -euo pipefail
cd "$(dirname "$0")/.."

rows=10000000
corpus=../shared/corpus/sigma_kusto.jsonl
singles=8
jobs=
compare_unshared=0
usage="usage: $0 [--rows N] [--corpus PATH] [--singles K] [--jobs J] [--compare-unshared]"
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows=$2; shift 2 ;;
    --corpus) corpus=$2; shift 2 ;;
    --singles) singles=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --compare-unshared) compare_unshared=1; shift ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done

if [ ! -f "$corpus" ]; then
  echo "error: no Sigma corpus at $corpus" >&2
  echo "  It is the JSON lines file of Sigma rules compiled to KQL (sigma_kusto.jsonl), kept outside" >&2
  echo "  the repository in shared/corpus/; a clone without shared/ has none. Pass --corpus PATH." >&2
  exit 1
fi
for tool in python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 1; }
done
if [ ! -x target/release/kql ] || [ ! -x target/release/kql-samples ]; then
  echo "+ cargo build --release --locked -p kql-repl -p kql-samples"
  cargo build --release --locked -q -p kql-repl -p kql-samples
fi

echo "kql $(git log -1 --format=%h 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)'), $(nproc) cores"

# 1. The table, generated once.
data=bench-data/device-process-$rows
table=$data/DeviceProcessEvents.parquet
if [ ! -f "$table" ]; then
  mkdir -p "$data"
  echo "+ target/release/kql-samples device-process --rows $rows --out $table.partial"
  /usr/bin/time -f 'generated in %e s, peak %M KB' target/release/kql-samples device-process --rows "$rows" --out "$table.partial" 2>&1 | grep -v '^  '
  mv "$table.partial" "$table"
fi
ls -l "$table"

# 2. The rules.
rules=bench-data/sigma-dpe
rm -rf "$rules"
mkdir -p "$rules"
python3 - "$corpus" "$rules" <<'EOF'
import json, os, re, sys
corpus, out = sys.argv[1], sys.argv[2]
n = 0
with open(corpus, encoding="utf-8") as f:
    for line in f:
        if not line.strip():
            continue
        r = json.loads(line)
        query = r.get("query") or ""
        if r.get("pipeline") != "microsoft_xdr" or not query.lstrip().startswith("DeviceProcessEvents"):
            continue
        rule_id = re.sub(r"[^A-Za-z0-9_.-]", "_", str(r.get("id") or f"rule-{n}"))
        title = " ".join(str(r.get("title") or "").split())
        path = os.path.join(out, rule_id + ".kql")
        if os.path.exists(path):
            path = os.path.join(out, f"{rule_id}-{n}.kql")
        with open(path, "w", encoding="utf-8") as g:
            g.write(f"// {title}\n{query.rstrip()}\n")
        n += 1
print(f"extracted {n} microsoft_xdr rules over DeviceProcessEvents from {corpus} into {out}/")
EOF

# 3. One hunt over all of them.
run_hunt() { # OUT_DIR LOG EXTRA_ARGS...
  local out=$1 log=$2
  shift 2
  rm -rf "$out"
  local cmd=(target/release/kql hunt "$rules" --table "DeviceProcessEvents=$table" --out "$out" ${jobs:+--jobs "$jobs"} "$@")
  echo "+ /usr/bin/time -f '%e %M' ${cmd[*]}"
  local status=0
  /usr/bin/time -f '%e %M' -o "$out.time" "${cmd[@]}" >"$log" 2>&1 || status=$?
  echo "  (exit status $status; its output is in $log)"
  [ -f "$out/summary.json" ] || { echo "error: $out/summary.json was not written; the end of $log:" >&2; tail -20 "$log" >&2; exit 1; }
}

out=bench-data/sigma-dpe-out-$rows
run_hunt "$out" "$out.log"
read -r total_s peak_kb < <(tail -1 "$out.time")

python3 - "$out/summary.json" "$rows" "$total_s" "$peak_kb" <<'EOF'
import collections, json, sys
summary, rows, total, peak = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
hunts = json.load(open(summary))["hunts"]
failed = [h for h in hunts if h["status"] == "failed"]
hits = [h for h in hunts if h["status"] == "hits"]
shared = sum(1 for h in hunts if h.get("shared_scan"))
print()
print(f"rules:            {len(hunts)}")
print(f"ran:              {len(hunts) - len(failed)}")
print(f"failed:           {len(failed)}")
print(f"with hits:        {len(hits)} ({sum(h['rows'] for h in hits)} rows)")
print(f"shared the scan:  {shared}")
print(f"total:            {total:.1f} s wall, peak RSS {peak / 1024:.0f} MB")
print(f"events/s:         {rows / total:,.0f}  ({rows:,} rows / {total:.1f} s, {len(hunts) - len(failed)} rules)")
print(f"hayabusa:         10,000-17,000 events/s with about 4,000 rules (published figures, as issue #12 quotes them)")
if failed:
    reasons = collections.Counter()
    example = {}
    for h in failed:
        first = (h.get("error") or "").strip().splitlines()
        reason = first[0] if first else "(no message)"
        reasons[reason] += 1
        example.setdefault(reason, h)
    print()
    print(f"failures by reason ({len(reasons)} distinct first lines; top 15):")
    for reason, n in reasons.most_common(15):
        print(f"  {n:4d}  {reason[:160]}")
        print(f"        e.g. {example[reason]['file']}")
# Hunts of one shared scan all report about the scan's time: see bench/sigma_rank.py.
sys.path.insert(0, "bench")
from sigma_rank import ranked
top = ranked(hunts)[:5]
print()
print("longest inside the hunt:")
for h in top:
    print(f"  {h['elapsed_ms']:7d} ms  {h['rows']:7d} rows  {h['file']}")
EOF

# 4. The slowest rules, each alone.
if [ "$singles" -gt 0 ]; then
  echo
  echo "the $singles rules likely slowest alone, each run alone:"
  echo "  (a hunt in a shared scan reports the scan's time as its elapsed_ms: within 10 % of the longest,"
  echo "  the rules that ask the most text searches are taken first; bench/sigma_rank.py)"
  slowest=0
  slowest_rule=
  while IFS= read -r rule; do
    cmd=(target/release/kql -f "$rule" --table "DeviceProcessEvents=$table" --format csv)
    echo "+ /usr/bin/time -f '%e %M' ${cmd[*]} > /dev/null"
    if /usr/bin/time -f '%e %M' -o "$out.single" "${cmd[@]}" >/dev/null 2>"$out.single.err"; then
      read -r s kb < <(tail -1 "$out.single")
      printf '  %6.2f s  %5.0f MB  %s\n' "$s" "$(echo "$kb / 1024" | bc -l)" "$rule"
      if [ "$(echo "$s > $slowest" | bc -l)" = 1 ]; then slowest=$s; slowest_rule=$rule; fi
    else
      echo "  failed alone: $(head -1 "$out.single.err")"
    fi
  done < <(python3 -c '
import json, sys
sys.path.insert(0, "bench")
from sigma_rank import ranked
for h in ranked(json.load(open(sys.argv[1]))["hunts"])[: int(sys.argv[2])]:
    print(h["file"])
' "$out/summary.json" "$singles")
  if [ -n "$slowest_rule" ]; then
    printf 'slowest single rule: %.2f s (%s)\n' "$slowest" "$slowest_rule"
    printf 'whole hunt / slowest single rule: %.1f (%.1f s / %.2f s)\n' "$(echo "$total_s / $slowest" | bc -l)" "$total_s" "$slowest"
  fi
fi

# 5. Optionally, the same hunt without shared scans.
if [ "$compare_unshared" = 1 ]; then
  echo
  unshared=bench-data/sigma-dpe-out-unshared-$rows
  run_hunt "$unshared" "$unshared.log" --no-shared-scans
  read -r u_s u_kb < <(tail -1 "$unshared.time")
  printf 'without shared scans: %.1f s wall, peak RSS %.0f MB, %.0f events/s (shared: %.1f s, %.1fx faster)\n' \
    "$u_s" "$(echo "$u_kb / 1024" | bc -l)" "$(echo "$rows / $u_s" | bc -l)" "$total_s" "$(echo "$u_s / $total_s" | bc -l)"
fi
