//! Datetime functions: `bin`/`floor` and `datetime_diff`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use arrow::compute::kernels::cast::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
use datafusion::common::{exec_err, plan_err};
use datafusion::logical_expr::ScalarUDF;
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::scalar::ScalarValue;
use kql_grammar::values::{MICROS_PER_DAY, MIN_DATETIME, NANOS_PER_MICRO, civil_from_days};

use super::{KqlUdf, arrays, result, scalar_str};
use crate::types::{TIMESPAN, datetime_type};

/// `bin(value, size)`: rounds down to a multiple of `size`. Datetimes and timespans take a
/// timespan; integers give a long (as Kusto does); reals give a real.
pub fn bin() -> ScalarUDF {
    KqlUdf::scalar_ordered(
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
                            // In 128 bits, so that only a bin below the smallest value does
                            // not fit (it is null, not a wrap): `bin_ordering` relies on that.
                            (Some(v), Some(s)) if s > 0 => {
                                let (v, s, origin) = (i128::from(v), i128::from((s / unit).max(1)), i128::from(origin));
                                i64::try_from((v - origin).div_euclid(s) * s + origin).ok()
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
        bin_ordering,
    )
}

/// Rows sorted on `x` are sorted on `bin(x, size)` the same way when `size` is one value for
/// every row: rounding down never swaps two values. A value whose bin does not fit is null
/// instead, and that can only happen to the smallest values (a bin is at most its value), so
/// the nulls it makes sit where the order already puts nulls when they come with the low
/// values: ascending with nulls first (Kusto's `asc`), descending with nulls last (`desc`).
/// The other two orders are not claimed, nor any order of reals: the sign of a NaN that
/// `floor` returns is not defined, and Arrow sorts negative NaNs first, positive ones last.
/// The value's type is read from its range, which DataFusion leaves untyped for a function
/// that does not bound its result: only a value known to be an integer, a datetime or a
/// timespan counts.
fn bin_ordering(inputs: &[ExprProperties]) -> SortProperties {
    match inputs {
        [value, size] if size.sort_properties == SortProperties::Singleton && exact_type(&value.range.data_type()) => {
            match value.sort_properties {
                SortProperties::Ordered(options) if options.descending == options.nulls_first => SortProperties::Unordered,
                kept => kept,
            }
        }
        _ => SortProperties::Unordered,
    }
}

/// Integers, datetimes and timespans: the values `bin` rounds without a NaN.
fn exact_type(data_type: &DataType) -> bool {
    data_type.is_integer() || matches!(data_type, DataType::Timestamp(..) | DataType::Duration(_))
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
    use datafusion::logical_expr::ColumnarValue;
    use kql_grammar::values::parse_datetime;

    fn diff(unit: &str, a: &str, b: &str) -> i64 {
        let u = diff_unit(unit).unwrap();
        period_index(u, parse_datetime(a).unwrap()) - period_index(u, parse_datetime(b).unwrap())
    }

    fn properties(order: SortProperties, data_type: &DataType) -> ExprProperties {
        let range = datafusion::logical_expr::interval_arithmetic::Interval::make_unbounded(data_type).expect("a range");
        ExprProperties::new_unknown().with_order(order).with_range(range)
    }

    /// `bin` keeps an order only where the nulls it can make (bins below the smallest value)
    /// sit with the low values: ascending nulls first, descending nulls last; never for reals,
    /// for a value of unknown type, nor for a size that differs between rows.
    #[test]
    fn bin_keeps_orders_whose_nulls_sit_with_the_low_values() {
        use arrow::compute::SortOptions;
        let time = datetime_type();
        let size = properties(SortProperties::Singleton, &DataType::Int64);
        let ordered = |descending, nulls_first| SortProperties::Ordered(SortOptions { descending, nulls_first });
        for (descending, nulls_first, kept) in [(false, true, true), (true, false, true), (false, false, false), (true, true, false)] {
            let order = ordered(descending, nulls_first);
            let expected = if kept { order } else { SortProperties::Unordered };
            assert_eq!(
                bin_ordering(&[properties(order, &time), size.clone()]),
                expected,
                "descending {descending}, nulls first {nulls_first}"
            );
        }
        let asc = ordered(false, true);
        assert_eq!(bin_ordering(&[properties(asc, &DataType::Int64), size.clone()]), asc);
        assert_eq!(bin_ordering(&[properties(asc, &DataType::Float64), size.clone()]), SortProperties::Unordered);
        assert_eq!(bin_ordering(&[properties(asc, &DataType::Null), size.clone()]), SortProperties::Unordered);
        let varying = properties(SortProperties::Unordered, &DataType::Int64);
        assert_eq!(bin_ordering(&[properties(asc, &time), varying]), SortProperties::Unordered);
    }

    /// The promise above: only a bin below the smallest datetime is null; the largest
    /// datetimes Arrow can hold still get their bin.
    #[test]
    fn bin_is_null_only_below_the_smallest_value() {
        let hour = ColumnarValue::Scalar(ScalarValue::DurationNanosecond(Some(3_600_000_000_000)));
        let values = arrow::array::TimestampMicrosecondArray::from(vec![i64::MIN, i64::MIN + 3_599_999_999, 0, i64::MAX])
            .with_timezone_opt(match datetime_type() {
                DataType::Timestamp(_, tz) => tz,
                _ => None,
            });
        let out = bin().invoke_with_args(datafusion::logical_expr::ScalarFunctionArgs {
            args: vec![ColumnarValue::Array(Arc::new(values)), hour],
            arg_fields: vec![],
            number_rows: 4,
            return_field: Arc::new(arrow::datatypes::Field::new("b", datetime_type(), true)),
            config_options: Arc::new(Default::default()),
        });
        let out = match out.expect("bin runs") {
            ColumnarValue::Array(a) => cast(&a, &DataType::Int64).expect("a datetime is 64 bits"),
            ColumnarValue::Scalar(_) => panic!("an array in, an array out"),
        };
        let out: Vec<Option<i64>> = out.as_primitive::<Int64Type>().iter().collect();
        let origin = MIN_DATETIME;
        let hour_us = 3_600_000_000i64;
        let top = (i128::from(i64::MAX) - i128::from(origin)).div_euclid(i128::from(hour_us)) * i128::from(hour_us) + i128::from(origin);
        assert_eq!(out[0], None);
        assert_eq!(out[2], Some(0));
        assert_eq!(out[3], Some(i64::try_from(top).expect("fits")));
        assert!(out[3] <= Some(i64::MAX) && out[3] > Some(i64::MAX - hour_us));
        // Ordered: the null first, then non-decreasing.
        let present: Vec<i64> = out.iter().flatten().copied().collect();
        assert!(present.windows(2).all(|w| w[0] <= w[1]), "{out:?}");
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
