//! Text values into a column's type, and rows of them into Arrow batches. A value that does not
//! convert is an error naming its column: never a silent null, since a hunter reads "no hits"
//! from a column that lost its values.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, DurationNanosecondBuilder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use serde_json::Value as Json;

/// What a column holds, as its Arrow field says.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Target {
    Bool,
    Int,
    Long,
    Real,
    DateTime,
    TimeSpan,
    Text,
    Dynamic,
}

impl Target {
    /// The target of a field, or why kql cannot fill it from text.
    pub fn of(field: &Field) -> Result<Target, String> {
        if crate::types::is_dynamic_field(field) {
            return Ok(Target::Dynamic);
        }
        Ok(match field.data_type() {
            DataType::Boolean => Target::Bool,
            DataType::Int32 => Target::Int,
            DataType::Int64 => Target::Long,
            DataType::Float64 => Target::Real,
            DataType::Timestamp(TimeUnit::Microsecond, _) => Target::DateTime,
            DataType::Duration(TimeUnit::Nanosecond) => Target::TimeSpan,
            DataType::Utf8 => Target::Text,
            other => {
                return Err(format!(
                    "column '{}' is {}, which kql does not read from text files yet",
                    field.name(),
                    crate::types::kql_type_of(other)
                ));
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            Target::Bool => "bool",
            Target::Int => "int",
            Target::Long => "long",
            Target::Real => "real",
            Target::DateTime => "datetime",
            Target::TimeSpan => "timespan",
            Target::Text => "string",
            Target::Dynamic => "dynamic",
        }
    }
}

/// One converted value; text borrowed from the line read where it can be.
#[derive(Debug, PartialEq)]
pub enum Cell<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Real(f64),
    /// Microseconds since the epoch.
    Time(i64),
    /// Nanoseconds.
    Span(i64),
    Text(Cow<'a, str>),
}

impl Cell<'_> {
    /// The cell with its text owned, free of what it was read from.
    pub fn into_owned(self) -> Cell<'static> {
        match self {
            Cell::Null => Cell::Null,
            Cell::Bool(v) => Cell::Bool(v),
            Cell::Int(v) => Cell::Int(v),
            Cell::Real(v) => Cell::Real(v),
            Cell::Time(v) => Cell::Time(v),
            Cell::Span(v) => Cell::Span(v),
            Cell::Text(v) => Cell::Text(Cow::Owned(v.into_owned())),
        }
    }
}

/// A number in a `datetime` column: seconds, milliseconds, microseconds or nanoseconds since
/// 1970, told apart by size (below 1e11 seconds, 1e14 milliseconds, 1e17 microseconds), as log
/// shippers write any of them and no date of interest is ambiguous under that rule.
fn epoch_to_micros(v: f64) -> Option<i64> {
    let a = v.abs();
    let micros = if a < 1e11 {
        v * 1e6
    } else if a < 1e14 {
        v * 1e3
    } else if a < 1e17 {
        v
    } else {
        v / 1e3
    };
    kql_grammar::values::in_datetime_range(micros.round() as i64)
}

fn integral(v: f64) -> Option<i64> {
    (v.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&v)).then_some(v as i64)
}

fn fits(target: Target, v: i64) -> Option<Cell<'static>> {
    match target {
        Target::Int if i32::try_from(v).is_err() => None,
        _ => Some(Cell::Int(v)),
    }
}

/// A JSON value as a column's type; `None` when it does not convert.
pub fn json_cell(target: Target, value: &Json) -> Option<Cell<'_>> {
    if value.is_null() {
        return Some(Cell::Null);
    }
    match (target, value) {
        (Target::Dynamic, v) => Some(Cell::Text(v.to_string().into())),
        (Target::Text, Json::String(s)) => Some(Cell::Text(s.as_str().into())),
        (Target::Text, v) => Some(Cell::Text(v.to_string().into())),
        (Target::Bool, Json::Bool(b)) => Some(Cell::Bool(*b)),
        (Target::Int | Target::Long, Json::Number(n)) => fits(target, n.as_i64().or_else(|| n.as_f64().and_then(integral))?),
        (Target::Real, Json::Number(n)) => n.as_f64().map(Cell::Real),
        (Target::DateTime, Json::Number(n)) => n.as_f64().and_then(epoch_to_micros).map(Cell::Time),
        (_, Json::String(s)) => text_cell(target, s),
        _ => None,
    }
}

/// A text value (a CSV cell, or a JSON string in a typed column) as a column's type; `None`
/// when it does not convert. An empty cell is a missing value except in a `string` column.
pub fn text_cell(target: Target, cell: &str) -> Option<Cell<'_>> {
    if target == Target::Text {
        return Some(Cell::Text(cell.into()));
    }
    let t = cell.trim();
    if t.is_empty() {
        return Some(Cell::Null);
    }
    match target {
        Target::Bool => {
            if t.eq_ignore_ascii_case("true") {
                Some(Cell::Bool(true))
            } else if t.eq_ignore_ascii_case("false") {
                Some(Cell::Bool(false))
            } else {
                None
            }
        }
        Target::Int | Target::Long => fits(target, t.parse::<i64>().ok().or_else(|| t.parse::<f64>().ok().and_then(integral))?),
        Target::Real => t.parse::<f64>().ok().map(Cell::Real),
        Target::DateTime => match kql_grammar::values::parse_datetime(t) {
            Some(micros) => Some(Cell::Time(micros)),
            None => t.parse::<f64>().ok().and_then(epoch_to_micros).map(Cell::Time),
        },
        Target::TimeSpan => kql_grammar::values::parse_timespan(t).map(Cell::Span),
        // Text that is not JSON is a string value, as `todynamic` reads it.
        Target::Dynamic => {
            Some(Cell::Text(serde_json::from_str::<Json>(t).unwrap_or_else(|_| Json::String(t.to_string())).to_string().into()))
        }
        Target::Text => Some(Cell::Text(cell.into())),
    }
}

/// The text a value shows in an error: short, on one line.
pub fn shown(value: &str) -> String {
    let one_line: String = value.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if one_line.chars().count() > 60 { format!("{}...", one_line.chars().take(60).collect::<String>()) } else { one_line }
}

/// Why a value did not convert.
pub fn mismatch(field: &Field, target: Target, value: &str) -> String {
    format!("{} does not fit column '{}' ({})", shown(value), field.name(), target.name())
}

enum Column {
    Bool(BooleanBuilder),
    Int(Int32Builder),
    Long(Int64Builder),
    Real(Float64Builder),
    Time(TimestampMicrosecondBuilder, Option<Arc<str>>),
    Span(DurationNanosecondBuilder),
    Text(StringBuilder),
}

/// Rows of cells into a batch of `schema`'s columns.
pub struct BatchBuilder {
    schema: SchemaRef,
    targets: Vec<Target>,
    columns: Vec<Column>,
    rows: usize,
}

impl BatchBuilder {
    pub fn new(schema: SchemaRef) -> Result<BatchBuilder, String> {
        let targets = schema.fields().iter().map(|f| Target::of(f)).collect::<Result<Vec<_>, _>>()?;
        let columns = schema
            .fields()
            .iter()
            .zip(&targets)
            .map(|(f, t)| match t {
                Target::Bool => Column::Bool(BooleanBuilder::new()),
                Target::Int => Column::Int(Int32Builder::new()),
                Target::Long => Column::Long(Int64Builder::new()),
                Target::Real => Column::Real(Float64Builder::new()),
                Target::DateTime => Column::Time(
                    TimestampMicrosecondBuilder::new(),
                    match f.data_type() {
                        DataType::Timestamp(_, tz) => tz.clone(),
                        _ => None,
                    },
                ),
                Target::TimeSpan => Column::Span(DurationNanosecondBuilder::new()),
                Target::Text | Target::Dynamic => Column::Text(StringBuilder::new()),
            })
            .collect();
        Ok(BatchBuilder { schema, targets, columns, rows: 0 })
    }

    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends one row: a cell for every column, already converted (so a row is whole or absent).
    pub fn push(&mut self, cells: Vec<Cell<'_>>) {
        for (column, cell) in self.columns.iter_mut().zip(cells) {
            match (column, cell) {
                (Column::Bool(b), Cell::Bool(v)) => b.append_value(v),
                (Column::Int(b), Cell::Int(v)) => b.append_value(v as i32),
                (Column::Long(b), Cell::Int(v)) => b.append_value(v),
                (Column::Real(b), Cell::Real(v)) => b.append_value(v),
                (Column::Real(b), Cell::Int(v)) => b.append_value(v as f64),
                (Column::Time(b, _), Cell::Time(v)) => b.append_value(v),
                (Column::Span(b), Cell::Span(v)) => b.append_value(v),
                (Column::Text(b), Cell::Text(v)) => b.append_value(v.as_ref()),
                (Column::Bool(b), _) => b.append_null(),
                (Column::Int(b), _) => b.append_null(),
                (Column::Long(b), _) => b.append_null(),
                (Column::Real(b), _) => b.append_null(),
                (Column::Time(b, _), _) => b.append_null(),
                (Column::Span(b), _) => b.append_null(),
                (Column::Text(b), _) => b.append_null(),
            }
        }
        self.rows += 1;
    }

    /// The rows so far as a batch; the builder starts again empty.
    pub fn finish(&mut self) -> arrow::error::Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|c| -> ArrayRef {
                match c {
                    Column::Bool(b) => Arc::new(b.finish()),
                    Column::Int(b) => Arc::new(b.finish()),
                    Column::Long(b) => Arc::new(b.finish()),
                    Column::Real(b) => Arc::new(b.finish()),
                    Column::Time(b, tz) => Arc::new(b.finish().with_timezone_opt(tz.clone())),
                    Column::Span(b) => Arc::new(b.finish()),
                    Column::Text(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        let rows = std::mem::take(&mut self.rows);
        let options = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_values_convert_without_loss_or_fail() {
        assert_eq!(json_cell(Target::Long, &json!(3.0)), Some(Cell::Int(3)));
        assert_eq!(json_cell(Target::Long, &json!(3.5)), None);
        assert_eq!(json_cell(Target::Int, &json!(4_000_000_000i64)), None);
        assert_eq!(json_cell(Target::Long, &json!("12")), Some(Cell::Int(12)));
        assert_eq!(json_cell(Target::Text, &json!(12)), Some(Cell::Text("12".into())));
        assert_eq!(json_cell(Target::Dynamic, &json!({"a": [1]})), Some(Cell::Text("{\"a\":[1]}".into())));
        assert_eq!(json_cell(Target::Bool, &json!("yes")), None);
        assert_eq!(json_cell(Target::DateTime, &json!("2024-05-01T00:00:00Z")), Some(Cell::Time(1_714_521_600_000_000)));
        // Epoch seconds and milliseconds are the same instant.
        assert_eq!(json_cell(Target::DateTime, &json!(1_714_521_600)), Some(Cell::Time(1_714_521_600_000_000)));
        assert_eq!(json_cell(Target::DateTime, &json!(1_714_521_600_000i64)), Some(Cell::Time(1_714_521_600_000_000)));
    }

    #[test]
    fn text_cells() {
        assert_eq!(text_cell(Target::Long, " "), Some(Cell::Null));
        assert_eq!(text_cell(Target::Text, ""), Some(Cell::Text("".into())));
        assert_eq!(text_cell(Target::Dynamic, "plain"), Some(Cell::Text("\"plain\"".into())));
        assert_eq!(text_cell(Target::TimeSpan, "01:00:00"), Some(Cell::Span(3_600_000_000_000)));
        assert_eq!(text_cell(Target::Real, "x"), None);
    }
}
