//! Seed queries and vocabulary: the query bodies of `tests/slt/**/*.slt`, the samples' hunts
//! (`.kql` files and the `query:` of rule YAML files), and the function and operator names the
//! README lists (between `<!-- functions:start -->` and its end marker).

use std::path::{Path, PathBuf};

pub struct Seeds {
    pub queries: Vec<String>,
    pub functions: Vec<String>,
    pub operators: Vec<String>,
}

pub fn load(root: &Path) -> Seeds {
    let mut queries = Vec::new();
    let mut slt = Vec::new();
    collect_files(&root.join("tests/slt"), "slt", &mut slt);
    slt.sort();
    for file in &slt {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        queries.extend(slt_bodies(&text));
    }
    let mut hunts = Vec::new();
    collect_files(&root.join("samples/hunts"), "kql", &mut hunts);
    collect_files(&root.join("samples/hunts"), "yaml", &mut hunts);
    hunts.sort();
    for file in &hunts {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        if file.extension().is_some_and(|e| e == "kql") {
            queries.push(text);
        } else if let Some(q) = yaml_query(&text) {
            queries.push(q);
        }
    }
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let functions = listed(&readme, "functions");
    let operators = listed(&readme, "operators");
    assert!(functions.len() > 100, "the README's function list was not found");
    Seeds { queries, functions, operators }
}

fn collect_files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// The lines after each `query`/`statement` header, up to `----` or a blank line.
pub fn slt_bodies(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.lines() {
        match current.as_mut() {
            None => {
                if line.starts_with("query") || line.starts_with("statement") {
                    current = Some(Vec::new());
                }
            }
            Some(body) => {
                if line.trim().is_empty() || line.starts_with("----") {
                    if !body.is_empty() {
                        out.push(body.join("\n"));
                    }
                    current = None;
                } else {
                    body.push(line);
                }
            }
        }
    }
    if let Some(body) = current.filter(|b| !b.is_empty()) {
        out.push(body.join("\n"));
    }
    out
}

/// The `query: |` block scalar of a rule YAML file (its indented lines).
fn yaml_query(text: &str) -> Option<String> {
    let mut lines = text.lines();
    lines.by_ref().find(|l| l.starts_with("query:"))?;
    let mut body = Vec::new();
    let mut indent = None;
    for line in lines {
        if line.trim().is_empty() {
            body.push(String::new());
            continue;
        }
        let this = line.len() - line.trim_start().len();
        if this == 0 {
            break;
        }
        let cut = *indent.get_or_insert(this);
        body.push(line.get(cut.min(this)..).unwrap_or("").to_string());
    }
    Some(body.join("\n").trim().to_string()).filter(|q| !q.is_empty())
}

/// The backticked names of the README's `<!-- NAME:start -->` block.
fn listed(readme: &str, block: &str) -> Vec<String> {
    let start = format!("<!-- {block}:start -->");
    let end = format!("<!-- {block}:end -->");
    let Some(from) = readme.find(&start) else { return Vec::new() };
    let Some(to) = readme[from..].find(&end) else { return Vec::new() };
    readme[from + start.len()..from + to].split('`').skip(1).step_by(2).map(str::to_string).collect()
}
