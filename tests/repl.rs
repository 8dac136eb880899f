//! The REPL driven through a pseudo-terminal, as a hunter uses it: dot-commands, a pasted
//! multi-line rule, Ctrl-C on a long query, and the session going on afterwards; and the
//! progress line that one-shot queries and hunts draw on a terminal.

#![cfg(unix)]

mod support;

use std::process::Command;

use rexpect::session::{PtySession, spawn_command};
use support::{kql_binary, root, scratch};

/// A REPL over the bundled samples, with its history kept out of the user's home.
fn repl() -> PtySession {
    repl_with(true)
}

fn repl_with(no_color: bool) -> PtySession {
    repl_with_args(no_color, &[])
}

fn repl_with_args(no_color: bool, extra: &[&str]) -> PtySession {
    let history = std::env::temp_dir().join(format!("kql-repl-history-{}", std::process::id()));
    let mut cmd = Command::new(kql_binary());
    cmd.args(["--data", "samples/data", "--now", "2024-05-03T00:00:00Z"])
        .args(extra)
        .current_dir(root())
        .env("KQL_HISTORY", history)
        .env("COLUMNS", "120");
    if no_color {
        cmd.env("NO_COLOR", "1");
    } else {
        cmd.env_remove("NO_COLOR");
    }
    let mut p = spawn_command(cmd, Some(30_000)).expect("start the REPL");
    p.exp_string("kql> ").expect("prompt");
    p
}

/// Types a line and waits until the line editor has taken it (it leaves bracketed-paste mode
/// then): keystrokes sent before it is ready again would be dropped.
fn type_line(p: &mut PtySession, line: &str) {
    p.send_line(line).expect("send a line");
    p.exp_string("\x1b[?2004l").expect("the line is accepted");
}

/// Types a command that prints nothing and waits for the next prompt.
fn quiet_command(p: &mut PtySession, line: &str) {
    type_line(p, line);
    p.exp_string("kql> ").expect("the next prompt");
}

/// A folder table is listed again at each query: a file added to the folder while the REPL
/// runs (the next hour a log shipper writes) is read by the next query.
#[test]
fn a_folder_table_reads_files_added_while_the_repl_runs() {
    let folder = support::scratch("repl-growing-folder").join("Event");
    std::fs::create_dir_all(&folder).expect("create the table's folder");
    std::fs::copy(root().join("samples/data/Event.parquet"), folder.join("hour-01.parquet")).expect("copy a file");
    let table = format!("Growing={}", folder.display());
    let mut p = repl_with_args(true, &["--table", &table]);
    quiet_command(&mut p, ".format csv");
    type_line(&mut p, "Growing | count");
    p.exp_string("Count\r\n3729\r\n").expect("the rows of the one file");
    p.exp_string("kql> ").expect("prompt");
    std::fs::copy(root().join("samples/data/Event.parquet"), folder.join("hour-02.parquet")).expect("copy a second file");
    type_line(&mut p, "Growing | count");
    p.exp_string("Count\r\n7458\r\n").expect("the rows of both files");
    p.exp_string("kql> ").expect("prompt");
    p.send_line(".quit").expect("send");
    p.exp_eof().expect("the REPL exits");
}

#[test]
fn dot_commands_show_schema_and_change_the_format() {
    let mut p = repl();
    type_line(&mut p, ".schema PowerShellScriptBlock_CL");
    p.exp_string("ScriptBlockText: string").expect("schema lists the column");
    p.exp_string("MessageTotal: int").expect("schema lists the last column");
    p.exp_string("kql> ").expect("prompt");
    quiet_command(&mut p, ".format csv");
    type_line(&mut p, "print x = now()");
    p.exp_string("x\r\n2024-05-03T00:00:00Z").expect("csv result with the fixed now()");
    p.exp_string("1 row in").expect("row count and time");
    p.exp_string("kql> ").expect("prompt");
    type_line(&mut p, ".nonsense");
    p.exp_string("unknown command .nonsense: try .help").expect("unknown command is reported");
    p.exp_string("kql> ").expect("prompt");
    p.send_line(".quit").expect("send");
    p.exp_eof().expect("the REPL exits");
}

/// A rule pasted whole (bracketed paste, as terminals send it): lines starting with `|`, a
/// comment and a blank line arrive as one query and run once.
#[test]
fn a_pasted_multi_line_rule_runs_whole() {
    let mut p = repl();
    quiet_command(&mut p, ".format csv");
    let rule = "SecurityEvent\r// WFP connections only\r\r| where EventID in (5156, 5157)\r| summarize Connections = count() by EventID\r| sort by EventID asc";
    p.send(&format!("\x1b[200~{rule}\x1b[201~")).expect("paste");
    p.send_line("").expect("enter");
    // The sample SecurityEvent's 5156 (permitted) and 5157 (blocked) audits: background and the
    // planted beacons (samples/src/sentinel.rs); a partial run would count other events too.
    p.exp_string("EventID,Connections\r\n5156,4485\r\n5157,611").expect("the whole rule ran");
    p.send_line(".quit").expect("send");
    p.exp_eof().expect("the REPL exits");
}

#[test]
fn ctrl_c_cancels_a_long_query_and_the_session_goes_on() {
    let mut p = repl();
    // Long enough in any build: 99M rows, each hashed as a string.
    type_line(&mut p, "range x from 1 to 99000000 step 1 | summarize dcount(tostring(x))");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    p.send_control('c').expect("Ctrl-C");
    p.exp_string("query cancelled").expect("the query is cancelled");
    p.exp_string("kql> ").expect("prompt again");
    quiet_command(&mut p, ".format csv");
    type_line(&mut p, "print y = 41 + 1");
    p.exp_string("y\r\n42").expect("the session still runs queries");
    p.send_line(".quit").expect("send");
    p.exp_eof().expect("the REPL exits");
}

/// `evaluate pivot` reads the data before its plan is made (its columns are the pivoted
/// values): a data step, which the progress line names, and which Ctrl-C stops within a second.
#[test]
fn ctrl_c_cancels_a_pivot_while_it_reads_its_columns() {
    let mut p = repl();
    type_line(&mut p, "range x from 1 to 99000000 step 1 | extend k = tostring(x % 5) | evaluate pivot(k)");
    p.exp_string("reading the plugin's columns").expect("the progress line names the data step");
    let asked = std::time::Instant::now();
    p.send_control('c').expect("Ctrl-C");
    p.exp_string("query cancelled").expect("the pivot is cancelled");
    let waited = asked.elapsed();
    assert!(waited < std::time::Duration::from_secs(1), "cancelled after {waited:?}");
    p.exp_string("kql> ").expect("prompt again");
    quiet_command(&mut p, ".format csv");
    type_line(&mut p, "datatable(k:string, v:long)['a', 1, 'b', 2, 'a', 3] | evaluate pivot(k, sum(v))");
    p.exp_string("a,b\r\n4,2").expect("the session still pivots");
    p.send_line(".quit").expect("send");
    p.exp_eof().expect("the REPL exits");
}

/// `.help NAME` prints the catalog's signature and doc of a function.
#[test]
fn help_names_a_function_s_parameters() {
    let mut p = repl();
    p.send_line(".help substring").expect("send");
    p.exp_string("substring(source: string, starting_index: long [, length: long]) -> string (scalar function)").expect("the signature");
    p.send_line(".help nosuch").expect("send");
    p.exp_string("no function nosuch").expect("an unknown name says so");
    p.send_line(".quit").expect("send");
    p.exp_eof().expect("the REPL exits");
}

/// Tab completes a column of the table the query reads.
#[test]
fn tab_completes_a_column_name() {
    let mut p = repl();
    quiet_command(&mut p, ".format csv");
    // Keystrokes are echoed one redraw at a time, so the proof is the query's result: without
    // the completion `DstPortN` would be an unknown column.
    let pause = || std::thread::sleep(std::time::Duration::from_millis(300));
    p.send("NetworkSession | where DstPortN").expect("type");
    pause();
    p.send("\t").expect("Tab");
    pause();
    p.send_line(" == 8443 | count").expect("finish the query");
    p.exp_string("Count\r\n72").expect("the completed query runs");
    p.send_line(".quit").expect("send");
    p.exp_eof().expect("the REPL exits");
}

/// On a terminal an error shows the query line and a caret, in colour; NO_COLOR turns it off.
#[test]
fn errors_point_at_the_query_in_colour() {
    let mut p = repl_with(false);
    type_line(&mut p, "SecurityEvent | where Nope == 1");
    p.exp_string("\x1b[1m\x1b[91merror\x1b[0m: \x1b[1munknown column or name 'Nope'").expect("a red, bold error");
    p.exp_string("SecurityEvent | where Nope == 1").expect("the query line");
    p.exp_string("\x1b[1m\x1b[91m^^^^").expect("a red caret under the name");
    p.send_line(".quit").expect("send");
    p.exp_eof().expect("the REPL exits");

    let mut p = repl();
    type_line(&mut p, "SecurityEvent | where Nope == 1");
    p.exp_string("error: unknown column or name 'Nope'").expect("a plain error with NO_COLOR");
    p.exp_string("                      ^^^^").expect("the caret under the name");
    p.send_line(".quit").expect("send");
    p.exp_eof().expect("the REPL exits");
}

#[test]
fn functions_and_watchlists_say_where_they_come_from() {
    let mut p = repl_with_args(true, &["--functions", "tests/fixtures/parsers", "--watchlists", "samples/watchlists"]);
    type_line(&mut p, ".functions");
    p.exp_string("vimTestSessionNative(eventresult:string = \"*\", dstportnumber:int = int(null), disabled:bool = false)\ttests/fixtures/parsers/Source/vimTestSessionNative.yaml:4")
        .expect("a parser's signature and the line of its ParserName");
    p.exp_string("SuccessCount()\ttests/fixtures/parsers/more.kql:2").expect("a .kql function and its line");
    p.exp_string("kql> ").expect("prompt");
    type_line(&mut p, ".watchlists");
    p.exp_string("ASimDisabledParsers\tsamples/watchlists/ASimDisabledParsers.csv").expect("the watchlist and its file");
    p.exp_string("kql> ").expect("prompt");
    quiet_command(&mut p, ".set network=on");
    type_line(&mut p, ".set network=sometimes");
    p.exp_string("usage: .set network=on|off|offline").expect("usage");
    p.exp_string("kql> ").expect("prompt");
}

/// Block mode types as hunters do in Sentinel, the pipe at the start of each next line: Enter
/// adds a line and a blank line runs the whole query. `.set block=off` goes back to running a
/// complete line at once, where Alt-Enter still adds a line.
#[test]
fn block_mode_runs_a_query_typed_line_by_line_on_a_blank_line() {
    let mut p = repl_with_args(true, &["--block"]);
    quiet_command(&mut p, ".format csv");
    let pause = || std::thread::sleep(std::time::Duration::from_millis(200));
    for line in
        ["SecurityEvent", "| where EventID in (5156, 5157)", "| summarize Connections = count() by EventID", "| sort by EventID asc"]
    {
        p.send_line(line).expect("type a line");
        pause();
    }
    p.send_line("").expect("blank line");
    // A run of the first line alone would print SecurityEvent's own columns instead.
    p.exp_string("EventID,Connections\r\n5156,4485\r\n5157,611").expect("the whole query ran");
    p.exp_string("kql> ").expect("prompt");
    // A `;` that closes a query runs it too; one that closes a `let` waits for the query.
    p.send_line("let n = 40;").expect("let");
    pause();
    p.send_line("print y = n + 2;").expect("query");
    p.exp_string("y\r\n42").expect("the let and the query ran together");
    p.exp_string("kql> ").expect("prompt");
    quiet_command(&mut p, ".set block=off");
    p.send("print a = 1\x1b\r").expect("Alt-Enter");
    pause();
    p.send_line("| extend b = 2").expect("second line");
    p.exp_string("a,b\r\n1,2").expect("Alt-Enter added a line to the query");
    p.exp_string("kql> ").expect("prompt");
    p.send_line(".quit").expect("send");
    p.exp_eof().expect("the REPL exits");
}

/// Long enough in any build to show the progress line (drawn after a second): 99M rows, each
/// hashed as a string.
const LONG_QUERY: &str = "range x from 1 to 99000000 step 1 | summarize dcount(tostring(x))";

/// `kql ARGS` on a pseudo-terminal (its stdout and stderr both the terminal).
fn on_terminal(args: &[&str]) -> PtySession {
    let mut cmd = Command::new(kql_binary());
    cmd.args(args).current_dir(root()).env("NO_COLOR", "1").env("COLUMNS", "120");
    spawn_command(cmd, Some(30_000)).expect("start kql")
}

/// A one-shot query writing its rows to a file shows on the terminal how many rows it has
/// scanned, and the count grows; Ctrl-C ends it without leaving the file.
#[test]
fn a_long_one_shot_query_shows_what_it_has_scanned() {
    let out = scratch("progress-one-shot").join("rows.csv");
    let mut p = on_terminal(&["-c", LONG_QUERY, "--format", "csv", "--output", out.to_str().expect("a UTF-8 path")]);
    // The first drawings may come before the first batch; the count then grows.
    let scanned = (0..50)
        .map(|_| p.exp_regex(r"[0-9][0-9,]* rows read").expect("the progress line").1)
        .map(|line| line.split(' ').next().unwrap_or_default().replace(',', "").parse::<u64>().expect("a count"))
        .find(|&rows| rows > 0);
    assert!(scanned.is_some(), "the line counts the rows read");
    p.send_control('c').expect("Ctrl-C");
    p.exp_eof().expect("kql exits");
    assert!(!out.exists(), "no cut-off result file");
}

/// A quick query prints its table and no progress line at all.
#[test]
fn a_quick_one_shot_query_prints_no_progress_line() {
    let mut p = on_terminal(&["-c", "print y = 41 + 1"]);
    let (before, _) = p.exp_eof().map(|all| (all, ())).expect("kql exits");
    assert!(before.contains("42"), "the table: {before:?}");
    assert!(!before.contains("scanned"), "no progress line: {before:?}");
}

/// `kql hunt` on a terminal says how many hunts are done and what the running one has
/// scanned.
#[test]
fn a_hunt_run_shows_how_many_hunts_are_done() {
    let dir = scratch("progress-hunt");
    std::fs::write(dir.join("quick.kql"), "print n = 1").expect("write a hunt");
    std::fs::write(dir.join("long.kql"), LONG_QUERY).expect("write a hunt");
    let mut p = on_terminal(&["hunt", dir.to_str().expect("a UTF-8 path")]);
    p.exp_regex(r"[0-2] of 2 hunts done; long: [0-9][0-9,]* rows read").expect("the progress line");
    p.send_control('c').expect("Ctrl-C");
    p.exp_eof().expect("kql exits");
}

/// A quick look at event logs (`--table Event=DIR/*.evtx`, `.load` too) imports them first,
/// and says on the terminal how many events it has read. 40 copies of the Sysmon sample log
/// (about 15,000 events) take long enough in any build to show the line (drawn after a second).
#[test]
fn a_quick_look_at_event_logs_shows_the_events_it_has_imported() {
    let dir = scratch("progress-evtx");
    let sample = root().join("tests/fixtures/evtx/sysmon.evtx");
    for i in 0..40 {
        std::fs::copy(&sample, dir.join(format!("host{i:02}.evtx"))).expect("copy the sample log");
    }
    let table = format!("Event={}/*.evtx", dir.display());
    let mut p = on_terminal(&["--table", &table, "--format", "csv", "-c", "Event | count"]);
    p.exp_regex(r"importing .*/\*\.evtx: [0-9][0-9,]* events").expect("the progress line");
    p.exp_regex(r"Count\r\n[0-9]+").expect("the count, after the import");
    p.exp_eof().expect("kql exits");
    std::fs::remove_dir_all(&dir).ok();
}
