"""A Python port of two outputs of the `kql-samples` generator (samples/src/), for benchmarks on a
machine where the `kql-samples` binary has not been built: the same seed gives the same rows.

  gen_samples.py network-session --rows N [--realistic] --out FILE.parquet [--seed 1571]
      = kql-samples network-session --rows N [--realistic] --out FILE.parquet
  gen_samples.py windows-event --rows N --out FILE.parquet [--seed 1571]
      = the WindowsEvent.parquet of `kql-samples sentinel --rows N --out DIR` (N background WFP
        audits + 720 planted beacon events + 7 hunt plants); the other tables are not written

It follows samples/src/{rng,network_session,sentinel,event_table}.rs draw for draw (SplitMix64
is a counter, so the i-th draw of a generator is computed directly and whole columns at once
with numpy). Checked equal, value for value and in the same order and row groups: against the
bundled samples/data/NetworkSession.parquet (150,000 rows, default background) and
samples/data/WindowsEvent.parquet (--rows 6000) (`gen_samples.py check` does it again), and against
kql-samples' own output for `network-session --rows 1000000 --realistic` and the WindowsEvent.parquet
of `sentinel --rows 200000`. Parquet encodings may differ from the Rust writer's.

Why WindowsEvent alone: `kql-samples sentinel` builds all five tables in memory (200,000 rows took
26.5 s and 2.8 GB on the 2-core machine), this writes one in chunks (10 M rows: 147 s, 3.5 GB).

Needs numpy and pyarrow (bench/compare.sh installs them into bench-data/.venv).
"""
import argparse
import json
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
SECOND = 1_000_000_000
MS = 1_000_000
HOUR = 3600 * SECOND
DAY = 24 * HOUR
END = 1_714_694_400 * SECOND
HOURS = 72
DAY1 = END - 2 * DAY
DAY2 = DAY1 + DAY


# ---- SplitMix64 (samples/src/rng.rs) ---------------------------------------------------------

def mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


class Rng:
    """Sequential, on Python ints (for the small parts)."""

    def __init__(self, seed):
        self.s = seed & M64

    def next_u64(self):
        self.s = (self.s + GOLDEN) & M64
        return mix(self.s)

    def below(self, n):
        return 0 if n == 0 else self.next_u64() % n

    def range(self, lo, hi):
        return lo + self.below(hi - lo + 1)

    def pick(self, items):
        return items[self.below(len(items))]

    def chance(self, p):
        return (self.next_u64() >> 11) / float(1 << 53) <= p


def draws(seed, positions):
    """The draws number `positions` (0-based) of a generator seeded `seed`, as uint64."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed & M64) + (np.asarray(positions, dtype=np.uint64) + np.uint64(1)) * np.uint64(GOLDEN)
        return mix_np(z)


def mix_np(z):
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def below_np(v, n):
    return (v % np.uint64(n)).astype(np.int64)


def chance_np(v, p):
    return (v >> np.uint64(11)).astype(np.float64) / float(1 << 53) <= p


# ---- NetworkSession (samples/src/network_session.rs) ----------------------------------------

# (src, src_host, dst, dst_port, start_s, count, period_s, jitter_s, raw tables)
PLANTS = [
    ("10.1.5.23", "WS-FIN-023", "203.0.113.50", 443, 2 * 3600, 240, 60, 0, ("WindowsEvent", "Sysmon")),
    ("192.168.20.41", "WS-HR-041", "185.220.101.7", 8080, 13 * 3600 + 1800, 160, 45, 0, ("SecurityEvent",)),
    ("10.1.7.88", "WS-ENG-088", "198.51.100.77", 8443, 6 * 3600, 72, 300, 0, ("SecurityEvent",)),
    ("10.2.3.4", "WS-OPS-004", "93.184.216.34", 443, 9 * 3600, 240, 60, 15, ("WindowsEvent",)),
    ("10.1.9.9", "SRV-BACKUP-09", "10.20.0.5", 445, 3600, 240, 60, 0, ("WindowsEvent",)),
    ("10.1.9.10", "SRV-APP-10", "169.254.169.254", 80, 3600, 240, 60, 0, ("Sysmon",)),
    ("10.1.9.11", "SRV-APP-11", "127.0.0.1", 8080, 3600, 240, 60, 0, ("SecurityEvent",)),
    ("fd00::23", "WS-LAB-023", "2606:4700::6810:85e5", 443, 5 * 3600, 240, 60, 0, ("Sysmon",)),
    ("10.1.5.99", "WS-FIN-099", "203.0.113.51", 443, 30 * 3600, 180, 60, 0, ("Native",)),
    ("10.1.9.12", "WS-DEV-012", "203.0.113.52", 443, 20 * 3600, 720, 5, 0, ("SecurityEvent", "Native")),
]
FIRSTS = [13, 20, 23, 34, 35, 40, 52, 54, 104, 140, 142, 151, 157, 162, 185, 199, 204]


def planted_events(seed):
    """(plant index, time ns, src port) of every planted event, in PLANTS order."""
    rng = Rng(seed ^ 0xBEAC0)
    out = []
    for i, (_, _, _, _, start_s, count, period_s, jitter_s, _) in enumerate(PLANTS):
        for k in range(count):
            jitter = rng.range(-jitter_s, jitter_s) if jitter_s > 0 else 0
            t = DAY1 + (start_s + k * period_s + jitter) * SECOND
            out.append((i, t, rng.range(49152, 65535)))
    return out


NS_SCHEMA = pa.schema(
    [pa.field("TimeGenerated", pa.timestamp("us", tz="UTC"), nullable=False)]
    + [pa.field(n, pa.string(), nullable=False) for n in ["Type", "EventType", "EventProduct", "EventVendor", "EventResult"]]
    + [pa.field("EventCount", pa.int32(), nullable=False)]
    + [pa.field(n, pa.string(), nullable=False) for n in ["DvcAction", "Dvc", "NetworkProtocol", "NetworkDirection", "SrcIpAddr"]]
    + [pa.field("SrcPortNumber", pa.int32(), nullable=False), pa.field("SrcHostname", pa.string(), nullable=False),
       pa.field("DstIpAddr", pa.string(), nullable=False), pa.field("DstPortNumber", pa.int32(), nullable=False),
       pa.field("SrcBytes", pa.int64(), nullable=False), pa.field("DstBytes", pa.int64(), nullable=False)]
)


def _str(a):
    return pc.cast(pa.array(a), pa.string())


def _join(*parts):
    parts = [p if isinstance(p, (pa.Array, pa.ChunkedArray)) else pa.scalar(p) for p in parts]
    return pc.binary_join_element_wise(*parts, "")


def background_hosts(seed):
    """`background()` of network_session.rs: its 12,050 draws and the default background's sets."""
    rng = Rng(seed)
    hosts = [(f"10.0.{i // 40}.{10 + (i % 40) * 6}", f"WS-{i + 100:03}") for i in range(120)]
    hosts += [(f"192.168.1.{10 + i}", f"SRV-{i + 1:02}") for i in range(8)]
    public = []
    for _ in range(3000):
        f = rng.pick(FIRSTS)
        a = rng.range(0, 255)
        b = rng.range(0, 255)
        c = rng.range(1, 254)
        public.append(f"{f}.{a}.{b}.{c}")
    internal = [f"10.0.{10 + i // 20}.{1 + i % 20}" for i in range(40)]
    ipv6 = [f"2606:4700:{0x10 + i:x}::{rng.range(1, 0xffff):x}" for i in range(50)]
    return rng, hosts, public, internal, ipv6


def ns_table(cols):
    n = len(cols["time"])
    allowed = cols["allowed"]
    dst = cols["dst"]
    direction = pc.if_else(pc.or_(pc.starts_with(dst, "10."), pc.starts_with(dst, "192.168.")), "Local", "Outbound")
    const = lambda v: pa.repeat(pa.scalar(v, pa.string()), n)
    arrays = [
        pa.array(cols["time"] // 1000, pa.timestamp("us", tz="UTC")),
        const("CommonSecurityLog"), const("NetworkSession"), const("Fortigate"), const("Fortinet"),
        pc.if_else(allowed, "Success", "Failure"),
        pa.array(np.ones(n, np.int32)),
        pc.if_else(allowed, "Allow", "Deny"),
        const("FW-EDGE-01"),
        cols["protocol"], direction, cols["src"],
        pa.array(cols["src_port"].astype(np.int32)), cols["src_host"], dst,
        pa.array(cols["dst_port"].astype(np.int32)),
        pa.array(cols["src_bytes"].astype(np.int64)), pa.array(cols["dst_bytes"].astype(np.int64)),
    ]
    arrays = [a.cast(f.type) if a.type != f.type else a for a, f in zip(arrays, NS_SCHEMA)]
    return pa.Table.from_arrays(arrays, schema=NS_SCHEMA)


def realistic_hour(seed, first_event, n, hour_start, sources, destinations, flows):
    """n realistic_event()s, the first being event number first_event (7 draws each)."""
    base = 12050 + 7 * first_event
    pos = base + 7 * np.arange(n, dtype=np.int64)
    d = [draws(seed, pos + k) for k in range(7)]
    flow = d[0] % np.uint64(max(flows, 1))
    a = mix_np(flow ^ np.uint64(0x5EED))
    b = mix_np(a)
    p = mix_np(b)
    s = (a % np.uint64(max(sources, 1)) + np.uint64(1)).astype(np.int64)
    dd = (b % np.uint64(max(destinations, 1))).astype(np.int64)
    common = np.array([443, 443, 443, 443, 80, 80, 8080, 22, 53, 123], np.int64)
    port = np.where(p % np.uint64(10) < np.uint64(7), common[((p >> np.uint64(8)) % np.uint64(10)).astype(np.int64)],
                    1024 + ((p >> np.uint64(16)) % np.uint64(64512)).astype(np.int64))
    src_bytes = 200 + below_np(d[1], 4000) * (1 + below_np(d[2], 3))
    src = _join("10.", _str((s >> 16) & 0xFF), ".", _str((s >> 8) & 0xFF), ".", _str(s & 0xFF))
    src_host = _join("WS-", pc.utf8_lpad(_str(s), 5, "0"))
    firsts = np.array(FIRSTS, np.int64)
    dst = _join(_str(firsts[dd % 17]), ".", _str((dd // 17) & 0xFF), ".", _str(((dd // 17) >> 8) & 0xFF), ".", _str(1 + dd % 251))
    return {
        "time": hour_start + below_np(d[3], HOUR),
        "src": src,
        "src_host": src_host,
        "dst": dst,
        "dst_port": port,
        "protocol": pc.if_else(pa.array((port == 53) | (port == 123)), "UDP", "TCP"),
        "allowed": pa.array(~chance_np(d[4], 0.04)),
        "src_port": 49152 + below_np(d[5], 65535 - 49152 + 1),
        "src_bytes": src_bytes,
        "dst_bytes": src_bytes * (1 + below_np(d[6], 40)),
    }


def default_hour(rng, n, hour_start, hosts, public, internal, ipv6):
    """n background_event()s of the default (128 hosts) background, drawn one by one."""
    cols = {k: [] for k in ["time", "src", "src_host", "dst", "dst_port", "protocol", "allowed", "src_port", "src_bytes", "dst_bytes"]}
    for _ in range(n):
        src, host = rng.pick(hosts)
        roll = rng.below(100)
        if roll < 5:
            dst, port, proto = rng.pick(ipv6), 443, "TCP"
        elif roll < 20:
            port = rng.pick([445, 389, 88, 135, 3389, 22])
            dst, proto = rng.pick(internal), "TCP"
        elif roll < 30:
            dst, port, proto = rng.pick(public[:50]), 53, "UDP"
        else:
            port = rng.pick([443, 443, 443, 443, 443, 443, 80, 80, 8080, 22, 123])
            dst, proto = rng.pick(public), "UDP" if port == 123 else "TCP"
        sb = 200 + rng.below(4000) * (1 + rng.below(3))
        cols["time"].append(hour_start + rng.below(HOUR))
        cols["src"].append(src)
        cols["src_host"].append(host)
        cols["dst"].append(dst)
        cols["dst_port"].append(port)
        cols["protocol"].append(proto)
        cols["allowed"].append(not rng.chance(0.04))
        cols["src_port"].append(rng.range(49152, 65535))
        cols["src_bytes"].append(sb)
        cols["dst_bytes"].append(sb * (1 + rng.below(40)))
    return {k: (np.array(v, np.int64) if k in ("time", "dst_port", "src_port", "src_bytes", "dst_bytes")
                else pa.array(v, pa.bool_()) if k == "allowed" else pa.array(v, pa.string())) for k, v in cols.items()}


def write_network_session(out, rows, seed, realistic, sources=20_000, destinations=48_000, flows=None):
    rng, hosts, public, internal, ipv6 = background_hosts(seed)
    flows = rows * 7 // 10 if flows is None else flows
    plants = sorted(planted_events(seed), key=lambda e: e[1])
    pi = 0
    writer = pq.ParquetWriter(out, NS_SCHEMA, compression="zstd", compression_level=3)
    start = END - HOURS * HOUR
    total = 0
    done = 0
    RG = 256 * 1024
    pending, pending_rows = [], 0
    for h in range(HOURS):
        hour_start = start + h * HOUR
        n = rows // HOURS + (1 if h < rows % HOURS else 0)
        if realistic:
            cols = realistic_hour(seed, done, n, hour_start, sources, destinations, flows)
        else:
            cols = default_hour(rng, n, hour_start, hosts, public, internal, ipv6)
        done += n
        hp = []
        while pi < len(plants) and plants[pi][1] < hour_start + HOUR:
            hp.append(plants[pi])
            pi += 1
        if hp:
            ps = [PLANTS[i] for i, _, _ in hp]
            extra = {
                "time": np.array([t for _, t, _ in hp], np.int64),
                "src": pa.array([p[0] for p in ps], pa.string()),
                "src_host": pa.array([p[1] for p in ps], pa.string()),
                "dst": pa.array([p[2] for p in ps], pa.string()),
                "dst_port": np.array([p[3] for p in ps], np.int64),
                "protocol": pa.array(["TCP"] * len(hp), pa.string()),
                "allowed": pa.array([True] * len(hp)),
                "src_port": np.array([sp for _, _, sp in hp], np.int64),
                "src_bytes": np.full(len(hp), 512, np.int64),
                "dst_bytes": np.full(len(hp), 1024, np.int64),
            }
            cols = {k: (np.concatenate([cols[k], extra[k]]) if isinstance(cols[k], np.ndarray)
                        else pa.concat_arrays([cols[k], extra[k]])) for k in cols}
        table = ns_table(cols)
        # events.sort_by(time, then src): a stable sort (Arrow's sort_indices is stable).
        table = table.sort_by([("TimeGenerated", "ascending"), ("SrcIpAddr", "ascending")])
        # The Rust ArrowWriter buffers batches into row groups of 256 Ki rows: the same here.
        pending.append(table)
        pending_rows += table.num_rows
        if pending_rows >= RG or h == HOURS - 1:
            whole = pa.concat_tables(pending)
            cut = whole.num_rows if h == HOURS - 1 else whole.num_rows // RG * RG
            writer.write_table(whole.slice(0, cut), row_group_size=RG)
            pending, pending_rows = [whole.slice(cut)], whole.num_rows - cut
        total += table.num_rows
    writer.close()
    return f"wrote {total} NetworkSession events to {out}"


# ---- WindowsEvent (samples/src/sentinel.rs) --------------------------------------------------

WORKSPACE = "4b2c9f0e-7a1d-4e6b-9c3f-2d8e5a1b7c60"
SUBSCRIPTION = "9e1a7c3d-5b2f-4d8a-8c6e-1f0b3a5d7e92"
VOLUME = "\\device\\harddiskvolume2"
PUBLIC = ["13.107.42.14", "142.250.74.110", "104.16.132.229", "151.101.1.69", "52.96.165.130", "20.190.160.1", "23.215.0.136", "172.217.18.3"]
DNS = "10.0.0.2"
SVCHOST = VOLUME + "\\windows\\system32\\svchost.exe"
CHROME = VOLUME + "\\program files\\google\\chrome\\application\\chrome.exe"
WFP_PLANTS = [
    ("WS-FIN-023", 5156, "\\users\\jdoe\\appdata\\roaming\\svcupd.exe", True, 50123, "45.77.65.211", 4444),
    ("WS-HR-041", 5157, "\\programdata\\intel\\igfxtray.exe", True, 50456, "185.220.101.7", 8531),
    ("SRV-APP-10", 5158, "\\users\\public\\svchost.exe", True, 4444, "", 0),
    ("WS-FIN-023", 5156, "\\users\\jdoe\\appdata\\roaming\\svcupd.exe", True, 50124, "45.77.65.211", 443),
    ("WS-ENG-088", 5156, "\\users\\mlee\\appdata\\roaming\\npm\\node.exe", False, 3000, "10.1.7.5", 51000),
    ("WS-FIN-023", 5158, "\\users\\jdoe\\appdata\\local\\slack\\app-4.36.140\\slack.exe", True, 52344, "", 0),
    ("SRV-APP-10", 5156, "\\program files\\java\\jre1.8.0_391\\bin\\java.exe", True, 50789, "52.31.4.4", 8080),
]


def plant_user(host):
    return {"WS-FIN-023": "jdoe", "WS-HR-041": "akim", "WS-ENG-088": "mlee", "WS-OPS-004": "rpatel"}.get(
        host, "svc_backup" if host.startswith("SRV-") else "tnguyen")


def guid(rng):
    return "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}".format(
        rng.next_u64() & 0xFFFFFFFF, rng.below(0x10000), rng.below(0x1000), 8 + rng.below(4), rng.below(0x1000), rng.below(1 << 48))


def stable_guid(text):
    h = 0xCBF29CE484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001B3) & M64
    return guid(Rng(h))


def sentinel_hosts():
    """(name, ip) of the planted hosts then the 120 background workstations."""
    planted = []
    for p in PLANTS:
        if p[1] not in [n for n, _ in planted]:
            planted.append((p[1], p[0]))
    background = [(f"WS-{i + 100:03}", f"10.0.{i // 40}.{10 + (i % 40) * 6}") for i in range(120)]
    return planted, background


def _json_fields(eid, pid, app, outbound, local, lport, remote, rport, proto):
    v6 = ":" in local
    d = "%%14593" if outbound else "%%14592"
    if eid in (5156, 5157):
        layer, rtid = ("%%14611", 50 if v6 else 48) if outbound else ("%%14610", 46 if v6 else 44)
        f = [("ProcessID", str(pid)), ("Application", app), ("Direction", d), ("SourceAddress", local), ("SourcePort", str(lport)),
             ("DestAddress", remote), ("DestPort", str(rport)), ("Protocol", str(proto)),
             ("FilterRTID", "70201" if eid == 5156 else "87463"), ("LayerName", layer), ("LayerRTID", str(rtid)),
             ("RemoteUserID", "S-1-0-0"), ("RemoteMachineID", "S-1-0-0")]
    elif eid == 5152:
        f = [("ProcessId", str(pid)), ("Application", app), ("Direction", d), ("SourceAddress", local), ("SourcePort", str(lport)),
             ("DestAddress", remote), ("DestPort", str(rport)), ("Protocol", str(proto)), ("FilterRTID", "87412"),
             ("LayerName", "%%14597"), ("LayerRTID", "13")]
    else:
        f = [("ProcessId", str(pid)), ("Application", app), ("SourceAddress", local), ("SourcePort", str(lport)),
             ("Protocol", str(proto)), ("FilterRTID", "0"), ("LayerName", "%%14609" if eid == 5154 else "%%14608"),
             ("LayerRTID", "40" if eid == 5154 else "36")]
    return json.dumps(dict(f), separators=(",", ":"), ensure_ascii=False)


WE_STR = ["TenantId", "Channel", "Computer", "Correlation"]
WE_SCHEMA = pa.schema(
    [pa.field("TimeGenerated", pa.timestamp("us", tz="UTC"), nullable=False)]
    + [pa.field(n, pa.string()) for n in WE_STR]
    + [pa.field("EventData", pa.string(), metadata={"ARROW:extension:name": "arrow.json"})]
    + [pa.field("EventID", pa.int32()), pa.field("EventLevel", pa.int32())]
    + [pa.field(n, pa.string()) for n in ["EventLevelName", "EventOriginId", "EventRecordId", "Keywords", "ManagementGroupName",
                                           "Opcode", "Provider", "RawEventData"]]
    + [pa.field("SystemProcessId", pa.int32()), pa.field("SystemThreadId", pa.int32()), pa.field("SystemUserId", pa.string()),
       pa.field("Task", pa.int32()), pa.field("Version", pa.int32()), pa.field("Type", pa.string()),
       pa.field("_ResourceId", pa.string()), pa.field("_SubscriptionId", pa.string())]
)


def write_windows_event(out, rows, seed, chunk=1 << 20):
    seed_we = (seed ^ 0x5156) & M64
    planted_hosts, background = sentinel_hosts()
    forwarded = background[1::2]
    nf = len(forwarded)
    # Each background audit draws 8 numbers (host, time x2, ephemeral, pid, internal x2, kind)
    # and 0-2 more by kind: find where each one starts, one pass over the kinds.
    extra_by_kind = np.array([0] * 4 + [2] * 5 + [1] * 2 + [0] * 3 + [1] * 2 + [1] * 2 + [1] * 2, np.int64)
    offsets = np.empty(rows, np.int64)
    pos, i, span = 0, 0, 1 << 22
    while i < rows:
        kinds = extra_by_kind[below_np(draws(seed_we, np.arange(pos, pos + span, dtype=np.int64) + 7), 20)].astype(np.uint8).tobytes()
        lo = pos
        ex = kinds
        while i < rows and pos - lo < span - 8:
            offsets[i] = pos
            pos += 8 + ex[pos - lo]
            i += 1
    end_pos = pos
    o = offsets
    d = [draws(seed_we, o + k) for k in range(10)]
    host = below_np(d[0], nf)
    t = END - 3 * DAY + below_np(d[1], 3 * 86400) * SECOND + below_np(d[2], 1000) * MS
    ephemeral = 49152 + below_np(d[3], 65535 - 49152 + 1)
    pid = 1000 + below_np(d[4], 9000)
    internal_c = below_np(d[5], 3)
    internal_d = 10 + below_np(d[6], 40) * 6
    kind = below_np(d[7], 20)
    del d[:8]
    x1, x2 = d  # the branch's own draws
    n_pl = 0
    # Planted beacons (Raw::WindowsEvent) and the hunt's WFP plants, after the background.
    hosts_all = dict(planted_hosts + background)
    extra_rows = []
    for (pidx, tt, sport) in planted_events(seed):
        p = PLANTS[pidx]
        if "WindowsEvent" in p[8]:
            app = f"{VOLUME}\\users\\{plant_user(p[1])}\\appdata\\local\\microsoft\\onedrive\\update\\onedriveupdater.exe"
            extra_rows.append((p[1], tt, 5156, 7316, app, True, hosts_all[p[1]], sport, p[2], p[3], 6))
            n_pl += 1
    for k, (h, eid, app, outbound, lport, remote, rport) in enumerate(WFP_PLANTS):
        local = "0.0.0.0" if eid == 5158 else hosts_all[h]
        extra_rows.append((h, DAY2 + (9 * 60 + 4 * k + 1) * 60 * SECOND, eid, 6000 + k, VOLUME + app, outbound, local, lport, remote, rport, 6))
    n = rows + len(extra_rows)
    times = np.concatenate([t, np.array([r[1] for r in extra_rows], np.int64)])
    order = np.argsort(times, kind="stable")
    names = [h for h, _ in forwarded]
    ips = [ip for _, ip in forwarded]
    guids = {h: stable_guid(h) for h in list(hosts_all)}
    writer = pq.ParquetWriter(out, WE_SCHEMA, compression="zstd", compression_level=9)
    for c0 in range(0, n, chunk):
        idx = order[c0:c0 + chunk]
        m = len(idx)
        thread = 1000 + below_np(draws(seed_we, end_pos + c0 + np.arange(m, dtype=np.int64)), 8000)
        cols = {k: [] for k in ["host", "data", "eid"]}
        for r in idx.tolist():
            if r < rows:
                hname, ip = names[host[r]], ips[host[r]]
                kd, e, p_, v1, v2 = int(kind[r]), int(ephemeral[r]), int(pid[r]), int(x1[r]), int(x2[r])
                internal = f"10.0.{internal_c[r]}.{internal_d[r]}"
                if kd <= 3:
                    f = (5156, p_, SVCHOST, True, ip, e, DNS, 53, 17)
                elif kd <= 8:
                    f = (5156, p_, CHROME, True, ip, e, PUBLIC[v1 % 8], [443, 443, 443, 80][v2 % 4], 6)
                elif kd <= 10:
                    f = (5156, 4, "System", False, ip, [445, 3389][v1 % 2], internal, e, 6)
                elif kd <= 13:
                    f = (5158, p_, CHROME, True, ip, e, "", 0, 6)
                elif kd <= 15:
                    f = (5157, p_, SVCHOST, True, ip, e, PUBLIC[v1 % 8], 80, 6)
                elif kd <= 17:
                    f = (5152, 0, "-", False, ip, [137, 138, 5355][v1 % 3], internal, e, 6)
                else:
                    f = (5154, p_, SVCHOST, False, "0.0.0.0", [135, 5985, 7680][v1 % 3], "", 0, 6)
            else:
                er = extra_rows[r - rows]
                hname = er[0]
                f = er[2:]
            cols["host"].append(hname)
            cols["eid"].append(f[0])
            cols["data"].append(_json_fields(*f))
        eid = np.array(cols["eid"], np.int32)
        hostname = pa.array(cols["host"], pa.string())
        success = np.isin(eid, [5154, 5156, 5158])
        const = lambda v: pa.repeat(pa.scalar(v, pa.string()), m)
        arrays = [
            pa.array(times[idx] // 1000, pa.timestamp("us", tz="UTC")),
            const(WORKSPACE), const("Security"), _join(hostname, ".contoso.com"), const(""),
            pa.array(cols["data"], pa.string()),
            pa.array(eid), pa.array(np.zeros(m, np.int32)), const("Information"),
            pa.array([guids[h] for h in cols["host"]], pa.string()),
            _str(300000 + c0 + np.arange(m, dtype=np.int64)),
            pc.if_else(pa.array(success), "0x8020000000000000", "0x8010000000000000"),
            const(f"AOI-{WORKSPACE}"), const("Info"), const("Microsoft-Windows-Security-Auditing"), const(""),
            pa.array(np.full(m, 4, np.int32)), pa.array(thread.astype(np.int32)), const(""),
            pa.array(np.where(eid == 5152, 12809, 12810).astype(np.int32)),
            pa.array(np.isin(eid, [5156, 5157]).astype(np.int32)),
            const("WindowsEvent"),
            _join("/subscriptions/" + SUBSCRIPTION + "/resourcegroups/rg-endpoints/providers/microsoft.hybridcompute/machines/",
                  pc.utf8_lower(hostname)),
            const(SUBSCRIPTION),
        ]
        writer.write_table(pa.Table.from_arrays(arrays, schema=WE_SCHEMA), row_group_size=1024 * 1024)
    writer.close()
    return f"wrote {n} WindowsEvent rows (WFP; {n_pl} planted beacon events, {len(WFP_PLANTS)} planted for wfp_non_standard_ports) to {out}"


def check(kql, tmp):
    """Regenerates the bundled samples and compares them with samples/data, row for row, with kql."""
    import os
    import subprocess
    os.makedirs(tmp, exist_ok=True)
    ok = True
    for table, gen in [("NetworkSession", lambda p: write_network_session(p, 150_000, 1571, False)),
                       ("WindowsEvent", lambda p: write_windows_event(p, 6_000, 1571))]:
        path = os.path.join(tmp, f"{table}.parquet")
        print(gen(path))
        rows = {}
        for name, src in [("bundled", f"samples/data/{table}.parquet"), ("port", path)]:
            rows[name] = subprocess.run([kql, "--table", f"{table}={src}", "-c", table, "--format", "jsonl"],
                                        check=True, capture_output=True, text=True).stdout.splitlines()
        # kql reads row groups in parallel: compare its rows as sets, and the files' order with pyarrow.
        same_rows = sorted(rows["bundled"]) == sorted(rows["port"])
        a, b = pq.read_table(f"samples/data/{table}.parquet"), pq.read_table(path)
        same_order = a.column_names == b.column_names and all(a[c].combine_chunks().equals(b[c].combine_chunks()) for c in a.column_names)
        ok &= same_rows and same_order
        print(f"{table}: {len(rows['bundled'])} bundled rows, {len(rows['port'])} generated: "
              + ("the same rows (kql)" if same_rows else "DIFFERENT rows (kql)") + ", "
              + ("the same order (pyarrow)" if same_order else "a different order or column (pyarrow)"))
        if not same_rows:
            for x, y in zip(sorted(rows["bundled"]), sorted(rows["port"])):
                if x != y:
                    print(" bundled:", x[:600], "\n port:   ", y[:600])
                    break
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("network-session")
    a.add_argument("--rows", type=int, default=150_000)
    a.add_argument("--out", required=True)
    a.add_argument("--seed", type=int, default=1571)
    a.add_argument("--realistic", action="store_true")
    b = sub.add_parser("windows-event")
    b.add_argument("--rows", type=int, default=6_000)
    b.add_argument("--out", required=True)
    b.add_argument("--seed", type=int, default=1571)
    c = sub.add_parser("check")
    c.add_argument("--kql", default="target/release/kql")
    c.add_argument("--tmp", default="bench-data/gen-check")
    args = ap.parse_args()
    start = time.perf_counter()
    if args.cmd == "network-session":
        msg = write_network_session(args.out, args.rows, args.seed, args.realistic)
    elif args.cmd == "windows-event":
        msg = write_windows_event(args.out, args.rows, args.seed)
    else:
        sys.exit(0 if check(args.kql, args.tmp) else 1)
    print(f"{msg} ({time.perf_counter() - start:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
