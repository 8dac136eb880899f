//! The rows of `range x from A to B step S`, generated a batch at a time as the query reads
//! them. As one array, `range x from 1 to 50000000 step 1` held 400 MB before the first row
//! was used; as a stream it holds one batch (the session's batch size, 8,192 rows).

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow::datatypes::SchemaRef;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;

/// The i-th value of a range, for `i` in `0..rows`.
#[derive(Debug, Clone, Copy)]
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
    fn array(self, from: usize, to: usize) -> ArrayRef {
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

/// A one-column table of `rows` values of a range.
pub fn range_table(schema: SchemaRef, values: RangeValues, rows: usize) -> Result<StreamingTable> {
    StreamingTable::try_new(schema.clone(), vec![Arc::new(RangeStream { schema, values, rows })])
}

#[derive(Debug)]
struct RangeStream {
    schema: SchemaRef,
    values: RangeValues,
    rows: usize,
}

impl PartitionStream for RangeStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let batch_size = ctx.session_config().batch_size().max(1);
        let (schema, values, rows) = (self.schema.clone(), self.values, self.rows);
        let batches = (0..rows).step_by(batch_size).map(move |from| {
            let to = from.saturating_add(batch_size).min(rows);
            Ok(RecordBatch::try_new(schema.clone(), vec![values.array(from, to)])?)
        });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), futures::stream::iter(batches)))
    }
}
