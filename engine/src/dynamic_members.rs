//! An optimizer rule: a projection that reads several members of one `dynamic` column
//! (`tostring(EventData.SourceAddress)`, `toint(EventData.DestPort)`, ...) walks each row's
//! JSON text once for all of them, not once per member.
//!
//! Each member access is a `kql_dyn_get(column, "name", ...)` call, and each call walks the
//! whole text of the row to find its member. Where one projection has such calls for two or
//! more names of one column, a projection below it computes `kql_dyn_members(column, "a",
//! "b", ...)` once (a struct of the members' texts, found in one walk), and each call reads
//! its field instead: `kql_dyn_get(c, "a")` becomes `kql_dyn_member_at(members, 0)`, and a
//! longer path `kql_dyn_get(c, "a", "x", 0)` becomes `kql_dyn_get(kql_dyn_member_at(members,
//! 0), "x", 0)`.
//! Both give the same value: a path is walked one step at a time, and the first step's text
//! is what `kql_dyn_members` holds.
//!
//! The rule runs after DataFusion's own, so it sees the projections they leave. The metamorphic
//! tests run every query with and without the logical optimizer, which compares this rewrite
//! with the plain calls.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, Result};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, LogicalPlan, Projection};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use datafusion::scalar::ScalarValue;

use crate::functions;

#[derive(Debug, Default)]
pub struct DynamicMembersOnce;

/// The name of the struct column that holds one column's members (made unique per plan).
const MEMBERS_PREFIX: &str = "__kql_members_";

impl OptimizerRule for DynamicMembersOnce {
    fn name(&self) -> &str {
        "kql_dynamic_members_once"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(&self, plan: LogicalPlan, _config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Projection(projection) = plan else {
            return Ok(Transformed::no(plan));
        };
        let wanted = members_read(&projection.expr);
        if wanted.is_empty() {
            return Ok(Transformed::no(LogicalPlan::Projection(projection)));
        }
        let Projection { expr, input, .. } = projection;

        // Below: every input column as it is, and one struct of members per column.
        let taken: std::collections::HashSet<String> = input.schema().fields().iter().map(|f| f.name().clone()).collect();
        let mut inner: Vec<Expr> = input.schema().columns().into_iter().map(Expr::Column).collect();
        let mut struct_of: HashMap<Column, (String, Vec<String>)> = HashMap::new();
        let mut n = 0;
        for (column, names) in wanted {
            let alias = loop {
                let candidate = format!("{MEMBERS_PREFIX}{n}");
                n += 1;
                if !taken.contains(&candidate) {
                    break candidate;
                }
            };
            let mut args = vec![Expr::Column(column.clone())];
            args.extend(names.iter().map(|name| datafusion::prelude::lit(name.as_str())));
            inner.push(functions::udfs().dyn_members.call(args).alias(&alias));
            struct_of.insert(column, (alias, names));
        }
        let inner = LogicalPlan::Projection(Projection::try_new(inner, input)?);

        // Above: the same expressions, each member call reading the struct.
        let names = NamePreserver::new_for_projection();
        let expr = expr
            .into_iter()
            .map(|e| {
                let saved = names.save(&e);
                let rewritten = e.transform_up(|e| {
                    let field = member_call(&e).and_then(|(column, name)| {
                        let (alias, names) = struct_of.get(column)?;
                        Some((alias, names.iter().position(|n| n == name)?))
                    });
                    Ok(match field {
                        Some((alias, position)) => Transformed::yes(read_member(e, alias, position)),
                        None => Transformed::no(e),
                    })
                })?;
                Ok(saved.restore(rewritten.data))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Transformed::yes(LogicalPlan::Projection(Projection::try_new(expr, Arc::new(inner))?)))
    }
}

/// The columns whose members two or more distinct names of the expressions read, with those
/// names; columns and names in the order the expressions first meet them, so that a query
/// always gets the same plan.
fn members_read(exprs: &[Expr]) -> Vec<(Column, Vec<String>)> {
    let mut read: Vec<(Column, Vec<String>)> = Vec::new();
    for e in exprs {
        let _ = e.apply(|e| {
            if let Some((column, name)) = member_call(e) {
                match read.iter_mut().find(|(c, _)| c == column) {
                    Some((_, names)) if !names.iter().any(|n| n == name) => names.push(name.to_string()),
                    Some(_) => {}
                    None => read.push((column.clone(), vec![name.to_string()])),
                }
            }
            Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
        });
    }
    read.retain(|(_, names)| names.len() >= 2);
    read
}

/// `kql_dyn_get(column, "name", ...)`: the column and the first step's name.
fn member_call(e: &Expr) -> Option<(&Column, &str)> {
    let Expr::ScalarFunction(call) = e else { return None };
    if call.func.name() != "kql_dyn_get" {
        return None;
    }
    match (call.args.first(), call.args.get(1)) {
        (
            Some(Expr::Column(column)),
            Some(Expr::Literal(ScalarValue::Utf8(Some(name)) | ScalarValue::LargeUtf8(Some(name)) | ScalarValue::Utf8View(Some(name)), _)),
        ) => Some((column, name.as_str())),
        _ => None,
    }
}

/// `kql_dyn_get(column, name, rest...)` as a read of field `position` of the members struct
/// `alias`.
fn read_member(call: Expr, alias: &str, position: usize) -> Expr {
    let Expr::ScalarFunction(mut call) = call else { return call };
    let field =
        functions::udfs().dyn_member_at.call(vec![Expr::Column(Column::from_name(alias)), datafusion::prelude::lit(position as i64)]);
    if call.args.len() == 2 {
        return field;
    }
    call.args.splice(0..2, [field]);
    Expr::ScalarFunction(call)
}
