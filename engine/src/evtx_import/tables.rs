//! The Sentinel tables a Windows event becomes, with Sentinel's column names and types:
//! `WindowsEvent` for every event (data items as a dynamic bag), `SecurityEvent` for the
//! Security channel (data items as the agent's XML text, the common ones also as columns), and
//! `Event` for every other channel, Sysmon's included (data items in the legacy agent's
//! `<DataItem>` XML). The XML texts are byte for byte what the ASIM parsers' `parse` and
//! `parse-kv` patterns expect.

use serde_json::Value as Json;

use super::event::Event;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Text,
    Int,
    Time,
    Dynamic,
}

/// A value of one column.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    Int(i32),
    Time(i64),
}

pub struct TableDef {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
}

use Kind::{Dynamic as D, Int as I, Text as S, Time as T};

pub const WINDOWS_EVENT: TableDef = TableDef {
    name: "WindowsEvent",
    columns: &[
        ("TimeGenerated", T),
        ("Computer", S),
        ("EventID", I),
        ("Channel", S),
        ("Provider", S),
        ("Task", I),
        ("Keywords", S),
        ("EventLevel", I),
        ("EventLevelName", S),
        ("EventOriginId", S),
        ("EventRecordId", S),
        ("Correlation", S),
        ("Opcode", S),
        ("SystemProcessId", I),
        ("SystemThreadId", I),
        ("SystemUserId", S),
        ("Version", I),
        ("EventData", D),
        ("RawEventData", S),
        ("ManagementGroupName", S),
        ("TenantId", S),
        ("Type", S),
        ("_ResourceId", S),
        ("_SubscriptionId", S),
    ],
};

pub const SECURITY_EVENT: TableDef = TableDef {
    name: "SecurityEvent",
    columns: &[
        ("TimeGenerated", T),
        ("Computer", S),
        ("EventID", I),
        ("Activity", S),
        ("Channel", S),
        ("Task", I),
        ("Level", S),
        ("EventSourceName", S),
        ("EventData", S),
        ("Account", S),
        ("AccountType", S),
        ("SubjectAccount", S),
        ("SubjectUserName", S),
        ("SubjectDomainName", S),
        ("SubjectUserSid", S),
        ("SubjectLogonId", S),
        ("TargetAccount", S),
        ("TargetUserName", S),
        ("TargetDomainName", S),
        ("TargetUserSid", S),
        ("TargetSid", S),
        ("TargetLogonId", S),
        ("LogonType", I),
        ("LogonTypeName", S),
        ("LogonProcessName", S),
        ("AuthenticationPackageName", S),
        ("LmPackageName", S),
        ("LogonGuid", S),
        ("KeyLength", I),
        ("IpAddress", S),
        ("IpPort", S),
        ("WorkstationName", S),
        ("Workstation", S),
        ("Process", S),
        ("ProcessName", S),
        ("ProcessId", S),
        ("NewProcessName", S),
        ("NewProcessId", S),
        ("ParentProcessName", S),
        ("CommandLine", S),
        ("TokenElevationType", S),
        ("ElevatedToken", S),
        ("ImpersonationLevel", S),
        ("Status", S),
        ("SubStatus", S),
        ("FailureReason", S),
        ("MemberName", S),
        ("MemberSid", S),
        ("PrivilegeList", S),
        ("ObjectName", S),
        ("ObjectType", S),
        ("ServiceName", S),
        ("ServiceFileName", S),
        ("ServiceStartType", I),
        ("SamAccountName", S),
        ("UserPrincipalName", S),
        ("SourceComputerId", S),
        ("SourceSystem", S),
        ("ManagementGroupName", S),
        ("TenantId", S),
        ("Type", S),
        ("_ResourceId", S),
        ("_SubscriptionId", S),
    ],
};

pub const EVENT: TableDef = TableDef {
    name: "Event",
    columns: &[
        ("TimeGenerated", T),
        ("Source", S),
        ("EventLog", S),
        ("Computer", S),
        ("EventLevel", I),
        ("EventLevelName", S),
        ("EventID", I),
        ("UserName", S),
        ("RenderedDescription", S),
        ("ParameterXml", S),
        ("EventData", S),
        ("EventCategory", I),
        ("Message", S),
        ("SourceSystem", S),
        ("ManagementGroupName", S),
        ("MG", S),
        ("TenantId", S),
        ("AzureDeploymentID", S),
        ("Role", S),
        ("Type", S),
        ("_ResourceId", S),
        ("_SubscriptionId", S),
    ],
};

/// The rows one event gives: its `WindowsEvent` row, and its `SecurityEvent` or `Event` row.
pub fn rows(e: &Event) -> [(&'static TableDef, Vec<Cell>); 2] {
    let windows = row(&WINDOWS_EVENT, |c| windows_event(e, c));
    if e.channel == "Security" {
        // The accounts are named by four columns: built once per event.
        let accounts = Accounts {
            subject: account(e.item("SubjectDomainName"), e.item("SubjectUserName")),
            target: account(e.item("TargetDomainName"), e.item("TargetUserName")),
        };
        [(&WINDOWS_EVENT, windows), (&SECURITY_EVENT, row(&SECURITY_EVENT, |c| security_event(e, &accounts, c)))]
    } else {
        [(&WINDOWS_EVENT, windows), (&EVENT, row(&EVENT, |c| event(e, c)))]
    }
}

fn row(def: &TableDef, value: impl Fn(&str) -> Cell) -> Vec<Cell> {
    def.columns
        .iter()
        .map(|(name, kind)| match value(name) {
            // A string column Sentinel did not fill holds "" (Kusto strings are never null).
            Cell::Null if matches!(kind, Kind::Text) => Cell::Text(String::new()),
            cell => cell,
        })
        .collect()
}

fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

fn int(v: Option<i32>) -> Cell {
    v.map_or(Cell::Null, Cell::Int)
}

/// A data item read as a number, in decimal or `0x` hex as Windows writes them.
fn int_item(e: &Event, name: &str) -> Cell {
    let Some(v) = e.item(name).map(str::trim) else { return Cell::Null };
    let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => v.parse::<i64>().ok(),
    };
    int(parsed.and_then(|n| i32::try_from(n).ok()))
}

fn windows_event(e: &Event, column: &str) -> Cell {
    match column {
        "TimeGenerated" => Cell::Time(e.time),
        "Computer" => text(&e.computer),
        "EventID" => Cell::Int(e.event_id),
        "Channel" => text(&e.channel),
        "Provider" => text(&e.provider),
        "Task" => int(e.task),
        "Keywords" => text(&e.keywords),
        "EventLevel" => int(e.level),
        "EventLevelName" => text(e.level_name()),
        "EventRecordId" => Cell::Text(e.record_id.to_string()),
        "Correlation" => text(&e.correlation),
        "Opcode" => text(&e.opcode),
        "SystemProcessId" => int(e.process_id),
        "SystemThreadId" => int(e.thread_id),
        "SystemUserId" => text(&e.user_id),
        "Version" => int(e.version),
        // A bag of the data items, each value as text (`tostring(EventData.SourceAddress)`).
        "EventData" => Cell::Text(Json::Object(e.data.iter().map(|(k, v)| (k.clone(), Json::String(v.clone()))).collect()).to_string()),
        "Type" => text("WindowsEvent"),
        _ => Cell::Null,
    }
}

/// `DOMAIN\user`, or the user alone, or nothing.
fn account(domain: Option<&str>, user: Option<&str>) -> Option<String> {
    let user = user.filter(|u| !u.is_empty() && *u != "-")?;
    Some(match domain.filter(|d| !d.is_empty() && *d != "-") {
        Some(d) => format!("{d}\\{user}"),
        None => user.to_string(),
    })
}

/// A Security event's subject and target accounts (`DOMAIN\user`).
struct Accounts {
    subject: Option<String>,
    target: Option<String>,
}

fn security_event(e: &Event, accounts: &Accounts, column: &str) -> Cell {
    // The account an event is about: its target where it has one, else its subject.
    let about = accounts.target.as_ref().or(accounts.subject.as_ref());
    let text_of = |a: Option<&String>| a.map_or(Cell::Null, |a| Cell::Text(a.clone()));
    match column {
        "TimeGenerated" | "Computer" | "EventID" | "Channel" | "Task" => windows_event(e, column),
        // Sentinel writes "<id> - <the event's message title>"; the titles live in Windows'
        // message files, which an .evtx does not carry: the id alone is given.
        "Activity" => Cell::Text(e.event_id.to_string()),
        "Level" => e.level.map_or(Cell::Null, |l| Cell::Text(l.to_string())),
        "EventSourceName" => text(&e.provider),
        "EventData" => Cell::Text(security_event_data(e)),
        "Account" => text_of(about),
        "AccountType" => match about {
            Some(a) if a.ends_with('$') => text("Machine"),
            Some(_) => text("User"),
            None => Cell::Null,
        },
        "SubjectAccount" => text_of(accounts.subject.as_ref()),
        "TargetAccount" => text_of(accounts.target.as_ref()),
        "Process" => match e.item("ProcessName").or_else(|| e.item("NewProcessName")) {
            Some(p) => text(p.rsplit('\\').next().unwrap_or(p)),
            None => Cell::Null,
        },
        "LogonType" | "KeyLength" | "ServiceStartType" => int_item(e, column),
        "ProcessId" => e.item("ProcessId").or_else(|| e.item("ProcessID")).map_or(Cell::Null, text),
        "Type" => text("SecurityEvent"),
        "SourceSystem" | "ManagementGroupName" | "TenantId" | "_ResourceId" | "_SubscriptionId" | "SourceComputerId" => Cell::Null,
        "LogonTypeName" => match e.item("LogonType").and_then(|t| t.trim().parse::<i32>().ok()) {
            Some(t) => Cell::Text(format!("{t} - {}", logon_type_name(t))),
            None => Cell::Null,
        },
        other => e.item(other).map_or(Cell::Null, text),
    }
}

/// Windows' logon type names, as Microsoft's 4624 documentation lists them.
fn logon_type_name(t: i32) -> &'static str {
    match t {
        0 => "System",
        2 => "Interactive",
        3 => "Network",
        4 => "Batch",
        5 => "Service",
        7 => "Unlock",
        8 => "NetworkCleartext",
        9 => "NewCredentials",
        10 => "RemoteInteractive",
        11 => "CachedInteractive",
        12 => "CachedRemoteInteractive",
        13 => "CachedUnlock",
        _ => "Unknown",
    }
}

fn event(e: &Event, column: &str) -> Cell {
    match column {
        "TimeGenerated" | "Computer" | "EventID" | "EventLevelName" => windows_event(e, column),
        "Source" => text(&e.provider),
        "EventLog" => text(&e.channel),
        "EventLevel" => int(e.level),
        "UserName" => text(&e.user_id),
        "EventData" => Cell::Text(event_data_item(e)),
        "EventCategory" => int(e.task),
        "Type" => text("Event"),
        _ => Cell::Null,
    }
}

/// XML text of a value: `&`, `<` and `>` escaped, as Windows renders event data (an unescaped
/// `>` would also end the Sysmon parser's value early).
fn escape(v: &str) -> String {
    v.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

const EVENT_NAMESPACE: &str = "http://schemas.microsoft.com/win/2004/08/events/event";

/// `SecurityEvent.EventData` as the agent stores it: each item on its own line, two spaces in,
/// lines ended by CR LF (the firewall parsers match `</Data>\r\n  <Data Name=`).
fn security_event_data(e: &Event) -> String {
    let mut xml = format!("<EventData xmlns=\"{EVENT_NAMESPACE}\">");
    for (name, value) in &e.data {
        xml.push_str(&format!("\r\n  <Data Name=\"{name}\">{}</Data>", escape(value)));
    }
    xml.push_str("\r\n</EventData>");
    xml
}

/// `Event.EventData` as the legacy agent stores it: one line, the items in a `<DataItem>`.
fn event_data_item(e: &Event) -> String {
    let time = kql_grammar::values::format_datetime_full(e.time);
    let mut xml = format!(
        "<DataItem Type=\"System.XmlData\" time=\"{time}\" sourceHealthServiceId=\"00000000-0000-0000-0000-000000000000\"><EventData xmlns=\"{EVENT_NAMESPACE}\">"
    );
    for (name, value) in &e.data {
        xml.push_str(&format!("<Data Name=\"{name}\">{}</Data>", escape(value)));
    }
    xml.push_str("</EventData></DataItem>");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    fn firewall_event() -> Event {
        Event {
            time: 0,
            provider: "Microsoft-Windows-Security-Auditing".into(),
            event_id: 5152,
            channel: "Security".into(),
            computer: "temporal".into(),
            data: vec![
                ("ProcessId".into(), "0".into()),
                ("Application".into(), "-".into()),
                ("SourceAddress".into(), "23.94.153.202".into()),
            ],
            ..Event::default()
        }
    }

    #[test]
    fn security_event_data_is_the_agents_xml() {
        assert_eq!(
            security_event_data(&firewall_event()),
            "<EventData xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\">\r\n  <Data Name=\"ProcessId\">0</Data>\r\n  <Data Name=\"Application\">-</Data>\r\n  <Data Name=\"SourceAddress\">23.94.153.202</Data>\r\n</EventData>"
        );
        let [(w, _), (s, cells)] = rows(&firewall_event());
        assert_eq!((w.name, s.name), ("WindowsEvent", "SecurityEvent"));
        assert_eq!(cells.len(), SECURITY_EVENT.columns.len());
    }

    #[test]
    fn other_channels_are_event_rows_with_a_data_item() {
        let mut e = firewall_event();
        e.channel = "Microsoft-Windows-Sysmon/Operational".into();
        e.data = vec![("Image".into(), "C:\\a<b>.exe".into())];
        let [_, (table, cells)] = rows(&e);
        assert_eq!(table.name, "Event");
        let data = &cells[EVENT.columns.iter().position(|(n, _)| *n == "EventData").expect("EventData")];
        assert_eq!(
            data,
            &Cell::Text("<DataItem Type=\"System.XmlData\" time=\"1970-01-01T00:00:00.0000000Z\" sourceHealthServiceId=\"00000000-0000-0000-0000-000000000000\"><EventData xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"><Data Name=\"Image\">C:\\a&lt;b&gt;.exe</Data></EventData></DataItem>".into())
        );
    }
}
