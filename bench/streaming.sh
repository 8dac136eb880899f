#!/usr/bin/env bash
# Peak memory of a large export (issue #11): results stream from the engine into the writer,
# so a file of any size costs what the engine holds, not the result's size. Runs the issue's
# query (50 M rows to CSV; change with ROWS=N) in a release build and prints the wall time,
# the peak resident memory and the file's size.
#
#   bench/streaming.sh            (ROWS=50000000 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${ROWS:-50000000}
cargo build -q --release -p kql-repl -p kql-samples
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for format in csv jsonl; do
    /usr/bin/time -f "%e %M" -o "$dir/time" target/release/kql \
        -c "range x from 1 to $rows step 1 | extend s = strcat(\"row \", x)" --format "$format" -o "$dir/out.$format"
    read -r secs kb < "$dir/time"
    lines=$(wc -l < "$dir/out.$format")
    bytes=$(stat -c %s "$dir/out.$format")
    printf '%-6s %d rows: %6.1f s, peak %4d MB resident, %d lines, %d MB written\n' \
        "$format" "$rows" "$secs" $((kb / 1024)) "$lines" $((bytes / 1048576))
done
