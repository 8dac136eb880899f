"""kql against its peers, query by query: the peer runner of bench/compare.sh (which generates the data,
installs the peers into bench-data/.venv and then runs this file with that venv's python).

For each size and each query of bench/queries/ it first runs every engine once (untimed: a warm-up and a
check that the engines agree), then R timed runs per engine, alternating (kql, duckdb literal, duckdb
best, duckdb-kql, chdb, kql, ...), and prints a table of medians and of ratios kql/peer.

  compare.py --rows 1000000,10000000 [--runs 3] [--queries beaconing,summarize4,...] [--engines ...]
             [--kql target/release/kql] [--data bench-data] [--we-cap 10000000] [--json FILE]
             [--wait-idle 300] [--timeout 1800]

The engines:
  kql             target/release/kql as a whole process (start, planning, reading, the result as CSV
                  into a file), wall clock with time.perf_counter around the subprocess; its peak
                  resident memory from /usr/bin/time -f %M (which starts kql, a millisecond or so)
  duckdb literal  NAME.duckdb_literal.sql on DuckDB: the KQL's steps one for one
  duckdb best     NAME.duckdb_best.sql on DuckDB: the fastest correct SQL found for the same logic
  duckdb-kql      the KQL text (NAME.duckdb_kql.kql if the peer needs another spelling, else NAME.kql)
                  translated to SQL by the duckdb-kql package and run on DuckDB (translation included)
  chdb            the KQL text (NAME.chdb.kql, else NAME.kql) in chdb's (ClickHouse's) Kusto dialect
Each peer runs in a Python process of its own, started once, where it is timed around the query and
the fetch of its result, its connection (and the views naming the Parquet files as tables) already
open: only kql pays for starting up. A peer that crashes or hangs (--timeout) is reported, its process
started again, and the run goes on.
In each .sql file {path} stands for the Parquet file.

Other work on the machine: before each round of timed runs (one run of every engine) it waits, up to
--wait-idle seconds (default 300), until other processes use under a quarter of a core (from
/proc/stat, less this process and its children), and it measures how many cores they used during the
round; a query whose rounds shared the machine gets a note under the table.

The data: NetworkSession queries read DATA/realistic-rows-N/NetworkSession.parquet, WindowsEvent queries
DATA/sentinel-rows-M/WindowsEvent.parquet with M = min(N, --we-cap) (the file holds M + 727 rows).

The table: one row per query; per engine the median seconds of the timed runs (kql also its median peak
RSS in MB); "kql/X" = kql's median / X's median (above 1: kql is slower); "rows" = the result rows of
kql's check run; "check" = "ok" when every engine that ran returned the same rows (values compared,
normalized, when there are at most 10,000), otherwise which engine differs and how. "cannot run" = the
engine failed the query in its check run (its error's first line is printed under the table); "n/a" =
the engine is not available here (with the reason).
"""
import argparse
import csv
import datetime as dt
import io
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QDIR = os.path.join(ROOT, "bench", "queries")
NOW = ["--now", "2024-05-03T00:00:00Z"]
WFP = ["--functions", "samples/parsers/vimNetworkSessionMicrosoftWindowsEventFirewall.yaml"]
QUERIES = {
    # name: (table it reads, extra kql arguments)
    "beaconing": ("NetworkSession", ["--functions", "samples/functions/asim.kql"] + NOW),
    "summarize4": ("NetworkSession", []),
    "join": ("NetworkSession", []),
    "has_search": ("NetworkSession", []),
    "dynamic": ("WindowsEvent", []),
    "wfp_parser": ("WindowsEvent", WFP),
    "wfp_parser_summarize": ("WindowsEvent", WFP),
}
ENGINES = ["kql", "duckdb_literal", "duckdb_best", "duckdb_kql", "chdb"]
LABEL = {"kql": "kql", "duckdb_literal": "duckdb literal", "duckdb_best": "duckdb best", "duckdb_kql": "duckdb-kql", "chdb": "chdb"}
COMPARE_VALUES_UP_TO = 10_000
TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


# ---- other work on the machine --------------------------------------------------------------

def cpu_seconds_all():
    """CPU seconds the whole machine has spent busy (from /proc/stat), or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        busy = v[0] + v[1] + v[2] + sum(v[5:8])  # user nice system irq softirq steal
        return busy / os.sysconf("SC_CLK_TCK")
    except Exception:
        return None


WORKER_PIDS = set()


def cpu_seconds_ours():
    """CPU seconds of this process, its finished children (kql runs) and its live peer workers."""
    import resource
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    total = a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime
    for pid in list(WORKER_PIDS):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
        except Exception:
            pass
    return total


class Others:
    """How many cores other processes keep busy while we measure (machine busy time minus ours)."""

    def start(self):
        self.t, self.all, self.ours = time.perf_counter(), cpu_seconds_all(), cpu_seconds_ours()

    def cores(self):
        now_all = cpu_seconds_all()
        if self.all is None or now_all is None:
            return 0.0
        span = time.perf_counter() - self.t
        return max(0.0, (now_all - self.all) - (cpu_seconds_ours() - self.ours)) / max(span, 1e-3)


def wait_idle(max_wait, threshold=0.25):
    """Waits (up to max_wait seconds) until other processes use less than `threshold` cores; seconds waited."""
    start = time.perf_counter()
    while True:
        o = Others()
        o.start()
        time.sleep(1.0)
        if o.cores() < threshold or time.perf_counter() - start > max_wait:
            return time.perf_counter() - start - 1.0


def first_line(e):
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:240]


# ---- result normalization, for comparing rows across engines ---------------------------------

DATE_RE = re.compile(r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]00:?00)?$")


def norm(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return v.strftime("%Y-%m-%dT%H:%M:%S") + (f".{v.microsecond:06d}".rstrip("0") if v.microsecond else "")
    if isinstance(v, (int,)):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.9g}"
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, sort_keys=True, default=str)
    s = str(v)
    m = DATE_RE.match(s)
    if m:
        frac = (m.group(3) or "").rstrip("0")
        return f"{m.group(1)}T{m.group(2)}{'' if frac == '.' else frac}"
    if re.fullmatch(r"-?\d+", s):
        return str(int(s))
    if re.fullmatch(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", s):
        return norm(float(s))
    if s in ("True", "False"):
        return s.lower()
    return s


def normalized(rows):
    return sorted(tuple(norm(c) for c in r) for r in rows)


def parse_csv(text):
    rows = list(csv.reader(io.StringIO(text)))
    return (rows[0], rows[1:]) if rows else ([], [])


# ---- engines ----------------------------------------------------------------------------------

class Unavailable(Exception):
    pass


class Kql:
    def __init__(self, binary):
        self.binary = binary
        if not os.access(binary, os.X_OK):
            raise Unavailable(f"{binary} is not built")

    def version(self):
        try:
            out = subprocess.run([self.binary, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
        except Exception:
            out = ""
        st = os.stat(self.binary)
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
        built = dt.datetime.fromtimestamp(st.st_mtime).strftime("%Y-%m-%d %H:%M")
        return f"{out or 'kql'} (binary of {built}; tree {commit}{'+changes' if dirty else ''})"

    def run(self, query, table, path, timeout):
        """(seconds, peak RSS in KB, header, rows)."""
        name, extra = QUERIES[query]
        cmd = [self.binary, "--table", f"{table}={path}", *extra, "-f", os.path.join(QDIR, f"{query}.kql"), "--format", "csv"]
        # The peak RSS comes from /usr/bin/time, which forks kql itself: a child forked from this
        # process would inherit its high-water mark (chdb alone makes it some 500 MB) across exec.
        for attempt in range(3):  # the binary may be replaced by a build while we run
            with tempfile.NamedTemporaryFile() as rss_file, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
                full = ([TIME, "-q", "-f", "%M", "-o", rss_file.name] if TIME else []) + cmd
                start = time.perf_counter()
                try:
                    p = subprocess.run(full, stdout=out, stderr=err, cwd=ROOT, timeout=timeout)
                except subprocess.TimeoutExpired:
                    raise RuntimeError(f"timed out after {timeout} s")
                elapsed = time.perf_counter() - start
                out.seek(0)
                err.seek(0)
                stdout, stderr = out.read().decode(), err.read().decode()
                rss = rss_file.read().decode().strip().splitlines()
            if p.returncode == 0:
                header, rows = parse_csv(stdout)
                peak = int(rss[-1]) if rss and rss[-1].isdigit() else None
                return elapsed, peak, header, rows
            if attempt < 2 and ("Text file busy" in stderr or "No such file" in stderr or p.returncode == 127):
                time.sleep(2)
                continue
            raise RuntimeError(stderr.strip() or f"exit status {p.returncode}")


class DuckDB:
    def __init__(self, kind):
        try:
            import duckdb
        except Exception as e:
            raise Unavailable(f"duckdb not installed ({first_line(e)})")
        self.duckdb = duckdb
        self.kind = kind
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")

    def version(self):
        return f"duckdb {self.duckdb.__version__}"

    def text(self, query, path):
        f = os.path.join(QDIR, f"{query}.duckdb_{self.kind}.sql")
        if not os.path.exists(f):
            raise RuntimeError(f"no {os.path.basename(f)}")
        with open(f) as fh:
            return fh.read().replace("{path}", path)

    def run(self, query, table, path, timeout):
        sql = self.text(query, path)
        start = time.perf_counter()
        cur = self.con.execute(sql)
        rows = cur.fetchall()
        elapsed = time.perf_counter() - start
        return elapsed, None, [d[0] for d in cur.description], rows


def peer_kql(query, peer):
    f = os.path.join(QDIR, f"{query}.{peer}.kql")
    if not os.path.exists(f):
        f = os.path.join(QDIR, f"{query}.kql")
    with open(f) as fh:
        return fh.read()


class DuckDBKql:
    def __init__(self):
        try:
            import duckdb_kql
        except Exception as e:
            raise Unavailable(f"duckdb-kql not installed ({first_line(e)})")
        self.m = duckdb_kql
        self.con = duckdb_kql.connect()
        self.views = {}

    def version(self):
        from importlib.metadata import version
        return f"duckdb-kql {version('duckdb-kql')} (on duckdb {version('duckdb')})"

    def run(self, query, table, path, timeout):
        if self.views.get(table) != path:
            self.con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet('{path}')")
            self.views[table] = path
        text = peer_kql(query, "duckdb_kql")
        start = time.perf_counter()
        rel = self.m.kql(self.con, text)
        rows = rel.fetchall()
        elapsed = time.perf_counter() - start
        header = list(getattr(rel, "columns", []) or [])
        return elapsed, None, header, rows


class Chdb:
    def __init__(self):
        try:
            import chdb
            from chdb import session
        except Exception as e:
            raise Unavailable(f"chdb not installed ({first_line(e)})")
        self.chdb = chdb
        self.s = session.Session()
        self.views = {}
        self.s.query("SET allow_experimental_kusto_dialect = 1")
        self.s.query("SET session_timezone = 'UTC'")

    def version(self):
        try:
            engine = str(self.s.query("SELECT version()", "CSV")).strip().strip('"')
        except Exception:
            engine = "?"
        return f"chdb {self.chdb.__version__} (ClickHouse {engine})"

    def run(self, query, table, path, timeout):
        if self.views.get(table) != path:
            self.s.query("SET dialect = 'clickhouse'")
            self.s.query(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM file('{path}', Parquet)")
            self.views[table] = path
        text = peer_kql(query, "chdb")
        self.s.query("SET dialect = 'kusto'")
        try:
            start = time.perf_counter()
            res = self.s.query(text, "CSVWithNames")
            out = str(res)
            elapsed = time.perf_counter() - start
        finally:
            self.s.query("SET dialect = 'clickhouse'")
        header, rows = parse_csv(out)
        return elapsed, None, header, rows


def make_local_engine(name, kql_binary=None):
    if name == "kql":
        return Kql(kql_binary)
    if name == "duckdb_literal":
        return DuckDB("literal")
    if name == "duckdb_best":
        return DuckDB("best")
    if name == "duckdb_kql":
        return DuckDBKql()
    if name == "chdb":
        return Chdb()
    raise ValueError(name)


def worker_main(name, conn):
    """A peer's own process: opens its connection once, then runs the queries it is sent."""
    try:
        eng = make_local_engine(name)
        conn.send(("ready", eng.version()))
    except Unavailable as e:
        conn.send(("unavailable", str(e)))
        return
    except Exception as e:
        conn.send(("unavailable", first_line(e)))
        return
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        try:
            elapsed, rss, header, rows = eng.run(*msg)
            conn.send(("ok", elapsed, rss, [str(h) for h in header], [tuple(r) for r in rows]))
        except Exception as e:
            conn.send(("error", first_line(e), traceback.format_exception_only(type(e), e)[-1].strip()[:2000]))


class Worker:
    """A peer run in a process of its own (its connection stays open there, and the query is timed
    there): a peer that crashes or hangs is reported and started again, and the run goes on."""

    def __init__(self, name):
        self.name = name
        self._start()

    def _start(self):
        import multiprocessing as mp
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=worker_main, args=(self.name, child), daemon=True)
        self.proc.start()
        WORKER_PIDS.add(self.proc.pid)
        child.close()
        if not self.conn.poll(600):
            self.proc.kill()
            raise Unavailable("did not start within 600 s")
        try:
            msg = self.conn.recv()
        except EOFError:
            raise Unavailable(f"its process died while starting (exit code {self.proc.exitcode})")
        if msg[0] != "ready":
            raise Unavailable(msg[1])
        self._version = msg[1]

    def version(self):
        return self._version

    def run(self, query, table, path, timeout):
        try:
            self.conn.send((query, table, path, timeout))
            if not self.conn.poll(timeout):
                self.proc.kill()
                self.proc.join()
                WORKER_PIDS.discard(self.proc.pid)
                self._restart()
                raise RuntimeError(f"timed out after {timeout:.0f} s (its process was killed and started again)")
            msg = self.conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError):
            self.proc.join(5)
            code = self.proc.exitcode
            WORKER_PIDS.discard(self.proc.pid)
            self._restart()
            raise RuntimeError(f"its process died (exit code {code}); started again")
        if msg[0] == "ok":
            return msg[1], msg[2], msg[3], msg[4]
        raise RuntimeError(msg[1])

    def _restart(self):
        try:
            self._start()
        except Unavailable:
            pass

    def close(self):
        try:
            self.conn.send(None)
            self.proc.join(10)
        except Exception:
            pass
        if self.proc.is_alive():
            self.proc.kill()


def make_engine(name, args):
    if name == "kql":
        return Kql(args.kql)
    return Worker(name)


# ---- the run ----------------------------------------------------------------------------------

def data_path(data, table, rows, we_cap):
    if table == "NetworkSession":
        return os.path.join(data, f"realistic-rows-{rows}", "NetworkSession.parquet")
    return os.path.join(data, f"sentinel-rows-{min(rows, we_cap)}", "WindowsEvent.parquet")


def parquet_rows(path):
    try:
        import pyarrow.parquet as pq
        return pq.ParquetFile(path).metadata.num_rows
    except Exception:
        return None


def fmt_s(x):
    return "-" if x is None else f"{x:.3f}" if x < 10 else f"{x:.2f}" if x < 100 else f"{x:.1f}"


def check_results(results):
    """results: engine -> (header, rows). A short verdict."""
    ref_name = "kql" if "kql" in results else next(iter(results), None)
    if ref_name is None:
        return "-"
    ref_header, ref_rows = results[ref_name]
    problems = []
    for name, (header, rows) in results.items():
        if name == ref_name:
            continue
        if len(rows) != len(ref_rows):
            problems.append(f"{LABEL[name]} {len(rows)} rows vs {LABEL[ref_name]} {len(ref_rows)}")
        elif rows and len(rows[0]) != len(ref_rows[0]):
            problems.append(f"{LABEL[name]} {len(rows[0])} columns vs {len(ref_rows[0])}")
        elif len(rows) <= COMPARE_VALUES_UP_TO and normalized(rows) != normalized(ref_rows):
            a, b = normalized(rows), normalized(ref_rows)
            diff = next(((x, y) for x, y in zip(a, b) if x != y), None)
            problems.append(f"{LABEL[name]} values differ (e.g. {diff[0]} vs {LABEL[ref_name]} {diff[1]})" if diff else f"{LABEL[name]} values differ")
    return "ok" if not problems else "DIFF: " + "; ".join(problems)


def main():
    ap = argparse.ArgumentParser(description="kql against DuckDB, duckdb-kql and chdb (see the file's header)")
    ap.add_argument("--rows", default="1000000,10000000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--queries", default=",".join(QUERIES))
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--kql", default=os.path.join(ROOT, "target", "release", "kql"))
    ap.add_argument("--data", default=os.path.join(ROOT, "bench-data"))
    ap.add_argument("--we-cap", type=int, default=10_000_000, help="largest WindowsEvent background (rows)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds before a run (any engine) is abandoned")
    ap.add_argument("--json", help="also write every timing and check to this file")
    ap.add_argument("--wait-idle", type=float, default=300,
                    help="before each round of timed runs, wait up to this many seconds for other processes to use under a quarter core (0: never)")
    args = ap.parse_args()
    sizes = [int(x.replace("_", "")) for x in args.rows.split(",") if x]
    queries = [q for q in args.queries.split(",") if q]
    for q in queries:
        if q not in QUERIES:
            sys.exit(f"unknown query {q}; known: {', '.join(QUERIES)}")
    names = [e for e in args.engines.split(",") if e]
    os.chdir(ROOT)

    engines, unavailable = {}, {}
    for name in names:
        try:
            engines[name] = make_engine(name, args)
        except Unavailable as e:
            unavailable[name] = str(e)
        except Exception as e:
            unavailable[name] = first_line(e)
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}")
    for name in names:
        if name in engines:
            try:
                print(f"  {LABEL[name]:15} {engines[name].version()}")
            except Exception as e:
                print(f"  {LABEL[name]:15} version unknown ({first_line(e)})")
        else:
            print(f"  {LABEL[name]:15} n/a ({unavailable[name]})")
    print(f"{args.runs} timed runs per engine and query, alternating; medians in seconds", flush=True)

    record = {"engines": {n: (engines[n].version() if n in engines else f"n/a ({unavailable[n]})") for n in names}, "sizes": []}
    for rows in sizes:
        paths = {t: data_path(args.data, t, rows, args.we_cap) for t in ("NetworkSession", "WindowsEvent")}
        used = {QUERIES[q][0] for q in queries}
        desc = ", ".join(f"{t} {parquet_rows(paths[t]) or 0:,} rows" for t in sorted(used) if os.path.exists(paths[t]))
        load_before = os.getloadavg()[0]
        print(f"\n== --rows {rows:,}: {desc}; load average {load_before:.2f}", flush=True)
        size_rec = {"rows": rows, "paths": paths, "queries": {}}
        table_rows, notes = [], []
        for q in queries:
            table, _ = QUERIES[q]
            path = paths[table]
            qrec = {"check": None, "rows": None, "errors": {}, "times": {n: [] for n in engines}, "rss_kb": []}
            size_rec["queries"][q] = qrec
            if not os.path.exists(path):
                notes.append(f"{q}: no data file {path}")
                table_rows.append((q, {}, {}, None, "no data", None))
                continue
            if q == "beaconing":
                hunt = open(os.path.join(ROOT, "samples", "hunts", "asim_networksession_beaconing.kql")).read()
                mine = open(os.path.join(QDIR, "beaconing.kql")).read()
                if hunt.strip() not in mine:
                    notes.append("beaconing: bench/queries/beaconing.kql is no longer a verbatim copy of samples/hunts/asim_networksession_beaconing.kql")
            # Check run: once per engine, untimed (also the warm-up).
            results, cannot = {}, {}
            for name, eng in engines.items():
                try:
                    _, _, header, res = eng.run(q, table, path, args.timeout)
                    results[name] = (header, res)
                except Exception as e:
                    cannot[name] = first_line(e)
                    qrec["errors"][name] = traceback.format_exception_only(type(e), e)[-1].strip()[:2000]
                    notes.append(f"{q}: {LABEL[name]} cannot run: {cannot[name]}")
            verdict = check_results(results)
            qrec["check"] = verdict
            qrec["rows"] = {n: len(r[1]) for n, r in results.items()}
            print(f"  {q}: check {verdict}; result rows " + ", ".join(f"{LABEL[n]} {len(r[1])}" for n, r in results.items()), flush=True)
            # Timed runs, alternating.
            failed = {}
            qrec["others_cores"], qrec["waited_s"] = [], 0.0
            for i in range(args.runs):
                if args.wait_idle > 0:
                    waited = wait_idle(args.wait_idle)
                    qrec["waited_s"] += waited
                    if waited > 1:
                        print(f"    (waited {waited:.0f} s for other work on the machine to stop)", flush=True)
                others = Others()
                others.start()
                for name, eng in engines.items():
                    if name in cannot or name in failed:
                        continue
                    try:
                        elapsed, rss, _, _ = eng.run(q, table, path, args.timeout)
                        qrec["times"][name].append(elapsed)
                        if rss:
                            qrec["rss_kb"].append(rss)
                    except Exception as e:
                        failed[name] = first_line(e)
                        notes.append(f"{q}: {LABEL[name]} failed in timed run {i + 1}: {failed[name]}")
                qrec["others_cores"].append(round(others.cores(), 2))
            busy = [c for c in qrec["others_cores"] if c >= 0.25]
            if busy:
                notes.append(f"{q}: other processes kept {max(busy):.1f} cores busy during {len(busy)} of {args.runs} rounds: times skewed")
            med = {n: statistics.median(t) for n, t in qrec["times"].items() if t}
            rss = statistics.median(qrec["rss_kb"]) / 1024 if qrec["rss_kb"] else None
            kql_rows = len(results["kql"][1]) if "kql" in results else None
            table_rows.append((q, med, {**cannot, **failed}, rss, verdict, kql_rows))
            print("    runs: " + "; ".join(f"{LABEL[n]} " + " ".join(fmt_s(t) for t in ts) for n, ts in qrec["times"].items() if ts)
                  + f"; other processes' cores per round: {' '.join(f'{c:.2f}' for c in qrec['others_cores'])}", flush=True)
        size_rec["load_average"] = [load_before, os.getloadavg()[0]]
        record["sizes"].append(size_rec)
        print_table(rows, names, engines, unavailable, table_rows, notes, args.runs, size_rec["load_average"])
    for eng in engines.values():
        if isinstance(eng, Worker):
            eng.close()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1, default=str)
        print(f"\nevery run: {args.json}")


def print_table(rows, names, engines, unavailable, table_rows, notes, runs, load):
    peers = [n for n in names if n != "kql"]
    head = ["query"] + [("kql s (MB)" if n == "kql" else f"{LABEL[n]} s") for n in names]
    if "kql" in names:
        head += [f"kql/{LABEL[n]}" for n in peers]
    head += ["rows", "check"]
    lines = []
    for q, med, cannot, rss, verdict, kql_rows in table_rows:
        cells = [q]
        for n in names:
            if n not in engines:
                cells.append("n/a")
            elif n in med:
                cells.append(fmt_s(med[n]) + (f" ({rss:.0f})" if n == "kql" and rss else ""))
            elif n in cannot:
                cells.append("cannot run")
            else:
                cells.append("-")
        if "kql" in names:
            for n in peers:
                cells.append(f"{med['kql'] / med[n]:.2f}" if "kql" in med and n in med and med[n] > 0 else "-")
        cells += ["-" if kql_rows is None else f"{kql_rows}", verdict]
        lines.append(cells)
    widths = [max(len(str(r[i])) for r in [head] + lines) for i in range(len(head))]
    print(f"\n--rows {rows:,}: median of {runs} runs (seconds; kql: whole process, peak RSS in MB; peers: query time in their process);"
          f" 1-minute load average {load[0]:.2f} before, {load[1]:.2f} after (other work on the machine skews the times)")
    for r in [head, ["-" * w for w in widths]] + lines:
        print(" | ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    for n in names:
        if n not in engines:
            print(f"  {LABEL[n]}: n/a ({unavailable[n]})")
    for note in notes:
        print(f"  {note}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
