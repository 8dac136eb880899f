//! Gives each kql function call of a stage's plan its whole result field back on the
//! executor.
//!
//! Ballista writes the stages its scheduler planned with datafusion-proto's default encoder,
//! which keeps a function call's result type but not its field's metadata, and the `dynamic`
//! tag is metadata (`kql_engine::types`). A stage decoded as it arrives would treat a
//! `dynamic` value as a string wherever a function looks at its argument's field. So the
//! executor writes the stage once more and reads it with kql's converter
//! (`kql_engine::codec::KqlProtoConverter`), which derives each kql call's field from the
//! function and its arguments, as the scheduler's planner did.

use std::sync::Arc;

use ballista_core::JobId;
use ballista_core::serde::protobuf::{RuntimeStatsReport, ShuffleWritePartition, TaskColumnStats, WindowStateReport};
use ballista_executor::execution_engine::{DefaultExecutionEngine, ExecutionEngine, QueryStageExecutor};
use datafusion::common::Result;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::MetricsSet;
use datafusion::prelude::SessionConfig;
use datafusion_proto::physical_plan::{AsExecutionPlan, PhysicalPlanDecodeContext, PhysicalPlanNodeExt};
use datafusion_proto::protobuf::PhysicalPlanNode;
use kql_engine::codec::KqlProtoConverter;

use crate::codec::ClusterPhysicalCodec;

/// Ballista's execution engine, over stages whose kql calls have their fields back.
pub struct KqlExecutionEngine {
    inner: DefaultExecutionEngine,
    codec: ClusterPhysicalCodec,
    options: kql_engine::SessionOptions,
    data_roots: crate::data_roots::DataRoots,
    /// The bytes one task may output for the next stage (`compact.rs`).
    task_output_budget: Option<u64>,
}

impl KqlExecutionEngine {
    pub fn new(
        inner: DefaultExecutionEngine,
        options: kql_engine::SessionOptions,
        data_roots: crate::data_roots::DataRoots,
        task_output_budget: Option<u64>,
    ) -> KqlExecutionEngine {
        KqlExecutionEngine { inner, codec: ClusterPhysicalCodec::default(), options, data_roots, task_output_budget }
    }

    fn with_fields(&self, plan: Arc<dyn ExecutionPlan>, config: &SessionConfig) -> Result<Arc<dyn ExecutionPlan>> {
        let state = kql_engine::session::session_state_with_config(&self.options, config.clone())
            .map_err(|e| datafusion::error::DataFusionError::Execution(e.to_string()))?;
        let task = TaskContext::from(&state);
        let proto = PhysicalPlanNode::try_from_physical_plan(plan, &self.codec)?;
        proto.try_into_physical_plan_with_context(&PhysicalPlanDecodeContext::new(&task, &self.codec), &KqlProtoConverter)
    }
}

impl ExecutionEngine for KqlExecutionEngine {
    fn create_query_stage_exec(
        &self,
        job_id: JobId,
        stage_id: usize,
        task_id: usize,
        global_output_partition_ids: Vec<usize>,
        plan: Arc<dyn ExecutionPlan>,
        work_dir: &str,
        config: &SessionConfig,
    ) -> Result<Arc<dyn QueryStageExecutor>> {
        crate::build::check(config, "executor")?;
        let plan = self.with_fields(plan, config)?;
        self.data_roots.check(&plan)?;
        let plan = crate::compact::compact_stage_output(plan, self.task_output_budget)?;
        let stage = self.inner.create_query_stage_exec(job_id, stage_id, task_id, global_output_partition_ids, plan, work_dir, config)?;
        Ok(Arc::new(StageWithoutMetrics(stage)))
    }
}

/// A stage that reports no operator metrics to the scheduler.
///
/// Ballista lists a task's metrics by operator, leaving out operators that have none, and the
/// scheduler takes the first finished task's list as the stage's; a later task whose list is
/// longer or shorter ("task metrics array size 6 does not equal with the stage metrics array
/// size 5") has its whole status update refused. The scheduler then never learns that the
/// task finished, and the job waits for ever: the hangs seen with several clients at once
/// (found on a stage of a `union`, whose tasks listed 5 and 6 operators).
/// kql shows no per-stage metrics, and the scheduler skips an empty list, so none are sent.
#[derive(Debug)]
struct StageWithoutMetrics(Arc<dyn QueryStageExecutor>);

impl std::fmt::Display for StageWithoutMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[async_trait::async_trait]
impl QueryStageExecutor for StageWithoutMetrics {
    async fn execute_query_stage(&self, task_id: usize, context: Arc<TaskContext>) -> Result<Vec<ShuffleWritePartition>> {
        self.0.execute_query_stage(task_id, context).await
    }
    fn collect_plan_metrics(&self) -> Vec<MetricsSet> {
        Vec::new()
    }
    fn collect_runtime_stats_reports(&self) -> Vec<RuntimeStatsReport> {
        self.0.collect_runtime_stats_reports()
    }
    fn collect_window_state_reports(&self) -> Result<Vec<WindowStateReport>> {
        self.0.collect_window_state_reports()
    }
    fn collect_column_stats(&self) -> Vec<TaskColumnStats> {
        self.0.collect_column_stats()
    }
}
