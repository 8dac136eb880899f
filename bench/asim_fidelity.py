#!/usr/bin/env python3
"""Do Microsoft's ASIM parsers and ours find the same beacons in the sample data?

Runs Sentinel's beaconing rule (samples/hunts/asim_networksession_beaconing.kql, unchanged)
over the Sentinel-shaped raw tables in samples/data twice: once with the official ASIM parsers
(a folder of Azure-Sentinel parser YAML files, by default the reference copies in
../shared/corpus/asim_parsers) and once with the project's own parsers in samples/parsers.
Prints both row sets and whether they agree; exits 1 when they differ or a run fails.

Then imports raw Windows event logs (`kql import evtx`, by default the sample logs in
../shared/fixtures/evtx) and runs Microsoft's Sysmon and Windows Firewall NetworkSession parsers
over the tables it writes: they must return the logs' network connections (two Sysmon event 3
connections, three Windows Filtering Platform drops in each of SecurityEvent and WindowsEvent).

    python3 bench/asim_fidelity.py [--official DIR] [--evtx DIR] [--kql PATH]

Not part of `cargo test`: a clone of the project has no ../shared. Standard library only.
"""

import argparse
import csv
import io
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
RULE = ROOT / "samples/hunts/asim_networksession_beaconing.kql"
NOW = "2024-05-03T00:00:00Z"


def run_rule(kql: pathlib.Path, functions: pathlib.Path) -> tuple[list[str], list[tuple[str, ...]]]:
    """The rule's header and rows (sorted: the rule's output has no order)."""
    cmd = [
        str(kql),
        "--data", str(ROOT / "samples/data"),
        "--functions", str(functions),
        "--watchlists", str(ROOT / "samples/watchlists"),
        "--now", NOW,
        "-f", str(RULE),
        "--format", "csv",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the rule failed with --functions {functions} (exit {done.returncode})")
    if done.stderr.strip():
        # Warnings (e.g. the union legs a fuzzy union skipped) are worth seeing, not fatal.
        for line in done.stderr.strip().splitlines():
            print(f"  [{functions.name}] {line}")
    rows = list(csv.reader(io.StringIO(done.stdout)))
    if not rows:
        return [], []
    return rows[0], sorted(tuple(r) for r in rows[1:])


def show(title: str, header: list[str], rows: list[tuple[str, ...]]) -> None:
    print(f"{title}: {len(rows)} rows")
    if header:
        print("  " + ",".join(header))
    for r in rows:
        print("  " + ",".join(r))


# What the sample logs hold, read off them with another EVTX reader (the `evtx` Python wheel):
# sysmon.evtx records 2061 and 2062; Security_short_selected.evtx records 1, 5 (5152) and 6 (5157).
EVTX_EXPECTED = {
    "vimNetworkSessionMicrosoftSysmon": [
        ("2017-12-18T14:51:29.7060000Z", "192.168.2.128", "59344", "185.26.182.117", "443", "TCP", "Event"),
        ("2017-12-18T14:51:29.9680000Z", "192.168.2.128", "59345", "93.184.220.29", "80", "TCP", "Event"),
    ],
    "vimNetworkSessionMicrosoftWindowsEventFirewall": sorted(
        [(t, s, sp, d, dp, p, table) for table in ("SecurityEvent", "WindowsEvent") for (t, s, sp, d, dp, p) in [
            ("2016-06-29T15:24:34.3460000Z", "23.94.153.202", "59639", "169.46.6.101", "3389", "TCP"),
            ("2016-06-29T15:24:57.0908000Z", "169.46.118.42", "0", "169.46.6.101", "8", "ICMP"),
            ("2016-06-29T15:25:08.8220000Z", "169.46.6.101", "8", "169.46.118.42", "0", "ICMP"),
        ]]
    ),
}


def evtx_check(kql: pathlib.Path, official: pathlib.Path, evtx: pathlib.Path) -> bool:
    """Import the logs, run each official parser over them, compare with EVTX_EXPECTED."""
    import tempfile
    ok = True
    with tempfile.TemporaryDirectory() as tables:
        done = subprocess.run([str(kql), "import", "evtx", str(evtx), "--out", tables], capture_output=True, text=True)
        print(f"kql import evtx {evtx}: {done.stdout.strip()}")
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            return False
        for parser, expected in EVTX_EXPECTED.items():
            query = (f"{parser} | project EventStartTime, SrcIpAddr, SrcPortNumber, DstIpAddr, DstPortNumber, NetworkProtocol,"
                     " Type = column_ifexists('Type', 'Event')")
            cmd = [str(kql), "--data", tables, "--functions", str(official / f"{parser}.yaml"),
                   "--functions", str(ROOT / "samples/functions"), "--format", "csv", "-c", query]
            run = subprocess.run(cmd, capture_output=True, text=True)
            if run.returncode != 0:
                sys.stderr.write(run.stderr)
                print(f"DIFFER: {parser} failed over the imported logs")
                ok = False
                continue
            rows = sorted(tuple(r) for r in list(csv.reader(io.StringIO(run.stdout)))[1:])
            show(f"{parser} over the imported logs", ["EventStartTime", "SrcIpAddr", "SrcPortNumber", "DstIpAddr", "DstPortNumber", "NetworkProtocol", "Type"], rows)
            if rows != sorted(expected):
                print(f"DIFFER: {parser} should return {len(expected)} connections")
                ok = False
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--official", type=pathlib.Path, default=ROOT.parent / "shared/corpus/asim_parsers",
                    help="folder of Microsoft's ASIM parser YAML files (default: ../shared/corpus/asim_parsers)")
    ap.add_argument("--kql", type=pathlib.Path, default=ROOT / "target/debug/kql", help="the kql binary (default: target/debug/kql)")
    ap.add_argument("--evtx", type=pathlib.Path, default=ROOT.parent / "shared/fixtures/evtx",
                    help="folder of .evtx logs to import and parse (default: ../shared/fixtures/evtx)")
    args = ap.parse_args()
    if not args.kql.exists():
        raise SystemExit(f"no kql binary at {args.kql}: build it (cargo build -p kql-repl) or pass --kql")
    if not args.official.is_dir():
        raise SystemExit(f"no parser folder at {args.official}: pass --official (e.g. a checkout of Azure-Sentinel's Parsers/)")

    official_header, official = run_rule(args.kql, args.official.resolve())
    ours_header, ours = run_rule(args.kql, ROOT / "samples/parsers")
    show(f"official parsers ({args.official})", official_header, official)
    show("our parsers (samples/parsers)", ours_header, ours)

    if official_header != ours_header:
        print("DIFFER: the columns are not the same")
        return 1
    only_official = sorted(set(official) - set(ours))
    only_ours = sorted(set(ours) - set(official))
    if only_official or only_ours or len(official) != len(ours):
        print("DIFFER:")
        for r in only_official:
            print("  only official: " + ",".join(r))
        for r in only_ours:
            print("  only ours:     " + ",".join(r))
        return 1
    if not ours:
        print("DIFFER: neither run found a beacon (the samples hold two)")
        return 1
    print(f"AGREE: {len(ours)} rows")
    if not evtx_check(args.kql, args.official.resolve(), args.evtx.resolve()):
        return 1
    print("AGREE: the official parsers find every network connection of the imported logs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
