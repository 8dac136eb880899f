//! Text forms of KQL datetimes and timespans, shared by literals, `todatetime()` and printing.
//!
//! Datetimes are **microseconds** since the Unix epoch (UTC): Kusto's range, 0001-01-01 to
//! 9999-12-31, does not fit in 64-bit nanoseconds (1677 to 2262), and microseconds keep all of
//! it, at the cost of the seventh fraction digit of Kusto's 100 ns tick. Timespans are
//! nanoseconds (±292 years, exact to the tick).

pub const NANOS_PER_TICK: i64 = 100;
pub const NANOS_PER_MICRO: i64 = 1_000;
pub const NANOS_PER_SECOND: i64 = 1_000_000_000;
pub const NANOS_PER_DAY: i64 = 86_400 * NANOS_PER_SECOND;
pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;
/// The first and last microsecond of Kusto's datetime range: 0001-01-01 and
/// 9999-12-31 23:59:59.999999.
pub const MIN_DATETIME: i64 = -62_135_596_800 * MICROS_PER_SECOND;
pub const MAX_DATETIME: i64 = 253_402_300_800 * MICROS_PER_SECOND - 1;

/// `micros` when it lies in Kusto's datetime range; arithmetic past it is null, not a wrapped date.
pub fn in_datetime_range(micros: i64) -> Option<i64> {
    (MIN_DATETIME..=MAX_DATETIME).contains(&micros).then_some(micros)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses the datetime forms Kusto accepts in `datetime(...)` and `todatetime()`:
/// `2024-01-02`, `2024-01-02 03:04`, `2024-01-02T03:04:05.1234567Z`, with an optional
/// `Z` or `±hh:mm` offset. Returns microseconds since the epoch, UTC (digits past the
/// microsecond are dropped).
pub fn parse_datetime(text: &str) -> Option<i64> {
    let s = text.trim();
    if s.contains('/') {
        return parse_us_datetime(s);
    }
    // `datetime(2025, 6, 14)` and `12-02-2022` (month first), which Kusto also accepts.
    if s.contains(',') {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let num = |i: usize| parts.get(i).map_or(Some(0), |p| p.parse::<u32>().ok());
        let (y, mo, d) = (parts.first()?.parse::<i64>().ok()?, num(1)?, num(2)?);
        return parse_datetime(&format!("{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}", num(3)?, num(4)?, num(5)?));
    }
    let b = s.as_bytes();
    if b.len() >= 8 && b.get(2) == Some(&b'-') && b.get(5) == Some(&b'-') && b[..2].iter().all(u8::is_ascii_digit) {
        let (mo, d, rest) = (&s[..2], &s[3..5], &s[6..]);
        let (y, time) = rest.split_at(rest.find(' ').unwrap_or(rest.len()));
        // Only a four-digit year makes it a date: `12-05-15` is none, and must not recurse.
        if y.len() != 4 || !y.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        return parse_datetime(&format!("{y}-{mo}-{d}{time}"));
    }
    let b = s.as_bytes();
    let mut p = Cursor { b, i: 0 };
    let year = p.digits(4, 4)? as i64;
    if year == 0 {
        return None;
    }
    p.expect(b'-')?;
    let month = p.digits(1, 2)? as u32;
    p.expect(b'-')?;
    let day = p.digits(1, 2)? as u32;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut nanos: i64 = 0;
    if p.peek().is_some_and(|c| c == b'T' || c == b' ') {
        p.i += 1;
        while p.peek() == Some(b' ') {
            p.i += 1;
        }
        if p.peek().is_some_and(|c| c.is_ascii_digit()) {
            let h = p.digits(1, 2)? as i64;
            p.expect(b':')?;
            let mi = p.digits(1, 2)? as i64;
            let mut sec = 0;
            if p.peek() == Some(b':') {
                p.i += 1;
                sec = p.digits(1, 2)? as i64;
            }
            if h > 23 || mi > 59 || sec > 59 {
                return None;
            }
            nanos = (h * 3600 + mi * 60 + sec) * NANOS_PER_SECOND;
            if p.peek() == Some(b'.') {
                p.i += 1;
                nanos += p.fraction_nanos()?;
            }
        }
    }
    while p.peek() == Some(b' ') {
        p.i += 1;
    }
    match p.peek() {
        None => {}
        Some(b'Z') | Some(b'z') if p.i + 1 == b.len() => {}
        Some(sign @ (b'+' | b'-')) => {
            p.i += 1;
            let oh = p.digits(2, 2)? as i64;
            if p.peek() == Some(b':') {
                p.i += 1;
            }
            let om = p.digits(2, 2)? as i64;
            if p.i != b.len() {
                return None;
            }
            let offset = (oh * 3600 + om * 60) * NANOS_PER_SECOND;
            nanos -= if sign == b'+' { offset } else { -offset };
        }
        _ => return None,
    }
    let days = days_from_civil(year, month, day);
    in_datetime_range(days.checked_mul(MICROS_PER_DAY)?.checked_add(nanos.div_euclid(NANOS_PER_MICRO))?)
}

/// `MM/DD/YYYY[ hh:mm[:ss[.fff]]][ AM|PM]`, which Kusto also accepts.
fn parse_us_datetime(s: &str) -> Option<i64> {
    let (date, rest) = s.split_once(' ').unwrap_or((s, ""));
    let mut parts = date.split('/');
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    let year: i64 = parts.next()?.parse().ok()?;
    // Kusto's datetimes span years 1 to 9999; a longer year would overflow the day count.
    if parts.next().is_some() || !(1..=9999).contains(&year) || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let rest = rest.trim();
    let (clock, meridiem) = match rest.rsplit_once(' ') {
        Some((c, m)) if m.eq_ignore_ascii_case("AM") || m.eq_ignore_ascii_case("PM") => (c.trim(), Some(m.to_ascii_uppercase())),
        _ => (rest, None),
    };
    let mut micros = 0;
    if !clock.is_empty() {
        let text = format!("1970-01-01 {clock}");
        micros = parse_datetime(&text)?;
        let hour = micros / (3_600 * MICROS_PER_SECOND);
        match meridiem.as_deref() {
            Some("PM") if hour < 12 => micros += 12 * 3_600 * MICROS_PER_SECOND,
            Some("AM") if hour == 12 => micros -= 12 * 3_600 * MICROS_PER_SECOND,
            _ => {}
        }
    }
    in_datetime_range(days_from_civil(year, month, day).checked_mul(MICROS_PER_DAY)?.checked_add(micros)?)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn expect(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }
    fn digits(&mut self, min: usize, max: usize) -> Option<u64> {
        let start = self.i;
        let mut v: u64 = 0;
        while self.i - start < max {
            match self.peek() {
                Some(c) if c.is_ascii_digit() => {
                    v = v * 10 + (c - b'0') as u64;
                    self.i += 1;
                }
                _ => break,
            }
        }
        (self.i - start >= min).then_some(v)
    }
    /// Up to 9 fraction digits as nanoseconds; further digits are dropped.
    fn fraction_nanos(&mut self) -> Option<i64> {
        let start = self.i;
        let mut v: i64 = 0;
        let mut n = 0;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            if n < 9 {
                v = v * 10 + (c - b'0') as i64;
                n += 1;
            }
            self.i += 1;
        }
        if self.i == start {
            return None;
        }
        Some(v * 10i64.pow(9 - n))
    }
}

/// Parses a timespan: `2d`, `1.5h`, `30m`, `100ms`, `10tick`, or `[-][d.]hh:mm[:ss[.fffffff]]`.
pub fn parse_timespan(text: &str) -> Option<i64> {
    let s = text.trim();
    if let Some(rest) = s.strip_prefix('-') {
        return parse_timespan(rest).map(|v| -v);
    }
    if s.contains(':') {
        return parse_clock_timespan(s);
    }
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().ok()?;
    let unit_nanos: f64 = match unit.trim() {
        "d" | "day" | "days" => 86_400e9,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600e9,
        "m" | "min" | "mins" | "minute" | "minutes" => 60e9,
        "s" | "sec" | "secs" | "second" | "seconds" => 1e9,
        "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1e6,
        "micro" | "micros" | "microsecond" | "microseconds" => 1e3,
        "nano" | "nanos" | "nanosecond" | "nanoseconds" => 1.0,
        "tick" | "ticks" => 100.0,
        // `time(2)` is two days.
        "" => 86_400e9,
        _ => return None,
    };
    let nanos = value * unit_nanos;
    // Kusto's resolution is one tick (100ns).
    let ticks = (nanos / 100.0).round();
    (ticks.abs() < 9.2e16).then(|| ticks as i64 * NANOS_PER_TICK)
}

fn parse_clock_timespan(s: &str) -> Option<i64> {
    let (days, clock) = match s.split_once(':') {
        Some((head, _)) if head.contains('.') => {
            let (d, _) = head.split_once('.')?;
            (d.parse::<i64>().ok()?, &s[d.len() + 1..])
        }
        _ => (0, s),
    };
    let mut parts = clock.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let (sec, frac) = match parts.next() {
        Some(sec) => match sec.split_once('.') {
            Some((whole, frac)) => (whole.parse::<i64>().ok()?, frac),
            None => (sec.parse::<i64>().ok()?, ""),
        },
        None => (0, ""),
    };
    if parts.next().is_some() || m > 59 || sec > 59 {
        return None;
    }
    let mut frac_nanos = 0i64;
    if !frac.is_empty() {
        let mut c = Cursor { b: frac.as_bytes(), i: 0 };
        frac_nanos = c.fraction_nanos()?;
        if c.i != frac.len() {
            return None;
        }
    }
    // Past the range of a timespan (about 106,751 days in nanoseconds) the text is no timespan:
    // null, never a wrapped value.
    let seconds = days.checked_mul(24)?.checked_add(h)?.checked_mul(60)?.checked_add(m)?.checked_mul(60)?.checked_add(sec)?;
    seconds.checked_mul(NANOS_PER_SECOND)?.checked_add(frac_nanos)
}

/// Kusto's datetime text: `2024-01-02T03:04:05Z`, or `...05.1230000Z` when there is a fraction
/// of a second (always seven digits: the tick resolution). `micros` is microseconds since the epoch.
pub fn format_datetime(micros: i64) -> String {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let rem = micros.rem_euclid(MICROS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let secs = rem / MICROS_PER_SECOND;
    let frac = rem % MICROS_PER_SECOND;
    let (hh, mm, ss) = (secs / 3600, secs / 60 % 60, secs % 60);
    if frac == 0 {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{:07}Z", frac * 10)
    }
}

/// The datetime text of `tostring()` and of datetimes inside dynamic values: always seven
/// fraction digits (`2020-01-01T00:00:00.0000000Z`), as Kusto converts them.
pub fn format_datetime_full(micros: i64) -> String {
    let t = format_datetime(micros);
    match t.strip_suffix('Z') {
        Some(head) if !head.contains('.') => format!("{head}.0000000Z"),
        _ => t,
    }
}

/// Kusto's timespan text: `[-][d.]hh:mm:ss[.fffffff]`.
pub fn format_timespan(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    let ns_per_s = NANOS_PER_SECOND as u64;
    let total_secs = n / ns_per_s;
    let frac = n % ns_per_s;
    let days = total_secs / 86_400;
    let (hh, mm, ss) = (total_secs / 3600 % 24, total_secs / 60 % 60, total_secs % 60);
    let mut out = String::from(sign);
    if days > 0 {
        out.push_str(&format!("{days}."));
    }
    out.push_str(&format!("{hh:02}:{mm:02}:{ss:02}"));
    if frac > 0 {
        out.push_str(&format!(".{:07}", frac / NANOS_PER_TICK as u64));
    }
    out
}

/// The shortest literal that reads back as this timespan, e.g. `1h`, `90s`, `1.5d` is `36h`.
pub fn timespan_literal(nanos: i64) -> String {
    let units: [(i64, &str); 6] = [
        (NANOS_PER_DAY, "d"),
        (3_600 * NANOS_PER_SECOND, "h"),
        (60 * NANOS_PER_SECOND, "m"),
        (NANOS_PER_SECOND, "s"),
        (1_000_000, "ms"),
        (NANOS_PER_TICK, "tick"),
    ];
    if nanos == 0 {
        return "0s".into();
    }
    for (size, unit) in units {
        if nanos % size == 0 {
            return if nanos < 0 { format!("time(-{}{unit})", -nanos / size) } else { format!("{}{unit}", nanos / size) };
        }
    }
    format!("time({})", format_timespan(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_round_trip() {
        let us = parse_datetime("2024-02-29T23:00:10.1Z").unwrap();
        assert_eq!(format_datetime(us), "2024-02-29T23:00:10.1000000Z");
        assert_eq!(parse_datetime("1970-01-01"), Some(0));
        assert_eq!(parse_datetime("1970-01-01 01:00 +01:00"), Some(0));
        assert_eq!(parse_datetime("2023-02-29"), None);
        assert_eq!(format_datetime(-1), "1969-12-31T23:59:59.9999990Z");
        // Kusto's whole range, and nothing past it.
        assert_eq!(parse_datetime("0001-01-01"), Some(MIN_DATETIME));
        assert_eq!(format_datetime(MIN_DATETIME), "0001-01-01T00:00:00Z");
        assert_eq!(format_datetime(parse_datetime("9999-12-31 23:59:59.9999999").unwrap()), "9999-12-31T23:59:59.9999990Z");
        assert_eq!(parse_datetime("1601-01-01").map(format_datetime).as_deref(), Some("1601-01-01T00:00:00Z"));
        assert_eq!(parse_datetime("0000-12-31"), None);
        // Month first needs a four-digit year; a two-digit one is no date (and no endless loop).
        assert_eq!(parse_datetime("12-05-15"), None);
        // Found by `cargo fuzz run values`: a year past 9999 overflowed the day count.
        assert_eq!(parse_datetime("1/1/066666666666666666"), None);
        assert_eq!(parse_datetime("1/1/10000"), None);
        assert_eq!(parse_datetime("12/31/9999").map(format_datetime).as_deref(), Some("9999-12-31T00:00:00Z"));
        assert_eq!(parse_datetime("12-05-2015"), parse_datetime("2015-12-05"));
        assert_eq!(parse_datetime("02/17/2016 08:40:00"), parse_datetime("2016-02-17 08:40:00"));
        assert_eq!(parse_datetime("1/16/2022 8:00:00 PM"), parse_datetime("2022-01-16 20:00:00"));
    }

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("1.5h"), Some(5_400 * NANOS_PER_SECOND));
        assert_eq!(parse_timespan("1.02:03:04.5"), Some(((26 * 60 + 3) * 60 + 4) * NANOS_PER_SECOND + 500_000_000));
        assert_eq!(format_timespan(parse_timespan("1.02:03:04.5").unwrap()), "1.02:03:04.5000000");
        assert_eq!(format_timespan(-NANOS_PER_SECOND), "-00:00:01");
        assert_eq!(timespan_literal(parse_timespan("36h").unwrap()), "36h");
        assert_eq!(parse_timespan("10tick"), Some(1000));
    }
}
