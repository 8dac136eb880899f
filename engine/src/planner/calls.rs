//! Function calls: user functions, then KQL's built-ins. Each built-in checks its arguments
//! here, where the call's place in the text is known.

use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Expr, ExprSchemable, Operator, when};
use datafusion::prelude::lit;
use kql_grammar::ast::{self, CallArg, ExprKind, Ident, Span};
use std::ops::Not;

use super::Binding;
use super::expr::{ExprPlanner, datetime_plus};
use crate::error::{KqlError, Result};
use crate::functions::catalog::{self, FunctionKind};
use crate::functions::{self, is_string};
use crate::types::{TIMESPAN, kql_type_of};

/// Functions every argument of which must be a dynamic array, as the official analyzer checks
/// ("The expression value must be a dynamic array").
const ARRAY_ARGUMENTS: &[&str] = &["array_concat", "set_union", "set_intersect", "set_difference"];

/// Every function name kql knows (the catalog's), sorted, for completion.
pub fn supported_functions() -> Vec<&'static str> {
    let mut all: Vec<&str> = catalog::catalog().iter().filter(|d| d.kind != FunctionKind::Plugin).map(|d| d.name).collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Library functions with a regular expression argument, and its position.
const REGEX_ARGUMENTS: [(&str, usize); 6] =
    [("extract", 0), ("extract_all", 0), ("replace_regex", 1), ("trim", 0), ("trim_start", 0), ("trim_end", 0)];

impl ExprPlanner<'_, '_> {
    /// `coalesce`, `min_of` and `max_of` take arguments of one type (numbers mix); Kusto's
    /// analyzer rejects the rest, and DataFusion's own message would say nothing of KQL.
    fn same_type_arguments(&self, function: &str, values: &[Expr], args: &[&ast::Expr]) -> Result<()> {
        let mut first: Option<(DataType, &'static str)> = None;
        for (v, a) in values.iter().zip(args) {
            let t = v.get_type(self.schema.as_ref()).map_err(|e| KqlError::from(e).or_at(a.span))?;
            if t == DataType::Null {
                continue;
            }
            let name = crate::types::kql_type_of(&t);
            match &first {
                None => first = Some((t, name)),
                Some((f, fname)) => {
                    let numbers = f.is_numeric() && t.is_numeric();
                    if *fname != name && !numbers {
                        return Err(KqlError::at(
                            a.span,
                            format!("{function}() takes arguments of one type: this one is {name}, an earlier one {fname}"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Numbers of different types in the branches of `iff`/`case` take one type, as Kusto's
    /// analyzer types them (int with long is long; with real, real; with decimal, decimal).
    fn unify_numbers(&self, values: Vec<Expr>) -> Result<Vec<Expr>> {
        let types: Vec<DataType> = values.iter().map(|v| v.get_type(self.schema.as_ref())).collect::<std::result::Result<_, _>>()?;
        let numbers: Vec<&DataType> = types.iter().filter(|t| t.is_numeric()).collect();
        if numbers.windows(2).all(|w| w[0] == w[1]) {
            return Ok(values);
        }
        let target = if numbers.iter().any(|t| matches!(t, DataType::Decimal128(..))) {
            crate::types::DECIMAL
        } else if numbers.iter().any(|t| t.is_floating()) {
            DataType::Float64
        } else {
            DataType::Int64
        };
        Ok(values
            .into_iter()
            .zip(types)
            .map(|(v, t)| if t.is_numeric() && t != target { datafusion::prelude::cast(v, target.clone()) } else { v })
            .collect())
    }

    pub(super) fn call(&self, name: &Ident, args: &[CallArg], span: Span) -> Result<Expr> {
        if let Some(Binding::Function(f)) = self.env.get(&name.name) {
            let f = f.clone();
            let inner = self.planner.bind_arguments(self.env, &f, args, span, Some(self))?;
            let _body = self.planner.places.inside_function();
            let Some(body) = f.body.result.as_expr().filter(|_| !self.planner.is_tabular(&inner, &f.body.result)) else {
                return Err(KqlError::at(span, format!("'{}' returns a table, not a scalar value", name.name)));
            };
            return ExprPlanner::new(self.planner, &inner, self.schema.clone(), self.order).plan(body).map_err(|e| f.locate_error(e, span));
        }
        let n = name.name.as_str();
        self.planner.places.record(n, span);
        // The engine's own helpers (`__kql_...`, which tuple functions expand to) are no KQL
        // functions and not in the catalog.
        if n.starts_with("__kql_")
            && let Some(helper) = functions::library::library().get(n)
        {
            let values = scalar_args(args)?.into_iter().map(|a| self.plan(a)).collect::<Result<Vec<_>>>()?;
            return Ok(helper.udf.call(values));
        }
        // Only the catalog's functions exist, with the arity it gives.
        let Some(def) = catalog::lookup_kind(n, FunctionKind::Scalar).or_else(|| catalog::lookup_kind(n, FunctionKind::Window)) else {
            return Err(match catalog::lookup(n).map(|d| d.kind) {
                Some(FunctionKind::Aggregate) => KqlError::at(span, format!("aggregate function {n}() is only allowed in summarize")),
                Some(FunctionKind::Tuple) => {
                    KqlError::at(span, format!("{n}() gives several columns: use it as a whole extend or project item"))
                }
                _ => KqlError::at(name.span, format!("unknown function '{n}'")),
            });
        };
        if !def.accepts(args.len()) {
            return Err(KqlError::at(span, def.arity_message(args.len())));
        }
        // Kusto's obsolete names (Microsoft's analyzer marks them so, with the function that
        // replaced them) are that function, once their own arity is checked.
        if let Some(current) = obsolete_alias(n) {
            return self.call(&Ident { name: current.to_string(), span: name.span }, args, span);
        }
        if name.name == "column_names_of" {
            // The names of a tabular expression's columns, known when the query is planned.
            let [arg] = args else {
                return Err(KqlError::at(span, "column_names_of() takes one tabular expression"));
            };
            let tab = self.planner.plan_tabular(self.env, &arg.value)?;
            let names: Vec<serde_json::Value> =
                tab.plan.schema().fields().iter().map(|f| serde_json::Value::String(f.name().clone())).collect();
            return Ok(functions::udfs().parse_json.call(vec![lit(serde_json::Value::Array(names).to_string())]));
        }
        if name.name == "toscalar" {
            let [arg] = args else {
                return Err(KqlError::at(span, "toscalar() takes one tabular expression"));
            };
            // `toscalar(2)`: a scalar is its own value.
            if let Some(e) = arg.value.as_expr()
                && !self.planner.is_tabular(self.env, &arg.value)
            {
                return self.plan(e);
            }
            let plan = self.first_column(&arg.value)?;
            let plan = datafusion::logical_expr::LogicalPlanBuilder::from(plan).limit(0, Some(1))?.build()?;
            return Ok(datafusion::logical_expr::expr_fn::scalar_subquery(std::sync::Arc::new(plan)));
        }
        let args = scalar_args(args)?;
        let udfs = functions::udfs();
        match n {
            "now" => {
                let now = Expr::Literal(functions::datetime::datetime_scalar(Some(self.planner.now)), None);
                match args.first() {
                    Some(offset) => Ok(datetime_plus(now, self.timespan_arg(n, offset)?, Operator::Plus)),
                    None => Ok(now),
                }
            }
            "ago" => {
                let now = Expr::Literal(functions::datetime::datetime_scalar(Some(self.planner.now)), None);
                Ok(datetime_plus(now, self.timespan_arg(n, args[0])?, Operator::Minus))
            }
            "bin" | "floor" => {
                let x = self.plan(args[0])?;
                let size = self.plan(args[1])?;
                let (xt, st) = (self.type_of(&x, args[0].span)?, self.type_of(&size, args[1].span)?);
                let ok = match &xt {
                    datafusion::arrow::datatypes::DataType::Timestamp(..) => st == TIMESPAN,
                    t if *t == TIMESPAN => st == TIMESPAN,
                    // Kusto's bin() rounds ints, longs, reals, datetimes and timespans.
                    datafusion::arrow::datatypes::DataType::Decimal128(..) => false,
                    t if t.is_numeric() => st.is_numeric(),
                    datafusion::arrow::datatypes::DataType::Null => true,
                    _ => false,
                };
                if !ok {
                    return Err(KqlError::at(span, format!("{n}() cannot round a {} to a {}", kql_type_of(&xt), kql_type_of(&st))));
                }
                Ok(udfs.bin.call(vec![x, size]))
            }
            "bin_auto" => {
                // bin_at(x, size, at) with the size and origin `set query_bin_auto_size` and
                // `set query_bin_auto_at` gave.
                let option = |o: &str| {
                    let name = super::set_option_name(o);
                    self.env.get(&name).is_some().then(|| ast::Expr::new(ExprKind::Name(name), span))
                };
                let Some(size) = option("query_bin_auto_size") else {
                    return Err(KqlError::at(span, "bin_auto() needs the bin size: set query_bin_auto_size=...; before the query"));
                };
                let arg = |e: ast::Expr| CallArg {
                    name: None,
                    value: ast::PipeExpr { span: e.span, source: ast::Source::Expr(e), operators: vec![] },
                };
                let (function, call_args) = match option("query_bin_auto_at") {
                    Some(at) => ("bin_at", vec![arg(args[0].clone()), arg(size), arg(at)]),
                    None => ("bin", vec![arg(args[0].clone()), arg(size)]),
                };
                self.plan(&ast::Expr::new(ExprKind::Call { name: ast::Ident { name: function.into(), span }, args: call_args }, span))
            }
            "bin_at" => {
                // bin_at(x, size, at) is bin(x - at, size) + at: bins aligned on `at`.
                let sub = ast::Expr::new(
                    ExprKind::Binary { op: ast::BinaryOp::Sub, left: Box::new(args[0].clone()), right: Box::new(args[2].clone()) },
                    span,
                );
                let bin = ast::Expr::new(
                    ExprKind::Call {
                        name: ast::Ident { name: "bin".into(), span },
                        args: [sub, args[1].clone()]
                            .into_iter()
                            .map(|e| CallArg {
                                name: None,
                                value: ast::PipeExpr { span: e.span, source: ast::Source::Expr(e), operators: vec![] },
                            })
                            .collect(),
                    },
                    span,
                );
                self.plan(&ast::Expr::new(
                    ExprKind::Binary { op: ast::BinaryOp::Add, left: Box::new(bin), right: Box::new(args[2].clone()) },
                    span,
                ))
            }
            "datetime_diff" => {
                let unit = match &args[0].kind {
                    ExprKind::Literal(ast::Literal::String(u)) => u.clone(),
                    _ => return Err(KqlError::at(args[0].span, "datetime_diff() takes the unit as a string constant")),
                };
                if functions::datetime::diff_unit(&unit).is_none() {
                    return Err(KqlError::at(args[0].span, format!("datetime_diff(): unknown unit '{unit}'")));
                }
                let a = self.datetime_arg(n, args[1])?;
                let b = self.datetime_arg(n, args[2])?;
                Ok(udfs.datetime_diff.call(vec![lit(unit), a, b]))
            }
            "todecimal" => {
                // Strings parse exactly; what does not convert is null. A bool, datetime or
                // timespan goes through tolong() first, so `todecimal(datetime)` counts the same
                // ticks `tolong` does and `todecimal(true)` is 1 (Arrow casts none of them).
                let x = self.scalar_of(args[0])?;
                let x = match self.type_of(&x, args[0].span)? {
                    DataType::Boolean | DataType::Timestamp(..) | DataType::Duration(_) => udfs.tolong.call(vec![x]),
                    _ => x,
                };
                Ok(crate::types::to_decimal(x))
            }
            "toreal" | "todouble" => Ok(udfs.toreal.call(vec![self.scalar_of(args[0])?])),
            "tolong" => Ok(udfs.tolong.call(vec![self.scalar_of(args[0])?])),
            "toint" => Ok(udfs.toint.call(vec![self.scalar_of(args[0])?])),
            "tostring" => self.as_string(args[0]),
            "totimespan" | "totime" => {
                let x = self.scalar_of(args[0])?;
                // Kusto documents no timespan for a datetime; refuse rather than guess one.
                match self.type_of(&x, args[0].span)? {
                    DataType::Timestamp(..) => {
                        return Err(KqlError::at(
                            args[0].span,
                            format!("{n}() converts text or a number, not a datetime (subtract a datetime to get a timespan)"),
                        ));
                    }
                    DataType::Boolean => return Err(KqlError::at(args[0].span, format!("{n}() converts text or a number, not a bool"))),
                    _ => {}
                }
                Ok(udfs.totimespan.call(vec![x]))
            }
            "tobool" | "toboolean" => Ok(udfs.tobool.call(vec![self.scalar_of(args[0])?])),
            "todatetime" => {
                let x = self.scalar_of(args[0])?;
                // Kusto documents no datetime for a bool or a timespan; refuse rather than guess.
                match self.type_of(&x, args[0].span)? {
                    DataType::Boolean => return Err(KqlError::at(args[0].span, format!("{n}() converts text or a number, not a bool"))),
                    t if t == TIMESPAN => {
                        return Err(KqlError::at(
                            args[0].span,
                            format!("{n}() converts text or a number, not a timespan (add it to a datetime, e.g. now() + 1d)"),
                        ));
                    }
                    _ => {}
                }
                Ok(udfs.todatetime.call(vec![x]))
            }
            "parse_json" | "parsejson" | "todynamic" | "toobject" => {
                let x = self.plan(args[0])?;
                if self.is_dynamic(&x, args[0].span)? {
                    return Ok(x);
                }
                let t = self.type_of(&x, args[0].span)?;
                if is_string(&t) { Ok(udfs.parse_json.call(vec![x])) } else { Ok(udfs.to_dynamic.call(vec![x, lit(false)])) }
            }
            "bag_keys" => Ok(udfs.bag_keys.call(vec![self.plan(args[0])?])),
            "pack_array" => {
                let mut values = Vec::new();
                let mut flags = Vec::new();
                for a in &args {
                    let x = self.plan(a)?;
                    flags.push(lit(self.is_dynamic(&x, a.span)?));
                    values.push(x);
                }
                values.extend(flags);
                Ok(udfs.pack_array.call(values))
            }
            "assert" => {
                let condition = self.bool_arg(n, args[0])?;
                let message = self.string_arg(n, args[1])?;
                Ok(crate::functions::special::assert_udf().call(vec![condition, message]))
            }
            "bag_pack_columns" => {
                // `bag_pack_columns(a, b)` is `bag_pack("a", a, "b", b)`.
                if args.is_empty() {
                    return Err(KqlError::at(span, "bag_pack_columns() takes columns"));
                }
                let mut values = Vec::new();
                let mut flags = Vec::new();
                for a in &args {
                    let Some(column) = super::names::inferred_name(a) else {
                        return Err(KqlError::at(a.span, "bag_pack_columns() takes column names"));
                    };
                    values.push(lit(column));
                    let v = self.plan(a)?;
                    flags.push(lit(self.is_dynamic(&v, a.span)?));
                    values.push(v);
                }
                values.extend(flags);
                Ok(udfs.bag_pack.call(values))
            }
            "pack" | "bag_pack" | "pack_dictionary" => {
                if args.len() % 2 != 0 || args.is_empty() {
                    return Err(KqlError::at(span, format!("{n}() takes pairs of key and value")));
                }
                let mut values = Vec::new();
                let mut flags = Vec::new();
                for pair in args.chunks(2) {
                    values.push(self.as_string(pair[0])?);
                    let v = self.plan(pair[1])?;
                    flags.push(lit(self.is_dynamic(&v, pair[1].span)?));
                    values.push(v);
                }
                values.extend(flags);
                Ok(udfs.bag_pack.call(values))
            }
            "pack_all" => {
                let mut values = Vec::new();
                let mut flags = Vec::new();
                for f in self.schema.fields() {
                    values.push(lit(f.name().clone()));
                    values.push(Expr::Column(datafusion::common::Column::new_unqualified(f.name())));
                    flags.push(lit(crate::types::is_dynamic_field(f)));
                }
                values.extend(flags);
                // pack_all(ignore_null_empty): a constant; true drops null and empty values.
                let ignore_null_empty = match args.first() {
                    None => false,
                    Some(flag) => match &flag.kind {
                        ExprKind::Literal(ast::Literal::Bool(b)) => *b,
                        _ => return Err(KqlError::at(flag.span, "pack_all() takes ignore_null_empty as a constant bool")),
                    },
                };
                Ok(if ignore_null_empty { udfs.bag_pack_ignoring_null_empty.call(values) } else { udfs.bag_pack.call(values) })
            }
            "split" => {
                let mut call_args = vec![self.as_string(args[0])?, self.as_string(args[1])?];
                if let Some(i) = args.get(2) {
                    call_args.push(self.typed_arg(n, i, "long", |t| t.is_integer())?);
                }
                Ok(udfs.split.call(call_args))
            }
            "gettype" => {
                let x = self.plan(args[0])?;
                if self.is_dynamic(&x, args[0].span)? {
                    return Ok(udfs.dyn_type.call(vec![x]));
                }
                let t = self.type_of(&x, args[0].span)?;
                Ok(lit(kql_type_of(&t).to_string()))
            }
            "strlen" => Ok(udfs.strlen.call(vec![self.as_string(args[0])?])),
            "tolower" => Ok(datafusion::functions::string::expr_fn::lower(self.as_string(args[0])?)),
            "toupper" => Ok(datafusion::functions::string::expr_fn::upper(self.as_string(args[0])?)),
            "strcat" => {
                let parts = args.iter().map(|a| self.as_string(a)).collect::<Result<Vec<_>>>()?;
                Ok(datafusion::functions::string::expr_fn::concat(parts))
            }
            "iff" | "iif" => {
                let c = self.bool_arg(n, args[0])?;
                let (a, b) = (self.plan(args[1])?, self.plan(args[2])?);
                self.same_type_arguments(n, &[a.clone(), b.clone()], &args[1..])?;
                let unified = self.unify_numbers(vec![a, b])?;
                let (a, b) = (unified[0].clone(), unified[1].clone());
                let dynamic = self.is_dynamic(&a, args[1].span)? || self.is_dynamic(&b, args[2].span)?;
                let chosen = when(c, a).otherwise(b)?;
                // CASE drops the `dynamic` tag of its branches; put it back.
                Ok(if dynamic { crate::types::as_dynamic(chosen) } else { chosen })
            }
            "case" => {
                if args.len() < 3 || args.len() % 2 == 0 {
                    return Err(KqlError::at(span, "case() takes pairs of (predicate, value) and a final else value"));
                }
                let mut branches = Vec::new();
                for pair in args[..args.len() - 1].chunks(2) {
                    branches.push((self.bool_arg(n, pair[0])?, self.plan(pair[1])?));
                }
                let otherwise = self.plan(args[args.len() - 1])?;
                // The values (every second argument and the last) share one type.
                let values: Vec<Expr> = branches.iter().map(|(_, v)| v.clone()).chain(std::iter::once(otherwise.clone())).collect();
                let value_args: Vec<&ast::Expr> =
                    args.iter().skip(1).step_by(2).copied().chain(std::iter::once(args[args.len() - 1])).collect();
                self.same_type_arguments(n, &values, &value_args)?;
                let dynamic =
                    values.iter().zip(&value_args).try_fold(false, |any, (v, a)| Ok::<_, KqlError>(any || self.is_dynamic(v, a.span)?))?;
                let mut values = self.unify_numbers(values)?;
                let otherwise = values.pop().unwrap_or(otherwise);
                let mut builder = None::<datafusion::logical_expr::conditional_expressions::CaseBuilder>;
                for ((c, _), v) in branches.into_iter().zip(values) {
                    builder = Some(match builder {
                        None => when(c, v),
                        Some(mut b) => b.when(c, v),
                    });
                }
                let chosen = match builder {
                    Some(mut b) => b.otherwise(otherwise)?,
                    None => otherwise,
                };
                // CASE drops the `dynamic` tag of its values; put it back.
                Ok(if dynamic { crate::types::as_dynamic(chosen) } else { chosen })
            }
            "isempty" | "isnotempty" | "notempty" | "empty" => {
                let n = if n == "notempty" {
                    "isnotempty"
                } else if n == "empty" {
                    "isempty"
                } else {
                    n
                };
                let x = self.plan(args[0])?;
                let t = self.type_of(&x, args[0].span)?;
                let empty = if is_string(&t) { x.clone().is_null().or(x.eq(lit(""))) } else { x.is_null() };
                Ok(if n == "isempty" { empty } else { empty.not() })
            }
            "isnull" | "isnotnull" => {
                let x = self.plan(args[0])?;
                Ok(if n == "isnull" { x.is_null() } else { x.is_not_null() })
            }
            "not" => {
                // Kusto's and/or never give null (see nulls.rs), so `not` of one is exact; `not`
                // of a null comparison stays null, as in Kusto.
                Ok(self.bool_arg(n, args[0])?.not())
            }
            "ipv4_is_private" => Ok(udfs.ipv4_is_private.call(vec![self.string_arg(n, args[0])?])),
            "ipv4_is_in_range" => Ok(udfs.ipv4_is_in_range.call(vec![self.string_arg(n, args[0])?, self.string_arg(n, args[1])?])),
            "ipv4_is_in_any_range" => {
                let mut call_args = vec![self.string_arg(n, args[0])?];
                for a in &args[1..] {
                    for r in self.spread(a)? {
                        match &r {
                            Expr::Literal(ScalarValue::Utf8(Some(text)), _) => {
                                if functions::ip::parse_ipv4_net(text).is_none() {
                                    return Err(KqlError::at(a.span, format!("'{text}' is not an IPv4 address or range")));
                                }
                            }
                            _ => {
                                return Err(KqlError::at(
                                    a.span,
                                    "ipv4_is_in_any_range() takes its ranges as constant strings or a dynamic array of them",
                                ));
                            }
                        }
                        call_args.push(r);
                    }
                }
                Ok(udfs.ipv4_is_in_any_range.call(call_args))
            }
            "array_length" | "arraylength" => match self.dynamic_constant(args[0]) {
                Some(ast::DynValue::Array(items)) => Ok(lit(items.len() as i64)),
                Some(_) => Ok(Expr::Literal(ScalarValue::Int64(None), None)),
                None => Ok(udfs.array_length.call(vec![self.plan(args[0])?])),
            },
            "next" | "prev" | "row_number" | "row_cumsum" | "row_rank_min" | "row_rank_dense" | "row_window_session" => {
                self.window_call(n, &args, span)
            }
            "coalesce" => {
                let values = args.iter().map(|a| self.plan(a)).collect::<Result<Vec<_>>>()?;
                self.same_type_arguments(n, &values, &args)?;
                let dynamic =
                    values.iter().zip(&args).try_fold(false, |any, (v, a)| Ok::<_, KqlError>(any || self.is_dynamic(v, a.span)?))?;
                // Kusto skips empty strings as well as nulls ("the first non-null, or non-empty
                // for string, expression"): `coalesce(SrcHostname, SrcIpAddr)` gives the address
                // when the host name is "". The last argument stays as it is, so a call whose
                // arguments are all empty gives "" rather than a null.
                let last = values.len().saturating_sub(1);
                let mut skipping = Vec::with_capacity(values.len());
                for (i, (v, a)) in values.into_iter().zip(&args).enumerate() {
                    let text = i < last && !dynamic && is_string(&self.type_of(&v, a.span)?);
                    skipping.push(if text { datafusion::functions::core::expr_fn::nullif(v, lit("")) } else { v });
                }
                let chosen = functions::coalesce::coalesce(skipping);
                // `coalesce` drops the `dynamic` tag of its arguments; put it back.
                Ok(if dynamic { crate::types::as_dynamic(chosen) } else { chosen })
            }
            "max_of" | "min_of" => {
                let values = args.iter().map(|a| self.plan(a)).collect::<Result<Vec<_>>>()?;
                self.same_type_arguments(n, &values, &args)?;
                Ok(if n == "max_of" {
                    datafusion::functions::core::expr_fn::greatest(values)
                } else {
                    datafusion::functions::core::expr_fn::least(values)
                })
            }
            "round" => {
                // round() keeps an integer an integer, as Kusto types it (round(7) is a long);
                // to zero or more digits it is the number itself.
                let x = self.plan(args[0])?;
                let t = self.type_of(&x, args[0].span)?;
                let digits = args.get(1).map(|d| self.plan(d)).transpose()?;
                if !t.is_integer() {
                    return Ok(functions::library::library()["round"].udf.call(std::iter::once(x).chain(digits).collect()));
                }
                match &digits {
                    None => Ok(x),
                    Some(Expr::Literal(v, _))
                        if v.clone().cast_to(&DataType::Int64).is_ok_and(|d| matches!(d, ScalarValue::Int64(Some(n)) if n >= 0)) =>
                    {
                        Ok(x)
                    }
                    Some(_) => {
                        let real = datafusion::prelude::cast(x, DataType::Float64);
                        let rounded = functions::library::library()["round"].udf.call(std::iter::once(real).chain(digits).collect());
                        Ok(datafusion::prelude::cast(rounded, t))
                    }
                }
            }
            "abs" => {
                let x = self.typed_arg(n, args[0], "number or timespan", |t| t.is_numeric() || *t == TIMESPAN)?;
                // The argument appears once in the result: a CASE naming it three times made
                // nested abs() grow threefold per level.
                let is_timespan = x.get_type(self.schema.as_ref()).is_ok_and(|t| t == TIMESPAN);
                if is_timespan {
                    let ticks = datafusion::prelude::cast(x, DataType::Int64);
                    Ok(datafusion::prelude::cast(datafusion::functions::math::expr_fn::abs(ticks), TIMESPAN))
                } else {
                    // `abs()` of an `int` is a `long` in Kusto (Microsoft's analyzer types it so).
                    Ok(datafusion::functions::math::expr_fn::abs(super::expr::int_as_long(x, self.schema.as_ref())))
                }
            }
            "column_ifexists" | "columnifexists" => {
                // A literal, or a name bound to one (a function's `field: string` parameter,
                // as ASIM's `_ASIM_Resolve*` helpers take the column to read).
                let column = match &args[0].kind {
                    ExprKind::Literal(ast::Literal::String(column)) => column.clone(),
                    _ => match self.plan(args[0])?.unalias() {
                        Expr::Literal(datafusion::scalar::ScalarValue::Utf8(Some(column)), _) => column,
                        _ => return Err(KqlError::at(args[0].span, "column_ifexists() takes the column name as a string constant")),
                    },
                };
                if self.schema.has_column_with_unqualified_name(&column) {
                    Ok(Expr::Column(datafusion::common::Column::new_unqualified(&column)))
                } else {
                    self.plan(args[1])
                }
            }
            "extract" if args.len() == 4 => {
                // `extract(regex, group, text, typeof(T))` converts the match to T.
                let entry = &functions::library::library()["extract"];
                let regex = self.plan(args[0])?;
                self.check_regex_constant(&regex, args[0].span)?;
                let text = entry.udf.call(vec![regex, self.plan(args[1])?, self.plan(args[2])?]);
                self.convert_to_typeof(text, args[3])
            }

            "ingestion_time" => {
                // Files carry no ingestion time: it is null, as for tables without one in Kusto.
                Ok(Expr::Literal(functions::datetime::datetime_scalar(None), None))
            }
            "extract_json" | "extractjson" if args.len() == 3 => {
                let text = functions::library::library()["extract_json"].udf.call(vec![self.plan(args[0])?, self.plan(args[1])?]);
                self.convert_to_typeof(text, args[2])
            }
            "percentile_tdigest" if args.len() == 3 => {
                let p = functions::library::library()["percentile_tdigest"].udf.call(vec![self.plan(args[0])?, self.plan(args[1])?]);
                self.convert_to_typeof(p, args[2])
            }
            "typeof" => Err(KqlError::at(span, "typeof() names a type where a function asks for one")),
            _ if functions::library::library().contains_key(n) => {
                let entry = &functions::library::library()[n];
                let values = args.iter().map(|a| self.plan(a)).collect::<Result<Vec<_>>>()?;
                if let Some(&(_, i)) = REGEX_ARGUMENTS.iter().find(|(f, _)| *f == n)
                    && let (Some(value), Some(arg)) = (values.get(i), args.get(i))
                {
                    self.check_regex_constant(value, arg.span)?;
                }
                // `countof(text, search, "regex")`: the search is a regex only by its third argument.
                if n == "countof"
                    && let (Some(Expr::Literal(ScalarValue::Utf8(Some(kind)), _)), Some(value), Some(arg)) =
                        (values.get(2), values.get(1), args.get(1))
                    && kind == "regex"
                {
                    self.check_regex_constant(value, arg.span)?;
                }
                if ARRAY_ARGUMENTS.contains(&n) {
                    for (v, a) in values.iter().zip(&args) {
                        self.require_dynamic(v, a.span)?;
                    }
                }
                if n == "range" {
                    for (v, a) in values.iter().zip(&args) {
                        self.require_summable(v, a.span, n)?;
                    }
                }
                Ok(entry.udf.call(values))
            }
            // The catalog lists a function no arm implements: a test plans every catalog entry.
            _ => Err(KqlError::at(name.span, format!("internal error: {n}() is in the catalog but has no implementation"))),
        }
    }

    /// As the official analyzer: an argument that is added up (range()'s bounds and step)
    /// must be a number, timespan or datetime. A text step was taken as the default step, and
    /// `range(0, 9e18, "x")` built an array of a million values instead of failing.
    fn require_summable(&self, value: &Expr, span: Span, function: &str) -> Result<()> {
        if self.is_dynamic(value, span)? {
            return Ok(());
        }
        let t = self.type_of(value, span)?;
        if t.is_numeric() || matches!(t, DataType::Timestamp(..) | DataType::Duration(_) | DataType::Null) {
            return Ok(());
        }
        Err(KqlError::at(
            span,
            format!("{function}(): the argument must be a number, timespan or datetime, not {}", crate::types::kql_type_of(&t)),
        ))
    }

    /// Kusto rejects a query whose regex constant does not compile; an empty result per row
    /// would read as "no match".
    fn check_regex_constant(&self, value: &Expr, span: Span) -> Result<()> {
        if let Expr::Literal(ScalarValue::Utf8(Some(pattern)), _) = value
            && let Err(e) = functions::regex_syntax::compile(pattern)
        {
            return Err(KqlError::at(span, format!("invalid regular expression: {e}")));
        }
        Ok(())
    }

    /// Converts text to the type a `typeof(T)` argument names (`extract`, `extract_json`).
    fn convert_to_typeof(&self, text: Expr, t: &ast::Expr) -> Result<Expr> {
        let ty = match &t.kind {
            ExprKind::Call { name, args } if name.name == "typeof" => {
                args.first().and_then(|a| a.value.as_expr()).and_then(|e| match &e.kind {
                    ExprKind::Name(n) => ast::TypeName::from_name(n),
                    _ => None,
                })
            }
            _ => None,
        };
        let Some(ty) = ty else {
            return Err(KqlError::at(t.span, "expected a type as typeof(T)"));
        };
        let udfs = functions::udfs();
        Ok(match ty {
            ast::TypeName::Long => udfs.tolong.call(vec![text]),
            ast::TypeName::Int => udfs.toint.call(vec![text]),
            ast::TypeName::Real => udfs.toreal.call(vec![text]),
            ast::TypeName::Decimal => crate::types::to_decimal(text),
            ast::TypeName::DateTime => udfs.todatetime.call(vec![text]),
            ast::TypeName::TimeSpan => udfs.totimespan.call(vec![text]),
            ast::TypeName::Bool => udfs.tobool.call(vec![text]),
            ast::TypeName::Dynamic => udfs.parse_json.call(vec![text]),
            ast::TypeName::String | ast::TypeName::Guid => text,
        })
    }

    /// A value leaving the dynamic world for a conversion function: dynamic values as text.
    /// A dynamic value (or a null), else the analyzer's error at the argument.
    fn require_dynamic(&self, x: &Expr, span: Span) -> Result<()> {
        let null_literal = matches!(x, Expr::Literal(v, _) if v.is_null());
        if null_literal || self.is_dynamic(x, span)? {
            return Ok(());
        }
        Err(KqlError::at(span, "the expression value must be a dynamic array"))
    }

    fn scalar_of(&self, e: &ast::Expr) -> Result<Expr> {
        let x = self.plan(e)?;
        if self.is_dynamic(&x, e.span)? {
            return Ok(functions::udfs().dyn_to_string.call(vec![x]));
        }
        Ok(x)
    }

    fn typed_arg(&self, f: &str, e: &ast::Expr, want: &str, ok: impl Fn(&datafusion::arrow::datatypes::DataType) -> bool) -> Result<Expr> {
        let x = self.plan(e)?;
        let t = self.type_of(&x, e.span)?;
        if ok(&t) || t == datafusion::arrow::datatypes::DataType::Null {
            Ok(x)
        } else {
            Err(KqlError::at(e.span, format!("{f}() expects a {want} here, got {}", kql_type_of(&t))))
        }
    }

    fn timespan_arg(&self, f: &str, e: &ast::Expr) -> Result<Expr> {
        self.typed_arg(f, e, "timespan", |t| *t == TIMESPAN)
    }

    fn datetime_arg(&self, f: &str, e: &ast::Expr) -> Result<Expr> {
        self.typed_arg(f, e, "datetime", |t| matches!(t, datafusion::arrow::datatypes::DataType::Timestamp(..)))
    }

    fn bool_arg(&self, f: &str, e: &ast::Expr) -> Result<Expr> {
        self.typed_arg(f, e, "bool", |t| *t == datafusion::arrow::datatypes::DataType::Boolean)
    }

    fn string_arg(&self, f: &str, e: &ast::Expr) -> Result<Expr> {
        self.typed_arg(f, e, "string", is_string)
    }
}

/// The arguments of a built-in: plain scalar expressions, no names.
fn scalar_args(args: &[CallArg]) -> Result<Vec<&ast::Expr>> {
    args.iter()
        .map(|a| {
            if let Some(n) = &a.name {
                return Err(KqlError::at(n.span, "built-in functions take no named arguments"));
            }
            a.value.as_expr().ok_or_else(|| KqlError::at(a.value.span, "expected a scalar argument"))
        })
        .collect()
}

/// The function an obsolete name of Kusto's stands for, where kql plans the two alike. Older
/// aliases that kql plans under both names (`parsejson`, `makelist`, ...) are not here.
fn obsolete_alias(name: &str) -> Option<&'static str> {
    Some(match name {
        "datepart" => "datetime_part",
        "extractall" => "extract_all",
        "notnull" => "isnotnull",
        "parseurl" => "parse_url",
        "parseurlquery" => "parse_urlquery",
        "to_utf8" => "unicode_codepoints_from_string",
        _ => return None,
    })
}
