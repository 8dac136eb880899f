//! Delta Lake tables end to end through the `kql` binary, over a real table written by delta-rs
//! (tests/fixtures/delta/make.py says how, and what each of its four versions did): the live
//! rows of a version, never the removed files still on disk, time travel, and clear errors.

mod support;

use support::{kql, stderr, stdout};

const TABLE: &str = "tests/fixtures/delta/DeviceLogonEvents";

fn csv(args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["--format", "csv"]);
    let out = kql(&all);
    assert!(out.status.success(), "kql {all:?} failed: {}", stderr(&out));
    stdout(&out)
}

fn error_of(args: &[&str]) -> String {
    let out = kql(args);
    assert!(!out.status.success(), "kql {args:?} should fail, printed {}", stdout(&out));
    stderr(&out)
}

const ALL_ROWS: &str =
    "DeviceLogonEvents | sort by Timestamp asc | project Timestamp, DeviceName, AccountName, LogonType, FailureCount, Day";

/// Version 3: svc_backup's two logons were deleted at version 2, so they are not rows, though
/// the file that held them is still in the folder.
const LATEST: &str = "Timestamp,DeviceName,AccountName,LogonType,FailureCount,Day
2024-05-01T08:00:00Z,ws-001,alice,Interactive,0,2024-05-01
2024-05-02T03:14:15Z,ws-017,mallory,RemoteInteractive,7,2024-05-02
2024-05-02T03:20:00Z,ws-017,mallory,Network,12,2024-05-02
2024-05-02T10:00:00Z,ws-002,bob,Interactive,,2024-05-02
2024-05-03T00:05:00Z,ws-017,mallory,Network,3,2024-05-03
";

#[test]
fn a_delta_table_reads_the_live_rows_of_its_latest_version() {
    let table = format!("DeviceLogonEvents=delta:{TABLE}");
    assert_eq!(csv(&["--table", &table, "-c", ALL_ROWS]), LATEST);
    // The partition column comes from the log, the others from the files, with KQL's types.
    assert_eq!(
        csv(&["--table", &table, "-c", "DeviceLogonEvents | getschema | project ColumnName, ColumnType"]),
        "ColumnName,ColumnType\nTimestamp,datetime\nDeviceName,string\nAccountName,string\nLogonType,string\nFailureCount,int\nDay,string\n"
    );
    // Filters on the partition column and on a file column.
    assert_eq!(
        csv(&[
            "--table",
            &table,
            "-c",
            "DeviceLogonEvents | where Day == '2024-05-02' and FailureCount > 5 | summarize Failures = sum(FailureCount) by AccountName"
        ]),
        "AccountName,Failures\nmallory,19\n"
    );
}

#[test]
fn a_folder_that_holds_a_delta_log_is_read_through_the_log() {
    // The file that held svc_backup's deleted logons is still in the folder: a reader that
    // took the folder's Parquet files would return them (here, copied out of the table).
    let plain = support::scratch("delta-files-as-plain-parquet");
    for day in std::fs::read_dir(support::root().join(TABLE)).expect("the table's folder") {
        let day = day.expect("entry").path();
        if day.file_name().is_some_and(|n| n.to_string_lossy().starts_with("Day=")) {
            for file in std::fs::read_dir(&day).expect("a partition folder") {
                let file = file.expect("entry").path();
                std::fs::copy(&file, plain.join(file.file_name().expect("a file name"))).expect("copy");
            }
        }
    }
    let files = format!("Files={}", plain.display());
    assert_eq!(csv(&["--table", &files, "-c", "Files | where AccountName == 'svc_backup' | count"]), "Count\n2\n");
    std::fs::remove_dir_all(&plain).ok();
    // Without `delta:`, the folder is still the Delta table...
    let table = format!("DeviceLogonEvents={TABLE}");
    assert_eq!(csv(&["--table", &table, "-c", ALL_ROWS]), LATEST);
    // ...and so is a sub-folder of a `--data` folder.
    assert_eq!(csv(&["--data", "tests/fixtures/delta", "-c", ALL_ROWS]), LATEST);
}

#[test]
fn part_of_a_delta_table_is_never_read_as_plain_parquet_files() {
    let table = support::root().join(TABLE).canonicalize().expect("the table's folder");
    let table = table.display();
    let error = |location: &str| error_of(&["--table", &format!("F={location}"), "-c", "F | count"]);
    assert_eq!(
        error(&format!("{TABLE}/Day=2024-05-02")),
        format!(
            "error: --table F: '{TABLE}/Day=2024-05-02' is part of the Delta table '{table}', whose folder keeps files that later versions removed: read the table through its log (--table NAME=delta:{table}, and a where on its partition column)\n"
        )
    );
    assert_eq!(
        error(&format!("{TABLE}/Day=*/*.parquet")),
        format!(
            "error: --table F: '{TABLE}/Day=*/*.parquet' is part of the Delta table '{table}', whose folder keeps files that later versions removed: read the table through its log (--table NAME=delta:{table}, and a where on its partition column)\n"
        )
    );
    assert_eq!(
        error("tests/fixtures/delta"),
        format!(
            "error: --table F: 'tests/fixtures/delta' holds the Delta table '{table}', whose folder keeps files that later versions removed: register it as a table of its own (--table NAME=delta:{table})\n"
        )
    );
    assert_eq!(
        error_of(&["--data", TABLE, "-c", "print 1"]),
        format!("error: --data: '{TABLE}' is a Delta table, not a folder of tables: register it with --table NAME=delta:{TABLE}\n")
    );
}

/// delta-rs skips the files whose partition values or statistics cannot match a filter.
#[test]
fn a_filter_on_a_delta_table_reads_only_the_files_that_can_match() {
    let table = format!("DeviceLogonEvents=delta:{TABLE}");
    for filter in ["Day == '2024-05-03'", "Timestamp > datetime(2024-05-02 12:00)"] {
        let query = format!("DeviceLogonEvents | where {filter} | project AccountName");
        let out = kql(&["--table", &table, "--explain", "analyze", "-c", &query]);
        assert!(out.status.success(), "{}", stderr(&out));
        let plan = stdout(&out);
        let groups = plan.split("file_groups={").nth(1).and_then(|g| g.split('}').next()).expect("a Parquet scan in the plan");
        assert!(
            groups.starts_with("1 group: [[") && groups.contains("/Day=2024-05-03/") && groups.matches(".parquet").count() == 1,
            "{filter}: {groups}"
        );
    }
}

#[test]
fn a_delta_table_is_read_at_an_earlier_version() {
    let at = |version: &str| format!("DeviceLogonEvents=delta:{TABLE}#{version}");
    let accounts = "DeviceLogonEvents | summarize Logons = count() by AccountName | sort by AccountName asc";
    assert_eq!(csv(&["--table", &at("version=0"), "-c", accounts]), "AccountName,Logons\nalice,1\nmallory,1\nsvc_backup,2\n");
    assert_eq!(csv(&["--table", &at("version=1"), "-c", accounts]), "AccountName,Logons\nalice,1\nbob,1\nmallory,2\nsvc_backup,2\n");
    assert_eq!(csv(&["--table", &at("version=2"), "-c", accounts]), "AccountName,Logons\nalice,1\nbob,1\nmallory,2\n");
    // A time after the last commit reads the latest version.
    assert_eq!(csv(&["--table", &at("timestamp=2999-01-01T00:00:00Z"), "-c", ALL_ROWS]), LATEST);
}

#[test]
fn a_delta_location_that_cannot_be_read_says_why() {
    let table = |location: &str| format!("DeviceLogonEvents={location}");
    assert_eq!(
        error_of(&["--table", &table(&format!("delta:{TABLE}#version=9")), "-c", "DeviceLogonEvents | count"]),
        format!(
            "error: --table DeviceLogonEvents: cannot read Delta table 'delta:{TABLE}#version=9': the table has no version 9 (its latest is 3)\n"
        )
    );
    assert_eq!(
        error_of(&["--table", &table("delta:tests/fixtures/delta"), "-c", "DeviceLogonEvents | count"]),
        "error: --table DeviceLogonEvents: cannot read Delta table 'delta:tests/fixtures/delta': 'tests/fixtures/delta' has no _delta_log folder, so it is not a Delta table\n"
    );
    assert_eq!(
        error_of(&["--table", &table("delta:tests/fixtures/no-such-lake"), "-c", "DeviceLogonEvents | count"]),
        "error: --table DeviceLogonEvents: cannot read Delta table 'delta:tests/fixtures/no-such-lake': no such folder 'tests/fixtures/no-such-lake'\n"
    );
    // The commit times are the log files' modification times (the Delta protocol's, without
    // in-commit timestamps): when the fixture was checked out.
    let before =
        error_of(&["--table", &table(&format!("delta:{TABLE}#timestamp=2001-01-01T00:00:00Z")), "-c", "DeviceLogonEvents | count"]);
    assert!(
        before.starts_with(&format!(
            "error: --table DeviceLogonEvents: cannot read Delta table 'delta:{TABLE}#timestamp=2001-01-01T00:00:00Z': the table has no version as old as 2001-01-01T00:00:00Z (its version 0, the oldest it keeps, was committed at 20"
        )),
        "{before}"
    );
    assert_eq!(
        error_of(&["--table", &table(&format!("delta:{TABLE}#timestamp=yesterday")), "-c", "DeviceLogonEvents | count"]),
        format!(
            "error: --table DeviceLogonEvents: 'delta:{TABLE}#timestamp=yesterday': the time to read a Delta table as of is an RFC 3339 time such as 2024-05-02T00:00:00Z, not 'yesterday'\n"
        )
    );
}

fn copy_folder(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create folder");
    for entry in std::fs::read_dir(from).expect("read folder") {
        let path = entry.expect("entry").path();
        let target = to.join(path.file_name().expect("a name"));
        if path.is_dir() { copy_folder(&path, &target) } else { std::fs::copy(&path, &target).map(|_| ()).expect("copy") }
    }
}

/// A version's time is its commit file's modification time (the Delta protocol's without
/// in-commit timestamps); here they are set to the first four days of June 2024.
#[test]
fn a_delta_table_is_read_as_of_a_time() {
    let lake = support::scratch("delta-as-of");
    let table = lake.join("DeviceLogonEvents");
    copy_folder(&support::root().join(TABLE), &table);
    let june_1 = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_717_200_000);
    for version in 0..4u64 {
        let commit = table.join(format!("_delta_log/{version:020}.json"));
        let file = std::fs::File::options().write(true).open(&commit).expect("a commit file");
        file.set_modified(june_1 + std::time::Duration::from_secs(86_400 * version)).expect("set the commit's time");
    }
    let at = |time: &str| format!("DeviceLogonEvents=delta:{}#timestamp={time}", table.display());
    let accounts = "DeviceLogonEvents | summarize Logons = count() by AccountName | sort by AccountName asc";
    assert_eq!(
        csv(&["--table", &at("2024-06-02T12:00:00Z"), "-c", accounts]),
        "AccountName,Logons\nalice,1\nbob,1\nmallory,2\nsvc_backup,2\n"
    );
    assert_eq!(csv(&["--table", &at("2024-06-03T00:00:00Z"), "-c", accounts]), "AccountName,Logons\nalice,1\nbob,1\nmallory,2\n");
    // Once the log keeps only the checkpoint of version 2 and later commits (as log clean-up
    // leaves it), a time before version 2 has no version to read.
    for version in 0..2u64 {
        std::fs::remove_file(table.join(format!("_delta_log/{version:020}.json"))).expect("remove an old commit");
    }
    assert_eq!(
        error_of(&["--table", &at("2024-06-01T12:00:00Z"), "-c", accounts]),
        format!(
            "error: --table DeviceLogonEvents: cannot read Delta table 'delta:{}#timestamp=2024-06-01T12:00:00Z': the table has no version as old as 2024-06-01T12:00:00Z (its version 2, the oldest it keeps, was committed at 2024-06-03T00:00:00+00:00)\n",
            table.display()
        )
    );
    assert_eq!(csv(&["--table", &at("2024-06-04T00:00:01Z"), "-c", "DeviceLogonEvents | count"]), "Count\n5\n");
    std::fs::remove_dir_all(&lake).ok();
}

/// Hunts that share one scan of a Delta table skip the files that no hunt's filter can match:
/// the files of 2024-05-01, made unreadable in a copy of the table, are never opened. A hunt
/// without such a filter makes the scan read them, and fail naming the damage.
#[test]
fn hunts_sharing_a_scan_of_a_delta_table_skip_the_files_no_hunt_wants() {
    let lake = support::scratch("delta-shared-scan");
    let table = lake.join("DeviceLogonEvents");
    copy_folder(&support::root().join(TABLE), &table);
    for entry in std::fs::read_dir(table.join("Day=2024-05-01")).expect("the day's folder") {
        std::fs::write(entry.expect("entry").path(), b"not a Parquet file").expect("damage a file");
    }
    let hunts = lake.join("hunts");
    std::fs::create_dir_all(&hunts).expect("create folder");
    std::fs::write(hunts.join("day3.kql"), "DeviceLogonEvents | where Day == '2024-05-03' | project AccountName").expect("write");
    std::fs::write(
        hunts.join("failures.kql"),
        "DeviceLogonEvents | where Day == '2024-05-02' and FailureCount > 5 | project AccountName, FailureCount",
    )
    .expect("write");
    let (registered, hunts_arg, out) =
        (format!("DeviceLogonEvents=delta:{}", table.display()), hunts.display().to_string(), lake.join("out"));
    let out_arg = out.display().to_string();
    let run = || kql(&["hunt", &hunts_arg, "--table", &registered, "--format", "csv", "--out", &out_arg]);
    let o = run();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("2 hunts read DeviceLogonEvents in one shared scan"), "{}", stdout(&o));
    assert_eq!(std::fs::read_to_string(out.join("day3.csv")).expect("result"), "AccountName\nmallory\n");
    let mut failures: Vec<String> =
        std::fs::read_to_string(out.join("failures.csv")).expect("result").lines().map(str::to_string).collect();
    failures.sort();
    assert_eq!(failures, ["AccountName,FailureCount", "mallory,12", "mallory,7"]);

    std::fs::write(hunts.join("everyone.kql"), "DeviceLogonEvents | summarize count() by AccountName").expect("write");
    let o = run();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("hunt everyone failed:"), "{}", stderr(&o));
    assert!(stderr(&o).contains("Day=2024-05-01"), "{}", stderr(&o));
}
