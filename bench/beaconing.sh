#!/usr/bin/env bash
# Benchmark: the verbatim Sentinel beaconing rule over N generated NetworkSession rows
# (default 10,000,000), in a release build; then, when DuckDB is available (or with
# --install-duckdb, which installs the duckdb Python package into bench-data/.venv), the same
# logic written by hand in SQL on DuckDB, over the same file. With --realistic the rows have a
# real network's cardinality (20,000 sources, 48,000 destinations, about 5.3 M distinct flows
# per 10 M rows: `kql-samples network-session --realistic`) instead of the samples' 128 hosts.
#
#   bench/beaconing.sh [--rows N] [--runs R] [--realistic] [--install-duckdb]
set -euo pipefail
cd "$(dirname "$0")/.."

rows=10000000
runs=3
install_duckdb=0
realistic=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --install-duckdb) install_duckdb=1; shift ;;
    --realistic) realistic=1; shift ;;
    *) echo "usage: $0 [--rows N] [--runs R] [--realistic] [--install-duckdb]" >&2; exit 2 ;;
  esac
done

cargo build --release -q -p kql-repl -p kql-samples
data=bench-data/rows-$rows
generate=(network-session --rows "$rows")
if [ "$realistic" = 1 ]; then
  data=bench-data/realistic-rows-$rows
  generate+=(--realistic)
fi
mkdir -p "$data"
if [ ! -f "$data/NetworkSession.parquet" ]; then
  echo "generating $rows rows into $data ..."
  target/release/kql-samples "${generate[@]}" --out "$data/NetworkSession.parquet" >/dev/null
fi
ls -l "$data/NetworkSession.parquet"

now=2024-05-03T00:00:00Z
echo "kql: $(nproc) cores, $runs runs"
for i in $(seq "$runs"); do
  start=$(date +%s.%N)
  rows_out=$(target/release/kql --data "$data" --functions samples/functions/asim.kql --now "$now" \
    -f samples/hunts/asim_networksession_beaconing.kql --format csv | tail -n +2 | wc -l)
  end=$(date +%s.%N)
  printf 'kql run %d: %.2f s (%d result rows)\n' "$i" "$(echo "$end - $start" | bc)" "$rows_out"
done

python=python3
if [ "$install_duckdb" = 1 ] && ! $python -c 'import duckdb' 2>/dev/null; then
  [ -x bench-data/.venv/bin/python ] || python3 -m venv bench-data/.venv
  bench-data/.venv/bin/pip install -q duckdb
fi
[ -x bench-data/.venv/bin/python ] && python=bench-data/.venv/bin/python
if $python -c 'import duckdb' 2>/dev/null; then
  $python bench/beaconing_duckdb.py "$data/NetworkSession.parquet" "$runs"
else
  echo "duckdb: not installed (run with --install-duckdb to compare)"
fi
