//! The plan codecs a cluster's nodes share: kql's own nodes, tables and functions
//! (`kql_engine::codec`) and Ballista's (its shuffle readers and writers, its cache node, file
//! formats), in one codec each for logical and physical plans.
//!
//! Neither codec falls back on the other, so each encoded node starts with a byte that says
//! whose it is, and decoding hands the rest to that codec.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr_common::physical_expr::proto_decode::PhysicalExprDecodeCtx;
use datafusion::physical_expr_common::physical_expr::proto_encode::PhysicalExprEncodeCtx;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use kql_engine::codec::{KqlLogicalCodec, KqlPhysicalCodec};

/// The first byte of a node kql encoded.
const KQL: u8 = b'K';
/// The first byte of a node Ballista encoded.
const BALLISTA: u8 = b'B';

/// Splits an encoded node into whose it is and its bytes.
fn owner(buf: &[u8]) -> Result<(u8, &[u8])> {
    match buf.split_first() {
        Some((&tag, rest)) if tag == KQL || tag == BALLISTA => Ok((tag, rest)),
        _ => Err(DataFusionError::Internal("kql cluster codec: a plan node of unknown origin (another kql version?)".to_string())),
    }
}

/// Encodes with kql's codec where it knows the node, else with Ballista's.
fn encode_either(
    buf: &mut Vec<u8>,
    kql: impl FnOnce(&mut Vec<u8>) -> Result<()>,
    ballista: impl FnOnce(&mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    let mut bytes = vec![KQL];
    if kql(&mut bytes).is_ok() {
        buf.extend(bytes);
        return Ok(());
    }
    let mut bytes = vec![BALLISTA];
    ballista(&mut bytes)?;
    buf.extend(bytes);
    Ok(())
}

/// kql's and Ballista's logical codecs.
#[derive(Debug, Default)]
pub struct ClusterLogicalCodec {
    kql: KqlLogicalCodec,
    ballista: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for ClusterLogicalCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
        match owner(buf)? {
            (KQL, rest) => self.kql.try_decode(rest, inputs, ctx),
            (_, rest) => self.ballista.try_decode(rest, inputs, ctx),
        }
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        encode_either(buf, |b| self.kql.try_encode(node, b), |b| self.ballista.try_encode(node, b))
    }

    /// Tables travel only as kql encodes them (in-memory and `range` tables); Parquet, CSV and
    /// JSON listing tables are datafusion-proto's own nodes, and any other table cannot reach
    /// another node.
    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: arrow::datatypes::SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        self.kql.try_decode_table_provider(buf, table_ref, schema, ctx)
    }

    fn try_encode_table_provider(&self, table_ref: &TableReference, node: Arc<dyn TableProvider>, buf: &mut Vec<u8>) -> Result<()> {
        self.kql.try_encode_table_provider(table_ref, node, buf).map_err(|_| {
            DataFusionError::Plan(format!("table {table_ref} cannot run on a cluster: it is read by kql itself (JSON, CSV, EVTX, Delta or a shared scan), not from Parquet files every node can read"))
        })
    }

    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> Result<Arc<dyn FileFormatFactory>> {
        self.ballista.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> Result<()> {
        self.ballista.try_encode_file_format(buf, node).map_err(|_| {
            DataFusionError::Plan(
                "this query reads a JSON lines or CSV table, which kql reads itself: a cluster's executors read Parquet files and object-store URLs only (convert the table to Parquet, or run the query without --cluster)"
                    .to_string(),
            )
        })
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        self.kql.try_decode_udf(name, buf)
    }

    fn try_decode_udaf(&self, name: &str, _buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        kql_udaf(name)
    }
}

/// kql's and Ballista's physical codecs.
#[derive(Debug, Default)]
pub struct ClusterPhysicalCodec {
    kql: KqlPhysicalCodec,
    ballista: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for ClusterPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match owner(buf)? {
            (KQL, rest) => self.kql.try_decode(rest, inputs, ctx, converter),
            (_, rest) => self.ballista.try_decode(rest, inputs, ctx, converter),
        }
    }

    fn try_encode(&self, node: Arc<dyn ExecutionPlan>, buf: &mut Vec<u8>, converter: &dyn PhysicalProtoConverterExtension) -> Result<()> {
        encode_either(buf, |b| self.kql.try_encode(node.clone(), b, converter), |b| self.ballista.try_encode(node.clone(), b, converter))
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        self.kql.try_decode_udf(name, buf)
    }

    fn try_decode_udaf(&self, name: &str, _buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        kql_udaf(name)
    }

    fn try_decode_expr(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn PhysicalExpr>],
        ctx: &PhysicalExprDecodeCtx<'_>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        self.kql.try_decode_expr(buf, inputs, ctx)
    }

    fn try_encode_expr(&self, node: &Arc<dyn PhysicalExpr>, buf: &mut Vec<u8>, ctx: &PhysicalExprEncodeCtx<'_>) -> Result<()> {
        self.kql.try_encode_expr(node, buf, ctx)
    }
}

/// One of kql's own aggregates by name, for a decoder whose session lacks it.
fn kql_udaf(name: &str) -> Result<Arc<AggregateUDF>> {
    kql_engine::functions::registry::aggregate_udfs()
        .into_iter()
        .find(|udaf| udaf.name() == name)
        .ok_or_else(|| DataFusionError::Internal(format!("kql cluster codec: no aggregate {name}")))
}
