//! `evaluate basket([Threshold [, WeightColumn [, MaxDimensions [, CustomWildcard, ...]]]])`:
//! the frequent patterns of column values (Apriori): every combination of values, one per
//! column and up to MaxDimensions columns, found in at least Threshold of the rows (or of the
//! weight). Each pattern is a row: SegmentId, Count, Percent, then the input's columns with
//! the pattern's values (null where the pattern does not constrain the column). Patterns come
//! by size, then by count, most first. The rows are read while planning, as `pivot` does.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, new_null_array};
use arrow::datatypes::{DataType, Field, Float64Type, Schema};
use arrow::row::{RowConverter, SortField};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::LogicalPlanBuilder;
use indexmap::IndexSet;
use kql_grammar::ast::{self, CallArg, ExprKind, Span};

use super::{Env, Planner, Tabular};
use crate::error::{KqlError, Result};

const DEFAULT_THRESHOLD: f64 = 0.05;
const DEFAULT_MAX_DIMENSIONS: usize = 5;

/// One column's value in a pattern.
type Item = (usize, String);

/// The id of a row's value that is no item: null, empty text, or a wildcard.
const NOT_AN_ITEM: u32 = u32::MAX;

/// One column's values as items: values with the same text (as a pattern shows them) share an
/// id. Each distinct value is made a typed value and a text once, not each cell: reading the
/// 150,000-row, 20-column sample table a cell at a time was most of basket's time.
struct ColumnItems {
    /// Each row's item id, or `NOT_AN_ITEM`.
    ids: Vec<u32>,
    /// Each item's text; an item's id is its index here.
    texts: IndexSet<String, ahash::RandomState>,
    /// Each item's value, from the first row that holds it.
    samples: Vec<ScalarValue>,
}

impl ColumnItems {
    fn read(batches: &[RecordBatch], c: usize, field: &Field, wildcards: &[String]) -> Result<ColumnItems> {
        let mut items = ColumnItems { ids: Vec::new(), texts: IndexSet::default(), samples: Vec::new() };
        // Values are looked up by their bytes in Arrow's row format, which any type has but a
        // few nested ones; those are looked up by their text.
        let converter = RowConverter::new(vec![SortField::new(field.data_type().clone())]).ok();
        let mut id_of_bytes: HashMap<Box<[u8]>, u32, ahash::RandomState> = HashMap::default();
        for batch in batches {
            let column = batch.column(c);
            let rows = match &converter {
                Some(converter) => Some(converter.convert_columns(std::slice::from_ref(column))?),
                None => None,
            };
            for row in 0..batch.num_rows() {
                if column.is_null(row) {
                    items.ids.push(NOT_AN_ITEM);
                    continue;
                }
                let known = match &rows {
                    Some(rows) => id_of_bytes.get(rows.row(row).as_ref()).copied(),
                    None => None,
                };
                let id = match known {
                    Some(id) => id,
                    None => {
                        let id = items.add(ScalarValue::try_from_array(column, row)?, wildcards);
                        if let Some(rows) = &rows {
                            id_of_bytes.insert(rows.row(row).as_ref().into(), id);
                        }
                        id
                    }
                };
                items.ids.push(id);
            }
        }
        Ok(items)
    }

    /// The id of a value not seen as bytes yet: its text's id, a new one, or `NOT_AN_ITEM`.
    fn add(&mut self, value: ScalarValue, wildcards: &[String]) -> u32 {
        let text = value.to_string();
        let empty =
            matches!(&value, ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)) if s.is_empty());
        if value.is_null() || empty || wildcards.contains(&text) {
            return NOT_AN_ITEM;
        }
        let (id, new) = self.texts.insert_full(text);
        if new {
            self.samples.push(value);
        }
        id as u32
    }

    fn sample(&self, text: &str) -> Option<ScalarValue> {
        self.texts.get_index_of(text).map(|id| self.samples[id].clone())
    }
}

/// Each row's weight: the weight column as a real, 0 where it is null or not a number.
fn weights_of(batches: &[RecordBatch], c: usize) -> Vec<f64> {
    let mut weights = Vec::new();
    for batch in batches {
        match arrow::compute::cast(batch.column(c), &DataType::Float64) {
            Ok(reals) => weights.extend(reals.as_primitive::<Float64Type>().iter().map(|w| w.unwrap_or(0.0))),
            Err(_) => weights.resize(weights.len() + batch.num_rows(), 0.0),
        }
    }
    weights
}

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
        let row_count: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let weights: Vec<f64> = match weight {
            Some(c) => weights_of(&batches, c),
            None => vec![1.0; row_count],
        };
        let columns: Vec<Option<ColumnItems>> = (0..fields.len())
            .map(|c| if Some(c) == weight { Ok(None) } else { ColumnItems::read(&batches, c, &fields[c], &wildcards).map(Some) })
            .collect::<Result<_>>()?;
        let total: f64 = weights.iter().sum();
        let minimum = threshold * total;
        // Each frequent set keeps the rows it holds in, as a bitset: a candidate's rows are its
        // two parents' rows ANDed, so its support costs a pass over words, not over the rows
        // (Eclat's vertical layout; a scan of every row per candidate took half a minute over
        // the 150,000-row sample table).
        let words = row_count.div_ceil(64);
        let unweighted = weights.iter().all(|w| *w == 1.0);
        // The support of the rows two sets share (their bitsets ANDed, without building it:
        // most candidates are not frequent).
        let support = |a: &[u64], b: &[u64]| -> f64 {
            if unweighted {
                return a.iter().zip(b).map(|(x, y)| (x & y).count_ones() as u64).sum::<u64>() as f64;
            }
            let mut sum = 0.0;
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                let mut word = x & y;
                while word != 0 {
                    sum += weights[i * 64 + word.trailing_zeros() as usize];
                    word &= word - 1;
                }
            }
            sum
        };

        // Apriori: frequent sets of one item, then each size from the one before.
        let mut level: Vec<(Vec<Item>, f64, Vec<u64>)> = Vec::new();
        for (c, column) in columns.iter().enumerate() {
            let Some(column) = column else { continue };
            // Counted first: only the frequent items get a bitset (a timestamp column has as
            // many items as rows).
            let mut counts = vec![0.0; column.texts.len()];
            for (id, w) in column.ids.iter().zip(&weights) {
                if *id != NOT_AN_ITEM {
                    counts[*id as usize] += w;
                }
            }
            let mut bitset_of: Vec<Option<usize>> = vec![None; counts.len()];
            for (id, n) in counts.iter().enumerate() {
                if *n >= minimum && *n > 0.0 {
                    bitset_of[id] = Some(level.len());
                    level.push((vec![(c, column.texts[id].clone())], *n, vec![0; words]));
                }
            }
            for (r, id) in column.ids.iter().enumerate() {
                if *id != NOT_AN_ITEM
                    && let Some(at) = bitset_of[*id as usize]
                {
                    level[at].2[r / 64] |= 1 << (r % 64);
                }
            }
        }
        level.sort_by(|a, b| a.0.cmp(&b.0));
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
                    // The level is sorted, so the sets that share `a`'s first k-1 items follow
                    // it: the first that does not ends them (going on to the end made each
                    // level cost its size squared: 8 s over the 6,900-row ASIM sample table).
                    if a[..k - 1] != b[..k - 1] {
                        break;
                    }
                    if a[k - 1].0 >= b[k - 1].0 {
                        continue;
                    }
                    let n = support(&level[i].2, &level[j].2);
                    if n >= minimum && n > 0.0 {
                        let bits: Vec<u64> = level[i].2.iter().zip(&level[j].2).map(|(x, y)| x & y).collect();
                        let mut candidate = a.clone();
                        candidate.push(b[k - 1].clone());
                        next.push((candidate, n, bits));
                    }
                }
            }
            next.sort_by(|a, b| a.0.cmp(&b.0));
            level = next;
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
                    Some((column, text)) => columns[*column].as_ref().and_then(|items| items.sample(text)).unwrap_or(ScalarValue::Null),
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
