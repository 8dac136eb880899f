//! The function prelude: definitions every query can call, loaded from `.kql` files (`let`
//! statements, `.create function` commands) and from ASIM parser YAML files, as Sentinel ships
//! them. Each definition remembers its source, so an error inside it points at its own file.

mod asim_yaml;
mod files;
mod source;

use std::sync::Arc;

use kql_grammar::ast::{LetStmt, LetValue, Statement};

pub use asim_yaml::AsimParser;
pub use files::{LoadReport, function_files, load_path};
pub use source::FunctionSource;

use crate::error::{KqlError, Result};

/// One definition of the prelude and the text it came from.
#[derive(Clone, Debug)]
pub struct PreludeEntry {
    pub stmt: LetStmt,
    pub source: Arc<FunctionSource>,
}

impl PreludeEntry {
    pub fn name(&self) -> &str {
        &self.stmt.name.name
    }

    /// `name(a:string, b:int=1)`, for listings.
    pub fn signature(&self) -> String {
        match &self.stmt.value {
            LetValue::Function(f) => {
                let params: Vec<String> = f.params.iter().map(|p| p.to_string()).collect();
                format!("{}({})", self.name(), params.join(", "))
            }
            LetValue::Expr(_) => self.name().to_string(),
        }
    }

    /// `path:line` of the definition.
    pub fn location(&self) -> String {
        let line = self.source.line_of(self.stmt.span.start);
        format!("{}:{line}", self.source.name)
    }
}

/// The definitions of a KQL functions text: `let` statements and `.create function` commands;
/// `set` and `declare` statements are ignored, a query is an error.
pub fn definitions(source: &Arc<FunctionSource>) -> Result<Vec<PreludeEntry>> {
    let script = kql_grammar::parse(&source.text).map_err(|e| KqlError::from(e).in_source(source.clone()))?;
    let mut out = Vec::new();
    for statement in script.statements {
        let stmt = match statement {
            Statement::Let(l) => l,
            Statement::CreateFunction { name, function, span } => LetStmt { name, value: LetValue::Function(function), span },
            Statement::Query(q) => {
                return Err(KqlError::at(q.span, "a functions file holds only let statements and .create function commands")
                    .in_source(source.clone()));
            }
            Statement::Set { .. } | Statement::DeclareParams { .. } => continue,
        };
        out.push(PreludeEntry { stmt, source: source.clone() });
    }
    Ok(out)
}
