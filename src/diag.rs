//! Diagnostics shared by every stage.
//!
//! In: problems found by `syntax`, `ir` and `check`, each with a stable code
//! from [`codes`] and spans into a [`Source`]. Out: miette reports (graphical,
//! for terminals and golden tests) or JSON objects (for tools).

use crate::source::{Source, Span};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan};
use std::fmt;

/// Stable diagnostic codes. Every code is listed, with an example, in
/// `docs/diagnostics.md`.
pub mod codes {
    /// The text does not follow the grammar.
    pub const SYNTAX: &str = "rl::syntax";
    /// A keyword where a name belongs (`bucket: GET /x: 1/1s`).
    pub const KEYWORD_AS_NAME: &str = "rl::keyword_as_name";
    /// An option between two windows, as if each window had its own (`1/1s fixed, 9/1m`).
    pub const OPTION_BETWEEN_WINDOWS: &str = "rl::option_between_windows";
    /// Brackets or blocks nest deeper than the parser allows.
    pub const TOO_DEEP: &str = "rl::too_deep";
    /// An attribute is used but not declared with `input`.
    pub const UNKNOWN_ATTRIBUTE: &str = "rl::unknown_attribute";
    /// A method name that HTTP does not have.
    pub const UNKNOWN_METHOD: &str = "rl::unknown_method";
    /// A duration unit other than `ms s m h d mo`.
    pub const BAD_UNIT: &str = "rl::bad_unit";
    /// A limit of zero.
    pub const ZERO_LIMIT: &str = "rl::zero_limit";
    /// A window or penalty of zero length.
    pub const ZERO_DURATION: &str = "rl::zero_duration";
    /// A number too large for its place.
    pub const NUMBER_OVERFLOW: &str = "rl::number_overflow";
    /// `**` somewhere other than the last segment.
    pub const REST_NOT_LAST: &str = "rl::rest_not_last";
    /// The same `{param}` twice in one path.
    pub const DUPLICATE_PARAM: &str = "rl::duplicate_param";
    /// A calendar month window with an algorithm other than `fixed`.
    pub const MONTH_NOT_FIXED: &str = "rl::month_not_fixed";
    /// `burst` on a rule that is not a `bucket`.
    pub const BURST_NOT_BUCKET: &str = "rl::burst_not_bucket";
    /// A derived limit names a counter that is not declared.
    pub const UNKNOWN_COUNTER: &str = "rl::unknown_counter";
    /// A derived limit's counter is keyed on an attribute the rule's key lacks.
    pub const COUNTER_KEY_MISMATCH: &str = "rl::counter_key_mismatch";
    /// `min(...)` without a constant bound.
    pub const UNBOUNDED_LIMIT: &str = "rl::unbounded_limit";
    /// A response or header set that is not declared.
    pub const UNKNOWN_RESPONSE: &str = "rl::unknown_response";
    /// Two declarations with the same name.
    pub const DUPLICATE_NAME: &str = "rl::duplicate_name";
    /// A declaration that only makes sense once, given twice.
    pub const DUPLICATE_DECLARATION: &str = "rl::duplicate_declaration";
    /// A declaration inside a `when` block.
    pub const MISPLACED_DECLARATION: &str = "rl::misplaced_declaration";
    /// Two options of the same kind on one rule (`fixed sliding`).
    pub const CONFLICTING_OPTIONS: &str = "rl::conflicting_options";
    /// A regex that does not compile.
    pub const BAD_REGEX: &str = "rl::bad_regex";
    /// An HTTP status outside 100..=599.
    pub const BAD_STATUS: &str = "rl::bad_status";
    /// A `${placeholder}` that does not exist.
    pub const UNKNOWN_PLACEHOLDER: &str = "rl::unknown_placeholder";
    /// A body that is not JSON once its placeholders are filled in.
    pub const BAD_BODY: &str = "rl::bad_body";
    /// A string escape or a header name or value HTTP does not allow.
    pub const BAD_STRING: &str = "rl::bad_string";
    /// A rate faster than one request per nanosecond.
    pub const RATE_TOO_HIGH: &str = "rl::rate_too_high";
    /// Two rules with the same name.
    pub const DUPLICATE_RULE: &str = "rl::duplicate_rule";
    /// A file that is not valid UTF-8 or that could not be read.
    pub const BAD_INPUT: &str = "rl::bad_input";
    /// A rule whose `block` penalty is not longer than zero.
    pub const BAD_BLOCK: &str = "rl::bad_block";

    /// A derived limit on a rule that is not `fixed`.
    pub const DERIVED_NOT_FIXED: &str = "rl::derived_not_fixed";

    /// A key names a `{param}` that some path of the rule lacks.
    pub const PARAM_NOT_IN_PATH: &str = "rl::param_not_in_path";
    /// A concurrency limit combined with an option it cannot have.
    pub const CONCURRENCY_MISUSE: &str = "rl::concurrency_misuse";

    /// A window that can never be the one that rejects (static analysis, like the codes below).
    pub const DEAD_WINDOW: &str = "rl::dead_window";
    /// A rule another rule always rejects before it.
    pub const SHADOWED_RULE: &str = "rl::shadowed_rule";
    /// Two rules that limit the same requests the same way.
    pub const IDENTICAL_RULES: &str = "rl::identical_rules";
    /// A condition (with its enclosing blocks) that no request satisfies.
    pub const CONTRADICTORY_CONDITION: &str = "rl::contradictory_condition";
    /// A condition that requires absent an attribute the key needs present.
    pub const KEY_CONDITION_CONFLICT: &str = "rl::key_condition_conflict";
    /// A derived limit reading a counter that can never count.
    pub const DEAD_COUNTER: &str = "rl::dead_counter";
    /// An input, counter, response or header set nothing uses.
    pub const UNUSED_DECLARATION: &str = "rl::unused_declaration";
    /// A `bucket` without `burst`: its capacity is its whole limit.
    pub const IMPLICIT_BURST: &str = "rl::implicit_burst";
    /// A `block` penalty shorter than the window it guards.
    pub const SHORT_BLOCK: &str = "rl::short_block";
    /// `m` (minutes) where a month was probably meant.
    pub const MINUTES_NOT_MONTHS: &str = "rl::minutes_not_months";
    /// A rule keyed only by one free-form attribute no other rule keys on.
    pub const FREE_FORM_KEY: &str = "rl::free_form_key";
    /// A `Retry-After` header that is not `${retry_after}`.
    pub const RETRY_AFTER_HEADER: &str = "rl::retry_after_header";
    /// A `RateLimit-Policy` header whose literal numbers disagree with the rules.
    pub const RATELIMIT_POLICY_HEADER: &str = "rl::ratelimit_policy_header";
    /// A `# rlc: allow(...)` comment (see docs/language.md) that acknowledges nothing.
    pub const UNUSED_ALLOW: &str = "rl::unused_allow";

    /// A time zone name that the IANA database does not have.
    pub const UNKNOWN_TIMEZONE: &str = "rl::unknown_timezone";
    /// A time zone on a rule whose windows are not aligned (`fixed`).
    pub const TIMEZONE_NOT_FIXED: &str = "rl::timezone_not_fixed";

    /// Every code, for docs and tests.
    pub const ALL: &[&str] = &[
        SYNTAX,
        KEYWORD_AS_NAME,
        OPTION_BETWEEN_WINDOWS,
        TOO_DEEP,
        UNKNOWN_ATTRIBUTE,
        UNKNOWN_METHOD,
        BAD_UNIT,
        ZERO_LIMIT,
        ZERO_DURATION,
        NUMBER_OVERFLOW,
        REST_NOT_LAST,
        DUPLICATE_PARAM,
        MONTH_NOT_FIXED,
        BURST_NOT_BUCKET,
        UNKNOWN_COUNTER,
        COUNTER_KEY_MISMATCH,
        UNBOUNDED_LIMIT,
        UNKNOWN_RESPONSE,
        DUPLICATE_NAME,
        DUPLICATE_DECLARATION,
        MISPLACED_DECLARATION,
        CONFLICTING_OPTIONS,
        BAD_REGEX,
        BAD_STATUS,
        UNKNOWN_PLACEHOLDER,
        BAD_BODY,
        BAD_STRING,
        RATE_TOO_HIGH,
        DUPLICATE_RULE,
        BAD_INPUT,
        BAD_BLOCK,
        DERIVED_NOT_FIXED,
        DEAD_WINDOW,
        SHADOWED_RULE,
        IDENTICAL_RULES,
        CONTRADICTORY_CONDITION,
        KEY_CONDITION_CONFLICT,
        DEAD_COUNTER,
        UNUSED_DECLARATION,
        IMPLICIT_BURST,
        SHORT_BLOCK,
        MINUTES_NOT_MONTHS,
        FREE_FORM_KEY,
        RETRY_AFTER_HEADER,
        RATELIMIT_POLICY_HEADER,
        UNUSED_ALLOW,
        PARAM_NOT_IN_PATH,
        CONCURRENCY_MISUSE,
        UNKNOWN_TIMEZONE,
        TIMEZONE_NOT_FIXED,
    ];
}

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look; the policy still compiles.
    Warning,
    /// The policy cannot be compiled.
    Error,
}

/// One finding: a stable code, a one-line message, a labelled span, and help.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// A code from [`codes`].
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// Lowercase, no trailing period, user input in backticks.
    pub message: String,
    /// Where.
    pub span: Span,
    /// What the underline says.
    pub label: String,
    /// How to fix it.
    pub help: Option<String>,
    /// Other places involved.
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    /// An error with a code, a message, and the span it is about.
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            span,
            label: String::new(),
            help: None,
            related: Vec::new(),
        }
    }

    /// A warning with a code, a message, and the span it is about.
    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message)
        }
    }

    /// Sets the label under the span.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Sets the help line.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a secondary labelled span.
    pub fn with_related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// This diagnostic bound to its source, ready for miette.
    pub fn report<'a>(&'a self, source: &'a Source) -> Report<'a> {
        Report {
            diag: self,
            src: Text {
                name: source.name().to_string(),
                text: source.shared_text(),
            },
        }
    }
}

/// Every finding of one file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Adds one.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// True when any is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    /// Iterates in the order found.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// The number of findings.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sorts by position, errors and warnings interleaved, for stable output.
    pub fn sort(&mut self) {
        self.0.sort_by_key(|d| (d.span.start, d.span.end, d.code));
    }

    /// Renders all as miette's graphical report, without colour, `width` columns.
    pub fn render(&self, source: &Source, width: usize) -> String {
        let mut out = String::new();
        for d in &self.0 {
            out.push_str(&render(d, source, width));
        }
        out
    }

    /// One JSON object per diagnostic.
    pub fn to_json(&self, source: &Source) -> Vec<serde_json::Value> {
        self.0.iter().map(|d| to_json(d, source)).collect()
    }
}

/// Longest source line (in bytes) that miette is asked to draw: it pads
/// with `format!` widths, which panic past 65535 columns, and a megabyte
/// line is no use on a terminal anyway.
const MAX_DRAWN_LINE: usize = 4096;

/// Renders one diagnostic with miette, without colour. A diagnostic on (or
/// next to) a line too long to draw is rendered as plain lines instead.
pub fn render(d: &Diagnostic, source: &Source, width: usize) -> String {
    let spans = std::iter::once(d.span).chain(d.related.iter().map(|(s, _)| *s));
    let longest = spans
        .map(|s| longest_line_near(source.text(), s))
        .max()
        .unwrap_or(0);
    if longest > MAX_DRAWN_LINE {
        return plain(d, source, Some(longest));
    }
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(width)
        .with_links(false);
    let mut out = String::new();
    if handler.render_report(&mut out, &d.report(source)).is_err() {
        // Rendering into a String cannot fail except on a formatter bug; fall
        // back to plain lines rather than losing the diagnostic.
        out = plain(d, source, None);
    }
    out
}

/// A diagnostic as plain lines, without the source excerpt.
fn plain(d: &Diagnostic, source: &Source, long_line: Option<usize>) -> String {
    let (line, col) = source.line_col(d.span.start);
    let kind = if d.is_error() { "error" } else { "warning" };
    let mut out = format!(
        "{kind}[{}]: {}\n  --> {}:{line}:{col}\n",
        d.code,
        d.message,
        source.name()
    );
    if let Some(n) = long_line {
        out.push_str(&format!(
            "  (the line is {n} bytes long, too long to show)\n"
        ));
    }
    if let Some(h) = &d.help {
        out.push_str(&format!("  help: {h}\n"));
    }
    out
}

/// The length in bytes of the longest line that a drawing of `s` shows:
/// the lines it covers and one line of context on each side.
fn longest_line_near(text: &str, s: Span) -> usize {
    let b = text.as_bytes();
    let start = s.start.min(b.len());
    let end = s.end.min(b.len()).max(start);
    let line_start = |at: usize| {
        b[..at]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1)
    };
    let line_end = |at: usize| {
        b[at..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(b.len(), |i| at + i)
    };
    let mut from = line_start(start);
    if from > 0 {
        from = line_start(from - 1);
    }
    let mut to = line_end(end);
    if to < b.len() {
        to = line_end(to + 1);
    }
    b[from..to]
        .split(|&c| c == b'\n')
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0)
}

/// One diagnostic as a JSON object: file, code, severity, message, line,
/// column, span, label, help, and `related`, the secondary labelled spans
/// (each with span, line, column and label) in the order they were added.
/// The shape is documented in `docs/diagnostics.md`.
pub fn to_json(d: &Diagnostic, source: &Source) -> serde_json::Value {
    let (line, column) = source.line_col(d.span.start);
    let related: Vec<serde_json::Value> = d
        .related
        .iter()
        .map(|(span, label)| {
            let (line, column) = source.line_col(span.start);
            serde_json::json!({
                "line": line,
                "column": column,
                "span": {"start": span.start, "end": span.end},
                "label": label,
            })
        })
        .collect();
    serde_json::json!({
        "file": source.name(),
        "code": d.code,
        "severity": d.severity,
        "message": d.message,
        "line": line,
        "column": column,
        "span": {"start": d.span.start, "end": d.span.end},
        "label": d.label,
        "help": d.help,
        "related": related,
    })
}

/// A [`Diagnostic`] with its source, implementing [`miette::Diagnostic`].
pub struct Report<'a> {
    diag: &'a Diagnostic,
    src: Text,
}

/// A policy's text for miette, whose `file:line:col` header counts columns
/// in characters, as rustc does and as the JSON output does (miette counts
/// bytes: a line with `é` before the error would disagree).
struct Text {
    name: String,
    text: std::sync::Arc<str>,
}

impl miette::SourceCode for Text {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let c = self.text.read_span(span, before, after)?;
        // miette reads the header's position with no context lines; with
        // context the column is 0 anyway.
        let column = if before == 0 {
            let start = span.offset();
            let line_start = self
                .text
                .get(..start)
                .and_then(|t| t.rfind('\n'))
                .map_or(0, |i| i + 1);
            self.text
                .get(line_start..start)
                .map_or(c.column(), |t| t.chars().count())
        } else {
            c.column()
        };
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            c.data(),
            *c.span(),
            c.line(),
            column,
            c.line_count(),
        )))
    }
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diag, f)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diag.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.src)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let primary = LabeledSpan::new_primary_with_span(
            (!self.diag.label.is_empty()).then(|| self.diag.label.clone()),
            self.diag.span,
        );
        let related = self
            .diag
            .related
            .iter()
            .map(|(s, l)| LabeledSpan::new_with_span(Some(l.clone()), *s));
        Some(Box::new(std::iter::once(primary).chain(related)))
    }
}

/// Longest name (in characters) for which [`did_you_mean`] looks for a
/// suggestion.
const MAX_SUGGEST_LEN: usize = 256;

/// The closest of `candidates` to `name` by edit distance, if close enough
/// to be a likely typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    // A hint only: the distance is quadratic, so very long names (a 1 MB
    // identifier) get none, and only candidates of a length within reach
    // and the first thousand are compared.
    let len = name.chars().count();
    if len > MAX_SUGGEST_LEN {
        return None;
    }
    let limit = (len / 3).max(1);
    candidates
        .into_iter()
        .take(1000)
        .filter(|c| c.len() <= MAX_SUGGEST_LEN * 4 && c.chars().count().abs_diff(len) <= limit)
        .map(|c| {
            (
                levenshtein(&name.to_ascii_lowercase(), &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Damerau-free Levenshtein distance over chars, with transpositions counted
/// as one edit (`PSOT` is one edit from `POST`).
pub fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev2[j - 2] + 1);
            }
        }
        prev2 = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}
