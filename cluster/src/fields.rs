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
use ballista_executor::execution_engine::{DefaultExecutionEngine, ExecutionEngine, QueryStageExecutor};
use datafusion::common::Result;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
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
}

impl KqlExecutionEngine {
    pub fn new(
        inner: DefaultExecutionEngine,
        options: kql_engine::SessionOptions,
        data_roots: crate::data_roots::DataRoots,
    ) -> KqlExecutionEngine {
        KqlExecutionEngine { inner, codec: ClusterPhysicalCodec::default(), options, data_roots }
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
        let plan = crate::compact::compact_stage_output(plan)?;
        self.inner.create_query_stage_exec(job_id, stage_id, task_id, global_output_partition_ids, plan, work_dir, config)
    }
}
