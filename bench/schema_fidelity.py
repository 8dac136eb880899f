#!/usr/bin/env python3
"""Result columns of real queries: kql's against Microsoft's KQL analyzer's.

For every query of the corpus files given that reads only tables registered here, this asks
`kql check --format jsonl` for the names and types of the result columns (kql plans the query,
nothing runs), asks the analyzer (../shared/tools/kusto-oracle) for the same given the same
table schemas (taken from kql's own `getschema` of each table, so both see the same types), and
prints how many agree, and each query where they differ, with the first difference. A column
named differently is a wrong result for a hunter: a rule's next `project` or `where` reads
another column, or none.

Usage:
    bench/schema_fidelity.py CORPUS.jsonl... [--kql PATH] [--oracle PATH]
        [--table NAME=PATH]... [--data DIR] [--show N] [--json FILE]

Defaults: kql = <root>/target/release/kql, oracle = <root>/../shared/tools/kusto-oracle/oracle,
--data <root>/samples/data. Not used by any build or test.
"""

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def table_names(data, tables):
    """The tables `--data DIR` and `--table NAME=PATH` register: each file and sub-folder of DIR
    is a table named after it (without its extensions)."""
    names = [t.split("=", 1)[0] for t in tables]
    for entry in sorted(os.listdir(data)) if data else []:
        names.append(entry.split(".", 1)[0])
    return names


def kql_tables(kql, sources, names):
    """The registered tables' schemas, as {table: {column: kql type}} from `getschema`."""
    schemas = {}
    for name in names:
        out = subprocess.run([kql, *sources, "--format", "csv", "-c", f"['{name}'] | getschema"], capture_output=True, text=True)
        if out.returncode != 0:
            continue
        rows = list(csv.DictReader(io.StringIO(out.stdout)))
        schemas[name] = {r["ColumnName"]: r["ColumnType"] for r in rows}
    return schemas


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", nargs="+")
    ap.add_argument("--kql", default=os.path.join(ROOT, "target/release/kql"))
    ap.add_argument("--oracle", default=os.path.join(ROOT, "../shared/tools/kusto-oracle/oracle"))
    ap.add_argument("--table", action="append", default=[])
    ap.add_argument("--data", default=os.path.join(ROOT, "samples/data"))
    ap.add_argument("--show", type=int, default=20)
    ap.add_argument("--json", help="write every compared query's verdict here")
    args = ap.parse_args()

    sources = ["--data", args.data] + [x for t in args.table for x in ("--table", t)]
    schemas = kql_tables(args.kql, sources, table_names(args.data, args.table))
    if not schemas:
        sys.exit("no tables: kql could not list or describe the registered tables")
    print(f"tables: {', '.join(f'{t} ({len(c)} columns)' for t, c in sorted(schemas.items()))}")

    tmp = tempfile.mkdtemp(prefix="kql-schema-fidelity-")
    queries = {}
    for path in args.corpus:
        with open(path) as f:
            for i, line in enumerate(f, 1):
                q = json.loads(line)["query"]
                key = f"{os.path.basename(path)}:{i}"
                queries[key] = q
    # The queries that read only registered tables: kql's `check` says so (an unknown table
    # leaves a query at the parse stage), so all are written and kql decides.
    files = {}
    for n, (key, q) in enumerate(queries.items()):
        p = os.path.join(tmp, f"{n:05d}.kql")
        with open(p, "w") as f:
            f.write(q)
        files[p] = key
    check = subprocess.run([args.kql, "check", "--format", "jsonl", *sources, tmp], capture_output=True, text=True)
    kql_verdicts = {}
    for line in check.stdout.splitlines():
        v = json.loads(line)
        if v["file"] in files:
            kql_verdicts[files[v["file"]]] = v
    planned = {k: v for k, v in kql_verdicts.items() if v["stage"] == "plan"}
    print(f"queries: {len(queries)}; kql planned {sum(1 for v in planned.values() if v['ok'])}, "
          f"failed to plan {sum(1 for v in planned.values() if not v['ok'])} (the rest read other tables)")

    schema_path = os.path.join(tmp, "schema.json")
    with open(schema_path, "w") as f:
        json.dump(schemas, f)
    oracle_in = "".join(json.dumps({"id": k, "query": queries[k]}) + "\n" for k in planned)
    oracle = subprocess.run([args.oracle, "--schema", schema_path], input=oracle_in, capture_output=True, text=True)
    if oracle.returncode not in (0, 1):
        sys.exit(f"the oracle failed: {oracle.stderr[-2000:]}")
    answers = {}
    for line in oracle.stdout.splitlines():
        a = json.loads(line)
        answers[a["id"]] = a

    tally = {"same": 0, "names differ": 0, "types differ": 0, "kql fails, analyzer accepts": 0,
             "kql plans, analyzer rejects": 0, "both reject": 0, "not a table": 0}
    shown = {k: 0 for k in tally}
    report = []
    for key, v in planned.items():
        a = answers.get(key)
        if a is None:
            continue
        oracle_ok = a.get("syntax_ok") and a.get("semantic_ok")
        if not v["ok"]:
            verdict = "kql fails, analyzer accepts" if oracle_ok else "both reject"
            detail = v["error"]
        elif not oracle_ok:
            verdict = "kql plans, analyzer rejects"
            errs = a.get("errors") or a.get("semantic_errors") or []
            detail = "; ".join(f"{e.get('line')}:{e.get('col')} {e.get('message')}" for e in errs[:2])
        elif a.get("result_kind") != "Table" or not v["results"]:
            verdict, detail = "not a table", a.get("result_kind")
        else:
            ours = [(c["name"], c["type"]) for c in v["results"][-1]]
            theirs = [(c["name"], c["type"]) for c in a["result_columns"]]
            if ours == theirs:
                verdict, detail = "same", ""
            elif [n for n, _ in ours] != [n for n, _ in theirs]:
                verdict = "names differ"
                at = next((i for i, (x, y) in enumerate(zip(ours, theirs)) if x[0] != y[0]), min(len(ours), len(theirs)))
                detail = f"column {at + 1}: kql {ours[at:at + 3]} analyzer {theirs[at:at + 3]} (kql {len(ours)}, analyzer {len(theirs)} columns)"
            else:
                verdict = "types differ"
                detail = "; ".join(f"{n}: kql {t1}, analyzer {t2}" for (n, t1), (_, t2) in zip(ours, theirs) if t1 != t2)
        tally[verdict] += 1
        report.append({"query": key, "verdict": verdict, "detail": detail})
        if verdict not in ("same", "both reject", "not a table") and shown[verdict] < args.show:
            shown[verdict] += 1
            print(f"\n[{verdict}] {key}: {detail}")
    print("\n" + ", ".join(f"{k}: {n}" for k, n in tally.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
