//! pest pairs → AST. Nothing outside this module sees a `Pair`.

mod depth;
mod expr;
mod literal;
pub use literal::quote_string;
mod operator;

use pest::Parser;
use pest::iterators::Pair;
use pest_derive::Parser;

use crate::ast::{Ident, Script, Span};
use crate::error::ParseError;

#[derive(Parser)]
#[grammar = "kql.pest"]
pub(crate) struct KqlParser;

pub(crate) type Result<T> = std::result::Result<T, ParseError>;

/// Parses a whole query text (statements separated by `;`).
pub fn parse(text: &str) -> std::result::Result<Script, ParseError> {
    // pest recurses a few dozen frames per bracket level: a deeply nested query is parsed on a
    // thread with room for it, whatever stack the caller has.
    if depth::check_nesting(text)? > SHALLOW {
        let parsed = std::thread::scope(|scope| {
            std::thread::Builder::new().stack_size(PARSER_STACK).spawn_scoped(scope, || parse_text(text)).map(|handle| handle.join())
        });
        return match parsed {
            Ok(Ok(result)) => result,
            _ => Err(ParseError::new("the query could not be parsed: no thread to parse it on", 0, 0)),
        };
    }
    parse_text(text)
}

/// Nesting that any thread's stack parses.
const SHALLOW: usize = 16;
/// The stack for deeper queries (reserved, not committed, until used).
const PARSER_STACK: usize = 256 << 20;

fn parse_text(text: &str) -> std::result::Result<Script, ParseError> {
    let mut pairs = KqlParser::parse(Rule::script, text).map_err(|e| syntax_error(text, e))?;
    let script = pairs.next().ok_or_else(|| ParseError::new("empty query", 0, 0))?;
    operator::build_script(script)
}

pub(crate) fn span_of(pair: &Pair<Rule>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), s.end())
}

pub(crate) fn ident(pair: Pair<Rule>) -> Ident {
    let span = span_of(&pair);
    let name = match pair.as_rule() {
        Rule::bracket_name => match pair.into_inner().next() {
            Some(inner) => literal::string_value(inner.as_str()),
            None => String::new(),
        },
        _ => pair.as_str().to_string(),
    };
    Ident { name, span }
}

/// Turns pest's error into one a hunter can read: where, and what was expected there.
fn syntax_error(text: &str, err: pest::error::Error<Rule>) -> ParseError {
    use pest::error::{ErrorVariant, InputLocation};
    let pos = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    // A query cut short ends in whitespace (a file's last newline): point at where the text
    // stops, not at the line after it.
    let pos = if text[pos.min(text.len())..].trim().is_empty() { pos.min(text.trim_end().len()) } else { pos };
    let found = token_at(text, pos).trim();
    let expected = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut words: Vec<&str> = positives.iter().filter_map(|r| rule_word(*r)).collect();
            words.sort();
            words.dedup();
            // A name or a typed literal is an expression too: say the general word only.
            if words.contains(&"an expression") {
                words.retain(|w| *w != "a name" && *w != "a type name");
            }
            words
        }
        ErrorVariant::CustomError { .. } => vec![],
    };
    let at_end = text[pos.min(text.len())..].trim().is_empty();
    let found_text = match found.chars().next() {
        None => "end of query".to_string(),
        _ if at_end => "end of query".to_string(),
        Some(c) if c.is_whitespace() || c.is_control() => format!("character U+{:04X}", c as u32),
        Some(_) => format!("'{found}'"),
    };
    let message = if expected.is_empty() {
        format!("syntax error: unexpected {found_text}")
    } else {
        format!("syntax error: unexpected {found_text}, expected {}", join_words(&expected))
    };
    ParseError::new(message, pos, pos + found.len())
}

fn join_words(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

/// The word (or punctuation) starting at `pos`, to quote in an error.
fn token_at(text: &str, pos: usize) -> &str {
    let rest = text.get(pos..).unwrap_or("");
    let word_len: usize = rest.char_indices().take_while(|(_, c)| c.is_alphanumeric() || *c == '_').map(|(_, c)| c.len_utf8()).sum();
    if word_len > 0 {
        return &rest[..word_len];
    }
    match rest.chars().next() {
        Some(c) => &rest[..c.len_utf8()],
        None => "",
    }
}

/// Grammar rule names → words for error messages; `None` hides a rule.
fn rule_word(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::expr | Rule::pipe_expr | Rule::call | Rule::paren | Rule::star => "an expression",
        Rule::ident | Rule::bracket_name => "a name",
        Rule::literal_signed
        | Rule::long_lit
        | Rule::real_lit
        | Rule::string_lit
        | Rule::string_concat
        | Rule::bool_lit
        | Rule::timespan_lit
        | Rule::datetime_lit
        | Rule::dynamic_lit
        | Rule::typed_lit
        | Rule::typed_null
        | Rule::timespan_fn_lit => "an expression",
        Rule::type_name | Rule::param_type => "a type name",
        Rule::EOI => "end of query",
        Rule::let_stmt | Rule::kw_let => "let",
        Rule::sort_key => "a sort key",
        Rule::named_expr => "an expression",
        Rule::column_pattern => "a column name",
        Rule::op_where
        | Rule::op_project
        | Rule::op_project_away
        | Rule::op_project_keep
        | Rule::op_project_rename
        | Rule::op_project_reorder
        | Rule::op_extend
        | Rule::op_summarize
        | Rule::op_sort
        | Rule::op_serialize
        | Rule::op_take
        | Rule::op_top
        | Rule::op_count
        | Rule::op_distinct
        | Rule::op_getschema
        | Rule::op_as
        | Rule::op_unsupported => "an operator",
        Rule::op_or
        | Rule::op_and
        | Rule::op_eq
        | Rule::op_neq
        | Rule::op_eq_ci
        | Rule::op_neq_ci
        | Rule::op_le
        | Rule::op_ge
        | Rule::op_lt
        | Rule::op_gt
        | Rule::op_add
        | Rule::op_sub
        | Rule::op_mul
        | Rule::op_div
        | Rule::op_mod
        | Rule::string_op
        | Rule::in_list
        | Rule::between
        | Rule::member
        | Rule::index
        | Rule::has_any_op
        | Rule::dot_index
        | Rule::keyword_member => return None,
        Rule::kw_by => "'by'",
        Rule::kw_from => "'from'",
        Rule::kw_to => "'to'",
        Rule::kw_step => "'step'",
        Rule::create_function | Rule::create_table => "a statement",
        _ => return None,
    })
}
