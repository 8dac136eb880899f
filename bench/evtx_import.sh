#!/usr/bin/env bash
# Benchmark: `kql import evtx` throughput (events/s) in a release build, over a real log read many
# times (the sample logs are small: one file given N times makes a run long enough to time).
#
#   bench/evtx_import.sh [FILE.evtx] [--copies N] [--runs R]
#
# Default FILE: ../shared/fixtures/evtx/security.evtx (2,261 Security events), 60 copies.
set -euo pipefail
cd "$(dirname "$0")/.."
file=../shared/fixtures/evtx/security.evtx
copies=60
runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --copies) copies=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    -*) echo "usage: $0 [FILE.evtx] [--copies N] [--runs R]" >&2; exit 2 ;;
    *) file=$1; shift ;;
  esac
done
cargo build --release -q -p kql-repl
files=()
for _ in $(seq "$copies"); do files+=("$file"); done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for run in $(seq "$runs"); do
  rm -rf "$out/tables"
  /usr/bin/time -f "  run $run: %e s wall, %U s user, %M KB peak" target/release/kql import evtx "${files[@]}" --out "$out/tables"
done
