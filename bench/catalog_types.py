#!/usr/bin/env python3
"""Compare kql's result types for catalog functions with Microsoft's KQL analyzer.

For every `scalar` and `aggregate` line of engine/src/functions/catalog.txt this builds a call
with constant arguments of the parameter types at the minimum arity, e.g.

    scalar:    T | extend r = CALL | project r
    aggregate: T | summarize r = CALL

where T has the columns x:long and s:string, asks the oracle (Kusto.Language, see
../shared/tools/kusto-oracle) for the type of r, asks kql for it with `getschema`, and prints
the functions whose types differ.

When the oracle rejects the first call, other variants are tried (columns instead of
constants, other constants for `number`/`scalar` parameters), and a string argument the oracle
says must be one of a list of values is replaced by the first of them. The first variant the
oracle accepts is the one compared; kql runs that same query.

Usage:
    bench/catalog_types.py [--kql PATH] [--oracle PATH] [--catalog PATH] [--all] [--json FILE]

Defaults: kql = <root>/target/debug/kql, oracle = <root>/../shared/tools/kusto-oracle/oracle,
where <root> is the project root (the parent of this script's folder). Not used by any build
or test; it only reads the catalog and runs the two tools.
"""

import argparse
import csv
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_KQL = os.path.join(ROOT, "target", "debug", "kql")
DEFAULT_ORACLE = os.path.join(ROOT, "..", "shared", "tools", "kusto-oracle", "oracle")
DEFAULT_CATALOG = os.path.join(ROOT, "engine", "src", "functions", "catalog.txt")

SCHEMA = {"T": {"x": "long", "s": "string"}}
KQL_PRELUDE = "let T = datatable(x:long, s:string)[1,'a']; "

# One constant per catalog parameter type.
BASE = {
    "string": '"a"',
    "long": "1",
    "int": "int(1)",
    "real": "1.5",
    "bool": "true",
    "datetime": "datetime(2024-01-01)",
    "timespan": "1h",
    "dynamic": "dynamic([1,2])",
    "decimal": "decimal(1)",
    "guid": "guid(74be27de-1e4e-49d9-b579-fe0b331d3642)",
    "number": "1",
    "scalar": "1",
    "type": "typeof(long)",
    "column": "x",
    "predicate": "true",
    "table": "(T | project x)",
}

# Variants tried in order when the oracle rejects the first one: overrides of BASE.
VARIANTS = [
    ("constants", {}),
    ("columns", {"string": "s", "long": "x", "number": "x", "scalar": "x"}),
    ("real", {"number": "1.5", "scalar": "1.5"}),
    ("string", {"number": '"a"', "scalar": '"a"'}),
    ("string-column", {"scalar": "s"}),
    ("dynamic", {"scalar": "dynamic([1,2])"}),
    ("datetime", {"number": "datetime(2024-01-01)", "scalar": "datetime(2024-01-01)"}),
    ("timespan", {"number": "1h", "scalar": "1h"}),
    ("bool", {"scalar": "true"}),
]

ENUM_RE = re.compile(r"must be one of the values: (.*)$")
BAG_RE = re.compile(r"must be a dynamic bag")
ARITY_RE = re.compile(r"expects (?:between |at least )?(\d+)")
REPAIR_ROUNDS = 4

TYPE_ALIASES = {
    "double": "real",
    "float64": "real",
    "int64": "long",
    "int32": "int",
    "boolean": "bool",
    "date": "datetime",
    "time": "timespan",
    "uniqueidentifier": "guid",
    "object": "dynamic",
}


def norm_type(t):
    if t is None:
        return None
    t = t.strip().lower()
    return TYPE_ALIASES.get(t, t)


# ---------------------------------------------------------------- catalog

LINE_RE = re.compile(r"^(scalar|aggregate)\s+(\w+)\((.*)\)\s*->\s*(\S+)\s*\|")


def parse_params(params):
    """All parameters in order as (name, type, optional); `...` repeats are left out."""
    out = []
    depth = 0
    token = ""

    def flush(tok, d):
        tok = tok.strip()
        if not tok or tok.startswith("..."):
            return
        name, _, typ = tok.partition(":")
        out.append((name.strip(), typ.strip(), d > 0))

    for ch in params:
        if ch == "[":
            flush(token, depth)
            token = ""
            depth += 1
        elif ch == "]":
            flush(token, depth)
            token = ""
            depth -= 1
        elif ch == ",":
            flush(token, depth)
            token = ""
        else:
            token += ch
    flush(token, depth)
    return out


def param_types(func, n=None):
    """The parameter types of a call with n arguments (default: the minimum arity). Past the
    required ones come the optional ones in order, then repeats of the last parameter."""
    allp = func["all_params"]
    req = [t for _, t, opt in allp if not opt]
    if n is None or n == len(req):
        return req
    if n < len(req):
        return req[:n]
    types = [t for _, t, _ in allp][:n]
    while len(types) < n:
        types.append(allp[-1][1] if allp else "scalar")
    return types


def read_catalog(path):
    funcs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = LINE_RE.match(line)
            if not m:
                continue
            kind, name, params, result = m.groups()
            funcs.append({
                "kind": kind,
                "name": name,
                "all_params": parse_params(params),
                "catalog_result": result,
            })
    return funcs


def build_query(func, overrides, n=None):
    consts = dict(BASE)
    consts.update(overrides)
    args = []
    for ptype in param_types(func, n):
        if ptype not in consts:
            raise ValueError(f"{func['name']}: unknown parameter type {ptype!r}")
        args.append(consts[ptype])
    call = f"{func['name']}({', '.join(args)})"
    if func["kind"] == "scalar":
        return f"T | extend r = {call} | project r"
    return f"T | summarize r = {call}"


# ---------------------------------------------------------------- oracle


def run_oracle(oracle, schema_path, queries):
    """queries: list of (id, query). Returns {id: result dict}."""
    if not queries:
        return {}
    payload = "".join(json.dumps({"id": qid, "query": q}) + "\n" for qid, q in queries)
    proc = subprocess.run(
        [oracle, "--schema", schema_path],
        input=payload, capture_output=True, text=True,
    )
    if proc.returncode != 0 and not proc.stdout.strip():
        sys.exit(f"oracle failed (exit {proc.returncode}):\n{proc.stderr}")
    results = {}
    for line in proc.stdout.splitlines():
        line = line.strip()
        if not line:
            continue
        d = json.loads(line)
        results[d["id"]] = d
    missing = [qid for qid, _ in queries if qid not in results]
    if missing:
        sys.exit(f"oracle gave no answer for {len(missing)} queries (e.g. {missing[0]})\n{proc.stderr}")
    return results


def oracle_type(res):
    for col in res.get("result_columns") or []:
        if col.get("name") == "r":
            return col.get("type")
    return None


def oracle_errors(res):
    errs = list(res.get("errors") or []) + list(res.get("semantic_errors") or [])
    seen, out = set(), []
    for e in errs:
        key = (e.get("start"), e.get("message"))
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def repair(func, overrides, query, res):
    """A corrected query for the oracle's complaints, or None:
    - a call with the wrong number of arguments is rebuilt with the number the oracle wants;
    - a string that must be one of a list of values becomes the first of them;
    - a dynamic array where a property bag is wanted becomes dynamic({"a":1}).
    Returns (query, note)."""
    errs = oracle_errors(res)
    if not errs:
        return None
    for e in errs:
        m = ARITY_RE.search(e.get("message", ""))
        if m and func["name"] in e.get("message", ""):
            return build_query(func, overrides, int(m.group(1))), f"{m.group(1)} args"
    fixes = []
    notes = []
    for e in errs:
        msg = e.get("message", "")
        text = query[e["start"]:e["start"] + e["length"]]
        m = ENUM_RE.search(msg)
        if m:
            first = m.group(1).split(",")[0].strip().rstrip(".").split(" or ")[0].strip()
            if not first:
                return None
            fixes.append((e["start"], e["length"], json.dumps(first)))
            notes.append("enum")
        elif BAG_RE.search(msg) and text.startswith("dynamic("):
            fixes.append((e["start"], e["length"], 'dynamic({"a":1})'))
            notes.append("bag")
        else:
            return None
    out = query
    for start, length, text in sorted(fixes, reverse=True):
        out = out[:start] + text + out[start + length:]
    return (out, "+".join(sorted(set(notes)))) if out != query else None


# ---------------------------------------------------------------- kql


def run_kql(kql, query):
    """Returns (type or None, error message or None)."""
    try:
        proc = subprocess.run(
            [kql, "-c", KQL_PRELUDE + query + " | getschema", "--format", "csv"],
            capture_output=True, text=True, timeout=60,
        )
    except subprocess.TimeoutExpired:
        return None, "timeout"
    if proc.returncode != 0:
        msg = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        return None, (msg[0] if msg else f"exit {proc.returncode}")
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    for row in rows:
        if row.get("ColumnName") == "r":
            return row.get("ColumnType"), None
    return None, "no column r in getschema output: " + proc.stdout.strip().replace("\n", " / ")


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kql", default=DEFAULT_KQL, help=f"kql binary (default {DEFAULT_KQL})")
    ap.add_argument("--oracle", default=DEFAULT_ORACLE, help=f"oracle script (default {DEFAULT_ORACLE})")
    ap.add_argument("--catalog", default=DEFAULT_CATALOG, help="function catalog")
    ap.add_argument("--all", action="store_true", help="print every function, not only problems")
    ap.add_argument("--json", metavar="FILE", help="also write all results as JSON to FILE")
    ap.add_argument("-j", "--jobs", type=int, default=8, help="parallel kql processes")
    args = ap.parse_args()

    for path, what in ((args.kql, "kql"), (args.oracle, "oracle"), (args.catalog, "catalog")):
        if not os.path.exists(path):
            sys.exit(f"{what} not found: {path}")

    funcs = read_catalog(args.catalog)
    fd, schema_path = tempfile.mkstemp(suffix=".json", prefix="catalog_types_schema_")
    with os.fdopen(fd, "w") as f:
        json.dump(SCHEMA, f)

    try:
        # candidates[i]: every query tried for funcs[i], with the oracle's answer
        candidates = [[] for _ in funcs]
        pending = []  # (qid, query, func index, variant index, variant label)
        seen = [set() for _ in funcs]
        for i, fn in enumerate(funcs):
            for vi, (label, over) in enumerate(VARIANTS):
                q = build_query(fn, over)
                if q in seen[i]:
                    continue
                seen[i].add(q)
                pending.append((f"{i}:{vi}:0", q, i, vi, label))

        for rnd in range(REPAIR_ROUNDS + 1):
            if not pending:
                break
            res = run_oracle(args.oracle, schema_path, [(qid, q) for qid, q, *_ in pending])
            nxt = []
            for qid, q, i, vi, label in pending:
                r = res[qid]
                candidates[i].append({"order": vi, "variant": label, "query": q, "res": r})
                if r.get("semantic_ok") or rnd == REPAIR_ROUNDS:
                    continue
                fixed = repair(funcs[i], VARIANTS[vi][1], q, r)
                if fixed and fixed[0] not in seen[i]:
                    seen[i].add(fixed[0])
                    nxt.append((f"{i}:{vi}:{rnd + 1}:{len(nxt)}", fixed[0], i, vi,
                                f"{label}+{fixed[1]}"))
            pending = nxt
    finally:
        os.unlink(schema_path)

    results = []
    for i, fn in enumerate(funcs):
        cands = sorted(candidates[i], key=lambda c: c["order"])  # stable: repairs after parents
        ok = [c for c in cands if c["res"].get("semantic_ok")]
        entry = {"kind": fn["kind"], "name": fn["name"], "catalog_result": fn["catalog_result"],
                 "min_arity": len(param_types(fn))}
        if ok:
            entry.update(status=None, variant=ok[0]["variant"], query=ok[0]["query"],
                         oracle_type=oracle_type(ok[0]["res"]),
                         _alternatives=[(c["variant"], c["query"], oracle_type(c["res"]))
                                        for c in ok[1:]])
        else:
            c = cands[0]
            errs = oracle_errors(c["res"])
            entry.update(status="oracle-rejected", variant=c["variant"], query=c["query"],
                         oracle_type=None,
                         oracle_error=errs[0]["message"] if errs else "not semantically OK",
                         _alternatives=[])
        results.append(entry)

    def kql_for(e):
        """kql on the chosen query; if kql fails there, on the other oracle-accepted ones."""
        ktype, kerr = run_kql(args.kql, e["query"])
        if kerr is None or e["status"] == "oracle-rejected":
            return ktype, kerr, None
        tried = {e["query"]}
        for variant, query, otype in e["_alternatives"]:
            if query in tried:
                continue
            tried.add(query)
            t2, err2 = run_kql(args.kql, query)
            if err2 is None:
                return t2, None, (variant, query, otype, kerr)
        return ktype, kerr, None

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        kql_out = list(pool.map(kql_for, results))

    for e, (ktype, kerr, alt) in zip(results, kql_out):
        e.pop("_alternatives")
        e["kql_type"] = ktype
        e["kql_error"] = kerr
        if alt is not None:
            # kql failed on the first accepted query but ran another one the oracle accepts
            e["kql_error_first_variant"] = alt[3]
            e["first_query"] = e["query"]
            e["variant"], e["query"], e["oracle_type"] = alt[0], alt[1], alt[2]
        if e["status"] == "oracle-rejected":
            continue
        if kerr is not None:
            e["status"] = "kql-error"
        elif norm_type(ktype) == norm_type(e["oracle_type"]):
            e["status"] = "agree"
        else:
            e["status"] = "disagree"

    def label(e):
        return f"{e['name']} ({e['kind']})"

    def table(rows, headers):
        widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
        fmt = "  ".join("{:<%d}" % w for w in widths)
        print(fmt.format(*headers))
        print(fmt.format(*("-" * w for w in widths)))
        for r in rows:
            print(fmt.format(*(str(x) for x in r)))

    dis = [e for e in results if e["status"] == "disagree"]
    kerr = [e for e in results if e["status"] == "kql-error"]
    rej = [e for e in results if e["status"] == "oracle-rejected"]

    print(f"== Disagreements ({len(dis)})")
    if dis:
        table([(label(e), e["oracle_type"], e["kql_type"], e["variant"], e["query"]) for e in dis],
              ("function", "oracle type", "kql type", "variant", "query"))
    print()
    print(f"== kql errors where the oracle accepts ({len(kerr)})")
    if kerr:
        table([(label(e), e["oracle_type"], e["kql_error"], e["query"]) for e in kerr],
              ("function", "oracle type", "kql error", "query"))
    print()
    print(f"== Rejected by the oracle in every variant ({len(rej)})")
    if rej:
        table([(label(e), e["oracle_error"], e["kql_type"] or ("error: " + (e["kql_error"] or "")),
                e["query"]) for e in rej],
              ("function", "oracle error (first variant)", "kql on first variant", "query"))
    arity = [e for e in results if "args" in e["variant"]]
    print()
    print(f"== Oracle wanted another number of arguments than the catalog's minimum ({len(arity)})")
    if arity:
        table([(label(e), e["min_arity"], e["variant"], e["query"]) for e in arity],
              ("function", "catalog min arity", "variant", "query used"))
    retried = [e for e in results if "kql_error_first_variant" in e]
    print()
    print(f"== kql failed on the first accepted variant but ran another ({len(retried)})")
    if retried:
        table([(label(e), e["kql_error_first_variant"], e["first_query"], e["query"]) for e in retried],
              ("function", "kql error on first", "first query", "query used"))
    if args.all:
        print()
        print(f"== All functions ({len(results)})")
        table([(label(e), e["status"], e["oracle_type"], e["kql_type"] or e["kql_error"], e["variant"])
               for e in results],
              ("function", "status", "oracle type", "kql", "variant"))
    print()
    counts = {s: sum(1 for e in results if e["status"] == s)
              for s in ("agree", "disagree", "oracle-rejected", "kql-error")}
    print(f"checked {len(results)} / agree {counts['agree']} / disagree {counts['disagree']}"
          f" / oracle-rejected {counts['oracle-rejected']} / kql-error {counts['kql-error']}")

    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
