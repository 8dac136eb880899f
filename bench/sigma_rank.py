"""Which rules of a `kql hunt` run to time alone (bench/sigma_hunt.sh): the likely slowest first.

Hunts that share one scan of the table all report about the scan's time as their elapsed_ms, so
elapsed_ms alone cannot tell them apart. Within 10 % of the longest elapsed_ms, rules are ranked
by how many per-row text searches they ask (`contains`, `endswith`, `has`, `matches regex`, ...):
run alone, each is a pass over the column (an `or` of 201 `endswith` takes 17 s over 10 M rows),
while the hunt answers all of them in one pass. Past that, by elapsed_ms.
"""
import re

TEXT_SEARCH = re.compile(r"\b(?:contains|endswith|startswith|has|hasprefix|hassuffix|has_any|has_all|matches\s+regex)(?:_cs)?\b")


def searches(path):
    with open(path, encoding="utf-8") as f:
        return len(TEXT_SEARCH.findall(f.read()))


def ranked(hunts):
    hunts = [h for h in hunts if h["status"] != "failed"]
    if not hunts:
        return []
    longest = max(h["elapsed_ms"] for h in hunts)
    tied = lambda h: h["elapsed_ms"] >= 0.9 * longest
    return sorted(hunts, key=lambda h: (not tied(h), -searches(h["file"]) if tied(h) else -h["elapsed_ms"]))
