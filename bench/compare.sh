#!/usr/bin/env bash
# Benchmark (issue #12): kql against DuckDB (the KQL's logic written literally in SQL, and the fastest SQL
# found), duckdb-kql (KQL translated to DuckDB SQL, a PyPI package) and chdb (ClickHouse's Kusto dialect),
# query by query, at several sizes, in one go. The queries are bench/queries/NAME.kql (kql's text) with
# NAME.duckdb_literal.sql / NAME.duckdb_best.sql and, where a peer needs another spelling of the same
# logic, NAME.chdb.kql / NAME.duckdb_kql.kql (each difference is a comment line at the top).
#
#   bench/compare.sh [--rows 1000000,10000000] [--runs 3] [--queries beaconing,summarize4,...]
#                    [--engines kql,duckdb_literal,duckdb_best,duckdb_kql,chdb] [--we-cap N]
#                    [--json FILE] [--wait-idle S] [--no-install] [--build]
#
# Queries: beaconing (samples/hunts/asim_networksession_beaconing.kql verbatim), summarize4, join,
# has_search (NetworkSession), dynamic, wfp_parser, wfp_parser_summarize (WindowsEvent).
#
# What it does: checks target/release/kql (with --build, builds it and kql-samples first; otherwise it
# never builds), installs duckdb, chdb, duckdb-kql[duckdb], pyarrow and numpy into bench-data/.venv
# (unless --no-install), generates the data that is missing, then runs bench/compare.py (its header
# says how each engine is timed). Data, reused when present:
#   bench-data/realistic-rows-N/NetworkSession.parquet   kql-samples network-session --rows N --realistic
#   bench-data/sentinel-rows-M/WindowsEvent.parquet      M = min(N, --we-cap, default 10,000,000):
#       the WindowsEvent table of `kql-samples sentinel --rows M` (M + 727 rows), written by
#       bench/gen_samples.py windows-event: kql-samples sentinel builds all five of its tables in
#       memory (200,000 rows: 26.5 s and 2.8 GB peak on the 2-core machine, so about 14 GB at 1 M),
#       where the port writes only this one (10 M rows: 147 s, 3.5 GB peak)
# When target/release/kql-samples is not built, bench/gen_samples.py network-session writes the same
# NetworkSession rows (a port of the generator; both ports give values equal to kql-samples', checked
# at 1 M NetworkSession and 200,000 WindowsEvent rows, and `bench/gen_samples.py check` compares them
# with the bundled samples/data).
#
# Output: per size, a table with one row per query: per engine the median seconds (kql: the whole
# process, wall clock, and its median peak RSS in MB; peers: the query inside a Python process of its
# own, started once, the connection already open), kql/peer ratios (above 1: kql slower), kql's result rows, and "check": ok
# when every engine that ran returned the same rows, otherwise what differs. "cannot run" cells have
# the peer's error under the table; "n/a" engines are not installed here. Before each round of timed
# runs it waits (up to --wait-idle seconds, default 300) for other processes to leave the CPU idle, and
# notes under the table the queries whose rounds still shared the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

rows=1000000,10000000
runs=3
queries=beaconing,summarize4,join,has_search,dynamic,wfp_parser,wfp_parser_summarize
engines=kql,duckdb_literal,duckdb_best,duckdb_kql,chdb
we_cap=10000000
install=1
build=0
json=
wait_idle=300
usage="usage: $0 [--rows N,N,...] [--runs R] [--queries Q,...] [--engines E,...] [--we-cap N] [--json FILE] [--wait-idle S] [--no-install] [--build]"
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --queries) queries=$2; shift 2 ;;
    --engines) engines=$2; shift 2 ;;
    --we-cap) we_cap=$2; shift 2 ;;
    --json) json=$2; shift 2 ;;
    --wait-idle) wait_idle=$2; shift 2 ;;
    --no-install) install=0; shift ;;
    --build) build=1; shift ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done

if [ "$build" = 1 ]; then
  cargo build --release -q -p kql-repl -p kql-samples
fi
if [ ! -x target/release/kql ]; then
  echo "target/release/kql is not built: cargo build --release -p kql-repl (or run with --build)" >&2
  exit 1
fi

venv=bench-data/.venv
py=$venv/bin/python
mkdir -p bench-data
[ -x "$py" ] || python3 -m venv "$venv"
if [ "$install" = 1 ]; then
  # One package at a time: a peer that cannot be installed is reported as n/a, the others still run.
  for spec in numpy pyarrow duckdb chdb 'duckdb-kql[duckdb]'; do
    mod=${spec%%[*}; mod=${mod//-/_}
    if ! "$py" -c "import $mod" 2>/dev/null; then
      echo "installing $spec into $venv ..."
      "$venv/bin/pip" install -q "$spec" || echo "warning: pip install $spec failed; that engine will be n/a" >&2
    fi
  done
fi
"$py" -c 'import numpy, pyarrow' 2>/dev/null || { echo "numpy and pyarrow are needed in $venv (drop --no-install)" >&2; exit 1; }

# Disk: about 20 bytes per row for either table, twice for room.
need_mb=0
for n in ${rows//,/ }; do need_mb=$((need_mb + n * 2 * 20 / 1000000 * 2)); done
avail_mb=$(df -Pm bench-data | awk 'NR==2 {print $4}')
if [ "$avail_mb" -lt "$need_mb" ]; then
  echo "warning: ${avail_mb} MB free under bench-data, the data may need up to ${need_mb} MB" >&2
fi

wants_we=0
case ",$queries," in *,dynamic,*|*,wfp_parser,*|*,wfp_parser_summarize,*) wants_we=1 ;; esac
for n in ${rows//,/ }; do
  ns=bench-data/realistic-rows-$n/NetworkSession.parquet
  if [ ! -f "$ns" ]; then
    mkdir -p "$(dirname "$ns")"
    if [ -x target/release/kql-samples ]; then
      echo "generating $n NetworkSession rows into $ns (kql-samples) ..."
      target/release/kql-samples network-session --rows "$n" --realistic --out "$ns" >/dev/null
    else
      echo "generating $n NetworkSession rows into $ns (bench/gen_samples.py: target/release/kql-samples is not built) ..."
      "$py" bench/gen_samples.py network-session --rows "$n" --realistic --out "$ns"
    fi
  fi
  if [ "$wants_we" = 1 ]; then
    m=$(( n < we_cap ? n : we_cap ))
    we=bench-data/sentinel-rows-$m/WindowsEvent.parquet
    if [ ! -f "$we" ]; then
      mkdir -p "$(dirname "$we")"
      echo "generating WindowsEvent (kql-samples sentinel --rows $m) into $we (bench/gen_samples.py) ..."
      "$py" bench/gen_samples.py windows-event --rows "$m" --out "$we"
    fi
  fi
done

args=(--rows "$rows" --runs "$runs" --queries "$queries" --engines "$engines" --we-cap "$we_cap" --wait-idle "$wait_idle")
[ -n "$json" ] && args+=(--json "$json")
exec "$py" bench/compare.py "${args[@]}"
