//! `datetime_utc_to_local` and `datetime_local_to_utc` over the IANA time zone database
//! (chrono-tz).

use std::collections::HashMap;

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;

use super::library::{RowDef, def};
use super::rowwise::{Out, Ret, V};

/// Datetimes are microseconds since the epoch.
const MICROS: i64 = 1_000_000;

fn zone(v: &V) -> Option<Tz> {
    v.text().trim().parse::<Tz>().ok()
}

fn naive(us: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp(us.div_euclid(MICROS), (us.rem_euclid(MICROS) * 1_000) as u32).map(|d| d.naive_utc())
}

/// The offset from UTC, in microseconds, of the zone at a local time. A local time that occurs
/// twice takes the later one (standard time); one skipped by a clock change takes the offset
/// after the change, as Kusto does.
fn local_offset(tz: Tz, local: NaiveDateTime) -> Option<i64> {
    let seconds = match tz.offset_from_local_datetime(&local) {
        LocalResult::Single(o) => o.fix().local_minus_utc(),
        LocalResult::Ambiguous(a, b) => a.fix().local_minus_utc().min(b.fix().local_minus_utc()),
        LocalResult::None => match tz.offset_from_local_datetime(&(local + chrono::Duration::hours(1))) {
            LocalResult::Single(o) => o.fix().local_minus_utc(),
            LocalResult::Ambiguous(a, _) => a.fix().local_minus_utc(),
            LocalResult::None => return None,
        },
    };
    Some(seconds as i64 * MICROS)
}

pub fn register(m: &mut HashMap<&'static str, RowDef>) {
    def(m, "datetime_utc_to_local", 2, 2, Ret::DateTime, |a| match (&a[0], zone(&a[1])) {
        (V::DateTime(ns), Some(tz)) => match naive(*ns) {
            Some(utc) => Out::DateTime(ns + tz.offset_from_utc_datetime(&utc).fix().local_minus_utc() as i64 * MICROS),
            None => Out::Null,
        },
        _ => Out::Null,
    });
    def(m, "datetime_local_to_utc", 2, 2, Ret::DateTime, |a| match (&a[0], zone(&a[1])) {
        (V::DateTime(ns), Some(tz)) => {
            naive(*ns).and_then(|local| local_offset(tz, local)).map_or(Out::Null, |off| Out::DateTime(ns - off))
        }
        _ => Out::Null,
    });
}
