//! Syntax errors recognised from the text around the failure.
//!
//! In: the text of a file, the position where parsing failed, and what the
//! parser expected there in words. Out: a [`Diagnostic`] that names the
//! mistake (a keyword used as a name, an option written between two
//! windows), or `None`, in which case the caller reports the generic
//! "expected X, found Y". Entry point: [`recognise`].

use super::{RlParser, Rule};
use crate::diag::{codes, Diagnostic};
use crate::source::Span;
use pest::Parser as _;

/// Longest keyword of the grammar is `shadow_prefix`; a longer word cannot
/// be one, and is not looked at.
const MAX_KEYWORD_LEN: usize = 16;

/// A specific diagnostic for the syntax error at `pos`, if the text around
/// it shows a mistake we can name.
pub(super) fn recognise(text: &str, pos: usize, expected: &[&str]) -> Option<Diagnostic> {
    keyword_as_name(text, pos, expected).or_else(|| option_between_windows(text, pos))
}

/// True when `word` is a keyword of the grammar (its `keyword` rule), which
/// `name` refuses. Asking the grammar keeps this in step with it.
pub(super) fn is_keyword(word: &str) -> bool {
    word.len() <= MAX_KEYWORD_LEN
        && RlParser::parse(Rule::keyword, word)
            .ok()
            .and_then(|mut pairs| pairs.next())
            .is_some_and(|p| p.as_str().len() == word.len())
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The word that ends at `end`, if any.
fn word_before(text: &str, end: usize) -> Option<(usize, &str)> {
    let head = text.get(..end)?;
    let start = head
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_word_char(*c))
        .last()
        .map(|(i, _)| i)?;
    Some((start, &head[start..]))
}

/// What comes before `at`, skipping spaces and tabs: the previous word, or
/// the previous character (`\n` at a line start, `\0` at the file start).
enum Before<'a> {
    Word(&'a str),
    Char(char),
}

fn before(text: &str, at: usize) -> Before<'_> {
    let head = text[..at].trim_end_matches([' ', '\t', '\r']);
    match word_before(text, head.len()) {
        Some((_, w)) => Before::Word(w),
        None => Before::Char(head.chars().next_back().unwrap_or('\0')),
    }
}

/// True when `at` lies in a `#` comment. A file that ends in a comment
/// without a final newline fails at its end, just after the comment's last
/// word, which is not code.
fn in_comment(text: &str, at: usize) -> bool {
    crate::fmt::comments(text)
        .iter()
        .any(|c| c.span.start <= at && at < c.span.end)
}

/// The first word of the line that holds `at`.
fn line_first_word(text: &str, at: usize) -> &str {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].trim_start();
    let end = line.find(|c| !is_word_char(c)).unwrap_or(line.len());
    &line[..end]
}

/// True when the text after the `:` that follows `end` starts like a rule,
/// with its methods and then a path (`GET|POST /x`), so that the word
/// before the `:` was meant as a rule's name. `status: 429` in a response,
/// `policy: p` or `burst: 5` are other mistakes. Asks the grammar's own
/// `methods` rule.
fn rule_follows(text: &str, end: usize) -> bool {
    let Some(after) = text[end..]
        .trim_start_matches([' ', '\t'])
        .strip_prefix(':')
    else {
        return false;
    };
    let after = after.trim_start();
    RlParser::parse(Rule::methods, after)
        .ok()
        .and_then(|mut pairs| pairs.next())
        .is_some_and(|m| after[m.as_str().len()..].trim_start().starts_with('/'))
}

/// A keyword where a name is expected: `bucket: ANY /** by key: 10/1s`,
/// `input key, fixed`, `counter block = ...`. pest fails just after the
/// keyword (`name` refuses it, then nothing else fits), or for a rule name
/// at its `:`.
fn keyword_as_name(text: &str, pos: usize, expected: &[&str]) -> Option<Diagnostic> {
    // A rule name fails at its `:`; other names just after the keyword.
    let end = if text[pos..].starts_with(':') {
        text[..pos].trim_end_matches([' ', '\t']).len()
    } else {
        pos
    };
    let (start, word) = word_before(text, end)?;
    if !is_keyword(word) || in_comment(text, start) {
        return None;
    }
    let before_colon = text[end..].trim_start_matches([' ', '\t']).starts_with(':');
    let statement_start = matches!(before(text, start), Before::Char('\n' | '\0' | '{' | '}'));
    let (what, suffix) = if before_colon && statement_start && rule_follows(text, end) {
        ("a rule", "rule")
    } else if !expected.iter().any(|e| e.contains("name")) || end != pos {
        return None;
    } else {
        match before(text, start) {
            Before::Word("policy") => ("the policy", "policy"),
            Before::Word("counter") => ("a counter", "counter"),
            Before::Word("response" | "respond") => ("a response", "response"),
            Before::Word("headers") => ("a header set", "headers"),
            Before::Word("input" | "by" | "cost" | "when" | "and" | "or" | "not")
            | Before::Char('&' | '!' | '(') => ("an attribute", "attr"),
            Before::Char('|') => ("an attribute", "attr"),
            Before::Char(',') if line_first_word(text, start) == "input" => {
                ("an attribute", "attr")
            }
            // Not a place a name goes (`GET /x: 1/1s respond` at the end
            // of the file fails just after `respond` too): the generic
            // message is the better one.
            _ => return None,
        }
    };
    let span = Span::new(start, end);
    Some(
        Diagnostic::error(
            codes::KEYWORD_AS_NAME,
            span,
            format!("`{word}` is a keyword and cannot name {what}"),
        )
        .label("a keyword")
        .help(format!(
            "rename it, e.g. `{word}_{suffix}`; keywords are listed in docs/language.md"
        )),
    )
}

/// The algorithms, which are options of a whole rule.
const ALGORITHMS: [&str; 3] = ["sliding", "fixed", "bucket"];

/// The words that begin an option (see `option` in the grammar).
const OPTIONS: [&str; 12] = [
    "sliding", "fixed", "bucket", "burst", "throttle", "block", "status", "respond", "shadow",
    "cost", "counting", "timezone",
];

/// One window of a rule as written: its rate, and the options after it.
struct Window<'a> {
    rate: &'a str,
    options: Vec<&'a str>,
}

impl Window<'_> {
    fn show(&self) -> String {
        let mut s = self.rate.to_string();
        for o in &self.options {
            s.push(' ');
            s.push_str(o);
        }
        s
    }
}

/// Options written between two windows, as if each window had its own:
/// `25/1m fixed, 40/1h sliding`. The rule ends after the options, so pest
/// fails at the `,` that follows them. Only plain rates (`N/DURATION`) are
/// recognised; anything else gets the generic message.
fn option_between_windows(text: &str, pos: usize) -> Option<Diagnostic> {
    if !text[pos..].starts_with(',') {
        return None;
    }
    // The rates begin after the rule's last `:` and end with the line or a
    // comment. Rates and options hold no quotes, brackets or braces.
    let rates_start = text[..pos].rfind(':')? + 1;
    let rates_end = text[pos..]
        .find(['\n', '#'])
        .map_or(text.len(), |i| pos + i);
    let rates_text = &text[rates_start..rates_end];
    if rates_text.contains(['"', '`', '{', '}', ':']) {
        return None;
    }
    let mut windows = Vec::new();
    for chunk in split_outside_brackets(rates_text, |c| c == ',') {
        let mut words = split_outside_brackets(chunk, char::is_whitespace)
            .into_iter()
            .filter(|w| !w.is_empty());
        let rate = words.next().filter(|r| r.contains('/'))?;
        windows.push(Window {
            rate,
            options: words.collect(),
        });
    }
    // The `,` of the failure is the first one: it follows the first window,
    // whose options ended the rule.
    let first = windows.first()?;
    let first_option = *first.options.first()?;
    let plain = |w: &str| w.chars().all(|c| is_word_char(c) || c == '|');
    if windows.len() < 2
        || split_outside_brackets(&text[rates_start..pos], |c| c == ',').len() > 1
        || !OPTIONS.contains(&first_option)
        || !first.options.iter().all(|w| plain(w))
    {
        return None;
    }
    let algorithm = first
        .options
        .iter()
        .copied()
        .find(|o| ALGORITHMS.contains(o));
    let shown = algorithm.unwrap_or(first_option);
    // The option's own span: the first whole word `shown` after the rates'
    // `:`, which is in the first window.
    let start = text[rates_start..pos]
        .match_indices(shown)
        .map(|(i, _)| rates_start + i)
        .find(|&i| {
            !text[..i].ends_with(is_word_char) && !text[i + shown.len()..].starts_with(is_word_char)
        })?;
    let rates: Vec<&str> = windows.iter().map(|w| w.rate).collect();
    let once = format!("{} {}", rates.join(", "), first.options.join(" "));
    let alike = windows
        .iter()
        .all(|w| w.options.is_empty() || w.options == first.options);
    // A calendar month window needs `fixed` (rl::month_not_fixed): a form
    // that breaks that is not offered.
    let merged_ok = first.options.contains(&"fixed") || !windows.iter().any(|w| is_month(w.rate));
    let each_ok = windows
        .iter()
        .all(|w| w.options.contains(&"fixed") || !is_month(w.rate));
    let (message, the) = match algorithm {
        Some(_) => (
            "an algorithm applies to the whole rule, not to one window",
            "the algorithm",
        ),
        None => (
            "options apply to the whole rule, not to one window",
            "the options",
        ),
    };
    // Windows with different options cannot share them without changing
    // what one of them means: only one rule per window keeps both.
    let help = if alike && merged_ok {
        format!("write {the} once, after the last window: `{once}`")
    } else if !alike && each_ok {
        let each: Vec<String> = windows.iter().map(|w| format!("`{}`", w.show())).collect();
        format!(
            "write one rule per window, each with its own options: {}",
            join_and(&each)
        )
    } else if alike {
        format!("write {the} once, after the last window; a window in months needs `fixed`")
    } else {
        "write one rule per window, each with its own options; a window in months needs `fixed`"
            .to_string()
    };
    Some(
        Diagnostic::error(
            codes::OPTION_BETWEEN_WINDOWS,
            Span::new(start, start + shown.len()),
            message,
        )
        .label("applies to every window")
        .with_related(Span::new(pos, pos + 1), "another window follows")
        .help(help),
    )
}

/// True when a rate as written (`10/1mo`) has a calendar month window.
fn is_month(rate: &str) -> bool {
    rate.rsplit_once('/').is_some_and(|(_, d)| {
        d.trim_start_matches(|c: char| c.is_ascii_digit() || c == '_') == "mo"
    })
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {}", init.join(", "), last),
    }
}

/// `text` cut at every character `at` accepts that is outside brackets, so
/// that `min(c, 100)/1d` stays one piece.
fn split_outside_brackets(text: &str, at: impl Fn(char) -> bool) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut depth = 0usize;
    let mut from = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 && at(c) => {
                pieces.push(&text[from..i]);
                from = i + c.len_utf8();
            }
            _ => {}
        }
    }
    pieces.push(&text[from..]);
    pieces
}
