//! Remote text objects read as they arrive. A store's object (S3, Azure, GCS, HTTP) comes as
//! a stream of byte chunks; the line and CSV readers are synchronous. Reading the whole object
//! into memory first made a JSON export larger than memory fail, and inference wait for an
//! object's last byte to sample its first thousand records. Here the readers run on a
//! blocking thread, which waits for each chunk in turn: memory holds one chunk and one batch.

use std::io::Read;

use arrow::array::RecordBatch;
use bytes::Bytes;
use datafusion::error::{DataFusionError, Result};
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::runtime::Handle;

/// The chunks of an object's stream as a `Read`, for a blocking thread (never an async task:
/// waiting for a chunk blocks the thread).
pub struct ChunkReader {
    runtime: Handle,
    chunks: BoxStream<'static, datafusion::object_store::Result<Bytes>>,
    chunk: Bytes,
}

impl ChunkReader {
    /// Must be made inside the runtime that polls the store's client.
    pub fn new(chunks: BoxStream<'static, datafusion::object_store::Result<Bytes>>) -> ChunkReader {
        ChunkReader { runtime: Handle::current(), chunks, chunk: Bytes::new() }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.runtime.block_on(self.chunks.next()) {
                None => return Ok(0),
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => return Err(std::io::Error::other(crate::object_stores::error_text(&e))),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        bytes::Buf::advance(&mut self.chunk, n);
        Ok(n)
    }
}

/// Runs `read` on a blocking thread and waits for its answer.
pub async fn on_blocking_thread<T: Send + 'static>(read: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(read).await.map_err(|e| DataFusionError::Execution(format!("reading a remote object stopped: {e}")))?
}

/// The batches `make` and its iterator yield, produced on a blocking thread, two ahead of the
/// consumer at most. If the consumer stops (a `take`), the thread stops at its next batch. If
/// the thread fails or panics, the stream ends with the error: never a silent short read.
pub fn batches_on_blocking_thread<I>(make: impl FnOnce() -> Result<I> + Send + 'static) -> BoxStream<'static, Result<RecordBatch>>
where
    I: Iterator<Item = Result<RecordBatch>>,
{
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(2);
    let producer = tokio::task::spawn_blocking(move || {
        let batches = match make() {
            Ok(batches) => batches,
            Err(e) => {
                let _ = sender.blocking_send(Err(e));
                return;
            }
        };
        for batch in batches {
            let failed = batch.is_err();
            if sender.blocking_send(batch).is_err() || failed {
                return;
            }
        }
    });
    let batches = futures::stream::unfold(receiver, |mut receiver| async move { receiver.recv().await.map(|b| (b, receiver)) });
    // A panic closes the channel like an end: the thread's outcome says which it was.
    let outcome = futures::stream::once(async move {
        match producer.await {
            Ok(()) => None,
            Err(e) => Some(Err(DataFusionError::Execution(format!("reading a remote object stopped: {e}")))),
        }
    })
    .filter_map(futures::future::ready);
    batches.chain(outcome).boxed()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch};
    use futures::TryStreamExt;

    use super::*;

    fn batch(v: i64) -> Result<RecordBatch> {
        Ok(RecordBatch::try_from_iter(vec![("x", Arc::new(Int64Array::from(vec![v])) as arrow::array::ArrayRef)])?)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn chunks_read_in_order_and_a_failed_chunk_is_an_error() {
        let chunks = vec![Ok(Bytes::from_static(b"{\"a\":1}\n{\"a\"")), Ok(Bytes::new()), Ok(Bytes::from_static(b":2}\n"))];
        let mut reader = ChunkReader::new(futures::stream::iter(chunks).boxed());
        let text = on_blocking_thread(move || {
            let mut text = String::new();
            reader.read_to_string(&mut text)?;
            Ok(text)
        })
        .await
        .expect("read");
        assert_eq!(text, "{\"a\":1}\n{\"a\":2}\n");
        let cut = vec![
            Ok(Bytes::from_static(b"{\"a\":1}\n")),
            Err(datafusion::object_store::Error::Generic { store: "HTTP", source: "connection reset".into() }),
        ];
        let mut reader = ChunkReader::new(futures::stream::iter(cut).boxed());
        let read = on_blocking_thread(move || Ok(reader.read_to_string(&mut String::new()).map_err(|e| e.to_string())))
            .await
            .expect("the thread ran");
        assert_eq!(read, Err("Generic HTTP error: connection reset".to_string()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_or_panicking_reader_ends_the_stream_with_an_error() {
        let all: Vec<RecordBatch> = batches_on_blocking_thread(|| Ok((0..5).map(batch))).try_collect().await.expect("every batch");
        assert_eq!(all.len(), 5);
        let failed = batches_on_blocking_thread(|| {
            Ok((0..5).map(|i| if i == 3 { Err(DataFusionError::Execution("line 4: not a JSON object".into())) } else { batch(i) }))
        });
        let got: Vec<Result<RecordBatch>> = failed.collect().await;
        assert_eq!(got.len(), 4);
        assert_eq!(got[3].as_ref().map_err(|e| e.to_string()).err(), Some("Execution error: line 4: not a JSON object".to_string()));
        let panicked = batches_on_blocking_thread(|| {
            Ok((0..5).map(|i| {
                assert!(i < 2, "a reader's bug");
                batch(i)
            }))
        });
        let got: Vec<Result<RecordBatch>> = panicked.collect().await;
        assert_eq!(got.len(), 3);
        assert!(got[2].as_ref().is_err_and(|e| e.to_string().contains("reading a remote object stopped")), "{:?}", got[2]);
    }
}
