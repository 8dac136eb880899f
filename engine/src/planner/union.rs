//! `union`: rows of several tables, columns matched by name. A column missing from a table is
//! null there; a name that comes with different types becomes one column per type
//! (`x_long`, `x_string`), as Kusto names them.

use datafusion::common::{Column, ScalarValue};
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, Union};
use datafusion::prelude::{cast, lit};
use kql_grammar::ast::{ExprKind, OperatorParam, Source, Span, UnionItem};

use super::names::unique_name;
use super::operators::glob;
use super::projection::ExactProjection;
use super::{Env, Planner, Tabular};
use crate::error::{KqlError, Result};
use crate::types::{as_dynamic, is_dynamic_field, kql_type_of};

impl Planner<'_> {
    /// `union` as a source, or as an operator with `first` as its first input.
    pub(super) fn plan_union(
        &self,
        env: &Env,
        first: Option<Tabular>,
        params: &[OperatorParam],
        items: &[UnionItem],
        span: Span,
    ) -> Result<Tabular> {
        let param = |name: &str| params.iter().find(|p| p.name == name || (name == "withsource" && p.name == "with_source"));
        let fuzzy = param("isfuzzy").is_some_and(|p| p.value.eq_ignore_ascii_case("true"));
        let inner = match param("kind").map(|p| p.value.as_str()) {
            None | Some("outer") => false,
            Some("inner") => true,
            Some(other) => {
                let s = param("kind").map_or(span, |p| p.span);
                return Err(KqlError::at(s, format!("union kind is inner or outer, not '{other}'")));
            }
        };
        let mut inputs: Vec<(String, Tabular)> = Vec::new();
        let mut skipped: Vec<(String, KqlError)> = Vec::new();
        let mut only_unknown_tables = true;
        if let Some(t) = first {
            inputs.push((t.name.clone().unwrap_or_else(|| "union_arg0".to_string()), t));
        }
        for item in items {
            match item {
                UnionItem::Pattern { pattern, span } => {
                    let names: Vec<String> = self.catalog.names().into_iter().filter(|n| glob(pattern, n)).collect();
                    if names.is_empty() && !fuzzy {
                        return Err(KqlError::at(*span, format!("no table matches '{pattern}'")));
                    }
                    for n in names {
                        let t = self.plan_tabular(
                            env,
                            &kql_grammar::ast::PipeExpr {
                                source: Source::Expr(kql_grammar::ast::Expr::new(ExprKind::Name(n.clone()), *span)),
                                operators: vec![],
                                span: *span,
                            },
                        )?;
                        inputs.push((n, t));
                    }
                }
                UnionItem::Table(pipe) => {
                    match self.plan_tabular(env, pipe) {
                        Ok(t) => {
                            let name = match (pipe.as_expr().map(|e| &e.kind), &t.name) {
                                (_, Some(n)) => n.clone(),
                                // A `let`-bound tabular expression is no table: Kusto names it
                                // by its position, as any other expression (views keep names).
                                (Some(ExprKind::Name(n)), None) if !matches!(env.get(n), Some(super::Binding::Tabular(_))) => n.clone(),
                                _ => format!("union_arg{}", inputs.len()),
                            };
                            inputs.push((name, t))
                        }
                        // Kusto's `isfuzzy=true`: a leg that does not resolve (a table or
                        // function that does not exist, or fails to plan) is left out with a
                        // warning; only when no leg resolves is it an error. A leg that needs
                        // values read from the data first (`has_any (procList)`) is not one:
                        // the data step runs, and the leg plans then.
                        Err(e) if fuzzy && e.kind != crate::error::ErrorKind::NeedsData => {
                            only_unknown_tables &= e.kind == crate::error::ErrorKind::UnknownTable;
                            skipped.push((leg_name(pipe, skipped.len() + inputs.len()), e))
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        if inputs.is_empty() && !skipped.is_empty() {
            let e = KqlError::at(span, format!("union isfuzzy=true: no leg resolves: {}", skipped_legs(&skipped)));
            // Only tables that are not registered: `kql check` does not blame the query.
            return Err(if only_unknown_tables { e.with_kind(crate::error::ErrorKind::UnknownTable) } else { e });
        }
        if inputs.is_empty() {
            return Err(KqlError::at(span, "union has no table to read"));
        }
        if !skipped.is_empty() {
            let legs = skipped.len() + inputs.len();
            self.warn(format!(
                "union isfuzzy=true left out {} of {legs} legs, which do not resolve: {}",
                skipped.len(),
                skipped_legs(&skipped)
            ));
        }
        // Output columns: by name, in order of first appearance, one per (name, KQL type). A
        // `dynamic` column is JSON text, a string to Arrow: its tag tells the two apart, and
        // must survive the union (`T | union (T | extend x = 1)` over a file kept `d.k` working
        // but called the column a string).
        let mut columns: Vec<(String, KqlType)> = Vec::new();
        for (_, t) in &inputs {
            for f in t.plan.schema().fields() {
                let key = (f.name().clone(), KqlType::of(f));
                if !columns.contains(&key) {
                    columns.push(key);
                }
            }
        }
        // A name's types stand together, where the name first appears (Microsoft's analyzer:
        // `union T, (T | project d = tostring(d), q = 1)` over `a, d: dynamic, z` is `a,
        // d_dynamic, d_string, z, q`).
        let first_place: Vec<usize> = columns.iter().map(|(n, _)| columns.iter().position(|(m, _)| m == n).unwrap_or(0)).collect();
        let mut placed: Vec<(usize, (String, KqlType))> = first_place.into_iter().zip(columns).collect();
        placed.sort_by_key(|(place, _)| *place);
        let mut columns: Vec<(String, KqlType)> = placed.into_iter().map(|(_, c)| c).collect();
        if inner {
            columns.retain(|(n, ty)| {
                inputs.iter().all(|(_, t)| t.plan.schema().fields().iter().any(|f| f.name() == n && KqlType::of(f) == *ty))
            });
        }
        // Names that come with one type keep it; the others take a type suffix, made unique
        // against the kept names (`x_long1` when a real `x_long` exists).
        let conflicted = |n: &str| columns.iter().filter(|(m, _)| m == n).count() > 1;
        let mut taken: Vec<String> = columns.iter().filter(|(n, _)| !conflicted(n)).map(|(n, _)| n.clone()).collect();
        let mut out_names: Vec<String> = Vec::with_capacity(columns.len());
        for (n, ty) in &columns {
            if conflicted(n) {
                let name = unique_name(&format!("{n}_{}", ty.name()), &taken);
                taken.push(name.clone());
                out_names.push(name);
            } else {
                out_names.push(n.clone());
            }
        }
        let source_column = param("withsource").map(|p| p.value.clone());
        if let (Some(col), Some(p)) = (&source_column, param("withsource"))
            && out_names.iter().any(|n| n == col)
        {
            return Err(KqlError::at(p.span, format!("withsource={col}: the union's input already has a column named '{col}'")));
        }
        let mut legs: Vec<Arc<LogicalPlan>> = Vec::with_capacity(inputs.len());
        for (name, t) in inputs {
            let schema = t.plan.schema().clone();
            // A leg that already has the output's columns, in order and type, needs no
            // projection; when it is itself a union (`T | union A | union B`), its legs join
            // this one's. One flat union keeps planning linear in the number of legs, where
            // a nest of unions 1,000 deep took DataFusion's optimizer seconds.
            let identity = source_column.is_none()
                && schema.fields().len() == columns.len()
                && schema
                    .fields()
                    .iter()
                    .zip(columns.iter().zip(&out_names))
                    .all(|(f, ((n, ty), out))| f.name() == n && n == out && f.data_type() == &ty.arrow && KqlType::of(f) == *ty);
            if identity {
                match t.plan {
                    LogicalPlan::Union(u) => legs.extend(u.inputs),
                    other => legs.push(Arc::new(other)),
                }
                continue;
            }
            let mut projection: Vec<Expr> = Vec::new();
            if let Some(col) = &source_column {
                projection.push(lit(name.clone()).alias(col));
            }
            for ((n, ty), out) in columns.iter().zip(&out_names) {
                let field = schema.fields().iter().find(|f| f.name() == n && KqlType::of(f) == *ty);
                let e = match field {
                    Some(f) if f.data_type() == &ty.arrow => Expr::Column(Column::new_unqualified(n)),
                    Some(_) => cast(Expr::Column(Column::new_unqualified(n)), ty.arrow.clone()),
                    None => Expr::Literal(ScalarValue::try_from(&ty.arrow).unwrap_or(ScalarValue::Null), None),
                };
                // A cast or a null has no tag: a dynamic column gets it back.
                let e = if ty.dynamic && !matches!(field, Some(f) if f.data_type() == &ty.arrow) { as_dynamic(e) } else { e };
                projection.push(e.alias(out));
            }
            legs.push(Arc::new(LogicalPlanBuilder::from(t.plan).project_exact(projection)?.build()?));
        }
        let plan = match legs.len() {
            0 => return Err(KqlError::at(span, "union has no table to read")),
            1 => Arc::unwrap_or_clone(legs.remove(0)),
            _ => LogicalPlan::Union(Union::try_new_with_loose_types(legs)?),
        };
        Ok(Tabular::unordered(plan))
    }
}

/// A union column's type: its Arrow type (strings of any encoding are one) and whether it is
/// `dynamic`.
#[derive(Clone, Debug, PartialEq)]
struct KqlType {
    arrow: DataType,
    dynamic: bool,
}

impl KqlType {
    fn of(field: &datafusion::arrow::datatypes::Field) -> KqlType {
        let arrow = match field.data_type() {
            DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
            other => other.clone(),
        };
        KqlType { arrow, dynamic: is_dynamic_field(field) }
    }

    /// The suffix a column of this type takes where a name comes with several types.
    fn name(&self) -> &'static str {
        if self.dynamic { "dynamic" } else { kql_type_of(&self.arrow) }
    }
}

/// How a warning names a union leg: its table or function, else its position.
fn leg_name(pipe: &kql_grammar::ast::PipeExpr, position: usize) -> String {
    match pipe.as_expr().map(|e| &e.kind) {
        Some(ExprKind::Name(n)) => n.clone(),
        Some(ExprKind::Call { name, .. }) => name.name.clone(),
        _ => format!("union_arg{position}"),
    }
}

/// The legs a fuzzy union left out, grouped by why: `no such function: a, b; no such table: c;
/// d: <error>`.
fn skipped_legs(skipped: &[(String, KqlError)]) -> String {
    let mut functions = Vec::new();
    let mut tables = Vec::new();
    let mut failed = Vec::new();
    for (leg, e) in skipped {
        if e.message.starts_with("unknown tabular function") {
            functions.push(leg.as_str());
        } else if e.kind == crate::error::ErrorKind::UnknownTable {
            tables.push(leg.as_str());
        } else {
            failed.push(format!("{leg}: {}", e.message));
        }
    }
    let mut parts = Vec::new();
    if !functions.is_empty() {
        parts.push(format!("no such function: {}", functions.join(", ")));
    }
    if !tables.is_empty() {
        parts.push(format!("reads no registered table: {}", tables.join(", ")));
    }
    parts.extend(failed);
    parts.join("; ")
}
