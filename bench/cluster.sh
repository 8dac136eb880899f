#!/usr/bin/env bash
# Benchmark: the verbatim Sentinel beaconing rule over N realistic NetworkSession rows split over
# several Parquet files (default 10,000,000 rows in 4 files), on one machine and then through a
# local Ballista cluster of `kql` processes with 1 and with 2 executors, in a release build.
# Each cluster run's rows are compared with the local run's (sorted); the distributed plan (the
# stages) is written next to the data, for reading where the time goes.
#
#   bench/cluster.sh [--rows N] [--files F] [--runs R]
#
# On a machine with few cores no speed-up is expected: the figures are about the overhead of
# stages, shuffle files and Arrow Flight on loopback. With KQL_CLUSTER_TLS_CERT, _KEY and _CA
# set (e.g. to tests/fixtures/tls/node.pem, node.key, cluster-ca.pem), every node and the client
# speak TLS (README, "Cluster").
set -euo pipefail
cd "$(dirname "$0")/.."

rows=10000000
files=4
runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows=$2; shift 2 ;;
    --files) files=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: $0 [--rows N] [--files F] [--runs R]" >&2; exit 2 ;;
  esac
done

cargo build --release -q -p kql-repl -p kql-samples
kql=$PWD/target/release/kql
data=$PWD/bench-data/cluster-rows-$rows-files-$files
table=$data/NetworkSession
# Results, logs and shuffle files sit apart from the tables (`--data` registers every file).
out=$data-out
mkdir -p "$table" "$out"
for i in $(seq "$files"); do
  part=$table/part-$i.parquet
  if [ ! -f "$part" ]; then
    echo "generating $((rows / files)) rows into $part ..."
    target/release/kql-samples network-session --realistic --rows $((rows / files)) --seed $((1570 + i)) --out "$part" >/dev/null
  fi
done
du -sh "$table"

now=2024-05-03T00:00:00Z
hunt=samples/hunts/asim_networksession_beaconing.kql
query() {
  "$kql" "$@" --data "$data" --functions samples/functions/asim.kql --now "$now" -f "$hunt" --format csv
}

time_runs() {
  local label=$1 out=$2
  shift 2
  for i in $(seq "$runs"); do
    local start end
    start=$(date +%s.%N)
    query "$@" | tail -n +2 | sort > "$out"
    end=$(date +%s.%N)
    printf '%s run %d: %.2f s (%d result rows)\n' "$label" "$i" "$(echo "$end - $start" | bc)" "$(wc -l < "$out")"
  done
}

time_runs "local" "$out/local.csv"

nodes=()
stop_nodes() {
  for pid in "${nodes[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${nodes[@]}"; do wait "$pid" 2>/dev/null || true; done
  nodes=()
}
trap stop_nodes EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 200); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}

for executors in 1 2; do
  scheduler_port=$(free_port)
  "$kql" cluster scheduler --bind "127.0.0.1:$scheduler_port" --data-root "$data" 2>"$out/scheduler.log" &
  nodes+=($!)
  wait_port "$scheduler_port"
  for e in $(seq "$executors"); do
    port=$(free_port)
    grpc=$(free_port)
    "$kql" cluster executor --scheduler "127.0.0.1:$scheduler_port" --port "$port" --grpc-port "$grpc" \
      --work-dir "$out/work-$e" --data-root "$data" 2>"$out/executor-$e.log" &
    nodes+=($!)
    wait_port "$port"
  done
  sleep 1
  cluster="df://127.0.0.1:$scheduler_port"
  time_runs "cluster, $executors executor(s)" "$out/cluster-$executors.csv" --cluster "$cluster"
  if cmp -s "$out/local.csv" "$out/cluster-$executors.csv"; then
    echo "cluster, $executors executor(s): the same rows as locally"
  else
    echo "cluster, $executors executor(s): ROWS DIFFER from the local run" >&2
    exit 1
  fi
  query --cluster "$cluster" --explain plan > "$out/stages-$executors.txt" 2>&1 || true
  stop_nodes
done
echo "distributed plans: $out/stages-*.txt"
