//! Stopping a query while its plan still reads data. Most of a query runs as a stream that a
//! front end stops by dropping it, but operators whose columns depend on the data (`evaluate
//! pivot`, `bag_unpack`, `scan`, the graph operators, `toscalar()` bounds) read it while they
//! are planned, inside a synchronous call that a dropped future cannot interrupt. Those reads
//! race against the session's `Cancellation`, which a front end triggers from another task
//! (the REPL on Ctrl-C).

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// The message of a query stopped on request.
pub const CANCELLED: &str = "query cancelled";

#[derive(Debug, Default)]
pub struct Cancellation {
    requested: AtomicBool,
    notify: Notify,
}

impl Cancellation {
    /// Stops the reads running now, and any that start before `reset`.
    pub fn cancel(&self) {
        self.requested.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Readies the session for the next query.
    pub fn reset(&self) {
        self.requested.store(false, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Resolves once `cancel` is called (at once if it was already).
    pub async fn cancelled(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the flag is read, so a `cancel` in between is not missed.
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}
