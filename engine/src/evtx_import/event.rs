//! One Windows event as the `evtx` crate reads it (JSON, attributes kept apart as `X_attributes`)
//! turned into the fields Sentinel's tables are made of.

use serde_json::{Map, Value as Json};

/// A Windows event's system fields and its data items, in document order.
#[derive(Debug, Clone, Default)]
pub struct Event {
    /// Microseconds since the epoch (the record's 100 ns time, truncated to kql's microseconds).
    pub time: i64,
    pub provider: String,
    pub event_id: i32,
    pub version: Option<i32>,
    pub level: Option<i32>,
    pub task: Option<i32>,
    pub opcode: String,
    pub keywords: String,
    pub record_id: u64,
    pub correlation: String,
    pub process_id: Option<i32>,
    pub thread_id: Option<i32>,
    pub channel: String,
    pub computer: String,
    pub user_id: String,
    /// `<Data Name="...">` items (or `UserData`'s fields), each value as the text Windows shows.
    pub data: Vec<(String, String)>,
}

/// A JSON value as the text Windows shows for it: strings as they are, numbers and booleans
/// written out, null as nothing.
pub fn text_of(v: &Json) -> String {
    match v {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

fn int_of(v: Option<&Json>) -> Option<i32> {
    match v? {
        Json::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn attributes<'a>(system: &'a Map<String, Json>, element: &str) -> Option<&'a Map<String, Json>> {
    system.get(&format!("{element}_attributes"))?.as_object()
}

impl Event {
    /// The event of one record; `None` when it has no `Event.System` (not a Windows event).
    pub fn from_record(data: &Json, time: i64, record_id: u64) -> Option<Event> {
        let event = data.get("Event")?.as_object()?;
        let system = event.get("System")?.as_object()?;
        let attr = |element: &str, name: &str| attributes(system, element).and_then(|a| a.get(name)).map(text_of).unwrap_or_default();
        let mut data_items = Vec::new();
        if let Some(event_data) = event.get("EventData").and_then(Json::as_object) {
            collect_items(event_data, &mut data_items);
        } else if let Some(user_data) = event.get("UserData").and_then(Json::as_object) {
            // UserData holds one element named by the provider; its fields are the data.
            for inner in user_data.values() {
                match inner.as_object() {
                    Some(fields) => collect_items(fields, &mut data_items),
                    None => data_items.push(("UserData".into(), text_of(inner))),
                }
            }
        }
        Some(Event {
            time,
            provider: attr("Provider", "Name"),
            event_id: int_of(system.get("EventID")).unwrap_or_default(),
            version: int_of(system.get("Version")),
            level: int_of(system.get("Level")),
            task: int_of(system.get("Task")),
            opcode: system.get("Opcode").map(text_of).unwrap_or_default(),
            keywords: system.get("Keywords").map(text_of).unwrap_or_default(),
            record_id,
            correlation: attributes(system, "Correlation").map(|a| Json::Object(a.clone()).to_string()).unwrap_or_default(),
            process_id: attributes(system, "Execution").and_then(|a| int_of(a.get("ProcessID"))),
            thread_id: attributes(system, "Execution").and_then(|a| int_of(a.get("ThreadID"))),
            channel: system.get("Channel").map(text_of).unwrap_or_default(),
            computer: system.get("Computer").map(text_of).unwrap_or_default(),
            user_id: attr("Security", "UserID"),
            data: data_items,
        })
    }

    /// The value of data item `name`, if the event has it.
    pub fn item(&self, name: &str) -> Option<&str> {
        self.data.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Sentinel's name for the level: Windows' Critical, Error, Warning, Information, Verbose.
    pub fn level_name(&self) -> &'static str {
        match self.level {
            Some(1) => "Critical",
            Some(2) => "Error",
            Some(3) => "Warning",
            Some(5) => "Verbose",
            _ => "Information",
        }
    }
}

/// Named items of `EventData` in document order; unnamed `<Data>` elements (`Data: {"#text":
/// ...}`) are numbered `Data1`, `Data2` ... as they have no name.
fn collect_items(fields: &Map<String, Json>, out: &mut Vec<(String, String)>) {
    for (name, value) in fields {
        if name.ends_with("_attributes") {
            continue;
        }
        match (name.as_str(), value) {
            ("Data", Json::Object(o)) => match o.get("#text") {
                Some(Json::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        out.push((format!("Data{}", i + 1), text_of(item)));
                    }
                }
                Some(v) => out.push(("Data1".into(), text_of(v))),
                None => {}
            },
            _ => out.push((name.clone(), text_of(value))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sysmon_record_gives_its_fields() {
        let record = serde_json::json!({
            "Event_attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
            "Event": {
                "System": {
                    "Provider_attributes": {"Name": "Microsoft-Windows-Sysmon"},
                    "EventID": 3, "Version": 5, "Level": 4, "Task": 3, "Opcode": 0, "Keywords": "0x8000000000000000",
                    "EventRecordID": 2061,
                    "Execution_attributes": {"ProcessID": 2284, "ThreadID": 9456},
                    "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "DESKTOP-2KGM189",
                    "Security_attributes": {"UserID": "S-1-5-18"}
                },
                "EventData": {"UtcTime": "2017-12-18 14:51:29.706", "ProcessId": 4280, "Initiated": true, "SourcePortName": ""}
            }
        });
        let e = Event::from_record(&record, 7, 2061).expect("a Windows event");
        assert_eq!(
            (e.provider.as_str(), e.event_id, e.level_name(), e.process_id),
            ("Microsoft-Windows-Sysmon", 3, "Information", Some(2284))
        );
        assert_eq!(e.user_id, "S-1-5-18");
        assert_eq!(
            e.data,
            vec![
                ("UtcTime".into(), "2017-12-18 14:51:29.706".into()),
                ("ProcessId".into(), "4280".into()),
                ("Initiated".into(), "true".into()),
                ("SourcePortName".into(), String::new())
            ]
        );
    }
}
