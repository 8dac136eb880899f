//! Tables from Parquet files: column types that are not KQL types are read as KQL types.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Array, Int16Array, RecordBatch, StringArray, TimestampMicrosecondArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use kql_engine::render::format_cell;
use kql_engine::{Session, SessionOptions};

fn write_parquet(path: &std::path::Path) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("Micros", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new("Millis", DataType::Timestamp(TimeUnit::Millisecond, Some("+02:00".into())), true),
        Field::new("Small", DataType::Int16, true),
        Field::new("Single", DataType::Float32, true),
        Field::new("Text", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMicrosecondArray::from(vec![Some(1_714_521_600_123_456), None])),
        Arc::new(TimestampMillisecondArray::from(vec![Some(1_714_521_600_500), Some(0)]).with_timezone("+02:00")),
        Arc::new(Int16Array::from(vec![Some(7), Some(-3)])),
        Arc::new(Float32Array::from(vec![Some(1.5), None])),
        Arc::new(StringArray::from(vec![Some("a"), None])),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).expect("batch");
    let mut writer = ArrowWriter::try_new(std::fs::File::create(path).expect("create"), schema, None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

fn cells(results: &[kql_engine::QueryResult]) -> Vec<Vec<String>> {
    let r = &results[0];
    let mut rows = Vec::new();
    for b in &r.batches {
        for i in 0..b.num_rows() {
            rows.push(b.columns().iter().map(|c| format_cell(c.as_ref(), i).unwrap_or_else(|| "null".into())).collect());
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn file_types_are_read_as_kql_types() {
    let dir = std::env::temp_dir().join(format!("kql-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("Odd.parquet");
    write_parquet(&path);
    let mut session = Session::new(SessionOptions::default()).expect("session");
    session.register_data_dir(&dir).await.expect("register");

    let schema = session.execute("Odd | getschema | project ColumnName, ColumnType").await.expect("getschema");
    assert_eq!(cells(&schema), [["Micros", "datetime"], ["Millis", "datetime"], ["Small", "int"], ["Single", "real"], ["Text", "string"]]);

    let rows = session
        .execute("Odd | extend next_day = Micros + 1d, doubled = Small * 2 | project Micros, Millis, next_day, doubled, Single, Text | order by doubled desc")
        .await
        .expect("query");
    assert_eq!(
        cells(&rows),
        [
            ["2024-05-01T00:00:00.1234560Z", "2024-05-01T00:00:00.5000000Z", "2024-05-02T00:00:00.1234560Z", "14", "1.5", "a"],
            // The file's null string is Kusto's "" (a string is never null).
            ["null", "1970-01-01T00:00:00Z", "null", "-6", "null", ""],
        ]
    );
    std::fs::remove_dir_all(&dir).ok();
}
