//! ASIM NetworkSession events (column names and types from the ASIM schema): background
//! traffic plus planted beacons, time-sorted, written hour by hour to one Parquet file.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

use crate::rng::Rng;

pub const SECOND: i64 = 1_000_000_000;
pub const HOUR: i64 = 3_600 * SECOND;

/// The data covers the three days before this instant (2024-05-03T00:00:00Z); the bundled
/// hunts run with `--now 2024-05-03T00:00:00Z`, so the beaconing rule's window
/// (`ago(2d)` .. `ago(1d)`) is 2024-05-01T00:00Z .. 2024-05-02T00:00Z.
pub const END: i64 = 1_714_694_400 * SECOND;
const HOURS: i64 = 72;

/// A planted periodic connection.
pub struct Plant {
    pub src: &'static str,
    pub src_host: &'static str,
    pub dst: &'static str,
    pub dst_port: i32,
    /// Seconds after 2024-05-01T00:00:00Z of the first event.
    pub start_s: i64,
    pub count: i64,
    pub period_s: i64,
    /// Each event moves by up to this many seconds either way.
    pub jitter_s: i64,
    /// What the beaconing rule must do with it, and why.
    pub expected: &'static str,
    /// The raw Sentinel tables the same connections are planted in (see `sentinel.rs`).
    pub raw: &'static [Raw],
}

/// A raw table a plant's connections land in, as the data source that saw them logs them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Raw {
    /// Windows Filtering Platform 5156 in `SecurityEvent` (the Windows Security Events connector).
    SecurityEvent,
    /// The same WFP 5156 in `WindowsEvent` (the Windows Forwarded Events connector).
    WindowsEvent,
    /// Sysmon event 3 in `Event` (the legacy Log Analytics agent).
    Sysmon,
    /// A firewall's session in the native `ASimNetworkSessionLogs` table.
    Native,
}

pub const DAY1: i64 = END - 2 * 24 * HOUR;

pub const PLANTS: &[Plant] = &[
    Plant {
        src: "10.1.5.23",
        src_host: "WS-FIN-023",
        dst: "203.0.113.50",
        dst_port: 443,
        start_s: 2 * 3600,
        count: 240,
        period_s: 60,
        jitter_s: 0,
        expected: "found: 60 s beacon, 02:00-05:59, one row per hour",
        raw: &[Raw::WindowsEvent, Raw::Sysmon],
    },
    Plant {
        src: "192.168.20.41",
        src_host: "WS-HR-041",
        dst: "185.220.101.7",
        dst_port: 8080,
        start_s: 13 * 3600 + 1800,
        count: 160,
        period_s: 45,
        jitter_s: 0,
        expected: "found: 45 s beacon, 13:30-15:29, one row per hour",
        raw: &[Raw::SecurityEvent],
    },
    Plant {
        src: "10.1.7.88",
        src_host: "WS-ENG-088",
        dst: "198.51.100.77",
        dst_port: 8443,
        start_s: 6 * 3600,
        count: 72,
        period_s: 300,
        jitter_s: 0,
        expected: "ignored: 12 events an hour, not more than 15",
        raw: &[Raw::SecurityEvent],
    },
    Plant {
        src: "10.2.3.4",
        src_host: "WS-OPS-004",
        dst: "93.184.216.34",
        dst_port: 443,
        start_s: 9 * 3600,
        count: 240,
        period_s: 60,
        jitter_s: 15,
        expected: "ignored: jitter of +-15 s leaves no interval at 80%",
        raw: &[Raw::WindowsEvent],
    },
    Plant {
        src: "10.1.9.9",
        src_host: "SRV-BACKUP-09",
        dst: "10.20.0.5",
        dst_port: 445,
        start_s: 3600,
        count: 240,
        period_s: 60,
        jitter_s: 0,
        expected: "ignored: private (RFC 1918) destination",
        raw: &[Raw::WindowsEvent],
    },
    Plant {
        src: "10.1.9.10",
        src_host: "SRV-APP-10",
        dst: "169.254.169.254",
        dst_port: 80,
        start_s: 3600,
        count: 240,
        period_s: 60,
        jitter_s: 0,
        expected: "ignored: link-local destination (LocalNetworks)",
        raw: &[Raw::Sysmon],
    },
    Plant {
        src: "10.1.9.11",
        src_host: "SRV-APP-11",
        dst: "127.0.0.1",
        dst_port: 8080,
        start_s: 3600,
        count: 240,
        period_s: 60,
        jitter_s: 0,
        expected: "ignored: loopback destination (LocalNetworks)",
        raw: &[Raw::SecurityEvent],
    },
    Plant {
        src: "fd00::23",
        src_host: "WS-LAB-023",
        dst: "2606:4700::6810:85e5",
        dst_port: 443,
        start_s: 5 * 3600,
        count: 240,
        period_s: 60,
        jitter_s: 0,
        expected: "ignored: IPv6 destination (ipv4_is_private is null)",
        raw: &[Raw::Sysmon],
    },
    Plant {
        src: "10.1.5.99",
        src_host: "WS-FIN-099",
        dst: "203.0.113.51",
        dst_port: 443,
        start_s: 30 * 3600,
        count: 180,
        period_s: 60,
        jitter_s: 0,
        expected: "ignored: after the rule's window (2024-05-02T06:00Z)",
        raw: &[Raw::Native],
    },
    Plant {
        src: "10.1.9.12",
        src_host: "WS-DEV-012",
        dst: "203.0.113.52",
        dst_port: 443,
        start_s: 20 * 3600,
        count: 720,
        period_s: 5,
        jitter_s: 0,
        expected: "ignored: 5 s apart, not more than 10 s",
        raw: &[Raw::SecurityEvent, Raw::Native],
    },
];

struct Rows {
    time: Vec<i64>,
    product: Vec<&'static str>,
    vendor: Vec<&'static str>,
    result: Vec<&'static str>,
    action: Vec<&'static str>,
    dvc: Vec<&'static str>,
    protocol: Vec<&'static str>,
    direction: Vec<&'static str>,
    src: Vec<String>,
    src_port: Vec<i32>,
    src_host: Vec<String>,
    dst: Vec<String>,
    dst_port: Vec<i32>,
    src_bytes: Vec<i64>,
    dst_bytes: Vec<i64>,
}

impl Rows {
    fn new() -> Rows {
        Rows {
            time: vec![],
            product: vec![],
            vendor: vec![],
            result: vec![],
            action: vec![],
            dvc: vec![],
            protocol: vec![],
            direction: vec![],
            src: vec![],
            src_port: vec![],
            src_host: vec![],
            dst: vec![],
            dst_port: vec![],
            src_bytes: vec![],
            dst_bytes: vec![],
        }
    }
}

/// One event before it is laid into columns.
pub(crate) struct Event {
    pub(crate) time: i64,
    pub(crate) src: String,
    pub(crate) src_host: String,
    pub(crate) dst: String,
    pub(crate) dst_port: i32,
    pub(crate) protocol: &'static str,
    pub(crate) allowed: bool,
    pub(crate) src_port: i32,
    pub(crate) src_bytes: i64,
    pub(crate) dst_bytes: i64,
}

fn schema() -> Arc<Schema> {
    let s = |n: &str| Field::new(n, DataType::Utf8, false);
    Arc::new(Schema::new(vec![
        // Microseconds, kql's own datetime unit (the times are whole seconds).
        Field::new("TimeGenerated", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        s("Type"),
        s("EventType"),
        s("EventProduct"),
        s("EventVendor"),
        s("EventResult"),
        Field::new("EventCount", DataType::Int32, false),
        s("DvcAction"),
        s("Dvc"),
        s("NetworkProtocol"),
        s("NetworkDirection"),
        s("SrcIpAddr"),
        Field::new("SrcPortNumber", DataType::Int32, false),
        s("SrcHostname"),
        s("DstIpAddr"),
        Field::new("DstPortNumber", DataType::Int32, false),
        Field::new("SrcBytes", DataType::Int64, false),
        Field::new("DstBytes", DataType::Int64, false),
    ]))
}

struct Background {
    hosts: Vec<(String, String)>,
    public: Vec<String>,
    internal: Vec<String>,
    ipv6: Vec<String>,
}

fn background(rng: &mut Rng) -> Background {
    let mut hosts = Vec::new();
    for i in 0..120 {
        let ip = format!("10.0.{}.{}", i / 40, 10 + (i % 40) * 6);
        hosts.push((ip, format!("WS-{:03}", i + 100)));
    }
    for i in 0..8 {
        hosts.push((format!("192.168.1.{}", 10 + i), format!("SRV-{:02}", i + 1)));
    }
    // Public destinations: first octets of well-known cloud and CDN ranges, never private.
    let firsts = [13u8, 20, 23, 34, 35, 40, 52, 54, 104, 140, 142, 151, 157, 162, 185, 199, 204];
    let public =
        (0..3_000).map(|_| format!("{}.{}.{}.{}", rng.pick(&firsts), rng.range(0, 255), rng.range(0, 255), rng.range(1, 254))).collect();
    let internal = (0..40).map(|i| format!("10.0.{}.{}", 10 + i / 20, 1 + i % 20)).collect();
    let ipv6 = (0..50).map(|i| format!("2606:4700:{:x}::{:x}", 0x10 + i, rng.range(1, 0xffff))).collect();
    Background { hosts, public, internal, ipv6 }
}

/// How many distinct sources, destinations and flows the background has, for benchmarks at the
/// cardinality of a real network (the default samples have 128 hosts and 3,000 destinations).
#[derive(Clone, Copy, Debug)]
pub struct Cardinality {
    pub sources: u64,
    pub destinations: u64,
    /// Flows (source, destination, port) the rows are drawn from, uniformly: `rows` draws
    /// from `flows` give `flows * (1 - e^(-rows/flows))` distinct ones.
    pub flows: u64,
}

/// A mixer of 64 bits (SplitMix64's finaliser): a flow's number decides its source,
/// destination and port, so no table of flows is held.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A background event of a network with `c`'s cardinality: a flow drawn uniformly, its
/// source among `c.sources` workstations (10.0.0.0/8), its destination among
/// `c.destinations` public addresses, its port common (70 %) or any of 64,512.
fn realistic_event(rng: &mut Rng, c: &Cardinality, hour_start: i64) -> Event {
    const FIRSTS: [u8; 17] = [13, 20, 23, 34, 35, 40, 52, 54, 104, 140, 142, 151, 157, 162, 185, 199, 204];
    const COMMON: [i32; 10] = [443, 443, 443, 443, 80, 80, 8080, 22, 53, 123];
    let flow = rng.below(c.flows.max(1));
    let a = mix(flow ^ 0x5eed);
    let b = mix(a);
    let p = mix(b);
    let s = a % c.sources.max(1) + 1;
    let d = b % c.destinations.max(1);
    let port = if p % 10 < 7 { COMMON[(p >> 8) as usize % COMMON.len()] } else { 1024 + ((p >> 16) % 64_512) as i32 };
    let src_bytes = 200 + rng.below(4_000) as i64 * (1 + rng.below(3) as i64);
    Event {
        time: hour_start + rng.below(HOUR as u64) as i64,
        src: format!("10.{}.{}.{}", (s >> 16) & 0xff, (s >> 8) & 0xff, s & 0xff),
        src_host: format!("WS-{s:05}"),
        dst: format!("{}.{}.{}.{}", FIRSTS[(d % 17) as usize], (d / 17) & 0xff, ((d / 17) >> 8) & 0xff, 1 + d % 251),
        dst_port: port,
        protocol: if port == 53 || port == 123 { "UDP" } else { "TCP" },
        allowed: !rng.chance(0.04),
        src_port: rng.range(49_152, 65_535) as i32,
        src_bytes,
        dst_bytes: src_bytes * (1 + rng.below(40) as i64),
    }
}

fn background_event(rng: &mut Rng, bg: &Background, hour_start: i64) -> Event {
    let (src, src_host) = rng.pick(&bg.hosts).clone();
    let roll = rng.below(100);
    let (dst, port, protocol) = if roll < 5 {
        (rng.pick(&bg.ipv6).clone(), 443, "TCP")
    } else if roll < 20 {
        let port = *rng.pick(&[445, 389, 88, 135, 3389, 22]);
        (rng.pick(&bg.internal).clone(), port, "TCP")
    } else if roll < 30 {
        (rng.pick(&bg.public[..50]).clone(), 53, "UDP")
    } else {
        let port = *rng.pick(&[443, 443, 443, 443, 443, 443, 80, 80, 8080, 22, 123]);
        (rng.pick(&bg.public).clone(), port, if port == 123 { "UDP" } else { "TCP" })
    };
    let src_bytes = 200 + rng.below(4_000) as i64 * (1 + rng.below(3) as i64);
    Event {
        time: hour_start + rng.below(HOUR as u64) as i64,
        src,
        src_host,
        dst,
        dst_port: port,
        protocol,
        allowed: !rng.chance(0.04),
        src_port: rng.range(49_152, 65_535) as i32,
        src_bytes,
        dst_bytes: src_bytes * (1 + rng.below(40) as i64),
    }
}

pub(crate) fn planted_events(rng: &mut Rng) -> Vec<Event> {
    let mut out = Vec::new();
    for p in PLANTS {
        for i in 0..p.count {
            let jitter = if p.jitter_s > 0 { rng.range(-p.jitter_s, p.jitter_s) } else { 0 };
            out.push(Event {
                time: DAY1 + (p.start_s + i * p.period_s + jitter) * SECOND,
                src: p.src.to_string(),
                src_host: p.src_host.to_string(),
                dst: p.dst.to_string(),
                dst_port: p.dst_port,
                protocol: "TCP",
                allowed: true,
                src_port: rng.range(49_152, 65_535) as i32,
                src_bytes: 512,
                dst_bytes: 1_024,
            });
        }
    }
    out
}

fn push(rows: &mut Rows, e: Event) {
    let direction = if e.dst.starts_with("10.") || e.dst.starts_with("192.168.") { "Local" } else { "Outbound" };
    rows.time.push(e.time);
    rows.product.push("Fortigate");
    rows.vendor.push("Fortinet");
    rows.result.push(if e.allowed { "Success" } else { "Failure" });
    rows.action.push(if e.allowed { "Allow" } else { "Deny" });
    rows.dvc.push("FW-EDGE-01");
    rows.protocol.push(e.protocol);
    rows.direction.push(direction);
    rows.src.push(e.src);
    rows.src_port.push(e.src_port);
    rows.src_host.push(e.src_host);
    rows.dst.push(e.dst);
    rows.dst_port.push(e.dst_port);
    rows.src_bytes.push(e.src_bytes);
    rows.dst_bytes.push(e.dst_bytes);
}

fn batch(schema: &Arc<Schema>, rows: Rows) -> Result<RecordBatch, String> {
    let n = rows.time.len();
    let strings = |v: Vec<&'static str>| -> ArrayRef { Arc::new(StringArray::from(v)) };
    let owned = |v: Vec<String>| -> ArrayRef { Arc::new(StringArray::from(v)) };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMicrosecondArray::from(rows.time.iter().map(|t| t / 1_000).collect::<Vec<_>>()).with_timezone("UTC")),
        strings(vec!["CommonSecurityLog"; n]),
        strings(vec!["NetworkSession"; n]),
        strings(rows.product),
        strings(rows.vendor),
        strings(rows.result),
        Arc::new(Int32Array::from(vec![1; n])),
        strings(rows.action),
        strings(rows.dvc),
        strings(rows.protocol),
        strings(rows.direction),
        owned(rows.src),
        Arc::new(Int32Array::from(rows.src_port)),
        owned(rows.src_host),
        owned(rows.dst),
        Arc::new(Int32Array::from(rows.dst_port)),
        Arc::new(Int64Array::from(rows.src_bytes)),
        Arc::new(Int64Array::from(rows.dst_bytes)),
    ];
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())
}

/// Writes `rows` background events plus the plants to `out`, hour by hour in time order.
/// Writes `rows` background events (with the planted beacons on top) to `out`; with
/// `cardinality`, the background has that many sources, destinations and flows.
pub fn write(out: &Path, rows: usize, seed: u64, cardinality: Option<Cardinality>) -> Result<String, String> {
    let mut rng = Rng::new(seed);
    let bg = background(&mut rng);
    let mut planted_all = planted_events(&mut Rng::new(seed ^ 0xBEAC0));
    planted_all.sort_by_key(|e| e.time);
    let mut plants = planted_all.into_iter().peekable();
    let schema = schema();
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let file = File::create(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(|e| e.to_string())?))
        .set_max_row_group_row_count(Some(256 * 1024))
        .build();
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| e.to_string())?;
    let start = END - HOURS * HOUR;
    let mut total = 0usize;
    let mut planted: Vec<Event> = Vec::new();
    for h in 0..HOURS {
        let hour_start = start + h * HOUR;
        let n = rows / HOURS as usize + usize::from((h as usize) < rows % HOURS as usize);
        let mut events: Vec<Event> = match &cardinality {
            Some(c) => (0..n).map(|_| realistic_event(&mut rng, c, hour_start)).collect(),
            None => (0..n).map(|_| background_event(&mut rng, &bg, hour_start)).collect(),
        };
        planted.clear();
        while let Some(e) = plants.next_if(|e| e.time < hour_start + HOUR) {
            planted.push(e);
        }
        events.append(&mut planted);
        events.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.src.cmp(&b.src)));
        total += events.len();
        let mut cols = Rows::new();
        for e in events {
            push(&mut cols, e);
        }
        writer.write(&batch(&schema, cols)?).map_err(|e| e.to_string())?;
    }
    writer.close().map_err(|e| e.to_string())?;
    let mut summary = format!("wrote {total} NetworkSession events to {}\nplanted beacons:", out.display());
    for p in PLANTS {
        summary.push_str(&format!("\n  {} -> {}:{}  {}", p.src, p.dst, p.dst_port, p.expected));
    }
    Ok(summary)
}
