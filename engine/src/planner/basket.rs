//! `evaluate basket([Threshold [, WeightColumn [, MaxDimensions [, CustomWildcard, ...]]]])`:
//! the frequent patterns of column values (Apriori): every combination of values, one per
//! column and up to MaxDimensions columns, found in at least Threshold of the rows (or of the
//! weight). Each pattern is a row: SegmentId, Count, Percent, then the input's columns with
//! the pattern's values (null where the pattern does not constrain the column). Patterns come
//! by size, then by count, most first. The rows are read while planning, as `pivot` does.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, new_null_array};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::LogicalPlanBuilder;
use kql_grammar::ast::{self, CallArg, ExprKind, Span};

use super::{Env, Planner, Tabular};
use crate::error::{KqlError, Result};

const DEFAULT_THRESHOLD: f64 = 0.05;
const DEFAULT_MAX_DIMENSIONS: usize = 5;

/// One column's value in a pattern.
type Item = (usize, String);

impl Planner<'_> {
    pub(super) fn plan_basket(&self, env: &Env, tab: Tabular, args: &[CallArg], span: Span) -> Result<Tabular> {
        // The result's own columns cannot share a name with an input column.
        if let Some(taken) = ["SegmentId", "Count", "Percent"].iter().find(|c| tab.plan.schema().fields().iter().any(|f| f.name() == *c)) {
            return Err(KqlError::at(
                span,
                format!("basket() adds a column {taken}, and the input already has one: rename it first (project-rename)"),
            ));
        }
        let exprs: Vec<&ast::Expr> = args.iter().filter_map(|a| a.value.as_expr()).collect();
        let constant = |i: usize| -> Result<Option<ScalarValue>> {
            match exprs.get(i) {
                None => Ok(None),
                Some(e) => Ok(Some(super::expr::evaluate_constant(&self.plan_constant(env, e)?).map_err(|err| err.or_at(e.span))?)),
            }
        };
        let threshold = match constant(0)? {
            None | Some(ScalarValue::Null) => DEFAULT_THRESHOLD,
            Some(v) => match v.data_type().is_numeric().then(|| v.cast_to(&DataType::Float64).ok()).flatten() {
                Some(ScalarValue::Float64(Some(t))) if t > 0.0 && t < 1.0 => t,
                _ => return Err(KqlError::at(exprs[0].span, "basket()'s threshold is between 0 and 1")),
            },
        };
        let weight = match exprs.get(1).map(|e| &e.kind) {
            Some(ExprKind::Name(n)) => match tab.plan.schema().index_of_column_by_name(None, n) {
                Some(i) => Some(i),
                None => return Err(KqlError::at(exprs[1].span, format!("unknown column '{n}'"))),
            },
            _ => None,
        };
        let max_dimensions = match constant(2)? {
            Some(ScalarValue::Int64(Some(n))) if n > 0 => n as usize,
            Some(ScalarValue::Int32(Some(n))) if n > 0 => n as usize,
            None | Some(ScalarValue::Null) => DEFAULT_MAX_DIMENSIONS,
            Some(_) => return Err(KqlError::at(exprs[2].span, "basket()'s MaxDimensions is a positive number")),
        };
        // Values that stand for "any" and are never part of a pattern.
        let mut wildcards: Vec<String> = Vec::new();
        for i in 3..exprs.len() {
            if let Some(v) = constant(i)?
                && !v.is_null()
            {
                wildcards.push(v.to_string());
            }
        }

        let fields: Vec<Field> = tab.plan.schema().fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
        let batches = self.collect_now(tab.plan, span, "basket's patterns")?;
        let mut rows: Vec<(Vec<Option<ScalarValue>>, f64)> = Vec::new();
        for b in &batches {
            for i in 0..b.num_rows() {
                let mut values = Vec::with_capacity(fields.len());
                let mut w = 1.0;
                for (c, column) in b.columns().iter().enumerate() {
                    let v = ScalarValue::try_from_array(column, i)?;
                    if Some(c) == weight {
                        w = v
                            .cast_to(&DataType::Float64)
                            .ok()
                            .and_then(|x| if let ScalarValue::Float64(Some(x)) = x { Some(x) } else { None })
                            .unwrap_or(0.0);
                        values.push(None);
                        continue;
                    }
                    let is_item = !v.is_null()
                        && !matches!(&v, ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)) if s.is_empty())
                        && !wildcards.contains(&v.to_string());
                    values.push(is_item.then_some(v));
                }
                rows.push((values, w));
            }
        }
        let total: f64 = rows.iter().map(|(_, w)| w).sum();
        let minimum = threshold * total;
        let keyed: Vec<(Vec<Option<String>>, f64)> =
            rows.iter().map(|(vs, w)| (vs.iter().map(|v| v.as_ref().map(ScalarValue::to_string)).collect(), *w)).collect();
        // Each frequent set keeps the rows it holds in, as a bitset: a candidate's rows are its
        // two parents' rows ANDed, so its support costs a pass over words, not over the rows
        // (Eclat's vertical layout; a scan of every row per candidate took half a minute over
        // the 150,000-row sample table).
        let words = keyed.len().div_ceil(64);
        let unweighted = keyed.iter().all(|(_, w)| *w == 1.0);
        let support = |bits: &[u64]| -> f64 {
            if unweighted {
                return bits.iter().map(|w| w.count_ones() as f64).sum();
            }
            let mut sum = 0.0;
            for (i, word) in bits.iter().enumerate() {
                let mut word = *word;
                while word != 0 {
                    sum += keyed[i * 64 + word.trailing_zeros() as usize].1;
                    word &= word - 1;
                }
            }
            sum
        };

        // Apriori: frequent sets of one item, then each size from the one before.
        let mut level: Vec<(Vec<Item>, f64, Vec<u64>)> = {
            // Counted first: only the frequent items get a bitset (a timestamp column has as
            // many items as rows).
            let mut counts: HashMap<(usize, &str), f64> = HashMap::new();
            for (vs, w) in &keyed {
                for (c, v) in vs.iter().enumerate() {
                    if let Some(v) = v {
                        *counts.entry((c, v.as_str())).or_default() += w;
                    }
                }
            }
            let mut rows_of: HashMap<(usize, &str), (f64, Vec<u64>)> =
                counts.into_iter().filter(|(_, n)| *n >= minimum && *n > 0.0).map(|(i, n)| (i, (n, vec![0; words]))).collect();
            for (r, (vs, _)) in keyed.iter().enumerate() {
                for (c, v) in vs.iter().enumerate() {
                    if let Some(v) = v
                        && let Some((_, bits)) = rows_of.get_mut(&(c, v.as_str()))
                    {
                        bits[r / 64] |= 1 << (r % 64);
                    }
                }
            }
            let mut l: Vec<(Vec<Item>, f64, Vec<u64>)> =
                rows_of.drain().map(|((c, v), (n, bits))| (vec![(c, v.to_string())], n, bits)).collect();
            l.sort_by(|a, b| a.0.cmp(&b.0));
            l
        };
        let mut patterns: Vec<(Vec<Item>, f64)> = Vec::new();
        while !level.is_empty() {
            patterns.extend(level.iter().map(|(set, n, _)| (set.clone(), *n)));
            if level[0].0.len() >= max_dimensions {
                break;
            }
            let mut next: Vec<(Vec<Item>, f64, Vec<u64>)> = Vec::new();
            for i in 0..level.len() {
                for j in i + 1..level.len() {
                    let (a, b) = (&level[i].0, &level[j].0);
                    let k = a.len();
                    if a[..k - 1] != b[..k - 1] || a[k - 1].0 >= b[k - 1].0 {
                        continue;
                    }
                    let bits: Vec<u64> = level[i].2.iter().zip(&level[j].2).map(|(x, y)| x & y).collect();
                    let n = support(&bits);
                    if n >= minimum && n > 0.0 {
                        let mut candidate = a.clone();
                        candidate.push(b[k - 1].clone());
                        next.push((candidate, n, bits));
                    }
                }
            }
            next.sort_by(|a, b| a.0.cmp(&b.0));
            level = next;
        }
        // A typed value for each item the patterns use, taken from the first row that holds it.
        let mut samples: HashMap<(usize, &str), ScalarValue> = HashMap::new();
        let needed: std::collections::HashSet<(usize, &str)> =
            patterns.iter().flat_map(|(set, _)| set.iter().map(|(c, v)| (*c, v.as_str()))).collect();
        for ((values, _), (strings, _)) in rows.iter().zip(&keyed) {
            for (c, (v, text)) in values.iter().zip(strings).enumerate() {
                if let (Some(v), Some(text)) = (v, text)
                    && needed.contains(&(c, text.as_str()))
                {
                    samples.entry((c, text.as_str())).or_insert_with(|| v.clone());
                }
            }
        }
        patterns.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then(b.1.total_cmp(&a.1)).then(a.0.cmp(&b.0)));

        // The output rows.
        let n = patterns.len();
        let mut out_fields = vec![
            Field::new("SegmentId", DataType::Int64, false),
            Field::new("Count", DataType::Int64, false),
            Field::new("Percent", DataType::Float64, false),
        ];
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(arrow::array::Int64Array::from_iter_values(0..n as i64)),
            Arc::new(arrow::array::Int64Array::from_iter_values(patterns.iter().map(|(_, c)| c.round() as i64))),
            Arc::new(arrow::array::Float64Array::from_iter_values(
                patterns.iter().map(|(_, c)| if total > 0.0 { c / total * 100.0 } else { 0.0 }),
            )),
        ];
        for (c, f) in fields.iter().enumerate() {
            if Some(c) == weight {
                continue;
            }
            let values: Vec<ScalarValue> = patterns
                .iter()
                .map(|(set, _)| match set.iter().find(|(col, _)| *col == c) {
                    Some((column, text)) => samples.get(&(*column, text.as_str())).cloned().unwrap_or(ScalarValue::Null),
                    None => ScalarValue::try_from(f.data_type()).unwrap_or(ScalarValue::Null),
                })
                .collect();
            arrays.push(match values.is_empty() {
                true => new_null_array(f.data_type(), 0),
                false => arrow::compute::cast(&ScalarValue::iter_to_array(values)?, f.data_type())?,
            });
            out_fields.push(f.clone());
        }
        let schema = Arc::new(Schema::new(out_fields));
        let batch = RecordBatch::try_new(schema.clone(), arrays)?;
        let table = datafusion::catalog::MemTable::try_new(schema, vec![vec![batch]])?;
        let plan = LogicalPlanBuilder::scan("basket", datafusion::datasource::provider_as_source(Arc::new(table)), None)?.build()?;
        Ok(Tabular::unordered(plan))
    }
}
