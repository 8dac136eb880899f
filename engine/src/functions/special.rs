//! Special mathematical functions (`erf`, `gamma`, the beta distribution), bitwise functions,
//! and small numeric helpers (`around`, `jaccard_index`). `erf` and the gamma functions come
//! from libm (a port of musl's, accurate to the last digit or so, where statrs' `erf` is off
//! in the eleventh); the beta distribution from statrs.

use std::collections::HashMap;

use serde_json::Value as Json;
use statrs::function::beta;

use super::library::{RowDef, def};
use super::rowwise::{Out, Ret, V};

fn real_or_null(v: Option<f64>) -> Out {
    v.map_or(Out::Null, Out::Real)
}

pub fn register(m: &mut HashMap<&'static str, RowDef>) {
    def(m, "erf", 1, 1, Ret::Real, |a| real_or_null(a[0].real().map(libm::erf)));
    def(m, "erfc", 1, 1, Ret::Real, |a| real_or_null(a[0].real().map(libm::erfc)));
    def(m, "gamma", 1, 1, Ret::Real, |a| real_or_null(a[0].real().map(libm::tgamma)));
    def(m, "loggamma", 1, 1, Ret::Real, |a| real_or_null(a[0].real().map(libm::lgamma)));
    // Outside their domains (x not in [0, 1], a parameter not positive) they give NaN.
    def(m, "beta_cdf", 3, 3, Ret::Real, |a| {
        beta_args(a)
            .map_or(Out::Null, |(x, alpha, b)| Out::Real(if in_domain(x, alpha, b) { beta::beta_reg(alpha, b, x) } else { f64::NAN }))
    });
    def(m, "beta_pdf", 3, 3, Ret::Real, |a| {
        beta_args(a).map_or(Out::Null, |(x, alpha, b)| {
            Out::Real(match in_domain(x, alpha, b) {
                true => ((alpha - 1.0) * x.ln() + (b - 1.0) * (1.0 - x).ln() - beta::ln_beta(alpha, b)).exp(),
                false => f64::NAN,
            })
        })
    });
    // The inverse takes a probability: one outside [0, 1] gives null, a bad parameter NaN.
    def(m, "beta_inv", 3, 3, Ret::Real, |a| match beta_args(a) {
        Some((p, _, _)) if !(0.0..=1.0).contains(&p) => Out::Null,
        Some((p, alpha, b)) if alpha > 0.0 && b > 0.0 => Out::Real(beta::inv_beta_reg(alpha, b, p)),
        Some(_) => Out::Real(f64::NAN),
        None => Out::Null,
    });

    def(m, "binary_and", 2, 2, Ret::Long, |a| bitwise(a, |x, y| x & y));
    def(m, "binary_or", 2, 2, Ret::Long, |a| bitwise(a, |x, y| x | y));
    def(m, "binary_xor", 2, 2, Ret::Long, |a| bitwise(a, |x, y| x ^ y));
    def(m, "binary_not", 1, 1, Ret::Long, |a| a[0].long().map_or(Out::Null, |x| Out::Long(!x)));
    // Shifts by 64 or more give 0, as .NET's would not (it masks the count): Kusto documents 0.
    def(m, "binary_shift_left", 2, 2, Ret::Long, |a| bitwise(a, |x, n| if (0..64).contains(&n) { x.wrapping_shl(n as u32) } else { 0 }));
    def(m, "binary_shift_right", 2, 2, Ret::Long, |a| bitwise(a, |x, n| if (0..64).contains(&n) { x.wrapping_shr(n as u32) } else { 0 }));
    def(m, "bitset_count_ones", 1, 1, Ret::Long, |a| a[0].long().map_or(Out::Null, |x| Out::Long(x.count_ones() as i64)));

    // `around(value, center, delta)`: whether value lies within [center - delta, center + delta].
    def(m, "around", 3, 3, Ret::Bool, |a| match (&a[0], &a[1], &a[2]) {
        // Datetimes hold microseconds, timespans nanoseconds.
        (V::DateTime(v), V::DateTime(c), V::TimeSpan(d)) => {
            let d = d / kql_grammar::values::NANOS_PER_MICRO;
            Out::Bool(c - d <= *v && *v <= c + d)
        }
        (v, c, d) => match (v.real(), c.real(), d.real()) {
            (Some(v), Some(c), Some(d)) => Out::Bool(c - d <= v && v <= c + d),
            _ => Out::Null,
        },
    });
    // |A ∩ B| / |A ∪ B| of the distinct values of two arrays.
    def(m, "jaccard_index", 2, 2, Ret::Real, |a| {
        let (Some(x), Some(y)) = (distinct(&a[0]), distinct(&a[1])) else { return Out::Null };
        let common = x.iter().filter(|v| y.contains(v)).count();
        let union = x.len() + y.len() - common;
        Out::Real(if union == 0 { f64::NAN } else { common as f64 / union as f64 })
    });
}

fn beta_args(a: &[V]) -> Option<(f64, f64, f64)> {
    Some((a[0].real()?, a[1].real()?, a[2].real()?))
}

fn in_domain(x: f64, alpha: f64, b: f64) -> bool {
    (0.0..=1.0).contains(&x) && alpha > 0.0 && b > 0.0
}

fn bitwise(a: &[V], f: fn(i64, i64) -> i64) -> Out {
    match (a[0].long(), a[1].long()) {
        (Some(x), Some(y)) => Out::Long(f(x, y)),
        _ => Out::Null,
    }
}

/// The distinct values of a dynamic array, compared by their JSON text.
fn distinct(v: &V) -> Option<Vec<String>> {
    let items = v.json();
    let Json::Array(items) = items.as_ref() else { return None };
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let key = item.to_string();
        if !out.contains(&key) {
            out.push(key);
        }
    }
    Some(out)
}

/// `assert(condition, message)`: the condition, or a query error with the message where it is
/// false.
pub fn assert_udf() -> &'static std::sync::Arc<datafusion::logical_expr::ScalarUDF> {
    use arrow::array::{Array, AsArray};
    use datafusion::logical_expr::ColumnarValue;
    static UDF: std::sync::OnceLock<std::sync::Arc<datafusion::logical_expr::ScalarUDF>> = std::sync::OnceLock::new();
    UDF.get_or_init(|| {
        std::sync::Arc::new(super::KqlUdf::scalar(
            "kql_assert",
            |_| Ok(arrow::datatypes::DataType::Boolean),
            |args, rows| {
                let message = match args.get(1) {
                    Some(ColumnarValue::Scalar(s)) => s.to_string(),
                    _ => String::new(),
                };
                let condition = args[0].to_array(rows)?;
                let condition = condition
                    .as_boolean_opt()
                    .ok_or_else(|| datafusion::error::DataFusionError::Execution("assert() takes a bool condition".into()))?;
                if (0..condition.len()).any(|i| condition.is_valid(i) && !condition.value(i)) {
                    return datafusion::common::exec_err!("assert() failed: {message}");
                }
                Ok(args[0].clone())
            },
        ))
    })
}

/// `kql_field_metadata(value, metadata)`: the value, in a field that carries `metadata` (a
/// JSON object of text values, a constant). The plan codec (`codec.rs`) writes a literal that
/// carries metadata (a `dynamic` constant) as this call, since datafusion-proto keeps a
/// literal's value but not its metadata; the call gives the receiving session the same field,
/// and its optimizer folds it back into the literal.
pub fn field_metadata_udf() -> &'static std::sync::Arc<datafusion::logical_expr::ScalarUDF> {
    static UDF: std::sync::OnceLock<std::sync::Arc<datafusion::logical_expr::ScalarUDF>> = std::sync::OnceLock::new();
    UDF.get_or_init(|| std::sync::Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(FieldMetadataUdf::default())))
}

/// `kql_field_metadata` as a planner that hands its physical plans on must see it: never
/// folded into a literal. A cluster's scheduler splits its physical plans into stages that
/// datafusion-proto's default encoder writes, which keeps a literal's value but not its
/// metadata; a call travels by name, and the executor derives its field again
/// (`codec::KqlProtoConverter`).
pub fn field_metadata_unfolded_udf() -> &'static std::sync::Arc<datafusion::logical_expr::ScalarUDF> {
    static UDF: std::sync::OnceLock<std::sync::Arc<datafusion::logical_expr::ScalarUDF>> = std::sync::OnceLock::new();
    UDF.get_or_init(|| {
        let volatile = datafusion::logical_expr::Signature::any(2, datafusion::logical_expr::Volatility::Volatile);
        std::sync::Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(FieldMetadataUdf { signature: volatile }))
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct FieldMetadataUdf {
    signature: datafusion::logical_expr::Signature,
}

impl Default for FieldMetadataUdf {
    fn default() -> Self {
        FieldMetadataUdf { signature: datafusion::logical_expr::Signature::any(2, datafusion::logical_expr::Volatility::Immutable) }
    }
}

impl datafusion::logical_expr::ScalarUDFImpl for FieldMetadataUdf {
    fn name(&self) -> &str {
        "kql_field_metadata"
    }
    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }
    fn return_type(&self, types: &[arrow::datatypes::DataType]) -> datafusion::common::Result<arrow::datatypes::DataType> {
        Ok(types.first().cloned().unwrap_or(arrow::datatypes::DataType::Null))
    }
    /// Named as every kql function is (`short_schema_name`), not by its whole argument tree.
    fn schema_name(&self, args: &[datafusion::logical_expr::Expr]) -> datafusion::common::Result<String> {
        Ok(super::short_schema_name(self.name(), args))
    }
    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> datafusion::common::Result<arrow::datatypes::FieldRef> {
        let Some(value) = args.arg_fields.first() else { return datafusion::common::plan_err!("kql_field_metadata takes a value") };
        let metadata = match args.scalar_arguments.get(1).copied().flatten() {
            Some(datafusion::scalar::ScalarValue::Utf8(Some(text))) => metadata_from_json(text)?,
            _ => return datafusion::common::plan_err!("kql_field_metadata takes its metadata as constant text"),
        };
        let field = arrow::datatypes::Field::new(self.name(), value.data_type().clone(), value.is_nullable()).with_metadata(metadata);
        Ok(std::sync::Arc::new(field))
    }
    fn invoke_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::common::Result<datafusion::logical_expr::ColumnarValue> {
        match args.args.into_iter().next() {
            Some(value) => Ok(value),
            None => datafusion::common::exec_err!("kql_field_metadata takes a value"),
        }
    }
}

/// Field metadata written as a JSON object of text values.
pub fn metadata_to_json(metadata: &std::collections::BTreeMap<String, String>) -> String {
    serde_json::Value::Object(metadata.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect()).to_string()
}

fn metadata_from_json(text: &str) -> datafusion::common::Result<std::collections::HashMap<String, String>> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text) else {
        return datafusion::common::plan_err!("kql_field_metadata: the metadata is not a JSON object");
    };
    map.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(v) => Ok((k, v)),
            _ => datafusion::common::plan_err!("kql_field_metadata: metadata values are text"),
        })
        .collect()
}
