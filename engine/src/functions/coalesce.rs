//! `coalesce()`: the first argument that is not null, row by row.
//!
//! DataFusion's own `coalesce` only runs once its simplifier has rewritten it into
//! `CASE WHEN a IS NOT NULL THEN a ELSE b END`, which writes every argument but the last twice.
//! Nested calls (`coalesce(coalesce(...), 5)`, or one inside another function inside a
//! coalesce) then double the expression at each level: 20 levels took 9 s to plan, 25 took two
//! minutes and 24 GB (found by the fuzzer). Here every argument is written, and evaluated,
//! once; the first non-null value of each row is taken, arguments in order.

use std::sync::{Arc, OnceLock};

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::type_coercion::binary::type_union_resolution;
use datafusion::logical_expr::{ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

pub fn coalesce_udf() -> &'static Arc<ScalarUDF> {
    static UDF: OnceLock<Arc<ScalarUDF>> = OnceLock::new();
    UDF.get_or_init(|| Arc::new(ScalarUDF::new_from_impl(Coalesce { signature: Signature::user_defined(Volatility::Immutable) })))
}

/// `coalesce(args...)` as kql plans it.
pub fn coalesce(args: Vec<Expr>) -> Expr {
    coalesce_udf().call(args)
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Coalesce {
    signature: Signature,
}

impl ScalarUDFImpl for Coalesce {
    fn name(&self) -> &str {
        "kql_coalesce"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        if types.is_empty() {
            return exec_err!("coalesce() takes at least one argument");
        }
        // The planner has checked that the arguments are of one KQL type; this finds the
        // Arrow type they share (a long and an int, a typed and an untyped null).
        match type_union_resolution(types) {
            Some(common) => Ok(vec![common; types.len()]),
            None => exec_err!("coalesce(): the arguments have no common type"),
        }
    }
    fn return_type(&self, types: &[DataType]) -> Result<DataType> {
        match types.first() {
            Some(t) => Ok(t.clone()),
            None => exec_err!("coalesce() takes at least one argument"),
        }
    }
    /// Null only where every argument may be: `coalesce(s, "")` is a string that is never null
    /// (how a table's nullable string columns are read, `planner/sources.rs`).
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
        let nullable = args.arg_fields.iter().all(|f| f.is_nullable());
        Ok(Arc::new(Field::new(self.name(), self.return_type(&types)?, nullable)))
    }
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        Ok(super::short_schema_name("coalesce", args))
    }
    /// A first argument that is never null is the answer (a string column read as `""` when
    /// null, where the file says it has no nulls), as DataFusion's simplifier found for its
    /// own coalesce. Only that: any other rewrite could duplicate an argument again.
    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        match args.first() {
            Some(first) if args.len() > 1 && !info.nullable(first)? => Ok(ExprSimplifyResult::Simplified(first.clone())),
            _ => Ok(ExprSimplifyResult::Original(args)),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { args.number_rows };
        let mut values = args.args.into_iter();
        let Some(first) = values.next() else { return exec_err!("coalesce() takes at least one argument") };
        let mut chosen: ArrayRef = first.into_array(rows)?;
        for value in values {
            if chosen.null_count() == 0 {
                break;
            }
            // A table's string column as read (`coalesce(c, "")`): the same strings, no copy.
            if is_empty_text(&value)
                && let Some(text) = nulls_as_empty(&chosen)
            {
                chosen = text;
                break;
            }
            let next = value.into_array(rows)?;
            let present = arrow::compute::is_not_null(chosen.as_ref())?;
            chosen = arrow::compute::kernels::zip::zip(&present, &chosen, &next)?;
        }
        Ok(if all_scalar {
            ColumnarValue::Scalar(datafusion::scalar::ScalarValue::try_from_array(&chosen, 0)?)
        } else {
            ColumnarValue::Array(chosen)
        })
    }
}

/// A text array with its nulls made `""` (`coalesce(c, "")`), sharing its strings where it can.
pub fn nulls_as_empty_text(array: &ArrayRef) -> Result<ArrayRef> {
    if array.null_count() == 0 {
        return Ok(array.clone());
    }
    if let Some(text) = nulls_as_empty(array) {
        return Ok(text);
    }
    let empty = match array.data_type() {
        t @ (DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8) => empty_text(t).to_scalar()?,
        other => return exec_err!("not a text array: {other}"),
    };
    let present = arrow::compute::is_not_null(array.as_ref())?;
    Ok(arrow::compute::kernels::zip::zip(&present, array, &empty)?)
}

/// The empty string of a text type (`Utf8` for any other type), as a literal must be once
/// types are coerced.
pub fn empty_text(t: &DataType) -> datafusion::scalar::ScalarValue {
    use datafusion::scalar::ScalarValue;
    match t {
        DataType::Utf8View => ScalarValue::Utf8View(Some(String::new())),
        DataType::LargeUtf8 => ScalarValue::LargeUtf8(Some(String::new())),
        _ => ScalarValue::Utf8(Some(String::new())),
    }
}

fn is_empty_text(value: &ColumnarValue) -> bool {
    use datafusion::scalar::ScalarValue;
    matches!(value, ColumnarValue::Scalar(ScalarValue::Utf8(Some(t)) | ScalarValue::Utf8View(Some(t)) | ScalarValue::LargeUtf8(Some(t))) if t.is_empty())
}

/// A text array with its nulls made `""`, sharing its strings: a null's view becomes the empty
/// string's (all zeros), and offsets are kept where every null already spans no bytes (as
/// Arrow writes them). `None` for any other array.
fn nulls_as_empty(array: &ArrayRef) -> Option<ArrayRef> {
    use arrow::array::{AsArray, GenericStringArray, OffsetSizeTrait, StringViewArray};
    fn offsets_kept<O: OffsetSizeTrait>(a: &GenericStringArray<O>) -> Option<ArrayRef> {
        let nulls = a.nulls()?;
        let offsets = a.offsets();
        let empty = |i: usize| offsets.get(i) == offsets.get(i + 1);
        if !(0..a.len()).all(|i| nulls.is_valid(i) || empty(i)) {
            return None;
        }
        Some(Arc::new(GenericStringArray::<O>::try_new(offsets.clone(), a.values().clone(), None).ok()?))
    }
    match array.data_type() {
        DataType::Utf8View => {
            let a = array.as_string_view();
            let nulls = a.nulls()?;
            let views: Vec<u128> = a.views().iter().zip(nulls.iter()).map(|(&v, valid)| if valid { v } else { 0 }).collect();
            Some(Arc::new(StringViewArray::try_new(views.into(), a.data_buffers().to_vec(), None).ok()?))
        }
        DataType::Utf8 => offsets_kept(array.as_string::<i32>()),
        DataType::LargeUtf8 => offsets_kept(array.as_string::<i64>()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, LargeStringArray, StringArray, StringViewArray};
    use datafusion::scalar::ScalarValue;

    fn as_read(array: ArrayRef, empty: ScalarValue) -> Vec<Option<String>> {
        let field = Arc::new(Field::new("c", array.data_type().clone(), true));
        let args = ScalarFunctionArgs {
            number_rows: array.len(),
            args: vec![ColumnarValue::Array(array.clone()), ColumnarValue::Scalar(empty)],
            arg_fields: vec![field.clone(), field.clone()],
            return_field: field,
            config_options: Arc::new(Default::default()),
        };
        let out = coalesce_udf().invoke_with_args(args).expect("coalesce").into_array(array.len()).expect("an array");
        assert_eq!(out.null_count(), 0);
        let text = arrow::compute::cast(&out, &DataType::Utf8).expect("text");
        text.as_string::<i32>().iter().map(|s| s.map(str::to_string)).collect()
    }

    #[test]
    fn nulls_read_as_empty_in_every_text_layout() {
        let values = vec![None, Some("a long string past twelve bytes"), None, Some(""), Some("b")];
        let expected: Vec<Option<String>> = values.iter().map(|v| Some(v.unwrap_or("").to_string())).collect();
        assert_eq!(as_read(Arc::new(StringViewArray::from(values.clone())), ScalarValue::Utf8View(Some(String::new()))), expected);
        assert_eq!(as_read(Arc::new(StringArray::from(values.clone())), ScalarValue::Utf8(Some(String::new()))), expected);
        assert_eq!(as_read(Arc::new(LargeStringArray::from(values.clone())), ScalarValue::LargeUtf8(Some(String::new()))), expected);
        // A null that spans bytes (a sliced-and-rebuilt array may have one) goes the general way.
        let spanning = StringArray::try_new(
            arrow::buffer::OffsetBuffer::new(vec![0, 3, 4].into()),
            arrow::buffer::Buffer::from("abcd".as_bytes()),
            Some(arrow::buffer::NullBuffer::from(vec![false, true])),
        )
        .expect("an array");
        assert_eq!(as_read(Arc::new(spanning), ScalarValue::Utf8(Some(String::new()))), vec![Some(String::new()), Some("d".into())]);
        // Another fallback is taken as it is.
        let other = as_read(Arc::new(StringArray::from(vec![None, Some("x")])), ScalarValue::Utf8(Some("-".into())));
        assert_eq!(other, vec![Some("-".to_string()), Some("x".to_string())]);
    }
}
