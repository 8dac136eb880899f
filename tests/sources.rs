//! Tables read from files other than Parquet, end to end through the `kql` binary: JSON lines
//! and CSV/TSV (plain and gzip), their inferred and widened columns, and the lines that cannot
//! be read.

mod support;

use std::io::Write;
use std::path::Path;

use support::{kql, scratch, stderr, stdout};

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write test file");
}

fn gzip(path: &Path, text: &str) {
    let file = std::fs::File::create(path).expect("create gz");
    let mut encoder = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    encoder.write_all(text.as_bytes()).expect("gzip");
    encoder.finish().expect("finish gz");
}

/// One batch as a Parquet file.
fn write_parquet(file: &Path, batch: &arrow::record_batch::RecordBatch) {
    let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(std::fs::File::create(file).expect("create"), batch.schema(), None)
        .expect("writer");
    writer.write(batch).expect("write");
    writer.close().expect("close");
}

fn csv_of(args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["--format", "csv"]);
    let out = kql(&all);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

const SIGNINS: &str = r#"{"TimeGenerated":"2024-05-01T10:00:00Z","UserPrincipalName":"bob@contoso.com","ResultType":0,"LocationDetails":{"city":"Oslo","countryOrRegion":"NO"},"RiskScore":1}
{"TimeGenerated":"2024-05-01T10:05:00.1234567Z","UserPrincipalName":"eve@contoso.com","ResultType":"50126","LocationDetails":{"city":"Lagos"},"RiskScore":2.5,"Tags":["a","b"]}

{"TimeGenerated":"2024-05-01T10:06:00Z","UserPrincipalName":"eve@contoso.com","ResultType":50126,"RiskScore":null}
"#;

#[test]
fn json_lines_columns_are_inferred_and_widened() {
    let dir = scratch("jsonl-schema");
    let file = dir.join("SigninLogs.jsonl");
    write(&file, SIGNINS);
    let table = format!("SigninLogs={}", file.display());
    // A number in one line and text in another is text; a whole and a fractional number are a
    // real; objects and arrays are dynamic; ISO 8601 text is a datetime.
    assert_eq!(
        csv_of(&["--table", &table, "-c", "SigninLogs | getschema | project ColumnName, ColumnType"]),
        "ColumnName,ColumnType\nTimeGenerated,datetime\nUserPrincipalName,string\nResultType,string\nLocationDetails,dynamic\nRiskScore,real\nTags,dynamic\n"
    );
    assert_eq!(
        csv_of(&[
            "--table",
            &table,
            "-c",
            "SigninLogs | where TimeGenerated > datetime(2024-05-01 10:01) | project TimeGenerated, City = tostring(LocationDetails.city), ResultType, RiskScore, n = array_length(Tags)"
        ]),
        "TimeGenerated,City,ResultType,RiskScore,n\n2024-05-01T10:05:00.1234560Z,Lagos,50126,2.5,2\n2024-05-01T10:06:00Z,,50126,,\n"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn csv_tsv_and_gzip_files_are_tables() {
    let dir = scratch("csv-tables");
    write(&dir.join("hosts.csv"), "Host,Logons,FirstSeen,Admin\nws1,3,2024-05-01,true\n\"db, primary\",,2024-05-02T01:02:03Z,FALSE\n");
    write(&dir.join("hosts.tsv"), "Host\tNote\nws1\thas, commas\n");
    gzip(&dir.join("signins.jsonl.gz"), SIGNINS);
    let csv = format!("H={}", dir.join("hosts.csv").display());
    assert_eq!(
        csv_of(&["--table", &csv, "-c", "H | extend t = gettype(Logons), a = gettype(Admin), f = gettype(FirstSeen)"]),
        "Host,Logons,FirstSeen,Admin,t,a,f\nws1,3,2024-05-01T00:00:00Z,true,long,bool,datetime\n\"db, primary\",,2024-05-02T01:02:03Z,false,long,bool,datetime\n"
    );
    let tsv = format!("T={}", dir.join("hosts.tsv").display());
    assert_eq!(csv_of(&["--table", &tsv, "-c", "T"]), "Host,Note\nws1,\"has, commas\"\n");
    let gz = format!("S={}", dir.join("signins.jsonl.gz").display());
    assert_eq!(
        csv_of(&["--table", &gz, "-c", "S | summarize n = count() by UserPrincipalName | order by n desc"]),
        "UserPrincipalName,n\neve@contoso.com,2\nbob@contoso.com,1\n"
    );
    // CSV and TSV compressed as incident responders hand them over.
    gzip(&dir.join("hosts.csv.gz"), "Host,Logons\nws1,3\nws2,\n");
    gzip(&dir.join("notes.tsv.gz"), "Host\tNote\nws1\thas, commas\n");
    let csv_gz = format!("H={}", dir.join("hosts.csv.gz").display());
    assert_eq!(csv_of(&["--table", &csv_gz, "-c", "H | extend t = gettype(Logons)"]), "Host,Logons,t\nws1,3,long\nws2,,long\n");
    let tsv_gz = format!("T={}", dir.join("notes.tsv.gz").display());
    assert_eq!(csv_of(&["--table", &tsv_gz, "-c", "T"]), "Host,Note\nws1,\"has, commas\"\n");
    std::fs::remove_dir_all(&dir).ok();
}

/// Folders a table partitioned by its own time (`TimeGenerated=<date>`, `date=<date>`, as
/// Spark, DuckDB and `kql import evtx` write them) hold that day's rows exactly: a window,
/// `ago()` included, reads only the days it can hold.
#[test]
fn day_partition_folders_are_pruned_by_the_time_window() {
    let dir = scratch("day-partitions");
    let logs = dir.join("Events");
    for (folder, time, user) in [
        ("TimeGenerated=2024-05-01", "2024-05-01T10:00:00Z", "a"),
        ("TimeGenerated=2024-05-02", "2024-05-02T23:59:59Z", "b"),
        ("date=2024-05-03", "2024-05-03T10:00:00Z", "c"),
    ] {
        std::fs::create_dir_all(logs.join(folder)).expect("mkdir");
        write(&logs.join(folder).join("part-0.jsonl"), &format!("{{\"TimeGenerated\":\"{time}\",\"User\":\"{user}\"}}\n"));
    }
    let table = format!("Events={}", logs.display());
    let partitions = |read: usize| {
        format!("Partitions:\n  {}: {read} of 3 files read, {} skipped by their TimeGenerated partitions\n", logs.display(), 3 - read)
    };
    let query = "Events | where TimeGenerated >= datetime(2024-05-02) and TimeGenerated < datetime(2024-05-03) | project User";
    assert_eq!(csv_of(&["--table", &table, "-c", query]), "User\nb\n");
    let out = kql(&["--table", &table, "--explain", "plan", "-c", query]);
    assert!(stdout(&out).starts_with(&partitions(1)), "{}", stdout(&out));
    let recent = "Events | where TimeGenerated > ago(1d) | project User";
    // A day ago is 2024-05-03T00:00, the end of the 2nd's folder: `>` leaves it out.
    let now = "2024-05-04T00:00:00Z";
    assert_eq!(csv_of(&["--table", &table, "--now", now, "-c", recent]), "User\nc\n");
    let out = kql(&["--table", &table, "--now", now, "--explain", "plan", "-c", recent]);
    assert!(stdout(&out).starts_with(&partitions(1)), "{}", stdout(&out));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_folder_of_json_files_widens_across_files_and_names_what_it_leaves_out() {
    let dir = scratch("jsonl-folder");
    let logs = dir.join("Proxy");
    std::fs::create_dir_all(logs.join("d=01")).expect("mkdir");
    std::fs::create_dir_all(logs.join("d=02")).expect("mkdir");
    write(&logs.join("d=01/part.json"), "{\"Url\":\"a.example\",\"Bytes\":10}\n{\"Url\":\"b.example\",\"Bytes\":20}\n");
    // The second file's Bytes are text, and it has a column the first lacks.
    write(&logs.join("d=02/part.json"), "{\"Url\":\"c.example\",\"Bytes\":\"n/a\",\"Action\":\"deny\"}\n");
    write(&logs.join("d=02/notes.csv"), "a\n1\n");
    write(&dir.join("readme.txt"), "not a table\n");
    let data = dir.display().to_string();
    let out = kql(&["--data", &data, "-c", "Proxy | project Url, Bytes, Action, t = gettype(Bytes) | order by Url asc", "--format", "csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Url,Bytes,Action,t\na.example,10,,string\nb.example,20,,string\nc.example,n/a,deny,string\n");
    assert_eq!(
        stderr(&out),
        format!(
            "warning: --data {data}: left out '{0}/readme.txt': not a Parquet, JSON lines or CSV/TSV file\nwarning: --data {data}: left out '{0}/Proxy/d=02/notes.csv': the table reads its folder's JSON lines files, and this is CSV (register it as a table of its own)\n",
            dir.display()
        )
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_line_that_cannot_be_read_fails_the_query_unless_skipping_is_allowed() {
    let dir = scratch("bad-lines");
    let file = dir.join("events.jsonl");
    write(&file, "{\"x\":1}\nnot json\n{\"x\":2}\n[1,2]\n{\"x\":3}\n");
    let table = format!("E={}", file.display());
    let out = kql(&["--table", &table, "-c", "E | summarize sum(x)"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "error: {}, line 2: not a JSON object (expected ident at line 1 column 2) (--max-bad-rows N skips up to N such lines, each reported)\n --> query:1:1\n  |\n1 | E | summarize sum(x)\n  | ^^^^^^^^^^^^^^^^^^^^\n  |\n",
            file.display()
        )
    );
    let out = kql(&["--table", &table, "--max-bad-rows", "2", "-c", "E | summarize sum(x)", "--format", "csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "sum_x\n6\n");
    assert_eq!(
        stderr(&out),
        format!(
            "warning: skipped {0}, line 2: not a JSON object (expected ident at line 1 column 2)\nwarning: skipped {0}, line 4: not a JSON object (invalid type: sequence, expected a map at line 1 column 0)\n",
            file.display()
        )
    );
    let out = kql(&["--table", &table, "--max-bad-rows", "1", "-c", "E | summarize sum(x)"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("line 4: not a JSON object (invalid type: sequence, expected a map at line 1 column 0) (more than --max-bad-rows 1 lines could not be read)"), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).ok();
}

/// A JSON lines file larger than DataFusion's smallest split (10 MiB) is read in byte ranges,
/// one per thread: every line is read once, whichever range it starts in, and a bad line far
/// into the file is still named by its own line number.
#[test]
fn a_large_json_lines_file_read_in_parts_reads_every_line_once_and_numbers_lines_as_the_file_does() {
    let dir = scratch("json-parts");
    let file = dir.join("flows.jsonl");
    let mut text = String::new();
    let lines = 250_000u64;
    for i in 1..=lines {
        match i {
            // A line past the sample whose value does not fit, and a field no column holds.
            200_000 => text.push_str("{\"i\":\"lots\",\"s\":\"bad\"}\n"),
            200_001 => text.push_str(&format!("{{\"i\":{i},\"s\":\"s{}\",\"late\":1,\"pad\":\"{}\"}}\n", i % 1000, "p".repeat(20))),
            _ => text.push_str(&format!("{{\"i\":{i},\"s\":\"s{}\",\"pad\":\"{}\"}}\n", i % 1000, "p".repeat(20))),
        }
    }
    write(&file, &text);
    assert!(text.len() > 10 << 20, "{} bytes is too small to be split", text.len());
    let table = format!("F={}", file.display());
    let query = "F | summarize n = count(), total = sum(i), kinds = dcount(s)";
    let out = kql(&["--table", &table, "--threads", "2", "--max-bad-rows", "1", "--format", "csv", "-c", query]);
    assert!(out.status.success(), "{}", stderr(&out));
    let total = lines * (lines + 1) / 2 - 200_000;
    assert_eq!(stdout(&out), format!("n,total,kinds\n{},{total},1000\n", lines - 1));
    assert_eq!(
        stderr(&out),
        format!(
            "warning: skipped {0}, line 200000: \"lots\" does not fit column 'i' (long)\nwarning: {0}, line 200001: field 'late' is not a column of the table (its columns come from the first lines of each file; a `.create table` declaration can name it)\n",
            file.display()
        )
    );
    let out = kql(&["--table", &table, "--threads", "2", "--explain", "plan", "-c", query]);
    assert!(stdout(&out).contains("file_groups={2 groups"), "{}", stdout(&out));
    // With `--text-cache`, each range is a file of its own to the cache. The first range gets
    // a copy; the second, which holds line 200,000, a marker and no copy: that line is skipped
    // by a query that reads `i` and kept by one that does not, which one copy cannot tell. So
    // the second range is read as text each time, with the same warnings.
    let (expected_out, expected_err) = (format!("n,total,kinds\n{},{total},1000\n", lines - 1), stderr(&out_of_text(&table, query)));
    let cache = dir.join("cache");
    let cached = ["--text-cache", cache.to_str().expect("utf-8 path"), "--table", &table, "--threads", "2", "--max-bad-rows", "1"];
    for _ in 0..2 {
        let mut args = cached.to_vec();
        args.extend(["--format", "csv", "-c", query]);
        let out = kql(&args);
        assert_eq!((stdout(&out), stderr(&out)), (expected_out.clone(), expected_err.clone()));
    }
    let mut args = cached.to_vec();
    args.extend(["-c", query]);
    assert_eq!(copies_read_and_written(&args), ("1".to_string(), "0".to_string()));
    assert_eq!(cache_files(&cache).len(), 2, "a copy and a marker");
    std::fs::remove_dir_all(&dir).ok();
}

/// The text scan of `query` over `table` in two ranges, with one bad line allowed.
fn out_of_text(table: &str, query: &str) -> std::process::Output {
    kql(&["--table", table, "--threads", "2", "--max-bad-rows", "1", "--format", "csv", "-c", query])
}

/// A CSV file whose line 1502, past the records the columns are inferred from, holds `lots` in
/// the `long` column `Bytes`.
fn write_late_misfit(file: &Path) {
    let mut text = String::from("Src,Bytes\n");
    for i in 0..1500 {
        text.push_str(&format!("10.0.0.{},{}\n", i % 250, i));
    }
    text.push_str("10.0.0.1,lots\n");
    write(file, &text);
}

#[test]
fn a_value_past_the_sample_that_does_not_fit_its_column_is_an_error_not_a_null() {
    let dir = scratch("late-value");
    let file = dir.join("flows.csv");
    write_late_misfit(&file);
    let table = format!("F={}", file.display());
    let out = kql(&["--table", &table, "-c", "F | summarize sum(Bytes)"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with(&format!("error: {}, line 1502: \"lots\" does not fit column 'Bytes' (long)", file.display())), "{err}");
    // A query that does not read the column is not stopped by it.
    assert_eq!(csv_of(&["--table", &table, "-c", "F | summarize dcount(Src)"]), "dcount_Src\n250\n");
    std::fs::remove_dir_all(&dir).ok();
}

/// Parquet as Zeek, Spark and ADX exports write it: lists, structs, maps and bytes.
#[test]
fn nested_parquet_columns_are_dynamic_with_every_dynamic_function() {
    use arrow::array::{ArrayRef, BinaryArray, Int64Array, ListArray, MapBuilder, StringArray, StringBuilder, StructArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use std::sync::Arc;
    let dir = scratch("nested-parquet");
    let ports: ArrayRef =
        Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(vec![Some(vec![Some(443), Some(8443)]), Some(vec![Some(22)]), None]));
    let id: ArrayRef = Arc::new(StructArray::from(vec![
        (
            Arc::new(Field::new("orig_h", DataType::Utf8, true)),
            Arc::new(StringArray::from(vec!["10.0.0.1", "10.0.0.2", "10.0.0.3"])) as ArrayRef,
        ),
        (Arc::new(Field::new("resp_p", DataType::Int64, true)), Arc::new(Int64Array::from(vec![443, 22, 53])) as ArrayRef),
    ]));
    let mut tags = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    for (k, v) in [("env", "prod"), ("env", "dev"), ("team", "red")] {
        tags.keys().append_value(k);
        tags.values().append_value(v);
        tags.append(true).expect("map row");
    }
    let tags: ArrayRef = Arc::new(tags.finish());
    let payload: ArrayRef = Arc::new(BinaryArray::from(vec![Some(&b"MZ\x90"[..]), None, Some(&b""[..])]));
    let schema = Arc::new(Schema::new(vec![
        Field::new("ports", ports.data_type().clone(), true),
        Field::new("id", id.data_type().clone(), true),
        Field::new("tags", tags.data_type().clone(), true),
        Field::new("payload", DataType::Binary, true),
    ]));
    let batch = arrow::record_batch::RecordBatch::try_new(schema.clone(), vec![ports, id, tags, payload]).expect("batch");
    let file = dir.join("conn.parquet");
    let mut writer =
        datafusion::parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&file).expect("create"), schema, None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
    let table = format!("Conn={}", file.display());
    assert_eq!(
        csv_of(&["--table", &table, "-c", "Conn | getschema | project ColumnName, ColumnType"]),
        "ColumnName,ColumnType\nports,dynamic\nid,dynamic\ntags,dynamic\npayload,string\n"
    );
    assert_eq!(
        csv_of(&[
            "--table",
            &table,
            "-c",
            "Conn | project first = ports[0], n = array_length(ports), src = tostring(id.orig_h), port = toint(id['resp_p']), env = tostring(tags.env), payload, t = gettype(ports)"
        ]),
        "first,n,src,port,env,payload,t\n443,2,10.0.0.1,443,prod,TVqQ,array\n22,1,10.0.0.2,22,dev,,array\n,,10.0.0.3,53,,,null\n"
    );
    assert_eq!(csv_of(&["--table", &table, "-c", "Conn | mv-expand ports to typeof(long) | summarize s = sum(ports)"]), "s\n8908\n");
    assert_eq!(
        csv_of(&["--table", &table, "-c", "Conn | summarize c = count() by tostring(ports) | order by c desc, ports asc | take 1"]),
        "ports,c\n,1\n"
    );
    // make_bag merges a struct's and a map's rows as bags.
    assert_eq!(
        csv_of(&["--table", &table, "-c", "Conn | summarize id = make_bag(id), tags = make_bag(tags), none = make_bag(ports)"]),
        "id,tags,none\n\"{\"\"orig_h\"\":\"\"10.0.0.1\"\",\"\"resp_p\"\":443}\",\"{\"\"env\"\":\"\"prod\"\",\"\"team\"\":\"\"red\"\"}\",{}\n"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Times of day and intervals (Parquet's TIME and INTERVAL) are `timespan` values: arithmetic,
/// comparison and aggregation work on them as on any timespan. An interval's days last 24
/// hours; one that counts months (which have no fixed length) is null, unless it counts none.
#[test]
fn parquet_times_of_day_and_intervals_are_timespans() {
    use arrow::array::{ArrayRef, IntervalDayTimeArray, IntervalYearMonthArray, Time32MillisecondArray, Time64MicrosecondArray};
    use arrow::datatypes::IntervalDayTime;
    use std::sync::Arc;
    let dir = scratch("parquet-times");
    let at: ArrayRef = Arc::new(Time64MicrosecondArray::from(vec![Some(3_723_456_789), None, Some(86_399_000_000)]));
    let short: ArrayRef = Arc::new(Time32MillisecondArray::from(vec![5_000, 61_000, 0]));
    let gap: ArrayRef = Arc::new(IntervalDayTimeArray::from(vec![
        IntervalDayTime::new(1, 1_500),
        IntervalDayTime::new(0, 0),
        IntervalDayTime::new(0, 250),
    ]));
    let months: ArrayRef = Arc::new(IntervalYearMonthArray::from(vec![2, 0, 13]));
    let batch = arrow::record_batch::RecordBatch::try_from_iter(vec![("at", at), ("short", short), ("gap", gap), ("months", months)])
        .expect("batch");
    let file = dir.join("times.parquet");
    write_parquet(&file, &batch);
    let table = format!("T={}", file.display());
    assert_eq!(
        csv_of(&["--table", &table, "-c", "T | getschema | project ColumnName, ColumnType"]),
        "ColumnName,ColumnType\nat,timespan\nshort,timespan\ngap,timespan\nmonths,timespan\n"
    );
    assert_eq!(
        csv_of(&["--table", &table, "-c", "T | extend later = at + 1s, seconds = short / 1s, long_gap = gap > 1h, m = isnull(months)"]),
        "at,short,gap,months,later,seconds,long_gap,m\n\
         01:02:03.4567890,00:00:05,1.00:00:01.5000000,,01:02:04.4567890,5,true,true\n\
         ,00:01:01,00:00:00,00:00:00,,61,false,false\n\
         23:59:59,00:00:00,00:00:00.2500000,,1.00:00:00,0,false,true\n"
    );
    assert_eq!(
        csv_of(&["--table", &table, "-c", "T | summarize latest = max(at), total = sum(short / 1s) | extend total = total * 1s"]),
        "latest,total\n23:59:59,00:01:06\n"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Decimals of every width are Kusto's 128-bit `decimal`, with the file's scale: a 32- or
/// 64-bit decimal added to or multiplied by a number kept its digits only as text, while the
/// arithmetic read its raw integer (1.25 + 1 was 2, 12345678.5 * 2 was 24691356). A 256-bit
/// value past 38 digits is null, and registering the table says so. (A null `==` a value is
/// false, as Kusto documents.)
#[test]
fn parquet_decimals_of_every_width_are_decimals() {
    use arrow::array::{ArrayRef, Decimal32Array, Decimal64Array, Decimal256Array};
    use arrow::datatypes::i256;
    use std::sync::Arc;
    let dir = scratch("parquet-decimals");
    let d32: ArrayRef = Arc::new(Decimal32Array::from(vec![Some(125), None]).with_precision_and_scale(7, 2).expect("decimal32"));
    let d64: ArrayRef = Arc::new(Decimal64Array::from(vec![123_456_785, -105]).with_precision_and_scale(12, 1).expect("decimal64"));
    let past_38_digits = i256::from_i128(10i128.pow(30)).wrapping_mul(i256::from_i128(10i128.pow(16)));
    let d256: ArrayRef =
        Arc::new(Decimal256Array::from(vec![i256::from_i128(1234), past_38_digits]).with_precision_and_scale(50, 2).expect("decimal256"));
    let batch = arrow::record_batch::RecordBatch::try_from_iter(vec![("d32", d32), ("d64", d64), ("d256", d256)]).expect("batch");
    let file = dir.join("decimals.parquet");
    write_parquet(&file, &batch);
    let table = format!("T={}", file.display());
    assert_eq!(
        csv_of(&["--table", &table, "-c", "T | getschema | project ColumnName, ColumnType"]),
        "ColumnName,ColumnType\nd32,decimal\nd64,decimal\nd256,decimal\n"
    );
    assert_eq!(
        csv_of(&[
            "--table",
            &table,
            "-c",
            "T | extend a = d32 + 1 == decimal(2.25), b = d64 * 2 == decimal(24691357), c = d256 > 12, t = gettype(d32)"
        ]),
        "d32,d64,d256,a,b,c,t\n1.25,12345678.5,12.34,true,true,true,decimal\n,-10.5,,false,false,,decimal\n"
    );
    let out = support::kql(&["--table", &table, "-c", "T | count"]);
    assert_eq!(
        stderr(&out),
        "warning: --table T: column 'd256' is a 50-digit decimal in the files: it reads as Kusto's decimal, and a value past 38 digits as null\n"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A folder whose files different tools wrote: text as `Utf8` (pyarrow) and `Utf8View`
/// (delta-rs), times in nanoseconds without a zone (pandas) and microseconds in UTC (Spark),
/// counts as `int` and `long`. Each column is its KQL type over every file; a column that is a
/// number in one file and text in another still cannot be one column.
#[test]
fn parquet_files_that_encode_one_kql_type_differently_are_one_table() {
    use arrow::array::{
        ArrayRef, Int32Array, Int64Array, StringArray, StringViewArray, TimestampMicrosecondArray, TimestampNanosecondArray,
    };
    use std::sync::Arc;
    let dir = scratch("parquet-encodings");
    let write = |name: &str, columns: Vec<(&str, ArrayRef)>| {
        let batch = arrow::record_batch::RecordBatch::try_from_iter(columns).expect("batch");
        let file = std::fs::File::create(dir.join(name)).expect("create");
        let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
    };
    write(
        "a.parquet",
        vec![
            ("TimeGenerated", Arc::new(TimestampNanosecondArray::from(vec![1_714_557_600_123_456_789])) as ArrayRef),
            ("Account", Arc::new(StringArray::from(vec!["alice"])) as ArrayRef),
            ("Failures", Arc::new(Int32Array::from(vec![2])) as ArrayRef),
        ],
    );
    write(
        "b.parquet",
        vec![
            ("TimeGenerated", Arc::new(TimestampMicrosecondArray::from(vec![1_714_561_200_000_000]).with_timezone("UTC")) as ArrayRef),
            ("Account", Arc::new(StringViewArray::from(vec!["mallory"])) as ArrayRef),
            ("Failures", Arc::new(Int64Array::from(vec![5_000_000_000])) as ArrayRef),
            ("Device", Arc::new(StringArray::from(vec!["ws-017"])) as ArrayRef),
        ],
    );
    let table = format!("Logons={}", dir.display());
    assert_eq!(
        csv_of(&["--table", &table, "-c", "Logons | getschema | project ColumnName, ColumnType"]),
        "ColumnName,ColumnType\nTimeGenerated,datetime\nAccount,string\nFailures,long\nDevice,string\n"
    );
    assert_eq!(
        csv_of(&["--table", &table, "-c", "Logons | sort by TimeGenerated asc"]),
        "TimeGenerated,Account,Failures,Device\n2024-05-01T10:00:00.1234560Z,alice,2,\n2024-05-01T11:00:00Z,mallory,5000000000,ws-017\n"
    );
    write("c.parquet", vec![("Account", Arc::new(Int64Array::from(vec![7])) as ArrayRef)]);
    let out = kql(&["--table", &table, "-c", "Logons | count"]);
    assert_eq!(
        stderr(&out),
        format!(
            "error: --table Logons: cannot read Parquet schema of '{}': its files disagree on column 'Account': string in one, long in another (register them as separate tables)\n",
            dir.display()
        )
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// `.create table` in a functions file gives a table its columns and KQL types: text that holds
/// JSON is `dynamic`, epoch numbers and ISO text are `datetime`, whatever inference would say.
#[test]
fn a_create_table_declaration_types_json_csv_and_parquet_columns() {
    let dir = scratch("declarations");
    let schema_dir = scratch("declarations-schema");
    write(
        &schema_dir.join("schema.kql"),
        "// the columns as the workspace has them\n.create table WindowsEvent (TimeGenerated: datetime, EventID: int, EventData: dynamic, Computer: string)\n\n.create-merge table Hosts (LastSeen: datetime)\n",
    );
    write(
        &dir.join("WindowsEvent.csv"),
        "TimeGenerated,EventID,EventData,Computer,Extra\n1714521600,4624,\"{\"\"TargetUserName\"\":\"\"bob\"\"}\",ws1,x\n2024-05-01T00:05:00Z,4625,\"{\"\"TargetUserName\"\":\"\"eve\"\"}\",ws2,y\n",
    );
    write(&dir.join("Hosts.jsonl"), "{\"Host\":\"ws1\",\"LastSeen\":\"1714521600000\",\"Owner\":\"it\"}\n");
    let functions = schema_dir.join("schema.kql").display().to_string();
    let data = dir.display().to_string();
    let csv = |query: &str| {
        let out = kql(&["--functions", &functions, "--data", &data, "--format", "csv", "-c", query]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    assert_eq!(
        csv("WindowsEvent | getschema | project ColumnName, ColumnType"),
        "ColumnName,ColumnType\nTimeGenerated,datetime\nEventID,int\nEventData,dynamic\nComputer,string\n"
    );
    assert_eq!(
        csv("WindowsEvent | project TimeGenerated, EventID, User = tostring(EventData.TargetUserName)"),
        "TimeGenerated,EventID,User\n2024-05-01T00:00:00Z,4624,bob\n2024-05-01T00:05:00Z,4625,eve\n"
    );
    // `-merge` keeps the inferred columns after the declared one; epoch milliseconds in text.
    assert_eq!(csv("Hosts | extend t = gettype(LastSeen)"), "LastSeen,Host,Owner,t\n2024-05-01T00:00:00Z,ws1,it,datetime\n");

    // A value that does not convert fails the query with its file, line and column.
    write(&dir.join("WindowsEvent.csv"), "TimeGenerated,EventID,EventData,Computer\nyesterday,1,{},ws1\n");
    let out = kql(&["--functions", &functions, "--data", &data, "-c", "WindowsEvent | take 1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with(&format!(
            "error: {}, line 2: \"yesterday\" does not fit column 'TimeGenerated' (datetime)",
            dir.join("WindowsEvent.csv").display()
        )),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&schema_dir).ok();
}

#[test]
fn a_declaration_converts_parquet_columns_and_names_a_value_that_does_not_convert() {
    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let dir = scratch("declared-parquet");
    write(&dir.join("schema.kql"), ".create table Audit (When: datetime, Details: dynamic, Count: real)\n");
    let schema = Arc::new(Schema::new(vec![
        Field::new("When", DataType::Int64, true),
        Field::new("Details", DataType::Utf8, true),
        Field::new("Count", DataType::Int64, true),
        Field::new("Dropped", DataType::Utf8, true),
    ]));
    let write_file = |when: Vec<i64>, details: Vec<&str>| {
        let n = when.len();
        let batch = arrow::record_batch::RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(when)) as ArrayRef,
                Arc::new(StringArray::from(details)) as ArrayRef,
                Arc::new(Int64Array::from(vec![3; n])) as ArrayRef,
                Arc::new(StringArray::from(vec!["x"; n])) as ArrayRef,
            ],
        )
        .expect("batch");
        let file = std::fs::File::create(dir.join("Audit.parquet")).expect("create");
        let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
    };
    write_file(vec![1_714_521_600], vec!["{\"op\":\"delete\"}"]);
    let functions = dir.join("schema.kql").display().to_string();
    let table = format!("Audit={}", dir.join("Audit.parquet").display());
    assert_eq!(
        csv_of(&["--functions", &functions, "--table", &table, "-c", "Audit | extend op = tostring(Details.op), t = gettype(Count)"]),
        "When,Details,Count,op,t\n2024-05-01T00:00:00Z,\"{\"\"op\"\":\"\"delete\"\"}\",3,delete,real\n"
    );
    // Text that is not JSON is a string inside `dynamic`, as todynamic() reads it; a number is an
    // epoch. A declared type the file's cannot become is refused when the table is registered.
    write(&dir.join("bad.kql"), ".create table Audit (When: bool)\n");
    let bad = dir.join("bad.kql").display().to_string();
    let out = kql(&["--functions", &bad, "--table", &table, "-c", "Audit"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "error: --table Audit: column 'When' is long in the files of Audit, and its declaration ({bad}:1) makes it bool: kql cannot convert long to bool\n"
        )
    );
    // A value that does not convert fails the query naming the column, and the file and row
    // that hold it, though the scan reads the folder's files as one table.
    let folder = dir.join("audit");
    std::fs::create_dir_all(&folder).expect("folder");
    let text_schema = Arc::new(Schema::new(vec![Field::new("When", DataType::Utf8, true)]));
    let write_text = |name: &str, when: Vec<&str>| {
        let batch = arrow::record_batch::RecordBatch::try_new(text_schema.clone(), vec![Arc::new(StringArray::from(when)) as ArrayRef])
            .expect("batch");
        let file = std::fs::File::create(folder.join(name)).expect("create");
        let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(file, text_schema.clone(), None).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
    };
    write_text("a.parquet", vec!["2024-05-01T00:00:00Z"]);
    write_text("b.parquet", vec!["2024-05-02T00:00:00Z", "yesterday"]);
    let table = format!("Audit={}", folder.display());
    let out = kql(&["--functions", &functions, "--table", &table, "-c", "Audit | summarize max(When)"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "error: column 'When' of Audit (declared datetime at {functions}:1): \"yesterday\" does not convert (found at row 2 of {})\n --> query:1:1\n  |\n1 | Audit | summarize max(When)\n  | ^^^^^^^^^^^^^^^^^^^^^^^^^^^\n  |\n",
            folder.join("b.parquet").display()
        )
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Writes `rows` as the SigninLogs file of Log Analytics' data export for 2024-05-`d`, hour `h`,
/// under `dir/am-signinlogs`.
fn export_hour(dir: &Path, d: u32, h: u32, rows: &str) {
    let folder = dir.join(format!(
        "am-signinlogs/WorkspaceResourceId=/subscriptions/s1/resourcegroups/rg/providers/microsoft.operationalinsights/workspaces/ws/y=2024/m=05/d={d:02}/h={h:02}/m=00"
    ));
    std::fs::create_dir_all(&folder).expect("mkdir");
    write(&folder.join("PT1H.json"), rows);
}

/// Hunts that share one scan of an exported table skip the hours that no hunt's window can
/// hold: an unreadable hour outside every window is never read. A hunt without a window makes
/// the shared scan read every file (and meet the unreadable line).
#[test]
fn hunts_sharing_a_scan_skip_the_partitions_no_hunt_wants() {
    let dir = scratch("shared-scan-pruning");
    let hour = |d: u32, h: u32, rows: &str| export_hour(&dir, d, h, rows);
    hour(1, 10, "{\"TimeGenerated\":\"2024-05-01T10:15:00Z\",\"User\":\"a\"}\n");
    hour(8, 10, "{\"TimeGenerated\":\"2024-05-08T10:15:00Z\",\"User\":\"b\"}\n");
    hour(20, 5, "this line is not JSON\n");
    let hunts = dir.join("hunts");
    std::fs::create_dir_all(&hunts).expect("mkdir");
    write(
        &hunts.join("day1.kql"),
        "SigninLogs | where TimeGenerated between (datetime(2024-05-01) .. datetime(2024-05-01 23:59)) | project User",
    );
    write(
        &hunts.join("day8.kql"),
        "SigninLogs | where TimeGenerated >= datetime(2024-05-08) and TimeGenerated < datetime(2024-05-09) and User != 'x' | project User",
    );
    let table = format!("SigninLogs={}", dir.join("am-signinlogs").display());
    let (hunts_arg, out) = (hunts.display().to_string(), dir.join("out"));
    let out_arg = out.display().to_string();
    let run = || kql(&["hunt", &hunts_arg, "--table", &table, "--format", "csv", "--out", &out_arg]);
    let o = run();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("2 hunts read SigninLogs in one shared scan"), "{}", stdout(&o));
    assert_eq!(std::fs::read_to_string(out.join("day1.csv")).expect("result"), "User\na\n");
    assert_eq!(std::fs::read_to_string(out.join("day8.csv")).expect("result"), "User\nb\n");

    write(&hunts.join("every_day.kql"), "SigninLogs | where User != 'x' | count");
    let o = run();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("hunt every_day failed:"), "{}", stderr(&o));
    assert!(stderr(&o).contains("d=20/h=05/m=00/PT1H.json"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).ok();
}

/// Log Analytics' data export layout: one JSON lines file per table and ingestion hour. A
/// `TimeGenerated` window skips the files that cannot hold a row in it, and never a row that
/// arrived late.
#[test]
fn sentinel_export_folders_are_pruned_by_the_time_window_without_losing_late_rows() {
    let dir = scratch("export-layout");
    let hour = |d: u32, h: u32, rows: &str| export_hour(&dir, d, h, rows);
    hour(1, 10, "{\"TimeGenerated\":\"2024-05-01T10:15:00Z\",\"Type\":\"SigninLogs\",\"User\":\"a\"}\n");
    // Ingested on the 10th, generated on the 9th: a late arrival.
    hour(
        10,
        0,
        "{\"TimeGenerated\":\"2024-05-09T23:00:00Z\",\"User\":\"late\"}\n{\"TimeGenerated\":\"2024-05-10T00:20:00Z\",\"User\":\"b\"}\n",
    );
    hour(20, 5, "{\"TimeGenerated\":\"2024-05-20T05:01:00Z\",\"User\":\"c\"}\n");
    let table = format!("SigninLogs={}", dir.join("am-signinlogs").display());
    let query = "SigninLogs | where TimeGenerated between (datetime(2024-05-09) .. datetime(2024-05-09 23:59)) | project User";
    assert_eq!(csv_of(&["--table", &table, "-c", query]), "User\nlate\n");
    let out = kql(&["--table", &table, "--explain", "plan", "-c", query]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plan = stdout(&out);
    assert!(
        plan.starts_with(&format!(
            "Partitions:\n  {}: 1 of 3 files read, 2 skipped by their TimeGenerated partitions\n",
            dir.join("am-signinlogs").display()
        )),
        "{plan}"
    );
    // A window the partitions do not bound reads every file.
    assert_eq!(csv_of(&["--table", &table, "-c", "SigninLogs | where User != 'x' | count"]), "Count\n4\n");
    let recent = "SigninLogs | where TimeGenerated > ago(2d) | project User";
    assert_eq!(csv_of(&["--table", &table, "--now", "2024-05-21T00:00:00Z", "-c", recent]), "User\nc\n");
    let out = kql(&["--table", &table, "--now", "2024-05-21T00:00:00Z", "--explain", "plan", "-c", recent]);
    assert!(
        stdout(&out).starts_with(&format!(
            "Partitions:\n  {}: 1 of 3 files read, 2 skipped by their TimeGenerated partitions\n",
            dir.join("am-signinlogs").display()
        )),
        "{}",
        stdout(&out)
    );

    // As a `--data` folder, the export's `am-signinlogs` container is the table its records
    // name (`Type`), in that spelling; a container whose records do not say is named after it,
    // with a warning.
    let other = dir.join("am-heartbeat/y=2024/m=05/d=01/h=10/m=00");
    std::fs::create_dir_all(&other).expect("mkdir");
    write(&other.join("PT1H.json"), "{\"TimeGenerated\":\"2024-05-01T10:15:00Z\",\"Computer\":\"h1\"}\n");
    let data = dir.display().to_string();
    let out = kql(&["--data", &data, "--format", "csv", "-c", "SigninLogs | count; heartbeat | project Computer"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Count\n4\nComputer\nh1\n");
    assert_eq!(
        stderr(&out),
        format!(
            "warning: --data {data}: '{data}/am-heartbeat' is named 'heartbeat' after its folder: its first record has no Type column to give the table's spelling (register it with --table NAME={data}/am-heartbeat)\n"
        )
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Keys written with escapes (`"Us\u0065r"`) are the same column as plain ones.
#[test]
fn json_keys_with_escapes_are_read() {
    let dir = scratch("json-escapes");
    let file = dir.join("e.jsonl");
    write(&file, "{\"User\":\"a\",\"N\":1}\n{\"Us\\u0065r\":\"b\",\"N\":2}\n");
    let table = format!("E={}", file.display());
    assert_eq!(csv_of(&["--table", &table, "-c", "E | project User, N"]), "User,N\na,1\nb,2\n");
    std::fs::remove_dir_all(&dir).ok();
}

/// The files of a `--text-cache` folder: copies, and any temporary file left behind.
fn cache_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// How many `--text-cache` copies `--explain analyze` of the query says its scans read and
/// wrote, in all.
fn copies_read_and_written(args: &[&str]) -> (String, String) {
    let mut all = args.to_vec();
    all.extend(["--explain", "analyze"]);
    let out = kql(&all);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // Summed over the plan's scans.
    let metric = |name: &str| {
        let key = format!("{name}=");
        let counts: Vec<u64> = text
            .match_indices(&key)
            .map(|(at, _)| text[at + key.len()..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap_or(0))
            .collect();
        assert!(!counts.is_empty(), "no {name} in {text}");
        counts.iter().sum::<u64>().to_string()
    };
    (metric("text_cache_copies_read"), metric("text_cache_copies_written"))
}

/// `--text-cache` keeps a Parquet copy of a JSON lines file and reads it instead of the text
/// while the file is unchanged; what the reading reported comes back with it.
#[test]
fn a_text_cache_copy_is_read_while_the_file_is_unchanged_and_reports_what_the_text_did() {
    let dir = scratch("text-cache");
    let cache = dir.join("cache");
    let file = dir.join("events.jsonl");
    // A bad line, then past the records the columns are inferred from (1,000), a field that
    // is not a column.
    let events = |a: u8, letters: [&str; 3]| {
        let mut text = format!("{{\"a\":{a},\"b\":\"{}\"}}\nnot json\n", letters[0]);
        text.push_str(&format!("{{\"a\":{a},\"b\":\"{}\"}}\n", letters[1]).repeat(1000));
        text + &format!("{{\"a\":{a},\"b\":\"{}\",\"extra\":true}}\n", letters[2])
    };
    write(&file, &events(1, ["x", "y", "z"]));
    let modified = std::fs::metadata(&file).and_then(|m| m.modified()).expect("mtime");
    let table = format!("E={}", file.display());
    let cached = ["--text-cache", cache.to_str().expect("utf-8 path"), "--table", &table, "--format", "csv"];
    let run = |extra: &[&str]| {
        let mut args = cached.to_vec();
        args.extend(extra);
        kql(&args)
    };
    let warnings = format!(
        "warning: skipped {0}, line 2: not a JSON object (expected ident at line 1 column 2)\nwarning: {0}, line 1003: field 'extra' is not a column of the table (its columns come from the first lines of each file; a `.create table` declaration can name it)\n",
        file.display()
    );
    let query = "E | summarize sum(a), make_set(b)";
    let out = run(&["--max-bad-rows", "1", "-c", query]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "sum_a,set_b\n1002,\"[\"\"x\"\",\"\"y\"\",\"\"z\"\"]\"\n");
    assert_eq!(stderr(&out), warnings);
    let copies = cache_files(&cache);
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert!(copies[0].ends_with(".parquet"), "{copies:?}");

    let mut analyzed = cached.to_vec();
    analyzed.extend(["--max-bad-rows", "1", "-c", query]);
    assert_eq!(copies_read_and_written(&analyzed), ("1".to_string(), "0".to_string()));
    let out = run(&["--max-bad-rows", "1", "-c", query]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "sum_a,set_b\n1002,\"[\"\"x\"\",\"\"y\"\",\"\"z\"\"]\"\n");
    assert_eq!(stderr(&out), warnings, "a copy reports the skipped line and the unknown field again");
    // Other columns, in another order, and none at all.
    let out = run(&["--max-bad-rows", "1", "-c", "E | where b != 'y' | project b, a; E | count"]);
    assert_eq!(stdout(&out), "b,a\nx,1\nz,1\nCount\n1002\n");
    // The copy's skipped line counts against this query's allowance.
    let out = run(&["-c", query]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with(&format!(
            "error: {}, line 2: not a JSON object (expected ident at line 1 column 2) (--max-bad-rows N skips up to N such lines, each reported)",
            file.display()
        )),
        "{}",
        stderr(&out)
    );

    // New bytes of the same size with the modification time put back (as `cp -p` or `touch
    // -r` leave a file): the status change time still tells, the file is parsed again and its
    // copy replaced.
    write(&file, &events(2, ["X", "Y", "Z"]));
    std::fs::File::options().write(true).open(&file).and_then(|f| f.set_modified(modified)).expect("put the mtime back");
    let out = run(&["--max-bad-rows", "1", "-c", query]);
    assert_eq!(stdout(&out), "sum_a,set_b\n2004,\"[\"\"X\"\",\"\"Y\"\",\"\"Z\"\"]\"\n");
    assert_eq!(cache_files(&cache), copies, "the copy of the file is replaced, not added to");
    std::fs::remove_dir_all(&dir).ok();
}

/// A copy holds every column, so making one reads values of columns the query does not read.
/// A value that does not fit such a column must not change the query's answer (without the
/// cache, a query that does not read the column is not stopped by it): the file gets a marker
/// instead of a copy, and later queries read their own columns of the text.
#[test]
fn a_value_that_does_not_fit_a_column_the_query_does_not_read_leaves_no_copy() {
    let dir = scratch("text-cache-unread");
    let cache = dir.join("cache");
    let file = dir.join("flows.csv");
    write_late_misfit(&file);
    let table = format!("F={}", file.display());
    let cached = ["--text-cache", cache.to_str().expect("utf-8 path"), "--table", &table];
    let mut args = cached.to_vec();
    args.extend(["-c", "F | summarize dcount(Src)"]);
    assert_eq!(csv_of(&args), "dcount_Src\n250\n");
    assert_eq!(copies_read_and_written(&args), ("0".to_string(), "0".to_string()));
    assert_eq!(csv_of(&args), "dcount_Src\n250\n");
    let mut args = cached.to_vec();
    args.extend(["-c", "F | summarize sum(Bytes)"]);
    let out = kql(&args);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with(&format!("error: {}, line 1502: \"lots\" does not fit column 'Bytes' (long)", file.display())));
    assert_eq!(cache_files(&cache).len(), 1, "one marker, no temporary file");
    std::fs::remove_dir_all(&dir).ok();
}

/// A scan that stops early (`take`) leaves no copy and no temporary file, and a copy reports a
/// skipped line only when its rows pass it, as the text's reading does: `take 1` of a file
/// whose bad line is far down reads neither. A folder that cannot hold copies, or that other
/// users can write, is one warning, and the query reads the text.
#[test]
fn a_scan_stopped_early_or_a_cache_that_cannot_be_used_leaves_the_answer_alone() {
    let dir = scratch("text-cache-early");
    let cache = dir.join("cache");
    let file = dir.join("big.jsonl");
    let text: String = (0..50_000).map(|i| if i == 40_000 { "not json\n".to_string() } else { format!("{{\"i\":{i}}}\n") }).collect();
    write(&file, &text);
    let table = format!("B={}", file.display());
    let cache_arg = cache.to_str().expect("utf-8 path");
    let take = ["--text-cache", cache_arg, "--table", &table, "--threads", "1", "-c", "B | take 1 | count"];
    assert_eq!(csv_of(&take), "Count\n1\n");
    assert_eq!(cache_files(&cache), Vec::<String>::new());
    let sum = "B | summarize n = count(), s = sum(i)";
    let out = kql(&["--text-cache", cache_arg, "--table", &table, "--max-bad-rows", "1", "--format", "csv", "-c", sum]);
    assert_eq!(stdout(&out), "n,s\n49999,1249935000\n");
    assert_eq!(cache_files(&cache).len(), 1);
    assert_eq!(csv_of(&take), "Count\n1\n");
    let out = kql(&["--text-cache", cache_arg, "--table", &table, "--format", "csv", "-c", sum]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with(&format!("error: {}, line 40001: not a JSON object", file.display())), "{}", stderr(&out));

    let not_a_folder = dir.join("not-a-folder");
    write(&not_a_folder, "");
    let count_through = |cache: &Path| {
        kql(&[
            "--text-cache",
            cache.to_str().expect("utf-8 path"),
            "--table",
            &table,
            "--format",
            "csv",
            "--max-bad-rows",
            "1",
            "-c",
            "B | count",
        ])
    };
    let out = count_through(&not_a_folder);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Count\n49999\n");
    assert!(
        stderr(&out).starts_with(&format!(
            "warning: --text-cache: cannot keep a copy of {} in {}: ",
            file.display(),
            not_a_folder.display()
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).matches("--text-cache").count(), 1, "{}", stderr(&out));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let shared = dir.join("shared");
        std::fs::create_dir(&shared).expect("mkdir");
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let out = count_through(&shared);
        assert_eq!(stdout(&out), "Count\n49999\n");
        assert!(
            stderr(&out).contains(&format!("warning: --text-cache: {} can be written by other users", shared.display())),
            "{}",
            stderr(&out)
        );
        assert_eq!(cache_files(&shared), Vec::<String>::new());
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Every KQL type a text file can hold reads the same from a `--text-cache` copy as from the
/// text: the plain scan, the scan that writes the copies and the scan that reads them agree.
#[test]
fn a_text_cache_copy_reads_as_the_text_does_for_every_type() {
    let dir = scratch("text-cache-types");
    let cache = dir.join("cache");
    let json = dir.join("SigninLogs.jsonl");
    write(&json, SIGNINS);
    let csv = dir.join("Flows.csv.gz");
    gzip(&csv, "Src,Bytes,When,Tags,Ratio\n10.0.0.1,10,2024-05-01T10:00:00Z,\"[1,2]\",0.5\n10.0.0.2,,2024-05-01,\"{\"\"a\"\":1}\",\n");
    let tables = [format!("SigninLogs={}", json.display()), format!("Flows={}", csv.display())];
    let query = "SigninLogs | extend t = gettype(LocationDetails), city = tostring(LocationDetails.city), tag = Tags[1] | order by TimeGenerated asc; \
                 SigninLogs | getschema | project ColumnName, ColumnType; \
                 Flows | extend k = gettype(Tags), a = Tags.a | order by Src asc; Flows | getschema | project ColumnName, ColumnType";
    let cache_arg = cache.to_str().expect("utf-8 path");
    let args = |cached: bool| {
        let mut args = vec!["--table", &tables[0], "--table", &tables[1], "-c", query];
        if cached {
            args.extend(["--text-cache", cache_arg]);
        }
        args
    };
    let text = csv_of(&args(false));
    assert!(text.contains("2024-05-01T10:05:00.1234560Z,eve@contoso.com,50126,"), "{text}");
    assert_eq!(csv_of(&args(true)), text, "the scan that writes the copies");
    assert_eq!(cache_files(&cache).len(), 2);
    assert_eq!(csv_of(&args(true)), text, "the scan that reads them");
    let both = "union SigninLogs, Flows | count";
    let mut analyzed = args(true);
    analyzed[5] = both;
    assert_eq!(copies_read_and_written(&analyzed), ("2".to_string(), "0".to_string()));
    std::fs::remove_dir_all(&dir).ok();
}
