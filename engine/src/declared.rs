//! `.create table` declarations applied to a Parquet table's scan: each declared column is
//! converted from what the files hold to the declared KQL type (JSON text to `dynamic`, ISO
//! text or epoch numbers to `datetime` ...), and a value that does not convert fails the query
//! naming the table, the column and the declaration, rather than reading as null. (A JSON or CSV
//! table is read with the declared types directly: see `text_source`.)

use std::sync::{Arc, OnceLock};

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Field, FieldRef, Schema};
use datafusion::common::{Result as DfResult, exec_err, plan_err};
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::object_store::{ObjectMeta, ObjectStore};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::lit;
use datafusion::scalar::ScalarValue;
use futures::StreamExt;
use kql_grammar::ast::TypeName;
use serde_json::Value as Json;

use crate::error::{KqlError, Result};
use crate::prelude::TableDeclaration;
use crate::text_source::decode::{BatchBuilder, Cell, Target, json_cell, shown, text_cell};
use crate::types::{dynamic_field, is_dynamic_field, kql_type_name};

/// The field a declared column has.
pub fn field_of(name: &str, ty: TypeName) -> Field {
    let field = Field::new(name, crate::types::arrow_type(ty), true);
    if ty == TypeName::Dynamic { dynamic_field(field) } else { field }
}

/// How a file column of KQL type `from` becomes the declared type; `None` when kql cannot
/// convert it.
#[derive(Debug, PartialEq)]
enum Conversion {
    Keep,
    /// Exact widening (int to long, long to real).
    Cast,
    /// Row by row, failing on a value that does not convert.
    Checked,
}

fn conversion(from: &str, to: TypeName) -> Option<Conversion> {
    let to_text = to.as_str();
    Some(match (from, to) {
        (f, _) if f == to_text => Conversion::Keep,
        ("string", TypeName::Guid) | ("guid", TypeName::String) => Conversion::Keep,
        ("int", TypeName::Long | TypeName::Real) | ("long", TypeName::Real) => Conversion::Cast,
        // Text parses as any type; any value has a text and a JSON form.
        ("string", _) | (_, TypeName::String | TypeName::Dynamic) => Conversion::Checked,
        ("int" | "long" | "real", TypeName::Int | TypeName::Long | TypeName::DateTime) => Conversion::Checked,
        _ => return None,
    })
}

/// Fails registration when a declared column's file type cannot become its declared type.
pub fn check_parquet(declared: &TableDeclaration, schema: &Schema) -> Result<()> {
    for (name, ty) in &declared.columns {
        if let Ok(field) = schema.field_with_name(name) {
            let from = file_kql_type(field);
            if conversion(from, *ty).is_none() {
                return Err(KqlError::new(format!(
                    "column '{name}' is {from} in the files of {}, and its declaration ({}) makes it {}: kql cannot convert {from} to {}",
                    declared.name,
                    declared.location,
                    ty.as_str(),
                    ty.as_str()
                )));
            }
        }
    }
    Ok(())
}

/// The KQL type a file column is read as (after the scan's normalisation).
fn file_kql_type(field: &Field) -> &'static str {
    if is_dynamic_field(field) {
        return "dynamic";
    }
    match crate::types::normalized_type(field.data_type()) {
        Some(t) => crate::types::kql_type_of(&t),
        None => kql_type_name(field),
    }
}

/// The scan's columns under the declaration: `columns` are the scan's normalised columns (name,
/// expression, file field). The declared columns come first, in order, converted (or a typed
/// null where the files lack one); `.create-merge` keeps the other columns after them.
pub fn project(declared: &TableDeclaration, columns: Vec<(String, Expr, Field)>) -> Vec<Expr> {
    let mut out = Vec::new();
    for (name, ty) in &declared.columns {
        let expr = match columns.iter().find(|(n, _, _)| n == name) {
            Some((_, e, field)) => convert(declared, name, e.clone(), field, *ty),
            None => typed_null(*ty),
        };
        out.push(expr.alias(name));
    }
    if declared.merge {
        for (name, e, _) in columns {
            if !declared.columns.iter().any(|(n, _)| *n == name) {
                out.push(e.alias(name));
            }
        }
    }
    out
}

fn typed_null(ty: TypeName) -> Expr {
    let null = ScalarValue::try_from(&crate::types::arrow_type(ty)).unwrap_or(ScalarValue::Utf8(None));
    let e = Expr::Literal(null, None);
    if ty == TypeName::Dynamic { crate::types::as_dynamic(e) } else { e }
}

fn convert(declared: &TableDeclaration, name: &str, e: Expr, field: &Field, ty: TypeName) -> Expr {
    match conversion(file_kql_type(field), ty) {
        Some(Conversion::Keep) | None => e,
        Some(Conversion::Cast) => Expr::TryCast(datafusion::logical_expr::TryCast::new(Box::new(e), crate::types::arrow_type(ty))),
        Some(Conversion::Checked) => {
            let call = declared_udf().call(vec![e, lit(ty.as_str()), lit(label(declared, name, ty))]);
            if ty == TypeName::Dynamic { crate::types::as_dynamic(call) } else { call }
        }
    }
}

/// How a failed conversion names the column (and how `failing_file` recognises its error).
fn label(declared: &TableDeclaration, name: &str, ty: TypeName) -> String {
    format!("column '{name}' of {} (declared {} at {})", declared.name, ty.as_str(), declared.location)
}

pub fn declared_udf() -> &'static Arc<ScalarUDF> {
    static UDF: OnceLock<Arc<ScalarUDF>> = OnceLock::new();
    UDF.get_or_init(|| Arc::new(ScalarUDF::new_from_impl(Declared { signature: Signature::any(3, Volatility::Immutable) })))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Declared {
    signature: Signature,
}

fn declared_type(text: &str) -> Option<TypeName> {
    kql_grammar::ast::TypeName::from_name(text)
}

fn constant_text(value: Option<&ScalarValue>) -> Option<&str> {
    match value {
        Some(ScalarValue::Utf8(Some(s))) => Some(s),
        _ => None,
    }
}

impl ScalarUDFImpl for Declared {
    fn name(&self) -> &str {
        "kql_declared"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _types: &[DataType]) -> DfResult<DataType> {
        plan_err!("kql_declared's type comes from its arguments")
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let Some(ty) = constant_text(args.scalar_arguments.get(1).copied().flatten()).and_then(declared_type) else {
            return plan_err!("kql_declared takes the declared type as constant text");
        };
        Ok(Arc::new(Field::new(self.name(), crate::types::arrow_type(ty), true)))
    }
    fn schema_name(&self, args: &[Expr]) -> DfResult<String> {
        Ok(crate::functions::short_schema_name(self.name(), args))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let ty = match args.args.get(1) {
            Some(ColumnarValue::Scalar(v)) => constant_text(Some(v)).and_then(declared_type),
            _ => None,
        };
        let label = match args.args.get(2) {
            Some(ColumnarValue::Scalar(v)) => constant_text(Some(v)).unwrap_or("a declared column").to_string(),
            _ => "a declared column".to_string(),
        };
        let Some(ty) = ty else { return exec_err!("kql_declared takes the declared type as constant text") };
        let rows = args.number_rows;
        let Some(value) = args.args.into_iter().next() else { return exec_err!("kql_declared takes a value") };
        let array = value.into_array(rows)?;
        convert_array(&array, ty, &label).map(ColumnarValue::Array)
    }
}

fn convert_array(array: &ArrayRef, ty: TypeName, label: &str) -> DfResult<ArrayRef> {
    match convert_rows(array, ty)? {
        Ok(converted) => Ok(converted),
        Err(failure) => exec_err!("{label}: {} does not convert", failure.value),
    }
}

/// A value that does not convert: its row in the array and its text as the message shows it.
struct Failure {
    row: usize,
    value: String,
}

/// The array converted to the declared type, or the first value that does not convert.
fn convert_rows(array: &ArrayRef, ty: TypeName) -> DfResult<std::result::Result<ArrayRef, Failure>> {
    let field = field_of("value", ty);
    let target = Target::of(&field).map_err(datafusion::error::DataFusionError::Execution)?;
    let mut builder = BatchBuilder::new(Arc::new(Schema::new(vec![field]))).map_err(datafusion::error::DataFusionError::Execution)?;
    for row in 0..array.len() {
        let cell = if array.is_null(row) {
            Some(Cell::Null)
        } else {
            match array.data_type() {
                DataType::Utf8 => text_cell(target, array.as_string::<i32>().value(row)),
                DataType::Utf8View => text_cell(target, array.as_string_view().value(row)),
                DataType::LargeUtf8 => text_cell(target, array.as_string::<i64>().value(row)),
                _ => match target {
                    Target::Text => crate::render::value_text(array.as_ref(), row).map(|t| Cell::Text(t.into())),
                    Target::Dynamic => Some(Cell::Text(crate::render::to_json(array.as_ref(), row).to_string().into())),
                    _ => json_cell(target, &crate::render::to_json(array.as_ref(), row)).map(Cell::into_owned),
                },
            }
        };
        match cell {
            Some(cell) => builder.push(vec![cell]),
            None => {
                let text = crate::render::format_cell(array.as_ref(), row).unwrap_or_default();
                return Ok(Err(Failure { row, value: shown(&Json::String(text).to_string()) }));
            }
        }
    }
    Ok(Ok(builder.finish()?.column(0).clone()))
}

/// The files of a declared Parquet table. The conversion runs above the scan, which does not
/// say which file a row came from; when a value does not convert, these are read again (that
/// column only) to name the file and row that hold it.
#[derive(Clone, Debug)]
pub struct DeclaredFiles {
    pub store: Arc<dyn ObjectStore>,
    pub objects: Vec<ObjectMeta>,
    /// What goes before an object's path to name it as the user knows it: "/" or "s3://bucket/".
    pub prefix: String,
}

/// A declared Parquet table of the session: its declaration and its files.
pub type DeclaredTable = (TableDeclaration, Arc<DeclaredFiles>);

/// The query's stream, with an error of a declared column's conversion completed by the file
/// and row that hold the value. `tables` are the session's declared Parquet tables.
pub fn naming_failing_files(stream: SendableRecordBatchStream, tables: Vec<DeclaredTable>) -> SendableRecordBatchStream {
    if tables.is_empty() {
        return stream;
    }
    let schema = stream.schema();
    let tables = Arc::new(tables);
    let named = stream.then(move |item| {
        let tables = tables.clone();
        async move {
            match item {
                Err(e) => Err(with_failing_file(e, &tables).await),
                ok => ok,
            }
        }
    });
    Box::pin(RecordBatchStreamAdapter::new(schema, named))
}

/// The error, naming where its value is when it is a declared conversion's and the value is
/// found again in the table's files; otherwise the error as it was.
pub async fn with_failing_file(e: DataFusionError, tables: &[DeclaredTable]) -> DataFusionError {
    // The UDF's message may arrive inside the Parquet reader's error (a conversion pushed into
    // the scan as a filter), quoted there: it is recognised by its label and written afresh.
    let text = e.to_string();
    for (declared, files) in tables {
        for (name, ty) in &declared.columns {
            let label = label(declared, name, *ty);
            if !text.contains(&format!("{label}: ")) {
                continue;
            }
            return match failing_file(files, name, *ty, &text).await {
                Some((file, row, value)) => {
                    DataFusionError::Execution(format!("{label}: {value} does not convert (found at row {row} of {file})"))
                }
                None => e,
            };
        }
    }
    e
}

/// Whether an error's text holds `value` as the UDF wrote it, or quoted once or twice by the
/// errors that carry it (`\"x\"`).
fn mentions(text: &str, value: &str) -> bool {
    let mut form = value.to_string();
    for _ in 0..3 {
        if text.contains(&form) {
            return true;
        }
        let quoted = format!("{form:?}");
        form = quoted[1..quoted.len() - 1].to_string();
    }
    false
}

/// The first file, with the row (counted from 1) and the value, whose `column` holds a value
/// that does not convert to `ty` and is the one the error's text names: a file the query
/// skipped (pruned, or past a `take`) may hold another. Files are read one after another, the
/// named column only, and only when a query has failed. A file that cannot be read is passed
/// over: the scan reports it.
async fn failing_file(files: &DeclaredFiles, column: &str, ty: TypeName, error: &str) -> Option<(String, usize, String)> {
    use datafusion::datasource::physical_plan::ParquetFileReaderFactory;
    use datafusion::datasource::physical_plan::parquet::DefaultParquetFileReaderFactory;
    use datafusion::parquet::arrow::ProjectionMask;
    use datafusion::parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
    let readers = DefaultParquetFileReaderFactory::new(files.store.clone());
    let metrics = datafusion::physical_plan::metrics::ExecutionPlanMetricsSet::new();
    for object in &files.objects {
        let Ok(reader) = readers.create_reader(0, object.clone().into(), None, &metrics) else { continue };
        // The reader is `Send` by its trait already; parquet implements its trait for this form.
        let reader: Box<dyn datafusion::parquet::arrow::async_reader::AsyncFileReader> = reader;
        let Ok(builder) = ParquetRecordBatchStreamBuilder::new(reader).await else { continue };
        let Ok(index) = builder.schema().index_of(column) else { continue };
        let mask = ProjectionMask::roots(builder.parquet_schema(), [index]);
        let Ok(mut batches) = builder.with_projection(mask).build() else { continue };
        let mut rows_before = 0;
        while let Some(Ok(batch)) = batches.next().await {
            if let Ok(Err(failure)) = convert_rows(batch.column(0), ty) {
                if mentions(error, &failure.value) {
                    return Some((format!("{}{}", files.prefix, object.location), rows_before + failure.row + 1, failure.value));
                }
                // This file's first bad value is another: the query failed elsewhere.
                break;
            }
            rows_before += batch.num_rows();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

    #[test]
    fn conversions_kql_can_make() {
        assert_eq!(conversion("string", TypeName::Dynamic), Some(Conversion::Checked));
        assert_eq!(conversion("long", TypeName::DateTime), Some(Conversion::Checked));
        assert_eq!(conversion("int", TypeName::Long), Some(Conversion::Cast));
        assert_eq!(conversion("datetime", TypeName::DateTime), Some(Conversion::Keep));
        assert_eq!(conversion("bool", TypeName::DateTime), None);
        assert_eq!(conversion("datetime", TypeName::Long), None);
    }

    #[test]
    fn a_value_is_recognised_however_the_errors_around_it_quote_it() {
        let value = "\"yesterday\"";
        assert!(mentions("c: \"yesterday\" does not convert", value));
        assert!(mentions("Execution(\"c: \\\"yesterday\\\" does not convert\")", value));
        assert!(!mentions("c: \"today\" does not convert", value));
    }

    #[test]
    fn values_convert_or_fail_with_the_label() {
        let text: ArrayRef = Arc::new(StringArray::from(vec![Some("2024-05-01T00:00:00Z"), None]));
        let out = convert_array(&text, TypeName::DateTime, "c").expect("converts");
        assert_eq!(out.as_primitive::<arrow::datatypes::TimestampMicrosecondType>().value(0), 1_714_521_600_000_000);
        assert!(out.is_null(1));
        let epoch: ArrayRef = Arc::new(Int64Array::from(vec![1_714_521_600_000i64]));
        let out = convert_array(&epoch, TypeName::DateTime, "c").expect("converts");
        assert_eq!(out.as_primitive::<arrow::datatypes::TimestampMicrosecondType>().value(0), 1_714_521_600_000_000);
        let bad: ArrayRef = Arc::new(StringArray::from(vec![Some("yesterday")]));
        let err = convert_array(&bad, TypeName::DateTime, "column 'T' of X (declared datetime at f.kql:1)").expect_err("fails");
        assert!(err.to_string().contains("column 'T' of X (declared datetime at f.kql:1): \"yesterday\" does not convert"), "{err}");
    }
}
