//! Tab completion: what may stand at the cursor, from the session's tables, their columns, the
//! loaded functions and the engine's operator and function registry.

use std::collections::BTreeMap;

use kql_engine::Session;

/// Dot-commands of the REPL (see `shell::HELP`).
const DOT_COMMANDS: [&str; 11] =
    [".format", ".functions", ".help", ".load", ".output", ".quit", ".schema", ".set", ".tables", ".timing", ".exit"];

/// The names the REPL completes, taken from the session before each prompt.
#[derive(Default)]
pub struct Vocabulary {
    /// Table name → its column names.
    tables: BTreeMap<String, Vec<String>>,
    /// Functions loaded with `--functions` (ASIM parsers and the like).
    lets: Vec<String>,
    operators: Vec<&'static str>,
    functions: Vec<&'static str>,
}

impl Vocabulary {
    pub fn of(session: &Session) -> Vocabulary {
        let tables = session
            .catalog()
            .tables()
            .map(|(name, t)| (name.clone(), t.provider.schema().fields().iter().map(|f| f.name().clone()).collect()))
            .collect();
        Vocabulary {
            tables,
            lets: session.prelude().iter().map(|l| l.name().to_string()).collect(),
            operators: kql_engine::planner::supported_operators(),
            functions: kql_engine::planner::supported_functions(),
        }
    }

    /// The parameters and result of the function whose call was just opened (`strlen(`), to
    /// show after the cursor. A loaded function of the same name hides the built-in.
    pub fn signature_hint(&self, text: &str, cursor: usize) -> Option<String> {
        let before = text.get(..cursor)?.strip_suffix('(')?;
        let start = before.char_indices().rfind(|(_, c)| !(c.is_alphanumeric() || *c == '_')).map_or(0, |(i, c)| i + c.len_utf8());
        let name = &before[start..];
        if name.is_empty() || self.lets.iter().any(|l| l == name) {
            return None;
        }
        // After `evaluate` a name is a plugin; elsewhere a function.
        let plugin = before[..start].trim_end().ends_with("evaluate");
        let def = kql_engine::functions::catalog::catalog()
            .iter()
            .find(|d| d.name == name && (d.kind == kql_engine::functions::catalog::FunctionKind::Plugin) == plugin)?;
        Some(def.signature[name.len() + 1..].to_string())
    }

    /// Where the word under the cursor starts, and the names that could complete it.
    pub fn complete(&self, text: &str, cursor: usize) -> (usize, Vec<String>) {
        let before = &text[..cursor.min(text.len())];
        // The word starts after the last character that is not part of a name; that character
        // may take several bytes (“, NBSP, an emoji), so step over all of them.
        let start = before
            .char_indices()
            .rfind(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '-' || *c == '.'))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let word = &before[start..];
        let context = before[..start].trim_end();
        let mut names: Vec<String> = if word.starts_with('.') && context.is_empty() {
            DOT_COMMANDS.iter().map(|c| c.to_string()).collect()
        } else if context.ends_with('|') {
            self.operators.iter().map(|o| o.to_string()).collect()
        } else if context.is_empty() || context.ends_with(".schema") || context.ends_with(';') {
            self.tables.keys().chain(&self.lets).cloned().collect()
        } else {
            // In an expression: the columns of the table the query reads first, then functions,
            // tables and loaded functions.
            let mut names: Vec<String> = self.columns_in_scope(text).to_vec();
            names.extend(self.functions.iter().map(|f| f.to_string()));
            names.extend(self.tables.keys().chain(&self.lets).cloned());
            names
        };
        // Names the text itself binds with `let` complete anywhere.
        names.extend(let_names(text).into_iter().filter(|n| n != word));
        let lower = word.to_lowercase();
        names.retain(|n| n.to_lowercase().starts_with(&lower));
        let mut seen = std::collections::HashSet::new();
        names.retain(|n| seen.insert(n.clone()));
        (start, names)
    }

    /// The columns of the first registered table the query names.
    fn columns_in_scope(&self, text: &str) -> &[String] {
        text.split(|c: char| !(c.is_alphanumeric() || c == '_')).find_map(|w| self.tables.get(w)).map_or(&[], Vec::as_slice)
    }
}

/// The names bound by `let NAME =` in the text typed so far.
fn let_names(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).collect();
    words.windows(2).filter(|w| w[0] == "let").map(|w| w[1].to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocabulary() -> Vocabulary {
        Vocabulary {
            tables: BTreeMap::from([
                ("NetworkSession".to_string(), vec!["DstIpAddr".to_string(), "DstPortNumber".to_string(), "SrcIpAddr".to_string()]),
                ("SecurityEvent".to_string(), vec!["Computer".to_string()]),
            ]),
            lets: vec!["_Im_NetworkSession".to_string()],
            operators: vec!["extend", "summarize", "where"],
            functions: vec!["dcount", "strlen"],
        }
    }

    #[test]
    fn an_opened_call_shows_the_catalog_signature() {
        let v = vocabulary();
        let hint = |text: &str| v.signature_hint(text, text.len());
        assert_eq!(hint("print strlen("), Some("source: string) -> long".to_string()));
        assert_eq!(hint("T | summarize make_set("), Some("expr: scalar [, max_size: long]) -> dynamic".to_string()));
        assert_eq!(
            hint("T | evaluate pivot("),
            Some("pivot_column: column [, aggregation: scalar [, column: column, ...]]) -> table".to_string())
        );
        // A loaded function hides the built-in; a name kql does not know, or no open call, gives none.
        assert_eq!(hint("_Im_NetworkSession("), None);
        assert_eq!(hint("print nosuchfunction("), None);
        assert_eq!(hint("print strlen"), None);
    }

    #[test]
    fn completes_columns_of_the_table_in_scope() {
        let text = "NetworkSession | where Dst";
        assert_eq!(vocabulary().complete(text, text.len()), (23, vec!["DstIpAddr".to_string(), "DstPortNumber".to_string()]));
    }

    #[test]
    fn completes_operators_after_a_pipe_and_tables_at_the_start() {
        let text = "NetworkSession\n| su";
        assert_eq!(vocabulary().complete(text, text.len()), (17, vec!["summarize".to_string()]));
        assert_eq!(vocabulary().complete("Sec", 3), (0, vec!["SecurityEvent".to_string()]));
        assert_eq!(vocabulary().complete("_Im", 3), (0, vec!["_Im_NetworkSession".to_string()]));
    }

    #[test]
    fn completes_names_the_query_binds_with_let() {
        let text = "let Threshold = 10;\nlet Hosts = dynamic([\"a\"]);\nNetworkSession | where SrcPortNumber > Thr";
        assert_eq!(vocabulary().complete(text, text.len()).1, vec!["Threshold".to_string()]);
    }

    #[test]
    fn characters_of_several_bytes_before_a_word_do_not_split_it() {
        for text in ["print “Net", "print\u{a0}Net", "print 😀Net", "x\u{200f}Net", "—Net"] {
            let (start, names) = vocabulary().complete(text, text.len());
            assert_eq!(&text[start..], "Net", "{text}");
            assert_eq!(names, vec!["NetworkSession".to_string()], "{text}");
        }
        // Right after such a character, with nothing typed yet.
        let text = "print “";
        assert_eq!(vocabulary().complete(text, text.len()).0, text.len());
    }

    /// Every cursor position of text full of characters of several bytes: completion,
    /// highlighting and the "is the query complete" check never split a character.
    #[test]
    fn no_cursor_position_in_multibyte_text_panics() {
        let texts = [
            "Net“work” | where Src == “10.0.0.1” // — comment ‘x’",
            "print s = '😀😀', t = \"\u{200f}\u{a0}\" | extend ü = strlen(s)",
            "let é = 1;\n—| where ß > é\u{feff}",
            "«»\u{1f600}\u{301}a\u{301}",
        ];
        let highlighter = crate::highlight::Highlighter::new();
        for text in texts {
            for (cursor, _) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
                let (start, _) = vocabulary().complete(text, cursor);
                assert!(text.is_char_boundary(start), "{text:?} at {cursor}");
                let _ = highlighter.paint(&text[..cursor]);
                let _ = crate::helper::is_complete(&text[..cursor]);
            }
        }
    }

    #[test]
    fn completes_functions_and_dot_commands() {
        let text = "SecurityEvent | extend n = str";
        assert_eq!(vocabulary().complete(text, text.len()).1, vec!["strlen".to_string()]);
        assert_eq!(vocabulary().complete(".sc", 3), (0, vec![".schema".to_string()]));
    }
}
