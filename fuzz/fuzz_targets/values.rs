//! `todatetime()` / `totimespan()` text, as log columns hold it: any input gives a value or
//! null, never a panic; and a value read back from its own text is the same value (the
//! property needs no expected answer).
#![no_main]

use kql_grammar::values::{format_datetime, format_timespan, parse_datetime, parse_timespan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(micros) = parse_datetime(text) {
        let shown = format_datetime(micros);
        assert_eq!(parse_datetime(&shown), Some(micros), "datetime {text:?} shows as {shown:?}");
    }
    if let Some(nanos) = parse_timespan(text) {
        let shown = format_timespan(nanos);
        // The text has seven fraction digits at most: a tick (100 ns), truncated.
        let ticks = nanos - nanos % 100;
        assert_eq!(parse_timespan(&shown), Some(ticks), "timespan {text:?} shows as {shown:?}");
    }
});
