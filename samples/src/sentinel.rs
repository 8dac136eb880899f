//! The raw tables Microsoft Sentinel stores, with its column names and types, as its connectors
//! fill them:
//! - `SecurityEvent` (Windows Security Events connector): Windows Filtering Platform events
//!   5152, 5154, 5156, 5157 and 5158 with `EventData` as the agent stores it (the XML
//!   `<EventData xmlns=...>`, each field on its own line after CR LF and two spaces), and
//!   logons (4624) as noise;
//! - `WindowsEvent` (Windows Forwarded Events connector): the same WFP events with `EventData`
//!   a dynamic bag of the event's fields;
//! - `Event` (the legacy Log Analytics agent): Sysmon event 3 (network connection), `EventData`
//!   as `<DataItem ...><EventData ...><Data Name="...">...`;
//! - `ASimNetworkSessionLogs`: firewall sessions in the native ASIM table;
//! - `PowerShellScriptBlock_CL`: PowerShell 4104 script-block logging (a custom table).
//!
//! The beacons of `network_session::PLANTS` (and their look-alikes) are planted in the tables
//! their `raw` field names, so the beaconing rule over the ASIM parsers in `samples/parsers`
//! finds them from raw events. The T1571 hunts' own plants (`WFP_PLANTS`, `SYSMON_PLANTS`,
//! `POWERSHELL_PLANTS`) come on top. Hosts that send planted beacons send no other traffic to
//! public addresses on 2024-05-01, so no other event of theirs sits between two beacon events.

use std::path::Path;

use serde_json::{Map, Value};

use crate::event_table::{self, Cell, Kind, Row};
use crate::network_session::{self, DAY1, END, HOUR, PLANTS, Raw, SECOND};
use crate::rng::Rng;

const DAY: i64 = 24 * HOUR;
const DAYS: i64 = 3;
const MS: i64 = 1_000_000;
/// The T1571 hunts' own plants happen on 2024-05-02, outside the beaconing rule's window.
const DAY2: i64 = DAY1 + DAY;

const WORKSPACE: &str = "4b2c9f0e-7a1d-4e6b-9c3f-2d8e5a1b7c60";
const SUBSCRIPTION: &str = "9e1a7c3d-5b2f-4d8a-8c6e-1f0b3a5d7e92";
const DOMAIN: &str = "contoso.com";
const NETBIOS: &str = "CONTOSO";

/// Sysmon's connection is logged a quarter of a second after WFP's audit of it.
const SYSMON_LAG: i64 = 250 * MS;

struct Host {
    name: String,
    ip: String,
    user: &'static str,
}

impl Host {
    fn fqdn(&self) -> String {
        format!("{}.{DOMAIN}", self.name)
    }

    /// Azure Arc-enabled servers: `_ResourceId` names the machine resource.
    fn resource_id(&self) -> String {
        format!(
            "/subscriptions/{SUBSCRIPTION}/resourcegroups/rg-endpoints/providers/microsoft.hybridcompute/machines/{}",
            self.name.to_lowercase()
        )
    }
}

fn guid(rng: &mut Rng) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
        rng.next_u64() as u32,
        rng.below(0x10000),
        rng.below(0x1000),
        8 + rng.below(4),
        rng.below(0x1000),
        rng.below(1 << 48)
    )
}

/// A guid that depends only on `text`, for ids that stay the same for a host.
fn stable_guid(text: &str) -> String {
    let seed = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    guid(&mut Rng::new(seed))
}

const USERS: [&str; 6] = ["jdoe", "akim", "mlee", "rpatel", "svc_backup", "tnguyen"];
const PUBLIC: [&str; 8] =
    ["13.107.42.14", "142.250.74.110", "104.16.132.229", "151.101.1.69", "52.96.165.130", "20.190.160.1", "23.215.0.136", "172.217.18.3"];
const DNS: &str = "10.0.0.2";
const DC: &str = "10.0.0.10";

fn plant_user(host: &str) -> &'static str {
    match host {
        "WS-FIN-023" => "jdoe",
        "WS-HR-041" => "akim",
        "WS-ENG-088" => "mlee",
        "WS-OPS-004" => "rpatel",
        h if h.starts_with("SRV-") => "svc_backup",
        _ => "tnguyen",
    }
}

/// The hosts that send planted beacons (their address is the plant's source) and the
/// background workstations: even ones report through the Security Events connector, odd ones
/// through Windows Event Forwarding; every third one also runs Sysmon.
struct Hosts {
    planted: Vec<Host>,
    background: Vec<Host>,
}

fn hosts() -> Hosts {
    let mut planted: Vec<Host> = Vec::new();
    for p in PLANTS {
        if !planted.iter().any(|h| h.name == p.src_host) {
            planted.push(Host { name: p.src_host.to_string(), ip: p.src.to_string(), user: plant_user(p.src_host) });
        }
    }
    for (name, ip) in [("SRV-APP-10", "10.1.9.10")] {
        if !planted.iter().any(|h| h.name == name) {
            planted.push(Host { name: name.to_string(), ip: ip.to_string(), user: plant_user(name) });
        }
    }
    let background = (0..120)
        .map(|i| Host {
            name: format!("WS-{:03}", i + 100),
            ip: format!("10.0.{}.{}", i / 40, 10 + (i % 40) * 6),
            user: USERS[i % USERS.len()],
        })
        .collect();
    Hosts { planted, background }
}

impl Hosts {
    fn get(&self, name: &str) -> &Host {
        self.planted.iter().chain(&self.background).find(|h| h.name == name).unwrap_or_else(|| panic!("no host {name}"))
    }
}

// ---- Windows Filtering Platform --------------------------------------------------------------

const OUTBOUND: &str = "%%14593";
const INBOUND: &str = "%%14592";
const VOLUME: &str = r"\device\harddiskvolume2";

/// One WFP audit. The `Source*` fields are the local end, `Dest*` the remote end, whichever way
/// the connection goes (as Windows logs them).
struct Wfp {
    time: i64,
    id: i32,
    pid: u32,
    app: String,
    outbound: bool,
    local: String,
    local_port: i32,
    remote: String,
    remote_port: i32,
    protocol: i32,
}

impl Wfp {
    // One argument per field an event of the Windows Filtering Platform carries.
    #[allow(clippy::too_many_arguments)]
    fn connect(
        time: i64,
        id: i32,
        pid: u32,
        app: &str,
        outbound: bool,
        local: &str,
        local_port: i32,
        remote: &str,
        remote_port: i32,
    ) -> Wfp {
        Wfp {
            time,
            id,
            pid,
            app: app.to_string(),
            outbound,
            local: local.to_string(),
            local_port,
            remote: remote.to_string(),
            remote_port,
            protocol: 6,
        }
    }

    /// The event's fields in the order Windows writes them.
    fn fields(&self) -> Vec<(&'static str, String)> {
        let v6 = self.local.contains(':');
        let proto = self.protocol.to_string();
        match self.id {
            5156 | 5157 => {
                let (layer, rtid) =
                    if self.outbound { ("%%14611", if v6 { 50 } else { 48 }) } else { ("%%14610", if v6 { 46 } else { 44 }) };
                vec![
                    ("ProcessID", self.pid.to_string()),
                    ("Application", self.app.clone()),
                    ("Direction", if self.outbound { OUTBOUND } else { INBOUND }.to_string()),
                    ("SourceAddress", self.local.clone()),
                    ("SourcePort", self.local_port.to_string()),
                    ("DestAddress", self.remote.clone()),
                    ("DestPort", self.remote_port.to_string()),
                    ("Protocol", proto),
                    ("FilterRTID", if self.id == 5156 { "70201" } else { "87463" }.to_string()),
                    ("LayerName", layer.to_string()),
                    ("LayerRTID", rtid.to_string()),
                    ("RemoteUserID", "S-1-0-0".to_string()),
                    ("RemoteMachineID", "S-1-0-0".to_string()),
                ]
            }
            5152 => vec![
                ("ProcessId", self.pid.to_string()),
                ("Application", self.app.clone()),
                ("Direction", if self.outbound { OUTBOUND } else { INBOUND }.to_string()),
                ("SourceAddress", self.local.clone()),
                ("SourcePort", self.local_port.to_string()),
                ("DestAddress", self.remote.clone()),
                ("DestPort", self.remote_port.to_string()),
                ("Protocol", proto),
                ("FilterRTID", "87412".to_string()),
                ("LayerName", "%%14597".to_string()),
                ("LayerRTID", "13".to_string()),
            ],
            // 5154 (listen) and 5158 (bind): the local end only.
            _ => vec![
                ("ProcessId", self.pid.to_string()),
                ("Application", self.app.clone()),
                ("SourceAddress", self.local.clone()),
                ("SourcePort", self.local_port.to_string()),
                ("Protocol", proto),
                ("FilterRTID", "0".to_string()),
                ("LayerName", if self.id == 5154 { "%%14609" } else { "%%14608" }.to_string()),
                ("LayerRTID", if self.id == 5154 { "40" } else { "36" }.to_string()),
            ],
        }
    }

    fn success(&self) -> bool {
        matches!(self.id, 5154 | 5156 | 5158)
    }

    fn activity(&self) -> &'static str {
        match self.id {
            5152 => "5152 - The Windows Filtering Platform blocked a packet.",
            5154 => {
                "5154 - The Windows Filtering Platform has permitted an application or service to listen on a port for incoming connections."
            }
            5156 => "5156 - The Windows Filtering Platform has permitted a connection.",
            5157 => "5157 - The Windows Filtering Platform has blocked a connection.",
            _ => "5158 - The Windows Filtering Platform has permitted a bind to a local port.",
        }
    }

    fn task(&self) -> i32 {
        if self.id == 5152 { 12809 } else { 12810 }
    }
}

/// `EventData` of a `SecurityEvent` row, byte for byte as the agent stores it.
fn event_data_xml(fields: &[(&str, String)]) -> String {
    let mut s = String::from(r#"<EventData xmlns="http://schemas.microsoft.com/win/2004/08/events/event">"#);
    for (name, value) in fields {
        s.push_str(&format!("\r\n  <Data Name=\"{name}\">{}</Data>", xml_escape(value)));
    }
    s.push_str("\r\n</EventData>");
    s
}

fn xml_escape(v: &str) -> String {
    v.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Background WFP audits of one host at `time`: web and DNS from Windows and Program Files,
/// SMB and RDP accepted from the internal network, ephemeral binds, blocked outbound, dropped
/// inbound packets, and services listening.
fn background_wfp(rng: &mut Rng, host: &Host, time: i64) -> Wfp {
    let ephemeral = rng.range(49152, 65535) as i32;
    let pid = 1000 + rng.below(9000) as u32;
    let svchost = format!(r"{VOLUME}\windows\system32\svchost.exe");
    let chrome = format!(r"{VOLUME}\program files\google\chrome\application\chrome.exe");
    let internal = format!("10.0.{}.{}", rng.below(3), 10 + rng.below(40) * 6);
    let ip = host.ip.as_str();
    match rng.below(20) {
        0..=3 => Wfp { protocol: 17, ..Wfp::connect(time, 5156, pid, &svchost, true, ip, ephemeral, DNS, 53) },
        4..=8 => Wfp::connect(time, 5156, pid, &chrome, true, ip, ephemeral, rng.pick::<&str>(&PUBLIC), *rng.pick(&[443, 443, 443, 80])),
        9..=10 => Wfp::connect(time, 5156, 4, "System", false, ip, *rng.pick(&[445, 3389]), &internal, ephemeral),
        11..=13 => Wfp::connect(time, 5158, pid, &chrome, true, ip, ephemeral, "", 0),
        14..=15 => Wfp::connect(time, 5157, pid, &svchost, true, ip, ephemeral, rng.pick::<&str>(&PUBLIC), 80),
        16..=17 => Wfp::connect(time, 5152, 0, "-", false, ip, *rng.pick(&[137, 138, 5355]), &internal, ephemeral),
        _ => Wfp::connect(time, 5154, pid, &svchost, false, "0.0.0.0", *rng.pick(&[135, 5985, 7680]), "", 0),
    }
}

/// (host, event, application, outbound, local port, remote address, remote port, verdict).
pub type WfpPlant = (&'static str, i32, &'static str, bool, i32, &'static str, i32, &'static str);

/// Planted WFP events of the `wfp_non_standard_ports` hunt (in `WindowsEvent`): (host, event,
/// application under the volume, outbound, local port, remote address, remote port, what the
/// hunt must do).
pub const WFP_PLANTS: &[WfpPlant] = &[
    ("WS-FIN-023", 5156, r"\users\jdoe\appdata\roaming\svcupd.exe", true, 50_123, "45.77.65.211", 4444, "found: outbound to port 4444"),
    ("WS-HR-041", 5157, r"\programdata\intel\igfxtray.exe", true, 50_456, "185.220.101.7", 8531, "found: blocked outbound to port 8531"),
    ("SRV-APP-10", 5158, r"\users\public\svchost.exe", true, 4444, "", 0, "found: bind on port 4444"),
    ("WS-FIN-023", 5156, r"\users\jdoe\appdata\roaming\svcupd.exe", true, 50_124, "45.77.65.211", 443, "ignored: standard port"),
    ("WS-ENG-088", 5156, r"\users\mlee\appdata\roaming\npm\node.exe", false, 3000, "10.1.7.5", 51_000, "ignored: inbound"),
    ("WS-FIN-023", 5158, r"\users\jdoe\appdata\local\slack\app-4.36.140\slack.exe", true, 52_344, "", 0, "ignored: ephemeral bind"),
    ("SRV-APP-10", 5156, r"\program files\java\jre1.8.0_391\bin\java.exe", true, 50_789, "52.31.4.4", 8080, "ignored: under Program Files"),
];

/// When a hunt plant happens: 2024-05-02 09:00 plus `minute`.
fn hunt_plant_time(minute: i64) -> i64 {
    DAY2 + (9 * 60 + minute) * 60 * SECOND
}

fn random_time(rng: &mut Rng) -> i64 {
    END - DAYS * DAY + rng.range(0, DAYS * 86_400 - 1) * SECOND + rng.below(1000) as i64 * MS
}

/// The planted beacons (and look-alikes) each raw table gets: (plant index, event).
fn planted(seed: u64, raw: Raw) -> Vec<(usize, network_session::Event)> {
    let mut events = network_session::planted_events(&mut Rng::new(seed ^ 0xBEAC0));
    let mut out = Vec::new();
    // planted_events lays the plants out in PLANTS order, `count` events each.
    let mut index = Vec::new();
    for (i, p) in PLANTS.iter().enumerate() {
        index.extend(std::iter::repeat_n(i, p.count as usize));
    }
    for (e, i) in events.drain(..).zip(index) {
        if PLANTS[i].raw.contains(&raw) {
            out.push((i, e));
        }
    }
    out
}

fn beacon_app(host: &str) -> String {
    format!(r"{VOLUME}\users\{}\appdata\local\microsoft\onedrive\update\onedriveupdater.exe", plant_user(host))
}

/// Every WFP audit of a table: background from `hosts`, the plants for `raw`, and `extra`.
fn wfp_events(rng: &mut Rng, hosts: &Hosts, background: &[&Host], rows: usize, raw: Raw, seed: u64) -> Vec<(String, Wfp)> {
    let mut out = Vec::with_capacity(rows);
    for _ in 0..rows {
        let host = *rng.pick(background);
        let time = random_time(rng);
        out.push((host.name.clone(), background_wfp(rng, host, time)));
    }
    for (i, e) in planted(seed, raw) {
        let p = &PLANTS[i];
        let host = hosts.get(p.src_host);
        out.push((
            host.name.clone(),
            Wfp::connect(e.time, 5156, 7316, &beacon_app(p.src_host), true, &host.ip, e.src_port, p.dst, p.dst_port),
        ));
    }
    out
}

// ---- SecurityEvent -------------------------------------------------------------------------

const SECURITY_EVENT: &[(&str, Kind)] = &[
    ("TenantId", Kind::Str),
    ("SourceSystem", Kind::Str),
    ("Account", Kind::Str),
    ("AccountType", Kind::Str),
    ("Computer", Kind::Str),
    ("EventSourceName", Kind::Str),
    ("Channel", Kind::Str),
    ("Task", Kind::Int),
    ("Level", Kind::Str),
    ("EventData", Kind::Str),
    ("EventID", Kind::Int),
    ("Activity", Kind::Str),
    ("SourceComputerId", Kind::Str),
    ("EventOriginId", Kind::Str),
    ("MG", Kind::Str),
    ("TimeCollected", Kind::Time),
    ("ManagementGroupName", Kind::Str),
    ("AuthenticationPackageName", Kind::Str),
    ("ElevatedToken", Kind::Str),
    ("ImpersonationLevel", Kind::Str),
    ("IpAddress", Kind::Str),
    ("IpPort", Kind::Str),
    ("KeyLength", Kind::Int),
    ("LmPackageName", Kind::Str),
    ("LogonGuid", Kind::Str),
    ("LogonProcessName", Kind::Str),
    ("LogonType", Kind::Int),
    ("LogonTypeName", Kind::Str),
    ("ProcessId", Kind::Str),
    ("ProcessName", Kind::Str),
    ("RestrictedAdminMode", Kind::Str),
    ("SubjectDomainName", Kind::Str),
    ("SubjectLogonId", Kind::Str),
    ("SubjectUserName", Kind::Str),
    ("SubjectUserSid", Kind::Str),
    ("TargetAccount", Kind::Str),
    ("TargetDomainName", Kind::Str),
    ("TargetLinkedLogonId", Kind::Str),
    ("TargetLogonId", Kind::Str),
    ("TargetOutboundDomainName", Kind::Str),
    ("TargetOutboundUserName", Kind::Str),
    ("TargetUserName", Kind::Str),
    ("TargetUserSid", Kind::Str),
    ("TransmittedServices", Kind::Str),
    ("VirtualAccount", Kind::Str),
    ("WorkstationName", Kind::Str),
    ("Type", Kind::Str),
    ("_ResourceId", Kind::Str),
    ("_SubscriptionId", Kind::Str),
];

/// The columns every `SecurityEvent` row fills, before the event-specific ones.
struct SecurityRow {
    time: i64,
    host: String,
    resource: String,
    account: String,
    account_type: &'static str,
    task: i32,
    success: bool,
    event_id: i32,
    activity: String,
    event_data: String,
}

fn security_row(rng: &mut Rng, r: SecurityRow, logon: Option<Vec<Cell>>) -> Row {
    let mut cells: Vec<Cell> = vec![
        WORKSPACE.into(),
        "OpsManager".into(),
        r.account.into(),
        r.account_type.into(),
        r.host.clone().into(),
        "Microsoft-Windows-Security-Auditing".into(),
        "Security".into(),
        r.task.into(),
        if r.success { "8" } else { "16" }.into(),
        r.event_data.into(),
        r.event_id.into(),
        r.activity.into(),
        stable_guid(&r.host).into(),
        guid(rng).into(),
        "00000000-0000-0000-0000-000000000001".into(),
        Cell::Time(r.time + (2 + rng.below(20) as i64) * SECOND),
        format!("AOI-{WORKSPACE}").into(),
    ];
    // The logon columns (AuthenticationPackageName .. WorkstationName) are empty for other events.
    let logon = logon
        .unwrap_or_else(|| SECURITY_EVENT[17..46].iter().map(|(_, k)| if *k == Kind::Str { Cell::from("") } else { Cell::Null }).collect());
    cells.extend(logon);
    cells.extend(["SecurityEvent".into(), r.resource.into(), SUBSCRIPTION.into()]);
    Row { time: r.time, cells }
}

fn wfp_security_row(rng: &mut Rng, hosts: &Hosts, host: &str, w: &Wfp) -> Row {
    let h = hosts.get(host);
    security_row(
        rng,
        SecurityRow {
            time: w.time,
            host: h.fqdn(),
            resource: h.resource_id(),
            account: String::new(),
            account_type: "",
            task: w.task(),
            success: w.success(),
            event_id: w.id,
            activity: w.activity().to_string(),
            event_data: event_data_xml(&w.fields()),
        },
        None,
    )
}

/// A 4624 logon: interactive (2), network (3) from another workstation, or remote interactive (10).
fn logon_row(rng: &mut Rng, h: &Host, time: i64) -> Row {
    let (logon_type, type_name, process, package, from) = match rng.below(10) {
        0..=2 => (2, "2 - Interactive", "User32 ", "Negotiate", "127.0.0.1".to_string()),
        3..=8 => (3, "3 - Network", "NtLmSsp ", "NTLM", format!("10.0.{}.{}", rng.below(3), 10 + rng.below(40) * 6)),
        _ => (10, "10 - RemoteInteractive", "User32 ", "Negotiate", format!("10.0.{}.{}", rng.below(3), 10 + rng.below(40) * 6)),
    };
    let user = h.user;
    let sid = format!("S-1-5-21-3623811015-3361044348-30300820-{}", 1100 + USERS.iter().position(|u| *u == user).unwrap_or(9));
    let logon_id = format!("0x{:x}", 0x10_0000 + rng.below(0xf0_0000));
    let logon_guid = if package == "NTLM" { "{00000000-0000-0000-0000-000000000000}".to_string() } else { format!("{{{}}}", guid(rng)) };
    let port = if logon_type == 2 { "0".to_string() } else { rng.range(49152, 65535).to_string() };
    let (proc_id, proc_name) = if logon_type == 3 {
        ("0x0".to_string(), "-".to_string())
    } else {
        ("0x2e4".to_string(), r"C:\Windows\System32\svchost.exe".to_string())
    };
    let key_length = if package == "NTLM" { 128 } else { 0 };
    let lm = if package == "NTLM" { "NTLM V2" } else { "-" };
    let fields: Vec<(&str, String)> = vec![
        ("SubjectUserSid", if logon_type == 3 { "S-1-0-0" } else { "S-1-5-18" }.to_string()),
        ("SubjectUserName", if logon_type == 3 { "-".to_string() } else { format!("{}$", h.name) }),
        ("SubjectDomainName", if logon_type == 3 { "-" } else { NETBIOS }.to_string()),
        ("SubjectLogonId", if logon_type == 3 { "0x0" } else { "0x3e7" }.to_string()),
        ("TargetUserSid", sid.clone()),
        ("TargetUserName", user.to_string()),
        ("TargetDomainName", NETBIOS.to_string()),
        ("TargetLogonId", logon_id.clone()),
        ("LogonType", logon_type.to_string()),
        ("LogonProcessName", process.to_string()),
        ("AuthenticationPackageName", package.to_string()),
        ("WorkstationName", h.name.clone()),
        ("LogonGuid", logon_guid.clone()),
        ("TransmittedServices", "-".to_string()),
        ("LmPackageName", lm.to_string()),
        ("KeyLength", key_length.to_string()),
        ("ProcessId", proc_id.clone()),
        ("ProcessName", proc_name.clone()),
        ("IpAddress", from.clone()),
        ("IpPort", port.clone()),
        ("ImpersonationLevel", "%%1833".to_string()),
        ("RestrictedAdminMode", "-".to_string()),
        ("TargetOutboundUserName", "-".to_string()),
        ("TargetOutboundDomainName", "-".to_string()),
        ("VirtualAccount", "%%1843".to_string()),
        ("TargetLinkedLogonId", "0x0".to_string()),
        ("ElevatedToken", "%%1842".to_string()),
    ];
    let get = |k: &str| fields.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let logon: Vec<Cell> = vec![
        package.into(),
        get("ElevatedToken").into(),
        get("ImpersonationLevel").into(),
        from.into(),
        port.into(),
        key_length.into(),
        lm.into(),
        logon_guid.into(),
        process.into(),
        logon_type.into(),
        type_name.into(),
        proc_id.into(),
        proc_name.into(),
        "-".into(),
        get("SubjectDomainName").into(),
        get("SubjectLogonId").into(),
        get("SubjectUserName").into(),
        get("SubjectUserSid").into(),
        format!(r"{NETBIOS}\{user}").into(),
        NETBIOS.into(),
        "0x0".into(),
        logon_id.into(),
        "-".into(),
        "-".into(),
        user.into(),
        sid.into(),
        "-".into(),
        "%%1843".into(),
        h.name.clone().into(),
    ];
    security_row(
        rng,
        SecurityRow {
            time,
            host: h.fqdn(),
            resource: h.resource_id(),
            account: format!(r"{NETBIOS}\{user}"),
            account_type: "User",
            task: 12544,
            success: true,
            event_id: 4624,
            activity: "4624 - An account was successfully logged on.".to_string(),
            event_data: event_data_xml(&fields),
        },
        Some(logon),
    )
}

pub fn write_security_event(out: &Path, rows: usize, seed: u64) -> Result<String, String> {
    let mut rng = Rng::new(seed ^ 0x4624);
    let hosts = hosts();
    let agents: Vec<&Host> = hosts.background.iter().step_by(2).collect();
    let mut events: Vec<Row> = Vec::with_capacity(rows + rows / 4);
    let wfp = wfp_events(&mut rng, &hosts, &agents, rows, Raw::SecurityEvent, seed);
    let planted = wfp.len() - rows;
    for (host, w) in &wfp {
        events.push(wfp_security_row(&mut rng, &hosts, host, w));
    }
    // Logons on every host, the planted ones included.
    let everyone: Vec<&Host> = agents.iter().copied().chain(hosts.planted.iter()).collect();
    for _ in 0..rows / 4 {
        let h = *rng.pick(&everyone);
        let time = random_time(&mut rng);
        events.push(logon_row(&mut rng, h, time));
    }
    let n = event_table::write(out, SECURITY_EVENT, events)?;
    Ok(format!("wrote {n} SecurityEvent rows (WFP and 4624 logons; {planted} planted beacon events) to {}", out.display()))
}

// ---- WindowsEvent --------------------------------------------------------------------------

const WINDOWS_EVENT: &[(&str, Kind)] = &[
    ("TenantId", Kind::Str),
    ("Channel", Kind::Str),
    ("Computer", Kind::Str),
    ("Correlation", Kind::Str),
    ("EventData", Kind::Dynamic),
    ("EventID", Kind::Int),
    ("EventLevel", Kind::Int),
    ("EventLevelName", Kind::Str),
    ("EventOriginId", Kind::Str),
    ("EventRecordId", Kind::Str),
    ("Keywords", Kind::Str),
    ("ManagementGroupName", Kind::Str),
    ("Opcode", Kind::Str),
    ("Provider", Kind::Str),
    ("RawEventData", Kind::Str),
    ("SystemProcessId", Kind::Int),
    ("SystemThreadId", Kind::Int),
    ("SystemUserId", Kind::Str),
    ("Task", Kind::Int),
    ("Version", Kind::Int),
    ("Type", Kind::Str),
    ("_ResourceId", Kind::Str),
    ("_SubscriptionId", Kind::Str),
];

fn wfp_windows_row(rng: &mut Rng, hosts: &Hosts, host: &str, w: &Wfp, record: u64) -> Row {
    let h = hosts.get(host);
    let data: Map<String, Value> = w.fields().into_iter().map(|(k, v)| (k.to_string(), Value::String(v))).collect();
    let cells: Vec<Cell> = vec![
        WORKSPACE.into(),
        "Security".into(),
        h.fqdn().into(),
        "".into(),
        Value::Object(data).into(),
        w.id.into(),
        0.into(),
        "Information".into(),
        stable_guid(&h.name).into(),
        record.to_string().into(),
        if w.success() { "0x8020000000000000" } else { "0x8010000000000000" }.into(),
        format!("AOI-{WORKSPACE}").into(),
        "Info".into(),
        "Microsoft-Windows-Security-Auditing".into(),
        "".into(),
        4.into(),
        (1000 + rng.below(8000) as i32).into(),
        "".into(),
        w.task().into(),
        if matches!(w.id, 5156 | 5157) { 1 } else { 0 }.into(),
        "WindowsEvent".into(),
        h.resource_id().into(),
        SUBSCRIPTION.into(),
    ];
    Row { time: w.time, cells }
}

pub fn write_windows_event(out: &Path, rows: usize, seed: u64) -> Result<String, String> {
    let mut rng = Rng::new(seed ^ 0x5156);
    let hosts = hosts();
    let forwarded: Vec<&Host> = hosts.background.iter().skip(1).step_by(2).collect();
    let mut wfp = wfp_events(&mut rng, &hosts, &forwarded, rows, Raw::WindowsEvent, seed);
    let planted = wfp.len() - rows;
    for (i, (host, id, app, outbound, local_port, remote, remote_port, _)) in WFP_PLANTS.iter().enumerate() {
        let h = hosts.get(host);
        let local = if *id == 5158 { "0.0.0.0" } else { h.ip.as_str() };
        wfp.push((
            h.name.clone(),
            Wfp::connect(
                hunt_plant_time(4 * i as i64 + 1),
                *id,
                6000 + i as u32,
                &format!("{VOLUME}{app}"),
                *outbound,
                local,
                *local_port,
                remote,
                *remote_port,
            ),
        ));
    }
    wfp.sort_by_key(|(_, w)| w.time);
    let events: Vec<Row> =
        wfp.iter().enumerate().map(|(i, (host, w))| wfp_windows_row(&mut rng, &hosts, host, w, 300_000 + i as u64)).collect();
    let n = event_table::write(out, WINDOWS_EVENT, events)?;
    Ok(format!(
        "wrote {n} WindowsEvent rows (WFP; {planted} planted beacon events, {} planted for wfp_non_standard_ports) to {}",
        WFP_PLANTS.len(),
        out.display()
    ))
}

// ---- Event: Sysmon event 3 -----------------------------------------------------------------

const EVENT: &[(&str, Kind)] = &[
    ("TenantId", Kind::Str),
    ("SourceSystem", Kind::Str),
    ("Source", Kind::Str),
    ("EventLog", Kind::Str),
    ("Computer", Kind::Str),
    ("EventLevel", Kind::Int),
    ("EventLevelName", Kind::Str),
    ("ParameterXml", Kind::Str),
    ("EventData", Kind::Str),
    ("EventID", Kind::Int),
    ("RenderedDescription", Kind::Str),
    ("AzureDeploymentID", Kind::Str),
    ("Role", Kind::Str),
    ("EventCategory", Kind::Int),
    ("UserName", Kind::Str),
    ("Message", Kind::Str),
    ("MG", Kind::Str),
    ("ManagementGroupName", Kind::Str),
    ("Type", Kind::Str),
    ("_ResourceId", Kind::Str),
    ("_SubscriptionId", Kind::Str),
];

/// A Sysmon network connection (event 3) as the host saw it.
struct Sysmon {
    time: i64,
    host: String,
    image: String,
    user: String,
    local: String,
    local_port: i32,
    remote: String,
    remote_host: String,
    remote_port: i32,
    protocol: &'static str,
}

fn port_name(port: i32) -> &'static str {
    match port {
        53 => "domain",
        80 => "http",
        88 => "kerberos",
        389 => "ldap",
        443 => "https",
        445 => "microsoft-ds",
        _ => "-",
    }
}

fn sysmon_row(rng: &mut Rng, hosts: &Hosts, s: &Sysmon) -> Row {
    let h = hosts.get(&s.host);
    let utc = chrono::DateTime::from_timestamp_nanos(s.time).format("%Y-%m-%d %H:%M:%S%.3f").to_string();
    let v6 = s.local.contains(':');
    let fields: Vec<(&str, String)> = vec![
        ("RuleName", "-".to_string()),
        ("UtcTime", utc),
        ("ProcessGuid", format!("{{{}}}", stable_guid(&format!("{}{}", s.host, s.image)))),
        ("ProcessId", (2000 + s.image.len() * 37 % 6000).to_string()),
        ("Image", s.image.clone()),
        ("User", s.user.clone()),
        ("Protocol", s.protocol.to_string()),
        ("Initiated", "true".to_string()),
        ("SourceIsIpv6", v6.to_string()),
        ("SourceIp", s.local.clone()),
        ("SourceHostname", h.fqdn()),
        ("SourcePort", s.local_port.to_string()),
        ("SourcePortName", "-".to_string()),
        ("DestinationIsIpv6", v6.to_string()),
        ("DestinationIp", s.remote.clone()),
        ("DestinationHostname", s.remote_host.clone()),
        ("DestinationPort", s.remote_port.to_string()),
        ("DestinationPortName", port_name(s.remote_port).to_string()),
    ];
    let stamp =
        format!("{}.{:07}Z", chrono::DateTime::from_timestamp_nanos(s.time).format("%Y-%m-%dT%H:%M:%S"), s.time.rem_euclid(SECOND) / 100);
    let mut data = format!(
        r#"<DataItem type="System.XmlData" time="{stamp}" sourceHealthServiceId="{}"><EventData xmlns="http://schemas.microsoft.com/win/2004/08/events/event">"#,
        stable_guid(&h.name)
    );
    let mut params = String::new();
    let mut rendered = String::from("Network connection detected:");
    for (name, value) in &fields {
        data.push_str(&format!("<Data Name=\"{name}\">{}</Data>", xml_escape(value)));
        params.push_str(&format!("<Param>{}</Param>", xml_escape(value)));
        rendered.push_str(&format!("\r\n{name}: {value}"));
    }
    data.push_str("</EventData></DataItem>");
    let cells: Vec<Cell> = vec![
        WORKSPACE.into(),
        "OpsManager".into(),
        "Microsoft-Windows-Sysmon".into(),
        "Microsoft-Windows-Sysmon/Operational".into(),
        h.fqdn().into(),
        4.into(),
        "Information".into(),
        params.into(),
        data.into(),
        3.into(),
        rendered.into(),
        "".into(),
        "".into(),
        3.into(),
        r"NT AUTHORITY\SYSTEM".into(),
        "".into(),
        "00000000-0000-0000-0000-000000000001".into(),
        format!("AOI-{WORKSPACE}").into(),
        "Event".into(),
        h.resource_id().into(),
        SUBSCRIPTION.into(),
    ];
    let _ = rng;
    Row { time: s.time, cells }
}

/// Planted Sysmon connections for the Sigma hunts: (host, image, user, destination, port, what
/// the hunts must do).
pub const SYSMON_PLANTS: &[(&str, &str, &str, &str, i32, &str)] = &[
    ("WS-FIN-023", r"C:\Users\jdoe\AppData\Roaming\svcupd.exe", "jdoe", "45.77.65.211", 4444, "found: malware callback port"),
    ("WS-HR-041", r"C:\ProgramData\Intel\igfxtray.exe", "akim", "185.220.101.7", 7777, "found: malware callback port"),
    ("SRV-APP-10", r"C:\Windows\Temp\dllhost32.exe", "svc_backup", "203.0.113.99", 1443, "found: malware callback port"),
    ("WS-HR-041", r"C:\Users\akim\Downloads\invoice_viewer.exe", "akim", "198.51.100.23", 8080, "found: uncommon port 8080"),
    ("SRV-BACKUP-09", r"C:\Program Files\Veeam\Backup\VeeamAgent.exe", "svc_backup", "52.31.4.4", 4443, "ignored: under C:\\Program Files"),
    (
        "WS-OPS-004",
        r"C:\Program Files (x86)\Riot Games\launcher.exe",
        "rpatel",
        "104.16.2.2",
        7777,
        "ignored: under C:\\Program Files (x86)",
    ),
    ("WS-ENG-088", r"C:\Users\mlee\tools\ncat.exe", "mlee", "10.20.0.5", 4444, "ignored: private destination"),
    ("WS-ENG-088", r"C:\Users\mlee\tools\ncat.exe", "mlee", "127.0.0.1", 4444, "ignored: loopback destination"),
    (
        "WS-ENG-088",
        r"C:\Users\mlee\AppData\Local\Programs\Python\Python311\python.exe",
        "mlee",
        "192.168.1.10",
        8888,
        "ignored: private destination",
    ),
];

pub fn write_event(out: &Path, rows: usize, seed: u64) -> Result<String, String> {
    let mut rng = Rng::new(seed ^ 0x0003);
    let hosts = hosts();
    let with_sysmon: Vec<&Host> = hosts.background.iter().step_by(3).collect();
    let mut connections = Vec::with_capacity(rows);
    // Background: browsers and updaters under Program Files, Windows services, Teams from the
    // user profile; all on standard ports, except Java (under Program Files) on 8080.
    for _ in 0..rows {
        let h = *rng.pick(&with_sysmon);
        let time = random_time(&mut rng);
        let local_port = rng.range(49152, 65535) as i32;
        let teams = format!(r"C:\Users\{}\AppData\Local\Microsoft\Teams\current\Teams.exe", h.user);
        let (image, remote, port, protocol) = match rng.below(6) {
            0 => (
                r"C:\Program Files\Google\Chrome\Application\chrome.exe".to_string(),
                *rng.pick(&PUBLIC),
                *rng.pick(&[443, 443, 80]),
                "tcp",
            ),
            1 => (r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe".to_string(), *rng.pick(&PUBLIC), 443, "tcp"),
            2 => (r"C:\Windows\System32\svchost.exe".to_string(), DNS, 53, "udp"),
            3 => (r"C:\Windows\System32\lsass.exe".to_string(), DC, *rng.pick(&[88, 389]), "tcp"),
            4 => (r"C:\Program Files\Java\jre1.8.0_391\bin\java.exe".to_string(), *rng.pick(&PUBLIC), *rng.pick(&[443, 8080]), "tcp"),
            _ => (teams, *rng.pick(&PUBLIC), 443, "tcp"),
        };
        let remote_host = if remote == DC { format!("DC01.{DOMAIN}") } else { "-".to_string() };
        connections.push(Sysmon {
            time,
            host: h.name.clone(),
            image,
            user: format!(r"{NETBIOS}\{}", h.user),
            local: h.ip.clone(),
            local_port,
            remote: remote.to_string(),
            remote_host,
            remote_port: port,
            protocol,
        });
    }
    let planted = planted(seed, Raw::Sysmon);
    let beacons = planted.len();
    for (i, e) in planted {
        let p = &PLANTS[i];
        let user = plant_user(p.src_host);
        connections.push(Sysmon {
            time: e.time + SYSMON_LAG,
            host: p.src_host.to_string(),
            image: format!(r"C:\Users\{user}\AppData\Local\Microsoft\OneDrive\Update\OneDriveUpdater.exe"),
            user: format!(r"{NETBIOS}\{user}"),
            local: p.src.to_string(),
            local_port: e.src_port,
            remote: p.dst.to_string(),
            remote_host: "-".to_string(),
            remote_port: p.dst_port,
            protocol: "tcp",
        });
    }
    for (i, (host, image, user, dst, port, _)) in SYSMON_PLANTS.iter().enumerate() {
        connections.push(Sysmon {
            time: hunt_plant_time(7 * i as i64),
            host: host.to_string(),
            image: image.to_string(),
            user: format!(r"{NETBIOS}\{user}"),
            local: hosts.get(host).ip.clone(),
            local_port: 50_000 + i as i32,
            remote: dst.to_string(),
            remote_host: "-".to_string(),
            remote_port: *port,
            protocol: "tcp",
        });
    }
    let events: Vec<Row> = connections.iter().map(|s| sysmon_row(&mut rng, &hosts, s)).collect();
    let n = event_table::write(out, EVENT, events)?;
    Ok(format!(
        "wrote {n} Event rows (Sysmon 3; {beacons} planted beacon events, {} planted for the Sigma hunts) to {}",
        SYSMON_PLANTS.len(),
        out.display()
    ))
}

// ---- ASimNetworkSessionLogs ----------------------------------------------------------------

const ASIM_NETWORK_SESSION_LOGS: &[(&str, Kind)] = &[
    ("TenantId", Kind::Str),
    ("EventCount", Kind::Int),
    ("EventStartTime", Kind::Time),
    ("EventEndTime", Kind::Time),
    ("EventType", Kind::Str),
    ("EventResult", Kind::Str),
    ("EventSeverity", Kind::Str),
    ("EventProduct", Kind::Str),
    ("EventVendor", Kind::Str),
    ("EventSchemaVersion", Kind::Str),
    ("DvcAction", Kind::Str),
    ("DvcOriginalAction", Kind::Str),
    ("DvcHostname", Kind::Str),
    ("DvcIpAddr", Kind::Str),
    ("NetworkProtocol", Kind::Str),
    ("NetworkDirection", Kind::Str),
    ("NetworkRuleName", Kind::Str),
    ("NetworkSessionId", Kind::Str),
    ("NetworkDuration", Kind::Int),
    ("SrcIpAddr", Kind::Str),
    ("SrcPortNumber", Kind::Int),
    ("SrcHostname", Kind::Str),
    ("SrcBytes", Kind::Long),
    ("SrcPackets", Kind::Long),
    ("DstIpAddr", Kind::Str),
    ("DstPortNumber", Kind::Int),
    ("DstBytes", Kind::Long),
    ("DstPackets", Kind::Long),
    ("AdditionalFields", Kind::Dynamic),
    ("Type", Kind::Str),
    ("_ResourceId", Kind::Str),
    ("_SubscriptionId", Kind::Str),
];

fn native_row(rng: &mut Rng, e: &network_session::Event) -> Row {
    let direction = if e.dst.starts_with("10.") || e.dst.starts_with("192.168.") { "Local" } else { "Outbound" };
    let duration = 1 + rng.below(30_000) as i32;
    let cells: Vec<Cell> = vec![
        WORKSPACE.into(),
        1.into(),
        Cell::Time(e.time),
        Cell::Time(e.time + i64::from(duration) * MS),
        "NetworkSession".into(),
        if e.allowed { "Success" } else { "Failure" }.into(),
        if e.allowed { "Informational" } else { "Low" }.into(),
        "FortiGate".into(),
        "Fortinet".into(),
        "0.2.6".into(),
        if e.allowed { "Allow" } else { "Deny" }.into(),
        if e.allowed { "accept" } else { "deny" }.into(),
        "FW-EDGE-01".into(),
        "10.0.0.1".into(),
        e.protocol.into(),
        direction.into(),
        if e.allowed { "outbound-web" } else { "deny-all" }.into(),
        format!("{}", 10_000_000 + rng.below(90_000_000)).into(),
        duration.into(),
        e.src.clone().into(),
        e.src_port.into(),
        e.src_host.clone().into(),
        e.src_bytes.into(),
        (1 + e.src_bytes / 900).into(),
        e.dst.clone().into(),
        e.dst_port.into(),
        e.dst_bytes.into(),
        (1 + e.dst_bytes / 1400).into(),
        serde_json::json!({"policyid": if e.allowed { "12" } else { "0" }, "vd": "root"}).into(),
        "ASimNetworkSessionLogs".into(),
        format!("/subscriptions/{SUBSCRIPTION}/resourcegroups/rg-network/providers/microsoft.network/firewalls/fw-edge-01").into(),
        SUBSCRIPTION.into(),
    ];
    Row { time: e.time, cells }
}

pub fn write_native(out: &Path, rows: usize, seed: u64) -> Result<String, String> {
    let mut rng = Rng::new(seed ^ 0xA51A);
    let hosts = hosts();
    let mut events = Vec::with_capacity(rows);
    for _ in 0..rows {
        let h = rng.pick(&hosts.background);
        let time = random_time(&mut rng);
        let (dst, port, protocol) = match rng.below(10) {
            0..=1 => (DNS.to_string(), 53, "UDP"),
            2 => (format!("10.0.{}.{}", 10 + rng.below(2), 1 + rng.below(20)), *rng.pick(&[445, 389, 88]), "TCP"),
            _ => (rng.pick(&PUBLIC).to_string(), *rng.pick(&[443, 443, 443, 80, 123]), "TCP"),
        };
        let src_bytes = 200 + rng.below(4_000) as i64;
        let e = network_session::Event {
            time,
            src: h.ip.clone(),
            src_host: h.name.clone(),
            dst,
            dst_port: port,
            protocol: if port == 123 { "UDP" } else { protocol },
            allowed: !rng.chance(0.04),
            src_port: rng.range(49_152, 65_535) as i32,
            src_bytes,
            dst_bytes: src_bytes * (1 + rng.below(40) as i64),
        };
        events.push(native_row(&mut rng, &e));
    }
    let planted = planted(seed, Raw::Native);
    let n_planted = planted.len();
    for (_, e) in &planted {
        events.push(native_row(&mut rng, e));
    }
    let n = event_table::write(out, ASIM_NETWORK_SESSION_LOGS, events)?;
    Ok(format!("wrote {n} ASimNetworkSessionLogs rows ({n_planted} planted) to {}", out.display()))
}
