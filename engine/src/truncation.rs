//! Kusto's limit on the size of a query's result ("Query limits: result truncation"): by
//! default at most 500,000 records and 64 MB reach the client; past either the query fails
//! rather than hand over a cut-off result. `set notruncation;` lifts the limit and
//! `set truncationmaxrecords = N;` / `set truncationmaxsize = N;` move it. The limit also keeps
//! a query that asks for far too many rows (a join that doubles them at each step) from
//! exhausting the machine: the stream stops as soon as the result passes it.

use std::pin::Pin;
use std::task::{Context, Poll};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use futures::Stream;

/// How much of a result may reach the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncation {
    pub max_records: u64,
    pub max_bytes: u64,
}

impl Default for Truncation {
    fn default() -> Self {
        Truncation { max_records: 500_000, max_bytes: 64 << 20 }
    }
}

/// `stream`, failing once its rows pass `limit` (no limit: `stream` itself).
pub fn limit(stream: SendableRecordBatchStream, limit: Option<Truncation>) -> SendableRecordBatchStream {
    match limit {
        None => stream,
        Some(limit) => Box::pin(Limited { inner: stream, limit, records: 0, bytes: 0, failed: false }),
    }
}

struct Limited {
    inner: SendableRecordBatchStream,
    limit: Truncation,
    records: u64,
    bytes: u64,
    failed: bool,
}

impl Stream for Limited {
    type Item = datafusion::error::Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        let polled = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(Some(Ok(batch))) = &polled {
            self.records += batch.num_rows() as u64;
            self.bytes += batch_bytes(batch);
            let limit = self.limit;
            let broken = if self.records > limit.max_records {
                Some(format!("more than {} records", limit.max_records))
            } else if self.bytes > limit.max_bytes {
                Some(format!("more than {} bytes", limit.max_bytes))
            } else {
                None
            };
            if let Some(what) = broken {
                self.failed = true;
                return Poll::Ready(Some(Err(DataFusionError::Execution(format!(
                    "the result has {what}, Kusto's limit on a query's result: add `set notruncation;` before the query to lift it, or `set truncationmaxrecords = N;` / `set truncationmaxsize = N;` to move it"
                )))));
            }
        }
        polled
    }
}

impl RecordBatchStream for Limited {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

/// The bytes a batch's rows take: for a slice of a larger batch, the slice's share.
fn batch_bytes(batch: &RecordBatch) -> u64 {
    batch.columns().iter().map(|c| c.to_data().get_slice_memory_size().unwrap_or_else(|_| c.get_array_memory_size()) as u64).sum()
}
