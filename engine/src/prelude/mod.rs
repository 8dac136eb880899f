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

/// `.create table T (...)` in a functions file: the columns and KQL types table `T` is read
/// with, whatever its files say.
#[derive(Clone, Debug)]
pub struct TableDeclaration {
    pub name: String,
    pub columns: Vec<(String, kql_grammar::ast::TypeName)>,
    /// `.create-merge`: the files' other columns are kept after the declared ones.
    pub merge: bool,
    /// `path:line` of the command, for messages.
    pub location: String,
}

/// The definitions of a KQL functions text: `let` statements and `.create function` commands;
/// `set` and `declare` statements are ignored, a query is an error.
pub fn definitions(source: &Arc<FunctionSource>) -> Result<Vec<PreludeEntry>> {
    Ok(read_source(source)?.0)
}

/// The definitions of a KQL functions text and its table declarations (`.create table`).
pub fn read_source(source: &Arc<FunctionSource>) -> Result<(Vec<PreludeEntry>, Vec<TableDeclaration>)> {
    let script = kql_grammar::parse(&source.text).map_err(|e| KqlError::from(e).in_source(source.clone()))?;
    let mut out = Vec::new();
    let mut tables = Vec::new();
    for statement in script.statements {
        let stmt = match statement {
            Statement::Let(l) => l,
            Statement::CreateFunction { name, function, span } => LetStmt { name, value: LetValue::Function(function), span },
            Statement::CreateTable { name, columns, merge, span } => {
                let location = format!("{}:{}", source.name, source.line_of(span.start));
                let columns = columns.into_iter().map(|c| (c.name.name, c.ty)).collect();
                tables.push(TableDeclaration { name: name.name, columns, merge, location });
                continue;
            }
            Statement::Query(q) => {
                return Err(KqlError::at(
                    q.span,
                    "a functions file holds only let statements, .create function and .create table commands",
                )
                .in_source(source.clone()));
            }
            Statement::Set { .. } | Statement::DeclareParams { .. } => continue,
        };
        out.push(PreludeEntry { stmt, source: source.clone() });
    }
    Ok((out, tables))
}
