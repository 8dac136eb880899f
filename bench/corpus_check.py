"""Fidelity figure: how many corpus queries `kql check` parses, per corpus, against the official
parser's verdicts (shared/corpus/official_parser_verdicts.jsonl).

    python3 bench/corpus_check.py ../shared/corpus [target/debug/kql] [--show N]
"""
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict

corpus_dir = sys.argv[1]
kql = sys.argv[2] if len(sys.argv) > 2 and not sys.argv[2].startswith("--") else "target/debug/kql"
show = int(sys.argv[sys.argv.index("--show") + 1]) if "--show" in sys.argv else 0

verdicts = {}
with open(os.path.join(corpus_dir, "official_parser_verdicts.jsonl")) as f:
    for line in f:
        v = json.loads(line)
        verdicts[(v["corpus"], v["line"])] = v["syntax_ok"]

tmp = tempfile.mkdtemp(prefix="kql-corpus-")
files = {}
for name in ["sentinel.jsonl", "m365d_hunting.jsonl", "sigma_kusto.jsonl"]:
    os.makedirs(os.path.join(tmp, name), exist_ok=True)
    with open(os.path.join(corpus_dir, name)) as f:
        for i, line in enumerate(f, 1):
            q = json.loads(line)["query"]
            p = os.path.join(tmp, name, f"{i:05d}.kql")
            with open(p, "w") as out:
                out.write(q)
            files[p] = (name, i)

r = subprocess.run([kql, "check", "--round-trip", "--format", "jsonl", tmp], capture_output=True, text=True)
if r.stderr:
    print(r.stderr, file=sys.stderr)
stats = defaultdict(Counter)
failures = defaultdict(list)
for line in r.stdout.splitlines():
    v = json.loads(line)
    key = files[v["file"]]
    official = verdicts.get(key)
    ours = v["ok"]
    c = stats[key[0]]
    if v["stage"] == "round-trip":
        c["round_trip_failures"] += 1
    if official:
        c["accepted"] += 1
        c["we_parse"] += ours
        if not ours:
            failures[key[0]].append((v["error"], key))
    else:
        c["rejected"] += 1
        c["we_reject"] += not ours
for name, c in stats.items():
    acc = c["we_parse"] / c["accepted"] * 100 if c["accepted"] else 0
    rej = c["we_reject"] / c["rejected"] * 100 if c["rejected"] else 100
    print(f"{name}: parse {c['we_parse']}/{c['accepted']} ({acc:.1f}%) of accepted; reject {c['we_reject']}/{c['rejected']} ({rej:.1f}%) of rejected; round-trip failures {c['round_trip_failures']}")
if show:
    reasons = Counter()
    for name, fs in failures.items():
        for err, key in fs:
            msg = err.split(": ", 1)[1] if err else ""
            reasons[msg[:90]] += 1
    for msg, n in reasons.most_common(show):
        print(f"{n:5d}  {msg}")
