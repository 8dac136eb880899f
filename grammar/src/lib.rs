//! KQL grammar: text → typed, spanned AST, and AST → KQL text.
//!
//! `parse` is the one entry point. It knows nothing of any engine: the planner consumes the
//! AST, never pest's pairs.

pub mod ast;
mod error;
mod parser;
pub use parser::quote_string;
pub mod values;

pub use error::ParseError;
pub use parser::parse;
