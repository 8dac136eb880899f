#!/usr/bin/env bash
# make_list / make_set / make_bag at real cardinality (issue #12: bounded memory): wall time and
# peak resident memory of each query over N realistic NetworkSession rows (default 10,000,000;
# about 20,000 sources, 48,000 destinations, 65,000 ports), in a release build. Runs each query
# R times (default 3) and prints each run, so two builds can be compared: KQL=path/to/kql runs
# another binary over the same data.
#
#   bench/collect.sh [--rows N] [--runs R] [--memory-limit SIZE]
set -euo pipefail
cd "$(dirname "$0")/.."

rows=10000000
runs=3
limit=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --memory-limit) limit=(--memory-limit "$2"); shift 2 ;;
    *) echo "usage: $0 [--rows N] [--runs R] [--memory-limit SIZE]" >&2; exit 2 ;;
  esac
done

kql=${KQL:-target/release/kql}
if [ -z "${KQL:-}" ]; then
  cargo build --release -q -p kql-repl -p kql-samples
fi
data=bench-data/realistic-rows-$rows
mkdir -p "$data"
if [ ! -f "$data/NetworkSession.parquet" ]; then
  echo "generating $rows rows into $data ..."
  "${SAMPLES:-target/release/kql-samples}" network-session --rows "$rows" --realistic --out "$data/NetworkSession.parquet" >/dev/null
fi

# name|query: each ends in a small result, so output costs nothing.
queries=(
  'set_few_per_group|NetworkSession | summarize s = make_set(DstPortNumber) by SrcIpAddr | summarize groups = count(), values = sum(array_length(s))'
  'set_large|NetworkSession | summarize s = make_set(strcat(SrcIpAddr, "-", DstIpAddr)) by bin(TimeGenerated, 1d) | summarize groups = count(), values = sum(array_length(s))'
  'list_per_group|NetworkSession | summarize l = make_list(DstPortNumber) by SrcIpAddr | summarize groups = count(), values = sum(array_length(l))'
  'bag_per_group|NetworkSession | summarize b = make_bag(bag_pack(tostring(DstPortNumber), 1)) by SrcIpAddr | summarize groups = count(), keys = sum(array_length(bag_keys(b)))'
)

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
echo "kql: $kql, $(nproc) cores, $rows rows, ${limit[*]:-no memory limit}"
for entry in "${queries[@]}"; do
  name=${entry%%|*}
  query=${entry#*|}
  for i in $(seq "$runs"); do
    if /usr/bin/time -f "%e %M" -o "$dir/time" "$kql" --data "$data" "${limit[@]}" --format csv -c "$query" > "$dir/out" 2> "$dir/err"; then
      result=$(tail -n +2 "$dir/out" | tr '\n' ' ')
    else
      result="error: $(head -c 120 "$dir/err" | head -1)"
    fi
    read -r secs kb < <(tail -1 "$dir/time")
    printf '%-18s run %d: %6.2f s, peak %5d MB  %s\n' "$name" "$i" "$secs" $((kb / 1024)) "$result"
  done
done
