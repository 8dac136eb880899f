//! A shared token that a scheduler asks of every client before it takes or reports on a job.
//!
//! A scheduler runs whatever plan it is sent, and its executors read the files that plan names,
//! so an open scheduler port is a way into the logs. With `KQL_CLUSTER_TOKEN` set when the
//! scheduler starts, a client's calls must carry the same token (`authorization: Bearer ...`),
//! which `kql --cluster` sends when the variable is set for it too. Calls that executors make
//! (registering, heartbeats, task status) are let through: Ballista's executors cannot add a
//! header to them, so who may run an executor is a matter of the network (README, "Cluster").
//! The variable, not a flag, carries the token so that it never shows in a process list.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The environment variable every node and client reads the token from.
pub const TOKEN_ENV: &str = "KQL_CLUSTER_TOKEN";

/// The scheduler's methods that executors call; every other method is a client's.
const EXECUTOR_METHODS: [&str; 5] = ["RegisterExecutor", "HeartBeatFromExecutor", "UpdateTaskStatus", "PollWork", "ExecutorStopped"];

/// The token in `KQL_CLUSTER_TOKEN`, if it is set and not blank.
pub fn from_env() -> Option<String> {
    let token = std::env::var(TOKEN_ENV).ok()?;
    let token = token.trim();
    (!token.is_empty()).then(|| token.to_string())
}

/// The `authorization` header's value that carries `token`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Whether a call to `path` (`/package.Service/Method`) must carry the token.
fn needs_token(path: &str) -> bool {
    let method = path.rsplit('/').next().unwrap_or("");
    let executors_call = path.starts_with("/ballista.protobuf.SchedulerGrpc/") && EXECUTOR_METHODS.contains(&method);
    !executors_call
}

/// Compares in time that does not depend on where the first difference is.
fn same(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len() && given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Refuses a client's call without the scheduler's token, as gRPC's `UNAUTHENTICATED`.
pub async fn require_with_state(State(expected): State<std::sync::Arc<String>>, request: Request, next: Next) -> Response {
    if !needs_token(request.uri().path()) {
        return next.run(request).await;
    }
    let given = request.headers().get("authorization").map(|v| v.as_bytes()).unwrap_or(b"");
    if same(given, bearer(&expected).as_bytes()) {
        return next.run(request).await;
    }
    let said = if given.is_empty() { "no cluster token was given" } else { "the cluster token is wrong" };
    tonic::Status::unauthenticated(format!("{said}: set {TOKEN_ENV} to the scheduler's token"))
        .into_http::<axum::body::Body>()
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executors_calls_pass_and_clients_calls_need_the_token() {
        assert!(!needs_token("/ballista.protobuf.SchedulerGrpc/HeartBeatFromExecutor"));
        assert!(!needs_token("/ballista.protobuf.SchedulerGrpc/RegisterExecutor"));
        assert!(needs_token("/ballista.protobuf.SchedulerGrpc/ExecuteQuery"));
        assert!(needs_token("/ballista.protobuf.SchedulerGrpc/GetJobStatus"));
        assert!(needs_token("/arrow.flight.protocol.FlightService/DoGet"));
        assert!(needs_token("/other.Service/RegisterExecutor"));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"Bearer abc", b"Bearer abc"));
        assert!(!same(b"Bearer abd", b"Bearer abc"));
        assert!(!same(b"Bearer ab", b"Bearer abc"));
        assert!(!same(b"", b"Bearer abc"));
    }
}
