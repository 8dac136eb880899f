//! kql's plans as bytes and back, through datafusion-proto: what a cluster's scheduler sends
//! its executors, and what the round-trip tests check (`round_trip_stream`).
//!
//! DataFusion's own nodes, Parquet scans and built-in functions encode themselves. kql adds:
//! - its functions, which decode by their `kql_` names from the receiving session's registry
//!   (`functions::registry`), so nothing of them travels but the name;
//! - the `Serialize` node (`SerialNode`, `SerialExec`): its columns as JSON, its expressions (and
//!   the key of its partitions, where it runs per partition) as datafusion-proto messages;
//! - the `FirstRowPerKey` node (`FirstRowNode`, `FirstRowExec`): its key expressions;
//! - the `StringsAsRead` node (`StringsAsReadNode`, `StringsAsReadExec`): nothing but its input;
//! - in-memory tables (`datatable`, `materialize`, the results of data-dependent steps), as
//!   Arrow IPC;
//! - `range` tables, as their bounds.

use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use datafusion::catalog::{MemTable, TableProvider};
use datafusion::common::metadata::FieldMetadata;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DataFusionError, Result, ScalarValue, TableReference, internal_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Extension, LogicalPlan, ScalarUDF, SortExpr};
use datafusion::physical_expr::ScalarFunctionExpr;
use datafusion::physical_expr::expressions::Literal;
use datafusion::physical_expr::{LexOrdering, PhysicalExpr, PhysicalSortExpr};
use datafusion::physical_expr_common::physical_expr::proto_decode::PhysicalExprDecodeCtx;
use datafusion::physical_expr_common::physical_expr::proto_encode::PhysicalExprEncodeCtx;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::memory::LazyMemoryExec;
use datafusion::prelude::lit;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{
    PhysicalExtensionCodec, PhysicalPlanDecodeContext, PhysicalPlanNodeExt, PhysicalProtoConverterExtension,
};
use datafusion_proto::protobuf;
use prost::Message;
use serde_json::{Value as Json, json};

use crate::first_row::{FirstRowExec, FirstRowNode};
use crate::range_table::{RangeGenerator, RangeTable, RangeValues};
use crate::serial::{PhysicalSerial, SerialColumn, SerialExec, SerialFunc, SerialNode};
use crate::strings_as_read::{StringsAsReadExec, StringsAsReadNode};

/// Encodes and decodes kql's logical nodes and tables.
#[derive(Debug, Default)]
pub struct KqlLogicalCodec;

/// Encodes and decodes kql's physical nodes.
#[derive(Debug, Default)]
pub struct KqlPhysicalCodec;

/// The first byte of an encoded table: which kind of table follows.
const MEMORY_TABLE: u8 = b'M';
const RANGE_TABLE: u8 = b'R';

fn codec_error(what: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Internal(format!("kql plan codec: {what}"))
}

/// A kql function by name, for a decoder whose session lacks it.
fn kql_udf(name: &str) -> Result<Arc<ScalarUDF>> {
    crate::functions::registry::by_name().get(name).cloned().ok_or_else(|| codec_error(format!("no function {name}")))
}

impl LogicalExtensionCodec for KqlLogicalCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
        let [input] = inputs else { return internal_err!("Serialize takes one input") };
        let doc = parse_json(buf)?;
        if doc.get("node").and_then(Json::as_str) == Some("first_row") {
            let keys = decode_logical_exprs(&doc["exprs"], ctx, self)?;
            return Ok(Extension { node: Arc::new(FirstRowNode::new(input.clone(), keys)) });
        }
        if doc.get("node").and_then(Json::as_str) == Some("strings_as_read") {
            return Ok(Extension { node: Arc::new(StringsAsReadNode::try_new(input.clone())?) });
        }
        let exprs = decode_logical_exprs(&doc["exprs"], ctx, self)?;
        let mut exprs = exprs.into_iter();
        let mut next = || exprs.next().ok_or_else(|| codec_error("too few expressions"));
        let mut columns = Vec::new();
        for c in array(&doc["columns"])? {
            let func = decode_func(&c["func"])?;
            let arg = if bool_field(c, "arg")? { Some(next()?) } else { None };
            let restart = if bool_field(c, "restart")? { Some(next()?) } else { None };
            columns.push(SerialColumn { name: str_field(c, "name")?.to_string(), func, arg, restart });
        }
        let mut order = Vec::new();
        for o in array(&doc["order"])? {
            order.push(SortExpr { expr: next()?, asc: bool_field(o, "asc")?, nulls_first: bool_field(o, "nulls_first")? });
        }
        let node = SerialNode::try_new(input.clone(), order, columns)?;
        Ok(Extension { node: Arc::new(node) })
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        if let Some(first) = node.node.as_any().downcast_ref::<FirstRowNode>() {
            let exprs = encode_logical_exprs(&first.keys, self)?;
            buf.extend(json!({"node": "first_row", "exprs": exprs}).to_string().into_bytes());
            return Ok(());
        }
        if node.node.as_any().downcast_ref::<StringsAsReadNode>().is_some() {
            buf.extend(json!({"node": "strings_as_read"}).to_string().into_bytes());
            return Ok(());
        }
        let Some(node) = node.node.as_any().downcast_ref::<SerialNode>() else {
            return internal_err!("kql cannot encode the plan node {}", node.node.name());
        };
        let mut exprs = Vec::new();
        let mut columns = Vec::new();
        for c in &node.columns {
            exprs.extend(c.arg.iter().chain(c.restart.iter()));
            columns.push(json!({
                "name": c.name, "func": encode_func(&c.func)?, "arg": c.arg.is_some(), "restart": c.restart.is_some(),
            }));
        }
        exprs.extend(node.order.iter().map(|s| &s.expr));
        let order: Vec<Json> = node.order.iter().map(|s| json!({"asc": s.asc, "nulls_first": s.nulls_first})).collect();
        let exprs = encode_logical_exprs(exprs, self)?;
        buf.extend(json!({"columns": columns, "order": order, "exprs": exprs}).to_string().into_bytes());
        Ok(())
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        _table_ref: &TableReference,
        schema: SchemaRef,
        _ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match buf.split_first() {
            Some((&MEMORY_TABLE, ipc)) => {
                let partitions = read_ipc(ipc)?;
                Ok(Arc::new(MemTable::try_new(schema, partitions)?))
            }
            Some((&RANGE_TABLE, range)) => {
                let doc = parse_json(range)?;
                let values = decode_range_values(&doc["values"])?;
                Ok(Arc::new(RangeTable::new(schema, values, usize_field(&doc, "rows")?)))
            }
            _ => internal_err!("kql cannot decode this table"),
        }
    }

    fn try_encode_table_provider(&self, table_ref: &TableReference, node: Arc<dyn TableProvider>, buf: &mut Vec<u8>) -> Result<()> {
        if let Some(table) = node.downcast_ref::<MemTable>() {
            let mut partitions = Vec::new();
            for partition in &table.batches {
                partitions.push(partition.try_read().map_err(|_| codec_error("an in-memory table is being written"))?.clone());
            }
            buf.push(MEMORY_TABLE);
            write_ipc(&table.schema(), &partitions, buf)
        } else if let Some(range) = node.downcast_ref::<RangeTable>() {
            buf.push(RANGE_TABLE);
            buf.extend(json!({"values": encode_range_values(range.values), "rows": range.rows}).to_string().into_bytes());
            Ok(())
        } else {
            internal_err!("kql cannot encode the table {table_ref}")
        }
    }

    fn try_decode_udf(&self, name: &str, _buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        kql_udf(name)
    }
}

impl PhysicalExtensionCodec for KqlPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let doc = parse_json(buf)?;
        match str_field(&doc, "node")? {
            "range" => {
                let column = match doc.get("column") {
                    Some(Json::String(schema)) => decode_schema(schema)?.fields().first().cloned(),
                    _ => None,
                };
                let values = decode_range_values(&doc["values"])?;
                let generator = RangeGenerator::new(column, values, usize_field(&doc, "rows")?, usize_field(&doc, "batch_size")?);
                Ok(Arc::new(generator.into_exec()?))
            }
            "first_row" => {
                let [input] = inputs else { return internal_err!("FirstRowPerKeyExec takes one input") };
                let input_schema = input.schema();
                let keys = array(&doc["keys"])?.iter().map(|e| decode_physical_expr(e, ctx, &input_schema, self)).collect::<Result<_>>()?;
                Ok(Arc::new(FirstRowExec::new(input.clone(), keys)))
            }
            "strings_as_read" => {
                let [input] = inputs else { return internal_err!("StringsAsReadExec takes one input") };
                Ok(Arc::new(StringsAsReadExec::try_new(input.clone())?))
            }
            "serial" => {
                let [input] = inputs else { return internal_err!("SerialExec takes one input") };
                let input_schema = input.schema();
                let parse = |e: &Json| decode_physical_expr(e, ctx, &input_schema, self);
                let mut columns = Vec::new();
                for c in array(&doc["columns"])? {
                    let optional = |key: &str| c.get(key).filter(|v| !v.is_null()).map(parse).transpose();
                    columns.push(PhysicalSerial { func: decode_func(&c["func"])?, arg: optional("arg")?, restart: optional("restart")? });
                }
                let mut ordering = Vec::new();
                for o in array(&doc["ordering"])? {
                    let options = arrow::compute::SortOptions {
                        descending: bool_field(o, "descending")?,
                        nulls_first: bool_field(o, "nulls_first")?,
                    };
                    ordering.push(PhysicalSortExpr { expr: parse(&o["expr"])?, options });
                }
                let schema = Arc::new(decode_schema(str_field(&doc, "schema")?)?);
                let ordering = LexOrdering::new(ordering);
                match (doc.get("partition_key").filter(|v| !v.is_null()).map(parse).transpose()?, ordering) {
                    (Some(key), Some(ordering)) => Ok(Arc::new(SerialExec::partitioned(input.clone(), ordering, columns, schema, key))),
                    (Some(_), None) => internal_err!("a SerialExec run per partition needs an ordering"),
                    (None, ordering) => Ok(Arc::new(SerialExec::new(input.clone(), ordering, columns, schema))),
                }
            }
            other => internal_err!("kql cannot decode the plan node {other}"),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let expr = |e: &Arc<dyn PhysicalExpr>| -> Result<Json> {
            let node = datafusion_proto::physical_plan::to_proto::serialize_physical_expr(e, self)?;
            Ok(Json::String(BASE64.encode(node.encode_to_vec())))
        };
        let doc = if let Some(exec) = node.downcast_ref::<FirstRowExec>() {
            json!({"node": "first_row", "keys": exec.keys().iter().map(expr).collect::<Result<Vec<_>>>()?})
        } else if node.downcast_ref::<StringsAsReadExec>().is_some() {
            json!({"node": "strings_as_read"})
        } else if let Some(exec) = node.downcast_ref::<SerialExec>() {
            let (_, ordering, columns, schema) = exec.parts();
            let columns: Vec<Json> = columns
                .iter()
                .map(|c| {
                    Ok(json!({
                        "func": encode_func(&c.func)?,
                        "arg": c.arg.as_ref().map(expr).transpose()?,
                        "restart": c.restart.as_ref().map(expr).transpose()?,
                    }))
                })
                .collect::<Result<_>>()?;
            let ordering: Vec<Json> = ordering
                .into_iter()
                .flat_map(|o| o.iter())
                .map(|s| Ok(json!({"expr": expr(&s.expr)?, "descending": s.options.descending, "nulls_first": s.options.nulls_first})))
                .collect::<Result<_>>()?;
            let mut doc = json!({"node": "serial", "columns": columns, "ordering": ordering, "schema": encode_schema(schema)?});
            // Only where the node runs per partition: a one-stream node encodes as it always did.
            if let Some(key) = exec.partition_key() {
                doc["partition_key"] = expr(key)?;
            }
            doc
        } else if let Some(exec) = node.downcast_ref::<LazyMemoryExec>()
            && let [generator] = exec.generators().as_slice()
            && let Some(range) = generator.read().as_any().downcast_ref::<RangeGenerator>()
        {
            let column = match &range.column {
                Some(f) => Json::String(encode_schema(&Schema::new(vec![f.clone()]))?),
                None => Json::Null,
            };
            json!({
                "node": "range", "column": column, "values": encode_range_values(range.values),
                "rows": range.rows, "batch_size": range.batch_size,
            })
        } else {
            return internal_err!("kql cannot encode the plan node {}", node.name());
        };
        buf.extend(doc.to_string().into_bytes());
        Ok(())
    }

    fn try_decode_udf(&self, name: &str, _buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        kql_udf(name)
    }

    /// A join filter's sampling wrapper (`join_filter_sampling.rs`) travels as a marker whose
    /// one input is the join's filter; the receiving side keeps the plain filter (the sample
    /// belongs to the scan that took it).
    fn try_encode_expr(&self, node: &Arc<dyn PhysicalExpr>, buf: &mut Vec<u8>, _ctx: &PhysicalExprEncodeCtx<'_>) -> Result<()> {
        if node.downcast_ref::<crate::join_filter_sampling::SampledJoinFilter>().is_none() {
            return Err(codec_error(format!("kql does not encode the expression {node}")));
        }
        buf.extend(json!({"sampled_join_filter": true}).to_string().into_bytes());
        Ok(())
    }

    /// A literal with its metadata (see `KqlProtoConverter::physical_expr_to_proto`), or a
    /// join filter that was sampled (see `try_encode_expr`).
    fn try_decode_expr(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn PhysicalExpr>],
        _ctx: &PhysicalExprDecodeCtx<'_>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        let doc = parse_json(buf)?;
        if doc.get("sampled_join_filter").is_some() {
            return match inputs {
                [filter] => Ok(Arc::clone(filter)),
                _ => Err(codec_error("a sampled join filter has one input")),
            };
        }
        let bytes = BASE64.decode(str_field(&doc, "literal")?).map_err(codec_error)?;
        let value = ScalarValue::try_from(&protobuf::ScalarValue::decode(bytes.as_slice()).map_err(codec_error)?).map_err(codec_error)?;
        let Some(Json::Object(entries)) = doc.get("metadata") else { return Err(codec_error("a literal without metadata")) };
        let metadata =
            entries.iter().map(|(k, v)| Ok((k.clone(), v.as_str().ok_or_else(|| codec_error("metadata values are text"))?.to_string())));
        let metadata = FieldMetadata::new(metadata.collect::<Result<_>>()?);
        Ok(Arc::new(Literal::new_with_metadata(value, Some(metadata))))
    }
}

fn encode_func(func: &SerialFunc) -> Result<Json> {
    Ok(match func {
        SerialFunc::Shift { offset, default } => {
            let default = protobuf::ScalarValue::try_from(default).map_err(codec_error)?;
            json!({"shift": {"offset": offset, "default": BASE64.encode(default.encode_to_vec())}})
        }
        SerialFunc::RowNumber => json!("row_number"),
        SerialFunc::CumSum => json!("cumsum"),
        SerialFunc::Rank { dense } => json!({"rank": {"dense": dense}}),
        SerialFunc::WindowSession { max_from_first, max_gap } => {
            json!({"window_session": {"max_from_first": max_from_first, "max_gap": max_gap}})
        }
    })
}

fn decode_func(doc: &Json) -> Result<SerialFunc> {
    Ok(match doc {
        Json::String(s) if s == "row_number" => SerialFunc::RowNumber,
        Json::String(s) if s == "cumsum" => SerialFunc::CumSum,
        Json::Object(o) if o.contains_key("shift") => {
            let shift = &o["shift"];
            let bytes = BASE64.decode(str_field(shift, "default")?).map_err(codec_error)?;
            let default = protobuf::ScalarValue::decode(bytes.as_slice()).map_err(codec_error)?;
            SerialFunc::Shift { offset: i64_field(shift, "offset")?, default: ScalarValue::try_from(&default).map_err(codec_error)? }
        }
        Json::Object(o) if o.contains_key("rank") => SerialFunc::Rank { dense: bool_field(&o["rank"], "dense")? },
        Json::Object(o) if o.contains_key("window_session") => {
            let w = &o["window_session"];
            SerialFunc::WindowSession { max_from_first: i64_field(w, "max_from_first")?, max_gap: i64_field(w, "max_gap")? }
        }
        other => return Err(codec_error(format!("unknown serial function {other}"))),
    })
}

fn encode_range_values(values: RangeValues) -> Json {
    match values {
        RangeValues::Long { start, step } => json!({"long": [start, step]}),
        // Reals travel as their bits, so that no digit is lost in text.
        RangeValues::Real { start, step } => json!({"real": [start.to_bits(), step.to_bits()]}),
        RangeValues::Datetime { start, step } => json!({"datetime": [start, step]}),
    }
}

fn decode_range_values(doc: &Json) -> Result<RangeValues> {
    let pair = |key: &str| -> Option<(&Json, &Json)> {
        let a = doc.get(key)?.as_array()?;
        Some((a.first()?, a.get(1)?))
    };
    let longs = |(a, b): (&Json, &Json)| Some((a.as_i64()?, b.as_i64()?));
    let bits = |(a, b): (&Json, &Json)| Some((f64::from_bits(a.as_u64()?), f64::from_bits(b.as_u64()?)));
    if let Some((start, step)) = pair("long").and_then(longs) {
        Ok(RangeValues::Long { start, step })
    } else if let Some((start, step)) = pair("real").and_then(bits) {
        Ok(RangeValues::Real { start, step })
    } else if let Some((start, step)) = pair("datetime").and_then(longs) {
        Ok(RangeValues::Datetime { start, step })
    } else {
        Err(codec_error(format!("a range's values: {doc}")))
    }
}

fn encode_schema(schema: &Schema) -> Result<String> {
    let proto = protobuf::Schema::try_from(schema).map_err(codec_error)?;
    Ok(BASE64.encode(proto.encode_to_vec()))
}

fn decode_schema(text: &str) -> Result<Schema> {
    let bytes = BASE64.decode(text).map_err(codec_error)?;
    let proto = protobuf::Schema::decode(bytes.as_slice()).map_err(codec_error)?;
    Schema::try_from(&proto).map_err(codec_error)
}

/// A physical expression over `schema` from its datafusion-proto message in base64 text.
fn decode_physical_expr(e: &Json, ctx: &TaskContext, schema: &Schema, codec: &KqlPhysicalCodec) -> Result<Arc<dyn PhysicalExpr>> {
    let Json::String(text) = e else { return Err(codec_error("an expression is not text")) };
    let bytes = BASE64.decode(text).map_err(codec_error)?;
    let node = protobuf::PhysicalExprNode::decode(bytes.as_slice()).map_err(codec_error)?;
    datafusion_proto::physical_plan::from_proto::parse_physical_expr(&node, ctx, schema, codec)
}

/// Logical expressions as datafusion-proto messages in base64 text.
fn encode_logical_exprs<'a>(exprs: impl IntoIterator<Item = &'a Expr>, codec: &KqlLogicalCodec) -> Result<Vec<Json>> {
    exprs
        .into_iter()
        .map(|e| Ok(Json::String(BASE64.encode(datafusion_proto::logical_plan::to_proto::serialize_expr(e, codec)?.encode_to_vec()))))
        .collect()
}

fn decode_logical_exprs(doc: &Json, ctx: &TaskContext, codec: &KqlLogicalCodec) -> Result<Vec<datafusion::logical_expr::Expr>> {
    array(doc)?
        .iter()
        .map(|e| {
            let Json::String(text) = e else { return Err(codec_error("an expression is not text")) };
            let bytes = BASE64.decode(text).map_err(codec_error)?;
            let node = protobuf::LogicalExprNode::decode(bytes.as_slice()).map_err(codec_error)?;
            Ok(datafusion_proto::logical_plan::from_proto::parse_expr(&node, ctx, codec)?)
        })
        .collect()
}

/// The partitions of an in-memory table as Arrow IPC: a partition count, then each partition's
/// stream (its length, then the stream).
fn write_ipc(schema: &SchemaRef, partitions: &[Vec<RecordBatch>], buf: &mut Vec<u8>) -> Result<()> {
    buf.extend((partitions.len() as u64).to_le_bytes());
    for batches in partitions {
        let mut stream = Vec::new();
        let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut stream, schema)?;
        for b in batches {
            writer.write(b)?;
        }
        writer.finish()?;
        drop(writer);
        buf.extend((stream.len() as u64).to_le_bytes());
        buf.extend(stream);
    }
    Ok(())
}

fn read_ipc(mut buf: &[u8]) -> Result<Vec<Vec<RecordBatch>>> {
    fn take_u64(buf: &mut &[u8]) -> Result<usize> {
        let (head, rest) = buf.split_first_chunk::<8>().ok_or_else(|| codec_error("a cut-off table"))?;
        *buf = rest;
        usize::try_from(u64::from_le_bytes(*head)).map_err(codec_error)
    }
    let count = take_u64(&mut buf)?;
    let mut partitions = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let len = take_u64(&mut buf)?;
        let (stream, rest) = buf.split_at_checked(len).ok_or_else(|| codec_error("a cut-off table"))?;
        buf = rest;
        let reader = arrow::ipc::reader::StreamReader::try_new(stream, None)?;
        partitions.push(reader.collect::<std::result::Result<Vec<_>, _>>()?);
    }
    Ok(partitions)
}

fn parse_json(buf: &[u8]) -> Result<Json> {
    serde_json::from_slice(buf).map_err(codec_error)
}

fn array(doc: &Json) -> Result<&Vec<Json>> {
    doc.as_array().ok_or_else(|| codec_error(format!("expected a list, got {doc}")))
}

fn str_field<'a>(doc: &'a Json, key: &str) -> Result<&'a str> {
    doc.get(key).and_then(Json::as_str).ok_or_else(|| codec_error(format!("missing text {key}")))
}

fn bool_field(doc: &Json, key: &str) -> Result<bool> {
    doc.get(key).and_then(Json::as_bool).ok_or_else(|| codec_error(format!("missing flag {key}")))
}

fn i64_field(doc: &Json, key: &str) -> Result<i64> {
    doc.get(key).and_then(Json::as_i64).ok_or_else(|| codec_error(format!("missing number {key}")))
}

fn usize_field(doc: &Json, key: &str) -> Result<usize> {
    doc.get(key).and_then(Json::as_u64).and_then(|n| usize::try_from(n).ok()).ok_or_else(|| codec_error(format!("missing count {key}")))
}

/// Decodes physical plans as the default converter does, then gives each kql function call
/// back its whole result field. datafusion-proto keeps only a call's result type, and the
/// `dynamic` tag is field metadata (`types::dynamic_field`): without this, a decoded plan's
/// `dynamic` columns would turn into strings. The field is derived again from the function and
/// its arguments, as DataFusion derived it when it planned the call.
#[derive(Debug, Default)]
pub struct KqlProtoConverter;

impl PhysicalProtoConverterExtension for KqlProtoConverter {
    fn proto_to_execution_plan(
        &self,
        proto: &protobuf::PhysicalPlanNode,
        ctx: &PhysicalPlanDecodeContext<'_>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        proto.try_into_physical_plan_with_context(ctx, self)
    }

    fn execution_plan_to_proto(
        &self,
        plan: &Arc<dyn ExecutionPlan>,
        codec: &dyn PhysicalExtensionCodec,
    ) -> Result<protobuf::PhysicalPlanNode> {
        protobuf::PhysicalPlanNode::try_from_physical_plan_with_converter(plan.clone(), codec, self)
    }

    fn proto_to_physical_expr(
        &self,
        proto: &protobuf::PhysicalExprNode,
        input_schema: &Schema,
        ctx: &PhysicalPlanDecodeContext<'_>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        let expr = datafusion_proto::physical_plan::from_proto::parse_physical_expr_with_converter(proto, input_schema, ctx, self)?;
        let Some(call) = expr.downcast_ref::<ScalarFunctionExpr>() else { return Ok(expr) };
        let Some(udf) = crate::functions::registry::by_name().get(call.fun().name()) else { return Ok(expr) };
        let config = Arc::new(call.config_options().clone());
        let rebuilt = ScalarFunctionExpr::try_new(udf.clone(), call.args().to_vec(), input_schema, config)?.with_nullable(call.nullable());
        Ok(Arc::new(rebuilt))
    }

    /// A literal that carries metadata (a `dynamic` constant) travels as an extension node,
    /// since datafusion-proto keeps only a literal's value (`KqlPhysicalCodec::try_decode_expr`).
    fn physical_expr_to_proto(
        &self,
        expr: &Arc<dyn PhysicalExpr>,
        codec: &dyn PhysicalExtensionCodec,
    ) -> Result<protobuf::PhysicalExprNode> {
        if let Some(literal) = expr.downcast_ref::<Literal>() {
            let field = literal.return_field(&Schema::empty())?;
            if !field.metadata().is_empty() {
                let value = protobuf::ScalarValue::try_from(literal.value()).map_err(codec_error)?;
                let doc = json!({"literal": BASE64.encode(value.encode_to_vec()), "metadata": field.metadata()});
                let extension = protobuf::PhysicalExtensionExprNode { expr: doc.to_string().into_bytes(), inputs: vec![] };
                return Ok(protobuf::PhysicalExprNode {
                    expr_id: None,
                    expr_type: Some(protobuf::physical_expr_node::ExprType::Extension(extension)),
                });
            }
        }
        datafusion_proto::physical_plan::to_proto::serialize_physical_expr_with_converter(expr, codec, self)
    }
}

/// A physical plan as bytes, as kql encodes it.
pub fn physical_plan_to_bytes(plan: Arc<dyn ExecutionPlan>) -> Result<Vec<u8>> {
    Ok(datafusion_proto::bytes::physical_plan_to_bytes_with_proto_converter(plan, &KqlPhysicalCodec, &KqlProtoConverter)?.to_vec())
}

/// A physical plan from bytes, its functions and tables resolved in `task`'s session.
pub fn physical_plan_from_bytes(bytes: &[u8], task: &TaskContext) -> Result<Arc<dyn ExecutionPlan>> {
    decoding("physical plan", || {
        datafusion_proto::bytes::physical_plan_from_bytes_with_proto_converter(bytes, task, &KqlPhysicalCodec, &KqlProtoConverter)
    })
}

/// Runs a decoder over bytes that came from elsewhere. Arrow's IPC reader, which in-memory
/// tables go through, panics on some damaged input instead of failing (found by the test of
/// damaged plans in `engine/tests/library/embedding.rs`): such a panic is an error here, so a damaged
/// message cannot take down the process that reads it.
fn decoding<T>(what: &str, decode: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode))
        .unwrap_or_else(|_| Err(codec_error(format!("the {what} cannot be read: its bytes are damaged"))))
}

/// A logical plan as bytes, as kql encodes it. datafusion-proto keeps a literal's value but
/// not its metadata, which is how a `dynamic` constant is told from a string: each such
/// literal is written as a `kql_field_metadata` call (`functions::special`), which gives the
/// same field wherever the plan is decoded, and which the optimizer folds back into the literal.
pub fn logical_plan_to_bytes(plan: &LogicalPlan) -> Result<Vec<u8>> {
    let plan = literal_metadata_as_calls(plan.clone())?;
    Ok(datafusion_proto::bytes::logical_plan_to_bytes_with_extension_codec(&plan, &KqlLogicalCodec)?.to_vec())
}

/// A logical plan from bytes, its functions and tables resolved in `task`'s session.
pub fn logical_plan_from_bytes(bytes: &[u8], task: &TaskContext) -> Result<LogicalPlan> {
    decoding("logical plan", || datafusion_proto::bytes::logical_plan_from_bytes_with_extension_codec(bytes, task, &KqlLogicalCodec))
}

/// Writes each literal that carries metadata as a `kql_field_metadata` call (see
/// `logical_plan_to_bytes`): for an encoder kql does not drive, a cluster's client.
pub fn literal_metadata_as_calls(plan: LogicalPlan) -> Result<LogicalPlan> {
    let rewrite = |e: Expr| -> Result<Transformed<Expr>> {
        Ok(match e {
            Expr::Literal(value, Some(metadata)) if !metadata.is_empty() => {
                let text = crate::functions::special::metadata_to_json(metadata.inner());
                Transformed::yes(crate::functions::special::field_metadata_udf().call(vec![Expr::Literal(value, None), lit(text)]))
            }
            e => Transformed::no(e),
        })
    };
    let plan = plan.transform_up_with_subqueries(|node| {
        // The rewritten expressions keep their names, which later nodes refer to.
        let names = NamePreserver::new(&node);
        node.map_expressions(|e| {
            let saved = names.save(&e);
            Ok(e.transform_up(rewrite)?.update_data(|e| saved.restore(e)))
        })
    })?;
    Ok(plan.data)
}

/// Runs `plan` the long way, as a cluster would: optimized where it was planned (so that
/// subqueries are joins, which datafusion-proto encodes), the logical plan to bytes and back
/// into a fresh session that has only kql's configuration and registry (no tables, no
/// prelude), planned there, the physical plan to bytes and back again, then executed. The
/// round-trip tests compare its rows with the direct run's.
pub async fn round_trip_stream(session: &crate::Session, plan: &LogicalPlan) -> crate::Result<SendableRecordBatchStream> {
    let optimized = session.context().state().optimize(plan)?;
    let logical = logical_plan_to_bytes(&optimized)?;
    let planner = datafusion::prelude::SessionContext::new_with_state(crate::session::session_state(&session.options)?);
    let decoded = logical_plan_from_bytes(&logical, &planner.task_ctx())?;
    let physical = planner.state().create_physical_plan(&decoded).await?;
    let bytes = physical_plan_to_bytes(physical)?;
    let executor = datafusion::prelude::SessionContext::new_with_state(crate::session::session_state(&session.options)?);
    let task = executor.task_ctx();
    let decoded = physical_plan_from_bytes(&bytes, &task)?;
    Ok(datafusion::physical_plan::execute_stream(decoded, task)?)
}
