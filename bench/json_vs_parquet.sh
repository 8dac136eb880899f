#!/usr/bin/env bash
# Benchmark: scanning the same rows as JSON lines and as Parquet (release build), alternating.
# The rows are the realistic NetworkSession table (`kql-samples network-session --realistic`),
# written once as Parquet and once as JSON lines by kql itself. Three forms: the Parquet file,
# the JSON lines file parsed, and the JSON lines file with --text-cache (its Parquet copy, made
# by a first scan that is timed apart, "jsonl-first-scan").
#
#   bench/json_vs_parquet.sh [--rows N] [--runs R]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=1000000
runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: $0 [--rows N] [--runs R]" >&2; exit 2 ;;
  esac
done
cargo build --release -q -p kql-repl -p kql-samples
data=bench-data/realistic-rows-$rows
mkdir -p "$data"
[ -f "$data/NetworkSession.parquet" ] || target/release/kql-samples network-session --rows "$rows" --realistic --out "$data/NetworkSession.parquet" >/dev/null
[ -f "$data/NetworkSession.jsonl" ] || target/release/kql --table "N=$data/NetworkSession.parquet" --format jsonl -c 'N' > "$data/NetworkSession.jsonl"
ls -l "$data/NetworkSession.parquet" "$data/NetworkSession.jsonl"
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
narrow='N | where DstPortNumber == 443 | summarize n = count() by SrcIpAddr | count'
wide='N | summarize count(), dcount(SrcIpAddr), dcount(DstIpAddr), max(TimeGenerated), sum(DstPortNumber), dcount(DvcAction), dcount(EventResult)'
for query in "$narrow" "$wide"; do
  echo "$query"
  rm -rf "${cache:?}"/*
  /usr/bin/time -f "  jsonl-first-scan (writes the copy): %e s wall, %M KB peak" \
    target/release/kql --text-cache "$cache" --table "N=$data/NetworkSession.jsonl" -c "$query" >/dev/null
  for run in $(seq "$runs"); do
    for form in parquet jsonl jsonl-cached; do
      case $form in
        jsonl-cached) args=(--text-cache "$cache" --table "N=$data/NetworkSession.jsonl") ;;
        *) args=(--table "N=$data/NetworkSession.$form") ;;
      esac
      /usr/bin/time -f "  $form run $run: %e s wall, %M KB peak" target/release/kql "${args[@]}" -c "$query" >/dev/null
    done
  done
done
du -sh "$cache"
