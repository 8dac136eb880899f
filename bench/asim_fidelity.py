#!/usr/bin/env python3
"""Do Microsoft's ASIM parsers and ours find the same beacons in the sample data?

Runs Sentinel's beaconing rule (samples/hunts/asim_networksession_beaconing.kql, unchanged)
over the Sentinel-shaped raw tables in samples/data twice: once with the official ASIM parsers
(a folder of Azure-Sentinel parser YAML files, by default the reference copies in
../shared/corpus/asim_parsers) and once with the project's own parsers in samples/parsers.
Prints both row sets and whether they agree; exits 1 when they differ or a run fails.

    python3 bench/asim_fidelity.py [--official DIR] [--kql PATH]

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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--official", type=pathlib.Path, default=ROOT.parent / "shared/corpus/asim_parsers",
                    help="folder of Microsoft's ASIM parser YAML files (default: ../shared/corpus/asim_parsers)")
    ap.add_argument("--kql", type=pathlib.Path, default=ROOT / "target/debug/kql", help="the kql binary (default: target/debug/kql)")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
