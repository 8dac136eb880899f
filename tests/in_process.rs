//! The checks that run the engine in this process rather than through the `kql` binary: plan
//! snapshots, metamorphic relations and the fuzzer (and a few engine checks beside them). One binary for the three (see
//! `tests/Cargo.toml`); `cargo test -p kql-tests --test in_process fuzz::` runs one of them.

mod support;

/// The fuzzer's cases run against a time budget, and the metamorphic campaign keeps both cores
/// busy: run side by side (as one binary's tests are) a slow case would pass for a hang. The
/// long-running checks take this lock, so they run one after another as separate binaries did.
pub(crate) fn one_long_check_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A check that failed while holding it leaves it poisoned; the next one still runs.
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[path = "fuzz.rs"]
mod fuzz;
#[path = "join_filters.rs"]
mod join_filters;
#[path = "metamorphic.rs"]
mod metamorphic;
#[path = "null_strings.rs"]
mod null_strings;
#[path = "plans.rs"]
mod plans;
#[path = "serial_partitions.rs"]
mod serial_partitions;
