//! Stage 3b: static analysis of a policy that checked clean.
//!
//! In: an [`ir::Policy`] whose diagnostics hold no error. Out: findings no
//! rate limiter reports on its own, each a [`Diagnostic`] with a stable code,
//! spans on every rule involved and a help that says how to fix it:
//!
//! * windows: a window that can never be the one that rejects
//!   ([`codes::DEAD_WINDOW`]), a `bucket` without `burst`
//!   ([`codes::IMPLICIT_BURST`]), a `block` shorter than the window it
//!   guards ([`codes::SHORT_BLOCK`]), `m` (minutes) written for a month
//!   ([`codes::MINUTES_NOT_MONTHS`]);
//! * rules against each other: exact duplicates ([`codes::IDENTICAL_RULES`],
//!   an error) and rules another rule always rejects first
//!   ([`codes::SHADOWED_RULE`]), decided on computed path-pattern
//!   containment ([`path_contains`], [`paths_overlap`]) and on condition
//!   implication;
//! * conditions: conditions that can never hold
//!   ([`codes::CONTRADICTORY_CONDITION`]), keys the condition makes absent
//!   ([`codes::KEY_CONDITION_CONFLICT`]), derived limits whose counter never
//!   counts ([`codes::DEAD_COUNTER`], an error);
//! * declarations nobody uses ([`codes::UNUSED_DECLARATION`]), a single
//!   free-form attribute as a rule's only key ([`codes::FREE_FORM_KEY`]),
//!   `Retry-After` and `RateLimit-Policy` headers that disagree with the
//!   rules ([`codes::RETRY_AFTER_HEADER`], [`codes::RATELIMIT_POLICY_HEADER`]).
//!
//! Every claim is conservative: a warning is given only when it is proved
//! (conditions are decided by a small solver that answers "cannot hold" only
//! when it can show it). A `# rlc: allow(code, ...)` comment on the line
//! before an item, or at the end of its first line, acknowledges those
//! warnings for that item ([`codes::UNUSED_ALLOW`] when it acknowledges
//! nothing). Entry point: [`analyze`]; [`binding_window`] and
//! [`cardinality_notes`] serve `rlc explain`.

use crate::compile::{DecisionTable, Owner, WindowSpec};
use crate::diag::{codes, Diagnostic, Diagnostics, Severity};
use crate::ir::{self, Algorithm, AttrId, LimitExpr, PathPattern, PathSeg, Period, Piece, Var};
use crate::source::Span;
use crate::syntax::{self, ast};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Most rule pairs compared for duplicates and shadowing; beyond it (only
/// machine-made policies get there) the pairwise analysis stops.
const PAIR_BUDGET: usize = 2_000_000;
/// Most conjunctions a condition is expanded into; beyond it the solver
/// answers "may hold".
const DNF_LIMIT: usize = 256;
/// Most implications decided for the pairwise analysis.
const SOLVER_BUDGET: usize = 20_000;
/// Most windows of one rule compared pairwise.
const WINDOW_LIMIT: usize = 64;

/// The analysis codes that produce warnings, which `# rlc: allow(...)` may
/// acknowledge.
pub const ALLOWABLE: &[&str] = &[
    codes::DEAD_WINDOW,
    codes::SHADOWED_RULE,
    codes::CONTRADICTORY_CONDITION,
    codes::KEY_CONDITION_CONFLICT,
    codes::UNUSED_DECLARATION,
    codes::IMPLICIT_BURST,
    codes::SHORT_BLOCK,
    codes::MINUTES_NOT_MONTHS,
    codes::FREE_FORM_KEY,
    codes::RETRY_AFTER_HEADER,
    codes::RATELIMIT_POLICY_HEADER,
];

/// Runs every analysis on a policy without errors and returns the findings.
pub fn analyze(policy: &ir::Policy) -> Diagnostics {
    match syntax::parse(&policy.source) {
        Ok(file) => analyze_file(policy, &file),
        Err(_) => Diagnostics::default(),
    }
}

/// [`analyze`] with the syntax tree the policy was lowered from (spans of
/// conditions and names, comments), to save parsing it again.
pub fn analyze_file(policy: &ir::Policy, file: &ast::File) -> Diagnostics {
    let mut cx = Cx::new(policy, file);
    cx.windows();
    cx.conditions();
    cx.pairs();
    cx.unused();
    cx.keys();
    cx.headers();
    let mut diags = cx.diags;
    apply_allows(policy.source.text(), file, &mut diags);
    diags
}

// ------------------------------------------------------------------ conditions

/// A test on one attribute, true only when the attribute is present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Test {
    /// Present.
    Present,
    /// `== v`.
    Eq(String),
    /// `in (...)`.
    In(Vec<String>),
    /// `contains s`.
    Contains(String),
    /// `=~ r`.
    Match(String),
}

/// A condition over attribute names, for reasoning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pred {
    /// All hold (`And(vec![])` is true).
    And(Vec<Pred>),
    /// Any holds.
    Or(Vec<Pred>),
    /// Does not hold.
    Not(Box<Pred>),
    /// A test.
    Atom(String, Test),
}

impl Pred {
    /// The condition as written in a policy.
    pub fn from_ast(c: &ast::Cond) -> Pred {
        match c {
            ast::Cond::Or(parts, _) => Pred::Or(parts.iter().map(Pred::from_ast).collect()),
            ast::Cond::And(parts, _) => Pred::And(parts.iter().map(Pred::from_ast).collect()),
            ast::Cond::Not(x, _) => Pred::Not(Box::new(Pred::from_ast(x))),
            ast::Cond::Cmp {
                attr, op, value, ..
            } => {
                let a = attr.name.clone();
                let v = value.value.clone();
                match op {
                    ast::CmpOp::Eq => Pred::Atom(a, Test::Eq(v)),
                    ast::CmpOp::Ne => Pred::Not(Box::new(Pred::Atom(a, Test::Eq(v)))),
                    ast::CmpOp::Match => Pred::Atom(a, Test::Match(v)),
                    ast::CmpOp::NotMatch => Pred::Not(Box::new(Pred::Atom(a, Test::Match(v)))),
                    ast::CmpOp::Contains => Pred::Atom(a, Test::Contains(v)),
                }
            }
            ast::Cond::In { attr, values, .. } => Pred::Atom(
                attr.name.clone(),
                Test::In(values.iter().map(|v| v.value.clone()).collect()),
            ),
            ast::Cond::Present(a) => Pred::Atom(a.name.clone(), Test::Present),
        }
    }

    /// `attr` is present.
    pub fn present(attr: &str) -> Pred {
        Pred::Atom(attr.to_string(), Test::Present)
    }
}

#[derive(Clone, Copy, Debug)]
struct Lit<'a> {
    attr: &'a str,
    test: &'a Test,
    positive: bool,
}

/// Decides conditions. It answers "cannot hold" only when it can prove it;
/// anything it cannot decide (regexes against free values, conditions that
/// expand too much) is assumed to hold for some request.
#[derive(Default)]
pub struct Solver {
    regexes: HashMap<String, Option<regex::Regex>>,
}

impl Solver {
    /// A solver with an empty regex cache.
    pub fn new() -> Solver {
        Solver::default()
    }

    /// False only when no request can satisfy `p`.
    pub fn satisfiable(&mut self, p: &Pred) -> bool {
        match dnf(p, false) {
            Some(terms) => terms.iter().any(|t| self.term(t)),
            None => true,
        }
    }

    /// True only when every request satisfying `a` satisfies `b`.
    pub fn implies(&mut self, a: &Pred, b: &Pred) -> bool {
        !self.satisfiable(&Pred::And(vec![a.clone(), Pred::Not(Box::new(b.clone()))]))
    }

    fn term(&mut self, lits: &[Lit<'_>]) -> bool {
        let mut by_attr: BTreeMap<&str, Vec<Lit<'_>>> = BTreeMap::new();
        for l in lits {
            by_attr.entry(l.attr).or_default().push(*l);
        }
        by_attr.values().all(|ls| self.attr(ls))
    }

    /// Whether one attribute can satisfy all these literals at once.
    fn attr(&mut self, lits: &[Lit<'_>]) -> bool {
        let pos: Vec<&Test> = lits.iter().filter(|l| l.positive).map(|l| l.test).collect();
        let neg: Vec<&Test> = lits
            .iter()
            .filter(|l| !l.positive)
            .map(|l| l.test)
            .collect();
        if pos.is_empty() {
            // An absent attribute satisfies every negated test.
            return true;
        }
        if neg.iter().any(|t| **t == Test::Present) {
            return false;
        }
        let mut candidates: Option<Vec<&str>> = None;
        for t in &pos {
            let vals: Vec<&str> = match t {
                Test::Eq(v) => vec![v.as_str()],
                Test::In(vs) => vs.iter().map(String::as_str).collect(),
                _ => continue,
            };
            candidates = Some(match candidates {
                None => vals,
                Some(c) => c.into_iter().filter(|x| vals.contains(x)).collect(),
            });
        }
        if let Some(cands) = candidates {
            return cands.iter().any(|v| {
                pos.iter().all(|t| self.holds(t, v) != Some(false))
                    && neg.iter().all(|t| self.holds(t, v) != Some(true))
            });
        }
        // A free value: only the evident contradictions (and not at any cost).
        if pos.len().saturating_mul(neg.len()) > 10_000 {
            return true;
        }
        for p in &pos {
            for n in &neg {
                match (p, n) {
                    (Test::Contains(s), Test::Contains(t)) if s.contains(t.as_str()) => {
                        return false
                    }
                    (Test::Match(r), Test::Match(q)) if r == q => return false,
                    (Test::Present, _) | (_, Test::Present) => {}
                    _ => {}
                }
            }
        }
        true
    }

    /// Whether `t` holds for the present value `v`; `None` if unknown.
    fn holds(&mut self, t: &Test, v: &str) -> Option<bool> {
        Some(match t {
            Test::Present => true,
            Test::Eq(x) => v == x,
            Test::In(xs) => xs.iter().any(|x| x == v),
            Test::Contains(s) => v.contains(s.as_str()),
            Test::Match(r) => {
                let re = self
                    .regexes
                    .entry(r.clone())
                    .or_insert_with(|| regex::Regex::new(r).ok());
                re.as_ref()?.is_match(v)
            }
        })
    }
}

/// Disjunctive normal form of `p` (negated when `neg`), or `None` when it
/// has more than [`DNF_LIMIT`] conjunctions.
fn dnf(p: &Pred, neg: bool) -> Option<Vec<Vec<Lit<'_>>>> {
    match p {
        Pred::Atom(attr, test) => Some(vec![vec![Lit {
            attr,
            test,
            positive: !neg,
        }]]),
        Pred::Not(x) => dnf(x, !neg),
        Pred::And(parts) if !neg => product(parts, neg),
        Pred::Or(parts) if neg => product(parts, neg),
        Pred::And(parts) | Pred::Or(parts) => {
            let mut out = Vec::new();
            for part in parts {
                out.extend(dnf(part, neg)?);
                if out.len() > DNF_LIMIT {
                    return None;
                }
            }
            Some(out)
        }
    }
}

fn product(parts: &[Pred], neg: bool) -> Option<Vec<Vec<Lit<'_>>>> {
    let mut acc: Vec<Vec<Lit<'_>>> = vec![Vec::new()];
    for part in parts {
        let d = dnf(part, neg)?;
        if acc.len().saturating_mul(d.len()) > DNF_LIMIT {
            return None;
        }
        if let [single] = d.as_slice() {
            // One conjunction: extend in place (long `and` chains stay linear).
            for a in acc.iter_mut() {
                a.extend(single.iter().copied());
            }
            continue;
        }
        let mut next = Vec::with_capacity(acc.len() * d.len());
        for a in &acc {
            for b in &d {
                let mut t = a.clone();
                t.extend(b.iter().copied());
                next.push(t);
            }
        }
        acc = next;
    }
    Some(acc)
}

// ------------------------------------------------------------------ paths

/// True when some request path matches both patterns.
pub fn paths_overlap(a: &PathPattern, b: &PathPattern) -> bool {
    let mut i = 0;
    loop {
        match (a.segments.get(i), b.segments.get(i)) {
            (Some(PathSeg::Rest), _) | (_, Some(PathSeg::Rest)) | (None, None) => return true,
            (None, Some(_)) | (Some(_), None) => return false,
            (Some(PathSeg::Literal(x)), Some(PathSeg::Literal(y))) if x != y => return false,
            _ => {}
        }
        i += 1;
    }
}

/// True when every request path that `inner` matches, `outer` matches too.
pub fn path_contains(outer: &PathPattern, inner: &PathPattern) -> bool {
    let mut i = 0;
    loop {
        match (outer.segments.get(i), inner.segments.get(i)) {
            (Some(PathSeg::Rest), _) | (None, None) => return true,
            (None, Some(_)) | (Some(_), None) | (Some(_), Some(PathSeg::Rest)) => return false,
            (Some(PathSeg::Literal(x)), Some(PathSeg::Literal(y))) => {
                if x != y {
                    return false;
                }
            }
            (Some(PathSeg::Literal(_)), Some(_)) => return false,
            (Some(_), Some(_)) => {}
        }
        i += 1;
    }
}

// ------------------------------------------------------------------ windows

/// The window a rule binds on at its sustained maximum rate: the smallest
/// limit per length (ties: the longer window). `None` when the rule has no
/// rate window (concurrency limits only).
pub fn binding_window(windows: &[WindowSpec]) -> Option<usize> {
    let mut best: Option<(usize, u64, u64)> = None;
    for (i, w) in windows.iter().enumerate() {
        if w.period == Period::Concurrent {
            continue;
        }
        let (n, len) = (w.limit.bound(), w.period.min_nanos());
        best = match best {
            None => Some((i, n, len)),
            Some((j, bn, blen)) => {
                let lhs = u128::from(n) * u128::from(blen);
                let rhs = u128::from(bn) * u128::from(len);
                if lhs < rhs || (lhs == rhs && len > blen) {
                    Some((i, n, len))
                } else {
                    Some((j, bn, blen))
                }
            }
        };
    }
    best.map(|(i, _, _)| i)
}

/// A duration in words, exact when possible: `10ms`, `1.5s`, `333.333ms`.
pub fn human_nanos(ns: u64) -> String {
    let exact = ir::format_nanos(ns);
    if !exact.ends_with("ns") || ns < 1_000 {
        return exact;
    }
    let (value, unit) = if ns >= ir::SECOND {
        (ns as f64 / ir::SECOND as f64, "s")
    } else if ns >= ir::MILLI {
        (ns as f64 / ir::MILLI as f64, "ms")
    } else {
        (ns as f64 / 1_000.0, "µs")
    };
    let s = format!("{value:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{unit}")
}

/// The most that window `(v_limit, v)` lets through in one counting interval
/// of window `w` of the same rule and algorithm (`sliding` or `fixed`), or
/// `None` when it does not bound it.
fn allowance(alg: Algorithm, v_limit: u64, v: Period, w: Period) -> Option<u128> {
    let n = u128::from(v_limit);
    match (v, w) {
        (Period::Concurrent, Period::Concurrent) => Some(n),
        (Period::Concurrent, _) | (_, Period::Concurrent) => None,
        _ if alg == Algorithm::Sliding => {
            let (Period::Nanos(vl), Period::Nanos(wl)) = (v, w) else {
                return None;
            };
            // Each window sums its last 9 granules of W/8 (see
            // docs/semantics.md): any 9 consecutive granules of `v` hold at
            // most its limit.
            let gv = u128::from(vl.div_ceil(8).max(1));
            let gw = u128::from(wl.div_ceil(8).max(1));
            if gv <= gw {
                if gw % gv == 0 {
                    Some(n * (gw / gv))
                } else {
                    let granules = (9 * gw).div_ceil(gv) + 1;
                    Some(n * granules.div_ceil(9))
                }
            } else if 8 * gv >= 9 * gw {
                // v's lookback always covers w's.
                Some(n)
            } else {
                None
            }
        }
        _ => {
            // Fixed windows, aligned to the epoch (months: to January 1970).
            let (vl, wl, v_divides_day) = match (v, w) {
                (Period::Months(a), Period::Months(b)) => (u128::from(a), u128::from(b), true),
                (Period::Nanos(a), Period::Months(_)) => (
                    u128::from(a),
                    u128::from(w.max_nanos()),
                    ir::DAY % a.max(1) == 0,
                ),
                (Period::Months(_), Period::Nanos(b)) => {
                    // A window of `b` sits inside one calendar window when
                    // it divides a day (month boundaries are midnights).
                    return Some(if ir::DAY % b.max(1) == 0 { n } else { 2 * n });
                }
                (Period::Nanos(a), Period::Nanos(b)) => (u128::from(a), u128::from(b), false),
                _ => return None,
            };
            let vl = vl.max(1);
            if wl % vl == 0 || v_divides_day && matches!(w, Period::Months(_)) {
                Some(n * wl.div_ceil(vl))
            } else if vl % wl.max(1) == 0 {
                Some(n)
            } else {
                Some(n * (wl.div_ceil(vl) + 1))
            }
        }
    }
}

/// GCRA emission interval and capacity of a `bucket` window.
fn bucket_params(limit: u64, period: Period, burst: Option<u64>) -> (u64, u64) {
    let n = limit.max(1);
    ((period.min_nanos() / n).max(1), burst.unwrap_or(n))
}

/// True when bucket window `v` always rejects before bucket window `w`: it
/// refills no faster and holds no more.
fn bucket_dominates(v: (u64, Period), w: (u64, Period), burst: Option<u64>) -> bool {
    if v.1 == Period::Concurrent || w.1 == Period::Concurrent {
        return v.1 == w.1 && v.0 <= w.0;
    }
    let (tv, cv) = bucket_params(v.0, v.1, burst);
    let (tw, cw) = bucket_params(w.0, w.1, burst);
    tv >= tw && cv <= cw
}

// ------------------------------------------------------------------ the analysis

/// One top-level conjunct of a rule's condition, with where it is written.
#[derive(Clone, Debug)]
struct CondPart {
    pred: Pred,
    span: Span,
    /// Written on an enclosing `when` block.
    block: bool,
}

struct Cx<'a> {
    policy: &'a ir::Policy,
    text: &'a str,
    diags: Diagnostics,
    solver: Solver,
    /// Per rule: the conjuncts of its condition (blocks first).
    rule_conds: Vec<Vec<CondPart>>,
    /// Per counter: the conjuncts of its condition.
    counter_conds: Vec<Vec<CondPart>>,
    /// Name spans of counters, responses and header sets, by index.
    counter_names: Vec<Option<Span>>,
    response_names: Vec<Option<Span>>,
    header_names: Vec<Option<Span>>,
    /// Rules no request can reach.
    unreachable: Vec<bool>,
    /// Windows that never bind, per rule.
    dead: Vec<Vec<bool>>,
}

fn flatten(c: &ast::Cond, block: bool, out: &mut Vec<CondPart>) {
    match c {
        ast::Cond::And(parts, _) => {
            for p in parts {
                flatten(p, block, out);
            }
        }
        other => out.push(CondPart {
            pred: Pred::from_ast(other),
            span: other.span(),
            block,
        }),
    }
}

fn collect_rules(
    items: &[ast::Item],
    outer: &mut Vec<CondPart>,
    out: &mut HashMap<usize, Vec<CondPart>>,
) {
    for it in items {
        match it {
            ast::Item::When(w) => {
                let n = outer.len();
                flatten(&w.cond, true, outer);
                collect_rules(&w.items, outer, out);
                outer.truncate(n);
            }
            ast::Item::Rule(r) => {
                let mut parts = outer.clone();
                if let Some(c) = &r.matcher.cond {
                    flatten(c, false, &mut parts);
                }
                out.insert(r.span.start, parts);
            }
            _ => {}
        }
    }
}

fn and(parts: &[CondPart]) -> Pred {
    Pred::And(parts.iter().map(|p| p.pred.clone()).collect())
}

impl<'a> Cx<'a> {
    fn new(policy: &'a ir::Policy, file: &ast::File) -> Cx<'a> {
        let mut by_start = HashMap::new();
        collect_rules(&file.items, &mut Vec::new(), &mut by_start);
        let text = policy.source.text();
        let trimmed = |parts: Vec<CondPart>| -> Vec<CondPart> {
            parts
                .into_iter()
                .map(|p| CondPart {
                    span: crate::fmt::trim_span(text, p.span),
                    ..p
                })
                .collect()
        };
        let rule_conds = policy
            .rules
            .iter()
            .map(|r| trimmed(by_start.remove(&r.span.start).unwrap_or_default()))
            .collect();
        let mut counters: HashMap<usize, (Span, Vec<CondPart>)> = HashMap::new();
        let mut names: HashMap<usize, Span> = HashMap::new();
        for it in &file.items {
            match it {
                ast::Item::Counter(c) => {
                    let mut parts = Vec::new();
                    if let Some(cond) = &c.matcher.cond {
                        flatten(cond, false, &mut parts);
                    }
                    counters.insert(c.span.start, (c.name.span, trimmed(parts)));
                }
                ast::Item::Response(r) => {
                    names.insert(r.span.start, r.name.span);
                }
                ast::Item::Headers(h) => {
                    names.insert(h.span.start, h.name.span);
                }
                _ => {}
            }
        }
        let counter_names = policy
            .counters
            .iter()
            .map(|c| counters.get(&c.span.start).map(|x| x.0))
            .collect();
        let counter_conds = policy
            .counters
            .iter()
            .map(|c| {
                counters
                    .get(&c.span.start)
                    .map(|x| x.1.clone())
                    .unwrap_or_default()
            })
            .collect();
        Cx {
            policy,
            text: policy.source.text(),
            diags: Diagnostics::default(),
            solver: Solver::new(),
            rule_conds,
            counter_conds,
            counter_names,
            response_names: policy
                .responses
                .iter()
                .map(|r| names.get(&r.span.start).copied())
                .collect(),
            header_names: policy
                .header_sets
                .iter()
                .map(|h| names.get(&h.span.start).copied())
                .collect(),
            unreachable: vec![false; policy.rules.len()],
            dead: policy
                .rules
                .iter()
                .map(|r| vec![false; r.windows.len()])
                .collect(),
        }
    }

    /// A span without the trivia the parser lets some items run on over.
    fn trim(&self, s: Span) -> Span {
        crate::fmt::trim_span(self.text, s)
    }

    fn src(&self, s: Span) -> &'a str {
        self.text.get(s.start..s.end).unwrap_or("")
    }

    fn attr_name(&self, a: AttrId) -> &'a str {
        self.policy.inputs.get(a).map_or("?", |i| i.name.as_str())
    }

    fn group_text(&self, g: &[AttrId]) -> String {
        g.iter()
            .map(|a| self.attr_name(*a))
            .collect::<Vec<_>>()
            .join("&")
    }

    // -------------------------------------------------------------- windows

    fn windows(&mut self) {
        let policy = self.policy;
        for (ri, rule) in policy.rules.iter().enumerate() {
            let month_intent = self.minutes_not_months(rule);
            if rule.windows.len() <= WINDOW_LIMIT {
                self.dead_windows(ri, rule, &month_intent);
            }
            self.implicit_burst(rule);
            self.short_block(rule);
        }
    }

    /// The unit a window was written with (`m`, `mo`, `d`...).
    fn unit(&self, w: &ir::Window) -> &'a str {
        let t = self.src(w.span);
        let after = t.rsplit('/').next().unwrap_or("").trim();
        after.trim_start_matches(|c: char| c.is_ascii_digit() || c == '_')
    }

    fn minutes_not_months(&mut self, rule: &ir::Rule) -> Vec<usize> {
        let mut flagged = Vec::new();
        let days: Vec<&ir::Window> = rule
            .windows
            .iter()
            .filter(|w| self.unit(w) == "d")
            .collect();
        for (i, w) in rule.windows.iter().enumerate() {
            if self.unit(w) != "m" {
                continue;
            }
            let LimitExpr::Const(n) = w.limit else {
                continue;
            };
            let Some(d) = days.iter().find(|d| n > d.limit.bound()) else {
                continue;
            };
            flagged.push(i);
            let written = self.src(w.span);
            let as_month = written
                .rsplit_once('/')
                .map(|(l, p)| format!("{l}/{}o", p.trim()))
                .unwrap_or_default();
            self.diags.push(
                Diagnostic::warning(
                    codes::MINUTES_NOT_MONTHS,
                    w.span,
                    format!(
                        "`{written}` allows more per minute than `{}` allows per day",
                        self.src(d.span)
                    ),
                )
                .label("`m` is minutes")
                .with_related(d.span, "the day's limit")
                .help(format!(
                    "`m` means minutes, so this window never binds; for a calendar month write `{as_month}` (with `fixed`), or `{}` for 30 days",
                    written.rsplit_once('/').map(|(l, _)| format!("{l}/30d")).unwrap_or_default()
                )),
            );
        }
        flagged
    }

    fn dead_windows(&mut self, ri: usize, rule: &ir::Rule, skip: &[usize]) {
        let alg = rule.algorithm;
        let burst = rule.burst.map(|(b, _)| b);
        let ws = &rule.windows;
        let dominates = |v: &ir::Window, w: &ir::Window| -> Option<u128> {
            let LimitExpr::Const(lw) = w.limit else {
                return None;
            };
            if alg == Algorithm::Bucket {
                // Derived limits are `fixed` only; a bucket's are constants.
                return bucket_dominates((v.limit.bound(), v.period), (lw, w.period), burst)
                    .then_some(0);
            }
            allowance(alg, v.limit.bound(), v.period, w.period).filter(|a| *a <= u128::from(lw))
        };
        // Fixed windows in a time zone move with its offset (daylight saving
        // time, a zone per request): only windows of one length line up.
        let zoned = alg == Algorithm::Fixed && rule.tz.is_some();
        for (wi, w) in ws.iter().enumerate() {
            if skip.contains(&wi) {
                continue;
            }
            let found = ws.iter().enumerate().find_map(|(vi, v)| {
                if vi == wi || zoned && v.period != w.period {
                    return None;
                }
                let a = dominates(v, w)?;
                // Of two windows that bound each other, the first stays.
                if vi > wi && dominates(w, v).is_some() {
                    return None;
                }
                Some((v, a))
            });
            let Some((v, allowed)) = found else {
                continue;
            };
            if let Some(d) = self.dead.get_mut(ri).and_then(|d| d.get_mut(wi)) {
                *d = true;
            }
            let (wt, vt) = (self.src(w.span), self.src(v.span));
            let (message, related, help) = if alg == Algorithm::Bucket {
                let (tv, cv) = bucket_params(v.limit.bound(), v.period, burst);
                (
                    format!("window `{wt}` never binds: `{vt}` is always stricter"),
                    format!(
                        "one request every {}, at most {cv} at once",
                        human_nanos(tv)
                    ),
                    format!("a bucket that refills no faster and holds no more rejects first; remove `{wt}`, or make it slower than one request every {} if it should bind", human_nanos(tv)),
                )
            } else if w.period == v.period {
                (
                    format!("window `{wt}` never binds: `{vt}` counts the same window with a lower limit"),
                    "the lower limit".to_string(),
                    format!("remove `{wt}`"),
                )
            } else {
                let per = match (alg, w.period) {
                    (Algorithm::Fixed, _) => format!("{} window", w.period),
                    _ => format!("{} window ({}'s sliding lookback)", w.period, w.period),
                };
                (
                    format!(
                        "window `{wt}` never binds: `{vt}` already allows at most {allowed} per {}",
                        w.period
                    ),
                    format!("allows at most {allowed} per {per}"),
                    format!(
                        "remove `{wt}`, or set it below {allowed} if it should bind (e.g. `{}/{}`)",
                        (allowed * 4 / 5).max(1),
                        self.src(w.span).rsplit('/').next().unwrap_or("").trim()
                    ),
                )
            };
            self.diags.push(
                Diagnostic::warning(codes::DEAD_WINDOW, w.span, message)
                    .label("never the window that rejects")
                    .with_related(v.span, related)
                    .help(help),
            );
        }
    }

    fn implicit_burst(&mut self, rule: &ir::Rule) {
        if rule.algorithm != Algorithm::Bucket || rule.burst.is_some() {
            return;
        }
        let windows: Vec<&ir::Window> = rule
            .windows
            .iter()
            .filter(|w| w.period != Period::Concurrent && w.limit.bound() > 1)
            .collect();
        let Some(first) = windows.first() else {
            return;
        };
        let describe = |w: &ir::Window| {
            let (t, cap) = bucket_params(w.limit.bound(), w.period, None);
            (cap, human_nanos(t))
        };
        let (cap, every) = describe(first);
        let wt = self.src(first.span);
        let mut d = Diagnostic::warning(
            codes::IMPLICIT_BURST,
            first.span,
            format!("`{wt}` as a bucket admits {cap} at once, then one request every {every}"),
        )
        .label(format!("burst of {cap}, then one per {every}"));
        for w in windows.iter().skip(1) {
            let (cap, every) = describe(w);
            d = d.with_related(w.span, format!("burst of {cap}, then one per {every}"));
        }
        if let Some(s) = rule.algorithm_span {
            d = d.with_related(s, "bucket");
        }
        self.diags.push(d.help(format!(
            "without `burst`, a bucket's capacity is its whole limit; add `burst B` for how many may come at once (e.g. `burst {}`), or use `sliding` for \"at most {cap} in any {}\"",
            (cap / 10).max(1),
            first.period
        )));
    }

    fn short_block(&mut self, rule: &ir::Rule) {
        let Some((block, span)) = rule.block else {
            return;
        };
        let rate: Vec<&ir::Window> = rule
            .windows
            .iter()
            .filter(|w| w.period != Period::Concurrent)
            .collect();
        // What the window holds after the block: a whole window for
        // `sliding`/`fixed`, one emission interval for a bucket.
        let hold = |w: &ir::Window| match rule.algorithm {
            Algorithm::Bucket => bucket_params(w.limit.bound(), w.period, None).0,
            _ => w.period.min_nanos(),
        };
        let Some(longest) = rate.iter().max_by_key(|w| hold(w)) else {
            return;
        };
        let held = hold(longest);
        if block >= held {
            return;
        }
        let bt = ir::format_nanos(block);
        let what = match rule.algorithm {
            Algorithm::Bucket => format!("one request every {}", human_nanos(held)),
            _ => format!("the {} window", longest.period),
        };
        self.diags.push(
            Diagnostic::warning(
                codes::SHORT_BLOCK,
                span,
                format!("`block {bt}` is shorter than {what}"),
            )
            .label("ends while the window may still hold the key")
            .with_related(longest.span, "still over its limit after the block")
            .help(format!(
                "after {bt} the window may still be full, so the next request is rejected again and starts a new block; use `block {}` or longer for one unbroken penalty, or `throttle`",
                human_nanos(held)
            )),
        );
    }

    // -------------------------------------------------------------- conditions

    fn conditions(&mut self) {
        let policy = self.policy;
        for (ri, rule) in policy.rules.iter().enumerate() {
            let parts = self.rule_conds.get(ri).cloned().unwrap_or_default();
            if parts.is_empty() {
                continue;
            }
            let whole = and(&parts);
            if !self.solver.satisfiable(&whole) {
                if let Some(u) = self.unreachable.get_mut(ri) {
                    *u = true;
                }
                let core = self.core(&parts, &[]);
                let d = self.contradiction(&parts, &core, &format!("rule `{}`", rule.id));
                self.diags.push(d.help(
                    if parts.iter().any(|p| p.block) {
                        "a request has one value per attribute, and the conditions of every enclosing `when` block must hold together with the rule's own; fix the condition or remove the rule"
                    } else {
                        "a request has one value per attribute; fix the condition or remove the rule"
                    },
                ));
                continue;
            }
            self.key_conflict(ri, rule, &parts, &whole);
        }
        for (ci, counter) in policy.counters.iter().enumerate() {
            let parts = self.counter_conds.get(ci).cloned().unwrap_or_default();
            let presence: Vec<Pred> = counter
                .key
                .iter()
                .map(|a| Pred::present(self.attr_name(*a)))
                .collect();
            let mut all = vec![and(&parts)];
            all.extend(presence.iter().cloned());
            if self.solver.satisfiable(&Pred::And(all)) {
                continue;
            }
            let readers: Vec<(&ir::Rule, &ir::Window)> = policy
                .rules
                .iter()
                .flat_map(|r| r.windows.iter().map(move |w| (r, w)))
                .filter(|(_, w)| match &w.limit {
                    LimitExpr::Min { terms, .. } => terms.iter().any(|t| t.counters.contains(&ci)),
                    LimitExpr::Const(_) => false,
                })
                .collect();
            let core = self.core(&parts, &presence);
            if readers.is_empty() {
                let d = self.contradiction(&parts, &core, &format!("counter `{}`", counter.name));
                self.diags
                    .push(d.help("a counter that never counts is always 0; fix the condition or remove the counter"));
                continue;
            }
            for (rule, w) in readers {
                let mut d = Diagnostic::error(
                    codes::DEAD_COUNTER,
                    w.span,
                    format!(
                        "counter `{}` never counts, so this derived limit of rule `{}` is always 0",
                        counter.name, rule.id
                    ),
                )
                .label("always 0: rejects every request");
                let label = if core.len() == 1 {
                    "never true"
                } else {
                    "these never hold together"
                };
                for i in &core {
                    if let Some(p) = parts.get(*i) {
                        d = d.with_related(p.span, label);
                    }
                }
                if core.is_empty() || core.iter().all(|i| *i >= parts.len()) {
                    d = d.with_related(self.trim(counter.span), "the counter");
                }
                self.diags.push(d.help(format!(
                    "the counter's condition excludes every request it could count (its key `{}` must be present); fix the counter's condition",
                    self.group_text(&counter.key)
                )));
            }
        }
    }

    /// The smallest set of conjuncts (indices into `parts`; `parts.len()+k`
    /// for `extra[k]`) that cannot hold together.
    fn core(&mut self, parts: &[CondPart], extra: &[Pred]) -> Vec<usize> {
        let all: Vec<Pred> = parts
            .iter()
            .map(|p| p.pred.clone())
            .chain(extra.iter().cloned())
            .collect();
        for (i, p) in all.iter().enumerate() {
            if !self.solver.satisfiable(p) {
                return vec![i];
            }
        }
        if all.len() <= 40 {
            for i in 0..all.len() {
                for j in i + 1..all.len() {
                    if !self
                        .solver
                        .satisfiable(&Pred::And(vec![all[i].clone(), all[j].clone()]))
                    {
                        return vec![i, j];
                    }
                }
            }
        }
        // No pair: all of them (the last few, for a readable report).
        (all.len().saturating_sub(8)..all.len()).collect()
    }

    fn contradiction(&self, parts: &[CondPart], core: &[usize], what: &str) -> Diagnostic {
        let shown: Vec<&CondPart> = core.iter().filter_map(|i| parts.get(*i)).collect();
        let (Some(last), rest) = shown
            .split_last()
            .map_or((None, &[][..]), |(l, r)| (Some(*l), r))
        else {
            return Diagnostic::warning(
                codes::CONTRADICTORY_CONDITION,
                Span::default(),
                format!("{what} can never apply: its condition never holds"),
            );
        };
        let mut d = Diagnostic::warning(
            codes::CONTRADICTORY_CONDITION,
            last.span,
            format!("{what} can never apply: its condition never holds"),
        )
        .label(if rest.is_empty() {
            "never true".to_string()
        } else {
            "never true together with the other condition".to_string()
        });
        for p in rest {
            d = d.with_related(
                p.span,
                if p.block {
                    "condition of an enclosing `when` block"
                } else {
                    "contradicted by it"
                },
            );
        }
        d
    }

    fn key_conflict(&mut self, ri: usize, rule: &ir::Rule, parts: &[CondPart], whole: &Pred) {
        if rule.key.is_empty() {
            return;
        }
        let mut dead = Vec::new();
        for (gi, g) in rule.key.iter().enumerate() {
            let mut all = vec![whole.clone()];
            all.extend(g.iter().map(|a| Pred::present(self.attr_name(*a))));
            if !self.solver.satisfiable(&Pred::And(all)) {
                dead.push(gi);
            }
        }
        if dead.is_empty() {
            return;
        }
        let every = dead.len() == rule.key.len();
        if every {
            if let Some(u) = self.unreachable.get_mut(ri) {
                *u = true;
            }
        }
        let key_span = self.trim(rule.key_span.unwrap_or(rule.span));
        for gi in dead {
            let Some(g) = rule.key.get(gi) else { continue };
            let presence: Vec<Pred> = g
                .iter()
                .map(|a| Pred::present(self.attr_name(*a)))
                .collect();
            // The conjuncts that exclude an attribute of the group.
            let culprits: Vec<usize> = (0..parts.len())
                .filter(|i| {
                    let mut all = vec![parts[*i].pred.clone()];
                    all.extend(presence.iter().cloned());
                    !self.solver.satisfiable(&Pred::And(all))
                })
                .collect();
            let gt = self.group_text(g);
            // The attributes of the group the condition makes absent.
            let names_of: Vec<&'a str> = g.iter().map(|a| self.attr_name(*a)).collect();
            let absent: Vec<&str> = names_of
                .into_iter()
                .filter(|a| {
                    !self
                        .solver
                        .satisfiable(&Pred::And(vec![whole.clone(), Pred::present(a)]))
                })
                .collect();
            let names = if absent.is_empty() {
                format!("`{gt}`")
            } else {
                absent
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let message = if every && rule.key.len() == 1 {
                format!(
                    "rule `{}` can never apply: its condition requires {names} absent, but its key `{gt}` needs it",
                    rule.id
                )
            } else if every {
                format!(
                    "rule `{}` can never apply: its condition requires {names} absent, which key group `{gt}` needs, like every other group",
                    rule.id
                )
            } else {
                format!(
                    "key group `{gt}` of rule `{}` never applies: the condition requires {names} absent",
                    rule.id
                )
            };
            let mut d = Diagnostic::warning(codes::KEY_CONDITION_CONFLICT, key_span, message)
                .label(format!("needs {names} present"));
            let mut shown: Vec<usize> = if culprits.is_empty() {
                (0..parts.len()).collect()
            } else {
                culprits
            };
            shown.truncate(8);
            for i in shown {
                if let Some(p) = parts.get(i) {
                    d = d.with_related(p.span, "requires it absent");
                }
            }
            self.diags.push(d.help(
                "a key group applies only when all its attributes are present; drop the group from the key, or the condition that excludes it",
            ));
        }
    }

    // -------------------------------------------------------------- rule pairs

    fn pairs(&mut self) {
        let policy = self.policy;
        let rules = &policy.rules;
        let n = rules.len();
        if n < 2 || n.saturating_mul(n) > PAIR_BUDGET {
            return;
        }
        let conds: Vec<Pred> = (0..n)
            .map(|i| and(self.rule_conds.get(i).map_or(&[][..], Vec::as_slice)))
            .collect();
        let keys: Vec<Vec<BTreeSet<AttrId>>> = rules.iter().map(|r| key_sets(&r.key)).collect();
        let wins: Vec<Vec<String>> = rules.iter().map(window_signature).collect();
        let skip: Vec<bool> = (0..n)
            .map(|i| self.unreachable.get(i).copied().unwrap_or(true))
            .collect();
        // Only rules with a path that contains one of B's paths can cover B:
        // compare B with those alone, in the order of the rules.
        let trie = PathTrie::new(rules);
        let mut found = Vec::new();
        // Implication is the costly test: bound how often it runs.
        let mut budget = SOLVER_BUDGET;
        let mut identical = vec![false; n];
        // Exact duplicates: an error on the second of each pair.
        for j in 0..n {
            if skip[j] {
                continue;
            }
            trie.covering(&rules[j], &mut found);
            for &i in found.iter().take_while(|&&i| i < j) {
                if identical[i] || skip[i] {
                    continue;
                }
                let (a, b) = (&rules[i], &rules[j]);
                // Status and response may differ: the answer, not the limit.
                if !same_counting(a, b)
                    || a.algorithm != b.algorithm
                    || a.burst.map(|x| x.0) != b.burst.map(|x| x.0)
                    || a.block.map(|x| x.0) != b.block.map(|x| x.0)
                    || a.shadow != b.shadow
                    || a.matcher.methods != b.matcher.methods
                    || a.params != b.params
                    || wins[i] != wins[j]
                    || !same_keys(&keys[i], &keys[j])
                    || !covers(&a.matcher.paths, &b.matcher.paths)
                    || !covers(&b.matcher.paths, &a.matcher.paths)
                {
                    continue;
                }
                if budget < 2 {
                    return;
                }
                budget -= 2;
                if !self.solver.implies(&conds[i], &conds[j])
                    || !self.solver.implies(&conds[j], &conds[i])
                {
                    continue;
                }
                identical[j] = true;
                self.diags.push(
                    Diagnostic::error(
                        codes::IDENTICAL_RULES,
                        self.trim(b.id_span),
                        format!("rules `{}` and `{}` are identical", a.id, b.id),
                    )
                    .label("same requests, key, windows and algorithm")
                    .with_related(self.trim(a.id_span), "first written here")
                    .help("two identical rules count the same requests twice over and never differ; remove one (or change what it limits)"),
                );
            }
        }
        // Shadowing: A always rejects before B. Not when a full key store
        // admits new keys uncounted (`default overflow allow`): A's table
        // could then miss requests B's counts.
        if policy.overflow == ir::Overflow::Allow {
            return;
        }
        // A key taken from the path is read at the rule's own segment.
        let from_path: Vec<bool> = rules
            .iter()
            .map(|r| {
                r.key
                    .iter()
                    .flatten()
                    .any(|a| policy.inputs.get(*a).is_none_or(|i| i.param))
            })
            .collect();
        for j in 0..n {
            if identical[j] || skip[j] {
                continue;
            }
            let b = &rules[j];
            if b.shadow || b.block.is_some() {
                continue;
            }
            trie.covering(b, &mut found);
            for &i in &found {
                if i == j || identical[i] || skip[i] {
                    continue;
                }
                let a = &rules[i];
                if a.shadow
                    || from_path[i]
                    || a.algorithm != b.algorithm
                    || !same_counting(a, b)
                    || a.matcher.methods.0 & b.matcher.methods.0 != b.matcher.methods.0
                    || !coarser_key(&keys[i], &keys[j])
                    || !self.stricter(a, b, j)
                    || !covers(&a.matcher.paths, &b.matcher.paths)
                {
                    continue;
                }
                if budget == 0 {
                    return;
                }
                budget -= 1;
                if !self.solver.implies(&conds[j], &conds[i]) {
                    continue;
                }
                let same_key = same_keys(&keys[i], &keys[j]);
                self.diags.push(
                    Diagnostic::warning(
                        codes::SHADOWED_RULE,
                        self.trim(b.id_span),
                        format!(
                            "rule `{}` is shadowed by `{}`: it can never be the reason for a rejection",
                            b.id, a.id
                        ),
                    )
                    .label("never rejects on its own")
                    .with_related(
                        self.trim(a.id_span),
                        if same_key {
                            "stricter: matches all its requests, on the same key"
                        } else {
                            "stricter: matches all its requests, on a coarser key"
                        },
                    )
                    .help(format!(
                        "every request `{}` counts, `{}` counts too against a limit at least as low, so `{}` rejects first; remove `{}`, or narrow `{}` (a path, a method, a condition) if `{}` should allow more",
                        b.id, a.id, a.id, b.id, a.id, b.id
                    )),
                );
                break;
            }
        }
    }

    /// True when every live window of `b` has a window of `a` that is at
    /// least as strict, over the same window.
    fn stricter(&self, a: &ir::Rule, b: &ir::Rule, bi: usize) -> bool {
        let burst_a = a.burst.map(|x| x.0);
        let burst_b = b.burst.map(|x| x.0);
        let dead = self.dead.get(bi);
        let mut any = false;
        for (wi, wb) in b.windows.iter().enumerate() {
            if dead.and_then(|d| d.get(wi)).copied().unwrap_or(false) {
                continue;
            }
            let LimitExpr::Const(lb) = wb.limit else {
                return false;
            };
            any = true;
            let ok = a.windows.iter().any(|wa| {
                if a.algorithm == Algorithm::Bucket && wa.period != Period::Concurrent {
                    if wb.period == Period::Concurrent {
                        return false;
                    }
                    let (ta, ca) = bucket_params(wa.limit.bound(), wa.period, burst_a);
                    let (tb, cb) = bucket_params(lb, wb.period, burst_b);
                    ta >= tb && ca <= cb
                } else {
                    wa.period == wb.period && wa.limit.bound() <= lb
                }
            });
            if !ok {
                return false;
            }
        }
        any
    }

    // -------------------------------------------------------------- unused

    fn unused(&mut self) {
        let policy = self.policy;
        let mut attrs = vec![false; policy.inputs.len()];
        let mut mark = |a: AttrId| {
            if let Some(x) = attrs.get_mut(a) {
                *x = true;
            }
        };
        let mut counters = vec![false; policy.counters.len()];
        let mut responses = vec![false; policy.responses.len()];
        for r in &policy.rules {
            r.key.iter().flatten().for_each(|a| mark(*a));
            if let Some(c) = &r.matcher.cond {
                cond_attrs(c, &mut mark);
            }
            if let Some(a) = r.cost_attr {
                mark(a);
            }
            if let Some(a) = r.tz.as_ref().and_then(|t| t.attr) {
                mark(a);
            }
            if let Some(a) = r.tz.as_ref().and_then(|t| t.attr) {
                mark(a);
            }
            for w in &r.windows {
                if let LimitExpr::Min { terms, .. } = &w.limit {
                    for t in terms {
                        t.attrs.iter().for_each(|a| mark(*a));
                        for c in &t.counters {
                            if let Some(x) = counters.get_mut(*c) {
                                *x = true;
                            }
                        }
                    }
                }
            }
            if let Some(x) = r.response.and_then(|i| responses.get_mut(i)) {
                *x = true;
            }
        }
        for c in &policy.counters {
            c.key.iter().for_each(|a| mark(*a));
            if let Some(cond) = &c.matcher.cond {
                cond_attrs(cond, &mut mark);
            }
        }
        if let Some(x) = policy.default_response.and_then(|i| responses.get_mut(i)) {
            *x = true;
        }
        let mut headers = vec![false; policy.header_sets.len()];
        for r in &policy.responses {
            if let Some(x) = r.headers.and_then(|i| headers.get_mut(i)) {
                *x = true;
            }
        }
        for (i, input) in policy.inputs.iter().enumerate() {
            if input.param || attrs.get(i).copied().unwrap_or(true) {
                continue;
            }
            self.diags.push(
                Diagnostic::warning(
                    codes::UNUSED_DECLARATION,
                    input.span,
                    format!("input `{}` is never used", input.name),
                )
                .label("no key, condition or limit reads it")
                .help(
                    if policy
                        .inputs
                        .iter()
                        .any(|x| x.param && x.name == format!("{{{}}}", input.name))
                    {
                        // `by doc` on a path with `{doc}` reads the path.
                        format!(
                            "`by {0}` on a path with `{{{0}}}` keys on the path parameter, never \
                             on this input; remove `{0}` from `input`, or rename one of them",
                            input.name
                        )
                    } else {
                        format!(
                            "remove `{0}` from `input`, or use it in a key (`by {0}`) or a condition",
                            input.name
                        )
                    },
                ),
            );
        }
        for (i, c) in policy.counters.iter().enumerate() {
            if counters.get(i).copied().unwrap_or(true) {
                continue;
            }
            let span = self
                .counter_names
                .get(i)
                .copied()
                .flatten()
                .unwrap_or(c.span);
            self.diags.push(
                Diagnostic::warning(
                    codes::UNUSED_DECLARATION,
                    span,
                    format!("counter `{}` is never used", c.name),
                )
                .label("no derived limit reads it")
                .help(format!(
                    "remove it, or read it in a limit: `min({}, 1000)/1d fixed`",
                    c.name
                )),
            );
        }
        for (i, r) in policy.responses.iter().enumerate() {
            if responses.get(i).copied().unwrap_or(true) {
                continue;
            }
            let span = self
                .response_names
                .get(i)
                .copied()
                .flatten()
                .unwrap_or(r.span);
            self.diags.push(
                Diagnostic::warning(
                    codes::UNUSED_DECLARATION,
                    span,
                    format!("response `{}` is never used", r.name),
                )
                .label("no rule responds with it")
                .help(format!(
                    "remove it, or use it: `respond {}` on a rule, or `default respond {}`",
                    r.name, r.name
                )),
            );
        }
        for (i, h) in policy.header_sets.iter().enumerate() {
            if headers.get(i).copied().unwrap_or(true) {
                continue;
            }
            let span = self
                .header_names
                .get(i)
                .copied()
                .flatten()
                .unwrap_or(h.span);
            self.diags.push(
                Diagnostic::warning(
                    codes::UNUSED_DECLARATION,
                    span,
                    format!("header set `{}` is never used", h.name),
                )
                .label("no response sends it")
                .help(format!(
                    "remove it, or add `headers {}` to a response",
                    h.name
                )),
            );
        }
    }

    // -------------------------------------------------------------- keys

    fn keys(&mut self) {
        let policy = self.policy;
        let is_ip = |a: AttrId| {
            policy
                .inputs
                .get(a)
                .is_none_or(|i| i.param || i.name.to_ascii_lowercase().contains("ip"))
        };
        // How many rules key on each attribute, and how many rules have a key.
        let mut keyed_by = vec![0usize; policy.inputs.len()];
        for r in &policy.rules {
            let attrs: BTreeSet<AttrId> = r.key.iter().flatten().copied().collect();
            for a in attrs {
                if let Some(x) = keyed_by.get_mut(a) {
                    *x += 1;
                }
            }
        }
        let keyed_rules = policy.rules.iter().filter(|r| !r.key.is_empty()).count();
        for rule in &policy.rules {
            let [group] = rule.key.as_slice() else {
                continue;
            };
            let [attr] = group.as_slice() else {
                continue;
            };
            // Nothing to compare with when it is the only keyed rule; and an
            // address, or an attribute other rules or counters key on, is
            // the policy's usual key.
            if is_ip(*attr)
                || keyed_rules < 2
                || keyed_by.get(*attr).copied().unwrap_or(0) > 1
                || policy.counters.iter().any(|c| c.key.contains(attr))
            {
                continue;
            }
            let name = self.attr_name(*attr);
            let mut d = Diagnostic::warning(
                codes::FREE_FORM_KEY,
                self.trim(rule.key_span.unwrap_or(rule.span)),
                format!(
                    "rule `{}` is keyed only by `{name}`, which no other rule uses as a key",
                    rule.id
                ),
            )
            .label(format!("one counter per distinct `{name}`"));
            let others = policy
                .rules
                .iter()
                .filter(|r| !std::ptr::eq(*r, rule))
                .filter_map(|r| r.key_span.map(|k| crate::fmt::trim_span(self.text, k)))
                .take(3);
            for s in others {
                d = d.with_related(s, "other rules are keyed like this");
            }
            self.diags.push(d.help(format!(
                "every distinct value of `{name}` gets its own counter: if clients can choose it, they can rotate values to escape the limit and fill the key store; key by an authenticated identity, or add the client address (`by {name}&ip`)"
            )));
        }
    }

    // -------------------------------------------------------------- headers

    fn headers(&mut self) {
        let policy = self.policy;
        for (hi, set) in policy.header_sets.iter().enumerate() {
            let users: Vec<&ir::Rule> = policy
                .rules
                .iter()
                .filter(|r| {
                    r.response
                        .and_then(|i| policy.responses.get(i))
                        .is_some_and(|resp| resp.headers == Some(hi))
                })
                .collect();
            for line in &set.lines {
                let lname = line.name.to_ascii_lowercase();
                if lname == "retry-after"
                    && line.value.0
                        != [Piece::Var {
                            var: Var::RetryAfter,
                            all: false,
                        }]
                {
                    let mut d = Diagnostic::warning(
                        codes::RETRY_AFTER_HEADER,
                        self.trim(line.span),
                        format!(
                            "`Retry-After` in header set `{}` is not `${{retry_after}}`",
                            set.name
                        ),
                    )
                    .label("may tell clients to retry before they can succeed");
                    for r in users.iter().take(3) {
                        d = d.with_related(self.trim(r.id_span), "a rule that sends it");
                    }
                    self.diags.push(d.help(
                        "`${retry_after}` is when the rule that rejected frees (or its block ends); other values, such as `${reset}` of one window, can point earlier; write `\"Retry-After\" = \"${retry_after}\" on reject`",
                    ));
                }
                if lname == "ratelimit-policy" {
                    self.ratelimit_policy(set, line, &users);
                }
            }
        }
    }

    fn ratelimit_policy(
        &mut self,
        set: &ir::HeaderSet,
        line: &ir::HeaderLine,
        users: &[&ir::Rule],
    ) {
        // The value with placeholders blanked out, so only literal numbers
        // are read.
        let mut text = String::new();
        for p in &line.value.0 {
            match p {
                Piece::Text(t) => text.push_str(t),
                Piece::Var { .. } => text.push('\u{0}'),
            }
        }
        let items: Vec<(Option<u64>, Option<u64>)> = text
            .split(',')
            .map(|item| (param(item, "q"), param(item, "w")))
            .filter(|(q, w)| q.is_some() || w.is_some())
            .collect();
        if items.is_empty() {
            return;
        }
        let mut wrong = Vec::new();
        for r in users {
            let windows: Vec<(u64, Option<u64>)> = r
                .windows
                .iter()
                .filter_map(|w| match w.period {
                    Period::Nanos(ns) => Some((
                        w.limit.bound(),
                        (ns % ir::SECOND == 0).then_some(ns / ir::SECOND),
                    )),
                    Period::Months(_) => Some((w.limit.bound(), None)),
                    Period::Concurrent => None,
                })
                .collect();
            let agrees = items.iter().all(|(q, w)| {
                windows.iter().any(|(n, secs)| {
                    q.is_none_or(|q| q == *n) && w.is_none_or(|w| Some(w) == *secs)
                })
            });
            if !agrees {
                wrong.push(*r);
            }
        }
        if wrong.is_empty() {
            return;
        }
        let shown: Vec<String> = items
            .iter()
            .map(|(q, w)| {
                let mut s = Vec::new();
                if let Some(q) = q {
                    s.push(format!("q={q}"));
                }
                if let Some(w) = w {
                    s.push(format!("w={w}"));
                }
                s.join(";")
            })
            .collect();
        let mut d = Diagnostic::warning(
            codes::RATELIMIT_POLICY_HEADER,
            self.trim(line.span),
            format!(
                "`RateLimit-Policy` in header set `{}` advertises `{}`, which rule `{}` does not have",
                set.name,
                shown.join(", "),
                wrong.first().map_or("?", |r| r.id.as_str())
            ),
        )
        .label("literal numbers");
        for r in &wrong {
            let windows: Vec<&str> = r.windows.iter().map(|w| self.src(w.span)).collect();
            d = d.with_related(
                self.trim(r.id_span),
                format!("limits {}", windows.join(", ")),
            );
        }
        self.diags.push(d.help(
            "clients pace themselves by these numbers; write them as placeholders (`q=${limit};w=${window}`), or make them match the rule's windows (q = limit, w = window in seconds)",
        ));
    }
}

/// `name=123` in a `;`-separated header item; `None` if absent or not a
/// literal number.
fn param(item: &str, name: &str) -> Option<u64> {
    item.split(';').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        if k.trim() != name {
            return None;
        }
        let v = v.trim();
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        v.parse().ok()
    })
}

fn cond_attrs(c: &ir::Condition, mark: &mut impl FnMut(AttrId)) {
    match c {
        ir::Condition::Or(v) | ir::Condition::And(v) => v.iter().for_each(|x| cond_attrs(x, mark)),
        ir::Condition::Not(x) => cond_attrs(x, mark),
        ir::Condition::Cmp { attr, .. } | ir::Condition::In { attr, .. } => mark(*attr),
        ir::Condition::Present(a) => mark(*a),
    }
}

fn key_sets(key: &[ir::KeyGroup]) -> Vec<BTreeSet<AttrId>> {
    if key.is_empty() {
        vec![BTreeSet::new()]
    } else {
        key.iter().map(|g| g.iter().copied().collect()).collect()
    }
}

fn same_keys(x: &[BTreeSet<AttrId>], y: &[BTreeSet<AttrId>]) -> bool {
    x.iter().all(|g| y.contains(g)) && y.iter().all(|g| x.contains(g))
}

/// True when every key group of `b` has a group of `a` made of some of its
/// attributes: `a`'s counter then counts everything `b`'s does.
fn coarser_key(x: &[BTreeSet<AttrId>], y: &[BTreeSet<AttrId>]) -> bool {
    y.iter().all(|gb| x.iter().any(|ga| ga.is_subset(gb)))
}

/// Rules count alike: the same cost, the same counted responses, and
/// windows aligned the same way (time zone).
fn same_counting(a: &ir::Rule, b: &ir::Rule) -> bool {
    let set = |r: &ir::Rule| r.counting.iter().copied().collect::<BTreeSet<u16>>();
    let tz = |r: &ir::Rule| r.tz.as_ref().map(|t| (t.zone, t.attr));
    a.cost_attr == b.cost_attr && set(a) == set(b) && tz(a) == tz(b)
}

/// A rule's windows, in an order-free form for comparison.
fn window_signature(r: &ir::Rule) -> Vec<String> {
    let mut v: Vec<String> = r
        .windows
        .iter()
        .map(|w| format!("{:?}/{:?}", w.limit, w.period))
        .collect();
    v.sort();
    v
}

/// The rules' path patterns as a trie of segments, to find the rules that
/// may [`covers`] a rule without comparing it with every other.
struct PathTrie<'r> {
    nodes: Vec<TrieNode<'r>>,
    /// When a rule has no path (`covers` anything then): every rule.
    all: Vec<usize>,
}

#[derive(Default)]
struct TrieNode<'r> {
    /// Next node by literal segment.
    literal: HashMap<&'r str, usize>,
    /// Next node for `{param}` and `*` (they match the same segments).
    wild: Option<usize>,
    /// Rules with a pattern that ends here with `**`.
    rest: Vec<usize>,
    /// Rules with a pattern that ends here.
    end: Vec<usize>,
}

impl<'r> PathTrie<'r> {
    fn new(rules: &'r [ir::Rule]) -> PathTrie<'r> {
        let mut nodes = vec![TrieNode::default()];
        for (ri, rule) in rules.iter().enumerate() {
            for (pattern, _) in &rule.matcher.paths {
                let mut at = 0;
                let mut rest = false;
                for seg in &pattern.segments {
                    let next = match seg {
                        PathSeg::Rest => {
                            rest = true;
                            break;
                        }
                        PathSeg::Literal(l) => nodes[at].literal.get(l.as_str()).copied(),
                        PathSeg::Param(_) | PathSeg::Star => nodes[at].wild,
                    };
                    at = match next {
                        Some(x) => x,
                        None => {
                            let x = nodes.len();
                            nodes.push(TrieNode::default());
                            match seg {
                                PathSeg::Literal(l) => {
                                    nodes[at].literal.insert(l.as_str(), x);
                                }
                                _ => nodes[at].wild = Some(x),
                            }
                            x
                        }
                    };
                }
                let list = if rest {
                    &mut nodes[at].rest
                } else {
                    &mut nodes[at].end
                };
                if list.last() != Some(&ri) {
                    list.push(ri);
                }
            }
        }
        PathTrie {
            nodes,
            all: (0..rules.len()).collect(),
        }
    }

    /// Into `out`, in increasing order: every rule with a path pattern that
    /// contains `rule`'s first one ([`path_contains`]), so a superset of the
    /// rules whose paths [`covers`] `rule`'s.
    fn covering(&self, rule: &ir::Rule, out: &mut Vec<usize>) {
        out.clear();
        let Some((pattern, _)) = rule.matcher.paths.first() else {
            out.extend_from_slice(&self.all);
            return;
        };
        let inner = &pattern.segments;
        // (node, segments of `inner` matched to get there); a loop, not
        // recursion, for paths of any length.
        let mut todo = vec![(0usize, 0usize)];
        while let Some((at, depth)) = todo.pop() {
            let Some(node) = self.nodes.get(at) else {
                continue;
            };
            // `**` here contains whatever `inner` has left, even nothing.
            out.extend_from_slice(&node.rest);
            match inner.get(depth) {
                None => out.extend_from_slice(&node.end),
                // Only `**` contains `**`.
                Some(PathSeg::Rest) => {}
                Some(PathSeg::Literal(l)) => {
                    if let Some(&x) = node.literal.get(l.as_str()) {
                        todo.push((x, depth + 1));
                    }
                    if let Some(x) = node.wild {
                        todo.push((x, depth + 1));
                    }
                }
                Some(PathSeg::Param(_) | PathSeg::Star) => {
                    if let Some(x) = node.wild {
                        todo.push((x, depth + 1));
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
    }
}

/// True when each path of `inner` is contained in some path of `outer`.
fn covers(outer: &[(PathPattern, Span)], inner: &[(PathPattern, Span)]) -> bool {
    inner
        .iter()
        .all(|(q, _)| outer.iter().any(|(p, _)| path_contains(p, q)))
}

// ------------------------------------------------------------------ allow comments

/// One `# rlc: allow(...)` comment.
struct Allow {
    span: Span,
    scope: Option<Span>,
    codes: Vec<(String, bool)>,
    malformed: bool,
}

fn item_spans(text: &str, items: &[ast::Item], out: &mut Vec<Span>) {
    for it in items {
        out.push(crate::fmt::trim_span(text, it.span()));
        match it {
            ast::Item::When(w) => item_spans(text, &w.items, out),
            ast::Item::Headers(h) => out.extend(h.lines.iter().map(|l| l.span)),
            _ => {}
        }
    }
}

/// Drops the warnings acknowledged by `# rlc: allow(...)` comments and
/// reports the comments that acknowledge nothing.
fn apply_allows(text: &str, file: &ast::File, diags: &mut Diagnostics) {
    // Most policies have no such comment: then there is nothing to apply,
    // and no need to find every item's extent and every comment.
    if !text.contains("rlc:") {
        return;
    }
    let mut spans = Vec::new();
    item_spans(text, &file.items, &mut spans);
    spans.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
    let mut allows = Vec::new();
    for c in crate::fmt::comments(text) {
        let body = text.get(c.span.start + 1..c.span.end).unwrap_or("").trim();
        let Some(rest) = body.strip_prefix("rlc:") else {
            continue;
        };
        let rest = rest.trim_start();
        let parsed = rest
            .strip_prefix("allow(")
            .and_then(|r| r.split_once(')'))
            .map(|(inside, _)| {
                inside
                    .split(',')
                    .map(|x| x.trim().trim_start_matches("rl::").to_string())
                    .filter(|x| !x.is_empty())
                    .map(|x| (x, false))
                    .collect::<Vec<_>>()
            });
        let scope = if c.own_line {
            spans.iter().find(|s| s.start > c.span.start).copied()
        } else {
            // The item on whose line the comment ends, innermost last.
            let line_start = text[..c.span.start].rfind('\n').map_or(0, |i| i + 1);
            spans
                .iter()
                .filter(|s| s.start < c.span.start && (s.end > c.span.start || s.end >= line_start))
                .max_by_key(|s| s.start)
                .copied()
        };
        allows.push(Allow {
            span: c.span,
            scope,
            malformed: parsed.as_ref().is_none_or(Vec::is_empty),
            codes: parsed.unwrap_or_default(),
        });
    }
    if allows.is_empty() {
        return;
    }
    diags.0.retain(|d| {
        if d.severity != Severity::Warning {
            return true;
        }
        let name = d.code.trim_start_matches("rl::");
        let mut keep = true;
        for a in allows.iter_mut() {
            let Some(scope) = a.scope else { continue };
            if d.span.start < scope.start || d.span.start > scope.end {
                continue;
            }
            for (code, used) in a.codes.iter_mut() {
                if code == name && ALLOWABLE.contains(&d.code) {
                    *used = true;
                    keep = false;
                }
            }
        }
        keep
    });
    for a in &allows {
        if a.malformed {
            diags.push(
                Diagnostic::warning(
                    codes::UNUSED_ALLOW,
                    a.span,
                    "`rlc:` comment not understood",
                )
                .label("expected `rlc: allow(code, ...)`")
                .help("write `# rlc: allow(short_block)`, with the codes of the warnings to acknowledge, then why"),
            );
            continue;
        }
        for (code, used) in &a.codes {
            if *used {
                continue;
            }
            let full = format!("rl::{code}");
            let (message, help) = if !codes::ALL.contains(&full.as_str()) {
                (
                    format!("`{code}` is not a diagnostic code"),
                    format!(
                        "the codes that may be allowed are {}",
                        ALLOWABLE
                            .iter()
                            .map(|c| format!("`{}`", c.trim_start_matches("rl::")))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            } else if !ALLOWABLE.contains(&full.as_str()) {
                (
                    format!("`{code}` cannot be allowed"),
                    "only the analysis warnings can be acknowledged; errors must be fixed"
                        .to_string(),
                )
            } else if a.scope.is_none() {
                (
                    format!("`allow({code})` has no item after it"),
                    "put the comment on the line before the item it is about".to_string(),
                )
            } else {
                (
                    format!("`allow({code})` acknowledges nothing"),
                    "the item has no such warning (any more); remove the comment".to_string(),
                )
            };
            diags.push(
                Diagnostic::warning(codes::UNUSED_ALLOW, a.span, message)
                    .label("unused")
                    .help(help),
            );
        }
    }
}

// ------------------------------------------------------------------ explain

/// Notes on how many counters a policy may keep: rules on every path keyed
/// by one free-form attribute that no other rule keys on, whose values
/// clients may choose.
pub fn cardinality_notes(table: &DecisionTable) -> Vec<String> {
    let mut notes = Vec::new();
    let mut keyed_by = vec![0usize; table.inputs.len()];
    for r in &table.rules {
        let attrs: BTreeSet<AttrId> = r
            .groups
            .iter()
            .filter_map(|g| table.groups.get(g.0 as usize))
            .flat_map(|g| g.attrs.iter().copied())
            .collect();
        for a in attrs {
            if let Some(x) = keyed_by.get_mut(a) {
                *x += 1;
            }
        }
    }
    for r in &table.rules {
        let everywhere = r.methods == ir::MethodSet::ANY
            && r.paths
                .iter()
                .any(|p| matches!(p.segments.as_slice(), [PathSeg::Rest]));
        if !everywhere || r.groups.len() != 1 {
            continue;
        }
        let Some(g) = r
            .groups
            .first()
            .and_then(|g| table.groups.get(g.0 as usize))
        else {
            continue;
        };
        let [a] = g.attrs.as_slice() else { continue };
        let param = table.params.get(*a).copied().unwrap_or(false);
        let Some(name) = table.inputs.get(*a) else {
            continue;
        };
        if param
            || name.to_ascii_lowercase().contains("ip")
            || keyed_by.get(*a).copied().unwrap_or(0) > 1
            || !matches!(g.owner, Owner::Rule(..))
        {
            continue;
        }
        notes.push(format!(
            "rule {} keeps one counter ({} bytes) per distinct `{name}` on every request: make sure `{name}` is authenticated before the limiter, or clients can rotate it to escape the limit and fill the key store",
            r.id,
            8 * (1 + g.words)
        ));
    }
    notes
}
