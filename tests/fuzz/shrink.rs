//! A delta-debugging shrinker: drops ever smaller runs of tokens from a finding's query while
//! the same finding (kind and signature) still happens.

use super::mutate::{Kind, lex};

/// The smallest text found (in at most `attempts` runs of `still_fails`) that still fails.
pub fn shrink(text: &str, attempts: usize, mut still_fails: impl FnMut(&str) -> bool) -> String {
    let mut best = text.to_string();
    let mut left = attempts;
    // First whole lines, then tokens.
    for by_lines in [true, false] {
        let mut n = 2usize;
        loop {
            let units = units(&best, by_lines);
            if units.len() < 2 || left == 0 {
                break;
            }
            let n_now = n.min(units.len());
            let chunk = units.len().div_ceil(n_now);
            let mut reduced = false;
            for start in (0..units.len()).step_by(chunk) {
                if left == 0 {
                    break;
                }
                let candidate: String = units[..start].concat() + &units[(start + chunk).min(units.len())..].concat();
                if candidate.trim().is_empty() || candidate == best {
                    continue;
                }
                left -= 1;
                if still_fails(&candidate) {
                    best = candidate;
                    reduced = true;
                    break;
                }
            }
            if reduced {
                n = (n_now - 1).max(2);
            } else if n_now >= units.len() {
                break;
            } else {
                n = (n_now * 2).min(units.len());
            }
        }
    }
    // Whitespace runs to one space where that keeps the finding.
    let tidy = tidy(&best);
    if tidy != best && left > 0 && still_fails(&tidy) {
        best = tidy;
    }
    best
}

fn units(text: &str, by_lines: bool) -> Vec<String> {
    if by_lines {
        return text.split_inclusive('\n').map(str::to_string).collect();
    }
    // Tokens, each with the space before it, so removing one keeps its neighbours apart.
    let mut out: Vec<String> = Vec::new();
    let mut pending = String::new();
    for t in lex(text) {
        let s = &text[t.start..t.end];
        if t.kind == Kind::Space {
            pending.push_str(s);
        } else {
            out.push(std::mem::take(&mut pending) + s);
        }
    }
    if !pending.is_empty() {
        out.push(pending);
    }
    out
}

fn tidy(text: &str) -> String {
    let mut out = String::new();
    for t in lex(text) {
        let s = &text[t.start..t.end];
        if t.kind == Kind::Space {
            out.push(if s.contains('\n') { '\n' } else { ' ' });
        } else {
            out.push_str(s);
        }
    }
    out.trim().to_string()
}
