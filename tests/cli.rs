//! End-to-end runs of the `kql` binary: the README's main command, output formats, files,
//! stdin, exit codes and error rendering.

#[allow(dead_code)]
mod cluster_support;
mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use support::{kql, kql_binary, root, stderr, stdout};

fn kql_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(kql_binary())
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kql");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("wait for kql")
}

const SAMPLES: [&str; 6] = ["--data", "samples/data", "--functions", "samples/functions/asim.kql", "--now", "2024-05-03T00:00:00Z"];

/// README's first command: the verbatim Sentinel rule over the bundled samples finds exactly the
/// planted beacons (the rule's output is unordered, so rows are compared sorted).
#[test]
fn readme_main_command_finds_the_planted_beacons() {
    let mut args = SAMPLES.to_vec();
    args.extend(["-f", "samples/hunts/asim_networksession_beaconing.kql", "--format", "csv"]);
    let out = kql(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines: Vec<&str> = text.lines().collect();
    let header = lines.remove(0);
    lines.sort();
    assert_eq!(
        header,
        "TimeGenerated,SrcIpAddr,DstIpAddr,DstPortNumber,MostFrequentTimeDeltaCount,MostFrequentTimeDeltainSeconds,TotalEvents,TotalSrcBytes,TotalDstBytes,BeaconPercent"
    );
    assert_eq!(
        lines,
        [
            "2024-05-01T02:00:00Z,10.1.5.23,203.0.113.50,443,60,60,60,30720,61440,100",
            "2024-05-01T03:00:00Z,10.1.5.23,203.0.113.50,443,60,60,60,30720,61440,100",
            "2024-05-01T04:00:00Z,10.1.5.23,203.0.113.50,443,60,60,60,30720,61440,100",
            "2024-05-01T05:00:00Z,10.1.5.23,203.0.113.50,443,59,60,59,30208,60416,100",
            "2024-05-01T13:00:00Z,192.168.20.41,185.220.101.7,8080,40,45,40,20480,40960,100",
            "2024-05-01T14:00:00Z,192.168.20.41,185.220.101.7,8080,80,45,80,40960,81920,100",
            "2024-05-01T15:00:00Z,192.168.20.41,185.220.101.7,8080,39,45,39,19968,39936,100",
        ]
    );
}

/// The README's samples command: the verbatim rule through our ASIM parsers (samples/parsers)
/// over Sentinel's raw tables finds the same two planted beacons (samples/src/network_session.rs,
/// PLANTS, and sentinel.rs): 10.1.5.23 -> 203.0.113.50:443 every 60 s from 02:00 to 05:59 (raw WFP
/// 5156 in WindowsEvent and Sysmon 3 in Event, the same connections logged twice: the second
/// copy is 0 s after the first and falls under the rule's 10 s threshold, so each hour counts 60
/// intervals of 60 s, and 59 in the last hour, whose last event has no successor) and
/// 192.168.20.41 -> 185.220.101.7:8080 every 45 s from 13:30 to 15:29 (WFP 5156 in SecurityEvent:
/// 40, 80 and 39 intervals). WFP and Sysmon events carry no byte counts, so the byte sums are 0.
/// The look-alikes planted in the four tables are ignored as in NetworkSession.
#[test]
fn the_rule_through_our_asim_parsers_finds_the_beacons_in_the_raw_tables() {
    let out = kql(&[
        "--data",
        "samples/data",
        "--functions",
        "samples/parsers",
        "--watchlists",
        "samples/watchlists",
        "--now",
        "2024-05-03T00:00:00Z",
        "-f",
        "samples/hunts/asim_networksession_beaconing.kql",
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines: Vec<&str> = text.lines().skip(1).collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "2024-05-01T02:00:00Z,10.1.5.23,203.0.113.50,443,60,60,60,0,0,100",
            "2024-05-01T03:00:00Z,10.1.5.23,203.0.113.50,443,60,60,60,0,0,100",
            "2024-05-01T04:00:00Z,10.1.5.23,203.0.113.50,443,60,60,60,0,0,100",
            "2024-05-01T05:00:00Z,10.1.5.23,203.0.113.50,443,59,60,59,0,0,100",
            "2024-05-01T13:00:00Z,192.168.20.41,185.220.101.7,8080,40,45,40,0,0,100",
            "2024-05-01T14:00:00Z,192.168.20.41,185.220.101.7,8080,80,45,80,0,0,100",
            "2024-05-01T15:00:00Z,192.168.20.41,185.220.101.7,8080,39,45,39,0,0,100",
        ]
    );
}

/// imNetworkSession of samples/parsers honours the ASimDisabledParsers watchlist as Sentinel's
/// does: turning off the WindowsEvent and Sysmon parsers (one row under the schema's own key, one
/// under 'Any') leaves the 60 s beacon, planted only in WindowsEvent and Event, unseen; the 45 s
/// beacon, planted in SecurityEvent, is still found (its 3 hourly rows).
#[test]
fn the_asim_disabled_parsers_watchlist_turns_source_parsers_off() {
    let dir = std::env::temp_dir().join(format!("kql-disabled-parsers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(
        dir.join("ASimDisabledParsers.csv"),
        "CallerContext,SourceSpecificParser\r\nExcludevimNetworkSession,ExcludevimNetworkSessionMicrosoftWindowsEventFirewall\r\nAny,ExcludevimNetworkSessionMicrosoftSysmon\r\n",
    )
    .expect("write watchlist");
    let out = kql(&[
        "--data",
        "samples/data",
        "--functions",
        "samples/parsers",
        "--watchlists",
        dir.to_str().expect("utf8"),
        "--now",
        "2024-05-03T00:00:00Z",
        "-f",
        "samples/hunts/asim_networksession_beaconing.kql",
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines: Vec<&str> = text.lines().skip(1).collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "2024-05-01T13:00:00Z,192.168.20.41,185.220.101.7,8080,40,45,40,0,0,100",
            "2024-05-01T14:00:00Z,192.168.20.41,185.220.101.7,8080,80,45,80,0,0,100",
            "2024-05-01T15:00:00Z,192.168.20.41,185.220.101.7,8080,39,45,39,0,0,100",
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_rule_file_is_sentinels_text_verbatim() {
    let text = std::fs::read_to_string(root().join("samples/hunts/asim_networksession_beaconing.kql")).expect("rule file");
    assert!(
        text.starts_with(
            "// Source: Azure/Azure-Sentinel:Solutions/Network Session Essentials/Analytic Rules/PossibleBeaconingActivity.yaml"
        )
    );
    assert!(
        text.contains(
            "| summarize\n    (MostFrequentTimeDeltaCount, MostFrequentTimeDeltainSeconds) = arg_max(count_, TimeDeltainSeconds)"
        )
    );
}

#[test]
fn csv_and_jsonl_print_values_as_kusto_does() {
    let q = r#"print n = 1, r = 2.5, s = "a,b", b = true, t = datetime(2024-01-02 03:04:05.25), d = 1d + 2h, y = dynamic({"k": [1, "x"]}), z = int(null)"#;
    let out = kql(&["-c", q, "--format", "csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "n,r,s,b,t,d,y,z\n1,2.5,\"a,b\",true,2024-01-02T03:04:05.2500000Z,1.02:00:00,\"{\"\"k\"\":[1,\"\"x\"\"]}\",\n"
    );
    let out = kql(&["-c", q, "--format", "jsonl"]);
    assert_eq!(
        stdout(&out),
        "{\"n\":1,\"r\":2.5,\"s\":\"a,b\",\"b\":true,\"t\":\"2024-01-02T03:04:05.2500000Z\",\"d\":\"1.02:00:00\",\"y\":{\"k\":[1,\"x\"]},\"z\":null}\n"
    );
}

#[test]
fn table_format_is_the_default() {
    let out = kql(&["-c", "print x = 1, y = 'a'"]);
    assert_eq!(stdout(&out), "┌───┬───┐\n│ x ┆ y │\n╞═══╪═══╡\n│ 1 ┆ a │\n└───┴───┘\n");
}

#[test]
fn query_from_stdin_and_output_file() {
    let dir = std::env::temp_dir().join(format!("kql-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("out.csv");
    let out = kql_stdin(&["--format", "csv", "-o", file.to_str().expect("utf8 path")], "range x from 1 to 3 step 1\n| extend y = x * x\n");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert_eq!(std::fs::read_to_string(&file).expect("output file"), "x,y\n1,1\n2,4\n3,9\n");
    std::fs::remove_dir_all(&dir).ok();
}

/// CSV and JSON lines are exports: they stream past Kusto's result limit (500,000 records),
/// which a table, a view of the result, keeps; a limit the query sets applies to both.
#[test]
fn exports_stream_past_the_result_limit_that_tables_keep() {
    let query = "range x from 1 to 500001 step 1";
    let csv = kql(&["-c", query, "--format", "csv"]);
    assert!(csv.status.success(), "{}", stderr(&csv));
    let text = stdout(&csv);
    assert_eq!(text.lines().count(), 500_002);
    assert!(text.ends_with("\n499999\n500000\n500001\n"), "{}", &text[text.len() - 40..]);
    let jsonl = kql(&["-c", query, "--format", "jsonl"]);
    assert!(jsonl.status.success(), "{}", stderr(&jsonl));
    assert_eq!(stdout(&jsonl).lines().last(), Some(r#"{"x":500001}"#));
    let table = kql(&["-c", query]);
    assert!(!table.status.success());
    assert!(
        stderr(&table).contains("error: the result has more than 500000 records, Kusto's limit on a query's result"),
        "{}",
        stderr(&table)
    );
    let limited = kql(&["-c", "set truncationmaxrecords = 10; range x from 1 to 11 step 1", "--format", "csv"]);
    assert!(!limited.status.success());
    assert!(stderr(&limited).contains("error: the result has more than 10 records"), "{}", stderr(&limited));
}

/// A query that fails after some of its rows were written leaves no cut-off output file, and
/// an earlier file under that name stays as it was.
#[test]
fn a_failed_query_leaves_no_half_written_output_file() {
    let dir = std::env::temp_dir().join(format!("kql-cli-partial-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("out.csv");
    std::fs::write(&file, "earlier\n").expect("an earlier file");
    // Rows past 50,000 overflow a long, many batches after the first rows were written.
    let query = "range x from 1 to 100000 step 1 | extend y = iff(x > 50000, 9223372036854775807 * x, x)";
    let out = kql(&["-c", query, "--format", "csv", "-o", file.to_str().expect("utf8 path")]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("arithmetic overflow"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&file).expect("the earlier file"), "earlier\n");
    let leftovers: Vec<_> = std::fs::read_dir(&dir).expect("dir").flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn table_option_registers_a_file_under_a_name() {
    let out = kql(&[
        "--table",
        "Net=samples/data/NetworkSession.parquet",
        "-c",
        "Net | where DstIpAddr == '185.220.101.7' | count",
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Count\n160\n");
}

#[test]
fn syntax_errors_exit_non_zero_with_a_caret() {
    let out = kql(&["-c", "print x = 1\n| where x >"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: syntax error: unexpected end of query, expected an expression\n --> query:2:12\n  |\n2 | | where x >\n  |            ^\n  |\n"
    );
}

#[test]
fn errors_in_a_query_file_name_the_file() {
    let dir = std::env::temp_dir().join(format!("kql-cli-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("hunt.kql");
    std::fs::write(&file, "// a hunt\nNetworkSession\n| where Bogus == 1\n").expect("write hunt");
    let out = kql(&["--data", "samples/data", "-f", file.to_str().expect("utf8 path")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("error: unknown column or name 'Bogus'\n"), "{err}");
    assert!(err.contains(&format!("--> {}:3:9", file.display())), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn missing_and_corrupt_files_are_clear_errors() {
    let out = kql(&["--table", "T=nowhere/x.parquet", "-c", "T | take 1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "error: --table T: cannot open 'nowhere/x.parquet': no such file or directory\n");

    let dir = std::env::temp_dir().join(format!("kql-cli-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad = dir.join("bad.parquet");
    std::fs::write(&bad, b"this is not parquet at all").expect("write");
    let spec = format!("T={}", bad.display());
    let out = kql(&["--table", &spec, "-c", "T | take 1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(
        err,
        format!("error: --table T: '{}' is not a readable Parquet file: it does not end with the Parquet magic bytes\n", bad.display())
    );
    assert!(!err.contains("panicked"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_now_is_rejected() {
    let out = kql(&["--now", "yesterday", "-c", "print now()"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "error: --now: 'yesterday' is not an ISO 8601 datetime\n");
}

/// Malformed input of every kind gives an error, never a panic.
#[test]
fn malformed_queries_never_panic() {
    let queries = [
        "",
        "|",
        "| take 1",
        "print",
        "print (",
        "print )",
        "datatable(a:long)[1 | where",
        "datatable(a:long)[1, 2, 3] | extend",
        "let",
        "let x",
        "let x =",
        "let f = (a:long) {",
        "print 'unterminated",
        "print @\"",
        "print datetime(",
        "print 1 +* 2",
        "range x from 1 to",
        "print x = 1 | summarize by",
        "print x = 1 | sort by",
        "print x = 1 | top by x",
        "print x = 1 | take -1",
        "print x = 1 | take 'a'",
        "print 99999999999999999999999",
        "print 1/0",
        "print int(1) / int(0)",
        "print dynamic([1,",
        "print dynamic({1: 2})",
        "print x = 1 | project-away nope",
        "print x = 1 | project-rename a = nope",
        "print ipv4_is_in_any_range('1.1.1.1', 'garbage')",
        "print bin(now(), 'x')",
        "print datetime_diff(1, now(), now())",
        "print next()",
        "print x=1 | serialize | extend n = next(x, 'a')",
        "range x from 1 to 1000000000000 step 1",
        "print x = 1 | summarize arg_max(x)",
        "print toint()",
        "print case(true)",
        "print strcat()",
        "print x = 1 | extend y = x.z",
        "print x = 1 | where x in (print 1)",
        ".create function f() { print 1 }",
        "print 1; print 2; print",
        "let T = (X:(*)) { X }; T()",
        "print 'a' has 1",
        "print tolong('9999999999999999999999')",
    ];
    for q in queries {
        let out = kql(&["-c", q, "--format", "csv"]);
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{q:?} panicked: {err}");
        if !out.status.success() {
            assert!(err.starts_with("error: "), "{q:?}: {err}");
        }
    }
}

#[test]
fn several_result_statements_print_in_turn() {
    let out = kql(&["-c", "print a = 1; print b = 2", "--format", "csv"]);
    assert_eq!(stdout(&out), "a\n1\nb\n2\n");
}

/// README lists the operators and functions from the engine's registry; this keeps them in step.
/// `KQL_UPDATE_README=1` rewrites the two lists from the registry.
#[test]
fn readme_lists_what_the_engine_supports() {
    let path = root().join("README.md");
    let mut readme = std::fs::read_to_string(&path).expect("README.md");
    let listed =
        |items: Vec<&str>, label: &str| format!("{label}: {}", items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", "));
    if std::env::var_os("KQL_UPDATE_README").is_some() {
        for (name, line) in [
            ("operators", listed(kql_engine::planner::supported_operators(), "Operators")),
            ("functions", listed(kql_engine::planner::supported_functions(), "Functions")),
        ] {
            let start = readme.find(&format!("<!-- {name}:start -->")).expect("start marker");
            let end = readme.find(&format!("<!-- {name}:end -->")).expect("end marker");
            readme.replace_range(start..end, &format!("<!-- {name}:start -->\n{line}\n"));
        }
        std::fs::write(&path, &readme).expect("write README.md");
    }
    let section = |name: &str| -> String {
        let start = readme.find(&format!("<!-- {name}:start -->")).expect("start marker");
        let end = readme.find(&format!("<!-- {name}:end -->")).expect("end marker");
        readme[start..end].lines().nth(1).unwrap_or_default().to_string()
    };
    assert_eq!(section("operators"), listed(kql_engine::planner::supported_operators(), "Operators"));
    assert_eq!(section("functions"), listed(kql_engine::planner::supported_functions(), "Functions"));
}

/// `docs/functions.md`, the function reference, is the catalog rendered; this keeps it in step.
/// `KQL_UPDATE_README=1` rewrites it.
#[test]
fn function_reference_is_the_catalog() {
    use kql_engine::functions::catalog::{FunctionKind, catalog};
    let mut text = String::from(
        "# Functions\n\nGenerated from `engine/src/functions/catalog.txt` (`KQL_UPDATE_README=1 cargo test -p kql-tests \
         --test cli function_reference` rewrites it). In the REPL, `.help NAME` prints one entry.\n",
    );
    for kind in [FunctionKind::Scalar, FunctionKind::Aggregate, FunctionKind::Window, FunctionKind::Tuple, FunctionKind::Plugin] {
        let mut defs: Vec<_> = catalog().iter().filter(|d| d.kind == kind).collect();
        defs.sort_by_key(|d| d.name);
        let title = kind.plural();
        text.push_str(&format!("\n## {}{} ({})\n\n", title[..1].to_uppercase(), &title[1..], defs.len()));
        for d in defs {
            text.push_str(&format!("- `{}`: {}\n", d.signature, d.doc));
        }
    }
    let path = root().join("docs/functions.md");
    if std::env::var_os("KQL_UPDATE_README").is_some() {
        std::fs::create_dir_all(root().join("docs")).expect("docs folder");
        std::fs::write(&path, &text).expect("write docs/functions.md");
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap_or_default(), text, "docs/functions.md is not the catalog: see the test's doc");
}

#[test]
fn check_reports_each_query_and_exits_by_the_worst() {
    let dir = std::env::temp_dir().join(format!("kql-check-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("more")).expect("temp dir");
    std::fs::write(dir.join("good.kql"), "NetworkSession | where DstPortNumber == 443 | count").expect("write");
    std::fs::write(dir.join("more/bad.kql"), "NetworkSession\n| where DstPortNumber ==").expect("write");
    std::fs::write(dir.join("more/unplannable.kql"), "NetworkSession | where Nope == 1").expect("write");
    let path = dir.to_str().expect("utf8 path");

    // Syntax only: no table is registered.
    let out = kql(&["check", "--format", "jsonl", path]);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["ok"], true);
    assert_eq!(lines[0]["stage"], "parse");
    assert_eq!(lines[1]["ok"], false);
    assert_eq!(lines[1]["stage"], "parse");
    assert_eq!(
        lines[1]["error"],
        format!("{}:2:25: syntax error: unexpected end of query, expected an expression", dir.join("more/bad.kql").display())
    );
    assert_eq!(lines[2]["ok"], true, "without tables a query is checked for syntax only");

    // With the tables registered, queries are planned too.
    let out = kql(&["check", "--data", "samples/data", path]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("error: unknown column or name 'Nope'"), "{text}");
    assert!(text.contains(&format!("--> {}:1:24", dir.join("more/unplannable.kql").display())), "{text}");
    assert!(text.ends_with("3 queries checked (parse and plan): 1 ok, 2 failed\n"), "{text}");

    let out = kql(&["check", "--data", "samples/data", dir.join("good.kql").to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(0));

    // A query that plans gives its result columns, named and typed as Microsoft's analyzer gives
    // them for a schema (`bench/schema_fidelity.py` compares the two); one list per query of
    // the script. One that does not plan gives none.
    std::fs::write(
        dir.join("more/summary.kql"),
        "let n = 1; NetworkSession | summarize tostring(make_set(DstPortNumber)), count() by SrcIpAddr | extend strlen(SrcIpAddr)",
    )
    .expect("write");
    let out = kql(&["check", "--format", "jsonl", "--data", "samples/data", path]);
    let lines: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    let results = |file: &str| lines.iter().find(|l| l["file"].as_str().is_some_and(|f| f.ends_with(file))).map(|l| l["results"].clone());
    assert_eq!(
        results("summary.kql"),
        Some(serde_json::json!([[
            {"name": "SrcIpAddr", "type": "string"},
            {"name": "set_DstPortNumber", "type": "string"},
            {"name": "count_", "type": "long"},
            {"name": "strlen_SrcIpAddr", "type": "long"}
        ]]))
    );
    assert_eq!(results("unplannable.kql"), Some(serde_json::json!([])));
    std::fs::remove_file(dir.join("more/summary.kql")).expect("remove");

    // Sentinel rule YAML: each rule's query is checked, named by file and rule.
    let rule = dir.join("rule.yaml");
    std::fs::write(&rule, "name: Odd port\nseverity: Low\nquery: |\n  NetworkSession\n  | where DstPortNumber in (4444\n").expect("write");
    let out = kql(&["check", "--format", "jsonl", rule.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1));
    let line: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("json line");
    assert_eq!(line["file"], format!("{} (Odd port)", rule.display()));
    assert_eq!(line["error"], format!("{} (Odd port):2:31: syntax error: unexpected end of query", rule.display()));
    std::fs::remove_dir_all(&dir).ok();
}

/// `kql hunt` over a folder of a .kql hunt, a Sentinel rule YAML and a pack holding a broken
/// rule: every hunt runs, the broken one is reported without stopping the others, each result
/// lands in its file, summary.json carries the rule metadata, and the exit codes say what happened.
#[test]
fn hunt_runs_a_folder_of_kql_and_sentinel_yaml() {
    let dir = std::env::temp_dir().join(format!("kql-hunt-{}", std::process::id()));
    let hunts = dir.join("hunts");
    let out = dir.join("out");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&hunts).expect("temp dir");
    std::fs::copy(root().join("samples/hunts/asim_networksession_beaconing.kql"), hunts.join("beaconing.kql")).expect("copy rule");
    std::fs::write(
        hunts.join("c2_destination.yaml"),
        "id: 5a1f0000-0000-0000-0000-000000000001\nname: Traffic to the known C2 address\nseverity: High\n\
         tactics:\n  - CommandAndControl\nrelevantTechniques:\n  - T1571\nqueryPeriod: 1d\nquery: |\n  \
         NetworkSession\n  | where DstIpAddr == \"203.0.113.50\"\n  | summarize Events = count() by SrcIpAddr\n",
    )
    .expect("write rule");
    std::fs::write(
        hunts.join("pack.yml"),
        "- name: Nothing on port 1\n  query: NetworkSession | where DstPortNumber == 1\n\
         - name: Broken rule\n  query: |\n    NetworkSession\n    | where NoSuchColumn > 1\n",
    )
    .expect("write pack");
    let (hunts_arg, out_arg) = (hunts.display().to_string(), out.display().to_string());
    let mut args = vec!["hunt", hunts_arg.as_str(), "--out", out_arg.as_str(), "--format", "csv", "--jobs", "2"];
    args.extend(SAMPLES);
    let o = kql(&args);
    assert_eq!(o.status.code(), Some(1), "a failed hunt makes the exit status 1: {}", stderr(&o));
    let summary = stdout(&o);
    let rows: Vec<Vec<String>> = summary
        .lines()
        .filter(|l| l.starts_with('│'))
        .map(|l| l.trim_matches('│').split('┆').map(|c| c.trim().to_string()).collect())
        .collect();
    let statuses: Vec<[&str; 3]> = rows.iter().map(|r| [r[0].as_str(), r[1].as_str(), r[2].as_str()]).collect();
    assert_eq!(
        statuses,
        [
            ["hunt", "status", "rows"],
            ["beaconing", "hits", "7"],
            ["c2_destination", "hits", "1"],
            ["pack-nothing_on_port_1", "no hits", "0"],
            ["pack-broken_rule", "failed", "0"],
        ]
    );
    assert!(summary.ends_with("4 hunts: 3 ran, 2 with hits, 1 failed\n"), "{summary}");
    let err = stderr(&o);
    let pack = hunts.join("pack.yml").display().to_string();
    assert!(
        err.contains(&format!(
            "hunt pack-broken_rule failed:\nerror: unknown column or name 'NoSuchColumn'\n --> {pack} (Broken rule):2:9\n"
        )),
        "{err}"
    );

    let c2 = std::fs::read_to_string(out.join("c2_destination.csv")).expect("c2 result");
    assert_eq!(c2, "SrcIpAddr,Events\n10.1.5.23,240\n");
    let beacons = std::fs::read_to_string(out.join("beaconing.csv")).expect("beaconing result");
    assert_eq!(beacons.lines().count(), 8, "header and the 7 planted beacon rows: {beacons}");
    let empty = std::fs::read_to_string(out.join("pack-nothing_on_port_1.csv")).expect("empty result");
    assert!(empty.starts_with("TimeGenerated,") && empty.lines().count() == 1, "a hunt without hits writes the header only: {empty}");
    assert!(!out.join("pack-broken_rule.csv").exists());

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary.json")).expect("json");
    let entries = summary["hunts"].as_array().expect("hunts");
    assert_eq!(entries.len(), 4);
    assert_eq!(
        entries[1]["rule"],
        serde_json::json!({
            "id": "5a1f0000-0000-0000-0000-000000000001",
            "name": "Traffic to the known C2 address",
            "severity": "High",
            "tactics": ["CommandAndControl"],
            "relevantTechniques": ["T1571"],
            "queryPeriod": "1d"
        })
    );
    assert_eq!(entries[1]["rows"], 1);
    assert_eq!(entries[3]["status"], "failed");
    assert!(entries[3]["error"].as_str().is_some_and(|e| e.starts_with("error: unknown column or name 'NoSuchColumn'")));

    // Without the broken rule: 0 when all ran, 2 with --fail-on-hits since some returned rows.
    std::fs::remove_file(hunts.join("pack.yml")).expect("remove pack");
    let mut args = vec!["hunt", hunts_arg.as_str(), "--format", "parquet", "--out", out_arg.as_str()];
    args.extend(SAMPLES);
    assert_eq!(kql(&args).status.code(), Some(0));
    assert!(out.join("c2_destination.parquet").exists());
    args.push("--fail-on-hits");
    assert_eq!(kql(&args).status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The bundled T1571 hunts over the bundled samples: each finds exactly the events planted for
/// it (see `samples/src/windows.rs` and `network_session.rs`), and none of the look-alikes.
#[test]
fn sample_hunts_find_every_planted_event_and_nothing_else() {
    let out = std::env::temp_dir().join(format!("kql-sample-hunts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let out_arg = out.display().to_string();
    let mut args = vec!["hunt", "samples/hunts", "--out", out_arg.as_str(), "--fail-on-hits"];
    args.extend(SAMPLES);
    let o = kql(&args);
    assert_eq!(o.status.code(), Some(2), "every hunt ran and some hit: {}", stderr(&o));
    let rows = |hunt: &str, keys: &[&str]| -> Vec<String> {
        let text = std::fs::read_to_string(out.join(format!("{hunt}.jsonl"))).expect("hunt result");
        let mut rows: Vec<String> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("json line");
                keys.iter().map(|k| v[*k].to_string().trim_matches('"').replace("\\\\", "\\")).collect::<Vec<_>>().join(" ")
            })
            .collect();
        rows.sort();
        rows
    };
    // The Sigma hunts read Sysmon 3 connections in Event (samples/src/sentinel.rs, SYSMON_PLANTS):
    // the three callback-port connections from AppData, ProgramData and Windows\Temp to public
    // addresses, and the download on 8080; the same ports from Program Files or to private and
    // loopback addresses are look-alikes, and the beacons planted in Event use port 443 or 80.
    let sysmon = ["Computer", "NewProcessName", "DestinationIp", "DestinationPort"];
    assert_eq!(
        rows("sigma_malware_callback_ports", &sysmon),
        [
            r"SRV-APP-10.contoso.com C:\Windows\Temp\dllhost32.exe 203.0.113.99 1443",
            r"WS-FIN-023.contoso.com C:\Users\jdoe\AppData\Roaming\svcupd.exe 45.77.65.211 4444",
            r"WS-HR-041.contoso.com C:\ProgramData\Intel\igfxtray.exe 185.220.101.7 7777",
        ]
    );
    assert_eq!(
        rows("sigma_uncommon_destination_ports", &sysmon),
        [r"WS-HR-041.contoso.com C:\Users\akim\Downloads\invoice_viewer.exe 198.51.100.23 8080"]
    );
    assert_eq!(rows("sigma_test_netconnection_uncommon_port", &["Computer"]), ["WS-FIN-023", "WS-HR-041"]);
    // WFP_PLANTS in WindowsEvent: outbound to 4444, blocked outbound to 8531, a bind on 4444; the
    // beacons planted there go to 443 and 445, standard ports.
    assert_eq!(
        rows("wfp_non_standard_ports", &["Computer", "EventID", "Application", "Port", "RemoteAddress"]),
        [
            r"SRV-APP-10.contoso.com 5158 \device\harddiskvolume2\users\public\svchost.exe 4444 ",
            r"WS-FIN-023.contoso.com 5156 \device\harddiskvolume2\users\jdoe\appdata\roaming\svcupd.exe 4444 45.77.65.211",
            r"WS-HR-041.contoso.com 5157 \device\harddiskvolume2\programdata\intel\igfxtray.exe 8531 185.220.101.7",
        ]
    );
    assert_eq!(rows("asim_networksession_beaconing", &["SrcIpAddr", "DstIpAddr"]).len(), 7);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary")).expect("json");
    let hunts: Vec<&str> = summary["hunts"].as_array().expect("hunts").iter().map(|h| h["hunt"].as_str().expect("name")).collect();
    assert_eq!(
        hunts,
        [
            "asim_networksession_beaconing",
            "sigma_malware_callback_ports",
            "sigma_test_netconnection_uncommon_port",
            "sigma_uncommon_destination_ports",
            "wfp_non_standard_ports"
        ]
    );
    assert_eq!(summary["hunts"][1]["rule"]["relevantTechniques"], serde_json::json!(["T1571"]));
    let _ = std::fs::remove_dir_all(&out);
}

/// A query ending in `render` prints its chart under the table, and `--chart` writes it as SVG.
#[test]
fn render_draws_a_chart_in_the_terminal_and_to_svg() {
    let svg = std::env::temp_dir().join(format!("kql-chart-{}.svg", std::process::id()));
    let svg_arg = svg.display().to_string();
    let query = "datatable(Port:string, Events:long)[\"443\", 30, \"4444\", 10] | render columnchart with (title=\"Ports\")";
    let out = Command::new(kql_binary())
        .args(["-c", query, "--chart", svg_arg.as_str()])
        .env("COLUMNS", "30")
        .current_dir(root())
        .output()
        .expect("run kql");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.ends_with(&format!("\nPorts\n 443 │{} 30\n4444 │{} 10\n", "█".repeat(10), "█".repeat(3))), "{text}");
    let drawn = std::fs::read_to_string(&svg).expect("the SVG file");
    assert!(drawn.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{drawn}");
    assert!(drawn.contains(">Ports</text>"));
    let html = svg.with_extension("html");
    let html_arg = html.display().to_string();
    assert!(kql(&["-c", query, "--chart", html_arg.as_str()]).status.success());
    let page = std::fs::read_to_string(&html).expect("the HTML file");
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<title>Ports</title>") && page.contains("<svg xmlns="), "{page}");
    let _ = std::fs::remove_file(&html);
    let png = svg.with_extension("png");
    let png_arg = png.display().to_string();
    assert!(kql(&["-c", query, "--chart", png_arg.as_str()]).status.success());
    let image = std::fs::read(&png).expect("the PNG file");
    assert!(image.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG image");
    let _ = std::fs::remove_file(&png);
    // csv output stays data only.
    let out = kql(&["-c", query, "--format", "csv"]);
    assert_eq!(stdout(&out), "Port,Events\n443,30\n4444,10\n");
    let _ = std::fs::remove_file(&svg);
}

/// Deep plans need deep stacks: a partition over 600 values (a union of 600 branches) and a
/// 1500-term `or` chain (as machine-written Sigma rules have) run without a crash.
#[test]
fn deep_plans_do_not_exhaust_the_stack() {
    let out = kql(&[
        "-c",
        "range i from 1 to 1200 step 1 | extend k = i % 600 | partition by k (summarize c = count()) | summarize sum(c), count()",
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "sum_c,count_\n1200,600\n");
    let chain: Vec<String> = (0..1500).map(|i| format!("x == {i}")).collect();
    let q = format!("range x from 1 to 5 step 1 | where {} | count", chain.join(" or "));
    let out = kql(&["-c", &q, "--format", "csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Count\n5\n");
}

/// Hunts that read only one table, once, share one scan of it in `kql hunt`; each gets the rows
/// it gets alone (`--no-shared-scans`), an early stop (`take`) included; a hunt that fails (past
/// the memory limit) fails alone, and a hunt that reads the table twice runs on its own. (The
/// memory limit is the whole run's: the hunt that fails runs in a group of its own with one that
/// holds no memory, so that which hunt meets the limit first does not depend on timing.)
#[test]
fn hunts_over_one_table_share_a_scan_and_get_the_rows_they_get_alone() {
    let dir = std::env::temp_dir().join(format!("kql-shared-scan-{}", std::process::id()));
    let hunts = dir.join("hunts");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&hunts).expect("temp dir");
    let queries = [
        ("a_port_8443", "NetworkSession | where DstPortNumber == 8443 | project TimeGenerated, SrcIpAddr, DstIpAddr"),
        ("b_by_port", "NetworkSession | summarize Events = count(), Bytes = sum(DstBytes) by DstPortNumber | sort by DstPortNumber asc"),
        ("c_take", "NetworkSession | take 3 | count"),
        ("d_one_source", "NetworkSession | where SrcIpAddr == '10.1.5.23' | summarize Events = count(), Ports = dcount(DstPortNumber)"),
        (
            "e_self_join",
            "NetworkSession | where DstPortNumber == 8443 | join kind=inner (NetworkSession | where DstPortNumber == 8443 | summarize by SrcIpAddr) on SrcIpAddr | count",
        ),
        // String tests and `lower` that the scan computes once for every hunt (computed columns).
        (
            "g_strings",
            "NetworkSession | where SrcHostname startswith 'ws-1' and (SrcHostname endswith '7' or SrcHostname has 'ws-20' or SrcHostname hassuffix '-105') and not(SrcHostname contains '99') and DvcAction !has 'allow' | summarize Events = count() by SrcHostname, DvcAction | sort by SrcHostname asc, DvcAction asc",
        ),
        (
            "h_equal_ci",
            "NetworkSession | where SrcHostname =~ 'ws-185' or DvcAction in~ ('DENY', 'drop') | summarize Events = count() by SrcHostname, DvcAction | sort by SrcHostname asc, DvcAction asc",
        ),
        (
            "i_case_sensitive",
            "NetworkSession | where SrcHostname contains_cs 'WS-18' and SrcHostname !startswith_cs 'ws' and SrcHostname hasprefix 'ws' | summarize Events = count(), Hosts = dcount(SrcHostname)",
        ),
        // Equality with one value or a list, in either case rule and either order, negated,
        // against an empty text (null or empty): one lookup per text in the scan.
        (
            "h_equal_more",
            "NetworkSession | where SrcHostname == 'ws-185' or DvcAction in ('Deny', 'drop') or 'ws-20' =~ SrcHostname or not(SrcHostname in~ ('WS-1', 'ws-2') or SrcHostname !~ 'ws-3') or SrcHostname =~ '' | summarize Events = count() by SrcHostname, DvcAction | sort by SrcHostname asc, DvcAction asc",
        ),
        // A volatile filter stays in the hunt's plan; the rest is applied by the scan.
        ("j_volatile", "NetworkSession | where rand() < 2.0 and DstPortNumber == 8443 | count"),
        // A limit of filtered rows.
        ("k_take_filtered", "NetworkSession | where DstPortNumber == 8443 | take 5 | count"),
        // `matches regex`, its pattern compiled once for the scan.
        (
            "l_regex",
            "NetworkSession | where SrcHostname matches regex @'^ws-1[0-2]\\d$' or SrcHostname matches regex '(?i)^WS-20[0-4]$' | summarize Events = count() by SrcHostname | sort by SrcHostname asc",
        ),
    ];
    for (name, query) in queries {
        std::fs::write(hunts.join(format!("{name}.kql")), query).expect("write hunt");
    }
    let hunts_arg = hunts.display().to_string();
    let run = |out: &str, extra: &[&str]| {
        let out_arg = dir.join(out).display().to_string();
        let mut args = vec!["hunt", hunts_arg.as_str(), "--out", out_arg.as_str(), "--format", "csv"];
        args.extend(extra);
        args.extend(SAMPLES);
        let o = kql(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        stdout(&o)
    };
    let shared = run("shared", &[]);
    assert!(shared.contains("\n11 hunts read NetworkSession in one shared scan\n12 hunts: 12 ran"), "{shared}");
    let alone = run("alone", &["--no-shared-scans"]);
    assert!(!alone.contains("shared scan"), "{alone}");
    for (name, _) in &queries {
        let file = format!("{name}.csv");
        let (a, b) = (dir.join("shared").join(&file), dir.join("alone").join(&file));
        // The same rows, in any order: without a sort, the order is the scan's.
        let lines = |path: std::path::PathBuf| {
            let text = std::fs::read_to_string(path).expect("result");
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            lines.sort();
            lines
        };
        assert_eq!(lines(a), lines(b), "{name}");
    }
    assert_eq!(std::fs::read_to_string(dir.join("shared/c_take.csv")).expect("take result"), "Count\n3\n");
    assert_eq!(std::fs::read_to_string(dir.join("shared/k_take_filtered.csv")).expect("take result"), "Count\n5\n");
    assert_eq!(std::fs::read_to_string(dir.join("shared/j_volatile.csv")).expect("result"), "Count\n72\n");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("shared/summary.json")).expect("summary.json")).expect("json");
    let scans: Vec<&serde_json::Value> = summary["hunts"].as_array().expect("hunts").iter().map(|h| &h["shared_scan"]).collect();
    let n = serde_json::json!("NetworkSession");
    assert_eq!(scans, [&n, &n, &n, &n, &serde_json::Value::Null, &n, &n, &n, &n, &n, &n, &n]);
    // The string hunts find rows, so their agreement above means something.
    for name in ["g_strings", "h_equal_ci", "h_equal_more", "l_regex"] {
        let rows = std::fs::read_to_string(dir.join(format!("shared/{name}.csv"))).expect("result").lines().count();
        assert!(rows > 3, "{name}: {rows} lines");
    }

    let too_big = dir.join("too_big");
    std::fs::create_dir_all(&too_big).expect("temp dir");
    let make_set = "NetworkSession | extend r = range(1, 20, 1) | mv-expand r | summarize s = make_set(strcat(SrcIpAddr, '/', r, '/', TimeGenerated)) | project n = array_length(s)";
    std::fs::write(too_big.join("c_take.kql"), queries[2].1).expect("write hunt");
    std::fs::write(too_big.join("f_too_big.kql"), make_set).expect("write hunt");
    let (too_big_arg, out_arg) = (too_big.display().to_string(), dir.join("too_big_out").display().to_string());
    let mut args = vec!["hunt", too_big_arg.as_str(), "--out", out_arg.as_str(), "--format", "csv", "--memory-limit", "20M"];
    args.extend(SAMPLES);
    let o = kql(&args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("hunt f_too_big failed:\nerror: the query needs more memory than the memory limit allows"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).contains("\n2 hunts read NetworkSession in one shared scan\n2 hunts: 1 ran"), "{}", stdout(&o));
    assert_eq!(std::fs::read_to_string(dir.join("too_big_out/c_take.csv")).expect("take result"), "Count\n3\n");
    assert!(!dir.join("too_big_out/f_too_big.csv").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The string tests, `=~`/`in~` and regexes that hunts sharing a scan compute together give
/// each hunt the rows it gets alone, and the rows Kusto's rules give, on texts that trip them:
/// nulls, empty texts, letters beyond ASCII, overlapping occurrences.
#[test]
fn hunts_sharing_a_scan_test_strings_as_each_hunt_alone_does() {
    let dir = std::env::temp_dir().join(format!("kql-shared-tests-{}", std::process::id()));
    let hunts = dir.join("hunts");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&hunts).expect("temp dir");
    let rows = [
        r#"{"N":1,"Host":"WS-1","Cmd":"powershell -enc AAA"}"#,
        r#"{"N":2,"Host":null,"Cmd":"cmd /c whoami"}"#,
        r#"{"N":3,"Cmd":null}"#,
        r#"{"N":4,"Host":"straße-7","Cmd":"\u2013enc \u212a"}"#,
        r#"{"N":5,"Host":"","Cmd":"C:\\Windows\\System32\\NETSH.EXE advfirewall"}"#,
        r#"{"N":6,"Host":"ws-10","Cmd":"a-a-a ba-a"}"#,
    ];
    let table = dir.join("T.jsonl");
    std::fs::write(&table, rows.join("\n") + "\n").expect("write table");
    // (hunt, filter, the rows' N that Kusto's rules give; None: compared with the hunt alone only)
    let cases: [(&str, &str, Option<&str>); 18] = [
        ("contains", "Cmd contains '-ENC'", Some("1")),
        ("contains_beyond_ascii", "Cmd contains '\u{2013}ENC'", Some("4")),
        ("has_kelvin", "Cmd has 'k'", None),
        ("equal_ci", "Host =~ 'WS-10'", Some("6")),
        ("not_equal_ci", "Host !~ 'ws-1'", Some("2 3 4 5 6")),
        ("in_ci", "Host in~ ('WS-1', 'STRASSE-7')", Some("1")),
        ("endswith", "Cmd endswith 'netsh.exe advfirewall'", Some("5")),
        ("startswith", "Cmd startswith 'C:\\\\windows'", Some("5")),
        ("has_overlapping", "Cmd has 'a-a'", Some("6")),
        ("regex_cs", "Host matches regex @'^ws-\\d+$'", Some("6")),
        ("regex_ci", "Host matches regex @'(?i)^ws-\\d$'", Some("1")),
        ("not_contains", "Cmd !contains 'a'", Some("3 4")),
        ("term_prefix_suffix", "Cmd hasprefix 'who' or Cmd hassuffix 'shell'", Some("1 2")),
        ("case_sensitive", "Cmd contains_cs 'AAA' and not(Cmd has_cs 'aaa')", Some("1")),
        ("any_of", "Cmd has_any ('whoami', 'NETSH.EXE', '\u{2013}enc')", Some("2 4 5")),
        // A null or missing string is Kusto's "" (null-values.md).
        ("empty_host", "Host == ''", Some("2 3 5")),
        ("isempty_host", "isempty(Host) and not(isnull(Host))", Some("2 3 5")),
        ("not_has", "Host !has 'ws'", Some("2 3 4 5")),
    ];
    for (name, filter, _) in &cases {
        std::fs::write(hunts.join(format!("{name}.kql")), format!("T | where {filter} | project N | sort by N asc")).expect("write hunt");
    }
    let (hunts_arg, table_arg) = (hunts.display().to_string(), format!("T={}", table.display()));
    let run = |out: &str, extra: &[&str]| {
        let out_arg = dir.join(out).display().to_string();
        let mut args = vec!["hunt", hunts_arg.as_str(), "--out", out_arg.as_str(), "--format", "csv", "--table", table_arg.as_str()];
        args.extend(extra);
        let o = kql(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        stdout(&o)
    };
    assert!(run("shared", &[]).contains("\n18 hunts read T in one shared scan\n"));
    run("alone", &["--no-shared-scans"]);
    for (name, filter, expected) in &cases {
        let read = |out: &str| std::fs::read_to_string(dir.join(out).join(format!("{name}.csv"))).expect("result");
        let shared = read("shared");
        assert_eq!(shared, read("alone"), "{name}: {filter}");
        if let Some(expected) = expected {
            let got: Vec<&str> = shared.lines().skip(1).collect();
            assert_eq!(got.join(" "), *expected, "{name}: {filter}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `kql check --timings` also makes each planned query's physical plan and gives the time its
/// parsing and planning took; without it the time is null.
#[test]
fn check_with_timings_gives_each_query_its_planning_time() {
    let dir = std::env::temp_dir().join(format!("kql-check-timings-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("a.kql"), "NetworkSession | summarize count() by DstPortNumber").expect("write");
    let dir_arg = dir.display().to_string();
    let verdict = |timings: bool| {
        let mut args = vec!["check", dir_arg.as_str(), "--format", "jsonl", "--data", "samples/data"];
        if timings {
            args.push("--timings");
        }
        let o = kql(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        serde_json::from_str::<serde_json::Value>(stdout(&o).trim()).expect("one jsonl verdict")
    };
    let timed = verdict(true);
    assert_eq!((timed["ok"].as_bool(), timed["stage"].as_str()), (Some(true), Some("plan")));
    assert!(timed["elapsed_us"].as_u64().is_some_and(|us| us > 0), "{timed}");
    assert!(verdict(false)["elapsed_us"].is_null());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unreachable_cluster_is_named_in_the_error() {
    // A port nothing listens on: bound, read, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port();
    let out = kql(&["--cluster", &format!("df://127.0.0.1:{port}"), "-c", "print 1"]);
    assert!(!out.status.success());
    assert_eq!(
        stderr(&out),
        "error: cannot reach the cluster's scheduler (nothing listens there): is `kql cluster scheduler` running at the --cluster address?\n --> query:1:1\n  |\n1 | print 1\n  | ^^^^^^^\n  |\n"
    );
    let out = kql(&["--cluster", "nowhere", "-c", "print 1"]);
    assert!(!out.status.success());
    assert_eq!(stderr(&out), "error: --cluster nowhere: expected df://HOST:PORT\n");
}

/// The client's `kql.` settings reach the nodes of a real cluster: a client of another kql
/// build is refused by the scheduler with both builds named (the client is kql's own cluster
/// client, `cluster_state`, whose job settings name another build, as a client built from
/// another commit would send them), and an executor holds a function to the client's
/// `--memory-limit` as one machine does (`hardening.rs`).
#[test]
fn a_cluster_gets_the_clients_build_and_memory_limit() {
    let cluster = cluster_support::start_with("builds", &[], &[]).expect("start a cluster");
    let url = kql_cluster::client::scheduler_url(&cluster.address()).expect("the scheduler's url");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let run = |build: Option<&str>| {
        let mut state = kql_cluster::client::cluster_state(&kql_engine::SessionOptions::default(), &url).expect("a cluster session");
        if let Some(build) = build {
            state.config_mut().options_mut().set("kql.build", build).expect("name a build");
        }
        let ctx = datafusion::prelude::SessionContext::new_with_state(state);
        runtime
            .block_on(async { ctx.sql("SELECT 1 AS one").await?.collect().await })
            .map(|batches| batches.iter().map(|b| b.num_rows()).sum::<usize>())
    };
    assert_eq!(run(None).map_err(|e| e.to_string()), Ok(1));
    let refused = run(Some("0.0.1+0123456789ab")).expect_err("another build is refused").to_string();
    assert_eq!(
        refused,
        format!(
            "Execution error: the cluster's scheduler runs kql {} and this client kql 0.0.1+0123456789ab: every node and client of a cluster must run the same kql build",
            kql_cluster::build::BUILD_ID
        )
    );

    let query = "range i from 1 to 861 step 1 | project r = range(i, 1000000000, 1) | where isnull(r)";
    let out = kql(&["--cluster", &cluster.address(), "--memory-limit", "3M", "-c", query]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "error: range(): its values for one batch of rows are past the memory limit of 3 MB (--memory-limit)\n --> query:1:44\n  |\n1 | {query}\n  |{}{}\n  |\n",
            " ".repeat(44),
            "^".repeat(23)
        )
    );
    drop(cluster);
}

/// Every sample hunt gives the same rows on a cluster (a scheduler and two executors, as
/// separate `kql` processes) as on one machine.
#[test]
fn the_sample_hunts_give_the_same_rows_on_a_cluster() {
    let url = cluster_support::scheduler_url().expect("start a cluster");
    let cluster = url.replace("http://", "df://");
    let data = root().join("samples/data").display().to_string();
    let dir = support::scratch("hunts-on-a-cluster");
    let run = |out: &std::path::Path, extra: &[&str]| {
        let out_arg = out.display().to_string();
        let mut args = vec!["hunt", "samples/hunts", "--data", &data, "--functions", "samples/functions/asim.kql"];
        args.extend(["--now", "2024-05-03T00:00:00Z", "--out", &out_arg]);
        args.extend(extra);
        let o = support::kql_within(&args, std::time::Duration::from_secs(300));
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("5 hunts: 5 ran, 5 with hits, 0 failed"), "{}", stdout(&o));
    };
    run(&dir.join("local"), &[]);
    run(&dir.join("cluster"), &["--cluster", &cluster]);
    cluster_support::stop();
    let mut compared = 0;
    for entry in std::fs::read_dir(dir.join("local")).expect("local results") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        let rows = |p: &std::path::Path| {
            let mut rows: Vec<String> = std::fs::read_to_string(p).expect("read rows").lines().map(str::to_string).collect();
            rows.sort();
            rows
        };
        let name = path.file_name().expect("file name");
        assert_eq!(rows(&path), rows(&dir.join("cluster").join(name)), "{}", name.to_string_lossy());
        compared += 1;
    }
    assert_eq!(compared, 5);
}

/// A join of two hunts over Parquet gives one machine's answer on a cluster. (On one machine
/// the join's filter reaches the probe side's scan, sampled: `engine/src/join_filter_sampling.rs`;
/// its encoding for a cluster is tested in `tests/join_filters.rs`.)
#[test]
fn a_join_over_parquet_gives_the_same_answer_on_a_cluster() {
    let cluster = cluster_support::start_with("join", &[], &[]).expect("start a cluster");
    let data = root().join("samples/data").display().to_string();
    let query =
        "NetworkSession | where DstPortNumber == 443 | join kind=inner (NetworkSession | summarize by SrcIpAddr) on SrcIpAddr | count";
    let local = kql(&["--data", &data, "--format", "csv", "-c", query]);
    assert!(local.status.success(), "{}", stderr(&local));
    let remote = kql(&["--cluster", &cluster.address(), "--data", &data, "--format", "csv", "-c", query]);
    assert!(remote.status.success(), "{}", stderr(&remote));
    assert_eq!(stdout(&remote), stdout(&local));
    assert_ne!(stdout(&local), "Count\n0\n", "the join finds rows");
    drop(cluster);
}

/// A scheduler started with `KQL_CLUSTER_TOKEN` refuses a client without it (or with another
/// one), and nodes started with `--data-root` refuse a table outside it before reading a row
/// or answering from its statistics.
#[test]
fn a_cluster_asks_for_its_token_and_reads_only_under_its_data_roots() {
    let data = root().join("samples/data");
    let cluster = cluster_support::start_with(
        "guarded",
        &[("KQL_CLUSTER_TOKEN", "s3cret")],
        &["--data-root".to_string(), data.display().to_string()],
    )
    .expect("start a cluster");
    let address = cluster.address();
    let outside = support::scratch("outside-the-data-root");
    let copy = outside.join("NetworkSession.parquet");
    std::fs::copy(data.join("NetworkSession.parquet"), &copy).expect("copy a table");
    let table = format!("T={}", copy.display());
    let inside = format!("T={}", data.join("NetworkSession.parquet").display());
    let run = |token: Option<&str>, table: &str, query: &str| {
        let mut command = std::process::Command::new(kql_binary());
        command.args(["--cluster", &address, "--table", table, "-c", query]).current_dir(root());
        command.env_remove("KQL_CLUSTER_TOKEN");
        if let Some(token) = token {
            command.env("KQL_CLUSTER_TOKEN", token);
        }
        command.output().expect("run kql")
    };
    let caret = |query: &str| format!(" --> query:1:1\n  |\n1 | {query}\n  | {}\n  |\n", "^".repeat(query.len()));

    let out = run(None, &inside, "T | count");
    assert!(!out.status.success());
    assert_eq!(
        stderr(&out),
        format!(
            "error: the cluster's scheduler refused the query: no cluster token was given: set KQL_CLUSTER_TOKEN to the scheduler's token\n{}",
            caret("T | count")
        )
    );
    let out = run(Some("guess"), &inside, "T | count");
    assert!(!out.status.success());
    assert!(stderr(&out).starts_with("error: the cluster's scheduler refused the query: the cluster token is wrong"), "{}", stderr(&out));

    let out = run(Some("s3cret"), &inside, "T | where SrcIpAddr == '10.1.7.88' | count");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("│ 72    │"), "{}", stdout(&out));

    // Rows and statistics alike: `count` and `max` could be answered from the file's footer.
    for query in ["T | where SrcIpAddr == '10.1.7.88' | count", "T | count", "T | summarize max(TimeGenerated)"] {
        let out = run(Some("s3cret"), &table, query);
        assert!(!out.status.success(), "{query}: {}", stdout(&out));
        assert_eq!(
            stderr(&out),
            format!(
                "error: the cluster's executors read only under their data roots (--data-root), and {} is not under them\n{}",
                copy.display(),
                caret(query)
            ),
            "{query}"
        );
    }
    drop(cluster);
}

/// A cluster started with TLS files (`KQL_CLUSTER_TLS_CERT`, `_KEY`, `_CA`) answers only
/// clients whose certificate its authority signed, over TLS, shuffles between its executors
/// over TLS too (a `summarize` runs in several stages), and every other client gets an error
/// that says what is wrong. The test certificates are `tests/fixtures/tls` (README there).
#[test]
fn a_cluster_with_tls_answers_only_clients_with_its_certificates() {
    let tls = root().join("tests/fixtures/tls");
    let file = |name: &str| tls.join(name).display().to_string();
    let (node_cert, node_key, authority) = (file("node.pem"), file("node.key"), file("cluster-ca.pem"));
    let env = [
        ("KQL_CLUSTER_TLS_CERT", node_cert.as_str()),
        ("KQL_CLUSTER_TLS_KEY", node_key.as_str()),
        ("KQL_CLUSTER_TLS_CA", authority.as_str()),
    ];
    let cluster = cluster_support::start_with("tls", &env, &[]).expect("start a cluster with TLS");
    let address = cluster.address();
    let table = format!("T={}", root().join("samples/data/NetworkSession.parquet").display());
    let run = |files: Option<(&str, &str, &str)>, query: &str| {
        let mut command = std::process::Command::new(kql_binary());
        command.args(["--cluster", &address, "--table", &table, "-c", query]).current_dir(root());
        for (name, _) in env {
            command.env_remove(name);
        }
        if let Some((cert, key, ca)) = files {
            command.env("KQL_CLUSTER_TLS_CERT", cert).env("KQL_CLUSTER_TLS_KEY", key).env("KQL_CLUSTER_TLS_CA", ca);
        }
        command.output().expect("run kql")
    };
    let member = Some((node_cert.as_str(), node_key.as_str(), authority.as_str()));

    let out = run(member, "T | where SrcIpAddr == '10.1.7.88' | count");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("│ 72    │"), "{}", stdout(&out));
    let out = run(member, "T | summarize count() by DstPortNumber | count");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("│ 12    │"), "{}", stdout(&out));

    let first_line = |out: &Output| stderr(out).lines().next().unwrap_or_default().to_string();
    let out = run(None, "T | count");
    assert!(!out.status.success());
    assert_eq!(
        first_line(&out),
        "error: the cluster closed the connection; if its nodes speak TLS, set KQL_CLUSTER_TLS_CERT, KQL_CLUSTER_TLS_KEY and KQL_CLUSTER_TLS_CA (PEM files) to a certificate of the cluster's authority"
    );
    let (stranger_cert, stranger_key) = (file("stranger.pem"), file("stranger.key"));
    let out = run(Some((&stranger_cert, &stranger_key, &authority)), "T | count");
    assert!(!out.status.success());
    assert_eq!(
        first_line(&out),
        "error: the cluster closed the TLS connection: its nodes accept only certificates the cluster's authority signed (is KQL_CLUSTER_TLS_CERT one?)"
    );
    let other_authority = file("other-ca.pem");
    let out = run(Some((&node_cert, &node_key, &other_authority)), "T | count");
    assert!(!out.status.success());
    assert_eq!(first_line(&out), "error: the cluster's certificate is not one KQL_CLUSTER_TLS_CA vouches for (UnknownIssuer)");
    let out = run(Some((&node_cert, "", &authority)), "T | count");
    assert_eq!(
        stderr(&out),
        "error: --cluster: KQL_CLUSTER_TLS_KEY is not set: TLS needs KQL_CLUSTER_TLS_CERT, KQL_CLUSTER_TLS_KEY and KQL_CLUSTER_TLS_CA (PEM files)\n"
    );
    drop(cluster);
}

/// Rows that multiply from stage to stage (40 `lookup`s that each double them) fail once a
/// task has written more than its executor's `--max-task-output`, with the limit named,
/// instead of writing shuffle files until the disk is full (by default the limit is a quarter
/// of the free disk of the executor's work folder; `fuzz_findings.slt`'s copy of this query
/// stays off the shared cluster, where that takes minutes).
#[test]
fn a_task_that_outputs_more_than_its_executor_allows_fails_naming_the_limit() {
    let budget = ["--max-task-output".to_string(), "2M".to_string()];
    let cluster = cluster_support::start_with_roles("budget", &[], &[], &budget).expect("start a cluster");
    let query = format!(
        "let L = datatable(k:string, a:long)[\"x\", 1, \"y\", 2];\nlet R = datatable(k:string)[\"x\", \"x\"];\nL{}",
        " | lookup R on k".repeat(40)
    );
    let out = support::kql_within(&["--cluster", &cluster.address(), "-c", &query], std::time::Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let first = stderr(&out).lines().next().unwrap_or_default().to_string();
    assert_eq!(
        first,
        "error: a task of this query wrote more than 2 MB for the next stage, over its executor's --max-task-output (a quarter of the free disk of its --work-dir unless set): on a cluster each stage writes all its rows before the next reads them, so rows that multiply from stage to stage (joins or lookups that each multiply them) are not stopped by the result limit"
    );
    drop(cluster);
}

/// When every executor dies in the middle of a job (killed, their machines gone), the query
/// fails with a clear error within about a minute (no heartbeat for 30 s, then 10 s for
/// another executor to come), instead of waiting for ever.
#[test]
fn a_query_whose_executors_die_fails_with_a_clear_error() {
    let mut cluster = cluster_support::start_with("lost", &[("RUST_LOG", "info")], &[]).expect("start a cluster");
    // A hundred million strings counted: the executors are still at it when they are killed.
    let query = "range x from 1 to 100000000 step 1 | summarize dcount(strcat('host-', x))";
    let address = cluster.address();
    let client =
        std::thread::spawn(move || support::kql_within(&["--cluster", &address, "-c", query], std::time::Duration::from_secs(150)));
    let started = std::time::Instant::now();
    let running = || ["executor1", "executor2"].iter().any(|node| cluster.log(node).contains("Execute task"));
    while !running() {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "no executor started the job:\n{}", cluster.log("scheduler"));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    cluster.kill_executors();
    let out = client.join().expect("the client's thread");
    assert!(!out.status.success(), "{}", stdout(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "error: all executors were lost and no executor re-registered within 10s; no executors remain to run the tasks for this job\n --> query:1:1\n  |\n1 | {query}\n  | {}\n  |\n",
            "^".repeat(query.len())
        )
    );
}

/// DataFusion's settings can be set in the environment, as its own CLI reads them; `--threads`
/// still wins, and a value DataFusion refuses is an error naming the variable.
#[test]
fn datafusion_settings_come_from_the_environment() {
    let run = |threads: Option<&str>, value: &str| {
        let mut args =
            vec!["--table", "N=samples/data/NetworkSession.parquet", "--explain", "plan", "-c", "N | summarize count() by SrcIpAddr"];
        if let Some(n) = threads {
            args.extend(["--threads", n]);
        }
        Command::new(kql_binary())
            .args(&args)
            .env("DATAFUSION_EXECUTION_TARGET_PARTITIONS", value)
            .current_dir(root())
            .output()
            .expect("run kql")
    };
    let out = run(None, "3");
    assert!(stdout(&out).contains("partitioning=Hash([SrcIpAddr@0], 3)"), "{}", stdout(&out));
    let out = run(Some("5"), "3");
    assert!(stdout(&out).contains("partitioning=Hash([SrcIpAddr@0], 5)"), "{}", stdout(&out));
    let out = run(None, "many");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .starts_with("error: DATAFUSION_EXECUTION_TARGET_PARTITIONS=many: Error setting config datafusion.execution.target_partitions"),
        "{}",
        stderr(&out)
    );
}
