//! Saved hunts: `.kql` files, and YAML files in Sentinel's analytic-rule / hunting-query shape
//! (a mapping with `query`, `name`, `id`, `severity`, ...), or packs of them (a sequence of such
//! mappings, or several YAML documents in one file).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value as Json};
use serde_norway::Value as Yaml;

/// The rule metadata a hunt's summary carries, as Sentinel's YAML names it.
const METADATA_KEYS: [&str; 6] = ["id", "name", "severity", "tactics", "relevantTechniques", "queryPeriod"];

/// One query to run, with where it came from.
#[derive(Debug)]
pub struct Hunt {
    /// A name unique among the hunts of one run; results are written to `<name>.<ext>`.
    pub name: String,
    pub file: PathBuf,
    /// The KQL text, or `Err` with why the file could not give one.
    pub query: Result<String, String>,
    /// `id`, `name`, `severity`, ... from the YAML; empty for `.kql` files.
    pub metadata: Map<String, Json>,
}

impl Hunt {
    /// How errors name the query: the file, and the rule's name inside a pack.
    pub fn origin(&self) -> String {
        match self.metadata.get("name").and_then(Json::as_str) {
            Some(rule) if is_yaml(&self.file) => format!("{} ({rule})", self.file.display()),
            _ => self.file.display().to_string(),
        }
    }
}

pub fn is_query_file(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "kql" || e == "csl" || e == "kusto")
}

pub fn is_yaml(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "yaml" || e == "yml")
}

/// The hunt files under `path` (itself when it is a file), in name order.
pub fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for e in entries {
            if e.is_dir() || is_query_file(&e) || is_yaml(&e) {
                collect_files(&e, out)?;
            }
        }
        Ok(())
    } else if path.exists() {
        out.push(path.to_path_buf());
        Ok(())
    } else {
        Err(std::io::Error::new(std::io::ErrorKind::NotFound, format!("{}: no such file or directory", path.display())))
    }
}

/// Every hunt under `paths`. A file that cannot be read or parsed becomes one hunt whose query
/// is the error, so that it is reported beside the others rather than stopping the run.
pub fn load(paths: &[PathBuf]) -> std::io::Result<Vec<Hunt>> {
    let mut files = Vec::new();
    for p in paths {
        collect_files(p, &mut files)?;
    }
    let mut hunts = Vec::new();
    for file in files {
        let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "hunt".into());
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                hunts.push(Hunt { name: stem, file, query: Err(format!("cannot read the file: {e}")), metadata: Map::new() });
                continue;
            }
        };
        if !is_yaml(&file) {
            hunts.push(Hunt { name: stem, file, query: Ok(text), metadata: Map::new() });
            continue;
        }
        match yaml_rules(&text) {
            Err(e) => hunts.push(Hunt { name: stem, file, query: Err(e), metadata: Map::new() }),
            Ok(rules) if rules.len() == 1 => {
                let (query, metadata) = rules.into_iter().next().expect("one rule");
                hunts.push(Hunt { name: stem, file, query, metadata });
            }
            Ok(rules) => {
                for (i, (query, metadata)) in rules.into_iter().enumerate() {
                    let label = metadata.get("name").or_else(|| metadata.get("id")).and_then(Json::as_str).map(slug);
                    let name = format!("{stem}-{}", label.unwrap_or_else(|| (i + 1).to_string()));
                    hunts.push(Hunt { name, file: file.clone(), query, metadata });
                }
            }
        }
    }
    make_names_unique(&mut hunts);
    Ok(hunts)
}

type Rule = (Result<String, String>, Map<String, Json>);

/// The rules of one YAML file: each document is a rule or a sequence of rules.
fn yaml_rules(text: &str) -> Result<Vec<Rule>, String> {
    let mut rules = Vec::new();
    for document in serde_norway::Deserializer::from_str(text) {
        let value = Yaml::deserialize(document).map_err(|e| format!("not valid YAML: {e}"))?;
        match value {
            Yaml::Null => {}
            Yaml::Sequence(items) => rules.extend(items.iter().map(rule)),
            other => rules.push(rule(&other)),
        }
    }
    if rules.is_empty() {
        return Err("the YAML file holds no rule (a mapping with a `query`)".into());
    }
    Ok(rules)
}

fn rule(value: &Yaml) -> Rule {
    let mut metadata = Map::new();
    for key in METADATA_KEYS {
        if let Some(v) = value.get(key) {
            metadata.insert(key.into(), yaml_to_json(v));
        }
    }
    let query = match value.get("query") {
        Some(Yaml::String(q)) => Ok(q.clone()),
        Some(_) => Err("the rule's `query` is not a string".into()),
        None => Err("the rule has no `query`".into()),
    };
    (query, metadata)
}

fn yaml_to_json(v: &Yaml) -> Json {
    match v {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => Json::Bool(*b),
        Yaml::Number(n) => n.as_i64().map(Json::from).or_else(|| n.as_f64().map(Json::from)).unwrap_or(Json::Null),
        Yaml::String(s) => Json::String(s.clone()),
        Yaml::Sequence(items) => Json::Array(items.iter().map(yaml_to_json).collect()),
        Yaml::Mapping(m) => Json::Object(
            m.iter().map(|(k, v)| (k.as_str().map(str::to_owned).unwrap_or_else(|| format!("{k:?}")), yaml_to_json(v))).collect(),
        ),
        Yaml::Tagged(t) => yaml_to_json(&t.value),
    }
}

/// A file-name-safe form of a rule name: lower case words joined by `_`.
fn slug(text: &str) -> String {
    let words: Vec<String> =
        text.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_ascii_lowercase).collect();
    if words.is_empty() { "rule".into() } else { words.join("_") }
}

/// Two hunts with one name (`a.kql` and `a.yaml`) would overwrite each other's results.
fn make_names_unique(hunts: &mut [Hunt]) {
    let mut seen = std::collections::HashSet::new();
    for h in hunts.iter_mut() {
        let mut name = h.name.clone();
        let mut n = 2;
        while !seen.insert(name.clone()) {
            name = format!("{}-{n}", h.name);
            n += 1;
        }
        h.name = name;
    }
}
