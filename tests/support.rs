//! What the end-to-end tests share: the project root and the `kql` binary of this build.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `kql` binary of this build, built first if the test run has not built it.
pub fn kql_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>");
    let bin = profile_dir.join(if cfg!(windows) { "kql.exe" } else { "kql" });
    static BUILD: std::sync::Once = std::sync::Once::new();
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "-p", "kql-repl", "--bin", "kql"]).current_dir(root());
        // Cargo sets these for the test process; build scripts that watch them (ring's watches
        // CARGO_MANIFEST_DIR) would otherwise see a change and rebuild, and the next `cargo
        // test` rebuild again without them.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            if key == "OUT_DIR"
                || key == "CARGO_MANIFEST_DIR"
                || key == "CARGO_MANIFEST_PATH"
                || key == "CARGO_CRATE_NAME"
                || key == "CARGO_PRIMARY_PACKAGE"
                || key == "CARGO_TARGET_TMPDIR"
                || key == "CARGO_RUSTC_CURRENT_DIR"
                || key.starts_with("CARGO_PKG_")
                || key.starts_with("CARGO_BIN_")
            {
                cmd.env_remove(key);
            }
        }
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building kql failed");
    });
    bin
}

/// Runs `kql` from the project root with no input, as a user would.
#[allow(dead_code)]
pub fn kql(args: &[&str]) -> std::process::Output {
    Command::new(kql_binary()).args(args).current_dir(root()).stdin(std::process::Stdio::null()).output().expect("run kql")
}

/// `kql`, killed (and the test failed) if it runs longer than `limit`: for runs that talk to
/// other processes (a cluster), where a hang must fail the test, not stall CI.
#[allow(dead_code)]
pub fn kql_within(args: &[&str], limit: std::time::Duration) -> std::process::Output {
    let child = Command::new(kql_binary())
        .args(args)
        .current_dir(root())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run kql");
    let pid = child.id();
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match wait.recv_timeout(limit) {
        Ok(output) => output.expect("wait for kql"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("kql {args:?} ran longer than {} s and was killed", limit.as_secs());
        }
    }
}

#[allow(dead_code)]
pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[allow(dead_code)]
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh, empty folder for one test.
#[allow(dead_code)]
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kql-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch folder");
    dir
}
