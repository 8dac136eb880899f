"""The beaconing rule's logic written by hand in SQL, timed on DuckDB over the same file.

The SQL is bench/queries/beaconing.duckdb_literal.sql (its header says how it follows the rule;
bench/compare.sh runs it too, next to kql, a faster SQL of the same logic and other peers).

  beaconing_duckdb.py PARQUET_PATH RUNS
"""
import os
import sys
import time

import duckdb

path, runs = sys.argv[1], int(sys.argv[2])
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "queries", "beaconing.duckdb_literal.sql")) as f:
    SQL = f.read().replace("{path}", path)

con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
print(f"duckdb {duckdb.__version__}: {runs} runs")
for i in range(runs):
    start = time.perf_counter()
    rows = con.execute(SQL).fetchall()
    print(f"duckdb run {i + 1}: {time.perf_counter() - start:.2f} s ({len(rows)} result rows)")
