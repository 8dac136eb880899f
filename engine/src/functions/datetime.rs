//! Datetime functions: `bin`/`floor` and `datetime_diff`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use arrow::compute::kernels::cast::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
use datafusion::common::{exec_err, plan_err};
use datafusion::logical_expr::ScalarUDF;
use datafusion::scalar::ScalarValue;
use kql_grammar::values::{MICROS_PER_DAY, MIN_DATETIME, NANOS_PER_MICRO, civil_from_days};

use super::{KqlUdf, arrays, result, scalar_str};
use crate::types::{TIMESPAN, datetime_type};

/// `bin(value, size)`: rounds down to a multiple of `size`. Datetimes and timespans take a
/// timespan; integers give a long (as Kusto does); reals give a real.
pub fn bin() -> ScalarUDF {
    KqlUdf::scalar(
        "kql_bin",
        |types| match types.first() {
            Some(DataType::Timestamp(..)) => Ok(datetime_type()),
            Some(DataType::Duration(_)) => Ok(TIMESPAN),
            Some(t) if t.is_integer() => Ok(DataType::Int64),
            Some(t) if t.is_floating() => Ok(DataType::Float64),
            Some(t) => plan_err!("bin() cannot round a {}", crate::types::kql_type_of(t)),
            None => plan_err!("bin() takes two arguments"),
        },
        |args, rows| {
            let arrays = arrays(args, rows)?;
            let (value, size) = (&arrays[0], &arrays[1]);
            let out: ArrayRef = match value.data_type() {
                DataType::Timestamp(..) | DataType::Duration(_) => {
                    let is_datetime = matches!(value.data_type(), DataType::Timestamp(..));
                    let size = cast(size, &DataType::Int64)?;
                    let size = size.as_primitive::<Int64Type>();
                    let v = cast(value, &DataType::Int64)?;
                    // A datetime (microseconds) counts bins from Kusto's origin, 0001-01-01 (a
                    // Monday, so 7-day bins start on Mondays); the size is a timespan (ns).
                    let (origin, unit) = if is_datetime { (MIN_DATETIME, NANOS_PER_MICRO) } else { (0, 1) };
                    let floored: Int64Array = v
                        .as_primitive::<Int64Type>()
                        .iter()
                        .zip(size.iter())
                        .map(|(v, s)| match (v, s) {
                            // Checked: a bin below the smallest value is null, not a wrap.
                            (Some(v), Some(s)) if s > 0 => {
                                let s = (s / unit).max(1);
                                v.checked_sub(origin)?.div_euclid(s).checked_mul(s)?.checked_add(origin)
                            }
                            _ => None,
                        })
                        .collect();
                    let target = if is_datetime { datetime_type() } else { TIMESPAN };
                    cast(&floored, &target)?
                }
                t if t.is_integer() => {
                    let v = cast(value, &DataType::Int64)?;
                    let s = cast(size, &DataType::Float64)?;
                    let out: Int64Array = v
                        .as_primitive::<Int64Type>()
                        .iter()
                        .zip(s.as_primitive::<Float64Type>().iter())
                        .map(|(v, s)| match (v, s) {
                            (Some(v), Some(s)) if s > 0.0 => Some(((v as f64 / s).floor() * s) as i64),
                            _ => None,
                        })
                        .collect();
                    Arc::new(out)
                }
                t if t.is_floating() => {
                    let v = cast(value, &DataType::Float64)?;
                    let s = cast(size, &DataType::Float64)?;
                    let out: arrow::array::Float64Array = v
                        .as_primitive::<Float64Type>()
                        .iter()
                        .zip(s.as_primitive::<Float64Type>().iter())
                        .map(|(v, s)| match (v, s) {
                            (Some(v), Some(s)) if s > 0.0 => Some((v / s).floor() * s),
                            _ => None,
                        })
                        .collect();
                    Arc::new(out)
                }
                other => return exec_err!("bin() cannot round a {}", crate::types::kql_type_of(other)),
            };
            result(args, out)
        },
    )
}

/// The calendar or clock unit `datetime_diff` counts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DiffUnit {
    Year,
    Quarter,
    Month,
    Week,
    /// A period of this many microseconds.
    Fixed(i64),
    Nanosecond,
}

pub fn diff_unit(name: &str) -> Option<DiffUnit> {
    Some(match name.to_ascii_lowercase().as_str() {
        "year" => DiffUnit::Year,
        "quarter" => DiffUnit::Quarter,
        "month" => DiffUnit::Month,
        "week" => DiffUnit::Week,
        "day" => DiffUnit::Fixed(MICROS_PER_DAY),
        "hour" => DiffUnit::Fixed(3_600_000_000),
        "minute" => DiffUnit::Fixed(60_000_000),
        "second" => DiffUnit::Fixed(1_000_000),
        "millisecond" => DiffUnit::Fixed(1_000),
        "microsecond" => DiffUnit::Fixed(1),
        // Datetimes hold microseconds: nanosecond boundaries are 1000 per microsecond.
        "nanosecond" => DiffUnit::Nanosecond,
        _ => return None,
    })
}

/// Index of the unit period that contains `us` (microseconds since the epoch); differences of
/// indexes count the unit boundaries crossed, which is what Kusto's `datetime_diff` returns.
fn period_index(unit: DiffUnit, us: i64) -> i64 {
    match unit {
        DiffUnit::Fixed(size) => us.div_euclid(size),
        DiffUnit::Nanosecond => us.saturating_mul(NANOS_PER_MICRO),
        // 1970-01-01 was a Thursday; Kusto's weeks start on Sunday.
        DiffUnit::Week => (us.div_euclid(MICROS_PER_DAY) + 4).div_euclid(7),
        DiffUnit::Year | DiffUnit::Quarter | DiffUnit::Month => {
            let (y, m, _) = civil_from_days(us.div_euclid(MICROS_PER_DAY));
            match unit {
                DiffUnit::Year => y,
                DiffUnit::Quarter => y * 4 + (m as i64 - 1) / 3,
                _ => y * 12 + m as i64 - 1,
            }
        }
    }
}

/// `datetime_diff(unit, a, b)`: the number of `unit` boundaries between `b` and `a`.
pub fn datetime_diff() -> ScalarUDF {
    KqlUdf::scalar(
        "kql_datetime_diff",
        |_| Ok(DataType::Int64),
        |args, rows| {
            let Some(unit_name) = scalar_str(&args[0]) else {
                return exec_err!("datetime_diff: the unit must be a constant string");
            };
            let Some(unit) = diff_unit(&unit_name) else {
                return exec_err!("datetime_diff: unknown unit '{unit_name}'");
            };
            let arrays = arrays(args, rows)?;
            let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
            let a = cast(&cast(&arrays[1], &ts)?, &DataType::Int64)?;
            let b = cast(&cast(&arrays[2], &ts)?, &DataType::Int64)?;
            let out: Int64Array = a
                .as_primitive::<Int64Type>()
                .iter()
                .zip(b.as_primitive::<Int64Type>().iter())
                .map(|(a, b)| Some(period_index(unit, a?) - period_index(unit, b?)))
                .collect();
            result(args, Arc::new(out))
        },
    )
}

/// A datetime constant (microseconds since the epoch) as a DataFusion scalar.
pub fn datetime_scalar(us: Option<i64>) -> ScalarValue {
    ScalarValue::TimestampMicrosecond(us, Some("UTC".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kql_grammar::values::parse_datetime;

    fn diff(unit: &str, a: &str, b: &str) -> i64 {
        let u = diff_unit(unit).unwrap();
        period_index(u, parse_datetime(a).unwrap()) - period_index(u, parse_datetime(b).unwrap())
    }

    #[test]
    fn counts_boundaries_crossed() {
        assert_eq!(diff("second", "2024-01-01 23:00:10.100", "2024-01-01 23:00:00.900"), 10);
        assert_eq!(diff("year", "2017-01-01", "2000-12-31"), 17);
        assert_eq!(diff("quarter", "2017-07-01", "2017-03-30"), 2);
        assert_eq!(diff("month", "2017-01-01", "2015-12-30"), 13);
        assert_eq!(diff("week", "2017-10-29 00:00", "2017-09-30 23:59"), 5);
        assert_eq!(diff("day", "2017-10-29 00:00", "2017-09-30 23:59"), 29);
        assert_eq!(diff("hour", "2017-10-31 01:00", "2017-10-30 23:59"), 2);
        assert_eq!(diff("minute", "2017-10-30 23:05:01", "2017-10-30 23:00:59"), 5);
        assert_eq!(diff("millisecond", "2017-10-30 23:00:00.020", "2017-10-30 23:00:00.010"), 10);
        assert_eq!(diff("nanosecond", "2017-10-30 23:00:00.000002", "2017-10-30 23:00:00.000001"), 1000);
        assert_eq!(diff("year", "9999-12-31", "0001-01-01"), 9998);
    }
}
