//! The KQL parser on any text: it answers with an AST or a `ParseError`, never a panic, a
//! stack overflow or a hang (libFuzzer's -timeout flags a slow input).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = kql_grammar::parse(text) {
            // An error's span lies inside the text (the caret is drawn from it).
            assert!(e.start <= e.end && e.end <= text.len(), "span {}..{} outside {} bytes", e.start, e.end, text.len());
        }
    }
});
