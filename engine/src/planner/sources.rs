//! Where rows come from: tables, `let` names, function calls, `datatable`, `range`, `print`.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, new_null_array};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::MemTable;
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlanBuilder};
use datafusion::prelude::cast;
use kql_grammar::ast::{self, CallArg, ExprKind, ParamType, PipeExpr, Source, Span};

use super::expr::ExprPlanner;
use super::names::next_column_name;
use super::projection::ExactProjection;
use super::{Binding, Env, Planner, Tabular, UserFunction};
use crate::error::{KqlError, Result};
use crate::range_table::{RangeTable, RangeValues};
use crate::types::{arrow_type, datetime_type};

/// `range` builds its rows in memory: past this many it is surely a mistake.
const MAX_RANGE_ROWS: usize = 100_000_000;

/// A join whose kind is innerunique, Kusto's default.
fn is_innerunique_join(op: &ast::Operator) -> bool {
    match &op.kind {
        ast::OperatorKind::Join { params, .. } => params.iter().find(|p| p.name == "kind").is_none_or(|p| p.value == "innerunique"),
        _ => false,
    }
}

impl Planner<'_> {
    pub fn plan_tabular(&self, env: &Env, pipe: &PipeExpr) -> Result<Tabular> {
        let mut tab = self.plan_source(env, &pipe.source, pipe.span)?;
        // `as X` names the rows so far for the operators after it (`| join (X | ...)`).
        let mut named: Option<Env> = None;
        for (i, op) in pipe.operators.iter().enumerate() {
            let scope = named.as_ref().unwrap_or(env);
            // Kusto pushes a `where` that follows an innerunique join and reads only left
            // columns below the join, so it filters before one left row per key is chosen.
            if let Some(next) = pipe.operators.get(i + 1)
                && is_innerunique_join(op)
                && let ast::OperatorKind::Where(_) = &next.kind
                && let Ok(filtered) = self.plan_operator(scope, tab.clone(), next)
            {
                tab = filtered;
            }
            tab = self.plan_operator(scope, tab, op)?;
            if let ast::OperatorKind::As { name, .. } = &op.kind {
                let mut e = named.take().unwrap_or_else(|| env.clone());
                e.bind(&name.name, Binding::Tabular(tab.clone()));
                named = Some(e);
            }
        }
        Ok(tab)
    }

    fn plan_source(&self, env: &Env, source: &Source, span: Span) -> Result<Tabular> {
        match source {
            Source::Expr(e) => self.plan_tabular_expr(env, e),
            Source::Datatable { columns, values, span } => self.plan_datatable(env, columns, values, *span),
            Source::Range { column, from, to, step, span } => self.plan_range(env, column, from, to, step, *span),
            Source::Print { columns, .. } => self.plan_print(env, columns, span),
            Source::Union { params, tables, span } => self.plan_union(env, None, params, tables, *span),
            Source::Search { params, tables, predicate, span } => self.plan_search(env, None, params, tables, predicate, *span),
            Source::Find { params, tables, predicate, project, span } => {
                let found = self.plan_search(env, None, params, tables, predicate, *span)?;
                self.plan_find_projection(found, project.as_deref())
            }
            Source::ExternalData { columns, urls, settings, span } => self.plan_externaldata(env, columns, urls, settings, *span),
        }
    }

    fn plan_tabular_expr(&self, env: &Env, e: &ast::Expr) -> Result<Tabular> {
        match &e.kind {
            ExprKind::Name(name) => match env.get(name) {
                Some(Binding::Tabular(t)) => Ok(t.clone()),
                Some(Binding::Function(f)) if f.callable_by_name() => self.call_tabular_function(env, f, &[], e.span),
                Some(Binding::Function(_)) => {
                    Err(KqlError::at(e.span, format!("function '{name}' needs arguments: call it as {name}(...)")))
                }
                Some(Binding::Scalar { .. }) => Err(KqlError::at(e.span, format!("'{name}' is a scalar, not a table"))),
                None => self.scan_table(name, e.span),
            },
            ExprKind::Call { name, args } => match env.get(&name.name) {
                Some(Binding::Function(f)) => self.call_tabular_function(env, f, args, e.span),
                _ => match name.name.as_str() {
                    "materialize" | "view" if args.len() == 1 => self.plan_tabular(env, &args[0].value),
                    "_GetWatchlist" => self.plan_watchlist(env, args, e.span),
                    // The name may be any constant string: a literal, or a function's parameter
                    // (`let aadFunc = (tableName: string) { table(tableName) | ... }`, as
                    // Sentinel's rules call it with each table they read).
                    "table" if args.len() == 1 => {
                        let value = args[0].value.as_expr().map(|a| self.constant_value(env, a)).transpose();
                        match value.ok().flatten().as_ref().and_then(ScalarValue::try_as_str).flatten() {
                            Some(name) => self.scan_table(name, e.span),
                            None => Err(KqlError::at(e.span, "table() takes a table name as a string")),
                        }
                    }
                    other => Err(KqlError::at(name.span, format!("unknown tabular function '{other}'"))),
                },
            },
            ExprKind::Subquery(p) => self.plan_tabular(env, p),
            _ => Err(KqlError::at(e.span, "expected a table, a tabular expression or a tabular function here")),
        }
    }

    /// `find ... project a, b`: `source_` (the table) then the columns asked for.
    fn plan_find_projection(&self, found: Tabular, project: Option<&[ast::ColumnPattern]>) -> Result<Tabular> {
        let fields: Vec<String> = found.plan.schema().fields().iter().map(|f| f.name().clone()).collect();
        let mut exprs = vec![Expr::Column(Column::new_unqualified("$table")).alias("source_")];
        match project {
            Some(cols) if !cols.is_empty() => {
                for c in cols {
                    if !fields.contains(&c.pattern) {
                        return Err(KqlError::at(c.span, format!("unknown column '{}'", c.pattern)));
                    }
                    exprs.push(Expr::Column(Column::new_unqualified(&c.pattern)));
                }
            }
            _ => exprs.extend(fields.iter().filter(|f| *f != "$table").map(|f| Expr::Column(Column::new_unqualified(f)))),
        }
        Ok(Tabular::unordered(LogicalPlanBuilder::from(found.plan).project_exact(exprs)?.build()?))
    }

    fn scan_table(&self, name: &str, span: Span) -> Result<Tabular> {
        let Some(table) = self.catalog.get(name) else {
            let known = self.catalog.names();
            let hint = if known.is_empty() {
                " (no tables are registered: use --table NAME=PATH or --data DIR)".to_string()
            } else {
                format!(" (known tables: {})", known.join(", "))
            };
            return Err(
                KqlError::at(span, format!("unknown table or name '{name}'{hint}")).with_kind(crate::error::ErrorKind::UnknownTable)
            );
        };
        let plan = LogicalPlanBuilder::scan(name, provider_as_source(table.provider.clone()), None)?.build()?;
        // Kusto has no null string: a table's nulls in string columns read as "".
        let plan = crate::strings_as_read::StringsAsReadNode::over(plan)?;
        // File types that are not KQL types (timestamps in other units, small integers) are
        // read as the KQL type. A value the KQL type cannot hold (a uint64 past long's range, a
        // timestamp past 9999) is null, not a failed query, nor a date Kusto cannot have.
        let columns: Vec<(String, Expr, arrow::datatypes::Field)> = plan
            .schema()
            .iter()
            .map(|(q, f)| {
                let c = Expr::Column(Column::new(q.cloned(), f.name()));
                if let Some(value) = crate::functions::file_types::as_kql_value(c.clone(), f) {
                    return Ok((f.name().clone(), value, f.as_ref().clone()));
                }
                let as_kql = crate::types::normalized_type(f.data_type());
                // Seconds, milliseconds and dates reach past Kusto's years 1 to 9999, and so do
                // microseconds: those values are null. A microsecond column is checked only
                // where its files' statistics show such a value (or nothing); nanoseconds
                // cannot reach past.
                let checked = crate::parquet_dates::is_wide(f.data_type()) || table.checked_micros.contains(f.name());
                match as_kql {
                    _ if checked => {
                        let x = match as_kql {
                            Some(t) => Expr::TryCast(datafusion::logical_expr::TryCast::new(Box::new(c), t)),
                            None => c,
                        };
                        let bound = |micros: i64| Expr::Literal(ScalarValue::TimestampMicrosecond(Some(micros), Some("UTC".into())), None);
                        let in_range =
                            x.clone().between(bound(kql_grammar::values::MIN_DATETIME), bound(kql_grammar::values::MAX_DATETIME));
                        Ok((f.name().clone(), datafusion::logical_expr::when(in_range, x).end()?, f.as_ref().clone()))
                    }
                    Some(t) => {
                        let value = Expr::TryCast(datafusion::logical_expr::TryCast::new(Box::new(c), t.clone()));
                        // A dictionary of strings (pandas' categories) reads as a string column,
                        // after the `StringsAsRead` node: its nulls are "" here.
                        let text = arrow::datatypes::Field::new(f.name(), t, f.is_nullable());
                        let value = super::nulls::string_as_read(value.clone(), &text).unwrap_or(value);
                        Ok((f.name().clone(), value, f.as_ref().clone()))
                    }
                    None => Ok((f.name().clone(), c, f.as_ref().clone())),
                }
            })
            .collect::<Result<_>>()?;
        // A table whose every column is read as it is needs no projection: the scan's own
        // output (its columns qualified by the table's name, where a projection would qualify
        // them by its own) is the table. A projection of every column of a wide table (67 for
        // `DeviceProcessEvents`) cost each optimizer rule a walk over all of them: the Sigma
        // rules over that table plan in 1.6 ms (median) instead of 2.9 ms without it.
        let as_read = |(name, e, _): &(String, Expr, arrow::datatypes::Field)| matches!(e, Expr::Column(c) if c.name == *name);
        if table.declared.is_none() && columns.iter().all(as_read) {
            return Ok(Tabular::unordered(plan));
        }
        // A `.create table` declaration converts the columns to the declared types.
        let exprs: Vec<Expr> = match &table.declared {
            Some(declared) => crate::declared::project(declared, columns),
            None => columns.into_iter().map(|(name, e, _)| e.alias(name)).collect(),
        };
        let plan = LogicalPlanBuilder::from(plan).project_exact(exprs)?.build()?;
        Ok(Tabular::unordered(plan))
    }

    /// Binds arguments to parameters (by position or by name, defaults for the rest) and plans
    /// the body in a scope of its own.
    pub(super) fn bind_arguments(
        &self,
        env: &Env,
        f: &UserFunction,
        args: &[CallArg],
        span: Span,
        caller: Option<&ExprPlanner>,
    ) -> Result<Env> {
        let mut inner = env.clone();
        inner.in_function_file |= f.source.is_some();
        let mut bound: Vec<Option<&CallArg>> = vec![None; f.params.len()];
        // Named arguments first; positional ones then fill the parameters left, in order.
        for arg in args {
            if let Some(n) = &arg.name {
                let index = f
                    .params
                    .iter()
                    .position(|p| p.name.name == n.name)
                    .ok_or_else(|| KqlError::at(n.span, format!("{} has no parameter named '{}'", f.name, n.name)))?;
                bound[index] = Some(arg);
            }
        }
        for arg in args.iter().filter(|a| a.name.is_none()) {
            let Some(index) = bound.iter().position(Option::is_none) else {
                return Err(KqlError::at(arg.value.span, format!("too many arguments: {} takes {}", f.name, f.params.len())));
            };
            bound[index] = Some(arg);
        }
        for (param, arg) in f.params.iter().zip(bound) {
            let binding = match (&param.ty, arg) {
                (ParamType::Tabular { .. }, Some(arg)) => Binding::Tabular(self.plan_tabular(env, &arg.value)?),
                (ParamType::Tabular { .. }, None) => {
                    return Err(KqlError::at(span, format!("{} needs its tabular argument '{}'", f.name, param.name.name)));
                }
                (ParamType::Scalar(ty), Some(arg)) => {
                    let e = arg.value.as_expr().ok_or_else(|| KqlError::at(arg.value.span, "expected a scalar argument"))?;
                    let dynamic = match &e.kind {
                        ExprKind::Literal(ast::Literal::Dynamic(d)) => Some(d.clone()),
                        ExprKind::Name(n) => match env.get(n) {
                            Some(Binding::Scalar { dynamic, .. }) => dynamic.clone(),
                            _ => None,
                        },
                        _ => None,
                    };
                    let planned = match caller {
                        Some(c) => c.plan(e)?,
                        None => self.plan_constant(env, e)?,
                    };
                    Binding::Scalar { expr: self.coerce_param(planned, *ty, e.span, caller)?, dynamic }
                }
                (ParamType::Scalar(ty), None) => {
                    let Some(default) = &param.default else {
                        return Err(KqlError::at(span, format!("{} needs its argument '{}'", f.name, param.name.name)));
                    };
                    let dynamic = match &default.kind {
                        ExprKind::Literal(ast::Literal::Dynamic(d)) => Some(d.clone()),
                        _ => None,
                    };
                    let planned = self.plan_constant(env, default).map_err(|e| f.locate_error(e, span))?;
                    Binding::Scalar {
                        expr: self.coerce_param(planned, *ty, default.span, None).map_err(|e| f.locate_error(e, span))?,
                        dynamic,
                    }
                }
            };
            inner.bind(&param.name.name, binding);
        }
        for l in &f.body.lets {
            // Called per row, a scalar let may read the arguments, which are the caller's
            // columns: it is planned over the caller's rows.
            match (caller, &l.value) {
                (Some(c), ast::LetValue::Expr(pipe)) if !self.is_tabular(&inner, pipe) && pipe.as_expr().is_some() => {
                    let e = pipe.as_expr().ok_or_else(|| KqlError::at(l.name.span, "expected a scalar"))?;
                    let expr = ExprPlanner::new(self, &inner, c.schema.clone(), c.order).plan(e).map_err(|e| f.locate_error(e, span))?;
                    inner.bind(&l.name.name, Binding::Scalar { expr, dynamic: None });
                }
                _ => self.plan_let(&mut inner, l).map_err(|e| f.locate_error(e, span))?,
            }
        }
        Ok(inner)
    }

    /// A typed null or a literal of another number type becomes the parameter's type.
    fn coerce_param(&self, e: Expr, ty: ast::TypeName, span: Span, caller: Option<&ExprPlanner>) -> Result<Expr> {
        let target = arrow_type(ty);
        if ty == ast::TypeName::Dynamic || ty == ast::TypeName::String {
            return Ok(e);
        }
        let schema = match caller {
            Some(c) => c.schema.clone(),
            None => Arc::new(datafusion::common::DFSchema::empty()),
        };
        let actual = e.get_type(schema.as_ref()).map_err(|err| KqlError::from(err).or_at(span))?;
        if actual == target {
            return Ok(e);
        }
        if actual == DataType::Null {
            return Ok(cast(e, target));
        }
        if actual.is_numeric() && target.is_numeric() {
            // A constant that does not fit the parameter's type is the caller's mistake: say so
            // here. A computed value that does not fit becomes null, never a wrapped number.
            if let Expr::Literal(value, _) = &e
                && !value.is_null()
                && value.cast_to(&target).map_or(true, |v| v.is_null())
            {
                let shown = match value {
                    ScalarValue::Float64(Some(f)) if f.abs() >= 1e15 => format!("{f:e}"),
                    other => other.to_string(),
                };
                let article = if ty.as_str().starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
                return Err(KqlError::at(span, format!("the value {shown} does not fit {article} {} parameter", ty.as_str())));
            }
            return Ok(datafusion::logical_expr::try_cast(e, target));
        }
        // Microsoft's analyzer accepts a timespan for a datetime parameter (an old version of
        // Sentinel's beaconing rule passes `starttime=2d`): both are tick counts in Kusto, so the
        // value is that many ticks after 0001-01-01.
        if ty == ast::TypeName::DateTime && matches!(actual, DataType::Duration(_)) {
            let origin = Expr::Literal(
                datafusion::common::ScalarValue::TimestampMicrosecond(Some(kql_grammar::values::MIN_DATETIME), Some("UTC".into())),
                None,
            );
            return Ok(cast(datafusion::logical_expr::binary_expr(origin, datafusion::logical_expr::Operator::Plus, e), target));
        }
        Err(KqlError::at(span, format!("expected a {} argument, got {}", ty.as_str(), crate::types::kql_type_of(&actual))))
    }

    fn call_tabular_function(&self, env: &Env, f: &Arc<UserFunction>, args: &[CallArg], span: Span) -> Result<Tabular> {
        let inner = self.bind_arguments(env, f, args, span, None)?;
        let _body = self.places.inside_function();
        if !self.is_tabular(&inner, &f.body.result) {
            return Err(KqlError::at(span, format!("{} returns a scalar, not a table", f.name)));
        }
        self.plan_tabular(&inner, &f.body.result).map_err(|e| f.locate_error(e, span))
    }

    /// Plans a scalar that reads no columns (a `let` value, an argument, a default).
    pub fn plan_constant(&self, env: &Env, e: &ast::Expr) -> Result<Expr> {
        let schema = Arc::new(datafusion::common::DFSchema::empty());
        ExprPlanner::new(self, env, schema, None).plan(e)
    }

    fn plan_print(&self, env: &Env, columns: &[ast::NamedExpr], _span: Span) -> Result<Tabular> {
        let columns = &super::tuples::expand(columns)?;
        let plan = LogicalPlanBuilder::empty(true).build()?;
        let planner = ExprPlanner::new(self, env, plan.schema().clone(), None);
        let mut exprs = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for (i, c) in columns.iter().enumerate() {
            let name = match c.names.as_slice() {
                [] => format!("print_{i}"),
                [n] => n.name.clone(),
                _ => return Err(KqlError::at(c.span, "print takes one name per expression")),
            };
            if names.contains(&name) {
                return Err(KqlError::at(c.span, format!("duplicate column name '{name}'")));
            }
            exprs.push(planner.plan(&c.expr)?.alias(&name));
            names.push(name);
        }
        let plan = LogicalPlanBuilder::from(plan).project_exact(exprs)?.build()?;
        Ok(Tabular::unordered(plan))
    }

    fn plan_datatable(&self, env: &Env, columns: &[ast::ColumnDecl], values: &[ast::Expr], span: Span) -> Result<Tabular> {
        if columns.is_empty() {
            return Err(KqlError::at(span, "datatable needs at least one column"));
        }
        if !values.len().is_multiple_of(columns.len()) {
            return Err(KqlError::at(
                span,
                format!("datatable has {} values, which is not a multiple of its {} columns", values.len(), columns.len()),
            ));
        }
        let rows = values.len() / columns.len();
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
        let mut fields = Vec::with_capacity(columns.len());
        for (ci, col) in columns.iter().enumerate() {
            let ty = arrow_type(col.ty);
            let mut scalars = Vec::with_capacity(rows);
            for r in 0..rows {
                let cell = &values[r * columns.len() + ci];
                let v = self.constant_value(env, cell)?;
                let v = if v.is_null() {
                    ScalarValue::try_from(&ty)?
                } else {
                    v.cast_to(&ty).map_err(|_| {
                        KqlError::at(cell.span, format!("value does not fit column '{}' of type {}", col.name.name, col.ty.as_str()))
                    })?
                };
                scalars.push(v);
            }
            let array = if scalars.is_empty() { new_null_array(&ty, 0) } else { ScalarValue::iter_to_array(scalars)? };
            let mut field = Field::new(&col.name.name, ty, true);
            if col.ty == ast::TypeName::Dynamic {
                field = crate::types::dynamic_field(field);
            }
            fields.push(field);
            arrays.push(array);
        }
        self.memory_table(Arc::new(Schema::new(fields)), arrays)
    }

    /// Evaluates a constant expression (a datatable cell, a range bound) to a value.
    /// A value known before the rows are read: a constant, or (when the query runs) one that
    /// `toscalar()` computes from a subquery first.
    fn constant_value(&self, env: &Env, e: &ast::Expr) -> Result<ScalarValue> {
        let expr = self.plan_constant(env, e)?;
        match crate::planner::expr::evaluate_constant(&expr) {
            Ok(v) => Ok(v),
            Err(err) if contains_subquery(&expr) => {
                let plan = LogicalPlanBuilder::empty(true).project_exact(vec![expr.alias("value")])?.build()?;
                let batches = self.collect_now(plan, e.span, "a toscalar() value")?;
                match batches.iter().find(|b| b.num_rows() > 0) {
                    Some(b) => Ok(ScalarValue::try_from_array(b.column(0), 0)?),
                    None => Err(err.or_at(e.span)),
                }
            }
            Err(err) => Err(err.or_at(e.span)),
        }
    }

    /// `_GetWatchlist('name')`: the watchlist file of that name; a missing one is empty.
    fn plan_watchlist(&self, env: &Env, args: &[CallArg], span: Span) -> Result<Tabular> {
        let name = match args {
            [arg] => match arg.value.as_expr().map(|e| self.constant_value(env, e)).transpose()? {
                Some(ScalarValue::Utf8(Some(name))) => name,
                _ => return Err(KqlError::at(arg.value.span, "_GetWatchlist() takes the watchlist's name as a string")),
            },
            _ => return Err(KqlError::at(span, "_GetWatchlist() takes one argument: the watchlist's name")),
        };
        let watchlist = crate::watchlist::read(self.options.watchlists.as_deref(), &name).map_err(|e| e.or_at(span))?;
        if let Some(warning) = watchlist.warning {
            self.warn(warning);
        }
        self.memory_table(watchlist.batch.schema(), watchlist.batch.columns().to_vec())
    }

    fn memory_table(&self, schema: Arc<Schema>, arrays: Vec<ArrayRef>) -> Result<Tabular> {
        let batch = RecordBatch::try_new(schema.clone(), arrays)?;
        let table = MemTable::try_new(schema, vec![vec![batch]])?;
        let plan = LogicalPlanBuilder::scan("datatable", provider_as_source(Arc::new(table)), None)?.build()?;
        let exprs: Vec<Expr> = plan.schema().iter().map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())).alias(f.name())).collect();
        Ok(Tabular::unordered(LogicalPlanBuilder::from(plan).project_exact(exprs)?.build()?))
    }

    /// `externaldata (cols) [paths] with (format=...)` over local files: CSV (the default), TSV,
    /// JSON lines or Parquet, read with the declared schema.
    fn plan_externaldata(
        &self,
        env: &Env,
        columns: &[ast::ColumnDecl],
        urls: &[String],
        settings: &[(ast::Ident, ast::Expr)],
        span: Span,
    ) -> Result<Tabular> {
        use datafusion::datasource::file_format::{FileFormat, csv::CsvFormat, json::JsonFormat, parquet::ParquetFormat};
        use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
        let mut format = "csv".to_string();
        let mut header = false;
        for (name, value) in settings {
            let v = self.constant_value(env, value)?;
            match (name.name.as_str(), v) {
                ("format", ScalarValue::Utf8(Some(f))) => format = f.to_ascii_lowercase(),
                ("ignoreFirstRecord", ScalarValue::Boolean(Some(b))) => header = b,
                ("ignoreFirstRecord", ScalarValue::Utf8(Some(b))) => header = b.eq_ignore_ascii_case("true"),
                _ => {}
            }
        }
        // Dynamic columns are read as text and tagged as dynamic afterwards.
        let fields: Vec<Field> = columns.iter().map(|c| Field::new(&c.name.name, arrow_type(c.ty), true)).collect();
        let schema = Arc::new(Schema::new(fields));
        let mut paths = Vec::new();
        for u in urls {
            let local = if crate::network::is_remote(u) {
                // Planning fetches nothing: the session's step that reads data fetches the
                // URL (`steps`). To check a query, the declared columns are all a plan needs.
                let step = || crate::steps::DataStep::Fetch { url: u.clone(), span };
                match self.steps.take(format!("fetch {u}"), step) {
                    Some(crate::steps::StepOutput::File { path, warning }) => {
                        if let Some(warning) = warning {
                            self.warn(warning);
                        }
                        path.display().to_string()
                    }
                    Some(crate::steps::StepOutput::Rows(_)) => {
                        return Err(KqlError::at(span, "internal error: a fetch step gave rows, not a file"));
                    }
                    None if self.checking => {
                        let arrays = schema.fields().iter().map(|f| new_null_array(f.data_type(), 0)).collect();
                        return self.memory_table(schema, arrays);
                    }
                    None => return Err(crate::steps::needs_data(span, &format!("externaldata's rows from {u}"))),
                }
            } else if u.contains("://") && !u.starts_with("file://") {
                return Err(KqlError::at(span, format!("externaldata reads local files and http(s) URLs; '{u}' is neither")));
            } else {
                u.strip_prefix("file://").unwrap_or(u).to_string()
            };
            if !std::path::Path::new(&local).exists() {
                return Err(KqlError::at(span, format!("externaldata: cannot open '{local}': no such file")));
            }
            paths.push(ListingTableUrl::parse(&local).map_err(|e| KqlError::at(span, format!("externaldata: '{local}': {e}")))?);
        }
        if paths.is_empty() {
            return Err(KqlError::at(span, "externaldata needs at least one file"));
        }
        let (file_format, extension): (Arc<dyn FileFormat>, &str) = match format.as_str() {
            "csv" | "txt" => (Arc::new(CsvFormat::default().with_has_header(header)), ""),
            "tsv" | "tsve" => (Arc::new(CsvFormat::default().with_has_header(header).with_delimiter(b'\t')), ""),
            "json" | "multijson" => (Arc::new(JsonFormat::default()), ""),
            "parquet" => (Arc::new(ParquetFormat::default()), ""),
            other => return Err(KqlError::at(span, format!("externaldata: format '{other}' is not supported (csv, tsv, json, parquet)"))),
        };
        let options = ListingOptions::new(file_format).with_file_extension(extension);
        let config = ListingTableConfig::new_with_multi_paths(paths).with_listing_options(options).with_schema(schema);
        let table = ListingTable::try_new(config)?;
        let plan = LogicalPlanBuilder::scan("externaldata", provider_as_source(Arc::new(table)), None)?.build()?;
        let exprs: Vec<Expr> = plan
            .schema()
            .iter()
            .zip(columns)
            .map(|((q, f), c)| {
                let e = Expr::Column(Column::new(q.cloned(), f.name()));
                if c.ty == ast::TypeName::Dynamic {
                    functions_parse_json(e).alias(f.name())
                } else {
                    // An empty CSV field is a null string to the reader, `""` to Kusto.
                    super::nulls::string_as_read(e.clone(), f).unwrap_or(e).alias(f.name())
                }
            })
            .collect();
        Ok(Tabular::unordered(LogicalPlanBuilder::from(plan).project_exact(exprs)?.build()?))
    }

    fn plan_range(
        &self,
        env: &Env,
        column: &ast::Ident,
        from: &ast::Expr,
        to: &ast::Expr,
        step: &ast::Expr,
        span: Span,
    ) -> Result<Tabular> {
        let (f, t, s) = (self.constant_value(env, from)?, self.constant_value(env, to)?, self.constant_value(env, step)?);
        let too_many = || KqlError::at(span, format!("range would produce more than {MAX_RANGE_ROWS} rows"));
        let (values, rows) = match (&f, &t, &s) {
            (
                ScalarValue::TimestampMicrosecond(Some(a), _),
                ScalarValue::TimestampMicrosecond(Some(b), _),
                ScalarValue::DurationNanosecond(Some(st)),
            ) => {
                // Datetimes are microseconds; the step, a timespan, nanoseconds.
                let st = st / kql_grammar::values::NANOS_PER_MICRO;
                if st <= 0 {
                    return Err(KqlError::at(step.span, "range step must be positive"));
                }
                let n = if b < a { 0 } else { ((b - a) / st) as usize + 1 };
                if n > MAX_RANGE_ROWS {
                    return Err(too_many());
                }
                (RangeValues::Datetime { start: *a, step: st }, n)
            }
            _ if [&f, &t, &s].iter().all(|v| is_integer(v)) => {
                let (a, b, st) = (as_i64(&f), as_i64(&t), as_i64(&s));
                if st == 0 {
                    return Err(KqlError::at(step.span, "range step must not be zero"));
                }
                // In 128 bits: the distance between two longs does not fit in one.
                let n = if (st > 0 && b < a) || (st < 0 && b > a) { 0 } else { (i128::from(b) - i128::from(a)) / i128::from(st) + 1 };
                if n > MAX_RANGE_ROWS as i128 {
                    return Err(too_many());
                }
                (RangeValues::Long { start: a, step: st }, n as usize)
            }
            _ => {
                let (Some(a), Some(b), Some(st)) = (as_f64(&f), as_f64(&t), as_f64(&s)) else {
                    return Err(KqlError::at(span, "range bounds must be numbers or datetimes with a timespan step"));
                };
                if st == 0.0 {
                    return Err(KqlError::at(step.span, "range step must not be zero"));
                }
                if !(a.is_finite() && b.is_finite() && st.is_finite()) {
                    return Err(KqlError::at(span, "range bounds and step must be finite numbers"));
                }
                let count = if (st > 0.0 && b < a) || (st < 0.0 && b > a) { 0.0 } else { ((b - a) / st).floor() + 1.0 };
                // Also false for NaN (`b - a` past the largest real).
                if !matches!(count.partial_cmp(&(MAX_RANGE_ROWS as f64)), Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)) {
                    return Err(too_many());
                }
                (RangeValues::Real { start: a, step: st }, count as usize)
            }
        };
        let ty = match values {
            RangeValues::Long { .. } => DataType::Int64,
            RangeValues::Real { .. } => DataType::Float64,
            RangeValues::Datetime { .. } => datetime_type(),
        };
        let schema = Arc::new(Schema::new(vec![Field::new(&column.name, ty, false)]));
        let table = RangeTable::new(schema, values, rows);
        let plan = LogicalPlanBuilder::scan("range", provider_as_source(Arc::new(table)), None)?.build()?;
        let exprs: Vec<Expr> = plan.schema().iter().map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())).alias(f.name())).collect();
        Ok(Tabular::unordered(LogicalPlanBuilder::from(plan).project_exact(exprs)?.build()?))
    }

    /// Names the unnamed expressions of a `project`/`extend` the way Kusto does.
    /// `input` is the table the expressions read.
    pub(super) fn name_for(&self, item: &ast::NamedExpr, counter: &mut usize, taken: &[String], input: &DFSchema) -> Result<String> {
        Ok(match item.names.as_slice() {
            [n] => n.name.clone(),
            [] => super::names::inferred_name_over(&item.expr, input).unwrap_or_else(|| next_column_name(counter, taken)),
            _ => return Err(KqlError::at(item.span, "only summarize takes several names for one expression")),
        })
    }
}

fn is_integer(v: &ScalarValue) -> bool {
    matches!(v, ScalarValue::Int64(Some(_)) | ScalarValue::Int32(Some(_)))
}

fn as_i64(v: &ScalarValue) -> i64 {
    match v {
        ScalarValue::Int64(Some(x)) => *x,
        ScalarValue::Int32(Some(x)) => *x as i64,
        _ => 0,
    }
}

fn as_f64(v: &ScalarValue) -> Option<f64> {
    match v {
        ScalarValue::Int64(Some(x)) => Some(*x as f64),
        ScalarValue::Int32(Some(x)) => Some(*x as f64),
        ScalarValue::Float64(Some(x)) => Some(*x),
        _ => None,
    }
}

fn functions_parse_json(e: Expr) -> Expr {
    crate::functions::udfs().parse_json.call(vec![e])
}

fn contains_subquery(e: &Expr) -> bool {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    let mut found = false;
    let _ = e.apply(|n| {
        found |= matches!(n, Expr::ScalarSubquery(_));
        Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    found
}
