//! Stage 1: text to syntax tree.
//!
//! In: a [`Source`]. Out: [`ast::File`] with a span on every node, or every
//! syntax error found, as [`Diagnostics`] whose messages name what was
//! expected in words, not grammar rule names. Entry point: [`parse`].

pub mod ast;
mod hint;

use crate::diag::{codes, Diagnostic, Diagnostics};
use crate::source::{Source, Span};
use ast::{
    CmpOp, Cond, CounterDecl, Default, DurationLit, Factor, File, HeaderLine, HeadersDecl, Ident,
    Item, Key, Limit, Matcher, Num, PathPat, Product, Rate, ResponseDecl, RuleOption, Segment, Str,
    WhenBlock,
};
use pest::iterators::{Pair, Pairs};
use pest::Parser as _;
use std::sync::{Mutex, PoisonError};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/rl.pest"]
struct RlParser;

/// The deepest nesting of brackets and blocks accepted. Deeper input is
/// rejected before parsing, so the recursive-descent parser cannot overflow
/// its stack.
pub const MAX_NESTING: usize = 64;

/// Most syntax errors reported for one file.
const MAX_SYNTAX_ERRORS: usize = 20;

/// Parses a whole file. On syntax errors, goes on after each error to report
/// the later ones too (up to 20).
pub fn parse(source: &Source) -> Result<File, Diagnostics> {
    let text = source.text();
    if let Some(d) = check_nesting(text) {
        return Err(Diagnostics(vec![d]));
    }
    // Without error detail first: it only shapes the messages of a failed
    // parse, and tracking it makes every parse about three times slower.
    let parsed = match RlParser::parse(Rule::file, text) {
        Ok(pairs) => Ok(pairs),
        Err(_) => {
            let _detail = ErrorDetail::on();
            match RlParser::parse(Rule::file, text) {
                Ok(pairs) => Ok(pairs),
                Err(e) => Err(recover(text, e)),
            }
        }
    };
    match parsed {
        Ok(mut pairs) => {
            let file = pairs
                .next()
                .ok_or_else(|| Diagnostics(vec![*bug(Span::default())]))?;
            let inner = file.into_inner();
            let mut items = Vec::with_capacity(inner.len());
            for p in inner {
                if p.as_rule() != Rule::EOI {
                    items.push(item(p).map_err(|d| Diagnostics(vec![*d]))?);
                }
            }
            Ok(File { items })
        }
        Err(d) => Err(d),
    }
}

/// Parses running while pest's error detail is switched on.
static DETAILED_PARSES: Mutex<usize> = Mutex::new(0);

/// pest's error detail (the rules and tokens tried at the furthest position,
/// which syntax errors name) is one process-wide switch, read when a parse
/// starts. A failed parse is run again with it on, to build its messages;
/// this guard keeps it on until the last such re-parse, on any thread, is
/// done, and then off again so that other parses run fast.
struct ErrorDetail;

impl ErrorDetail {
    fn on() -> ErrorDetail {
        let mut n = DETAILED_PARSES
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *n += 1;
        pest::set_error_detail(true);
        ErrorDetail
    }
}

impl Drop for ErrorDetail {
    fn drop(&mut self) {
        let mut n = DETAILED_PARSES
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *n = n.saturating_sub(1);
        if *n == 0 {
            pest::set_error_detail(false);
        }
    }
}

/// Collects the first error and then the errors found by re-parsing from the
/// next line that starts a statement.
fn recover(text: &str, first: pest::error::Error<Rule>) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let mut err = first;
    let mut base = 0usize;
    loop {
        let d = convert_error(text, base, &err);
        let at = d.span.start;
        diags.push(d);
        if diags.len() >= MAX_SYNTAX_ERRORS {
            break;
        }
        let Some(next) = next_statement_start(text, at) else {
            break;
        };
        base = next;
        match RlParser::parse(Rule::tail, &text[next..]) {
            Ok(_) => break,
            Err(e) => err = e,
        }
    }
    diags
}

/// The start of the first line after `at` whose first word can begin a
/// statement.
fn next_statement_start(text: &str, at: usize) -> Option<usize> {
    let mut pos = text.get(at..)?.find('\n')? + at + 1;
    while pos < text.len() {
        let line_end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
        let line = text[pos..line_end].trim_start();
        let first = line
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .next();
        let starts = match first {
            Some(w) if !w.is_empty() => {
                matches!(
                    w,
                    "policy" | "input" | "default" | "headers" | "response" | "counter" | "when"
                ) || w.chars().all(|c| c.is_ascii_uppercase())
                    || line[w.len()..].trim_start().starts_with(':')
            }
            _ => false,
        };
        if starts {
            return Some(pos);
        }
        pos = line_end + 1;
    }
    None
}

/// Rejects input nested deeper than [`MAX_NESTING`], ignoring brackets in
/// strings, bodies and comments.
fn check_nesting(text: &str) -> Option<Diagnostic> {
    let mut depth = 0usize;
    let mut in_str = false;
    let mut in_raw = false;
    let mut in_comment = false;
    let mut escaped = false;
    // `not`/`!` nest too (`cond_not` recurses once per negation): a run of
    // them counts as that many levels on top of the brackets.
    let mut negations = 0usize;
    let mut prev_ident = false;
    for (i, c) in text.char_indices() {
        if in_comment {
            in_comment = c != '\n';
            continue;
        }
        if in_raw {
            in_raw = c != '`';
            continue;
        }
        if in_str {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' | '\n' => in_str = false,
                _ => {}
            }
            continue;
        }
        let ident = c.is_ascii_alphanumeric() || c == '_' || c == '-';
        // The common characters first, with the outcome the general steps
        // below would have: a name goes on, or whitespace ends one. Neither
        // changes `depth` or `negations`, so neither can go too deep.
        if ident && prev_ident {
            continue;
        }
        if matches!(c, ' ' | '\n' | '\t' | '\r') {
            prev_ident = false;
            continue;
        }
        let word_start = ident && !prev_ident;
        prev_ident = ident;
        match c {
            '!' if !text[i + 1..].starts_with('=') => negations += 1,
            'n' if word_start
                && text[i..].starts_with("not")
                && !text[i + 3..]
                    .starts_with(|x: char| x.is_ascii_alphanumeric() || x == '_' || x == '-') =>
            {
                negations += 1
            }
            // What the grammar skips between negations does not end a run.
            _ if c.is_whitespace() || matches!(c, '(' | '#' | '\u{FEFF}') => {}
            _ if ident && !word_start => {}
            _ => negations = 0,
        }
        if depth + negations > MAX_NESTING {
            return Some(
                Diagnostic::error(
                    codes::TOO_DEEP,
                    Span::new(i, i + c.len_utf8()),
                    format!("nesting deeper than {MAX_NESTING} levels"),
                )
                .label("this negation is too deep")
                .help("flatten the conditions or blocks; no real policy needs this depth"),
            );
        }
        match c {
            '#' => {
                in_comment = true;
                prev_ident = false;
            }
            '`' => in_raw = true,
            '"' => in_str = true,
            '(' | '{' => {
                depth += 1;
                if depth + negations > MAX_NESTING {
                    return Some(
                        Diagnostic::error(
                            codes::TOO_DEEP,
                            Span::new(i, i + 1),
                            format!("nesting deeper than {MAX_NESTING} levels"),
                        )
                        .label("this bracket is too deep")
                        .help("flatten the conditions or blocks; no real policy needs this depth"),
                    );
                }
            }
            ')' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// The words a user reads for a grammar rule that was expected.
fn describe(r: Rule) -> Option<&'static str> {
    Some(match r {
        Rule::EOI => "end of file",
        Rule::policy_decl | Rule::kw_policy => "`policy`",
        Rule::input_decl | Rule::kw_input => "`input`",
        Rule::default_decl | Rule::kw_default => "`default`",
        Rule::headers_decl | Rule::kw_headers => "`headers`",
        Rule::response_decl | Rule::kw_response => "`response`",
        Rule::counter_decl | Rule::kw_counter => "`counter`",
        Rule::when_block | Rule::kw_when | Rule::rule_when => "`when`",
        Rule::rule | Rule::rule_name => "a rule such as `GET /path by key: 10/1m`",
        Rule::methods | Rule::method => "a method such as `GET`",
        Rule::paths | Rule::path => "a path such as `/tokens/{id}`",
        Rule::param => "a `{parameter}`",
        Rule::rest => "`**`",
        Rule::star => "`*`",
        Rule::literal => "a path segment",
        Rule::key_clause | Rule::kw_by => "`by KEY`",
        Rule::key_group => "an attribute name",
        Rule::rates | Rule::rate => "a rate such as `100/1m`",
        Rule::limit | Rule::min_call | Rule::kw_min | Rule::product => {
            "a limit such as `100` or `min(counter, 100)`"
        }
        Rule::concurrent => "`concurrent`",
        Rule::shadow => "`shadow`",
        Rule::cost_opt => "`cost ATTRIBUTE`",
        Rule::counting => "`counting STATUS|STATUS`",
        Rule::default_shadow_prefix => "`shadow_prefix \"Beta-\"`",
        Rule::timezone_opt | Rule::default_timezone => "`timezone \"Area/City\"`",
        Rule::number => "a number",
        Rule::duration => "a duration such as `10s`",
        Rule::unit => "a unit (`ms`, `s`, `m`, `h`, `d`, `mo`)",
        Rule::algorithm => "an algorithm (`sliding`, `fixed`, `bucket`)",
        Rule::burst => "`burst N`",
        Rule::throttle => "`throttle`",
        Rule::block => "`block DURATION`",
        Rule::status_opt | Rule::response_status | Rule::kw_status => "`status N`",
        Rule::respond_opt | Rule::default_respond | Rule::kw_respond => "`respond NAME`",
        Rule::default_overflow | Rule::kw_overflow => "`overflow`",
        Rule::overflow_mode => "`reject` or `allow`",
        Rule::header_line => "a header line such as `\"Retry-After\" = \"${retry_after}\"`",
        Rule::header_when | Rule::kw_on => "`on reject`, `on allow` or `on any`",
        Rule::header_phase => "`reject`, `allow` or `any`",
        Rule::response_headers => "`headers NAME`",
        Rule::response_body | Rule::kw_body => "`body`",
        Rule::raw_string => "a body between backticks",
        Rule::condition | Rule::cond_and | Rule::cond_not => {
            "a condition such as `tenant == \"test\"`"
        }
        Rule::negation | Rule::kw_not => "`not`",
        Rule::comparison | Rule::cmp_op => "a comparison (`==`, `!=`, `=~`, `!~`, `contains`)",
        Rule::membership | Rule::kw_in => "`in (...)`",
        Rule::kw_and => "`and`",
        Rule::kw_or => "`or`",
        Rule::kw_per => "`per DURATION`",
        Rule::kw_contains => "`contains`",
        Rule::presence | Rule::ident | Rule::name => "a name",
        Rule::string | Rule::str_inner => "a string in double quotes",
        Rule::escape => "an escape (`\\\"`, `\\\\`, `\\n`, `\\t`, `\\u{...}`)",
        Rule::stray_close => "`}`",
        _ => return None,
    })
}

fn convert_error(text: &str, base: usize, e: &pest::error::Error<Rule>) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let mut pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut expected: Vec<String> = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => positives
            .iter()
            .filter_map(|r| describe(*r))
            .map(str::to_string)
            .collect(),
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    // With error detail on, pest also knows the literal tokens tried at the
    // furthest position (`:`, `&`, `{`), which rule positives miss.
    if let Some(att) = e.parse_attempts() {
        if att.max_position >= pos {
            let mut words: Vec<String> = Vec::new();
            for stack in att.call_stacks() {
                if let Some(r) = stack.deepest.get_rule().copied().and_then(describe) {
                    words.push(r.to_string());
                }
            }
            for t in att.expected_tokens() {
                let token = t.to_string();
                if !token.is_empty()
                    && token != "#"
                    && token.chars().all(|c| c.is_ascii_punctuation())
                {
                    words.push(format!("`{token}`"));
                }
            }
            if !words.is_empty() {
                pos = att.max_position;
                expected = words;
            }
        }
    }
    let pos = (base + pos).min(text.len());
    let found = describe_found(text, pos);
    let mut seen = std::collections::HashSet::new();
    expected.retain(|x| seen.insert(x.clone()));
    let refs: Vec<&str> = expected.iter().map(String::as_str).collect();
    if let Some(d) = hint::recognise(text, pos, &refs) {
        return d;
    }
    let message = if refs.is_empty() {
        format!("unexpected {}", found.0)
    } else {
        format!("expected {}, found {}", join_or(&refs), found.0)
    };
    Diagnostic::error(codes::SYNTAX, found.1, message)
        .label("unexpected here")
        .help(syntax_help(text, pos))
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

/// What is at `pos`, in words, and the span to underline.
fn describe_found(text: &str, pos: usize) -> (String, Span) {
    let rest = &text[pos..];
    let Some(c) = rest.chars().next() else {
        return ("end of file".into(), Span::new(pos, pos));
    };
    if c.is_alphanumeric() || c == '_' {
        let w: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .take(40)
            .collect();
        let len = w.len();
        (format!("`{w}`"), Span::new(pos, pos + len))
    } else if c == '\n' {
        ("end of line".into(), Span::new(pos, pos + 1))
    } else if c.is_control() {
        (
            format!("control character U+{:04X}", c as u32),
            Span::new(pos, pos + c.len_utf8()),
        )
    } else {
        (format!("`{c}`"), Span::new(pos, pos + c.len_utf8()))
    }
}

fn syntax_help(text: &str, pos: usize) -> String {
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("").trim_start();
    let first = line
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or("");
    if !first.is_empty() && first.chars().all(|c| c.is_ascii_uppercase()) || line.contains(" by ") {
        "a rule reads `METHOD /path [when COND] [by KEY]: N/DURATION [options]`".into()
    } else {
        "see docs/language.md for the forms a policy may use".into()
    }
}

// ------------------------------------------------------------ tree building

type Built<T> = Result<T, Box<Diagnostic>>;

/// The grammar guarantees the shape of every pair; reaching this means the
/// grammar and this file disagree.
fn bug(span: Span) -> Box<Diagnostic> {
    Box::new(
        Diagnostic::error(
            codes::SYNTAX,
            span,
            "internal parser error: unexpected tree shape",
        )
        .help("this is a bug in rlc; please report it with the input"),
    )
}

fn next<'a>(pairs: &mut Pairs<'a, Rule>, span: Span) -> Built<Pair<'a, Rule>> {
    pairs.next().ok_or_else(|| bug(span))
}

fn ident(p: Pair<'_, Rule>) -> Ident {
    Ident {
        name: p.as_str().to_string(),
        span: p.as_span().into(),
    }
}

fn num(p: Pair<'_, Rule>) -> Num {
    Num {
        text: p.as_str().to_string(),
        span: p.as_span().into(),
    }
}

fn item(p: Pair<'_, Rule>) -> Built<Item> {
    let span: Span = p.as_span().into();
    let kind = p.as_rule();
    let mut inner = p.into_inner();
    Ok(match kind {
        Rule::policy_decl => {
            next(&mut inner, span)?;
            Item::Policy(ident(next(&mut inner, span)?))
        }
        Rule::input_decl => {
            next(&mut inner, span)?;
            Item::Input(inner.map(ident).collect(), span)
        }
        Rule::default_decl => {
            next(&mut inner, span)?;
            let d = next(&mut inner, span)?;
            let d = match d.as_rule() {
                Rule::algorithm => Default::Algorithm(ident(d)),
                Rule::default_respond => {
                    let mut i = d.into_inner();
                    next(&mut i, span)?;
                    Default::Respond(ident(next(&mut i, span)?))
                }
                Rule::default_overflow => {
                    let mut i = d.into_inner();
                    next(&mut i, span)?;
                    Default::Overflow(ident(next(&mut i, span)?))
                }
                Rule::shadow => Default::Shadow(d.as_span().into()),
                Rule::default_timezone => {
                    let mut i = d.into_inner();
                    Default::Timezone(string(next(&mut i, span)?)?)
                }
                Rule::default_shadow_prefix => {
                    let mut i = d.into_inner();
                    Default::ShadowPrefix(string(next(&mut i, span)?)?)
                }
                _ => return Err(bug(span)),
            };
            Item::Default(d, span)
        }
        Rule::headers_decl => {
            next(&mut inner, span)?;
            let name = ident(next(&mut inner, span)?);
            let mut lines = Vec::new();
            for l in inner {
                let lspan: Span = l.as_span().into();
                let mut li = l.into_inner();
                let hname = string(next(&mut li, lspan)?)?;
                let value = string(next(&mut li, lspan)?)?;
                let phase = match li.next() {
                    Some(w) => {
                        let mut wi = w.into_inner();
                        next(&mut wi, lspan)?;
                        Some(ident(next(&mut wi, lspan)?))
                    }
                    None => None,
                };
                lines.push(HeaderLine {
                    name: hname,
                    value,
                    phase,
                    span: lspan,
                });
            }
            Item::Headers(HeadersDecl { name, lines, span })
        }
        Rule::response_decl => {
            next(&mut inner, span)?;
            let name = ident(next(&mut inner, span)?);
            let mut r = ResponseDecl {
                name,
                statuses: Vec::new(),
                headers: Vec::new(),
                bodies: Vec::new(),
                span,
            };
            for it in inner {
                let ispan: Span = it.as_span().into();
                let kind = it.as_rule();
                let mut ii = it.into_inner();
                next(&mut ii, ispan)?;
                let v = next(&mut ii, ispan)?;
                match kind {
                    Rule::response_status => r.statuses.push(num(v)),
                    Rule::response_headers => r.headers.push(ident(v)),
                    Rule::response_body => r.bodies.push(string(v)?),
                    _ => return Err(bug(ispan)),
                }
            }
            Item::Response(r)
        }
        Rule::counter_decl => {
            next(&mut inner, span)?;
            let name = ident(next(&mut inner, span)?);
            let methods = methods(next(&mut inner, span)?);
            let paths = paths(next(&mut inner, span)?)?;
            let mut nx = next(&mut inner, span)?;
            let cond = if nx.as_rule() == Rule::rule_when {
                let c = rule_when(nx)?;
                nx = next(&mut inner, span)?;
                Some(c)
            } else {
                None
            };
            let key = key(nx)?;
            next(&mut inner, span)?; // per
            let period = duration(next(&mut inner, span)?)?;
            Item::Counter(CounterDecl {
                name,
                matcher: Matcher {
                    methods,
                    paths,
                    cond,
                },
                key,
                period,
                span,
            })
        }
        Rule::when_block => {
            next(&mut inner, span)?;
            let cond = condition(next(&mut inner, span)?)?;
            let items = inner.map(item).collect::<Built<Vec<_>>>()?;
            Item::When(WhenBlock { cond, items, span })
        }
        Rule::rule => Item::Rule(rule_item(inner, span)?),
        _ => return Err(bug(span)),
    })
}

fn rule_when(p: Pair<'_, Rule>) -> Built<Cond> {
    let span: Span = p.as_span().into();
    let mut i = p.into_inner();
    next(&mut i, span)?;
    condition(next(&mut i, span)?)
}

fn rule_item(mut inner: Pairs<'_, Rule>, span: Span) -> Built<ast::Rule> {
    let mut nx = next(&mut inner, span)?;
    let name = if nx.as_rule() == Rule::rule_name {
        let mut i = nx.into_inner();
        let n = ident(next(&mut i, span)?);
        nx = next(&mut inner, span)?;
        Some(n)
    } else {
        None
    };
    let methods = methods(nx);
    let paths = paths(next(&mut inner, span)?)?;
    let mut nx = next(&mut inner, span)?;
    let cond = if nx.as_rule() == Rule::rule_when {
        let c = rule_when(nx)?;
        nx = next(&mut inner, span)?;
        Some(c)
    } else {
        None
    };
    let key = if nx.as_rule() == Rule::key_clause {
        let k = key(nx)?;
        nx = next(&mut inner, span)?;
        Some(k)
    } else {
        None
    };
    let rates = nx.into_inner().map(rate).collect::<Built<Vec<_>>>()?;
    let mut options = Vec::new();
    for o in inner {
        let ospan: Span = o.as_span().into();
        options.push(match o.as_rule() {
            Rule::algorithm => RuleOption::Algorithm(ident(o)),
            Rule::burst => {
                let mut i = o.into_inner();
                RuleOption::Burst(num(next(&mut i, ospan)?), ospan)
            }
            Rule::throttle => RuleOption::Throttle(ospan),
            Rule::block => {
                let mut i = o.into_inner();
                RuleOption::Block(duration(next(&mut i, ospan)?)?, ospan)
            }
            Rule::status_opt => {
                let mut i = o.into_inner();
                next(&mut i, ospan)?;
                RuleOption::Status(num(next(&mut i, ospan)?), ospan)
            }
            Rule::respond_opt => {
                let mut i = o.into_inner();
                next(&mut i, ospan)?;
                RuleOption::Respond(ident(next(&mut i, ospan)?), ospan)
            }
            Rule::shadow => RuleOption::Shadow(ospan),
            Rule::timezone_opt => {
                let mut i = o.into_inner();
                let v = next(&mut i, ospan)?;
                if v.as_rule() == Rule::string {
                    RuleOption::TimezoneName(string(v)?, ospan)
                } else {
                    RuleOption::TimezoneAttr(ident(v), ospan)
                }
            }
            Rule::cost_opt => {
                let mut i = o.into_inner();
                RuleOption::Cost(ident(next(&mut i, ospan)?), ospan)
            }
            Rule::counting => RuleOption::Counting(o.into_inner().map(num).collect(), ospan),
            _ => return Err(bug(ospan)),
        });
    }
    Ok(ast::Rule {
        name,
        matcher: Matcher {
            methods,
            paths,
            cond,
        },
        key,
        rates,
        options,
        span,
    })
}

fn methods(p: Pair<'_, Rule>) -> Vec<Ident> {
    p.into_inner().map(ident).collect()
}

fn paths(p: Pair<'_, Rule>) -> Built<Vec<PathPat>> {
    p.into_inner()
        .map(|path| {
            let span: Span = path.as_span().into();
            let segments = path
                .into_inner()
                .map(|s| {
                    let sspan: Span = s.as_span().into();
                    Ok(match s.as_rule() {
                        Rule::literal => Segment::Literal(s.as_str().to_string(), sspan),
                        Rule::param => {
                            let mut i = s.into_inner();
                            Segment::Param(ident(next(&mut i, sspan)?))
                        }
                        Rule::star => Segment::Star(sspan),
                        Rule::rest => Segment::Rest(sspan),
                        _ => return Err(bug(sspan)),
                    })
                })
                .collect::<Built<Vec<_>>>()?;
            Ok(PathPat { segments, span })
        })
        .collect()
}

fn key(p: Pair<'_, Rule>) -> Built<Key> {
    let span: Span = p.as_span().into();
    let mut inner = p.into_inner();
    next(&mut inner, span)?; // by
    Ok(Key {
        groups: inner.map(|g| g.into_inner().map(ident).collect()).collect(),
        span,
    })
}

fn rate(p: Pair<'_, Rule>) -> Built<Rate> {
    let span: Span = p.as_span().into();
    let mut i = p.into_inner();
    let limit = next(&mut i, span)?;
    let lspan: Span = limit.as_span().into();
    let l = next(&mut limit.into_inner(), lspan)?;
    let limit = match l.as_rule() {
        Rule::product => Limit::Product(product(l)?),
        Rule::min_call => {
            let mut args = Vec::new();
            for a in l.into_inner() {
                match a.as_rule() {
                    Rule::kw_min => {}
                    Rule::product => args.push(product(a)?),
                    _ => return Err(bug(lspan)),
                }
            }
            Limit::Min(args, lspan)
        }
        _ => return Err(bug(lspan)),
    };
    let w = next(&mut i, span)?;
    let window = match w.as_rule() {
        Rule::concurrent => None,
        _ => Some(duration(w)?),
    };
    Ok(Rate {
        limit,
        window,
        span,
    })
}

fn product(p: Pair<'_, Rule>) -> Built<Product> {
    let span: Span = p.as_span().into();
    let factors = p
        .into_inner()
        .map(|f| match f.as_rule() {
            Rule::number => Ok(Factor::Number(num(f))),
            Rule::name => Ok(Factor::Name(ident(f))),
            _ => Err(bug(span)),
        })
        .collect::<Built<Vec<_>>>()?;
    Ok(Product { factors, span })
}

fn duration(p: Pair<'_, Rule>) -> Built<DurationLit> {
    let span: Span = p.as_span().into();
    let mut i = p.into_inner();
    let amount = num(next(&mut i, span)?);
    let unit = ident(next(&mut i, span)?);
    Ok(DurationLit { amount, unit, span })
}

fn condition(p: Pair<'_, Rule>) -> Built<Cond> {
    let span: Span = p.as_span().into();
    match p.as_rule() {
        Rule::condition => {
            let mut parts: Vec<Cond> = p
                .into_inner()
                .filter(|x| x.as_rule() != Rule::kw_or)
                .map(condition)
                .collect::<Built<_>>()?;
            if parts.len() == 1 {
                parts.pop().ok_or_else(|| bug(span))
            } else {
                Ok(Cond::Or(parts, span))
            }
        }
        Rule::cond_and => {
            let mut parts: Vec<Cond> = p
                .into_inner()
                .filter(|x| x.as_rule() != Rule::kw_and)
                .map(condition)
                .collect::<Built<_>>()?;
            if parts.len() == 1 {
                parts.pop().ok_or_else(|| bug(span))
            } else {
                Ok(Cond::And(parts, span))
            }
        }
        Rule::cond_not => {
            let mut i = p.into_inner();
            let first = next(&mut i, span)?;
            if first.as_rule() == Rule::negation {
                let rest = condition(next(&mut i, span)?)?;
                Ok(Cond::Not(Box::new(rest), span))
            } else {
                condition(first)
            }
        }
        Rule::comparison => {
            let mut i = p.into_inner();
            let attr = ident(next(&mut i, span)?);
            let op = match next(&mut i, span)?.as_str() {
                "==" => CmpOp::Eq,
                "!=" => CmpOp::Ne,
                "=~" => CmpOp::Match,
                "!~" => CmpOp::NotMatch,
                _ => CmpOp::Contains,
            };
            let value = string(next(&mut i, span)?)?;
            Ok(Cond::Cmp {
                attr,
                op,
                value,
                span,
            })
        }
        Rule::membership => {
            let mut i = p.into_inner();
            let attr = ident(next(&mut i, span)?);
            next(&mut i, span)?; // in
            let values = i.map(string).collect::<Built<_>>()?;
            Ok(Cond::In { attr, values, span })
        }
        Rule::presence => {
            let mut i = p.into_inner();
            Ok(Cond::Present(ident(next(&mut i, span)?)))
        }
        _ => Err(bug(span)),
    }
}

/// Unescapes a `"..."` string or takes a backtick body as it is.
fn string(p: Pair<'_, Rule>) -> Built<Str> {
    let span: Span = p.as_span().into();
    let raw = p.as_rule() == Rule::raw_string;
    let inner = next(&mut p.into_inner(), span)?;
    if raw {
        return Ok(Str {
            value: inner.as_str().to_string(),
            span,
        });
    }
    let text = inner.as_str();
    let mut value = String::with_capacity(text.len());
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            value.push(c);
            continue;
        }
        match chars.next() {
            Some((_, 'n')) => value.push('\n'),
            Some((_, 't')) => value.push('\t'),
            Some((_, 'r')) => value.push('\r'),
            Some((_, '0')) => value.push('\0'),
            Some((_, 'u')) => {
                let mut hex = String::new();
                chars.next(); // {
                for (_, h) in chars.by_ref() {
                    if h == '}' {
                        break;
                    }
                    hex.push(h);
                }
                let cp = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                match cp {
                    Some(ch) => value.push(ch),
                    None => {
                        let start = span.start + 1 + i;
                        return Err(Box::new(
                            Diagnostic::error(
                                codes::BAD_STRING,
                                Span::new(start, start + hex.len() + 4),
                                format!("`\\u{{{hex}}}` is not a Unicode scalar value"),
                            )
                            .label("invalid escape")
                            .help("use a code point in 0..=10FFFF that is not a surrogate"),
                        ));
                    }
                }
            }
            Some((_, other)) => value.push(other),
            None => {}
        }
    }
    Ok(Str { value, span })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::{hint, RlParser, Rule};
    use pest::Parser as _;

    /// `name` refuses a whole word when `kw_word` matches it, and the grammar
    /// keeps `kw_word` as a faster copy of `keyword`: both must refuse the
    /// same words. Tried on every word of up to three letters and on the
    /// words one edit away from each keyword.
    #[test]
    fn name_refuses_exactly_the_keywords() {
        let letters: Vec<char> = ('a'..='z').chain(['_', '-', '0']).collect();
        let mut words: Vec<String> = Vec::new();
        for a in letters
            .iter()
            .filter(|c| c.is_ascii_lowercase() || **c == '_')
        {
            words.push(a.to_string());
            for b in &letters {
                words.push(format!("{a}{b}"));
                for c in &letters {
                    words.push(format!("{a}{b}{c}"));
                }
            }
        }
        let grammar = include_str!("../../grammar/rl.pest");
        let start = grammar.find("\nkeyword = @{").unwrap();
        let body = &grammar[start..];
        let body = &body[..body.find("~ !ident_char").unwrap()];
        let keywords: Vec<&str> = body.split('"').skip(1).step_by(2).collect();
        assert!(keywords.len() >= 30, "{keywords:?}");
        for kw in &keywords {
            words.push((*kw).to_string());
            for i in 0..kw.len() {
                words.push(format!("{}{}", &kw[..i], &kw[i + 1..]));
                words.push(kw[..i].to_string());
                for c in &letters {
                    words.push(format!("{}{c}{}", &kw[..i], &kw[i + 1..]));
                    words.push(format!("{}{c}{}", &kw[..i], &kw[i..]));
                }
            }
            for c in &letters {
                words.push(format!("{kw}{c}"));
            }
        }
        for w in words.iter().filter(|w| !w.is_empty()) {
            let whole_name = RlParser::parse(Rule::name, w)
                .ok()
                .and_then(|mut p| p.next())
                .is_some_and(|p| p.as_str() == w);
            let ident = w.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
            assert_eq!(whole_name, ident && !hint::is_keyword(w), "{w:?}");
        }
    }
}
