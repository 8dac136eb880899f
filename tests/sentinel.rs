//! Sentinel's own content, run as it ships: ASIM parser YAML files as functions, fuzzy unions
//! over parsers and tables that may not exist, watchlists, and `externaldata` over http(s) with
//! its cache. Each test runs the `kql` binary as a user would.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::{kql, scratch, stderr, stdout};

const PARSERS: &str = "tests/fixtures/parsers";

/// A folder of watchlists; `ASimDisabledParsers` disables nothing unless `disable_all`.
fn watchlists(name: &str, disable_all: bool) -> PathBuf {
    let dir = scratch(name);
    let rows = if disable_all { "SearchKey,SourceSpecificParser\nAny,\n" } else { "SearchKey,SourceSpecificParser\n" };
    std::fs::write(dir.join("ASimDisabledParsers.csv"), rows).expect("write watchlist");
    dir
}

#[test]
fn a_folder_of_parser_yaml_loads_as_functions_with_defaults_and_builtin_names() {
    let wl = watchlists("defaults", false);
    let wl = wl.to_str().expect("utf-8 path");
    // `Default: '*'` arrives from YAML as the bare text `*`: as a string default it is '*',
    // which the parser reads as "any result", so every row comes back.
    let all = kql(&["--functions", PARSERS, "--watchlists", wl, "--format", "csv", "-c", "_Im_TestSession | order by SrcIpAddr asc"]);
    assert!(all.status.success(), "{}", stderr(&all));
    assert_eq!(stdout(&all), "EventResult,DstPortNumber,SrcIpAddr\nSuccess,443,10.0.0.1\nFailure,8080,10.0.0.2\nSuccess,8080,10.0.0.3\n");
    // The ParserName and the EquivalentBuiltInParser are the same function; typed parameters
    // take named arguments.
    let some = kql(&[
        "--functions",
        PARSERS,
        "--watchlists",
        wl,
        "--format",
        "csv",
        "-c",
        "imTestSession(eventresult='Success', dstportnumber=8080)",
    ]);
    assert!(some.status.success(), "{}", stderr(&some));
    assert_eq!(stdout(&some), "EventResult,DstPortNumber,SrcIpAddr\nSuccess,8080,10.0.0.3\n");
    // A .kql file of `.create-or-alter function` commands with no ';' between them, calling
    // parsers from other files of the folder.
    let more = kql(&["--functions", PARSERS, "--watchlists", wl, "--format", "csv", "-c", "SuccessCount; PortsOf('Success')"]);
    assert!(more.status.success(), "{}", stderr(&more));
    assert_eq!(stdout(&more), "Count\n2\nset_DstPortNumber\n\"[443,8080]\"\n");
}

#[test]
fn fuzzy_union_leaves_out_a_missing_function_and_a_missing_table_with_a_warning() {
    let wl = watchlists("fuzzy", false);
    let out = kql(&["--functions", PARSERS, "--watchlists", wl.to_str().expect("utf-8"), "--format", "csv", "-c", "imTestSession | count"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Count\n3\n");
    assert_eq!(
        stderr(&out),
        "warning: union isfuzzy=true left out 2 of 3 legs, which do not resolve: no such function: vimTestSessionNotShipped; \
         reads no registered table: TableNobodyHas\n"
    );
    // When no leg resolves, it is an error, as in Kusto.
    let none = kql(&["-c", "union isfuzzy=true NoSuchTable, (noSuchFunction())"]);
    assert!(!none.status.success());
    assert!(
        stderr(&none).starts_with(
            "error: union isfuzzy=true: no leg resolves: no such function: noSuchFunction; reads no registered table: NoSuchTable\n --> query:1:1"
        ),
        "{}",
        stderr(&none)
    );
    // Without isfuzzy a missing leg is an error.
    let strict = kql(&["-c", "union (print a = 1), NoSuchTable"]);
    assert!(!strict.status.success());
    assert!(stderr(&strict).contains("unknown table or name 'NoSuchTable'"), "{}", stderr(&strict));
}

#[test]
fn the_disabled_parsers_watchlist_is_honoured() {
    let wl = watchlists("disabled", true);
    let out =
        kql(&["--functions", PARSERS, "--watchlists", wl.to_str().expect("utf-8"), "--format", "csv", "-c", "_Im_TestSession | count"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Count\n0\n");
}

#[test]
fn watchlists_have_sentinels_columns_and_a_missing_one_is_empty_with_a_warning() {
    let dir = scratch("watchlist");
    std::fs::write(dir.join("HighValueHosts.csv"), "Hostname,Owner\nDC01,it\nSQL02,\"db, team\"\n").expect("write watchlist");
    let wl = dir.to_str().expect("utf-8");
    let schema =
        kql(&["--watchlists", wl, "--format", "csv", "-c", "_GetWatchlist('HighValueHosts') | getschema | project ColumnName, ColumnType"]);
    assert!(schema.status.success(), "{}", stderr(&schema));
    assert_eq!(
        stdout(&schema),
        "ColumnName,ColumnType\n_DTItemId,string\nLastUpdatedTimeUTC,datetime\nSearchKey,string\nHostname,string\nOwner,string\nWatchlistItem,dynamic\n"
    );
    // The search key is the first column (the file has no SearchKey column); WatchlistItem is a
    // bag of the row; names match case-insensitively, as Sentinel's aliases do.
    let rows = kql(&[
        "--watchlists",
        wl,
        "--format",
        "csv",
        "-c",
        "_GetWatchlist('highvaluehosts') | project SearchKey, Owner, o = tostring(WatchlistItem.Owner) | order by SearchKey asc",
    ]);
    assert!(rows.status.success(), "{}", stderr(&rows));
    assert_eq!(stdout(&rows), "SearchKey,Owner,o\nDC01,it,it\nSQL02,\"db, team\",\"db, team\"\n");
    assert_eq!(stderr(&rows), "");
    let missing = kql(&["--watchlists", wl, "--format", "csv", "-c", "_GetWatchlist('Nope') | count"]);
    assert!(missing.status.success(), "{}", stderr(&missing));
    assert_eq!(stdout(&missing), "Count\n0\n");
    assert_eq!(stderr(&missing), format!("warning: watchlist 'Nope' is empty: no Nope.csv or Nope.jsonl in {wl}\n"));
}

#[test]
fn an_error_inside_a_parser_points_at_its_yaml_file() {
    let dir = scratch("located");
    let yaml = "ParserName: vimBroken\nParserParams:\n  - Name: n\n    Type: int\n    Default: 1\nParserQuery: |\n  let x = 1;\n  print a = n\n  | extend b = NoSuchColumn\n";
    std::fs::write(dir.join("vimBroken.yaml"), yaml).expect("write parser");
    let path = dir.join("vimBroken.yaml");
    let out = kql(&["--functions", path.to_str().expect("utf-8"), "-c", "vimBroken"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    // Line 9 of the YAML file, column 16: the block keeps its two-space indent in the file.
    assert!(err.starts_with("error: in function vimBroken: unknown column or name 'NoSuchColumn'"), "{err}");
    assert!(err.contains(&format!("--> {}:9:16", path.display())), "{err}");
    assert!(err.contains("9 |   | extend b = NoSuchColumn"), "{err}");
    assert!(err.ends_with("note: reached from the call at query:1:1\n"), "{err}");
}

#[test]
fn a_broken_yaml_file_in_a_folder_is_reported_and_the_rest_still_loads() {
    let dir = scratch("broken");
    std::fs::write(dir.join("good.yaml"), "ParserName: vimGood\nParserQuery: |\n  print ok = true\n").expect("write");
    std::fs::write(dir.join("bad.yaml"), "ParserName: [unclosed\n").expect("write");
    std::fs::write(dir.join("bad.kql"), "let f = () { print 1 };\nprint 2\n").expect("write");
    let out = kql(&["--functions", dir.to_str().expect("utf-8"), "--format", "csv", "-c", "vimGood"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "ok\ntrue\n");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("warning: skipped a functions file: {}: not a valid YAML file", dir.join("bad.yaml").display())),
        "{err}"
    );
    assert!(err.contains("a functions file holds only let statements, .create function and .create table commands"), "{err}");
    assert!(err.contains(&format!("--> {}:2:1", dir.join("bad.kql").display())), "{err}");
    // A YAML file named on its own that is no parser is an error, not a silent no-op.
    let rule = kql(&["--functions", "tests/fixtures/parsers/notes.yaml", "-c", "print 1"]);
    assert_eq!(rule.status.code(), Some(1));
    assert_eq!(stderr(&rule), "error: tests/fixtures/parsers/notes.yaml: not an ASIM parser (it has no ParserName and ParserQuery)\n");
    // A file named on its own is the user's to fix: an error, not a warning.
    let single = kql(&["--functions", dir.join("bad.yaml").to_str().expect("utf-8"), "-c", "print 1"]);
    assert!(!single.status.success());
    assert!(stderr(&single).contains("not a valid YAML file"), "{}", stderr(&single));
}

#[test]
fn check_plans_queries_over_parsers_and_says_where_functions_came_from() {
    let out = kql(&["check", "--functions", PARSERS, "tests/fixtures/parsers/more.kql"]);
    let text = stdout(&out);
    assert!(
        text.starts_with(
            "functions (6 from 3 files):\n  tests/fixtures/parsers/Source/vimTestSessionNative.yaml: vimTestSessionNative, _Im_TestSession_Native\n  \
             tests/fixtures/parsers/imTestSession.yaml: imTestSession, _Im_TestSession\n  tests/fixtures/parsers/more.kql: SuccessCount, PortsOf\n"
        ),
        "{text}"
    );
    let dir = scratch("check");
    std::fs::write(dir.join("hunt.kql"), "_Im_TestSession(eventresult='Failure') | summarize count() by DstPortNumber").expect("write");
    let ok = kql(&["check", "--functions", PARSERS, "--format", "jsonl", dir.join("hunt.kql").to_str().expect("utf-8")]);
    assert!(ok.status.success(), "{}", stdout(&ok));
    let verdict: serde_json::Value = serde_json::from_str(stdout(&ok).trim()).expect("one JSON line");
    assert_eq!(verdict["stage"], "plan");
    assert_eq!(verdict["ok"], true);
    assert_eq!(verdict["warnings"][0].as_str().map(|w| w.starts_with("watchlist 'ASimDisabledParsers' is empty")), Some(true));
}

/// A one-file HTTP server on 127.0.0.1 that counts the requests it answers.
fn serve(body: &'static str) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let url = format!("http://{}/feeds/iocs.csv?sig=abc", listener.local_addr().expect("address"));
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
            let mut line = String::new();
            // The request line and headers, up to the blank line.
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                if line == "\r\n" {
                    break;
                }
                line.clear();
            }
            counter.fetch_add(1, Ordering::SeqCst);
            let response =
                format!("HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (url, hits)
}

#[test]
fn externaldata_fetches_urls_only_when_allowed_and_caches_them() {
    let (url, hits) = serve("Ip,Note\n203.0.113.50,c2\n198.51.100.7,scanner\n");
    let cache = scratch("cache");
    let cache = cache.to_str().expect("utf-8");
    let query = format!("externaldata(Ip:string, Note:string) [@'{url}'] with (format='csv', ignoreFirstRecord=true) | order by Ip asc");
    // Refused by default: nothing is contacted.
    let refused = kql(&["--cache-dir", cache, "-c", &query]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains(&format!(
            "error: externaldata would read {url} from the network, which kql does not do unless told: pass --allow-network"
        )),
        "{}",
        stderr(&refused)
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    // --offline with an empty cache: a clear error, still nothing contacted.
    let cold = kql(&["--offline", "--cache-dir", cache, "-c", &query]);
    assert!(!cold.status.success());
    assert!(stderr(&cold).contains("is not in the cache"), "{}", stderr(&cold));
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    // Allowed: fetched once, and the rows are the file's.
    let fetched = kql(&["--allow-network", "--cache-dir", cache, "--format", "csv", "-c", &query]);
    assert!(fetched.status.success(), "{}", stderr(&fetched));
    assert_eq!(stdout(&fetched), "Ip,Note\n198.51.100.7,scanner\n203.0.113.50,c2\n");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // Offline now reads the cached copy without contacting the server.
    let offline = kql(&["--offline", "--cache-dir", cache, "--format", "csv", "-c", &query]);
    assert!(offline.status.success(), "{}", stderr(&offline));
    assert_eq!(stdout(&offline), stdout(&fetched));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // kql check plans it from the declared columns and fetches nothing.
    let dir = scratch("check-net");
    std::fs::write(dir.join("iocs.kql"), &query).expect("write");
    let check = kql(&["check", "--functions", PARSERS, dir.join("iocs.kql").to_str().expect("utf-8")]);
    assert!(check.status.success(), "{}", stdout(&check));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}
