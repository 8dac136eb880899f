//! Literals: strings with their escapes, numbers, timespans, datetimes and `dynamic(...)`.

use pest::iterators::Pair;

use super::{Result, Rule, span_of};
use crate::ast::{DynValue, Literal, TypeName};
use crate::error::ParseError;
use crate::values::{parse_datetime, parse_timespan};

pub(crate) fn build_literal(pair: Pair<Rule>) -> Result<Literal> {
    let span = span_of(&pair);
    let bad = |msg: String| ParseError::new(msg, span.start, span.end);
    Ok(match pair.as_rule() {
        Rule::typed_null => {
            let ty = first_inner(pair)?;
            Literal::Null(type_of(ty.as_str()).ok_or_else(|| bad("unknown type".into()))?)
        }
        Rule::datetime_lit => {
            let raw = last_inner(pair)?;
            // `datetime("2015-01-01")` is accepted too.
            let text = raw.as_str().trim().trim_matches(|c| c == '"' || c == '\'');
            match parse_datetime(text) {
                Some(ns) => Literal::DateTime(ns),
                None => return Err(bad(format!("invalid datetime literal '{text}'"))),
            }
        }
        Rule::timespan_fn_lit => {
            let raw = last_inner(pair)?;
            let text = raw.as_str().trim();
            match parse_timespan(text) {
                Some(ns) => Literal::TimeSpan(ns),
                None => return Err(bad(format!("invalid timespan literal '{text}'"))),
            }
        }
        Rule::typed_lit => {
            let mut inner = pair.into_inner();
            let ty_pair = inner.next().ok_or_else(|| bad("missing type".into()))?;
            let ty = type_of(ty_pair.as_str()).ok_or_else(|| bad("unknown type".into()))?;
            let value = inner.next().ok_or_else(|| bad("missing value".into()))?;
            typed_literal(ty, value)?
        }
        Rule::dynamic_lit => Literal::Dynamic(build_dyn(last_inner(pair)?)?),
        Rule::bool_lit => Literal::Bool(pair.as_str().eq_ignore_ascii_case("true")),
        Rule::long_lit => Literal::Long(parse_long(pair.as_str()).ok_or_else(|| bad("integer literal out of range".into()))?),
        Rule::real_lit => Literal::Real(pair.as_str().parse().map_err(|_| bad("invalid real literal".into()))?),
        Rule::timespan_lit => {
            Literal::TimeSpan(parse_timespan(pair.as_str()).ok_or_else(|| bad(format!("invalid timespan '{}'", pair.as_str())))?)
        }
        Rule::string_concat => Literal::String(pair.into_inner().map(|p| string_value(p.as_str())).collect()),
        other => return Err(bad(format!("unexpected literal {other:?}"))),
    })
}

fn first_inner(pair: Pair<Rule>) -> Result<Pair<Rule>> {
    let span = span_of(&pair);
    pair.into_inner().next().ok_or_else(|| ParseError::new("malformed literal", span.start, span.end))
}

fn last_inner(pair: Pair<Rule>) -> Result<Pair<Rule>> {
    let span = span_of(&pair);
    pair.into_inner().last().ok_or_else(|| ParseError::new("malformed literal", span.start, span.end))
}

fn type_of(s: &str) -> Option<TypeName> {
    TypeName::from_name(s)
}

fn parse_long(s: &str) -> Option<i64> {
    match s.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// A decimal or `0x` hexadecimal integer with an optional leading `-`.
fn signed_integer(text: &str) -> Option<i64> {
    match text.strip_prefix('-') {
        Some(hex) if hex.starts_with("0x") => parse_long(hex)?.checked_neg(),
        Some(_) => text.parse().ok(),
        None => parse_long(text),
    }
}

/// `int(5)`, `long(-1)`, `real(2)`, `bool(true)`, `guid(...)`, `decimal(1.5)`, `string("x")`.
fn typed_literal(ty: TypeName, value: Pair<Rule>) -> Result<Literal> {
    let span = span_of(&value);
    let text = value.as_str().trim();
    let bad = || ParseError::new(format!("invalid {} literal '{text}'", ty.as_str()), span.start, span.end);
    let negative = text.starts_with('-');
    let inner = value.into_inner().next().ok_or_else(bad)?;
    let num_text = || -> String { if negative { format!("-{}", inner.as_str()) } else { inner.as_str().to_string() } };
    Ok(match ty {
        // `int(0x10)` and `long(-0x10)` take hexadecimal digits as the bare literal does; an
        // `int` whose value needs more than 32 bits is refused, not wrapped around.
        TypeName::Int => {
            let value = signed_integer(&num_text()).ok_or_else(bad)?;
            Literal::Int(
                i32::try_from(value)
                    .map_err(|_| ParseError::new(format!("int literal '{text}' does not fit in an int (32 bits)"), span.start, span.end))?,
            )
        }
        TypeName::Long => Literal::Long(signed_integer(&num_text()).ok_or_else(bad)?),
        TypeName::Real if inner.as_rule() == Rule::long_lit && inner.as_str().starts_with("0x") => {
            Literal::Real(signed_integer(&num_text()).ok_or_else(bad)? as f64)
        }
        TypeName::Real if inner.as_rule() == Rule::real_special => {
            Literal::Real(match (inner.as_str().to_ascii_lowercase().as_str(), negative) {
                ("nan", _) => f64::NAN,
                (_, true) => f64::NEG_INFINITY,
                _ => f64::INFINITY,
            })
        }
        TypeName::Real => Literal::Real(num_text().parse().map_err(|_| bad())?),
        TypeName::Decimal => Literal::Decimal(num_text()),
        TypeName::Bool => match inner.as_rule() {
            Rule::bool_lit => Literal::Bool(inner.as_str().eq_ignore_ascii_case("true")),
            Rule::long_lit => Literal::Bool(inner.as_str() != "0"),
            _ => return Err(bad()),
        },
        TypeName::Guid => Literal::Guid(inner.as_str().to_ascii_lowercase()),
        TypeName::String => match inner.as_rule() {
            Rule::string_concat => Literal::String(inner.into_inner().map(|p| string_value(p.as_str())).collect()),
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    })
}

fn build_dyn(pair: Pair<Rule>) -> Result<DynValue> {
    let span = span_of(&pair);
    let bad = |m: &str| ParseError::new(m.to_string(), span.start, span.end);
    Ok(match pair.as_rule() {
        Rule::dyn_null => DynValue::Null,
        Rule::dyn_array => DynValue::Array(pair.into_inner().map(build_dyn).collect::<Result<_>>()?),
        Rule::dyn_object => {
            let mut fields = Vec::new();
            for p in pair.into_inner() {
                let mut kv = p.into_inner();
                let key = kv.next().ok_or_else(|| bad("malformed property"))?;
                let value = kv.next().ok_or_else(|| bad("malformed property"))?;
                fields.push((string_value(key.as_str()), build_dyn(value)?));
            }
            DynValue::Object(fields)
        }
        Rule::dyn_number => {
            let t = pair.as_str();
            if t.contains(['.', 'e', 'E']) {
                DynValue::Real(t.parse().map_err(|_| bad("invalid number"))?)
            } else {
                match t.parse() {
                    Ok(v) => DynValue::Long(v),
                    Err(_) => DynValue::Real(t.parse().map_err(|_| bad("invalid number"))?),
                }
            }
        }
        // Adjacent string literals concatenate inside `dynamic(...)` as they do elsewhere
        // (`build_literal`): `dynamic(["a" "b"])` holds "ab".
        _ => match build_literal(pair)? {
            Literal::Null(_) => DynValue::Null,
            Literal::Bool(b) => DynValue::Bool(b),
            Literal::Long(v) => DynValue::Long(v),
            Literal::Int(v) => DynValue::Long(v as i64),
            Literal::Real(v) => DynValue::Real(v),
            Literal::String(s) | Literal::Guid(s) | Literal::Decimal(s) => DynValue::String(s),
            Literal::DateTime(v) => DynValue::DateTime(v),
            Literal::TimeSpan(v) => DynValue::TimeSpan(v),
            Literal::Dynamic(d) => d,
        },
    })
}

/// The value of one string literal token, escapes resolved.
pub(crate) fn string_value(token: &str) -> String {
    let t = token.strip_prefix(['h', 'H']).unwrap_or(token);
    if let Some(body) = t.strip_prefix("```") {
        return body.strip_suffix("```").unwrap_or(body).to_string();
    }
    if let Some(v) = t.strip_prefix('@') {
        let quote = v.chars().next().unwrap_or('"');
        let body = v.get(1..v.len().saturating_sub(1)).unwrap_or("");
        let doubled: String = [quote, quote].iter().collect();
        return body.replace(&doubled, &quote.to_string());
    }
    let body = t.get(1..t.len().saturating_sub(1)).unwrap_or("");
    unescape(body)
}

fn unescape(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(d @ '0'..='7') => {
                // Octal: up to three digits.
                let mut value = d as u32 - '0' as u32;
                for _ in 0..2 {
                    match chars.clone().next() {
                        Some(n @ '0'..='7') => {
                            value = value * 8 + (n as u32 - '0' as u32);
                            chars.next();
                        }
                        _ => break,
                    }
                }
                out.push(char::from_u32(value).unwrap_or('\u{fffd}'));
            }
            Some('a') => out.push('\u{7}'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('v') => out.push('\u{b}'),
            Some('x') => {
                let hex: String = chars.clone().take_while(|c| c.is_ascii_hexdigit()).take(4).collect();
                for _ in 0..hex.len() {
                    chars.next();
                }
                out.push(u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32).unwrap_or('\u{fffd}'));
            }
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => {
                        out.push_str("\\u");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Quotes a string so that `string_value` gives it back.
pub fn quote_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
