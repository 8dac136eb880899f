//! KQL scalar functions as DataFusion UDFs, one file per family, and the shared plumbing:
//! a table-driven UDF type and typed access to string arrays of every Arrow encoding.

pub mod arg_extreme;
pub mod arithmetic;
pub mod bag;
pub mod catalog;
pub mod coalesce;
pub mod collect;
pub mod compact_json;
pub mod compress;
pub mod conversion;
pub mod datetime;
pub mod dynamic;
pub mod file_types;
pub mod geo_cells;
pub mod geo_reshape;
pub mod geo_shapes;
pub mod geo_sphere;
pub mod ip;
pub mod kv;
pub mod library;
pub mod one_group;
pub mod pending;
pub mod regex_syntax;
pub mod registry;
pub mod rowwise;
pub mod series_analysis;
pub mod special;
pub mod string;
pub mod tdigest;
pub mod text;
pub mod timezones;
pub mod units;

use std::fmt::{self, Write as _};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, LargeStringArray, StringArray, StringViewArray};
use arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

type ReturnTypeFn = fn(&[DataType]) -> Result<DataType>;
type InvokeFn = fn(&[ColumnarValue], usize) -> Result<ColumnarValue>;
/// How a function's result is ordered given how its arguments are (see `datetime::bin`).
type OrderingFn = fn(&[ExprProperties]) -> SortProperties;
/// For a function whose work the session's settings bound (`config::memory_limit`).
type ConfiguredInvokeFn = fn(&[ColumnarValue], usize, &ConfigOptions) -> Result<ColumnarValue>;

/// A KQL function implemented by two plain functions: one that types it and one that runs it
/// over whole arrays. Argument checking happens in the planner, which knows the query text.
pub struct KqlUdf {
    name: &'static str,
    signature: Signature,
    return_type: ReturnTypeFn,
    invoke: Invoke,
    /// Its result is `dynamic`: Utf8 JSON text tagged with the `arrow.json` extension.
    returns_dynamic: bool,
    /// Rows sorted on its arguments are sorted on its result in this way; none: unordered.
    ordering: Option<OrderingFn>,
}

enum Invoke {
    Plain(InvokeFn),
    Configured(ConfiguredInvokeFn),
}

impl KqlUdf {
    pub fn scalar(name: &'static str, return_type: ReturnTypeFn, invoke: InvokeFn) -> ScalarUDF {
        Self::plain(name, return_type, invoke, None)
    }

    /// A function that keeps the order of rows sorted on its arguments as `ordering` says,
    /// so that DataFusion knows rows sorted on `x` are sorted on `bin(x, 1h)` too (a
    /// `summarize ... by bin(TimeGenerated, 1h)` over sorted rows then aggregates in order).
    pub fn scalar_ordered(name: &'static str, return_type: ReturnTypeFn, invoke: InvokeFn, ordering: OrderingFn) -> ScalarUDF {
        Self::plain(name, return_type, invoke, Some(ordering))
    }

    fn plain(name: &'static str, return_type: ReturnTypeFn, invoke: InvokeFn, ordering: Option<OrderingFn>) -> ScalarUDF {
        ScalarUDF::new_from_impl(KqlUdf {
            name,
            signature: Signature::variadic_any(Volatility::Immutable),
            return_type,
            invoke: Invoke::Plain(invoke),
            returns_dynamic: false,
            ordering,
        })
    }

    /// A function that reads the session's settings while it runs (its memory limit). It is
    /// volatile so that it always runs per batch, under those settings: folded at planning
    /// into a constant, its value would be copied into every row outside its bounds.
    pub fn configured(name: &'static str, return_type: ReturnTypeFn, invoke: ConfiguredInvokeFn) -> ScalarUDF {
        ScalarUDF::new_from_impl(KqlUdf {
            name,
            signature: Signature::variadic_any(Volatility::Volatile),
            return_type,
            invoke: Invoke::Configured(invoke),
            returns_dynamic: false,
            ordering: None,
        })
    }

    /// A function whose result is `dynamic`.
    pub fn dynamic(name: &'static str, invoke: InvokeFn) -> ScalarUDF {
        ScalarUDF::new_from_impl(KqlUdf {
            name,
            signature: Signature::variadic_any(Volatility::Immutable),
            return_type: |_| Ok(DataType::Utf8),
            invoke: Invoke::Plain(invoke),
            returns_dynamic: true,
            ordering: None,
        })
    }
}

impl KqlUdf {
    /// Whether its result is `dynamic` (JSON text with the `arrow.json` tag).
    pub fn returns_dynamic(&self) -> bool {
        self.returns_dynamic
    }
}

impl fmt::Debug for KqlUdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KqlUdf({})", self.name)
    }
}

impl PartialEq for KqlUdf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for KqlUdf {}
impl Hash for KqlUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

/// The name DataFusion gives a call of a kql function: `name(arg, ...)` with the arguments named
/// at most `NAME_DEPTH` levels down (`…` below). DataFusion's own names spell out the whole
/// argument tree, and it names every node again each time it types one (`to_field`), so a
/// chain of `n` nested calls (`a + b + ...` over longs, 194 `project p = pack_all()`) cost the
/// cube of `n` (200 terms: 4.3 s). Names only need to tell a projection's columns apart, and
/// kql aliases every column it projects.
pub fn short_schema_name(name: &str, args: &[Expr]) -> String {
    let mut out = String::new();
    short_call_name(&mut out, name, args, NAME_DEPTH);
    out
}

/// How deep the name of a kql function's call looks into its arguments.
const NAME_DEPTH: usize = 3;

/// `name(arg, ...)` where each argument is named down to `depth` levels and `…` below.
fn short_call_name(out: &mut String, name: &str, args: &[Expr], depth: usize) {
    out.push_str(name);
    out.push('(');
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        short_name(out, arg, depth);
    }
    out.push(')');
}

fn short_name(out: &mut String, e: &Expr, depth: usize) {
    match e {
        Expr::Column(c) => out.push_str(&c.name),
        Expr::Literal(v, _) => {
            let _ = write!(out, "{v}");
        }
        _ if depth == 0 => out.push('…'),
        Expr::ScalarFunction(f) => short_call_name(out, f.name(), &f.args, depth - 1),
        Expr::Cast(c) => short_name(out, &c.expr, depth),
        Expr::BinaryExpr(b) => {
            short_name(out, &b.left, depth - 1);
            let _ = write!(out, " {} ", b.op);
            short_name(out, &b.right, depth - 1);
        }
        _ => out.push('…'),
    }
}

impl ScalarUDFImpl for KqlUdf {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        (self.return_type)(arg_types)
    }
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        Ok(short_schema_name(self.name, args))
    }
    fn return_field_from_args(&self, args: datafusion::logical_expr::ReturnFieldArgs) -> Result<arrow::datatypes::FieldRef> {
        let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
        let field = arrow::datatypes::Field::new(self.name, (self.return_type)(&types)?, true);
        Ok(std::sync::Arc::new(if self.returns_dynamic { crate::types::dynamic_field(field) } else { field }))
    }
    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        Ok(self.ordering.map_or(SortProperties::Unordered, |ordering| ordering(inputs)))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match self.invoke {
            Invoke::Plain(f) => f(&args.args, args.number_rows),
            Invoke::Configured(f) => f(&args.args, args.number_rows, &args.config_options),
        }
    }
}

/// Declares the vectorised UDFs once: the `Udfs` struct the planner reads (`udfs().tostring`)
/// and the list `Udfs::all` that registers them in a session (see `registry`).
macro_rules! declare_udfs {
    ($($field:ident = $constructor:expr,)*) => {
        /// Every vectorised UDF the planner may call, built once per process.
        pub struct Udfs {
            $(pub $field: Arc<ScalarUDF>,)*
        }

        impl Udfs {
            fn build() -> Udfs {
                Udfs { $($field: Arc::new($constructor),)* }
            }

            /// Every one of them, for the session's function registry.
            pub fn all(&self) -> Vec<&Arc<ScalarUDF>> {
                vec![$(&self.$field,)*]
            }
        }
    };
}

declare_udfs! {
    long_arith = arithmetic::long_arith(),
    long_chain = arithmetic::long_chain(),
    real_chain = arithmetic::real_chain(),
    modulo = arithmetic::modulo(),
    ipv4_is_private = ip::ipv4_is_private(),
    ipv4_is_in_range = ip::ipv4_is_in_range(),
    ipv4_is_in_any_range = ip::ipv4_is_in_any_range(),
    bin = datetime::bin(),
    datetime_diff = datetime::datetime_diff(),
    tostring = conversion::tostring(),
    todatetime = conversion::todatetime(),
    tolong = conversion::tolong(),
    toint = conversion::toint(),
    toreal = conversion::toreal(),
    totimespan = conversion::totimespan(),
    tobool = conversion::tobool(),
    strlen = string::strlen(),
    string_test = string::string_test(),
    string_test_any = string::string_test_any(),
    parse_groups = string::parse_groups(),
    percentile = library::percentile(),
    percentile_long = library::percentile_long(),
    percentiles_array = library::percentiles_array(),
    series_fill = library::series_fill(),
    series_axis = library::series_axis(),
    kv_value = kv::kv_value(),
    merge_sets = library::merge_sets(),
    collected_values = library::collected_values(),
    build_schema = library::build_schema(),
    parse_json = dynamic::parse_json(),
    to_dynamic = dynamic::to_dynamic(),
    dyn_get = dynamic::get(),
    dyn_members = dynamic::members(),
    dyn_member_at = dynamic::member_at(),
    dyn_to_string = dynamic::to_string(),
    dyn_to_real = dynamic::to_real(),
    dyn_to_long = dynamic::to_long(),
    dyn_to_bool = dynamic::to_bool(),
    array_length = dynamic::array_length(),
    bag_keys = dynamic::bag_keys(),
    pack_array = dynamic::pack_array(),
    bag_pack = dynamic::bag_pack(),
    bag_pack_ignoring_null_empty = dynamic::bag_pack_ignoring_null_empty(),
    expand = dynamic::expand(),
    expand_index = dynamic::expand_index(),
    split = dynamic::split(),
    dyn_type = dynamic::dyn_type_name(),
}

pub fn udfs() -> &'static Udfs {
    static UDFS: std::sync::OnceLock<Udfs> = std::sync::OnceLock::new();
    UDFS.get_or_init(Udfs::build)
}

/// Read access to a string array whatever its encoding (Parquet strings arrive as Utf8View).
pub enum StrArray<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> StrArray<'a> {
    pub fn try_new(array: &'a ArrayRef) -> Result<StrArray<'a>> {
        Ok(match array.data_type() {
            DataType::Utf8 => StrArray::Utf8(array.as_string::<i32>()),
            DataType::LargeUtf8 => StrArray::Large(array.as_string::<i64>()),
            DataType::Utf8View => StrArray::View(array.as_string_view()),
            // KQL's type name: Arrow's (`Int64`, `Timestamp(µs, "UTC")`) means nothing to a hunter.
            other => return exec_err!("expected a string or dynamic value, got a {}", crate::types::kql_type_of(other)),
        })
    }

    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            StrArray::Utf8(a) => (!a.is_null(i)).then(|| a.value(i)),
            StrArray::Large(a) => (!a.is_null(i)).then(|| a.value(i)),
            StrArray::View(a) => (!a.is_null(i)).then(|| a.value(i)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn len(&self) -> usize {
        match self {
            StrArray::Utf8(a) => a.len(),
            StrArray::Large(a) => a.len(),
            StrArray::View(a) => a.len(),
        }
    }
}

pub fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// The string value of a scalar argument (a constant pattern, unit name, range ...).
pub fn scalar_str(v: &ColumnarValue) -> Option<String> {
    match v {
        ColumnarValue::Scalar(s) => match s {
            datafusion::scalar::ScalarValue::Utf8(v)
            | datafusion::scalar::ScalarValue::LargeUtf8(v)
            | datafusion::scalar::ScalarValue::Utf8View(v) => v.clone(),
            _ => None,
        },
        ColumnarValue::Array(_) => None,
    }
}

/// The arguments as arrays of `rows` rows.
pub fn arrays(args: &[ColumnarValue], rows: usize) -> Result<Vec<ArrayRef>> {
    args.iter().map(|a| a.to_array(rows)).collect()
}

/// Wraps a computed array as a scalar result when every input was a scalar, so constant
/// expressions stay constants.
pub fn result(args: &[ColumnarValue], array: ArrayRef) -> Result<ColumnarValue> {
    if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) && array.len() == 1 {
        Ok(ColumnarValue::Scalar(datafusion::scalar::ScalarValue::try_from_array(&array, 0)?))
    } else {
        Ok(ColumnarValue::Array(array))
    }
}
