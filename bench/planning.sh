#!/usr/bin/env bash
# How planning time grows with the query's size (issue #10: planning in linear time), in a
# release build. For each shape and size it prints the whole process's wall time (">30s" past
# 30 s); a linear planner roughly doubles when the size doubles.
#
#   bench/planning.sh [SIZES...]        (default: 250 500 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-250 500 1000}")
[[ $# -eq 0 ]] && sizes=(250 500 1000)
cargo build -q --release -p kql-repl -p kql-samples
kql=target/release/kql
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

shape() {
    local name=$1 n=$2
    case $name in
        plus_literals) python3 -c "print('print x = ' + ' + '.join(['1']*$n))" ;;
        plus_columns) python3 -c "print('datatable(n:long)[1] | extend y = ' + ' + '.join(['n']*$n))" ;;
        or_terms) python3 -c "print('datatable(s:string)[\"a\"] | where ' + ' or '.join(['s == \"%d\"' % i for i in range($n)]))" ;;
        union_legs) python3 -c "print('print x=1' + ' | union (print x=1)'*($n-1) + ' | count')" ;;
        nested_calls) python3 -c "print('print x = ' + 'tostring('*min($n,60) + '1' + ')'*min($n,60))" ;;
        # Each join widens its output, so these take a tenth and a fifth of the size in joins.
        join_chain) python3 -c "print('let L = datatable(k:int, a:long)[1, 1];\nlet R = datatable(c:long, b:long)[1, 10];\nL' + ' | join R on \$left.k == \$right.c'*($n//10))" ;;
        lookup_chain) python3 -c "print('let F = datatable(Key:string, V:long)[\"a\", 1];\nlet D = datatable(Key:string, W:long)[\"a\", 100];\nF' + ' | lookup kind=inner D on Key'*($n//5))" ;;
    esac
}

printf '%-14s' shape; for n in "${sizes[@]}"; do printf '%10s' "$n"; done; echo
for s in plus_literals plus_columns or_terms union_legs nested_calls join_chain lookup_chain; do
    printf '%-14s' "$s"
    for n in "${sizes[@]}"; do
        shape "$s" "$n" > "$dir/q.kql"
        start=$(date +%s.%N)
        if timeout 30 "$kql" -f "$dir/q.kql" >/dev/null 2>"$dir/err"; then
            printf '%9.2fs' "$(echo "$(date +%s.%N) - $start" | bc)"
        elif [[ $? -eq 124 ]]; then
            printf '%10s' ">30s"
        else
            printf '%10s' "error"
        fi
    done
    echo
done
echo "(nested_calls is capped at 60 levels: deeper nesting is an error, see tests/slt/hardening.slt;"
echo " join_chain has size/10 joins and lookup_chain size/5 lookups)"
