//! A failed job's error as kql would have given it on one machine.
//!
//! Ballista reports a task's failure as the debug text of the error chain, wrapped in the
//! job's and stage's: `Job 038J… failed: Job failed due to stage 0 failed: Task failed due to
//! runtime execution error: DataFusionError(Shared(External(DataFusionError(Execution("…")))))`.
//! The hunter needs the innermost message (which also carries where in the query it
//! happened); the job's id is of no use to them.

use std::sync::Arc;

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::StreamExt;

/// Builds an error of one kind from its message.
type MakeError = fn(String) -> DataFusionError;

/// The innermost message of a Ballista job failure; other errors unchanged.
pub fn tidy(e: DataFusionError) -> DataFusionError {
    let text = e.to_string();
    if text.contains("tcp connect error") {
        let reason = if text.contains("Connection refused") { "nothing listens there" } else { "the connection failed" };
        return DataFusionError::Execution(format!(
            "cannot reach the cluster's scheduler ({reason}): is `kql cluster scheduler` running at the --cluster address?"
        ));
    }
    if let Some(tls) = tls_failure(&text) {
        return DataFusionError::Execution(tls);
    }
    // The scheduler's token check (`token.rs`) says what is wrong in the status's message.
    if text.contains("code: Unauthenticated") {
        let message = text.split("message: \"").nth(1).and_then(|m| m.split('"').next()).unwrap_or("the cluster token was refused");
        return DataFusionError::Execution(format!("the cluster's scheduler refused the query: {message}"));
    }
    // The scheduler could not make the job's session: its build check (`build.rs`) or another
    // refusal of the job's settings, as the status's quoted message.
    if text.contains("Failed to create SessionContext") {
        let quoted = text.split_once("(Plan(\\\"").or_else(|| text.split_once("(Execution(\\\""));
        if let Some((_, rest)) = quoted {
            let message = rest.split("\\\")").next().unwrap_or(rest).replace("\\\\\\\"", "\"");
            return DataFusionError::Execution(message);
        }
    }
    if !text.contains("Job ") || !text.contains(" failed") {
        return e;
    }
    // The innermost error of the chain, rebuilt as the same kind, so that kql words it as it
    // would have on one machine (`kql_engine::error`: overflow, memory).
    let kinds: [(&str, MakeError); 4] = [
        ("ComputeError(\"", |m| DataFusionError::ArrowError(Box::new(arrow::error::ArrowError::ComputeError(m)), None)),
        ("ResourcesExhausted(\"", DataFusionError::ResourcesExhausted),
        ("Execution(\"", DataFusionError::Execution),
        ("Plan(\"", DataFusionError::Plan),
    ];
    let innermost = kinds.iter().filter_map(|(kind, make)| Some((text.rfind(kind)? + kind.len(), make))).max_by_key(|(at, _)| *at);
    if let Some((at, make)) = innermost {
        let inner = &text[at..];
        let end = inner.rfind("\")").unwrap_or(inner.len());
        let message = inner[..end].replace("\\\"", "\"").replace("\\n", "\n").replace("\\\\", "\\");
        return make(message);
    }
    // A job that failed while the scheduler planned it: `Job X failed: <message>`.
    // A planning rule's error comes wrapped in the rule's name (`kql_data_roots\ncaused by\n`):
    // the innermost cause is the message.
    match text.split_once(" failed: ") {
        Some((_, rest)) => {
            let cause = rest.rsplit("caused by\n").next().unwrap_or(rest);
            let cause = cause.trim_start_matches("DataFusion error: ").trim_start_matches("Execution error: ");
            DataFusionError::Execution(cause.to_string())
        }
        None => e,
    }
}

/// What a failed TLS handshake with a cluster member means for the user (`tls.rs`), from
/// rustls's and hyper's words in the error.
fn tls_failure(text: &str) -> Option<String> {
    use crate::tls::{CA_VAR, CERT_VAR, KEY_VAR};
    let client_has_tls = std::env::var_os(CERT_VAR).is_some_and(|v| !v.is_empty());
    // A scheduler or executor that refuses the client's certificate sends an alert, or, with
    // TLS 1.3, may just close the connection after the client thinks the handshake is done.
    // Only before any job exists: a job's own failures (an executor gone mid-fetch) are told by
    // the scheduler, as "Job ... failed". hyper says "connection was not ready" when the close
    // came before the request could be sent.
    let closed = !text.contains("Job ")
        && ["broken pipe", "connection closed", "FRAME_SIZE_ERROR", "connection was not ready"].iter().any(|words| text.contains(words));
    let refused =
        ["UnknownCA", "CertificateRequired", "BadCertificate"].iter().any(|alert| text.contains(&format!("fatal alert: {alert}")));
    if refused || (client_has_tls && closed) {
        return Some(format!(
            "the cluster closed the TLS connection: its nodes accept only certificates the cluster's authority signed (is {CERT_VAR} one?)"
        ));
    }
    if let Some(at) = text.find("InvalidCertificate(") {
        let detail = text[at + "InvalidCertificate(".len()..].split(')').next().unwrap_or("");
        return Some(format!("the cluster's certificate is not one {CA_VAR} vouches for ({detail})"));
    }
    if client_has_tls && text.contains("InvalidContentType") {
        return Some(format!(
            "the cluster does not speak TLS: start its nodes with {CERT_VAR}, {KEY_VAR} and {CA_VAR} too, or unset them here"
        ));
    }
    if !client_has_tls && closed {
        return Some(format!(
            "the cluster closed the connection; if its nodes speak TLS, set {CERT_VAR}, {KEY_VAR} and {CA_VAR} (PEM files) to a certificate of the cluster's authority"
        ));
    }
    None
}

/// Runs the job plan it wraps (Ballista's `DistributedQueryExec`), its errors tidied.
#[derive(Debug)]
pub struct TidyErrorsExec {
    job: Arc<dyn ExecutionPlan>,
}

impl TidyErrorsExec {
    pub fn new(job: Arc<dyn ExecutionPlan>) -> TidyErrorsExec {
        TidyErrorsExec { job }
    }
}

impl DisplayAs for TidyErrorsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "ClusterJob")
    }
}

impl ExecutionPlan for TidyErrorsExec {
    fn name(&self) -> &str {
        "ClusterJob"
    }
    /// It computes no expressions of its own.
    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn datafusion::physical_expr::PhysicalExpr>) -> Result<datafusion::common::tree_node::TreeNodeRecursion>,
    ) -> Result<datafusion::common::tree_node::TreeNodeRecursion> {
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    }
    fn properties(&self) -> &Arc<PlanProperties> {
        self.job.properties()
    }
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.job]
    }
    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        match children.pop() {
            Some(job) if children.is_empty() => Ok(Arc::new(TidyErrorsExec { job })),
            _ => Err(DataFusionError::Internal("ClusterJob takes one input".to_string())),
        }
    }
    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let stream = self.job.execute(partition, context).map_err(tidy)?;
        let schema = stream.schema();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream.map(|batch| batch.map_err(tidy)))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_failure_gives_its_innermost_message() {
        let e = DataFusionError::Execution(
            "Job 038J0BN9ZC000 failed: Job failed due to stage 0 failed: Task failed due to runtime execution error: DataFusionError(Shared(External(DataFusionError(Execution(\"arithmetic overflow: the result of '+' does not fit a \\\"long\\\"\")))))".to_string(),
        );
        assert_eq!(tidy(e).to_string(), "Execution error: arithmetic overflow: the result of '+' does not fit a \"long\"");
    }

    #[test]
    fn an_arrow_overflow_stays_an_arrow_error() {
        let e = DataFusionError::Execution(
            "Job failed due to stage 0 failed: Task failed due to runtime execution error: DataFusionError(Shared(External(ArrowError(ComputeError(\"Int64Array overflow on abs(-9223372036854775808)\")))))".to_string(),
        );
        assert_eq!(tidy(e).to_string(), "Arrow error: Compute error: Int64Array overflow on abs(-9223372036854775808)");
    }

    #[test]
    fn a_planning_failure_loses_the_job_id() {
        let e = DataFusionError::Execution("Job 038J0BNP1J000 failed: DataFusion error: the plan is wrong".to_string());
        assert_eq!(tidy(e).to_string(), "Execution error: the plan is wrong");
    }

    #[test]
    fn an_unreachable_scheduler_is_said_so() {
        let e = DataFusionError::External(Box::new(std::io::Error::other(
            "tonic::transport::Error(Transport, ConnectError(ConnectError(\"tcp connect error\", 127.0.0.1:59999, Os { code: 111, kind: ConnectionRefused, message: \"Connection refused\" })))",
        )));
        assert_eq!(
            tidy(e).to_string(),
            "Execution error: cannot reach the cluster's scheduler (nothing listens there): is `kql cluster scheduler` running at the --cluster address?"
        );
    }

    #[test]
    fn a_refused_token_says_what_to_set() {
        let e = DataFusionError::External(Box::new(std::io::Error::other(
            "Status { code: Unauthenticated, message: \"the cluster token is wrong: set KQL_CLUSTER_TOKEN to the scheduler's token\", metadata: MetadataMap { headers: {} }, source: None }",
        )));
        assert_eq!(
            tidy(e).to_string(),
            "Execution error: the cluster's scheduler refused the query: the cluster token is wrong: set KQL_CLUSTER_TOKEN to the scheduler's token"
        );
    }

    #[test]
    fn a_client_of_another_build_is_told_which_builds_met() {
        let e = DataFusionError::Execution(
            "Status { code: Internal, message: \"Failed to create SessionContext: DataFusionError(Plan(\\\"the cluster's scheduler runs kql 0.1.0+abc and this client kql 0.0.1+def: every node and client of a cluster must run the same kql build\\\"))\", metadata: MetadataMap { headers: {} }, source: None }".to_string(),
        );
        assert_eq!(
            tidy(e).to_string(),
            "Execution error: the cluster's scheduler runs kql 0.1.0+abc and this client kql 0.0.1+def: every node and client of a cluster must run the same kql build"
        );
    }

    #[test]
    fn a_connection_closed_before_the_request_went_out_is_a_closed_connection() {
        // The client here has no certificate (the test sets no KQL_CLUSTER_TLS_CERT).
        let e = DataFusionError::External(Box::new(std::io::Error::other(
            "Status { code: Cancelled, message: \"operation was canceled\", source: Some(tonic::transport::Error(Transport, hyper::Error(Canceled, \"connection was not ready\"))) }",
        )));
        assert_eq!(
            tidy(e).to_string(),
            "Execution error: the cluster closed the connection; if its nodes speak TLS, set KQL_CLUSTER_TLS_CERT, KQL_CLUSTER_TLS_KEY and KQL_CLUSTER_TLS_CA (PEM files) to a certificate of the cluster's authority"
        );
    }

    #[test]
    fn a_refused_certificate_and_an_unknown_authority_are_told_apart() {
        let refused = DataFusionError::External(Box::new(std::io::Error::other(
            "Status { code: Unknown, message: \"transport error\", source: Some(tonic::transport::Error(Transport, hyper::Error(Io, Custom { kind: InvalidData, error: \"received fatal alert: UnknownCA\" }))) }",
        )));
        assert_eq!(
            tidy(refused).to_string(),
            "Execution error: the cluster closed the TLS connection: its nodes accept only certificates the cluster's authority signed (is KQL_CLUSTER_TLS_CERT one?)"
        );
        let unknown = DataFusionError::External(Box::new(std::io::Error::other(
            "tonic::transport::Error(Transport, ConnectError(Custom { kind: InvalidData, error: InvalidCertificate(UnknownIssuer) }))",
        )));
        assert_eq!(
            tidy(unknown).to_string(),
            "Execution error: the cluster's certificate is not one KQL_CLUSTER_TLS_CA vouches for (UnknownIssuer)"
        );
    }

    #[test]
    fn a_planning_rule_error_is_its_cause() {
        let e = DataFusionError::Execution(
            "Job abc failed: DataFusion error: kql_data_roots\ncaused by\nExecution error: the cluster's executors read only under their data roots (--data-root), and /x.parquet is not under them".to_string(),
        );
        assert_eq!(
            tidy(e).to_string(),
            "Execution error: the cluster's executors read only under their data roots (--data-root), and /x.parquet is not under them"
        );
    }

    #[test]
    fn other_errors_are_unchanged() {
        let e = DataFusionError::Execution("no such file".to_string());
        assert_eq!(tidy(e).to_string(), "Execution error: no such file");
    }
}
