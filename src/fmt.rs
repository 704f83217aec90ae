//! `rlc fmt`: policies in one canonical layout.
//!
//! In: a [`Source`] that parses. Out: the same policy, laid out canonically:
//! one declaration per line, two-space indentation in blocks, a single
//! space between tokens, rule columns (name, matcher, key, rates) aligned
//! within a run of consecutive rules (a blank line ends a run), rules longer
//! than [`MAX_WIDTH`] wrapped after their paths (see `RuleParts::wrapped`),
//! at most one blank line in a row. Every comment is kept: the grammar skips comments, so they are
//! collected from the text by position ([`comments`]) and put back before
//! the next item, or at the end of the line they ended; a comment written
//! inside an item moves to the line before it. Numbers, strings, bodies and
//! names are written exactly as they were, so formatting never changes what
//! a policy means, and formatting a formatted file changes nothing.
//! Entry points: [`format_source`], [`format_file`].

use crate::diag::Diagnostics;
use crate::source::{Source, Span};
use crate::syntax::{self, ast};
use std::collections::HashMap;

/// Lines longer than this are wrapped (rules only).
pub const MAX_WIDTH: usize = 100;

/// A wrapped rule keeps up to this many paths on its first line (a path
/// and its `/{id}` twin read as a pair); more are a list, one per line.
const MAX_JOINED_PATHS: usize = 2;

/// A `#` comment found in the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Comment {
    /// From `#` to the end of the line, trailing white space excluded.
    pub span: Span,
    /// Nothing but white space before it on its line.
    pub own_line: bool,
}

/// Every comment of a policy text, in order: `#` outside strings and
/// bodies, to the end of the line.
pub fn comments(text: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut code_on_line = false;
    while let Some((i, c)) = chars.next() {
        match c {
            '\n' => code_on_line = false,
            '"' => {
                code_on_line = true;
                while let Some(&(_, d)) = chars.peek() {
                    if d == '\n' {
                        break;
                    }
                    chars.next();
                    if d == '"' {
                        break;
                    }
                    if d == '\\' {
                        if let Some(&(_, e)) = chars.peek() {
                            if e != '\n' {
                                chars.next();
                            }
                        }
                    }
                }
            }
            '`' => {
                code_on_line = true;
                for (_, d) in chars.by_ref() {
                    if d == '`' {
                        break;
                    }
                }
            }
            '#' => {
                let mut end = text.len();
                while let Some(&(j, d)) = chars.peek() {
                    if d == '\n' {
                        end = j;
                        break;
                    }
                    chars.next();
                }
                let body = text.get(i..end).unwrap_or("").trim_end();
                out.push(Comment {
                    span: Span::new(i, i + body.len()),
                    own_line: !code_on_line,
                });
            }
            c if c.is_whitespace() || c == '\u{FEFF}' => {}
            _ => code_on_line = true,
        }
    }
    out
}

/// `span` without the white space and comments at its end. The parser's
/// spans of items that end in a repetition (`input a, b`, a rule's options,
/// a key) run on over the trivia that follows them.
pub fn trim_span(text: &str, span: Span) -> Span {
    let Some(body) = text.get(span.start..span.end) else {
        return span;
    };
    let mut end = 0usize;
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '#' => {
                while chars.peek().is_some_and(|(_, d)| *d != '\n') {
                    chars.next();
                }
            }
            '"' | '`' => {
                let mut escaped = false;
                let mut close = body.len();
                for (j, d) in chars.by_ref() {
                    if c == '"' && d == '\n' {
                        close = j;
                        break;
                    }
                    if d == c && !escaped {
                        close = j + d.len_utf8();
                        break;
                    }
                    escaped = c == '"' && d == '\\' && !escaped;
                }
                end = close;
            }
            c if c.is_whitespace() || c == '\u{FEFF}' => {}
            c => end = i + c.len_utf8(),
        }
    }
    Span::new(span.start, span.start + end.max(1).min(body.len()))
}

/// Formats a policy; `Err` with the syntax errors when it does not parse.
pub fn format_source(source: &Source) -> Result<String, Diagnostics> {
    let file = syntax::parse(source)?;
    Ok(format_file(&file, source.text()))
}

/// Formats a parsed file; `text` is the source it was parsed from.
pub fn format_file(file: &ast::File, text: &str) -> String {
    let mut f = Fmt {
        text,
        spans: Vec::new(),
        ..Fmt::default()
    };
    let nodes = f.nodes(&file.items);
    f.attach();
    f.emit_seq(&nodes, 0);
    for ci in std::mem::take(&mut f.eof) {
        f.comment_line(ci, 0);
    }
    let mut out = f.lines.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

enum Node<'a> {
    Line {
        id: usize,
        text: String,
    },
    Rule {
        id: usize,
        rule: &'a ast::Rule,
    },
    Block {
        open: usize,
        head: String,
        children: Vec<Node<'a>>,
        close: usize,
    },
}

impl Node<'_> {
    fn first_id(&self) -> usize {
        match self {
            Node::Line { id, .. } | Node::Rule { id, .. } => *id,
            Node::Block { open, .. } => *open,
        }
    }
}

#[derive(Default)]
struct Fmt<'a> {
    text: &'a str,
    /// Source span of each output piece, by id, in source order.
    spans: Vec<Span>,
    comments: Vec<Comment>,
    /// Blank line before each comment in the source.
    comment_blank: Vec<bool>,
    /// Blank line before each piece in the source.
    piece_blank: Vec<bool>,
    /// Own-line comments before a piece.
    leading: HashMap<usize, Vec<usize>>,
    /// Comments written inside a piece, moved before it.
    inner: HashMap<usize, Vec<usize>>,
    /// The comment ending a piece's line.
    trailing: HashMap<usize, usize>,
    /// Comments after the last piece.
    eof: Vec<usize>,
    lines: Vec<String>,
    /// Nothing written yet in the current block.
    fresh: bool,
}

/// Binding strength of a condition's context, to put back the brackets
/// the syntax tree does not record.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Top,
    Or,
    And,
    Not,
}

impl<'a> Fmt<'a> {
    fn src(&self, s: Span) -> &'a str {
        self.text.get(s.start..s.end).unwrap_or("")
    }

    fn piece(&mut self, span: Span) -> usize {
        self.spans.push(trim_span(self.text, span));
        self.spans.len() - 1
    }

    /// The position just after the `{` that opens a block, searching from
    /// `from` and skipping comments.
    fn brace_after(&self, from: usize, end: usize) -> usize {
        let mut in_comment = false;
        for (i, c) in self.text.get(from..end).unwrap_or("").char_indices() {
            match c {
                '\n' => in_comment = false,
                '#' => in_comment = true,
                '{' if !in_comment => return from + i + 1,
                _ => {}
            }
        }
        from
    }

    fn nodes(&mut self, items: &'a [ast::Item]) -> Vec<Node<'a>> {
        let mut out = Vec::new();
        for it in items {
            let span = it.span();
            let node = match it {
                ast::Item::Rule(r) => Node::Rule {
                    id: self.piece(span),
                    rule: r,
                },
                ast::Item::When(w) => {
                    let open = self.piece(Span::new(
                        span.start,
                        self.brace_after(w.cond.span().end, span.end),
                    ));
                    let head = format!("when {} {{", self.cond(&w.cond, Ctx::Top));
                    let children = self.nodes(&w.items);
                    Node::Block {
                        open,
                        head,
                        children,
                        close: self.piece(Span::new(span.end.saturating_sub(1), span.end)),
                    }
                }
                ast::Item::Headers(h) => {
                    let open = self.piece(Span::new(
                        span.start,
                        self.brace_after(h.name.span.end, span.end),
                    ));
                    let children = h
                        .lines
                        .iter()
                        .map(|l| {
                            let mut text =
                                format!("{} = {}", self.src(l.name.span), self.src(l.value.span));
                            if let Some(p) = &l.phase {
                                text.push_str(&format!(" on {}", p.name));
                            }
                            Node::Line {
                                id: self.piece(l.span),
                                text,
                            }
                        })
                        .collect();
                    Node::Block {
                        open,
                        head: format!("headers {} {{", h.name.name),
                        children,
                        close: self.piece(Span::new(span.end.saturating_sub(1), span.end)),
                    }
                }
                ast::Item::Response(r) => {
                    let open = self.piece(Span::new(
                        span.start,
                        self.brace_after(r.name.span.end, span.end),
                    ));
                    // Status, headers and body in the order written.
                    let mut parts: Vec<(Span, String)> = Vec::new();
                    for n in &r.statuses {
                        parts.push((
                            self.item_around(n.span, "status"),
                            format!("status {}", n.text),
                        ));
                    }
                    for h in &r.headers {
                        parts.push((
                            self.item_around(h.span, "headers"),
                            format!("headers {}", h.name),
                        ));
                    }
                    for b in &r.bodies {
                        parts.push((
                            self.item_around(b.span, "body"),
                            format!("body {}", self.src(b.span)),
                        ));
                    }
                    parts.sort_by_key(|(s, _)| s.start);
                    let children = parts
                        .into_iter()
                        .map(|(s, text)| Node::Line {
                            id: self.piece(s),
                            text,
                        })
                        .collect();
                    Node::Block {
                        open,
                        head: format!("response {} {{", r.name.name),
                        children,
                        close: self.piece(Span::new(span.end.saturating_sub(1), span.end)),
                    }
                }
                other => Node::Line {
                    id: self.piece(span),
                    text: self.declaration(other),
                },
            };
            out.push(node);
        }
        out
    }

    /// The span of a response item from its keyword to its value.
    fn item_around(&self, value: Span, keyword: &str) -> Span {
        let before = self.text.get(..value.start).unwrap_or("");
        match before.rfind(keyword) {
            Some(k) => Span::new(k, value.end),
            None => value,
        }
    }

    fn declaration(&self, it: &ast::Item) -> String {
        match it {
            ast::Item::Policy(n) => format!("policy {}", n.name),
            ast::Item::Input(names, _) => format!(
                "input {}",
                names
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ast::Item::Default(d, _) => match d {
                ast::Default::Algorithm(a) => format!("default {}", a.name),
                ast::Default::Respond(r) => format!("default respond {}", r.name),
                ast::Default::Overflow(o) => format!("default overflow {}", o.name),
                ast::Default::Shadow(_) => "default shadow".to_string(),
                ast::Default::ShadowPrefix(s) => {
                    format!("default shadow_prefix {}", self.src(s.span))
                }
                ast::Default::Timezone(s) => format!("default timezone {}", self.src(s.span)),
            },
            ast::Item::Counter(c) => {
                let mut s = format!("counter {} = {}", c.name.name, self.matcher(&c.matcher));
                s.push_str(&format!(" by {} per {}", key(&c.key), duration(&c.period)));
                s
            }
            // Blocks and rules are laid out by `nodes` and `rule_parts`.
            ast::Item::When(_)
            | ast::Item::Headers(_)
            | ast::Item::Response(_)
            | ast::Item::Rule(_) => self.src(it.span()).to_string(),
        }
    }

    fn matcher(&self, m: &ast::Matcher) -> String {
        let mut s = format!("{} {}", methods(&m.methods), paths(&m.paths));
        if let Some(c) = &m.cond {
            s.push_str(&format!(" when {}", self.cond(c, Ctx::Top)));
        }
        s
    }

    fn cond(&self, c: &ast::Cond, ctx: Ctx) -> String {
        let bracket = match c {
            ast::Cond::Or(..) => ctx != Ctx::Top,
            ast::Cond::And(..) => matches!(ctx, Ctx::And | Ctx::Not),
            _ => false,
        };
        let s = match c {
            ast::Cond::Or(parts, _) => parts
                .iter()
                .map(|p| self.cond(p, Ctx::Or))
                .collect::<Vec<_>>()
                .join(" or "),
            ast::Cond::And(parts, _) => parts
                .iter()
                .map(|p| self.cond(p, Ctx::And))
                .collect::<Vec<_>>()
                .join(" and "),
            ast::Cond::Not(x, _) => format!("not {}", self.cond(x, Ctx::Not)),
            ast::Cond::Cmp {
                attr, op, value, ..
            } => format!("{} {} {}", attr.name, op.as_str(), self.src(value.span)),
            ast::Cond::In { attr, values, .. } => format!(
                "{} in ({})",
                attr.name,
                values
                    .iter()
                    .map(|v| self.src(v.span))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ast::Cond::Present(a) => a.name.clone(),
        };
        if bracket {
            format!("({s})")
        } else {
            s
        }
    }

    /// A rule's columns: `name:`, matcher, `by KEY`, and rates with options.
    fn rule_parts(&self, r: &ast::Rule) -> RuleParts {
        let rates = r
            .rates
            .iter()
            .map(|rate| {
                let limit = match &rate.limit {
                    ast::Limit::Product(p) => product(p),
                    ast::Limit::Min(ps, _) => format!(
                        "min({})",
                        ps.iter().map(product).collect::<Vec<_>>().join(", ")
                    ),
                };
                match &rate.window {
                    Some(d) => format!("{limit}/{}", duration(d)),
                    None => format!("{limit} concurrent"),
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let mut tail = rates;
        for o in &r.options {
            tail.push(' ');
            tail.push_str(&match o {
                ast::RuleOption::Algorithm(a) => a.name.clone(),
                ast::RuleOption::Burst(n, _) => format!("burst {}", n.text),
                ast::RuleOption::Throttle(_) => "throttle".to_string(),
                ast::RuleOption::Block(d, _) => format!("block {}", duration(d)),
                ast::RuleOption::Status(n, _) => format!("status {}", n.text),
                ast::RuleOption::Respond(n, _) => format!("respond {}", n.name),
                ast::RuleOption::Shadow(_) => "shadow".to_string(),
                ast::RuleOption::Cost(a, _) => format!("cost {}", a.name),
                ast::RuleOption::TimezoneName(s, _) => format!("timezone {}", self.src(s.span)),
                ast::RuleOption::TimezoneAttr(a, _) => format!("timezone {}", a.name),
                ast::RuleOption::Counting(ns, _) => format!(
                    "counting {}",
                    ns.iter()
                        .map(|n| n.text.as_str())
                        .collect::<Vec<_>>()
                        .join("|")
                ),
            });
        }
        RuleParts {
            name: r.name.as_ref().map(|n| format!("{}:", n.name)),
            methods: methods(&r.matcher.methods),
            paths: r.matcher.paths.iter().map(path).collect(),
            cond: r.matcher.cond.as_ref().map(|c| self.cond(c, Ctx::Top)),
            key: r.key.as_ref().map(key),
            tail,
        }
    }

    // ---------------------------------------------------------- comments

    fn attach(&mut self) {
        self.comments = comments(self.text);
        // Blank lines: count the newlines since whatever ended last.
        let mut things: Vec<(usize, usize, bool, usize)> = self
            .spans
            .iter()
            .enumerate()
            .map(|(i, s)| (s.start, s.end, false, i))
            .chain(
                self.comments
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.span.start, c.span.end, true, i)),
            )
            .collect();
        things.sort_by_key(|t| (t.0, t.1));
        self.piece_blank = vec![false; self.spans.len()];
        self.comment_blank = vec![false; self.comments.len()];
        let mut last_end = 0usize;
        for (start, end, is_comment, i) in things {
            let gap = self.text.get(last_end.min(start)..start).unwrap_or("");
            let blank = gap.matches('\n').count() >= 2;
            if is_comment {
                self.comment_blank[i] = blank;
            } else {
                self.piece_blank[i] = blank;
            }
            last_end = last_end.max(end);
        }
        for (ci, c) in self.comments.iter().enumerate() {
            let pos = c.span.start;
            if let Some(k) = self.spans.iter().position(|s| s.start < pos && pos < s.end) {
                self.inner.entry(k).or_default().push(ci);
                continue;
            }
            let next = self.spans.iter().position(|s| s.start > pos);
            let prev = match next {
                Some(n) => n.checked_sub(1),
                None => self.spans.len().checked_sub(1),
            };
            match (c.own_line, prev, next) {
                (false, Some(p), _) if !self.trailing.contains_key(&p) => {
                    self.trailing.insert(p, ci);
                }
                (_, _, Some(n)) => self.leading.entry(n).or_default().push(ci),
                (_, _, None) => self.eof.push(ci),
            }
        }
    }

    fn indent(depth: usize) -> String {
        "  ".repeat(depth)
    }

    fn push(&mut self, line: String) {
        self.lines.push(line.trim_end().to_string());
        self.fresh = false;
    }

    fn blank(&mut self, wanted: bool) {
        if wanted && !self.fresh && self.lines.last().is_some_and(|l| !l.is_empty()) {
            self.lines.push(String::new());
        }
    }

    fn comment_line(&mut self, ci: usize, depth: usize) {
        let blank = self.comment_blank.get(ci).copied().unwrap_or(false);
        self.blank(blank);
        let text = self.comments.get(ci).map_or("", |c| {
            self.text.get(c.span.start..c.span.end).unwrap_or("")
        });
        self.push(format!("{}{text}", Self::indent(depth)));
    }

    /// Comments before a piece, the blank line it had, and the comments
    /// written inside it.
    fn before(&mut self, id: usize, depth: usize) {
        for ci in self.leading.remove(&id).unwrap_or_default() {
            self.comment_line(ci, depth);
        }
        let blank = self.piece_blank.get(id).copied().unwrap_or(false);
        self.blank(blank);
        for ci in self.inner.remove(&id).unwrap_or_default() {
            if let Some(c) = self.comments.get(ci) {
                let text = self.text.get(c.span.start..c.span.end).unwrap_or("");
                self.push(format!("{}{text}", Self::indent(depth)));
            }
        }
    }

    /// Writes a piece's lines, with its trailing comment after the last.
    fn lines_of(&mut self, id: usize, mut lines: Vec<String>) {
        if let Some(ci) = self.trailing.remove(&id) {
            if let (Some(c), Some(last)) = (self.comments.get(ci), lines.last_mut()) {
                let text = self.text.get(c.span.start..c.span.end).unwrap_or("");
                last.push(' ');
                last.push_str(text);
            }
        }
        for l in lines {
            self.push(l);
        }
    }

    /// True when a blank line separates this piece from what comes before.
    fn detached(&self, id: usize) -> bool {
        self.piece_blank.get(id).copied().unwrap_or(false)
            || self.leading.get(&id).is_some_and(|cs| {
                cs.iter()
                    .any(|c| self.comment_blank.get(*c).copied().unwrap_or(false))
            })
    }

    fn emit_seq(&mut self, nodes: &[Node<'a>], depth: usize) {
        self.fresh = true;
        let mut i = 0;
        while i < nodes.len() {
            let Some(node) = nodes.get(i) else { break };
            match node {
                Node::Rule { .. } => {
                    let mut j = i + 1;
                    while let Some(n @ Node::Rule { .. }) = nodes.get(j) {
                        if self.detached(n.first_id()) {
                            break;
                        }
                        j += 1;
                    }
                    let run: Vec<(usize, &ast::Rule)> = nodes
                        .get(i..j)
                        .unwrap_or(&[])
                        .iter()
                        .filter_map(|n| match n {
                            Node::Rule { id, rule } => Some((*id, *rule)),
                            _ => None,
                        })
                        .collect();
                    let laid = self.layout(&run, depth);
                    for ((id, _), lines) in run.iter().zip(laid) {
                        self.before(*id, depth);
                        self.lines_of(*id, lines);
                    }
                    i = j;
                    continue;
                }
                Node::Line { id, text } => {
                    self.before(*id, depth);
                    let ind = Self::indent(depth);
                    self.lines_of(*id, vec![format!("{ind}{text}")]);
                }
                Node::Block {
                    open,
                    head,
                    children,
                    close,
                } => {
                    self.before(*open, depth);
                    self.lines_of(*open, vec![format!("{}{head}", Self::indent(depth))]);
                    self.emit_seq(children, depth + 1);
                    for ci in self.leading.remove(close).unwrap_or_default() {
                        self.comment_line(ci, depth + 1);
                    }
                    self.lines_of(*close, vec![format!("{}}}", Self::indent(depth))]);
                }
            }
            self.fresh = false;
            i += 1;
        }
    }

    /// The lines of each rule of a run, columns aligned.
    fn layout(&self, run: &[(usize, &ast::Rule)], depth: usize) -> Vec<Vec<String>> {
        let ind = Self::indent(depth);
        let parts: Vec<RuleParts> = run.iter().map(|(_, r)| self.rule_parts(r)).collect();
        let width = |s: &str| s.chars().count();
        let mut wrapped: Vec<bool> = parts
            .iter()
            .map(|p| width(&ind) + width(&p.single()) > MAX_WIDTH)
            .collect();
        let named = parts.iter().any(|p| p.name.is_some());
        let w1 = parts
            .iter()
            .filter_map(|p| p.name.as_deref())
            .map(width)
            .max()
            .unwrap_or(0);
        loop {
            let live = || {
                parts
                    .iter()
                    .zip(&wrapped)
                    .filter(|(_, w)| !**w)
                    .map(|(p, _)| p)
            };
            let w2 = live().map(|p| width(&p.col2())).max().unwrap_or(0);
            let w3 = live().map(|p| width(&p.col3())).max().unwrap_or(0);
            let lines: Vec<String> = parts
                .iter()
                .map(|p| p.aligned(&ind, named.then_some(w1), w2, w3))
                .collect();
            // Too wide: wrap the widest rule still in the table (its own
            // width sets the columns), then lay out the others again.
            let mut changed = false;
            if lines
                .iter()
                .zip(&wrapped)
                .any(|(l, w)| !*w && width(l) > MAX_WIDTH)
            {
                let widest = (0..parts.len()).filter(|k| !wrapped[*k]).max_by_key(|k| {
                    (
                        width(&parts[*k].col2()) + width(&parts[*k].col3()),
                        usize::MAX - k,
                    )
                });
                if let Some(k) = widest {
                    wrapped[k] = true;
                    changed = true;
                }
            }
            if !changed {
                return parts
                    .iter()
                    .zip(lines)
                    .zip(&wrapped)
                    .map(|((p, l), w)| {
                        if *w {
                            p.wrapped(&ind, named.then_some(w1))
                        } else {
                            vec![l]
                        }
                    })
                    .collect();
            }
        }
    }
}

struct RuleParts {
    name: Option<String>,
    methods: String,
    paths: Vec<String>,
    cond: Option<String>,
    key: Option<String>,
    tail: String,
}

fn pad(s: &str, w: usize) -> String {
    let n = s.chars().count();
    format!("{s}{}", " ".repeat(w.saturating_sub(n)))
}

impl RuleParts {
    fn matcher(&self) -> String {
        let mut s = format!("{} {}", self.methods, self.paths.join(" | "));
        if let Some(c) = &self.cond {
            s.push_str(&format!(" when {c}"));
        }
        s
    }

    /// The matcher, with the `:` when there is no key.
    fn col2(&self) -> String {
        match self.key {
            Some(_) => self.matcher(),
            None => format!("{}:", self.matcher()),
        }
    }

    fn col3(&self) -> String {
        self.key
            .as_ref()
            .map_or(String::new(), |k| format!("by {k}:"))
    }

    fn single(&self) -> String {
        let mut s = String::new();
        if let Some(n) = &self.name {
            s.push_str(n);
            s.push(' ');
        }
        s.push_str(&self.col2());
        if self.key.is_some() {
            s.push(' ');
            s.push_str(&self.col3());
        }
        s.push(' ');
        s.push_str(&self.tail);
        s
    }

    fn aligned(&self, ind: &str, w1: Option<usize>, w2: usize, w3: usize) -> String {
        let mut s = ind.to_string();
        if let Some(w1) = w1 {
            s.push_str(&pad(self.name.as_deref().unwrap_or(""), w1));
            s.push(' ');
        }
        s.push_str(&pad(&self.col2(), w2));
        s.push(' ');
        if w3 > 0 {
            s.push_str(&pad(&self.col3(), w3));
            s.push(' ');
        }
        s.push_str(&self.tail);
        s
    }

    /// A rule too long for one line. The head line keeps the name column
    /// and holds the methods and the paths: all of them when they fit and
    /// there are at most [`MAX_JOINED_PATHS`], else one per line, each `|`
    /// two columns left of the first path so that the paths line up. The
    /// condition, key and rates follow on a line that starts where the
    /// `|`s do, so nothing wraps into the name column; a condition too long
    /// to share that line gets its own. When a continuation line is still
    /// longer than [`MAX_WIDTH`] there (a long name or long methods push
    /// the `|` column right), the continuation lines start four columns in
    /// from the rule instead, and the rates get a line of their own if they
    /// must. Conditions and lists of rates are never broken inside, so one
    /// longer than a line stays longer, in the layout whose longest line is
    /// shortest.
    fn wrapped(&self, ind: &str, w1: Option<usize>) -> Vec<String> {
        let width = |s: &str| s.chars().count();
        let fits = |s: &String| width(s) <= MAX_WIDTH;
        let mut lead = ind.to_string();
        if let Some(w1) = w1 {
            lead.push_str(&pad(self.name.as_deref().unwrap_or(""), w1));
            lead.push(' ');
        }
        lead.push_str(&self.methods);
        lead.push(' ');
        let near = format!("{ind}    ");
        let bar = " ".repeat(width(&lead).saturating_sub(2));
        // The first path goes on the head line, the others under it, unless
        // one of those lines would be too long; then every path goes on a
        // line of its own, under the rule.
        let head_paths = self.paths.iter().enumerate().all(|(i, p)| {
            if i == 0 {
                fits(&format!("{lead}{p}"))
            } else {
                fits(&format!("{bar}| {p}"))
            }
        });
        let cont = if head_paths { bar } else { near.clone() };
        // Without a condition or key, the rates end the last path's line.
        let bare = self.cond.is_none() && self.key.is_none();
        let suffix = if bare {
            format!(": {}", self.tail)
        } else {
            String::new()
        };
        let joined = format!("{lead}{}", self.paths.join(" | "));
        let joined_fits = width(&joined) + width(&suffix) <= MAX_WIDTH;
        let mut lines = if self.paths.len() <= MAX_JOINED_PATHS && joined_fits {
            vec![joined]
        } else if head_paths {
            self.paths
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    if i == 0 {
                        format!("{lead}{p}")
                    } else {
                        format!("{cont}| {p}")
                    }
                })
                .collect()
        } else {
            let mut v = vec![lead.clone()];
            v.extend(self.paths.iter().enumerate().map(|(i, p)| {
                if i == 0 {
                    format!("{cont}  {p}")
                } else {
                    format!("{cont}| {p}")
                }
            }));
            v
        };
        // The rest of the rule, as candidate layouts from the preferred
        // one down; the first whose lines all fit is taken, else the last.
        let tail = &self.tail;
        let key = self.key.as_ref().map(|k| format!("by {k}"));
        let when = self.cond.as_ref().map(|c| format!("when {c}"));
        let candidates: Vec<Vec<String>> = match (&when, &key) {
            (None, None) => {
                let last = lines.last().cloned().unwrap_or_default();
                if fits(&format!("{last}{suffix}")) {
                    if let Some(l) = lines.last_mut() {
                        l.push_str(&suffix);
                    }
                    return lines;
                }
                vec![
                    vec![format!("{cont}{suffix}")],
                    vec![format!("{near}{suffix}")],
                ]
            }
            (Some(c), None) | (None, Some(c)) => vec![
                vec![format!("{cont}{c}: {tail}")],
                vec![format!("{near}{c}: {tail}")],
                vec![format!("{near}{c}:"), format!("{near}{tail}")],
            ],
            (Some(c), Some(k)) => vec![
                vec![format!("{cont}{c} {k}: {tail}")],
                vec![format!("{cont}{c}"), format!("{cont}{k}: {tail}")],
                vec![format!("{near}{c} {k}: {tail}")],
                vec![format!("{near}{c}"), format!("{near}{k}: {tail}")],
                vec![
                    format!("{near}{c}"),
                    format!("{near}{k}:"),
                    format!("{near}{tail}"),
                ],
            ],
        };
        let widest = |c: &Vec<String>| c.iter().map(|l| width(l)).max().unwrap_or(0);
        let rest = match candidates.iter().find(|c| c.iter().all(fits)) {
            Some(c) => Some(c.clone()),
            // A condition or list of rates longer than a line: the layout
            // whose longest line is shortest, the earlier one on a tie.
            None => candidates.iter().min_by_key(|c| widest(c)).cloned(),
        };
        lines.extend(rest.unwrap_or_default());
        lines
    }
}

fn methods(ms: &[ast::Ident]) -> String {
    ms.iter()
        .map(|m| m.name.as_str())
        .collect::<Vec<_>>()
        .join("|")
}

fn path(p: &ast::PathPat) -> String {
    if p.segments.is_empty() {
        return "/".to_string();
    }
    p.segments
        .iter()
        .map(|s| match s {
            ast::Segment::Literal(l, _) => format!("/{l}"),
            ast::Segment::Param(i) => format!("/{{{}}}", i.name),
            ast::Segment::Star(_) => "/*".to_string(),
            ast::Segment::Rest(_) => "/**".to_string(),
        })
        .collect()
}

fn paths(ps: &[ast::PathPat]) -> String {
    ps.iter().map(path).collect::<Vec<_>>().join(" | ")
}

fn key(k: &ast::Key) -> String {
    k.groups
        .iter()
        .map(|g| {
            g.iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>()
                .join("&")
        })
        .collect::<Vec<_>>()
        .join("|")
}

fn duration(d: &ast::DurationLit) -> String {
    format!("{}{}", d.amount.text, d.unit.name)
}

fn product(p: &ast::Product) -> String {
    p.factors
        .iter()
        .map(|f| match f {
            ast::Factor::Number(n) => n.text.clone(),
            ast::Factor::Name(i) => i.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(" * ")
}
