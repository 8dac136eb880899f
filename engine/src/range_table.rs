//! The rows of `range x from A to B step S`, generated a batch at a time as the query reads
//! them. As one array, `range x from 1 to 50000000 step 1` held 400 MB before the first row
//! was used; as a stream it holds one batch (the session's batch size, 8,192 rows).

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, RecordBatchOptions, TimestampMicrosecondArray};
use arrow::datatypes::{FieldRef, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Result;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::memory::{LazyBatchGenerator, LazyMemoryExec};
use parking_lot::RwLock;

/// The i-th value of a range, for `i` in `0..rows`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RangeValues {
    /// `start + i * step`; every value lies between the bounds, so it fits a long even where
    /// `i * step` alone would not (computed in 128 bits).
    Long {
        start: i64,
        step: i64,
    },
    Real {
        start: f64,
        step: f64,
    },
    /// Microseconds since the epoch, UTC.
    Datetime {
        start: i64,
        step: i64,
    },
}

impl RangeValues {
    pub fn array(self, from: usize, to: usize) -> ArrayRef {
        let indexes = from as i64..to as i64;
        match self {
            RangeValues::Long { start, step } => {
                Arc::new(Int64Array::from_iter_values(indexes.map(|i| (i128::from(start) + i128::from(i) * i128::from(step)) as i64)))
            }
            RangeValues::Real { start, step } => Arc::new(Float64Array::from_iter_values(indexes.map(|i| start + i as f64 * step))),
            RangeValues::Datetime { start, step } => {
                Arc::new(TimestampMicrosecondArray::from_iter_values(indexes.map(|i| start + i * step)).with_timezone("UTC"))
            }
        }
    }
}

/// The one-column table of `rows` values of a range. Its scan is a `LazyMemoryExec` over a
/// `RangeGenerator`, which a plan codec can read back (`codec.rs`): a plan that holds a range
/// travels as its bounds, not its rows.
#[derive(Debug)]
pub struct RangeTable {
    schema: SchemaRef,
    pub values: RangeValues,
    pub rows: usize,
}

impl RangeTable {
    pub fn new(schema: SchemaRef, values: RangeValues, rows: usize) -> RangeTable {
        RangeTable { schema, values, rows }
    }
}

#[async_trait::async_trait]
impl TableProvider for RangeTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // The table has one column: a projection keeps it or (`count`) only the row count.
        let column = match projection {
            Some(p) if p.is_empty() => None,
            _ => Some(self.schema.field(0).clone().into()),
        };
        let generator = RangeGenerator::new(column, self.values, self.rows, state.config().batch_size());
        Ok(Arc::new(generator.into_exec()?))
    }
}

/// Produces the batches of a range, one at a time.
#[derive(Debug, Clone)]
pub struct RangeGenerator {
    /// The range's column, or none when the query only counts rows.
    pub column: Option<FieldRef>,
    pub values: RangeValues,
    pub rows: usize,
    pub batch_size: usize,
    next: usize,
}

impl RangeGenerator {
    pub fn new(column: Option<FieldRef>, values: RangeValues, rows: usize, batch_size: usize) -> RangeGenerator {
        RangeGenerator { column, values, rows, batch_size: batch_size.max(1), next: 0 }
    }

    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(self.column.iter().cloned().collect::<Vec<_>>()))
    }

    /// The scan that runs it.
    pub fn into_exec(self) -> Result<LazyMemoryExec> {
        LazyMemoryExec::try_new(self.schema(), vec![Arc::new(RwLock::new(self))])
    }
}

impl fmt::Display for RangeGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "range: rows={}, {:?}", self.rows, self.values)
    }
}

impl LazyBatchGenerator for RangeGenerator {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn generate_next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if self.next >= self.rows {
            return Ok(None);
        }
        let (from, to) = (self.next, self.next.saturating_add(self.batch_size).min(self.rows));
        self.next = to;
        let schema = self.schema();
        let columns = if self.column.is_some() { vec![self.values.array(from, to)] } else { vec![] };
        let options = RecordBatchOptions::new().with_row_count(Some(to - from));
        Ok(Some(RecordBatch::try_new_with_options(schema, columns, &options)?))
    }

    fn reset_state(&self) -> Arc<RwLock<dyn LazyBatchGenerator>> {
        Arc::new(RwLock::new(RangeGenerator { next: 0, ..self.clone() }))
    }
}
