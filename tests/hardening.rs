//! Files an attacker or a broken shipper may leave among the logs (issue #10): each must give a
//! clear error or warning and never take the process down.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, MapBuilder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;

use support::{kql_binary, root};

fn kql(args: &[&str]) -> Output {
    Command::new(kql_binary()).args(args).current_dir(root()).stdin(Stdio::null()).output().expect("run kql")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kql-hardening-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch folder");
    dir
}

fn write_parquet(path: &Path, batch: &RecordBatch) {
    let file = std::fs::File::create(path).expect("create parquet");
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).expect("parquet writer");
    writer.write(batch).expect("write batch");
    writer.close().expect("close parquet");
}

fn ids(n: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(0..n)) as ArrayRef]).expect("batch")
}

/// The Parquet magic at both ends and a footer length far past the file's end: the reader
/// panicked while registering the table.
const ABSURD_FOOTER: &[u8] = b"PAR1xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xff\xff\xff\x7fPAR1";

#[test]
fn a_parquet_file_with_an_absurd_footer_is_an_error_named_and_a_folder_loses_only_it() {
    let dir = scratch("footer");
    let bad = dir.join("Bad.parquet");
    std::fs::write(&bad, ABSURD_FOOTER).expect("write");
    let named = kql(&["--table", &format!("T={}", bad.display()), "-c", "T | count"]);
    assert_eq!(named.status.code(), Some(1));
    assert_eq!(
        stderr(&named),
        format!("error: --table T: '{}' is not a readable Parquet file: its footer claims 2147483647 bytes, more than the file holds\n", bad.display())
    );
    // In a data folder: the damaged table and the damaged file of a folder table are left out
    // with a warning; every other table answers.
    std::fs::create_dir_all(dir.join("Mixed")).expect("mkdir");
    write_parquet(&dir.join("Good.parquet"), &ids(3));
    write_parquet(&dir.join("Mixed").join("a.parquet"), &ids(5));
    std::fs::write(dir.join("Mixed").join("b.parquet"), ABSURD_FOOTER).expect("write");
    let out = kql(&["--data", dir.to_str().expect("utf-8"), "--format", "csv", "-c", "Good | count; Mixed | count"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Count\n3\nCount\n5\n");
    let err = stderr(&out);
    assert!(err.contains(&format!("table Bad left out: '{}' is not a readable Parquet file", bad.display())), "{err}");
    assert!(err.contains(&format!("left out '{}', not a readable Parquet file", dir.join("Mixed").join("b.parquet").display())), "{err}");
    // A file too short to be Parquet at all.
    let tiny = dir.join("tiny.parquet");
    std::fs::write(&tiny, b"PAR1").expect("write");
    let short = kql(&["--table", &format!("T={}", tiny.display()), "-c", "T | count"]);
    assert_eq!(short.status.code(), Some(1));
    assert!(stderr(&short).contains("is not a readable Parquet file: 4 bytes is too short"), "{}", stderr(&short));
}

#[test]
fn a_map_column_reads_as_a_dynamic_bag() {
    let dir = scratch("map");
    let mut labels = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    for (k, v) in [("env", "prod"), ("team", "blue")] {
        labels.keys().append_value(k);
        labels.values().append_value(v);
    }
    labels.append(true).expect("map row");
    labels.keys().append_value("env");
    labels.values().append_value("dev");
    labels.append(true).expect("map row");
    let labels = labels.finish();
    let schema = Arc::new(Schema::new(vec![
        Field::new("host", DataType::Utf8, false),
        Field::new("labels", labels.data_type().clone(), true),
    ]));
    let hosts: ArrayRef = Arc::new(arrow::array::StringArray::from(vec!["a", "b"]));
    let batch = RecordBatch::try_new(schema, vec![hosts, Arc::new(labels)]).expect("batch");
    let file = dir.join("Hosts.parquet");
    write_parquet(&file, &batch);
    // Printing the map after any operator recursed forever before.
    let table = format!("T={}", file.display());
    for query in ["T | take 5", "T | sort by host asc", "T | where host == 'a' | extend n = 1"] {
        let out = kql(&["--table", &table, "--format", "csv", "-c", query]);
        assert!(out.status.success(), "{query}: {}", stderr(&out));
        assert!(stdout(&out).contains(r#"{""env"":""prod"",""team"":""blue""}"#), "{query}: {}", stdout(&out));
    }
}
