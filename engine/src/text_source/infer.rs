//! The KQL type of a text column, inferred from the values a sample of lines holds, and widened
//! when lines or files disagree.

use arrow::datatypes::{DataType, Field};
use serde_json::Value as Json;

/// A column's KQL type as far as the sample shows it. `Null` is a column whose sampled values are
/// all missing; it reads as `string`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Null,
    Bool,
    Long,
    Real,
    DateTime,
    String,
    Dynamic,
}

impl Kind {
    /// The type that holds values of both: a long and a real are a real; an object or array with
    /// anything is `dynamic`; any other two scalar types are a `string`, which holds either's
    /// text without loss.
    pub fn widen(self, other: Kind) -> Kind {
        use Kind::*;
        match (self, other) {
            (a, b) if a == b => a,
            (Null, x) | (x, Null) => x,
            (Dynamic, _) | (_, Dynamic) => Dynamic,
            (Long, Real) | (Real, Long) => Real,
            _ => String,
        }
    }

    /// The column's Arrow field, as every kql table holds that KQL type.
    pub fn field(self, name: &str) -> Field {
        let data_type = match self {
            Kind::Null | Kind::String | Kind::Dynamic => DataType::Utf8,
            Kind::Bool => DataType::Boolean,
            Kind::Long => DataType::Int64,
            Kind::Real => DataType::Float64,
            Kind::DateTime => crate::types::datetime_type(),
        };
        let field = Field::new(name, data_type, true);
        if self == Kind::Dynamic { crate::types::dynamic_field(field) } else { field }
    }
}

/// The kind of one JSON value. A string is a `datetime` when it is an ISO 8601 date and time
/// (what log shippers and Sentinel's export write), not any text `todatetime` would accept.
pub fn kind_of_json(value: &Json) -> Kind {
    match value {
        Json::Null => Kind::Null,
        Json::Bool(_) => Kind::Bool,
        Json::Number(n) if n.is_i64() => Kind::Long,
        // Past long's range a real would round the number: its text keeps it.
        Json::Number(n) if n.is_u64() => Kind::String,
        Json::Number(_) => Kind::Real,
        Json::String(s) if is_iso_datetime(s) => Kind::DateTime,
        Json::String(_) => Kind::String,
        Json::Array(_) | Json::Object(_) => Kind::Dynamic,
    }
}

/// The kind of one CSV cell: an empty cell is missing; a cell that is a JSON object or array is
/// `dynamic`.
pub fn kind_of_text(cell: &str) -> Kind {
    let cell = cell.trim();
    if cell.is_empty() {
        Kind::Null
    } else if cell.eq_ignore_ascii_case("true") || cell.eq_ignore_ascii_case("false") {
        Kind::Bool
    } else if cell.parse::<i64>().is_ok() {
        Kind::Long
    } else if is_decimal_number(cell) {
        Kind::Real
    } else if is_iso_datetime(cell) {
        Kind::DateTime
    } else if (cell.starts_with('{') || cell.starts_with('[')) && serde_json::from_str::<Json>(cell).is_ok() {
        Kind::Dynamic
    } else {
        Kind::String
    }
}

/// `1.5`, `-2e10`, `.5`: a real written as a number (not `NaN` or `inf`, which are text in a log).
fn is_decimal_number(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit()) && s.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) && s.parse::<f64>().is_ok()
}

/// `YYYY-MM-DD`, optionally followed by `T` or a space and a time, that Kusto's datetime parser
/// reads.
pub fn is_iso_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
        && (b.len() == 10 || b[10] == b'T' || b[10] == b' ')
        && kql_grammar::values::parse_datetime(s).is_some()
}

/// Columns in the order they first appear, each with its widened kind.
#[derive(Default, Debug)]
pub struct Columns {
    pub names: Vec<String>,
    pub kinds: Vec<Kind>,
}

impl Columns {
    pub fn observe(&mut self, name: &str, kind: Kind) {
        match self.names.iter().position(|n| n == name) {
            Some(i) => self.kinds[i] = self.kinds[i].widen(kind),
            None => {
                self.names.push(name.to_string());
                self.kinds.push(kind);
            }
        }
    }

    pub fn merge(&mut self, other: Columns) {
        for (name, kind) in other.names.iter().zip(other.kinds) {
            self.observe(name, kind);
        }
    }

    pub fn fields(&self) -> Vec<Field> {
        self.names.iter().zip(&self.kinds).map(|(n, k)| k.field(n)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_keeps_every_value() {
        assert_eq!(Kind::Long.widen(Kind::Real), Kind::Real);
        assert_eq!(Kind::Null.widen(Kind::DateTime), Kind::DateTime);
        assert_eq!(Kind::Long.widen(Kind::String), Kind::String);
        assert_eq!(Kind::DateTime.widen(Kind::Long), Kind::String);
        assert_eq!(Kind::Bool.widen(Kind::Long), Kind::String);
        assert_eq!(Kind::String.widen(Kind::Dynamic), Kind::Dynamic);
    }

    #[test]
    fn cells_and_json_values() {
        assert_eq!(kind_of_text(""), Kind::Null);
        assert_eq!(kind_of_text("42"), Kind::Long);
        assert_eq!(kind_of_text("4.5e3"), Kind::Real);
        assert_eq!(kind_of_text("NaN"), Kind::String);
        assert_eq!(kind_of_text("TRUE"), Kind::Bool);
        assert_eq!(kind_of_text("2024-05-01T10:00:00Z"), Kind::DateTime);
        assert_eq!(kind_of_text("05/01/2024"), Kind::String);
        assert_eq!(kind_of_text("{\"a\":1}"), Kind::Dynamic);
        assert_eq!(kind_of_text("{not json"), Kind::String);
        assert_eq!(kind_of_json(&serde_json::json!(1.5)), Kind::Real);
        assert_eq!(kind_of_json(&serde_json::json!(18446744073709551615u64)), Kind::String);
        assert_eq!(kind_of_json(&serde_json::json!("2024-05-01 10:00:00.1234567")), Kind::DateTime);
        assert_eq!(kind_of_json(&serde_json::json!("12-05-15")), Kind::String);
    }
}
