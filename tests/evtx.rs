//! `kql import evtx` over real Windows event logs (tests/fixtures/evtx, from the `evtx` crate's
//! samples): the Sentinel tables it writes, their columns, and the event data texts Microsoft's
//! ASIM parsers read, checked with the parsers' own `parse` and `parse-kv` patterns.

mod support;

use std::path::{Path, PathBuf};

use support::{kql, root, scratch, stderr, stdout};

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/evtx").join(name)
}

/// Imports the files into a fresh folder; returns the folder, stdout and stderr.
fn import(name: &str, files: &[&Path]) -> (PathBuf, String, String) {
    let out_dir = scratch(name).join("tables");
    let mut args: Vec<String> = vec!["import".into(), "evtx".into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.extend(["--out".into(), out_dir.display().to_string()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = kql(&refs);
    assert!(out.status.success(), "{}", stderr(&out));
    (out_dir, stdout(&out), stderr(&out))
}

fn query(data: &Path, text: &str) -> String {
    let data = data.display().to_string();
    let out = kql(&["--data", &data, "--format", "csv", "-c", text]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn sysmon_and_security_logs_become_sentinels_tables() {
    let (tables, out, err) = import("evtx-import", &[&fixture("sysmon.evtx"), &fixture("Security_short_selected.evtx")]);
    assert!(out.starts_with("365 events from 2 files in "), "{out}");
    assert!(out.contains("Event 358, SecurityEvent 7, WindowsEvent 365 rows"), "{out}");
    // The Sysmon log ends in unused space: a note, not a warning about damage.
    assert_eq!(
        err,
        format!(
            "note: {}: the 8 chunks after chunk 8 hold no events (unused space at the end of the log)\n",
            fixture("sysmon.evtx").display()
        )
    );
    let mut folders: Vec<String> = std::fs::read_dir(tables.join("SecurityEvent"))
        .expect("SecurityEvent folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    assert_eq!(folders, vec!["TimeGenerated=2016-06-29"]);

    // Sysmon's network connections, read with the parse-kv regex of Microsoft's Sysmon
    // NetworkSession parser (vimNetworkSessionMicrosoftSysmon).
    assert_eq!(
        query(
            &tables,
            r#"Event
| where Source == "Microsoft-Windows-Sysmon" and EventID == 3
| parse-kv EventData as (SourceIp:string, DestinationIp:string, Initiated:bool, UtcTime:datetime, SourcePort:int, DestinationPort:int, Protocol:string, Image:string) with (regex=@'<Data Name="(\w+)">{?([^>]*?)}?</Data>')
| project UtcTime, SourceIp, SourcePort, DestinationIp, DestinationPort, Protocol, Initiated, App = tostring(split(Image, "\\")[-1]), Computer, EventLog
| order by UtcTime asc"#
        ),
        "UtcTime,SourceIp,SourcePort,DestinationIp,DestinationPort,Protocol,Initiated,App,Computer,EventLog\n\
2017-12-18T14:51:29.7060000Z,192.168.2.128,59344,185.26.182.117,443,tcp,true,installer.exe,DESKTOP-2KGM189,Microsoft-Windows-Sysmon/Operational\n\
2017-12-18T14:51:29.9680000Z,192.168.2.128,59345,93.184.220.29,80,tcp,true,installer.exe,DESKTOP-2KGM189,Microsoft-Windows-Sysmon/Operational\n"
    );

    // Windows Filtering Platform drops, read with the `parse` pattern of Microsoft's firewall
    // parsers (vimNetworkSessionMicrosoftSecurityEventFirewall), CR LF and indentation included.
    assert_eq!(
        query(
            &tables,
            r#"SecurityEvent
| where EventID == 5152
| parse EventData with *
    '<Data Name="ProcessId">'ProcessId:string'</Data>'
    '\x0d\x0a  <Data Name="Application">'Application'</Data>'
    '\x0d\x0a  <Data Name="Direction">'DirectionCode'</Data>'
    '\x0d\x0a  <Data Name="SourceAddress">'SrcIpAddr:string'</Data>'
    '\x0d\x0a  <Data Name="SourcePort">'SrcPortNumber:int'</Data>'
    '\x0d\x0a  <Data Name="DestAddress">'DstIpAddr'</Data>'
    '\x0d\x0a  <Data Name="DestPort">'DstPortNumber:int'</Data>'
    '\x0d\x0a  <Data Name="Protocol">'Protocol:int'</Data>'
    '\x0d\x0a  <Data Name="FilterRTID">'NetworkRuleNumber:int'</Data>'
    '\x0d\x0a  <Data Name="LayerName">'LayerCode'</Data>'
    '\x0d\x0a  <Data Name="LayerRTID">'LayerRTID'</Data>'*
| project TimeGenerated, Computer, SrcIpAddr, SrcPortNumber, DstIpAddr, DstPortNumber, Protocol, DirectionCode, NetworkRuleNumber, LayerCode
| order by TimeGenerated asc"#
        ),
        "TimeGenerated,Computer,SrcIpAddr,SrcPortNumber,DstIpAddr,DstPortNumber,Protocol,DirectionCode,NetworkRuleNumber,LayerCode\n\
2016-06-29T15:24:34.3460000Z,temporal,23.94.153.202,59639,169.46.6.101,3389,6,%%14592,67607,%%14597\n\
2016-06-29T15:24:57.0908000Z,temporal,169.46.118.42,0,169.46.6.101,8,1,%%14592,67249,%%14610\n"
    );

    // WindowsEvent holds every event, its data items as a dynamic bag (the WindowsEvent firewall
    // parser reads EventData.SourceAddress, toint(EventData.DestPort) ...).
    assert_eq!(
        query(
            &tables,
            "WindowsEvent | where EventID in (5152, 5157) | project EventRecordId, EventID, Src = tostring(EventData.SourceAddress), DstPort = toint(EventData.DestPort), Provider | order by EventRecordId asc"
        ),
        "EventRecordId,EventID,Src,DstPort,Provider\n1,5152,23.94.153.202,3389,Microsoft-Windows-Security-Auditing\n5,5152,169.46.118.42,8,Microsoft-Windows-Security-Auditing\n6,5157,169.46.6.101,0,Microsoft-Windows-Security-Auditing\n"
    );
    assert_eq!(
        query(
            &tables,
            "SecurityEvent | where EventID in (4625, 4776) | project EventID, Account, AccountType, TargetUserName, LogonType, LogonTypeName, Type | order by EventID asc"
        ),
        "EventID,Account,AccountType,TargetUserName,LogonType,LogonTypeName,Type\n4625,TEMPORAL\\Administrator,User,Administrator,10,10 - RemoteInteractive,SecurityEvent\n4776,Administrator,User,Administrator,,,SecurityEvent\n"
    );
    assert_eq!(
        query(
            &tables,
            "SecurityEvent | getschema | where ColumnName in ('TimeGenerated', 'EventID', 'EventData', 'LogonType') | project ColumnName, ColumnType"
        ),
        "ColumnName,ColumnType\nTimeGenerated,datetime\nEventID,int\nEventData,string\nLogonType,int\n"
    );
}

/// A damaged chunk in the middle of a log costs its own events only, and is reported with the
/// file and offset.
#[test]
fn a_damaged_chunk_is_reported_and_the_rest_of_the_log_is_read() {
    let dir = scratch("evtx-damaged");
    let damaged = dir.join("damaged.evtx");
    let mut bytes = std::fs::read(fixture("sysmon.evtx")).expect("read fixture");
    // Chunk 3 starts at 4096 + 3 * 65536: overwrite its signature and header.
    let start = 4096 + 3 * 65536;
    bytes[start..start + 128].fill(0xAB);
    std::fs::write(&damaged, &bytes).expect("write damaged copy");
    let (tables, out, err) = import("evtx-damaged-out", &[&damaged]);
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[0].starts_with(&format!("warning: {}: chunk 3 (offset 200704) could not be read and was skipped", damaged.display())),
        "{err}"
    );
    assert!(out.contains("1 parts could not be read (see the warnings); the rest of each file was imported"), "{out}");
    let read: u64 = out.split(' ').next().and_then(|n| n.parse().ok()).expect("an event count");
    assert!(read < 358 && read > 250, "{out}");
    assert_eq!(query(&tables, "Event | where EventID == 3 | count"), "Count\n2\n");
}

/// A record whose header is whole but whose body is damaged costs that record only, and is
/// reported with its id and its offset in the file.
#[test]
fn a_damaged_record_is_reported_with_its_offset() {
    let dir = scratch("evtx-damaged-record");
    let damaged = dir.join("damaged.evtx");
    let mut bytes = std::fs::read(fixture("sysmon.evtx")).expect("read fixture");
    // Records follow each other from byte 512 of a chunk: the third one of chunk 0 starts
    // after the first two, each of the size its header gives (bytes 4..8).
    let size_at = |at: usize| u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes")) as usize;
    let first = 4096 + 512;
    let second = first + size_at(first);
    let third = second + size_at(second);
    let id = u64::from_le_bytes(bytes[third + 8..third + 16].try_into().expect("8 bytes"));
    // Its body (after the 24-byte header) starts with a token no BinXML has.
    bytes[third + 24..third + 32].fill(0xEE);
    std::fs::write(&damaged, &bytes).expect("write damaged copy");
    let (tables, _, err) = import("evtx-damaged-record-out", &[&damaged]);
    assert!(
        err.starts_with(&format!("warning: {}: record {id} (offset {third}) could not be read and was skipped", damaged.display())),
        "{err}"
    );
    assert_eq!(query(&tables, &format!("WindowsEvent | where EventRecordId == '{id}' | count")), "Count\n0\n");
    assert_eq!(query(&tables, &format!("WindowsEvent | where EventRecordId == '{}' | count", id + 1)), "Count\n1\n");
}

#[test]
fn missing_files_and_empty_folders_are_clear_errors() {
    let out = kql(&["import", "evtx", "no/such.evtx", "--out", "unused"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "error: no/such.evtx: no such file or folder\n");
    let empty = scratch("evtx-empty");
    let empty_text = empty.display().to_string();
    let out = kql(&["import", "evtx", &empty_text, "--out", "unused"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), format!("error: no .evtx files in {empty_text}\n"));
    let not_evtx = empty.join("notes.evtx");
    std::fs::write(&not_evtx, "not an event log").expect("write");
    let out_dir = empty.join("tables").display().to_string();
    let out = kql(&["import", "evtx", not_evtx.to_str().expect("utf-8"), "--out", &out_dir]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).starts_with(&format!("warning: {}: not a readable EVTX file", not_evtx.display())), "{}", stderr(&out));
}

/// `--table Event=logs/*.evtx`: a quick look without an import step.
#[test]
fn evtx_files_are_a_table_for_a_quick_look() {
    let glob = format!("Event={}/*.evtx", root().join("tests/fixtures/evtx").display());
    let out = kql(&["--table", &glob, "--format", "csv", "-c", "Event | where EventID == 3 | summarize n = count() by Source"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Source,n\nMicrosoft-Windows-Sysmon,2\n");
    let security = format!("Event={}", fixture("Security_short_selected.evtx").display());
    let out = kql(&["--table", &security, "-c", "Event | count"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "error: --table Event: '{}' holds no Event events (7 events in all: SecurityEvent 7, WindowsEvent 7)\n",
            fixture("Security_short_selected.evtx").display()
        )
    );
}
