#!/usr/bin/env bash
# Property paths over a `dynamic` column, as WFP parsers read `EventData`: 2,000,000 rows
# (override with ROWS) of a bag of 7 members, one nested 3 levels deep, written to Parquet once
# (by a hunt, under $DIR), then three runs of a query that reads three paths per row.
# Prints each run's wall time and peak memory. KQL=path/to/kql picks the binary (default: the
# release build, which the script builds).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-2000000}
DIR=${DIR:-/tmp/kql-dynamic-bench}
if [ -z "${KQL:-}" ]; then
    cargo build --release --locked -p kql-repl >&2
    KQL=target/release/kql
fi
mkdir -p "$DIR"
if [ ! -f "$DIR/out/WindowsEvent.parquet" ]; then
    cat > "$DIR/WindowsEvent.kql" <<KQL
range x from 1 to $ROWS step 1
| extend EventData = bag_pack("SourceAddress", strcat("10.0.", x % 250, ".", x % 7), "DestPort", x % 65000, "Application", @"\device\harddiskvolume3\windows\system32\svchost.exe", "Direction", "%%14592", "FilterRTID", x, "LayerName", "%%14611", "Nested", bag_pack("Deep", bag_pack("Value", x % 13)))
| project EventID = 5156, EventData
KQL
    "$KQL" hunt "$DIR/WindowsEvent.kql" --out "$DIR/out" --format parquet >/dev/null
fi
QUERY='WindowsEvent
| extend SrcIpAddr = tostring(EventData.SourceAddress), DstPortNumber = toint(EventData.DestPort), Deep = toint(EventData.Nested.Deep.Value)
| summarize Ports = dcount(DstPortNumber) by SrcIpAddr, Deep
| summarize Groups = count(), Ports = sum(Ports)'
for run in 1 2 3; do
    /usr/bin/time -f "run $run: %e s, %M KB peak" "$KQL" --table "WindowsEvent=$DIR/out/WindowsEvent.parquet" -c "$QUERY" >"$DIR/result.txt"
done
cat "$DIR/result.txt"
