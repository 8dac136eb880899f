//! `scan`: a state machine over the rows in order, as Kusto defines it. Each step keeps a
//! state: the rows that matched the steps up to it in the current sequence. Every row is
//! checked against the steps from the last to the first:
//! 1. when the previous step has a state and the row meets the step's condition, that state
//!    moves to this step, extended by the row (the sequence advances);
//! 2. otherwise, when this step has a state (or is the first step) and the row meets its
//!    condition, the row replaces this step's own row in the state (a first step with no
//!    state starts a new sequence, with the next match id).
//!
//! Conditions and assignments read the row's columns and, as `step.column`, the state's rows.
//! A matched row, extended by the declared columns, is output per the step's `output=`.
//!
//! The rows are read while planning (as `evaluate pivot` does) and each check is evaluated
//! as a DataFusion expression over a one-row batch of the row and the state.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, new_null_array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::physical_expr::PhysicalExpr;
use kql_grammar::ast::{self, ExprKind, OperatorParam, ScanColumn, ScanOutput, ScanStep, Span};

use super::expr::ExprPlanner;
use super::{Env, Planner, Tabular};
use crate::error::{KqlError, Result};
use crate::types::{arrow_type, dynamic_field};

/// The name a `step.column` reference reads in the evaluation batch.
fn state_column(step: usize, column: &str) -> String {
    format!("__kql_scan_{step}_{column}")
}

/// Rewrites `s1.Ts` (a step's name, then a column) into the state column it reads; a column
/// the rows do not have is an error at the reference.
fn rewrite_state_refs(e: &ast::Expr, steps: &[ScanStep], columns: &[String]) -> Result<ast::Expr> {
    let mut e = e.clone();
    let mut error = None;
    rewrite_in_place(&mut e, steps, columns, &mut error);
    match error {
        Some(err) => Err(err),
        None => Ok(e),
    }
}

fn rewrite_in_place(e: &mut ast::Expr, steps: &[ScanStep], columns: &[String], error: &mut Option<KqlError>) {
    if let ExprKind::Member { expr, name } = &e.kind
        && let ExprKind::Name(step) = &expr.kind
        && let Some(j) = steps.iter().position(|s| s.name.name == *step)
    {
        if !columns.contains(name) {
            error.get_or_insert(KqlError::at(e.span, format!("step {step} has no column '{name}'")));
        }
        e.kind = ExprKind::Name(state_column(j, name));
        return;
    }
    e.for_each_child_mut(|child| rewrite_in_place(child, steps, columns, error));
}

/// One step, compiled.
struct Step {
    condition: Arc<dyn PhysicalExpr>,
    /// (index among the declared columns, value) per assignment.
    assignments: Vec<(usize, Arc<dyn PhysicalExpr>)>,
    output: ScanOutput,
}

/// The rows of a sequence so far: one per step up to the one that holds it.
#[derive(Clone)]
struct Sequence {
    rows: Vec<Vec<ScalarValue>>,
    match_id: i64,
}

/// A row to output: where it came from (to keep input order), its values and its match.
struct Emitted {
    input_row: usize,
    values: Vec<ScalarValue>,
    match_id: i64,
    step: usize,
}

/// The machine's run over the rows.
struct Machine<'a> {
    steps: Vec<Step>,
    /// The evaluation batch's schema: the row's columns, then each step's state columns.
    context: SchemaRef,
    /// Columns per state row: the input's, then the declared ones.
    width: usize,
    input_width: usize,
    defaults: &'a [ScalarValue],
    states: Vec<Option<Sequence>>,
    /// `output=last`: the latest row a step matched, output when its sequence moves on.
    pending: Vec<Option<Emitted>>,
    emitted: Vec<Emitted>,
    next_match_id: i64,
}

impl Machine<'_> {
    /// A state row before any match: nulls, and the declared columns' defaults.
    fn empty_row(&self) -> Vec<ScalarValue> {
        let nulls =
            self.context.fields()[..self.input_width].iter().map(|f| ScalarValue::try_from(f.data_type()).unwrap_or(ScalarValue::Null));
        nulls.chain(self.defaults.iter().cloned()).collect()
    }

    /// The evaluation batch for a row against a sequence (or none).
    fn batch(&self, row: &[ScalarValue], sequence: Option<&Sequence>) -> Result<RecordBatch> {
        let empty = self.empty_row();
        let mut values: Vec<ScalarValue> = row.to_vec();
        // Declared columns read bare take the sequence's latest values (or their defaults).
        let latest = sequence.and_then(|s| s.rows.last());
        for d in 0..self.width - self.input_width {
            values.push(latest.map_or_else(|| self.defaults[d].clone(), |r| r[self.input_width + d].clone()));
        }
        for j in 0..self.steps.len() {
            let state_row = sequence.and_then(|s| s.rows.get(j)).unwrap_or(&empty);
            values.extend(state_row.iter().cloned());
        }
        let columns: Vec<ArrayRef> = values
            .iter()
            .zip(self.context.fields())
            .map(|(v, f)| match v.is_null() {
                true => Ok(new_null_array(f.data_type(), 1)),
                false => v.to_array_of_size(1).and_then(|a| arrow::compute::cast(&a, f.data_type()).map_err(Into::into)),
            })
            .collect::<datafusion::common::Result<_>>()?;
        Ok(RecordBatch::try_new(self.context.clone(), columns)?)
    }

    fn holds(&self, step: usize, batch: &RecordBatch) -> Result<bool> {
        let v = self.steps[step].condition.evaluate(batch)?.into_array(1)?;
        let b = v.as_boolean_opt().ok_or_else(|| KqlError::new("a scan step's condition must be a bool"))?;
        Ok(b.is_valid(0) && b.value(0))
    }

    /// The row extended by the declared columns: assigned ones computed, the others as they
    /// were in `previous` (or their defaults).
    fn extend(
        &self,
        step: usize,
        row: &[ScalarValue],
        batch: &RecordBatch,
        previous: Option<&Vec<ScalarValue>>,
    ) -> Result<Vec<ScalarValue>> {
        let mut out = row.to_vec();
        for d in 0..self.width - self.input_width {
            out.push(previous.map_or_else(|| self.defaults[d].clone(), |p| p[self.input_width + d].clone()));
        }
        for (d, value) in &self.steps[step].assignments {
            let v = value.evaluate(batch)?.into_array(1)?;
            let target = self.context.field(self.input_width + d).data_type();
            let v = arrow::compute::cast(&v, target)?;
            out[self.input_width + d] = ScalarValue::try_from_array(&v, 0)?;
        }
        Ok(out)
    }

    fn emit(&mut self, step: usize, input_row: usize, values: Vec<ScalarValue>, match_id: i64) {
        let e = Emitted { input_row, values, match_id, step };
        match self.steps[step].output {
            ScanOutput::All => self.emitted.push(e),
            ScanOutput::Last => {
                if let Some(old) = self.pending[step].replace(e)
                    && old.match_id != match_id
                {
                    self.emitted.push(old);
                }
            }
            ScanOutput::None => {}
        }
    }

    /// A sequence left step `k`: its last row there is final.
    fn flush(&mut self, k: usize) {
        if let Some(p) = self.pending[k].take() {
            self.emitted.push(p);
        }
    }

    fn feed(&mut self, input_row: usize, row: &[ScalarValue]) -> Result<()> {
        for k in (0..self.steps.len()).rev() {
            // Check 1: the previous step's sequence advances to this step.
            if k > 0 && self.states[k - 1].is_some() {
                let batch = self.batch(row, self.states[k - 1].as_ref())?;
                if self.holds(k, &batch)? {
                    let mut sequence = self.states[k - 1].take().ok_or_else(|| KqlError::new("scan state lost"))?;
                    self.flush(k - 1);
                    let extended = self.extend(k, row, &batch, sequence.rows.last())?;
                    sequence.rows.truncate(k);
                    sequence.rows.push(extended.clone());
                    let match_id = sequence.match_id;
                    if self.states[k].is_some() {
                        self.flush(k);
                    }
                    self.states[k] = Some(sequence);
                    self.emit(k, input_row, extended, match_id);
                    continue;
                }
            }
            // Check 2: the row replaces this step's own row (or starts a sequence).
            if self.states[k].is_some() || k == 0 {
                let batch = self.batch(row, self.states[k].as_ref())?;
                if self.holds(k, &batch)? {
                    let previous = self.states[k].as_ref().and_then(|s| s.rows.get(k)).cloned();
                    let extended = self.extend(k, row, &batch, previous.as_ref())?;
                    let match_id = match &mut self.states[k] {
                        Some(sequence) => {
                            sequence.rows.truncate(k);
                            sequence.rows.push(extended.clone());
                            sequence.match_id
                        }
                        None => {
                            let id = self.next_match_id;
                            self.next_match_id += 1;
                            self.states[k] = Some(Sequence { rows: vec![extended.clone()], match_id: id });
                            id
                        }
                    };
                    self.emit(k, input_row, extended, match_id);
                }
            }
        }
        Ok(())
    }
}

fn scalar_row(batch: &RecordBatch, i: usize) -> Result<Vec<ScalarValue>> {
    Ok(batch.columns().iter().map(|c| ScalarValue::try_from_array(c, i)).collect::<datafusion::common::Result<_>>()?)
}

impl Planner<'_> {
    pub(super) fn plan_scan(
        &self,
        env: &Env,
        tab: Tabular,
        params: &[OperatorParam],
        declare: &[ScanColumn],
        steps: &[ScanStep],
        span: Span,
    ) -> Result<Tabular> {
        let mut match_id_column = None;
        let mut step_name_column = None;
        for p in params {
            match p.name.as_str() {
                "with_match_id" => match_id_column = Some(p.value.clone()),
                "with_step_name" => step_name_column = Some(p.value.clone()),
                n if n.starts_with("hint.") => {}
                other => return Err(KqlError::at(p.span, format!("scan does not take {other}"))),
            }
        }
        for (i, s) in steps.iter().enumerate() {
            if steps[..i].iter().any(|t| t.name.name == s.name.name) {
                return Err(KqlError::at(s.name.span, format!("step '{}' is defined twice", s.name.name)));
            }
        }
        let input_schema = tab.plan.schema().clone();
        for (column, p) in [(&match_id_column, "with_match_id"), (&step_name_column, "with_step_name")] {
            if let Some(c) = column
                && input_schema.fields().iter().any(|f| f.name() == c)
            {
                let at = params.iter().find(|q| q.name == p).map_or(span, |q| q.span);
                return Err(KqlError::at(at, format!("{p}={c}: the input already has a column named '{c}'")));
            }
        }
        let input_fields: Vec<Field> = input_schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        let mut row_fields = input_fields.clone();
        let mut defaults = Vec::new();
        for c in declare {
            if row_fields.iter().any(|f| f.name() == &c.decl.name.name) {
                return Err(KqlError::at(c.decl.name.span, format!("'{}' is already a column", c.decl.name.name)));
            }
            let t = arrow_type(c.decl.ty);
            let field = Field::new(&c.decl.name.name, t.clone(), true);
            row_fields.push(if c.decl.ty == ast::TypeName::Dynamic { dynamic_field(field) } else { field });
            defaults.push(match &c.default {
                Some(d) => {
                    let v = super::expr::evaluate_constant(&self.plan_constant(env, d)?).map_err(|e| e.or_at(d.span))?;
                    v.cast_to(&t).map_err(|_| {
                        KqlError::at(d.span, format!("the default of '{}' is not a {:?}", c.decl.name.name, c.decl.ty).to_lowercase())
                    })?
                }
                None => ScalarValue::try_from(&t).unwrap_or(ScalarValue::Null),
            });
        }
        // The evaluation schema: the row (with the declared columns), then each step's state.
        let mut context_fields = row_fields.clone();
        for j in 0..steps.len() {
            context_fields.extend(row_fields.iter().map(|f| f.clone().with_name(state_column(j, f.name())).with_nullable(true)));
        }
        let context = Arc::new(Schema::new(context_fields));
        let df_context = Arc::new(DFSchema::try_from(context.as_ref().clone())?);
        // Plan every expression first, so `kql check` reports their errors too.
        let ep = ExprPlanner::new(self, env, df_context.clone(), None);
        let row_columns: Vec<String> = row_fields.iter().map(|f| f.name().clone()).collect();
        let mut logical_steps = Vec::new();
        for s in steps {
            let condition = ep.plan(&rewrite_state_refs(&s.condition, steps, &row_columns)?)?;
            if ep.type_of(&condition, s.condition.span)? != DataType::Boolean {
                return Err(KqlError::at(s.condition.span, "a scan step's condition must be a bool"));
            }
            let mut assignments = Vec::new();
            for (column, value) in &s.assignments {
                let Some(d) = declare.iter().position(|c| c.decl.name.name == column.name) else {
                    return Err(KqlError::at(column.span, format!("'{}' is not a column the scan declares", column.name)));
                };
                let planned = ep.plan(&rewrite_state_refs(value, steps, &row_columns)?)?;
                let (from, to) = (ep.type_of(&planned, value.span)?, arrow_type(declare[d].decl.ty));
                if from != DataType::Null && from != to && !arrow::compute::can_cast_types(&from, &to) {
                    return Err(KqlError::at(
                        value.span,
                        format!(
                            "'{}' is a {}; this value is a {}",
                            column.name,
                            declare[d].decl.ty.as_str(),
                            crate::types::kql_type_of(&from)
                        ),
                    ));
                }
                assignments.push((d, planned, value.span));
            }
            logical_steps.push((condition, s.condition.span, assignments, s.output));
        }
        let ctx = self.ctx;
        // The session coerces types as it does for any plan.
        let physical = |e: datafusion::logical_expr::Expr, at: Span| -> Result<Arc<dyn PhysicalExpr>> {
            ctx.create_physical_expr(e, &df_context).map_err(|err| KqlError::from(err).or_at(at))
        };
        let mut compiled = Vec::new();
        for (condition, at, assignments, output) in logical_steps {
            let assignments = assignments.into_iter().map(|(d, e, at)| Ok((d, physical(e, at)?))).collect::<Result<Vec<_>>>()?;
            compiled.push(Step { condition: physical(condition, at)?, assignments, output });
        }

        let batches = self.collect_now(tab.plan, span, "scan's rows depend on the data, which is not read here")?;
        let mut machine = Machine {
            steps: compiled,
            context: context.clone(),
            width: row_fields.len(),
            input_width: input_fields.len(),
            defaults: &defaults,
            states: vec![None; steps.len()],
            pending: (0..steps.len()).map(|_| None).collect(),
            emitted: Vec::new(),
            next_match_id: 0,
        };
        let mut input_row = 0;
        for b in &batches {
            for i in 0..b.num_rows() {
                machine.feed(input_row, &scalar_row(b, i)?)?;
                input_row += 1;
            }
        }
        for k in 0..steps.len() {
            machine.flush(k);
        }
        let mut emitted = std::mem::take(&mut machine.emitted);
        emitted.sort_by_key(|e| e.input_row);

        // The output: the row's columns and the declared ones, then the match id and step name.
        let mut out_fields = row_fields.clone();
        if let Some(n) = &match_id_column {
            out_fields.push(Field::new(n, DataType::Int64, false));
        }
        if let Some(n) = &step_name_column {
            out_fields.push(Field::new(n, DataType::Utf8, false));
        }
        let out_schema = Arc::new(Schema::new(out_fields));
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (c, f) in row_fields.iter().enumerate() {
            let values: Vec<ScalarValue> = emitted.iter().map(|e| e.values[c].clone()).collect();
            columns.push(match values.is_empty() {
                true => new_null_array(f.data_type(), 0),
                false => arrow::compute::cast(&ScalarValue::iter_to_array(values)?, f.data_type())?,
            });
        }
        if match_id_column.is_some() {
            columns.push(Arc::new(arrow::array::Int64Array::from_iter_values(emitted.iter().map(|e| e.match_id))));
        }
        if step_name_column.is_some() {
            columns.push(Arc::new(arrow::array::StringArray::from_iter_values(emitted.iter().map(|e| steps[e.step].name.name.clone()))));
        }
        let batch = RecordBatch::try_new(out_schema.clone(), columns)?;
        let table = datafusion::catalog::MemTable::try_new(out_schema, vec![vec![batch]])?;
        let plan = LogicalPlanBuilder::scan("scan", datafusion::datasource::provider_as_source(Arc::new(table)), None)?.build()?;
        // The rows come out in input order, so an order on the input's columns still holds.
        Ok(Tabular::ordered(plan, tab.order))
    }
}
