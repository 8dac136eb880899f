//! `join` and `lookup`: Kusto's join kinds over DataFusion joins.
//!
//! Both sides are given table aliases so their columns stay apart; the output then takes the
//! left columns as they are and the right ones renamed where they clash (`Key` → `Key1`), as
//! Kusto does. `innerunique`, the default kind, first keeps one left row per key.

use datafusion::common::{Column, JoinType, NullEquality};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder};
use kql_grammar::ast::{self, ExprKind, OperatorParam, PipeExpr, Span};

use super::names::right_side_names;
use super::projection::ExactProjection;
use super::{Env, Planner, Tabular};
use crate::error::{KqlError, Result};
use crate::first_row::FirstRowNode;

const LEFT: &str = "__kql_left";
const RIGHT: &str = "__kql_right";

/// The kinds of join Kusto has, by what they keep.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum JoinKind {
    InnerUnique,
    Inner,
    LeftOuter,
    RightOuter,
    FullOuter,
    LeftAnti,
    RightAnti,
    LeftSemi,
    RightSemi,
}

fn join_kind(params: &[OperatorParam], default: JoinKind) -> Result<JoinKind> {
    let Some(p) = params.iter().find(|p| p.name == "kind") else { return Ok(default) };
    Ok(match p.value.as_str() {
        "innerunique" => JoinKind::InnerUnique,
        "inner" => JoinKind::Inner,
        "leftouter" => JoinKind::LeftOuter,
        "rightouter" => JoinKind::RightOuter,
        "fullouter" | "outer" => JoinKind::FullOuter,
        "leftanti" | "anti" | "leftantisemi" => JoinKind::LeftAnti,
        "rightanti" | "rightantisemi" => JoinKind::RightAnti,
        "leftsemi" | "semi" => JoinKind::LeftSemi,
        "rightsemi" => JoinKind::RightSemi,
        other => return Err(KqlError::at(p.span, format!("unknown join kind '{other}'"))),
    })
}

/// One equality of the `on` clause: a left column and a right column.
struct KeyPair {
    left: String,
    right: String,
}

fn side_column(e: &ast::Expr, side: &str) -> Option<String> {
    match &e.kind {
        ExprKind::Member { expr, name } if matches!(&expr.kind, ExprKind::Name(n) if n == side) => Some(name.clone()),
        _ => None,
    }
}

/// `on a, $left.b == $right.c`
fn key_pairs(on: &[ast::Expr]) -> Result<Vec<KeyPair>> {
    let mut keys = Vec::new();
    for e in on {
        match &e.kind {
            ExprKind::Name(n) => keys.push(KeyPair { left: n.clone(), right: n.clone() }),
            ExprKind::Binary { op: ast::BinaryOp::Eq, left, right } => {
                let pair = match (side_column(left, "$left"), side_column(right, "$right")) {
                    (Some(l), Some(r)) => Some((l, r)),
                    _ => match (side_column(left, "$right"), side_column(right, "$left")) {
                        (Some(r), Some(l)) => Some((l, r)),
                        _ => None,
                    },
                };
                match pair {
                    Some((left, right)) => keys.push(KeyPair { left, right }),
                    None => return Err(KqlError::at(e.span, "a join condition compares $left.column with $right.column")),
                }
            }
            _ => return Err(KqlError::at(e.span, "a join condition is a column name or $left.a == $right.b")),
        }
    }
    Ok(keys)
}

fn qualified(side: &str, name: &str) -> Expr {
    Expr::Column(Column::new(Some(side), name))
}

/// The side of a join its hash table is built from.
enum Side {
    Left,
    Right,
}

fn names_of(t: &Tabular) -> Vec<String> {
    t.plan.schema().fields().iter().map(|f| f.name().clone()).collect()
}

/// `right` with each column whose name the left side already has renamed as Kusto does
/// (`Key` → `Key1`, or `Key2` when the left has a `Key1` too), and `keys` naming the renamed
/// right columns. A right side with no clash is returned as it is.
fn renamed_apart_from(left: &Tabular, right: Tabular, keys: &mut [KeyPair]) -> Result<Tabular> {
    let right_names = names_of(&right);
    let renamed: Vec<(String, String)> = right_names.iter().cloned().zip(right_side_names(&names_of(left), &right_names)).collect();
    if renamed.iter().all(|(n, name)| n == name) {
        return Ok(right);
    }
    for k in keys.iter_mut() {
        if let Some((_, name)) = renamed.iter().find(|(n, _)| *n == k.right) {
            k.right = name.clone();
        }
    }
    let projection = renamed.into_iter().map(|(n, name)| Expr::Column(Column::from_name(n)).alias(name));
    let plan = LogicalPlanBuilder::from(right.plan).project_exact(projection)?.build()?;
    Ok(Tabular::unordered(plan))
}

impl Planner<'_> {
    pub(super) fn plan_join(
        &self,
        env: &Env,
        left: Tabular,
        params: &[OperatorParam],
        right: &PipeExpr,
        on: &[ast::Expr],
        span: Span,
    ) -> Result<Tabular> {
        let kind = join_kind(params, JoinKind::InnerUnique)?;
        let right = self.plan_tabular(env, right)?;
        if on.is_empty() {
            return Err(KqlError::at(span, "join needs an on clause"));
        }
        let mut keys = key_pairs(on)?;
        self.check_keys(&left, &right, &keys, on)?;
        let left = if kind == JoinKind::InnerUnique { self.first_row_per_key(left, &keys)? } else { left };
        let df_kind = match kind {
            JoinKind::InnerUnique | JoinKind::Inner => JoinType::Inner,
            JoinKind::LeftOuter => JoinType::Left,
            JoinKind::RightOuter => JoinType::Right,
            JoinKind::FullOuter => JoinType::Full,
            JoinKind::LeftAnti => JoinType::LeftAnti,
            JoinKind::RightAnti => JoinType::RightAnti,
            JoinKind::LeftSemi => JoinType::LeftSemi,
            JoinKind::RightSemi => JoinType::RightSemi,
        };
        // Anti and semi joins keep one side's columns as they are; the others keep both, the
        // right ones renamed where they clash with the left's. The renaming is done on the
        // right input, before the join, so that the join's own output is the result: a
        // projection of every column after each join made a chain of joins plan in time
        // growing with the cube of its length (each step's width times DataFusion's column
        // lookups by name in every optimizer pass).
        let right = match kind {
            JoinKind::LeftAnti | JoinKind::LeftSemi | JoinKind::RightAnti | JoinKind::RightSemi => right,
            _ => renamed_apart_from(&left, right, &mut keys)?,
        };
        Ok(Tabular::unordered(self.join_plans(left, right, &keys, df_kind)?))
    }

    /// `lookup`: a left outer (or inner) join whose right key columns are not repeated.
    pub(super) fn plan_lookup(
        &self,
        env: &Env,
        left: Tabular,
        params: &[OperatorParam],
        right: &PipeExpr,
        on: &[ast::Expr],
    ) -> Result<Tabular> {
        let kind = join_kind(params, JoinKind::LeftOuter)?;
        let df_kind = match kind {
            JoinKind::LeftOuter => JoinType::Left,
            JoinKind::Inner => JoinType::Inner,
            _ => {
                let p = params.iter().find(|p| p.name == "kind").map_or(Span::default(), |p| p.span);
                return Err(KqlError::at(p, "lookup takes kind=leftouter or kind=inner"));
            }
        };
        let right = self.plan_tabular(env, right)?;
        let keys = key_pairs(on)?;
        self.check_keys(&left, &right, &keys, on)?;
        let (left_names, right_names) = (names_of(&left), names_of(&right));
        let joined = self.lookup_plans(left, right, &keys, df_kind)?;
        let mut projection: Vec<Expr> = left_names.iter().map(|n| qualified(LEFT, n).alias(n)).collect();
        // The right side's keys are not in the result, and their names are free for its other
        // columns (`lookup R on $left.x == $right.b1` names R's `b` `b1`).
        let kept: Vec<String> = right_names.into_iter().filter(|n| !keys.iter().any(|k| k.right == *n)).collect();
        for (n, name) in kept.iter().zip(right_side_names(&left_names, &kept)) {
            projection.push(qualified(RIGHT, n).alias(&name));
        }
        let plan = LogicalPlanBuilder::from(joined).project_exact(projection)?.build()?;
        Ok(Tabular::unordered(plan))
    }

    /// Both key columns exist, and their types agree as the official analyzer wants: a column
    /// named on both sides (`on k`) has one type (KS227); `$left.a == $right.b` may pair
    /// numbers of different widths but not, say, a string with a long.
    fn check_keys(&self, left: &Tabular, right: &Tabular, keys: &[KeyPair], on: &[ast::Expr]) -> Result<()> {
        for (k, e) in keys.iter().zip(on) {
            let Ok(lf) = left.plan.schema().field_with_unqualified_name(&k.left) else {
                return Err(KqlError::at(e.span, format!("the left side of the join has no column '{}'", k.left)));
            };
            let Ok(rf) = right.plan.schema().field_with_unqualified_name(&k.right) else {
                return Err(KqlError::at(e.span, format!("the right side of the join has no column '{}'", k.right)));
            };
            let (lt, rt) = (crate::types::kql_type_name(lf), crate::types::kql_type_name(rf));
            let same_name = matches!(e.kind, ExprKind::Name(_));
            let numeric = |t: &str| matches!(t, "int" | "long" | "real" | "decimal");
            if same_name && lt != rt {
                return Err(KqlError::at(
                    e.span,
                    format!("the common column '{}' must have the same type on both sides of the join (left: {lt}, right: {rt})", k.left),
                ));
            }
            if lt != rt && !(numeric(lt) && numeric(rt)) {
                return Err(KqlError::at(e.span, format!("inconsistent types for join keys: {lt} and {rt}")));
            }
        }
        Ok(())
    }

    /// `left` joined with `right` as `kind` says, the left first. DataFusion's hash join
    /// builds its table from its first input and streams the second.
    fn join_plans(&self, left: Tabular, right: Tabular, keys: &[KeyPair], kind: JoinType) -> Result<datafusion::logical_expr::LogicalPlan> {
        self.join_built_from(left, right, keys, kind, Side::Left)
    }

    /// The join of a `lookup`: the right side first. Kusto's lookup is for a small right
    /// (dimension) table, so that table is held in memory and the left side streams through,
    /// in its own order. Built from the left, a chain of lookups that each add rows held every
    /// step's whole output (the memory limit, a minute later, was the only end).
    fn lookup_plans(
        &self,
        left: Tabular,
        right: Tabular,
        keys: &[KeyPair],
        kind: JoinType,
    ) -> Result<datafusion::logical_expr::LogicalPlan> {
        self.join_built_from(left, right, keys, kind, Side::Right)
    }

    /// `left` joined with `right`, the `build` side first (see `join_plans`). Kusto's join
    /// matches a null key with a null key (unlike SQL's `=`).
    fn join_built_from(
        &self,
        left: Tabular,
        right: Tabular,
        keys: &[KeyPair],
        kind: JoinType,
        build: Side,
    ) -> Result<datafusion::logical_expr::LogicalPlan> {
        let left_keys: Vec<Column> = keys.iter().map(|k| Column::new(Some(LEFT), &k.left)).collect();
        let right_keys: Vec<Column> = keys.iter().map(|k| Column::new(Some(RIGHT), &k.right)).collect();
        let left = LogicalPlanBuilder::from(left.plan).alias(LEFT)?.build()?;
        let right = LogicalPlanBuilder::from(right.plan).alias(RIGHT)?.build()?;
        let (first, second, kind, on) = match build {
            Side::Left => (left, right, kind, (left_keys, right_keys)),
            Side::Right => (right, left, kind.swap(), (right_keys, left_keys)),
        };
        Ok(LogicalPlanBuilder::from(first).join_detailed(second, kind, on, None, NullEquality::NullEqualsNull)?.build()?)
    }

    /// One (arbitrary) left row per join key, as `innerunique` wants (`first_row.rs`). The
    /// keys are resolved from the input's schema.
    fn first_row_per_key(&self, left: Tabular, keys: &[KeyPair]) -> Result<Tabular> {
        let schema = left.plan.schema().clone();
        let keys = keys
            .iter()
            .map(|k| {
                let (qualifier, field) = schema.qualified_field_with_unqualified_name(&k.left)?;
                Ok(Expr::Column(Column::new(qualifier.cloned(), field.name())))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Tabular::unordered(FirstRowNode::new(left.plan, keys).into_plan()))
    }
}
