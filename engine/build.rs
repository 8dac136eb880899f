//! Names the build (`kql_engine::BUILD_ID`): the cluster checks that every node and client run
//! the same kql (`kql-cluster`), and `--text-cache` copies are read only by the build that
//! wrote them. The package version, and the commit when built from a git checkout.

use std::path::Path;
use std::process::Command;

fn main() {
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let id = if commit.is_empty() { version } else { format!("{version}+{commit}") };
    println!("cargo:rustc-env=KQL_BUILD_ID={id}");
    // Named again when the checkout moves to another commit; a path that does not exist would
    // make cargo run this script on every build, so only those that do are named.
    println!("cargo:rerun-if-changed=build.rs");
    for watched in ["../.git/HEAD", "../.git/refs/heads", "../.git/packed-refs"] {
        if Path::new(watched).exists() {
            println!("cargo:rerun-if-changed={watched}");
        }
    }
}
