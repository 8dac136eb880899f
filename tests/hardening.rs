//! Files an attacker or a broken shipper may leave among the logs (issue #10): each must give a
//! clear error or warning and never take the process down.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, MapBuilder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;

use support::{kql, kql_binary, root, scratch, stderr, stdout};

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
        format!(
            "error: --table T: '{}' is not a readable Parquet file: its footer claims 2147483647 bytes, more than the file holds\n",
            bad.display()
        )
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
    let schema =
        Arc::new(Schema::new(vec![Field::new("host", DataType::Utf8, false), Field::new("labels", labels.data_type().clone(), true)]));
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

#[test]
fn a_hunt_run_survives_a_panicking_hunt_and_leaves_only_complete_files() {
    let dir = scratch("hunts");
    let hunts = dir.join("hunts");
    std::fs::create_dir_all(&hunts).expect("mkdir");
    std::fs::write(hunts.join("a_good.kql"), "range x from 1 to 3 step 1").expect("write");
    std::fs::write(hunts.join("b_panics.kql"), "print 1").expect("write");
    std::fs::write(hunts.join("c_fails.kql"), "print x = 1 | where NoSuchColumn > 0").expect("write");
    let out = dir.join("out");
    std::fs::create_dir_all(&out).expect("mkdir");
    // Results of an earlier run of the hunts that fail this time: they must not look current.
    std::fs::write(out.join("b_panics.jsonl"), "{\"old\":1}\n").expect("write");
    std::fs::write(out.join("c_fails.jsonl"), "{\"old\":1}\n").expect("write");
    let run = Command::new(kql_binary())
        .args(["hunt", hunts.to_str().expect("utf-8"), "--out", out.to_str().expect("utf-8")])
        .env("KQL_TEST_PANIC_IN_HUNT", "b_panics")
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .expect("run kql hunt");
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert_eq!(std::fs::read_to_string(out.join("a_good.jsonl")).expect("a_good results"), "{\"x\":1}\n{\"x\":2}\n{\"x\":3}\n");
    assert!(!out.join("b_panics.jsonl").exists());
    assert!(!out.join("c_fails.jsonl").exists());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary")).expect("valid JSON");
    let statuses: Vec<(&str, &str)> = summary["hunts"]
        .as_array()
        .expect("hunts")
        .iter()
        .map(|h| (h["hunt"].as_str().unwrap_or(""), h["status"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(statuses, [("a_good", "hits"), ("b_panics", "failed"), ("c_fails", "failed")]);
    let panic_error = summary["hunts"][1]["error"].as_str().unwrap_or("");
    assert!(panic_error.contains("kql stopped on this hunt") && panic_error.contains("injected panic in hunt b_panics"), "{panic_error}");
    // No temporary file is left behind.
    let mut names: Vec<String> =
        std::fs::read_dir(&out).expect("read out").filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["a_good.jsonl", "summary.json"]);
    // An --out that is a file is refused before any hunt runs.
    let file = dir.join("not-a-folder");
    std::fs::write(&file, "").expect("write");
    let refused = kql(&["hunt", hunts.to_str().expect("utf-8"), "--out", file.to_str().expect("utf-8")]);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(stderr(&refused), format!("error: --out {}: it is a file, not a folder\n", file.display()));
}

#[test]
fn values_a_kql_type_cannot_hold_read_as_null_and_the_query_goes_on() {
    use arrow::array::{TimestampSecondArray, UInt64Array};
    let dir = scratch("edge");
    let schema = Arc::new(Schema::new(vec![
        Field::new("big", DataType::UInt64, true),
        Field::new("t", DataType::Timestamp(arrow::datatypes::TimeUnit::Second, None), true),
    ]));
    // u64::MAX is past long's range; 10^13 s is past 9999-12-31 and -3*10^11 s before 0001.
    let big: ArrayRef = Arc::new(UInt64Array::from(vec![Some(1), Some(u64::MAX), None, Some(7)]));
    let t: ArrayRef = Arc::new(TimestampSecondArray::from(vec![Some(0), Some(10_000_000_000_000), Some(-300_000_000_000), Some(86_400)]));
    write_parquet(&dir.join("Edge.parquet"), &RecordBatch::try_new(schema, vec![big, t]).expect("batch"));
    // Every `take` failed on the one value ("Can't cast value 18446744073709551615 to type Int64").
    let out = kql(&["--data", dir.to_str().expect("utf-8"), "--format", "csv", "-c", "Edge | take 5"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "big,t\n1,1970-01-01T00:00:00Z\n,\n,\n7,1970-01-02T00:00:00Z\n");
    assert_eq!(
        stderr(&out),
        format!(
            "warning: --data {0}: column 'big' is an unsigned 64-bit integer in the files: it reads as long, and a value above 9223372036854775807 as null\nwarning: --data {0}: column 't' of '{0}/Edge.parquet' holds dates outside 0001-01-01 to 9999-12-31, which Kusto's datetime cannot hold: they read as null\n",
            dir.display()
        )
    );
    let out =
        kql(&["--data", dir.to_str().expect("utf-8"), "--format", "csv", "-c", "Edge | summarize n = count(), s = sum(big), m = max(t)"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "n,s,m\n4,8,1970-01-02T00:00:00Z\n");
}

#[test]
fn microsecond_dates_past_9999_read_as_null_and_only_such_files_are_checked_per_row() {
    use arrow::array::TimestampMicrosecondArray;
    use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
    let dir = scratch("micros");
    let utc = DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![Field::new("t", utc, true), Field::new("n", DataType::Int64, false)]));
    // 4*10^17 µs is in the year 14645, -7*10^16 µs before 0001: an i64 of microseconds holds both.
    let t = TimestampMicrosecondArray::from(vec![
        Some(0),
        Some(400_000_000_000_000_000),
        Some(-70_000_000_000_000_000),
        Some(86_400_000_000),
        None,
    ])
    .with_timezone("UTC");
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(t), Arc::new(Int64Array::from_iter_values(1..=5))]).expect("batch");
    write_parquet(&dir.join("Far.parquet"), &batch);
    // The same rows without statistics: nothing tells the range, so every value is checked.
    let bare = WriterProperties::builder().set_statistics_enabled(EnabledStatistics::None).build();
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(dir.join("Bare.parquet")).expect("create"), schema, Some(bare)).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
    write_parquet(
        &dir.join("Near.parquet"),
        &RecordBatch::try_new(batch.schema(), vec![batch.column(0).slice(0, 1), batch.column(1).slice(0, 1)]).expect("batch"),
    );
    let data = dir.to_str().expect("utf-8");
    // The year 14645 printed as a date, and `max` returned it.
    let query = "union withsource=Table Far, Bare | summarize n = count(), dates = countif(isnotnull(t)), latest = max(t), first = min(t) by Table | order by Table asc";
    let out = kql(&["--data", data, "--format", "csv", "-c", query]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Table,n,dates,latest,first\nBare,5,2,1970-01-02T00:00:00Z,1970-01-01T00:00:00Z\nFar,5,2,1970-01-02T00:00:00Z,1970-01-01T00:00:00Z\n"
    );
    // Only the file whose statistics show such dates is named (one without statistics says nothing).
    assert_eq!(
        stderr(&out),
        format!(
            "warning: --data {0}: column 't' of '{0}/Far.parquet' holds dates outside 0001-01-01 to 9999-12-31, which Kusto's datetime cannot hold: they read as null\n",
            dir.display()
        )
    );
    // A table whose statistics show every date inside is scanned as it is: no per-row check.
    let out = kql(&["--table", &format!("Near={data}/Near.parquet"), "--explain", "plan", "-c", "Near | where t > datetime(1960-01-01)"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plan = stdout(&out);
    assert!(plan.contains("TableScan: near projection=[t, n], partial_filters=[near.t > ") && !plan.contains("CASE"), "{plan}");
    let out = kql(&["--table", &format!("Far={data}/Far.parquet"), "--explain", "plan", "-c", "Far | where t > datetime(1960-01-01)"]);
    assert!(stdout(&out).contains("CASE WHEN far.t >= TimestampMicrosecond(-62135596800000000"), "{}", stdout(&out));
}

#[test]
fn files_that_disagree_and_symlink_loops_say_so() {
    use arrow::array::StringArray;
    let dir = scratch("mixed");
    std::fs::create_dir_all(dir.join("T")).expect("mkdir");
    write_parquet(&dir.join("T").join("a.parquet"), &ids(2));
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)]));
    let b = RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(vec!["x"])) as ArrayRef]).expect("batch");
    write_parquet(&dir.join("T").join("b.parquet"), &b);
    write_parquet(&dir.join("Good.parquet"), &ids(1));
    let out = kql(&["--data", dir.to_str().expect("utf-8"), "--format", "csv", "-c", "Good | count"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "warning: --data {0}: table T left out: cannot read Parquet schema of '{0}/T': its files disagree on column 'id': long in one, string in another (register them as separate tables)\n",
            dir.display()
        )
    );
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.join("loop"), dir.join("loop")).expect("symlink");
        let out = kql(&["--table", &format!("L={}", dir.join("loop").display()), "-c", "L | take 5"]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            stderr(&out),
            format!("error: --table L: cannot open '{}': Too many levels of symbolic links (os error 40)\n", dir.join("loop").display())
        );
        // Links to a parent folder, twice: the walk of the folder ends (each folder is walked
        // once), and the loop is named.
        let links = dir.join("links");
        std::fs::create_dir_all(links.join("day")).expect("mkdir");
        write_parquet(&links.join("day").join("a.parquet"), &ids(2));
        std::os::unix::fs::symlink("..", links.join("day").join("up")).expect("symlink");
        std::os::unix::fs::symlink("..", links.join("day").join("up2")).expect("symlink");
        let out = kql(&["--table", &format!("L={}", links.display()), "--format", "csv", "-c", "L | count"]);
        assert_eq!(
            stderr(&out),
            format!(
                "error: --table L: cannot read Parquet schema of '{0}': a link loops back to a folder that holds it ({0}/day/up points to an ancestor {0})\n",
                links.display()
            )
        );
    }
}

#[test]
fn a_hunt_over_the_memory_limit_fails_alone_with_a_clear_error() {
    let dir = scratch("memory");
    let hunts = dir.join("hunts");
    std::fs::create_dir_all(&hunts).expect("mkdir");
    // A set of three million distinct strings cannot spill: it needs more than 20 MB.
    std::fs::write(
        hunts.join("a_big.kql"),
        "range x from 1 to 3000000 step 1 | summarize s = make_set(tostring(x)) | project n = array_length(s)",
    )
    .expect("write");
    std::fs::write(hunts.join("b_small.kql"), "print ok = 1").expect("write");
    let out = dir.join("out");
    let run = kql(&["hunt", hunts.to_str().expect("utf-8"), "--memory-limit", "20M", "--out", out.to_str().expect("utf-8")]);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert_eq!(std::fs::read_to_string(out.join("b_small.jsonl")).expect("b_small results"), "{\"ok\":1}\n");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary")).expect("valid JSON");
    let error = summary["hunts"][0]["error"].as_str().unwrap_or("");
    assert!(
        error.starts_with("error: the query needs more memory than the memory limit allows (raise --memory-limit, or narrow the query)"),
        "{error}"
    );
    assert_eq!(summary["hunts"][1]["status"], "hits");
}

/// A set holds each distinct value once as rows come, not every row's value until the end
/// (`array_agg` held three million strings here and failed at the limit), and a list stops at
/// Kusto's MaxSize: both fit in 20 MB.
#[test]
fn a_set_of_few_values_over_many_rows_a_bounded_list_and_a_bag_of_few_keys_stay_within_a_small_memory_limit() {
    let query = "range x from 1 to 3000000 step 1 \
                 | summarize s = make_set(strcat(\"value-\", x % 10)), l = make_list(strcat(\"value-\", x), 1000) \
                 | project n = array_length(s), m = array_length(l)";
    let out = kql(&["--memory-limit", "20M", "--format", "csv", "-c", query]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "n,m\n10,1000\n");
    // A bag of 10 keys merged from 3 million bags (array_agg kept every row's bag and failed
    // at this limit).
    let bags = "range x from 1 to 3000000 step 1 \
                | summarize b = make_bag(bag_pack(strcat(\"k\", x % 10), x % 10)) \
                | project k = array_length(bag_keys(b)), v = tolong(b.k7)";
    let out = kql(&["--memory-limit", "20M", "--format", "csv", "-c", bags]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "k,v\n10,7\n");
}

/// `serialize` hands each batch on once the rows its `next` needs have arrived, and what waits
/// is counted in the memory pool: a short offset over millions of rows fits 20 MB, an offset of
/// two million rows fails with the pool's clear error (it was held outside the pool, and at
/// 100 M rows the whole input was: 6 GB past a 2 GB limit).
#[test]
fn serialize_holds_only_the_rows_next_waits_for_and_counts_them_against_the_memory_limit() {
    let short = "range x from 1 to 3000000 step 1 \
                 | serialize n = next(x, 1000), p = prev(x, 1000), r = row_number() \
                 | summarize c = countif(n == x + 1000 and p == x - 1000 and r == x)";
    let out = kql(&["--memory-limit", "20M", "--format", "csv", "-c", short]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "c\n2998000\n");
    let long = "range x from 1 to 3000000 step 1 | serialize n = next(x, 2000000) | summarize c = countif(n == x + 2000000)";
    let out = kql(&["--memory-limit", "20M", "--format", "csv", "-c", long]);
    assert!(!out.status.success());
    let error = stderr(&out);
    assert!(
        error.starts_with("error: the query needs more memory than the memory limit allows (raise --memory-limit, or narrow the query)"),
        "{error}"
    );
    assert!(error.contains("SerialExec"), "the message names the operator: {error}");
}

/// `mv-expand` of a constant million-element array over 861 rows asks for 861 million rows of
/// text in one batch: it failed deep in Arrow ("offset overflow") after 20 s and 4.6 GB. Its
/// rows are now held to the memory limit, and within it the same expansion gives every row.
#[test]
fn mv_expand_past_the_memory_limit_fails_with_a_clear_error_and_within_it_counts_every_row() {
    let query = "range i from 1 to 861 step 1 | extend r = range(1, 1000000, 1) | mv-expand r | count";
    let out = kql(&["--memory-limit", "64M", "-c", query]);
    assert_eq!(out.status.code(), Some(1));
    // The error points at the operator that failed, which its message names.
    assert_eq!(
        stderr(&out),
        format!(
            "error: mv-expand: the rows it makes of one batch of input are past the memory limit of 64 MB (--memory-limit)\n \
             --> query:1:66\n  |\n1 | {query}\n  |{}{}\n  |\n",
            " ".repeat(66),
            "^".repeat(12)
        )
    );
    let within = kql(&[
        "--memory-limit",
        "64M",
        "--format",
        "csv",
        "-c",
        "range i from 1 to 3 step 1 | extend r = range(1, 100000, 1) | mv-expand r | summarize count(), sum(tolong(r))",
    ]);
    assert!(within.status.success(), "{}", stderr(&within));
    assert_eq!(stdout(&within), "count_,sum_r\n300000,15000150000\n");
}

/// A function that fails while the query runs names itself (`range(): ...`): the error points
/// at its call when the statement has one call of it, and at the whole statement when it has
/// several, since which of them failed is not known.
#[test]
fn a_failing_function_call_is_pointed_at_when_it_is_the_only_one_of_its_name() {
    let one = "range i from 1 to 861 step 1 | project r = range(i, 1000000000, 1) | where isnull(r)";
    let out = kql(&["--memory-limit", "3M", "-c", one]);
    assert_eq!(out.status.code(), Some(1));
    let message = "error: range(): its values for one batch of rows are past the memory limit of 3 MB (--memory-limit)";
    assert_eq!(stderr(&out), format!("{message}\n --> query:1:44\n  |\n1 | {one}\n  |{}{}\n  |\n", " ".repeat(44), "^".repeat(23)));
    let two = "range i from 1 to 861 step 1 | project r = range(i, 1000000000, 1), s = range(1, 2, 1) | where isnull(r)";
    let out = kql(&["--memory-limit", "3M", "-c", two]);
    assert_eq!(stderr(&out), format!("{message}\n --> query:1:1\n  |\n1 | {two}\n  | {}\n  |\n", "^".repeat(two.len())));
}

/// A shell command that runs `script` with a small tmpfs of its own mounted at `$MNT`: in a
/// user and mount namespace (`unshare -rm`, no privilege needed), else directly when root.
/// `None` when this machine allows neither.
fn with_small_disk(mount: &Path, size: &str, script: &str) -> Option<Command> {
    let mounted = format!("mount -t tmpfs -o size={size} tmpfs \"$MNT\" && {script}");
    let probe = |args: &[&str]| {
        Command::new(args[0]).args(&args[1..]).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    };
    let probe_dir = mount.with_extension("probe");
    std::fs::create_dir_all(&probe_dir).ok()?;
    let probe_mount = format!("mount -t tmpfs -o size=64k tmpfs {}", probe_dir.display());
    let mut command = if probe(&["unshare", "-rm", "sh", "-c", &probe_mount]) {
        let mut c = Command::new("unshare");
        c.args(["-rm", "sh", "-c", &mounted]);
        c
    } else if probe(&["sh", "-c", &format!("{probe_mount} && umount {}", probe_dir.display())]) {
        let mut c = Command::new("sh");
        c.args(["-c", &format!("{mounted}; status=$?; umount \"$MNT\"; exit $status")]);
        c
    } else {
        return None;
    };
    command.env("MNT", mount);
    Some(command)
}

#[test]
fn a_hunt_run_on_a_full_disk_loses_only_the_hunt_that_did_not_fit() {
    let dir = scratch("full-disk");
    let hunts = dir.join("hunts");
    std::fs::create_dir_all(&hunts).expect("mkdir");
    std::fs::write(hunts.join("a_small.kql"), "range x from 1 to 3 step 1").expect("write");
    // About 3 MB of JSON lines: more than the 1 MB disk holds.
    std::fs::write(hunts.join("b_too_big.kql"), "range x from 1 to 60000 step 1 | extend s = strcat('a row that takes some room ', x)")
        .expect("write");
    std::fs::write(hunts.join("c_panics.kql"), "print 1").expect("write");
    std::fs::write(
        hunts.join("d_over_memory.kql"),
        "range x from 1 to 3000000 step 1 | summarize s = make_set(tostring(x)) | project n = array_length(s)",
    )
    .expect("write");
    std::fs::write(hunts.join("e_small.kql"), "print ok = 1").expect("write");
    let mount = dir.join("disk");
    let kept = dir.join("kept");
    std::fs::create_dir_all(&mount).expect("mkdir");
    // The results live on the small disk; they are copied out before it goes away.
    let script = format!(
        "\"{kql}\" hunt \"{hunts}\" --memory-limit 20M --out \"$MNT/out\" 2>\"{err}\"; status=$?; cp -r \"$MNT/out\" \"{kept}\"; exit $status",
        kql = kql_binary().display(),
        hunts = hunts.display(),
        err = dir.join("stderr").display(),
        kept = kept.display(),
    );
    let Some(mut command) = with_small_disk(&mount, "1m", &script) else {
        eprintln!("skipped: this machine can mount no tmpfs (neither `unshare -rm` nor root)");
        return;
    };
    let run = command.env("KQL_TEST_PANIC_IN_HUNT", "c_panics").current_dir(root()).stdin(Stdio::null()).output().expect("run kql hunt");
    let errors = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
    assert_eq!(run.status.code(), Some(1), "{errors}");
    assert_eq!(std::fs::read_to_string(kept.join("a_small.jsonl")).expect("a_small results"), "{\"x\":1}\n{\"x\":2}\n{\"x\":3}\n");
    assert_eq!(std::fs::read_to_string(kept.join("e_small.jsonl")).expect("e_small results"), "{\"ok\":1}\n");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(kept.join("summary.json")).expect("summary")).expect("valid JSON");
    let statuses: Vec<(&str, &str)> = summary["hunts"]
        .as_array()
        .expect("hunts")
        .iter()
        .map(|h| (h["hunt"].as_str().unwrap_or(""), h["status"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        statuses,
        [("a_small", "hits"), ("b_too_big", "failed"), ("c_panics", "failed"), ("d_over_memory", "failed"), ("e_small", "hits")]
    );
    let disk_error = summary["hunts"][1]["error"].as_str().unwrap_or("");
    assert!(disk_error.contains("No space left on device"), "{disk_error}");
    // The error names the file that could not be written, not just "the results".
    assert!(disk_error.contains("cannot write ") && disk_error.contains("b_too_big."), "{disk_error}");
    // The hunt that did not fit left no cut-off file, and no temporary file is left.
    let mut names: Vec<String> =
        std::fs::read_dir(&kept).expect("read out").filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["a_small.jsonl", "e_small.jsonl", "summary.json"]);
}

/// Dynamic text as a file holds it (blanks, other number forms and escapes, a repeated key, text
/// that is not JSON) goes into a packed bag or array in JSON's compact form, as Kusto stores a
/// dynamic value: written token by token for speed, it must come out as a parsed value writes it.
#[test]
fn dynamic_text_from_a_file_is_packed_in_compact_form() {
    let dir = scratch("packed");
    let texts = [
        Some(r#"  { "b" : [ 1.50 , 1e2 ] , "a" : "\u00e9\/\t" } "#),
        Some(r#"{"a":1,"b":{"c":2,"c":3},"a":4}"#),
        Some("not json"),
        Some("null"),
        Some(r#""""#),
        None,
    ];
    let metadata = std::collections::HashMap::from([("ARROW:extension:name".to_string(), "arrow.json".to_string())]);
    let schema =
        Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false), Field::new("d", DataType::Utf8, true).with_metadata(metadata)]));
    let n: ArrayRef = Arc::new(Int64Array::from_iter_values(1..=texts.len() as i64));
    let d: ArrayRef = Arc::new(arrow::array::StringArray::from(texts.to_vec()));
    let file = dir.join("T.parquet");
    write_parquet(&file, &RecordBatch::try_new(schema, vec![n, d]).expect("batch"));
    let query = r#"T | project n, b = bag_pack("d", d, "n", n), a = pack_array(d, n), p = pack_all(true)"#;
    let out = kql(&["--table", &format!("T={}", file.display()), "--format", "jsonl", "-c", query]);
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = [
        r#"{"n":1,"b":{"d":{"b":[1.5,100.0],"a":"é/\t"},"n":1},"a":[{"b":[1.5,100.0],"a":"é/\t"},1],"p":{"n":1,"d":{"b":[1.5,100.0],"a":"é/\t"}}}"#,
        r#"{"n":2,"b":{"d":{"a":4,"b":{"c":3}},"n":2},"a":[{"a":4,"b":{"c":3}},2],"p":{"n":2,"d":{"a":4,"b":{"c":3}}}}"#,
        r#"{"n":3,"b":{"d":"not json","n":3},"a":["not json",3],"p":{"n":3,"d":"not json"}}"#,
        r#"{"n":4,"b":{"d":null,"n":4},"a":[null,4],"p":{"n":4}}"#,
        r#"{"n":5,"b":{"d":"","n":5},"a":["",5],"p":{"n":5}}"#,
        r#"{"n":6,"b":{"d":null,"n":6},"a":[null,6],"p":{"n":6}}"#,
    ];
    assert_eq!(stdout(&out), expected.iter().map(|line| format!("{line}\n")).collect::<String>());
}
