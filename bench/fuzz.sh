#!/usr/bin/env bash
# The long fuzzing run of issue #10 (tests/fuzz.rs) in a release build: by default 1,000,000
# parser-only inputs and 10,000 queries executed over the samples, 2 s per case. Prints the
# figures (inputs, executed, clean KQL errors, panics, hangs, leaks) and each finding, minimised;
# new findings are also saved as .kql files in $OUT, ready for tests/fuzz/crashers/.
#
#   bench/fuzz.sh [--seed S] [--parse N] [--execute N] [--timeout-ms MS] [--out DIR]
#
# Exit status: 0 when no new finding (not listed in tests/fuzz/known_findings.txt), 1 otherwise.
set -euo pipefail

seed=1
parse=1000000
execute=10000
timeout_ms=2000
out=bench-data/fuzz

while [[ $# -gt 0 ]]; do
    case "$1" in
        --seed) seed="$2"; shift 2 ;;
        --parse) parse="$2"; shift 2 ;;
        --execute) execute="$2"; shift 2 ;;
        --timeout-ms) timeout_ms="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
mkdir -p "$out"
out=$(cd "$out" && pwd)
cargo test --release -p kql-tests --test in_process --no-run
log="$out/seed-$seed.log"
start=$(date +%s)
status=0
KQL_FUZZ_SEED=$seed KQL_FUZZ_PARSE_CASES=$parse KQL_FUZZ_CASES=$execute KQL_FUZZ_TIMEOUT_MS=$timeout_ms KQL_FUZZ_OUT="$out" \
    cargo test --release -q -p kql-tests --test in_process -- --nocapture --exact fuzz::bounded_run >"$log" 2>&1 || status=$?
grep -A100000 "^fuzz seed" "$log" | sed '/^thread .fuzz::bounded_run/,$d' || true
if ! grep -q "^fuzz seed" "$log"; then
    # No summary: the process died (the OOM killer, an abort). The case that did it is the
    # last one a run with KQL_FUZZ_PRINT=1 names.
    tail -5 "$log"
    echo "the run ended without its summary; find the case with: KQL_FUZZ_PRINT=1 and the same seed (see tests/fuzz.rs)"
    status=1
fi
echo "($(( $(date +%s) - start ))s; full log: $log)"
exit $status
