#!/usr/bin/env bash
# A long metamorphic campaign (tests/metamorphic.rs) for a benchmark machine: many seeds,
# release profile. Each seed's log goes to $OUT/seed-N.log; the seeds that found a failure are
# listed at the end, and each report in its log says how to rerun that one case.
#
#   bench/metamorphic.sh [--seeds N] [--first-seed S] [--cases C] [--known-bugs all|NAMES] [--out DIR]
#
# Defaults: 50 seeds from 1000, 20000 cases each, known bugs avoided, logs in bench-data/metamorphic/.
set -euo pipefail

seeds=50
first_seed=1000
cases=20000
known_bugs=""
out=bench-data/metamorphic

while [[ $# -gt 0 ]]; do
    case "$1" in
        --seeds) seeds="$2"; shift 2 ;;
        --first-seed) first_seed="$2"; shift 2 ;;
        --cases) cases="$2"; shift 2 ;;
        --known-bugs) known_bugs="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
mkdir -p "$out"
cargo test --release -p kql-tests --test in_process --no-run

failed=()
for ((seed = first_seed; seed < first_seed + seeds; seed++)); do
    log="$out/seed-$seed.log"
    start=$(date +%s)
    if KQL_METAMORPHIC_SEED=$seed KQL_METAMORPHIC_CASES=$cases KQL_METAMORPHIC_KNOWN_BUGS="$known_bugs" \
        cargo test --release -q -p kql-tests --test in_process -- --nocapture metamorphic:: >"$log" 2>&1; then
        echo "seed $seed: ok ($(( $(date +%s) - start ))s)"
    else
        echo "seed $seed: FAILED ($(( $(date +%s) - start ))s), see $log"
        failed+=("$seed")
    fi
done

echo
if [[ ${#failed[@]} -eq 0 ]]; then
    echo "all $seeds seeds passed ($cases cases each)"
else
    echo "${#failed[@]} of $seeds seeds failed: ${failed[*]}"
    exit 1
fi
