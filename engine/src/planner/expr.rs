//! Scalar expressions: AST → DataFusion `Expr`, with KQL's typing rules checked here so that a
//! mismatch is reported at the operator in the query text.

use std::ops::Not;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::DataType;
use datafusion::common::ExprSchema;
use datafusion::common::metadata::FieldMetadata;
use datafusion::common::{Column, DFSchema, DFSchemaRef, ScalarValue};
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, ExprSchemable, Operator, SortExpr, binary_expr, expr::InList, expr::ScalarFunction};
use datafusion::physical_expr::create_physical_expr;
use datafusion::prelude::{cast, lit, nullif};
use kql_grammar::ast::{self, BinaryOp, DynValue, ExprKind, Literal, Span, StringTest, UnaryOp};

use super::projection::ExactProjection;
use super::{Binding, Env, Planner, Tabular};
use crate::error::{KqlError, Result};
use crate::functions::{self, is_string};
use crate::types::{EXTENSION_KEY, JSON_EXTENSION, TIMESPAN, arrow_type, datetime_type, kql_type_of};

/// Plans expressions over one input schema, in one scope.
pub struct ExprPlanner<'p, 'a> {
    pub planner: &'p Planner<'a>,
    pub env: &'p Env,
    pub schema: DFSchemaRef,
    /// The serialized row order, when the input is serialized (for `next`/`prev`).
    pub order: Option<&'p [SortExpr]>,
    /// How many calls of `plan` are under way: the outermost one checks the depth of what it
    /// planned.
    nesting: std::cell::Cell<usize>,
    /// How many of them are of operators that wrap their operand (all but leaves and the runs
    /// of `and`, `or` and arithmetic, most of which are planned flat): bounded by
    /// `MAX_EXPRESSION_DEPTH` as they go, so that a chain of 20,000 `%` fails at once rather
    /// than after minutes of planning.
    wrapping: std::cell::Cell<usize>,
}

impl<'p, 'a> ExprPlanner<'p, 'a> {
    pub fn new(planner: &'p Planner<'a>, env: &'p Env, schema: DFSchemaRef, order: Option<&'p [SortExpr]>) -> Self {
        ExprPlanner { planner, env, schema, order, nesting: std::cell::Cell::new(0), wrapping: std::cell::Cell::new(0) }
    }

    /// The Arrow type of a planned expression.
    /// The type of a planned expression. The common nodes are typed here: DataFusion's own
    /// `get_type` builds each sub-expression's display name on the way, which made planning a
    /// long `a + b + c + ...` chain cubic in its length.
    pub fn type_of(&self, e: &Expr, span: Span) -> Result<DataType> {
        let fast = match e {
            Expr::Alias(a) => return self.type_of(&a.expr, span),
            Expr::Negative(inner) => return self.type_of(inner, span),
            Expr::Column(c) => self.schema.field_from_column(c).ok().map(|f| f.data_type().clone()),
            Expr::Literal(v, _) => Some(v.data_type()),
            Expr::Cast(c) => Some(c.field.data_type().clone()),
            Expr::TryCast(c) => Some(c.field.data_type().clone()),
            Expr::ScalarFunction(f) if f.name() == functions::arithmetic::LONG_ARITH || f.name() == functions::arithmetic::LONG_CHAIN => {
                Some(DataType::Int64)
            }
            Expr::ScalarFunction(f) if f.name() == functions::arithmetic::REAL_CHAIN => Some(DataType::Float64),
            Expr::BinaryExpr(b)
                if matches!(
                    b.op,
                    Operator::Eq
                        | Operator::NotEq
                        | Operator::Lt
                        | Operator::LtEq
                        | Operator::Gt
                        | Operator::GtEq
                        | Operator::And
                        | Operator::Or
                ) =>
            {
                Some(DataType::Boolean)
            }
            Expr::BinaryExpr(b) => {
                let (l, r) = (self.type_of(&b.left, span)?, self.type_of(&b.right, span)?);
                // Arithmetic on two longs or two reals keeps the type: no need to ask
                // DataFusion's coercer, which is slow (it computes over empty arrays).
                if l == r
                    && matches!(l, DataType::Int64 | DataType::Float64)
                    && matches!(b.op, Operator::Plus | Operator::Minus | Operator::Multiply | Operator::Divide | Operator::Modulo)
                {
                    return Ok(l);
                }
                let typed = datafusion::logical_expr::type_coercion::binary::BinaryTypeCoercer::new(&l, &b.op, &r).get_result_type();
                Some(typed.map_err(|err| KqlError::from(err).or_at(span))?)
            }
            Expr::Not(_)
            | Expr::IsNull(_)
            | Expr::IsNotNull(_)
            | Expr::IsTrue(_)
            | Expr::IsFalse(_)
            | Expr::IsNotTrue(_)
            | Expr::IsNotFalse(_)
            | Expr::IsUnknown(_)
            | Expr::IsNotUnknown(_)
            | Expr::Like(_)
            | Expr::Between(_)
            | Expr::InList(_) => Some(DataType::Boolean),
            _ => None,
        };
        match fast {
            Some(t) => Ok(t),
            None => e.get_type(self.schema.as_ref()).map_err(|err| KqlError::from(err).or_at(span)),
        }
    }

    pub fn plan(&self, e: &ast::Expr) -> Result<Expr> {
        // An operator's left operand is planned first, so a chain (`1 + 1 + ...`, tens of
        // thousands of terms: real rules `or` thousands of tests) recurses once per operator;
        // past the thread's stack that aborted the process. The stack grows on the heap instead.
        let outermost = self.nesting.get() == 0;
        // A leaf is no operation; a run of `and`, `or` or arithmetic is planned flat or
        // balanced (but runs of decimals, of `float`s and of `timespan * number` are not:
        // `check_depth` finds those).
        let wraps = !matches!(
            e.kind,
            ExprKind::Binary { op: BinaryOp::And | BinaryOp::Or | BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div, .. }
                | ExprKind::Literal(_)
                | ExprKind::Name(_)
                | ExprKind::Star
        );
        if wraps && self.wrapping.get() >= MAX_EXPRESSION_DEPTH {
            return Err(too_deep(e.span));
        }
        self.nesting.set(self.nesting.get() + 1);
        self.wrapping.set(self.wrapping.get() + usize::from(wraps));
        let planned = stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || self.plan_node(e));
        self.nesting.set(self.nesting.get() - 1);
        self.wrapping.set(self.wrapping.get() - usize::from(wraps));
        let planned = planned?;
        if outermost {
            check_depth(&planned, e.span)?;
        }
        Ok(planned)
    }

    fn plan_node(&self, e: &ast::Expr) -> Result<Expr> {
        match &e.kind {
            ExprKind::Literal(l) => Ok(literal(l)),
            ExprKind::Name(n) => self.name(n, e.span),
            ExprKind::Star => Err(KqlError::at(e.span, "'*' is not allowed here")),
            ExprKind::Call { name, args } => self.call(name, args, e.span),
            ExprKind::Unary { op, operand } => {
                let inner = self.plan(operand)?;
                if *op == UnaryOp::Plus {
                    return Ok(inner);
                }
                if let Expr::Literal(v, m) = &inner
                    && let Some(neg) = negate_scalar(v)
                {
                    return Ok(Expr::Literal(neg, m.clone()));
                }
                let t = self.type_of(&inner, operand.span)?;
                if !(t.is_numeric() || t == TIMESPAN) {
                    return Err(KqlError::at(e.span, format!("cannot negate a {}", kql_type_of(&t))));
                }
                // `-x` of an `int` column is a `long`, as `x + x` is; of a constant (`-toint(1)`)
                // an `int`: the types Microsoft's analyzer gives them.
                let inner = if inner.column_refs().is_empty() { inner } else { int_as_long(inner, self.schema.as_ref()) };
                Ok(Expr::Negative(Box::new(inner)))
            }
            ExprKind::Binary { op, left, right } => self.binary(*op, left, right, e.span),
            ExprKind::In { expr, negated, case_insensitive, list } => self.in_list(expr, *negated, *case_insensitive, list, e.span),
            ExprKind::Between { expr, negated, low, high } => {
                let x = self.plan(expr)?;
                let lo = self.plan(low)?;
                let mut hi = self.plan(high)?;
                let (lt, ht) = (self.type_of(&lo, low.span)?, self.type_of(&hi, high.span)?);
                // `t between (t0 .. 1d)` means up to t0 + 1d.
                if matches!(lt, DataType::Timestamp(..)) && ht == TIMESPAN {
                    hi = datetime_plus(lo.clone(), hi, Operator::Plus);
                }
                let xt = self.type_of(&x, expr.span)?;
                if is_string(&xt) || xt == DataType::Boolean {
                    return Err(KqlError::at(e.span, format!("between needs numbers, datetimes or timespans, got {}", kql_type_of(&xt))));
                }
                check_comparable(&xt, &lt, low.span, "between")?;
                check_comparable(&xt, &self.type_of(&hi, high.span)?, high.span, "between")?;
                let inside = x.clone().gt_eq(lo).and(x.lt_eq(hi));
                Ok(if *negated { inside.not() } else { inside })
            }
            ExprKind::HasSet { expr, all, list } => {
                let hay = self.as_string(expr)?;
                let mut tests = Vec::new();
                for item in list {
                    for needle in self.has_set_values(item)? {
                        tests.push(string_test(hay.clone(), needle, functions::string::Test::Has, false));
                    }
                }
                let combined = tests.into_iter().reduce(|a, b| if *all { a.and(b) } else { a.or(b) });
                Ok(combined.unwrap_or(lit(*all)))
            }
            ExprKind::Member { expr, name } => {
                let base = self.dynamic_operand(expr)?;
                Ok(dyn_get(base, lit(name.clone())))
            }
            ExprKind::Index { expr, index } => {
                let base = self.dynamic_operand(expr)?;
                let key = self.plan(index)?;
                let kt = self.type_of(&key, index.span)?;
                if !(kt.is_integer() || is_string(&kt)) {
                    return Err(KqlError::at(index.span, format!("an index is a long or a string, got {}", kql_type_of(&kt))));
                }
                Ok(dyn_get(base, key))
            }
            ExprKind::Subquery(_) => {
                Err(KqlError::at(e.span, "a tabular expression is not allowed here (use toscalar() for a single value)"))
            }
        }
    }

    fn name(&self, n: &str, span: Span) -> Result<Expr> {
        if self.schema.has_column_with_unqualified_name(n) {
            return Ok(Expr::Column(Column::new_unqualified(n)));
        }
        match self.env.get(n) {
            Some(Binding::Scalar { expr, .. }) => Ok(expr.clone()),
            Some(Binding::Tabular(_)) => Err(KqlError::at(span, format!("'{n}' is a table, not a scalar value"))),
            Some(Binding::Function(_)) => Err(KqlError::at(span, format!("'{n}' is a function: call it as {n}(...)"))),
            None => {
                let columns: Vec<&str> = self.schema.fields().iter().map(|f| f.name().as_str()).collect();
                let hint = match columns.iter().find(|c| c.eq_ignore_ascii_case(n)) {
                    Some(c) => format!(" (did you mean '{c}'? names are case-sensitive)"),
                    None => String::new(),
                };
                Err(KqlError::at(span, format!("unknown column or name '{n}'{hint}")))
            }
        }
    }

    /// The expression as a string: non-strings are converted as `tostring()` would.
    pub fn as_string(&self, e: &ast::Expr) -> Result<Expr> {
        let x = self.plan(e)?;
        self.to_text(x, e.span)
    }

    /// A planned value as a string, as `tostring()` gives it.
    pub fn to_text(&self, x: Expr, span: Span) -> Result<Expr> {
        if self.is_dynamic(&x, span)? {
            return Ok(functions::udfs().dyn_to_string.call(vec![x]));
        }
        let t = self.type_of(&x, span)?;
        Ok(if is_string(&t) { x } else { functions::udfs().tostring.call(vec![x]) })
    }

    /// Whether a planned expression is of type `dynamic`.
    /// Whether a planned expression holds `dynamic` values (its field carries the JSON tag).
    /// The common nodes are answered here, as DataFusion's `to_field` would (see `type_of` for
    /// why not ask it).
    pub fn is_dynamic(&self, x: &Expr, span: Span) -> Result<bool> {
        // kql's own functions say whether they return dynamic: no need to type (and name, which
        // costs the square of the nesting) their arguments.
        if let Expr::ScalarFunction(f) = x
            && let Some(udf) = f.func.inner().downcast_ref::<crate::functions::KqlUdf>()
        {
            return Ok(udf.returns_dynamic());
        }
        // kql's arithmetic returns a long or a real. Asked of DataFusion, a chain of `+` cost the
        // square of its length to type (and name) at every step: 5,000 terms took 4 s.
        if let Expr::ScalarFunction(f) = x
            && functions::arithmetic::is_arithmetic(&f.func)
        {
            return Ok(false);
        }
        // `types::as_dynamic`: the tag is in its constant second argument.
        if let Expr::ScalarFunction(f) = x
            && f.func.name() == "kql_field_metadata"
            && let Some(Expr::Literal(ScalarValue::Utf8(Some(metadata)), _)) = f.args.get(1)
        {
            return Ok(metadata.contains(crate::types::JSON_EXTENSION));
        }
        let tagged = |m: &std::collections::HashMap<String, String>| {
            m.get(crate::types::EXTENSION_KEY).is_some_and(|v| v == crate::types::JSON_EXTENSION)
        };
        match x {
            Expr::Alias(a) => {
                if a.metadata
                    .as_ref()
                    .is_some_and(|m| m.inner().get(crate::types::EXTENSION_KEY).is_some_and(|v| v == crate::types::JSON_EXTENSION))
                {
                    return Ok(true);
                }
                self.is_dynamic(&a.expr, span)
            }
            Expr::Negative(inner) => self.is_dynamic(inner, span),
            Expr::Column(c) => match self.schema.field_from_column(c) {
                Ok(f) => Ok(crate::types::is_dynamic_field(f)),
                Err(err) => Err(KqlError::from(err).or_at(span)),
            },
            Expr::Literal(_, metadata) => Ok(metadata
                .as_ref()
                .is_some_and(|m| m.inner().get(crate::types::EXTENSION_KEY).is_some_and(|v| v == crate::types::JSON_EXTENSION))),
            // A cast's field is its target's: the JSON tag survives only when the target has it.
            Expr::Cast(c) => Ok(tagged(c.field.metadata()) || crate::types::is_dynamic_field(&c.field)),
            Expr::TryCast(c) => Ok(tagged(c.field.metadata()) || crate::types::is_dynamic_field(&c.field)),
            Expr::BinaryExpr(_)
            | Expr::Not(_)
            | Expr::IsNull(_)
            | Expr::IsNotNull(_)
            | Expr::IsTrue(_)
            | Expr::IsFalse(_)
            | Expr::IsNotTrue(_)
            | Expr::IsNotFalse(_)
            | Expr::IsUnknown(_)
            | Expr::IsNotUnknown(_)
            | Expr::Like(_)
            | Expr::Between(_)
            | Expr::InList(_) => Ok(false),
            _ => {
                let (_, field) = x.to_field(self.schema.as_ref()).map_err(|err| KqlError::from(err).or_at(span))?;
                Ok(crate::types::is_dynamic_field(&field))
            }
        }
    }

    /// The operand of `.name` or `[i]`: a dynamic value, or a string holding JSON.
    fn dynamic_operand(&self, e: &ast::Expr) -> Result<Expr> {
        let x = self.plan(e)?;
        let t = self.type_of(&x, e.span)?;
        if self.is_dynamic(&x, e.span)? || is_string(&t) || t == DataType::Null {
            return Ok(x);
        }
        Err(KqlError::at(e.span, format!("property and index access need a dynamic value, got {}", kql_type_of(&t))))
    }

    /// Leaves the dynamic world for a comparison or arithmetic with a value of type `other`.
    pub fn undynamic(&self, x: Expr, other: &DataType) -> Expr {
        let u = functions::udfs();
        if other.is_integer() {
            u.dyn_to_long.call(vec![x])
        } else if other.is_numeric() {
            u.dyn_to_real.call(vec![x])
        } else if *other == DataType::Boolean {
            u.dyn_to_bool.call(vec![x])
        } else if matches!(other, DataType::Timestamp(..)) {
            u.todatetime.call(vec![u.dyn_to_string.call(vec![x])])
        } else {
            u.dyn_to_string.call(vec![x])
        }
    }

    /// Plans both operands of a binary operator; a dynamic operand takes the other's type.
    fn operands(&self, left: &ast::Expr, right: &ast::Expr) -> Result<(Expr, DataType, Expr, DataType)> {
        let mut l = self.plan(left)?;
        let mut r = self.plan(right)?;
        let (ld, rd) = (self.is_dynamic(&l, left.span)?, self.is_dynamic(&r, right.span)?);
        if ld && !rd {
            let rt = self.type_of(&r, right.span)?;
            l = self.undynamic(l, &rt);
        } else if rd && !ld {
            let lt = self.type_of(&l, left.span)?;
            r = self.undynamic(r, &lt);
        }
        let lt = self.type_of(&l, left.span)?;
        let rt = self.type_of(&r, right.span)?;
        Ok((l, lt, r, rt))
    }

    /// The value of a dynamic constant: a `dynamic(...)` literal or a name bound to one.
    pub fn dynamic_constant(&self, item: &ast::Expr) -> Option<DynValue> {
        match &item.kind {
            ExprKind::Literal(Literal::Dynamic(d)) => Some(d.clone()),
            ExprKind::Name(n) if !self.schema.has_column_with_unqualified_name(n) => match self.env.get(n) {
                Some(Binding::Scalar { dynamic, .. }) => dynamic.clone(),
                _ => None,
            },
            _ => None,
        }
    }

    /// The values of one `in`/`has_any` list item: a dynamic array spreads into its elements.
    pub fn spread(&self, item: &ast::Expr) -> Result<Vec<Expr>> {
        match self.dynamic_constant(item) {
            Some(DynValue::Array(items)) => Ok(items.iter().map(dyn_scalar).collect()),
            Some(other) => Ok(vec![dyn_scalar(&other)]),
            None => Ok(vec![self.plan(item)?]),
        }
    }

    /// The terms of one `has_any`/`has_all` list item: a list's values, or the values of the
    /// first column of a tabular expression (`has_any (procList)` with `let procList =
    /// externaldata(Process: string) [...]`, as Kusto allows), read before the query plans.
    fn has_set_values(&self, item: &ast::Expr) -> Result<Vec<Expr>> {
        if !self.is_table_name(item) && !matches!(item.kind, ExprKind::Subquery(_)) {
            return self.spread(item);
        }
        let pipe = ast::PipeExpr { source: ast::Source::Expr(item.clone()), operators: Vec::new(), span: item.span };
        let (tab, field) = self.with_first_field(&pipe)?;
        // A dynamic column's values are JSON text: each is looked for as `tostring` gives it
        // (`"x"` is the term x).
        let column = Expr::Column(Column::new_unqualified(field.name()));
        let value = if crate::types::is_dynamic_field(&field) {
            functions::udfs().dyn_to_string.call(vec![column]).alias(field.name())
        } else {
            column
        };
        // Named as it is (not as `first_column` names a subquery, uniquely per planning): the
        // data step is found again by its plan's columns when the query is planned again.
        let plan = datafusion::logical_expr::LogicalPlanBuilder::from(tab.plan).project_exact(vec![value])?.build()?;
        let batches = self.planner.collect_now(plan, item.span, "the values of has_any/has_all")?;
        let mut values: Vec<String> = Vec::new();
        for batch in &batches {
            let column = arrow::compute::cast(batch.column(0), &DataType::Utf8)?;
            let column = column
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .ok_or_else(|| KqlError::at(item.span, "has_any: values are not text"))?;
            values.extend(column.iter().flatten().map(str::to_string));
        }
        values.sort_unstable();
        values.dedup();
        Ok(values.into_iter().map(lit).collect())
    }

    fn in_list(&self, x: &ast::Expr, negated: bool, ci: bool, list: &[ast::PipeExpr], span: Span) -> Result<Expr> {
        let mut values = Vec::new();
        for item in list {
            match item.as_expr() {
                Some(e) if !matches!(e.kind, ExprKind::Subquery(_)) && !self.is_table_name(e) => values.extend(self.spread(e)?),
                _ => {
                    if list.len() != 1 {
                        return Err(KqlError::at(item.span, "'in' takes one tabular expression, or a list of values"));
                    }
                    return self.in_subquery(x, negated, ci, item);
                }
            }
        }
        let mut left = self.plan(x)?;
        if self.is_dynamic(&left, x.span)? {
            let first = match values.first() {
                Some(v) => self.type_of(v, span)?,
                None => DataType::Utf8,
            };
            left = self.undynamic(left, &first);
        }
        let lt = self.type_of(&left, x.span)?;
        if ci && !is_string(&lt) {
            return Err(KqlError::at(span, "in~ compares strings"));
        }
        for (v, item) in values.iter().zip(list.iter().cycle()) {
            let vt = self.type_of(v, item.span)?;
            if vt != DataType::Null {
                check_comparable(&lt, &vt, item.span, if ci { "in~" } else { "in" })?;
            }
        }
        if ci {
            left = lower(left);
            values = values.into_iter().map(lower).collect();
        }
        if values.is_empty() {
            return Ok(lit(negated));
        }
        // A null is in no list (Kusto's answer is false, so `not(x in (...))` keeps the row).
        let test = Expr::InList(InList::new(Box::new(left), values, negated));
        Ok(if negated { super::nulls::null_as_true(test) } else { super::nulls::null_as_false(test) })
    }

    /// `x in (T | project y)`: the first column of a tabular expression.
    fn in_subquery(&self, x: &ast::Expr, negated: bool, ci: bool, item: &ast::PipeExpr) -> Result<Expr> {
        let sub = self.first_column(item)?;
        let column = sub.schema().field(0).clone();
        let column_is_dynamic = crate::types::is_dynamic_field(&column);
        let mut left = self.plan(x)?;
        // A dynamic value is looked for as the column's type (`EventData.Port in (Ports |
        // project Port)` compares longs), or as text among dynamic values.
        if self.is_dynamic(&left, x.span)? {
            left =
                if column_is_dynamic { functions::udfs().dyn_to_string.call(vec![left]) } else { self.undynamic(left, column.data_type()) };
        }
        // As for a list of values: a string is not looked for among longs (the values would be
        // cast to the left's type as the query runs, and the first that does not convert fails
        // it). A dynamic column's values take the left's type where they have it, and are null
        // (found by no value) where they do not.
        let left_type = self.type_of(&left, x.span)?;
        let mut plan = sub;
        if column_is_dynamic {
            if !is_string(&left_type) {
                let (qualifier, field) = plan.schema().qualified_field(0);
                let value = self.undynamic(Expr::Column(Column::new(qualifier.cloned(), field.name())), &left_type);
                let name = field.name().clone();
                plan = datafusion::logical_expr::LogicalPlanBuilder::from(plan).project_exact(vec![value.alias(name)])?.build()?;
            }
        } else {
            check_comparable(&left_type, column.data_type(), item.span, if ci { "in~" } else { "in" })?;
        }
        if ci {
            let (qualifier, field) = plan.schema().qualified_field(0);
            let c = Expr::Column(Column::new(qualifier.cloned(), field.name()));
            let name = field.name().clone();
            plan = datafusion::logical_expr::LogicalPlanBuilder::from(plan).project_exact(vec![lower(c).alias(name)])?.build()?;
            left = lower(left);
        }
        Ok(datafusion::logical_expr::expr_fn::in_subquery(left, Arc::new(plan)).pipe_negate(negated))
    }

    /// The first column of a tabular expression, as a one-column plan.
    pub fn first_column(&self, pipe: &ast::PipeExpr) -> Result<datafusion::logical_expr::LogicalPlan> {
        let (tab, field) = self.with_first_field(pipe)?;
        let field = field.name();
        // A qualifier of its own keeps the subquery's names apart from the outer query's.
        static SUBQUERIES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let alias = format!("__kql_subquery_{}", SUBQUERIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        Ok(datafusion::logical_expr::LogicalPlanBuilder::from(tab.plan)
            .project_exact(vec![Expr::Column(Column::new_unqualified(field)).alias(format!("{alias}_value"))])?
            .alias(alias)?
            .build()?)
    }

    /// A tabular expression planned, and its first column.
    fn with_first_field(&self, pipe: &ast::PipeExpr) -> Result<(Tabular, arrow::datatypes::FieldRef)> {
        let tab = self.planner.plan_tabular(self.env, pipe)?;
        let Some(field) = tab.plan.schema().fields().first().cloned() else {
            return Err(KqlError::at(pipe.span, "the tabular expression has no columns"));
        };
        Ok((tab, field))
    }

    fn is_table_name(&self, e: &ast::Expr) -> bool {
        match &e.kind {
            ExprKind::Name(n) => {
                !self.schema.has_column_with_unqualified_name(n)
                    && (matches!(self.env.get(n), Some(Binding::Tabular(_)))
                        || (self.env.get(n).is_none() && self.planner.catalog.contains(n)))
            }
            _ => false,
        }
    }

    /// `and` / `or`. An operand that is itself a comparison or a logical operator is a bool by
    /// construction, so its type is not asked for: asking walks the whole subtree, and a long
    /// chain of `or`s (as machine-written rules have) would take cubic time.
    fn logical(&self, op: BinaryOp, left: &ast::Expr, right: &ast::Expr) -> Result<Expr> {
        let operand = |e: &ast::Expr| -> Result<Expr> {
            let x = self.plan(e)?;
            if is_bool_by_construction(&x) {
                return Ok(x);
            }
            let x = if self.is_dynamic(&x, e.span)? { self.undynamic(x, &DataType::Boolean) } else { x };
            let t = self.type_of(&x, e.span)?;
            if !matches!(t, DataType::Boolean | DataType::Null) {
                return Err(KqlError::at(e.span, format!("'{}' needs bool operands, got {}", op.token(), kql_type_of(&t))));
            }
            Ok(x)
        };
        let df_op = if op == BinaryOp::And { Operator::And } else { Operator::Or };
        let operands = chain_operands(op, left, right).into_iter().map(operand).collect::<Result<Vec<_>>>()?;
        Ok(balanced_logical(operands, df_op))
    }

    fn binary(&self, op: BinaryOp, left: &ast::Expr, right: &ast::Expr, span: Span) -> Result<Expr> {
        if let BinaryOp::Str(sop) = op {
            return self.string_op(sop, left, right);
        }
        let token = op.token();
        if matches!(op, BinaryOp::And | BinaryOp::Or) {
            return self.logical(op, left, right);
        }
        let (l, lt, r, rt) = self.operands(left, right)?;
        match op {
            BinaryOp::And | BinaryOp::Or => self.logical(op, left, right),
            BinaryOp::Eq | BinaryOp::NotEq | BinaryOp::Lt | BinaryOp::LtEq | BinaryOp::Gt | BinaryOp::GtEq => {
                check_comparable(&lt, &rt, span, &token)?;
                let df_op = match op {
                    BinaryOp::Eq => Operator::Eq,
                    BinaryOp::NotEq => Operator::NotEq,
                    BinaryOp::Lt => Operator::Lt,
                    BinaryOp::LtEq => Operator::LtEq,
                    BinaryOp::Gt => Operator::Gt,
                    _ => Operator::GtEq,
                };
                if matches!(df_op, Operator::Eq | Operator::NotEq) {
                    if is_string(&lt) && is_string(&rt) {
                        return Ok(super::nulls::string_equality(l, df_op, r));
                    }
                    return Ok(super::nulls::equality(l, df_op, r, &self.schema));
                }
                Ok(binary_expr(l, df_op, r))
            }
            BinaryOp::EqCi | BinaryOp::NotEqCi => {
                if !(is_string(&lt) || lt == DataType::Null) || !(is_string(&rt) || rt == DataType::Null) {
                    return Err(KqlError::at(
                        span,
                        format!("'{token}' compares strings, got {} and {}", kql_type_of(&lt), kql_type_of(&rt)),
                    ));
                }
                let df_op = if op == BinaryOp::EqCi { Operator::Eq } else { Operator::NotEq };
                Ok(super::nulls::string_equality(lower(l), df_op, lower(r)))
            }
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => self.arithmetic(op, l, lt, r, rt, span),
            BinaryOp::Str(_) => unreachable!("handled above"),
        }
    }

    fn arithmetic(&self, op: BinaryOp, l: Expr, lt: DataType, r: Expr, rt: DataType, span: Span) -> Result<Expr> {
        let df_op = match op {
            BinaryOp::Add => Operator::Plus,
            BinaryOp::Sub => Operator::Minus,
            BinaryOp::Mul => Operator::Multiply,
            BinaryOp::Div => Operator::Divide,
            _ => Operator::Modulo,
        };
        let is_dt = |t: &DataType| matches!(t, DataType::Timestamp(..));
        let is_ts = |t: &DataType| *t == TIMESPAN;
        let num = |t: &DataType| t.is_numeric() || *t == DataType::Null;
        let mismatch = || KqlError::at(span, format!("cannot apply '{}' to {} and {}", op.token(), kql_type_of(&lt), kql_type_of(&rt)));
        // Integer arithmetic is `long` arithmetic in Kusto (`int + int` is a long: the official
        // analyzer's type), so `int` operands widen first and cannot overflow 32 bits; and an
        // integer `/` or `%` by zero is null for that row, never an error for the query.
        let (l, r) = if lt.is_integer() && rt.is_integer() {
            let long = |e: Expr, t: &DataType| if *t == DataType::Int64 { e } else { cast(e, DataType::Int64) };
            let r = long(r, &rt);
            let r = if matches!(df_op, Operator::Divide | Operator::Modulo) { nullif(r, lit(0i64)) } else { r };
            (long(l, &lt), r)
        } else {
            (l, r)
        };
        // A decimal with any number is a decimal in Kusto (even with a real).
        let is_decimal = |t: &DataType| matches!(t, DataType::Decimal128(..));
        if (is_decimal(&lt) || is_decimal(&rt)) && num(&lt) && num(&rt) {
            return Ok(decimal_arithmetic(l, df_op, r));
        }
        // The operator and its place, for an overflow error to point at (a function file's
        // places are not the query's).
        let at = || {
            let token = op.token();
            if self.env.in_function_file { token.to_string() } else { functions::arithmetic::operation(&token, span.start, span.end) }
        };
        match (df_op, &lt, &rt) {
            // Kusto's `%` is never negative: -14 % 12 is 10, 14 % -12 is 2. Over longs it is a
            // step of the long chain, so that `x % 7 % 5 ...` is planned in linear time.
            (Operator::Modulo, a, b) if a.is_integer() && b.is_integer() => Ok(long_operation(l, r, at())),
            // Over reals, a link of the real chain: `y % 7.5 % 2.5 ...` is planned in linear time.
            // (A real operand is not cast: a cast would hide the link before it.)
            (Operator::Modulo, a, b) if num(a) && num(b) => {
                let real = |e: Expr, t: &DataType| if *t == DataType::Float64 { e } else { cast(e, DataType::Float64) };
                self.real_operation(real(l, a), Operator::Modulo, real(r, b), span)
            }
            // Long arithmetic reports overflow at the operator (Kusto: an overflow fails the
            // query); DataFusion's own operators would wrap around.
            (Operator::Plus | Operator::Minus | Operator::Multiply | Operator::Divide, a, b) if a.is_integer() && b.is_integer() => {
                Ok(long_operation(l, r, at()))
            }
            // Real arithmetic as DataFusion computes it; a long run of it as one call.
            (Operator::Plus | Operator::Minus | Operator::Multiply | Operator::Divide, a, b)
                if num(a) && num(b) && (*a == DataType::Float64 || *b == DataType::Float64) =>
            {
                self.real_operation(l, df_op, r, span)
            }
            (_, a, b) if num(a) && num(b) => Ok(binary_expr(cut_deep_chain(l, a), df_op, r)),
            (Operator::Minus, a, b) if is_dt(a) && is_dt(b) => Ok(datetime_difference(l, r)),
            (Operator::Plus | Operator::Minus, a, b) if is_dt(a) && (is_ts(b) || *b == DataType::Null) => Ok(datetime_plus(l, r, df_op)),
            (Operator::Plus, a, b) if is_ts(a) && is_dt(b) => Ok(datetime_plus(r, l, df_op)),
            (Operator::Plus | Operator::Minus, a, b) if is_ts(a) && is_ts(b) => {
                let step =
                    if df_op == Operator::Minus { functions::arithmetic::TIMESPAN_MINUS } else { functions::arithmetic::TIMESPAN_PLUS };
                Ok(cast(long_operation(nanos(l), nanos(r), step.to_string()), TIMESPAN))
            }
            // A zero divisor is null, as for longs (DataFusion's `%` would fail the query).
            (Operator::Modulo, a, b) if is_ts(a) && is_ts(b) => {
                Ok(cast(binary_expr(nanos(l), df_op, nullif(nanos(r), lit(0i64))), TIMESPAN))
            }
            (Operator::Divide, a, b) if is_ts(a) && is_ts(b) => {
                Ok(binary_expr(cast(nanos(l), DataType::Float64), Operator::Divide, cast(nanos(r), DataType::Float64)))
            }
            (Operator::Multiply | Operator::Divide, a, b) if is_ts(a) && b.is_numeric() => Ok(cast(
                try_cast(binary_expr(cast(nanos(l), DataType::Float64), df_op, cast(r, DataType::Float64)), DataType::Int64),
                TIMESPAN,
            )),
            (Operator::Multiply, a, b) if a.is_numeric() && is_ts(b) => Ok(cast(
                try_cast(binary_expr(cast(l, DataType::Float64), df_op, cast(nanos(r), DataType::Float64)), DataType::Int64),
                TIMESPAN,
            )),
            _ => Err(mismatch()),
        }
    }

    /// `l op r` over reals (`op` is `+`, `-`, `*`, `/` or `%`): DataFusion's operator (and
    /// `kql_modulo` for Kusto's never-negative `%`), or, once `l` ends a run of `CHAIN_FROM` such
    /// operators over reals, one `kql_real_chain` call that holds the whole run (see
    /// `arithmetic::REAL_CHAIN`).
    fn real_operation(&self, l: Expr, op: Operator, r: Expr, span: Span) -> Result<Expr> {
        const CHAIN_FROM: usize = 16;
        let token = op.to_string();
        let udfs = functions::udfs();
        match l {
            Expr::ScalarFunction(ScalarFunction { func, mut args }) if func.name() == functions::arithmetic::REAL_CHAIN => {
                let Some(Expr::Literal(ScalarValue::Utf8(Some(mut operations)), _)) = args.pop() else {
                    return Err(KqlError::at(span, "internal error: a real chain without its operations"));
                };
                // Appended in place: a copy per link cost the square of the chain's length.
                operations.push(';');
                operations.push_str(&token);
                args.push(r);
                args.push(Expr::Literal(ScalarValue::Utf8(Some(operations)), None));
                Ok(udfs.real_chain.call(args))
            }
            l => {
                // The links of the run `l` ends: operators over reals, each typed a real (an
                // operator over two longs inside the run would divide as longs).
                let mut links = 0;
                let mut at = &l;
                while let Some(left) = real_link(at)
                    && self.type_of(at, span)? == DataType::Float64
                    && links + 1 < CHAIN_FROM
                {
                    links += 1;
                    at = left;
                }
                if links + 1 < CHAIN_FROM {
                    return Ok(match op {
                        Operator::Modulo => udfs.modulo.call(vec![l, r]),
                        op => binary_expr(l, op, r),
                    });
                }
                let (mut operands, mut operations) = (vec![r], vec![token]);
                let mut at_link = l;
                for _ in 0..links {
                    let (left, right, operation) = match at_link {
                        Expr::BinaryExpr(b) => (*b.left, *b.right, b.op.to_string()),
                        Expr::ScalarFunction(ScalarFunction { func, args }) if func.name() == functions::arithmetic::MODULO => {
                            let Ok([left, right]) = <[Expr; 2]>::try_from(args) else {
                                return Err(KqlError::at(span, "internal error: a real modulo of other than two operands"));
                            };
                            (left, right, "%".to_string())
                        }
                        _ => return Err(KqlError::at(span, "internal error: a real chain's link is not an operator")),
                    };
                    operands.push(right);
                    operations.push(operation);
                    at_link = left;
                }
                operands.push(at_link);
                operands.reverse();
                operations.reverse();
                operands.push(lit(operations.join(";")));
                Ok(udfs.real_chain.call(operands))
            }
        }
    }

    fn string_op(&self, sop: ast::StringOp, left: &ast::Expr, right: &ast::Expr) -> Result<Expr> {
        use functions::string::Test;
        let hay = self.as_string(left)?;
        let needle = self.plan(right)?;
        let nt = self.type_of(&needle, right.span)?;
        if !is_string(&nt) {
            return Err(KqlError::at(right.span, format!("'{}' needs a string on its right, got {}", sop.token(), kql_type_of(&nt))));
        }
        let positive = match sop.test {
            StringTest::Has => string_test(hay, needle, Test::Has, sop.case_sensitive),
            StringTest::HasPrefix => string_test(hay, needle, Test::HasPrefix, sop.case_sensitive),
            StringTest::HasSuffix => string_test(hay, needle, Test::HasSuffix, sop.case_sensitive),
            StringTest::Contains => string_test(hay, needle, Test::Contains, sop.case_sensitive),
            StringTest::StartsWith => string_test(hay, needle, Test::StartsWith, sop.case_sensitive),
            StringTest::EndsWith => string_test(hay, needle, Test::EndsWith, sop.case_sensitive),
            StringTest::MatchesRegex => {
                let needle = match &needle {
                    Expr::Literal(ScalarValue::Utf8(Some(p)), _) => {
                        if let Err(e) = crate::functions::regex_syntax::compile(p) {
                            return Err(KqlError::at(right.span, format!("invalid regular expression: {e}")));
                        }
                        lit(crate::functions::regex_syntax::kusto_regex(p).into_owned())
                    }
                    _ => needle,
                };
                datafusion::functions::regex::expr_fn::regexp_like(hay, needle, None)
            }
            StringTest::Like => {
                Expr::Like(datafusion::logical_expr::expr::Like::new(false, Box::new(hay), Box::new(needle), None, !sop.case_sensitive))
            }
        };
        // A null string is Kusto's "": a test on it is false, its negation true.
        Ok(if sop.negated { super::nulls::null_as_true(positive.not()) } else { super::nulls::null_as_false(positive) })
    }
}

/// The left operand of a link a real chain takes: `left op right` with `op` one of `+`, `-`,
/// `*`, `/`, or Kusto's `%` (a `kql_modulo` call).
fn real_link(e: &Expr) -> Option<&Expr> {
    match e {
        Expr::BinaryExpr(b) if matches!(b.op, Operator::Plus | Operator::Minus | Operator::Multiply | Operator::Divide) => Some(&b.left),
        Expr::ScalarFunction(ScalarFunction { func, args }) if func.name() == functions::arithmetic::MODULO => match args.as_slice() {
            [left, _] => Some(left),
            _ => None,
        },
        _ => None,
    }
}

trait Negate {
    fn pipe_negate(self, negated: bool) -> Expr;
}

impl Negate for Expr {
    fn pipe_negate(self, negated: bool) -> Expr {
        if negated { self.not() } else { self }
    }
}

fn string_test(hay: Expr, needle: Expr, test: functions::string::Test, case_sensitive: bool) -> Expr {
    functions::udfs().string_test.call(vec![hay, needle, Expr::Literal(test.code(case_sensitive), None)])
}

pub fn lower(e: Expr) -> Expr {
    if let Expr::Literal(ScalarValue::Utf8(Some(s)), m) = &e {
        return Expr::Literal(ScalarValue::Utf8(Some(s.to_lowercase())), m.clone());
    }
    datafusion::functions::string::expr_fn::lower(e)
}

/// Decimal arithmetic in `decimal` (Decimal128(38, 18)): sums and differences exactly;
/// products from operands rounded to 9 fraction digits, so that the product's 18 digits fit;
/// quotients and remainders through reals (DataFusion's decimal division overflows at this
/// scale).
fn decimal_arithmetic(l: Expr, op: Operator, r: Expr) -> Expr {
    use crate::types::DECIMAL;
    let decimal = try_cast;
    let result = match op {
        Operator::Plus | Operator::Minus => binary_expr(decimal(l, DECIMAL), op, decimal(r, DECIMAL)),
        Operator::Multiply => {
            let half = DataType::Decimal128(38, 9);
            binary_expr(decimal(l, half.clone()), op, decimal(r, half))
        }
        // Through the real's shortest text, so 1/3 is 0.3333333333333333 and not the binary
        // double's 0.333333333333333314...; a division by zero (infinity) becomes null.
        _ => cast(binary_expr(cast(l, DataType::Float64), op, cast(r, DataType::Float64)), DataType::Utf8),
    };
    decimal(result, DECIMAL)
}

/// The most operations a planned expression may nest. Runs of `and` and `or`, and of `long`,
/// `real`, datetime and timespan `+`/`-` (and `long`/`real` `*`, `/`) are planned flat or
/// balanced, and brackets nest at most 64 levels, so real queries stay far below (each bracket
/// level is a few nodes); but operators that each wrap the one before (`x has
/// "a" has "a" ...`, `y % 7 % 7 ...`, 20,000 of them) made a tree that DataFusion walks
/// recursively, unguarded (its display of an expression), and the process aborted.
const MAX_EXPRESSION_DEPTH: usize = 1000;

/// An error at `span` when `e` nests more than `MAX_EXPRESSION_DEPTH` operations; walked with
/// a stack of its own, not by recursion.
fn check_depth(e: &Expr, span: Span) -> Result<()> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    // Each node with the number of operations from the root down to it, itself included.
    let mut pending = vec![(e, 1usize)];
    while let Some((node, depth)) = pending.pop() {
        let before = pending.len();
        node.apply_children(|child| {
            pending.push((child, depth + 1));
            Ok(TreeNodeRecursion::Continue)
        })?;
        // A node without children (a column, a constant) is no operation.
        if pending.len() > before && depth > MAX_EXPRESSION_DEPTH {
            return Err(too_deep(span));
        }
    }
    Ok(())
}

fn too_deep(span: Span) -> KqlError {
    KqlError::at(
        span,
        format!("query too deep: the expression nests more than {MAX_EXPRESSION_DEPTH} operations; split it into extend steps"),
    )
}

/// How much stack `plan` keeps free before it recurses (a level of a debug build's planning
/// takes about 20 KB), and how much it adds when less is left.
const STACK_RED_ZONE: usize = 256 * 1024;
const STACK_SEGMENT: usize = 8 * 1024 * 1024;

/// `e` as `t`, null where it does not fit (a timespan scaled past ±292 years).
fn try_cast(e: Expr, t: DataType) -> Expr {
    Expr::TryCast(datafusion::logical_expr::TryCast::new(Box::new(e), t))
}

/// A timespan as its nanoseconds.
pub fn nanos(e: Expr) -> Expr {
    as_long(e)
}

/// A datetime as its microseconds since the epoch.
pub fn micros(e: Expr) -> Expr {
    as_long(e)
}

/// A timespan or datetime as the long it holds. Where it is the cast of a long that kql's own
/// arithmetic made (`t + 1s + 1s`: each step casts its sum to a datetime, and the next step
/// back), that long itself: DataFusion's physical cast asks its input's field twice, so a run
/// of n such pairs cost 2^n to plan (20 terms: more than 20 s).
fn as_long(e: Expr) -> Expr {
    match e {
        Expr::Cast(c)
            if matches!(c.field.data_type(), DataType::Duration(_) | DataType::Timestamp(..)) && is_long_by_construction(&c.expr) =>
        {
            *c.expr
        }
        other => cast(other, DataType::Int64),
    }
}

/// Whether `e` is a long whatever its inputs: a cast to long, kql's long arithmetic
/// (`kql_long_arith`, `kql_long_chain`: datetime and timespan steps too), or the `+`, `-`, `*`,
/// `/` or `%` of two such.
fn is_long_by_construction(e: &Expr) -> bool {
    match e {
        Expr::Cast(c) => *c.field.data_type() == DataType::Int64,
        Expr::TryCast(c) => *c.field.data_type() == DataType::Int64,
        Expr::Literal(ScalarValue::Int64(_), _) => true,
        Expr::ScalarFunction(f) => f.name() == functions::arithmetic::LONG_ARITH || f.name() == functions::arithmetic::LONG_CHAIN,
        Expr::BinaryExpr(b) => {
            matches!(b.op, Operator::Plus | Operator::Minus | Operator::Multiply | Operator::Divide | Operator::Modulo)
                && is_long_by_construction(&b.left)
                && is_long_by_construction(&b.right)
        }
        _ => false,
    }
}

/// `datetime ± timespan`: whole microseconds of the timespan, added to the datetime's. A result
/// past Kusto's datetime range is null, never a wrapped date. A step of a long chain
/// (`arithmetic::DATETIME_PLUS`), so that `t + 1s + 1s + ...` is one call.
pub fn datetime_plus(dt: Expr, span: Expr, op: Operator) -> Expr {
    let step = if op == Operator::Minus { functions::arithmetic::DATETIME_MINUS } else { functions::arithmetic::DATETIME_PLUS };
    cast(long_operation(micros(dt), nanos(span), step.to_string()), datetime_type())
}

/// `datetime - datetime`: a timespan in nanoseconds. Timespans hold ±292 years; a longer
/// difference (`now() - datetime(1601-01-01)`, a common "never" sentinel) saturates at that
/// bound instead of failing or wrapping, so that comparing it with any shorter timespan
/// (`> 90d`) still gives Kusto's answer; only its printed value is short of Kusto's.
fn datetime_difference(l: Expr, r: Expr) -> Expr {
    let micros_apart = binary_expr(micros(l), Operator::Minus, micros(r));
    let limit = i64::MAX / kql_grammar::values::NANOS_PER_MICRO;
    let nanos_apart = binary_expr(micros_apart.clone(), Operator::Multiply, lit(kql_grammar::values::NANOS_PER_MICRO));
    let saturated = Expr::Case(datafusion::logical_expr::expr::Case::new(
        None,
        vec![
            (Box::new(micros_apart.clone().gt(lit(limit))), Box::new(lit(i64::MAX))),
            (Box::new(micros_apart.lt(lit(-limit))), Box::new(lit(i64::MIN))),
        ],
        Some(Box::new(nanos_apart)),
    ));
    cast(saturated, TIMESPAN)
}

/// `l op r` over longs (`at` is the operator and its place): a `kql_long_arith` call, or, once
/// `l` ends a run of `CHAIN_FROM` such calls (`a + b + c + ...`), one `kql_long_chain` call
/// that holds the whole run, so that typing it does not walk the run again at every link.
fn long_operation(l: Expr, r: Expr, at: String) -> Expr {
    const CHAIN_FROM: usize = 16;
    let udfs = functions::udfs();
    match l {
        Expr::ScalarFunction(ScalarFunction { func, mut args }) if func.name() == functions::arithmetic::LONG_CHAIN => {
            let mut operations = match args.pop() {
                Some(Expr::Literal(ScalarValue::Utf8(Some(operations)), _)) => operations,
                other => {
                    // Not a chain kql made; left as it was, with one more link.
                    args.extend(other);
                    return udfs.long_arith.call(vec![Expr::ScalarFunction(ScalarFunction { func, args }), r, lit(at)]);
                }
            };
            // Appended in place: a copy per link cost the square of the chain's length.
            operations.push(';');
            operations.push_str(&at);
            args.push(r);
            args.push(Expr::Literal(ScalarValue::Utf8(Some(operations)), None));
            udfs.long_chain.call(args)
        }
        l if long_run(&l) + 1 >= CHAIN_FROM => {
            let (mut operands, mut operations) = (vec![r], vec![at]);
            let mut at_link = l;
            loop {
                match at_link {
                    Expr::ScalarFunction(ScalarFunction { func, args }) if is_long_link(func.name(), &args) => {
                        // The guard checked the three arguments and the operation's literal.
                        let [left, right, operation]: [Expr; 3] = match args.try_into() {
                            Ok(three) => three,
                            Err(_) => unreachable!("three arguments, checked by is_long_link"),
                        };
                        let Expr::Literal(ScalarValue::Utf8(Some(operation)), _) = operation else {
                            unreachable!("a string literal, checked by is_long_link")
                        };
                        operands.push(right);
                        operations.push(operation);
                        at_link = left;
                    }
                    first => {
                        operands.push(first);
                        break;
                    }
                }
            }
            operands.reverse();
            operations.reverse();
            operands.push(lit(operations.join(";")));
            udfs.long_chain.call(operands)
        }
        l => udfs.long_arith.call(vec![l, r, lit(at)]),
    }
}

/// How many `kql_long_arith` calls `e` ends: `a + b + c` over longs is two.
fn long_run(e: &Expr) -> usize {
    let mut n = 0;
    let mut at = e;
    while let Expr::ScalarFunction(f) = at
        && is_long_link(f.name(), &f.args)
    {
        n += 1;
        at = &f.args[0];
    }
    n
}

/// Whether a call is a `kql_long_arith(l, r, 'op@place')` that `long_operation` can take into
/// a chain.
fn is_long_link(name: &str, args: &[Expr]) -> bool {
    name == functions::arithmetic::LONG_ARITH && matches!(args, [_, _, Expr::Literal(ScalarValue::Utf8(Some(_)), _)])
}

/// `l`, or `l` behind a cast to its own type when it ends a chain of 32 binary operators
/// (`a + b + c + ...` over numbers other than longs and reals, such as two `float` columns;
/// runs of longs and of reals are one call each). DataFusion finds the type of an operator by
/// asking its operands, so the type checks of a long chain cost the square of its length
/// (1,000 terms: seconds); a cast states its type and stops that walk.
fn cut_deep_chain(l: Expr, t: &DataType) -> Expr {
    const LINK: usize = 32;
    let mut depth = 0;
    let mut at = &l;
    loop {
        at = match at {
            Expr::BinaryExpr(b) => &b.left,
            _ => return l,
        };
        depth += 1;
        if depth >= LINK {
            return Expr::Cast(datafusion::logical_expr::Cast::new(Box::new(l), t.clone()));
        }
    }
}

/// KQL compares numbers with numbers, strings with strings, and each other type with itself.
fn check_comparable(a: &DataType, b: &DataType, span: Span, op: &str) -> Result<()> {
    let class = |t: &DataType| -> &'static str {
        if t.is_numeric() {
            "number"
        } else if is_string(t) {
            "string"
        } else {
            kql_type_of(t)
        }
    };
    if *a == DataType::Null || *b == DataType::Null || class(a) == class(b) {
        return Ok(());
    }
    Err(KqlError::at(span, format!("cannot compare {} with {} using '{op}'", kql_type_of(a), kql_type_of(b))))
}

fn negate_scalar(v: &ScalarValue) -> Option<ScalarValue> {
    Some(match v {
        ScalarValue::Int64(Some(x)) => ScalarValue::Int64(Some(x.checked_neg()?)),
        ScalarValue::Int32(Some(x)) => ScalarValue::Int32(Some(x.checked_neg()?)),
        ScalarValue::Float64(Some(x)) => ScalarValue::Float64(Some(-x)),
        ScalarValue::DurationNanosecond(Some(x)) => ScalarValue::DurationNanosecond(Some(x.checked_neg()?)),
        _ => return None,
    })
}

/// A KQL literal as a DataFusion literal.
pub fn literal(l: &Literal) -> Expr {
    let v = match l {
        Literal::Bool(b) => ScalarValue::Boolean(Some(*b)),
        Literal::Long(v) => ScalarValue::Int64(Some(*v)),
        Literal::Int(v) => ScalarValue::Int32(Some(*v)),
        Literal::Real(v) => ScalarValue::Float64(Some(*v)),
        Literal::String(s) => ScalarValue::Utf8(Some(s.clone())),
        Literal::DateTime(ns) => functions::datetime::datetime_scalar(Some(*ns)),
        Literal::TimeSpan(ns) => ScalarValue::DurationNanosecond(Some(*ns)),
        Literal::Guid(g) => ScalarValue::Utf8(Some(g.clone())),
        Literal::Decimal(d) => {
            ScalarValue::Utf8(Some(d.clone())).cast_to(&crate::types::DECIMAL).unwrap_or(ScalarValue::Decimal128(None, 38, 18))
        }
        Literal::Dynamic(d) => return dynamic_literal(d),
        Literal::Null(t) => match ScalarValue::try_from(&arrow_type(*t)) {
            Ok(v) => v,
            Err(_) => ScalarValue::Null,
        },
    };
    Expr::Literal(v, None)
}

/// A `dynamic(...)` value as JSON text tagged with the `arrow.json` extension.
pub fn dynamic_literal(d: &DynValue) -> Expr {
    let json = dyn_to_json(d).to_string();
    let metadata = FieldMetadata::from(std::collections::BTreeMap::from([(EXTENSION_KEY.to_string(), JSON_EXTENSION.to_string())]));
    Expr::Literal(ScalarValue::Utf8(Some(json)), Some(metadata))
}

pub fn dyn_to_json(d: &DynValue) -> serde_json::Value {
    use serde_json::Value as J;
    match d {
        DynValue::Null => J::Null,
        DynValue::Bool(b) => J::Bool(*b),
        DynValue::Long(v) => J::from(*v),
        DynValue::Real(v) => serde_json::Number::from_f64(*v).map(J::Number).unwrap_or(J::Null),
        DynValue::String(s) => J::String(s.clone()),
        DynValue::DateTime(ns) => J::String(kql_grammar::values::format_datetime_full(*ns)),
        DynValue::TimeSpan(ns) => J::String(kql_grammar::values::format_timespan(*ns)),
        DynValue::Array(items) => J::Array(items.iter().map(dyn_to_json).collect()),
        DynValue::Object(fields) => J::Object(fields.iter().map(|(k, v)| (k.clone(), dyn_to_json(v))).collect()),
    }
}

/// One element of a dynamic array as a typed scalar (for `in` lists and range lists).
pub fn dyn_scalar(d: &DynValue) -> Expr {
    match d {
        DynValue::Null => Expr::Literal(ScalarValue::Null, None),
        DynValue::Bool(b) => lit(*b),
        DynValue::Long(v) => lit(*v),
        DynValue::Real(v) => lit(*v),
        DynValue::String(s) => lit(s.clone()),
        DynValue::DateTime(ns) => Expr::Literal(functions::datetime::datetime_scalar(Some(*ns)), None),
        DynValue::TimeSpan(ns) => Expr::Literal(ScalarValue::DurationNanosecond(Some(*ns)), None),
        DynValue::Array(_) | DynValue::Object(_) => dynamic_literal(d),
    }
}

/// Evaluates an expression that reads no columns.
pub fn evaluate_constant(e: &Expr) -> Result<ScalarValue> {
    if let Expr::Literal(v, _) = e {
        return Ok(v.clone());
    }
    // A `toscalar()` is a query of its own: it has no value until that query runs.
    if datafusion::common::tree_node::TreeNode::exists(e, |x| Ok(matches!(x, Expr::ScalarSubquery(_)))).unwrap_or(false) {
        return Err(KqlError::new("this value must be a constant: toscalar() is not supported here yet"));
    }
    // A column has no value before the query runs; name it rather than let DataFusion say
    // "No field named" about a column the table does have.
    if let Some(column) = e.column_refs().into_iter().map(|c| c.name.as_str()).min() {
        return Err(KqlError::new(format!("this value must be a constant, not the column `{column}`")));
    }
    // Some DataFusion functions only run once simplified (`coalesce` becomes a CASE), as the
    // optimizer would have done in a query; where simplifying fails, the error comes from
    // evaluating the expression as it is.
    let simplifier =
        datafusion::optimizer::simplify_expressions::ExprSimplifier::new(datafusion::logical_expr::simplify::SimplifyContext::default());
    // Types are coerced first, as the analyzer does for a query's expressions: `3 - 0.5`
    // (a range bound) is a long minus a real, which Arrow's kernels do not take as they are.
    let schema = DFSchema::empty();
    let coerced = simplifier.coerce(e.clone(), &schema).unwrap_or_else(|_| e.clone());
    let simplified = simplifier.simplify(coerced.clone()).unwrap_or(coerced);
    if let Expr::Literal(v, _) = &simplified {
        return Ok(v.clone());
    }
    let physical = create_physical_expr(&simplified, &schema, &ExecutionProps::new(), &PhysicalPlanningContext::default())?;
    let batch = RecordBatch::try_new_with_options(
        Arc::new(arrow::datatypes::Schema::empty()),
        vec![],
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(1)),
    )?;
    let value = physical.evaluate(&batch)?;
    Ok(match value {
        datafusion::logical_expr::ColumnarValue::Scalar(s) => s,
        datafusion::logical_expr::ColumnarValue::Array(a) => ScalarValue::try_from_array(&a, 0)?,
    })
}

/// The operands of a chain of one logical operator (`a or b or c`, however the parser nested
/// it), left to right.
fn chain_operands<'e>(op: BinaryOp, left: &'e ast::Expr, right: &'e ast::Expr) -> Vec<&'e ast::Expr> {
    let mut operands = Vec::new();
    // Right operand first on the stack, so that the left one is taken (and split) first.
    let mut pending = vec![right, left];
    while let Some(e) = pending.pop() {
        match &e.kind {
            ExprKind::Binary { op: inner, left, right } if *inner == op => {
                pending.push(right);
                pending.push(left);
            }
            _ => operands.push(e),
        }
    }
    operands
}

/// `and` / `or` of `operands` as a balanced tree. `and` and `or` are associative (nulls read as
/// false), so the result is the chain's; but DataFusion types and names an expression by walking
/// it at every level, so a left-deep chain of n terms cost n^2: 5,000 `or`ed comparisons (an
/// indicator list written out) took 7.6 s to plan.
fn balanced_logical(operands: Vec<Expr>, op: Operator) -> Expr {
    balanced(operands, &|l, r| super::nulls::logical(l, op, r))
}

/// `operands` combined pairwise by an associative `combine`, as a tree of depth log2(n) (see
/// `balanced_logical`). `operands` is not empty.
pub(super) fn balanced(mut operands: Vec<Expr>, combine: &dyn Fn(Expr, Expr) -> Expr) -> Expr {
    if operands.len() <= 1 {
        return operands.pop().unwrap_or(Expr::Literal(ScalarValue::Null, None));
    }
    let right = operands.split_off(operands.len() / 2);
    combine(balanced(operands, combine), balanced(right, combine))
}

/// Whether an expression is a bool whatever its inputs: a comparison, `and`/`or`, `not`, a null
/// test or a pattern match.
fn is_bool_by_construction(e: &Expr) -> bool {
    match e {
        Expr::BinaryExpr(b) => matches!(
            b.op,
            Operator::Eq
                | Operator::NotEq
                | Operator::Lt
                | Operator::LtEq
                | Operator::Gt
                | Operator::GtEq
                | Operator::And
                | Operator::Or
                | Operator::IsDistinctFrom
                | Operator::IsNotDistinctFrom
        ),
        Expr::Not(_)
        | Expr::IsNull(_)
        | Expr::IsNotNull(_)
        | Expr::IsTrue(_)
        | Expr::IsFalse(_)
        | Expr::IsNotFalse(_)
        | Expr::IsNotTrue(_)
        | Expr::Case(_)
        | Expr::Like(_)
        | Expr::SimilarTo(_)
        | Expr::InList(_)
        | Expr::Between(_) => true,
        Expr::Alias(a) => is_bool_by_construction(&a.expr),
        _ => false,
    }
}

/// `base[key]` or `base.key`: a whole property path is one `kql_dyn_get` call (`d.a.b[0]` is
/// `kql_dyn_get(d, "a", "b", 0)`), so that each row's JSON is walked once, not parsed and
/// written out again at every level.
fn dyn_get(base: Expr, key: Expr) -> Expr {
    match base {
        Expr::ScalarFunction(mut call) if call.func.name() == "kql_dyn_get" => {
            call.args.push(key);
            Expr::ScalarFunction(call)
        }
        base => functions::udfs().dyn_get.call(vec![base, key]),
    }
}

/// `e` as a `long` when it is an `int`: Kusto computes `int` arithmetic, negation and `abs()`
/// in `long`. A literal is converted as a literal, so that it folds.
pub(super) fn int_as_long(e: Expr, schema: &DFSchema) -> Expr {
    if !e.get_type(schema).is_ok_and(|t| t == DataType::Int32) {
        return e;
    }
    match e {
        Expr::Literal(ScalarValue::Int32(v), m) => Expr::Literal(ScalarValue::Int64(v.map(i64::from)), m),
        other => datafusion::prelude::cast(other, DataType::Int64),
    }
}
