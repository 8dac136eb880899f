//! Folders partitioned by time, and scans that skip the partitions a `TimeGenerated` window
//! rules out.
//!
//! Two layouts are recognised from a file's path:
//! - `TimeGenerated=<datetime>` (or `date=`/`dt=` with a date) folders, as Spark and DuckDB
//!   write a table partitioned by its own time: the file holds rows of that day (or instant
//!   to the day's end) exactly.
//! - `y=YYYY/m=MM/d=DD/h=HH` folders (also `year=`, `month=`, `day=`, `hour=`), as Log
//!   Analytics' data export writes `WorkspaceResourceId=/.../y=2024/m=05/d=01/h=10/m=00/PT1H.json`.
//!   The export files rows by the hour they were *ingested*, and Azure Monitor keeps a row's
//!   `TimeGenerated` within two days before and one day after its ingestion (it replaces a time
//!   outside that). So the file's rows lie between two days before its hour and a day after it,
//!   and only files outside that band are skipped: a late-arriving row is never lost. The second
//!   `m=` (minutes) does not narrow the hour.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{Result, ScalarValue};
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::cache::cache_manager::FileStatisticsCache;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use kql_grammar::values::{MICROS_PER_DAY, days_from_civil};
use parking_lot::Mutex;

/// The column partitions are pruned on: Sentinel's time column.
pub const TIME_COLUMN: &str = "TimeGenerated";

const MICROS_PER_HOUR: i64 = MICROS_PER_DAY / 24;

/// The `TimeGenerated` range `[start, end)` (microseconds) a file's rows can have, by its path.
pub fn file_time_range(path: &str) -> Option<(i64, i64)> {
    let mut year = None;
    let mut month = None;
    let mut day = None;
    let mut hour = None;
    for segment in path.split(['/', '\\']) {
        let Some((key, value)) = segment.split_once('=') else { continue };
        let number = || value.parse::<i64>().ok();
        match key.to_ascii_lowercase().as_str() {
            "timegenerated" | "date" | "dt" => {
                let start = kql_grammar::values::parse_datetime(&value.replace("%3A", ":"))?;
                // A partition of a date holds that day; of an instant, that instant's day.
                let day_start = start.div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY;
                return Some((start.min(day_start), day_start + MICROS_PER_DAY));
            }
            "y" | "year" => year = number(),
            "m" | "month" if month.is_none() => month = number(),
            "d" | "day" => day = number(),
            "h" | "hour" => hour = number(),
            _ => {}
        }
    }
    let year = year?;
    let (start, end) = match (month, day, hour) {
        (None, _, _) => (civil(year, 1, 1)?, civil(year + 1, 1, 1)?),
        (Some(m), None, _) => {
            let (ny, nm) = if m == 12 { (year + 1, 1) } else { (year, m + 1) };
            (civil(year, m, 1)?, civil(ny, nm, 1)?)
        }
        (Some(m), Some(d), None) => {
            let s = civil(year, m, d)?;
            (s, s + MICROS_PER_DAY)
        }
        (Some(m), Some(d), Some(h)) if (0..24).contains(&h) => {
            let s = civil(year, m, d)? + h * MICROS_PER_HOUR;
            (s, s + MICROS_PER_HOUR)
        }
        _ => return None,
    };
    Some((start - 2 * MICROS_PER_DAY, end + MICROS_PER_DAY))
}

fn civil(y: i64, m: i64, d: i64) -> Option<i64> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1..=9999).contains(&y) {
        return None;
    }
    Some(days_from_civil(y, m as u32, d as u32) * MICROS_PER_DAY)
}

/// The `TimeGenerated` window `[low, high]` (microseconds, inclusive) that `filters`, taken
/// together, allow; `None` when they do not bound it.
pub fn time_window(filters: &[Expr]) -> Option<(i64, i64)> {
    filters.iter().filter_map(window_of).reduce(intersection)
}

/// The window one filter bounds `TimeGenerated` to: through `and` (both sides' windows hold),
/// `or` (the span of both, when both are bounded: the rows a union of hunts wants, see
/// `shared_scan`) and `between`, down to `TimeGenerated <op> constant` either way round.
fn window_of(filter: &Expr) -> Option<(i64, i64)> {
    match filter {
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) => match (window_of(left), window_of(right)) {
            (Some(a), Some(b)) => Some(intersection(a, b)),
            (one, None) | (None, one) => one,
        },
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Or, right }) => {
            let ((l1, h1), (l2, h2)) = (window_of(left)?, window_of(right)?);
            Some((l1.min(l2), h1.max(h2)))
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (constant, op, whole) = match (is_time_column(left), micros_of(right), is_time_column(right), micros_of(left)) {
                (true, Some(v), _, _) => (v, *op, is_whole_micros(right)),
                (_, _, true, Some(v)) => (v, op.swap()?, is_whole_micros(left)),
                _ => return None,
            };
            match op {
                // Times are whole microseconds: `> c` is `>= c + 1`, and `< c` is `<= c - 1`
                // (so `< 2024-05-03` does not read the folder of the 3rd). A constant between
                // two microseconds is rounded down: `< c` then holds the microsecond below it.
                Operator::Gt => Some((constant.saturating_add(1), i64::MAX)),
                Operator::GtEq => Some((constant, i64::MAX)),
                Operator::Lt if whole => Some((i64::MIN, constant.saturating_sub(1))),
                Operator::Lt => Some((i64::MIN, constant)),
                Operator::LtEq => Some((i64::MIN, constant)),
                Operator::Eq => Some((constant, constant)),
                _ => None,
            }
        }
        Expr::Between(b) if !b.negated && is_time_column(&b.expr) => Some((micros_of(&b.low)?, micros_of(&b.high)?)),
        _ => None,
    }
}

fn intersection((l1, h1): (i64, i64), (l2, h2): (i64, i64)) -> (i64, i64) {
    (l1.max(l2), h1.min(h2))
}

fn is_time_column(e: &Expr) -> bool {
    match e {
        Expr::Column(c) => c.name == TIME_COLUMN,
        Expr::Cast(c) => is_time_column(&c.expr),
        Expr::TryCast(c) => is_time_column(&c.expr),
        _ => false,
    }
}

fn micros_of(e: &Expr) -> Option<i64> {
    match e {
        Expr::Literal(ScalarValue::TimestampMicrosecond(Some(v), _), _) => Some(*v),
        Expr::Literal(ScalarValue::TimestampNanosecond(Some(v), _), _) => Some(v.div_euclid(1000)),
        Expr::Literal(ScalarValue::TimestampMillisecond(Some(v), _), _) => v.checked_mul(1000),
        Expr::Literal(ScalarValue::TimestampSecond(Some(v), _), _) => v.checked_mul(1_000_000),
        Expr::Cast(c) => micros_of(&c.expr),
        _ => None,
    }
}

/// Whether a time constant falls on a whole microsecond (`micros_of` rounds one that does not
/// down).
fn is_whole_micros(e: &Expr) -> bool {
    match e {
        Expr::Literal(ScalarValue::TimestampNanosecond(Some(v), _), _) => v.rem_euclid(1000) == 0,
        Expr::Cast(c) => is_whole_micros(&c.expr),
        _ => true,
    }
}

/// A file and the `TimeGenerated` range its partition folder gives it, if any.
pub type PartitionFile = (ListingTableUrl, Option<(i64, i64)>);

/// A table of many files, each with the time range its partition folder gives, whose scans
/// read only the files a `TimeGenerated` window can need.
#[derive(Debug)]
pub struct PartitionedTable {
    name_for_notes: String,
    options: ListingOptions,
    schema: SchemaRef,
    files: Vec<PartitionFile>,
    all: Arc<ListingTable>,
    /// What each scan skipped, for `--explain` (`take_notes`).
    notes: Arc<Mutex<Vec<String>>>,
}

impl PartitionedTable {
    pub fn new(
        location: &str,
        options: ListingOptions,
        schema: SchemaRef,
        files: Vec<PartitionFile>,
        notes: Arc<Mutex<Vec<String>>>,
        state: &SessionState,
    ) -> Result<PartitionedTable> {
        let statistics = state.runtime_env().cache_manager.get_file_statistic_cache();
        let all = Arc::new(Self::listing(&options, &schema, files.iter().map(|(u, _)| u.clone()).collect(), statistics)?);
        Ok(PartitionedTable { name_for_notes: location.to_string(), options, schema, files, all, notes })
    }

    /// A listing table of `urls` whose files' statistics come from `statistics` when it holds
    /// them for the file as it is now (see `catalog::open_table`).
    fn listing(
        options: &ListingOptions,
        schema: &SchemaRef,
        urls: Vec<ListingTableUrl>,
        statistics: Option<Arc<FileStatisticsCache>>,
    ) -> Result<ListingTable> {
        let config = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options.clone()).with_schema(schema.clone());
        Ok(ListingTable::try_new(config)?.with_cache(statistics))
    }
}

#[async_trait]
impl TableProvider for PartitionedTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Every filter stays above the scan (`Inexact`): the scan only uses the time window to
    /// choose files.
    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some((low, high)) = time_window(filters) else {
            return self.all.scan(state, projection, filters, limit).await;
        };
        // A file without a partition time is always read.
        let kept: Vec<ListingTableUrl> = self
            .files
            .iter()
            .filter(|(_, range)| range.is_none_or(|(start, end)| start <= high && end > low))
            .map(|(u, _)| u.clone())
            .collect();
        self.notes.lock().push(format!(
            "{}: {} of {} files read, {} skipped by their {TIME_COLUMN} partitions",
            self.name_for_notes,
            kept.len(),
            self.files.len(),
            self.files.len() - kept.len()
        ));
        if kept.len() == self.files.len() {
            return self.all.scan(state, projection, filters, limit).await;
        }
        if kept.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        // The querying session's cache, the one the table was registered in.
        let statistics = state.runtime_env().cache_manager.get_file_statistic_cache();
        Self::listing(&self.options, &self.schema, kept, statistics)?.scan(state, projection, filters, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        kql_grammar::values::parse_datetime(text).expect("datetime")
    }

    #[test]
    fn ranges_of_partition_folders() {
        // Log Analytics' export: the hour of ingestion, widened by the two days before and the
        // day after that TimeGenerated may be.
        let export = "am-securityevent/WorkspaceResourceId=/subscriptions/s/resourcegroups/r/providers/microsoft.operationalinsights/workspaces/w/y=2024/m=05/d=01/h=10/m=00/PT1H.json";
        assert_eq!(file_time_range(export), Some((at("2024-04-29T10:00:00Z"), at("2024-05-02T11:00:00Z"))));
        assert_eq!(file_time_range("logs/year=2024/month=12/part-0.parquet"), Some((at("2024-11-29"), at("2025-01-02"))));
        assert_eq!(file_time_range("logs/TimeGenerated=2024-05-01/part-0.parquet"), Some((at("2024-05-01"), at("2024-05-02"))));
        assert_eq!(file_time_range("logs/m=05/d=01/x.json"), None);
        assert_eq!(file_time_range("logs/y=2024/m=13/x.json"), None);
        assert_eq!(file_time_range("logs/x.json"), None);
    }

    #[test]
    fn windows_from_filters() {
        use datafusion::prelude::lit;
        // `datafusion::prelude::col` would fold the name to lower case; kql's columns keep it.
        let col = |name: &str| Expr::Column(datafusion::common::Column::new_unqualified(name));
        let t = |text: &str| lit(ScalarValue::TimestampMicrosecond(Some(at(text)), Some("UTC".into())));
        let filters = vec![col(TIME_COLUMN).gt_eq(t("2024-05-01")), t("2024-05-03").gt(col(TIME_COLUMN))];
        assert_eq!(time_window(&filters), Some((at("2024-05-01"), at("2024-05-03") - 1)));
        assert_eq!(time_window(&[col("Other").gt(t("2024-05-01"))]), None);
        assert_eq!(time_window(&[col(TIME_COLUMN).between(t("2024-05-01"), t("2024-05-02"))]), Some((at("2024-05-01"), at("2024-05-02"))));
        // An `or` with an unbounded side does not bound the window.
        assert_eq!(time_window(&[col(TIME_COLUMN).gt(t("2024-05-01")).or(col("x").eq(lit(1)))]), None);
        // An `or` of two windows (hunts sharing a scan) spans both; `and` narrows it.
        let day = |d: &str, next: &str| col(TIME_COLUMN).gt_eq(t(d)).and(col(TIME_COLUMN).lt(t(next)));
        let either = day("2024-05-01", "2024-05-02").or(day("2024-05-05", "2024-05-06"));
        assert_eq!(time_window(std::slice::from_ref(&either)), Some((at("2024-05-01"), at("2024-05-06") - 1)));
        assert_eq!(time_window(&[either.clone().and(col("x").eq(lit(1)))]), Some((at("2024-05-01"), at("2024-05-06") - 1)));
        assert_eq!(time_window(&[either, col(TIME_COLUMN).lt(t("2024-05-03"))]), Some((at("2024-05-01"), at("2024-05-03") - 1)));
        // A strict bound at a partition's edge: `> end of the 1st` and `< the 3rd` is the 2nd.
        let strict = [col(TIME_COLUMN).gt(t("2024-05-01T23:59:59.999999")), col(TIME_COLUMN).lt(t("2024-05-03"))];
        assert_eq!(time_window(&strict), Some((at("2024-05-02"), at("2024-05-03") - 1)));
        // A bound between two microseconds: `< 2024-05-03 + 1ns` holds 2024-05-03 itself.
        let nanos = lit(ScalarValue::TimestampNanosecond(Some(at("2024-05-03") * 1000 + 1), Some("UTC".into())));
        assert_eq!(time_window(&[col(TIME_COLUMN).lt(nanos.clone())]), Some((i64::MIN, at("2024-05-03"))));
        assert_eq!(time_window(&[col(TIME_COLUMN).gt(nanos)]), Some((at("2024-05-03") + 1, i64::MAX)));
    }
}
