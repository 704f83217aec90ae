//! Stage 4: checked IR to a flat, immutable decision table.
//!
//! In: an [`ir::Policy`] whose diagnostics hold no error. Out: a
//! [`DecisionTable`]: a route index (method x path trie) that finds the rules
//! and counters a request may touch without trying each in turn, conditions
//! with their regexes compiled once, and every counter group (one per rule
//! key group and per named counter) laid out as state words with their
//! constants precomputed, so that evaluation is arithmetic on atomics.
//! Entry point: [`compile`].

use crate::ir::{
    self, Algorithm, AttrId, MethodSet, PathPattern, PathSeg, Period, Phase, Template,
};
use crate::source::Span;
use serde::Serialize;
use std::collections::HashMap;

/// Granules per `sliding` window: the lookback is at most W + W/8.
pub const SLIDING_GRANULES: u64 = 8;

/// Index of a counter group (a store table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[repr(transparent)]
pub struct GroupId(pub u32);

/// Index of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[repr(transparent)]
pub struct RuleId(pub u32);

/// The compiled policy.
#[derive(Debug, Serialize)]
pub struct DecisionTable {
    /// Policy name.
    pub policy: String,
    /// The file it came from.
    pub file: String,
    /// Declared attributes, by [`AttrId`].
    pub inputs: Vec<String>,
    /// Rules in source order.
    pub rules: Vec<RuleSpec>,
    /// Named counters.
    pub counters: Vec<CounterSpec>,
    /// Counter groups: each owns one table of per-key state in the store.
    pub groups: Vec<GroupSpec>,
    /// Responses.
    pub responses: Vec<ResponseSpec>,
    /// Header sets.
    pub header_sets: Vec<HeaderSetSpec>,
    /// `default respond`.
    pub default_response: Option<usize>,
    /// Full-store behaviour.
    pub overflow: ir::Overflow,
    /// For each entry of `inputs`: true when it is a path parameter, which
    /// requests do not set by name.
    pub params: Vec<bool>,
    /// Header-name prefix for shadow decisions' headers.
    pub shadow_prefix: Option<String>,
    /// The route index.
    pub routes: RouteIndex,
}

/// A compiled rule.
#[derive(Debug, Serialize)]
pub struct RuleSpec {
    /// Stable id.
    pub id: String,
    /// Line in the source.
    pub line: usize,
    /// Methods.
    pub methods: MethodSet,
    /// Path patterns.
    pub paths: Vec<PathPattern>,
    /// Condition.
    pub cond: Option<Cond>,
    /// One group per key group (one global group when there is no key).
    pub groups: Vec<GroupId>,
    /// Windows.
    pub windows: Vec<WindowSpec>,
    /// Algorithm.
    pub algorithm: Algorithm,
    /// `burst`, for buckets.
    pub burst: Option<u64>,
    /// `block` penalty in ns.
    pub block_ns: Option<u64>,
    /// Rejection status.
    pub status: u16,
    /// Response.
    pub response: Option<usize>,
    /// Decided and reported, never enforced.
    pub shadow: bool,
    /// Numeric attribute counted instead of the request's cost.
    pub cost_attr: Option<AttrId>,
    /// Counts only responses with these statuses (see `Limiter::report_response`).
    pub counting: Vec<u16>,
    /// Path parameters used in keys: attribute and segment index per path.
    pub params: Vec<(AttrId, Vec<usize>)>,
    /// Time zone aligning this rule's fixed windows.
    pub tz: Option<TzSpec>,
    /// Source span.
    #[serde(skip)]
    pub span: Span,
}

impl RuleSpec {
    /// Sets the attributes this rule's key takes from the path (`{doc}`)
    /// to the segments at their positions in the first of its paths that
    /// matches `segments` (a path without its query, split on `/`, empty
    /// segments dropped). False when the rule reads path parameters and
    /// none of its paths matches.
    pub(crate) fn fill_params<'a>(
        &self,
        segments: &[&'a str],
        values: &mut [Option<&'a str>],
    ) -> bool {
        if self.params.is_empty() {
            return true;
        }
        let Some(pi) = self.paths.iter().position(|p| p.matches(segments)) else {
            return false;
        };
        for (attr, positions) in &self.params {
            if let Some(v) = values.get_mut(*attr) {
                *v = positions.get(pi).and_then(|&i| segments.get(i).copied());
            }
        }
        true
    }
}

/// A limit as the evaluator computes it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Limit {
    /// A constant.
    Const(u64),
    /// The least of `cap` and products of counters, attributes, constants.
    Min {
        /// Terms computed per request.
        terms: Vec<ir::Term>,
        /// Constant bound.
        cap: u64,
    },
}

impl Limit {
    /// The largest value.
    pub fn bound(&self) -> u64 {
        match self {
            Limit::Const(n) => *n,
            Limit::Min { cap, .. } => *cap,
        }
    }
}

/// A window with its precomputed constants.
#[derive(Debug, Clone, Serialize)]
pub struct WindowSpec {
    /// The limit.
    pub limit: Limit,
    /// The length.
    pub period: Period,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// Offset of its first state word in a group entry.
    pub word: u32,
    /// Length in ns (0 for calendar months).
    pub window_ns: u64,
    /// GCRA emission interval T = W/N, ns.
    pub emission_ns: u64,
    /// GCRA capacity B*T, ns.
    pub tolerance_ns: u64,
    /// Sliding granule W/8, ns.
    pub granule_ns: u64,
    /// Fixed-window stride: window k's state lives in `[k*stride, (k+1)*stride]`.
    pub stride: u64,
}

impl WindowSpec {
    /// State words it uses.
    pub fn words(&self) -> u32 {
        match (self.algorithm, self.period) {
            // A concurrency limit is one count, whatever the algorithm says.
            (Algorithm::Sliding, p) if p != Period::Concurrent => 1 + SLIDING_GRANULES as u32,
            _ => 1,
        }
    }
}

/// Who owns a counter group.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Owner {
    /// Rule, key group.
    Rule(RuleId, u32),
    /// Named counter.
    Counter(u32),
}

/// A counter group: the per-key state of one rule key group or named counter.
#[derive(Debug, Clone, Serialize)]
pub struct GroupSpec {
    /// Owner.
    pub owner: Owner,
    /// Key attributes; empty for one global counter.
    pub attrs: Vec<AttrId>,
    /// State words per key.
    pub words: u32,
    /// Word holding the `block` penalty's end, if any.
    pub penalty_word: Option<u32>,
    /// An entry untouched this long holds state equal to a fresh one.
    pub horizon_ns: u64,
    /// Words that must be zero before the entry may be reused (concurrency
    /// counts: requests still in flight).
    pub live_words: Vec<u32>,
}

/// A named counter.
#[derive(Debug, Serialize)]
pub struct CounterSpec {
    /// Name.
    pub name: String,
    /// Methods.
    pub methods: MethodSet,
    /// Paths.
    pub paths: Vec<PathPattern>,
    /// Condition.
    pub cond: Option<Cond>,
    /// Its group.
    pub group: GroupId,
    /// Window.
    pub period: Period,
    /// Length in ns (0 for months).
    pub window_ns: u64,
    /// Fixed-window stride.
    pub stride: u64,
}

/// A compiled response.
#[derive(Debug, Serialize)]
pub struct ResponseSpec {
    /// Name.
    pub name: String,
    /// Status.
    pub status: u16,
    /// Header set.
    pub headers: Option<usize>,
    /// Body template.
    pub body: Option<Template>,
}

/// A compiled header set.
#[derive(Debug, Serialize)]
pub struct HeaderSetSpec {
    /// Name.
    pub name: String,
    /// Lines.
    pub lines: Vec<(String, Template, Phase)>,
}

/// A compiled condition.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cond {
    /// Any.
    Or(Vec<Cond>),
    /// All.
    And(Vec<Cond>),
    /// Not.
    Not(Box<Cond>),
    /// Equal.
    Eq(AttrId, String),
    /// Not equal (or absent).
    Ne(AttrId, String),
    /// Substring.
    Contains(AttrId, String),
    /// Regex search; `negate` for `!~`.
    Regex {
        /// Attribute.
        attr: AttrId,
        /// Pattern.
        pattern: Pattern,
        /// `!~`.
        negate: bool,
    },
    /// One of.
    In(AttrId, Vec<String>),
    /// Present.
    Present(AttrId),
}

/// String equality without a call to `memcmp`: the strings compared on the
/// hot path (attribute names and values in conditions) are short, and are
/// compared a word at a time (the last word overlapping the one before).
#[inline]
pub(crate) fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            if word8(a, i) != word8(b, i) {
                return false;
            }
            i += 8;
        }
        word8(a, n - 8) == word8(b, n - 8)
    } else if n >= 4 {
        word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4)
    } else {
        a.iter().zip(b).all(|(x, y)| x == y)
    }
}

/// The 8 bytes of `s` at `i` as a number (`i + 8 <= s.len()`).
#[inline(always)]
fn word8(s: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&s[i..i + 8]);
    u64::from_le_bytes(w)
}

/// The 4 bytes of `s` at `i` as a number (`i + 4 <= s.len()`).
#[inline(always)]
fn word4(s: &[u8], i: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&s[i..i + 4]);
    u32::from_le_bytes(w)
}

/// A compiled regex that serializes as its source.
#[derive(Debug)]
pub struct Pattern(
    pub regex::Regex,
    Option<Box<[memchr::memmem::Finder<'static>]>>,
);

impl Pattern {
    /// Compiles `re`; a pattern that is only literals separated by `|`
    /// (`_prod_|_test_`) is also kept as those literals, searched for
    /// directly, without the regex engine.
    pub fn new(re: regex::Regex) -> Pattern {
        const META: &[char] = &[
            '\\', '.', '+', '*', '?', '(', ')', '[', ']', '{', '}', '^', '$', '#', '&', '-', '~',
        ];
        let src = re.as_str();
        let literal = !src.contains(META)
            && !src.contains(char::is_whitespace)
            && src.split('|').all(|x| !x.is_empty());
        let literals = literal.then(|| {
            src.split('|')
                .map(|l| memchr::memmem::Finder::new(l).into_owned())
                .collect()
        });
        Pattern(re, literals)
    }

    /// True when the pattern matches somewhere in `x`.
    #[inline]
    pub fn is_match(&self, x: &str) -> bool {
        match &self.1 {
            Some(lits) => lits.iter().any(|f| f.find(x.as_bytes()).is_some()),
            None => self.0.is_match(x),
        }
    }
}

impl Serialize for Pattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

impl Cond {
    /// Evaluates against attribute values by [`AttrId`].
    pub fn eval(&self, attrs: &[Option<&str>]) -> bool {
        let get = |a: &AttrId| attrs.get(*a).copied().flatten();
        match self {
            Cond::Or(v) => v.iter().any(|c| c.eval(attrs)),
            Cond::And(v) => v.iter().all(|c| c.eval(attrs)),
            Cond::Not(c) => !c.eval(attrs),
            Cond::Eq(a, v) => get(a).is_some_and(|x| same(x, v)),
            Cond::Ne(a, v) => !get(a).is_some_and(|x| same(x, v)),
            Cond::Contains(a, v) => get(a).is_some_and(|x| x.contains(v.as_str())),
            Cond::Regex {
                attr,
                pattern,
                negate,
            } => match get(attr) {
                Some(x) => pattern.is_match(x) != *negate,
                None => *negate,
            },
            Cond::In(a, vs) => get(a).is_some_and(|x| vs.iter().any(|v| same(v, x))),
            Cond::Present(a) => get(a).is_some(),
        }
    }
}

/// Target of a route: a rule or a named counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// A rule.
    Rule(u32),
    /// A named counter.
    Counter(u32),
}

/// A trie over path segments.
#[derive(Debug, Default, Serialize)]
pub struct RouteIndex {
    nodes: Vec<RouteNode>,
}

#[derive(Debug, Default, Serialize)]
struct RouteNode {
    /// Written in key order: `rlc compile` prints the same bytes each run.
    #[serde(serialize_with = "sorted")]
    literal: HashMap<String, u32, ahash::RandomState>,
    /// The first few literal children again, scanned instead of hashed.
    #[serde(skip)]
    few: Vec<(String, u32)>,
    any_segment: Option<u32>,
    here: Vec<(Target, MethodSet)>,
    rest: Vec<(Target, MethodSet)>,
}

/// A map serialized with its keys in order (a hash map's own order changes
/// with every process's random seed).
fn sorted<S: serde::Serializer>(
    map: &HashMap<String, u32, ahash::RandomState>,
    ser: S,
) -> Result<S::Ok, S::Error> {
    ser.collect_map(map.iter().collect::<std::collections::BTreeMap<_, _>>())
}

impl RouteIndex {
    fn new() -> Self {
        RouteIndex {
            nodes: vec![RouteNode::default()],
        }
    }

    fn child(&mut self, node: u32, seg: &PathSeg) -> u32 {
        let next = self.nodes.len() as u32;
        let n = &mut self.nodes[node as usize];
        let id = match seg {
            // Looked up before inserting: most segments are already there,
            // and `entry` would clone the text for every lookup.
            PathSeg::Literal(l) => match n.literal.get(l.as_str()) {
                Some(&c) => c,
                None => *n.literal.entry(l.clone()).or_insert(next),
            },
            _ => *n.any_segment.get_or_insert(next),
        };
        if id == next {
            if let PathSeg::Literal(l) = seg {
                if n.few.len() < FEW_LITERALS {
                    n.few.push((l.clone(), id));
                }
            }
            self.nodes.push(RouteNode::default());
        }
        id
    }

    fn insert(&mut self, pattern: &PathPattern, methods: MethodSet, target: Target) {
        let mut node = 0u32;
        for seg in &pattern.segments {
            if *seg == PathSeg::Rest {
                self.nodes[node as usize].rest.push((target, methods));
                return;
            }
            node = self.child(node, seg);
        }
        self.nodes[node as usize].here.push((target, methods));
    }

    /// Every target whose method set has `method_bits` and one of whose
    /// patterns matches `segments`, sorted (rules in source order first) and
    /// without duplicates.
    pub fn lookup(
        &self,
        method_bits: u16,
        segments: &[&str],
        out: &mut smallvec::SmallVec<[Target; 16]>,
    ) {
        let mut stack: smallvec::SmallVec<[(u32, usize); 16]> = smallvec::SmallVec::new();
        stack.push((0, 0));
        while let Some((node, depth)) = stack.pop() {
            let Some(n) = self.nodes.get(node as usize) else {
                continue;
            };
            let push = |out: &mut smallvec::SmallVec<[Target; 16]>, v: &[(Target, MethodSet)]| {
                for (t, m) in v {
                    if m.contains_bits(method_bits) {
                        out.push(*t);
                    }
                }
            };
            push(out, &n.rest);
            if depth == segments.len() {
                push(out, &n.here);
                continue;
            }
            if let Some(&c) = n.literal.get(segments[depth]) {
                stack.push((c, depth + 1));
            }
            if let Some(c) = n.any_segment {
                stack.push((c, depth + 1));
            }
        }
        out.sort_unstable();
        out.dedup();
    }

    /// True when every route is a `/**` route (no route reads the path): the
    /// routed targets then depend on the method alone, and an evaluator may
    /// compute them once per method from [`RouteIndex::root_rest`].
    pub fn only_catch_all(&self) -> bool {
        self.nodes.first().is_some_and(RouteNode::is_leaf)
    }

    /// [`RouteIndex::lookup_path`] without the root's `/**` routes (which
    /// an evaluator may have listed per method ahead), unsorted: the routes
    /// of the nodes the path reaches, in the order found.
    pub fn lookup_path_below_root(
        &self,
        method_bits: u16,
        path: &str,
        out: &mut smallvec::SmallVec<[Target; 16]>,
    ) {
        let push = |out: &mut smallvec::SmallVec<[Target; 16]>, v: &[(Target, MethodSet)]| {
            for (t, m) in v {
                if m.contains_bits(method_bits) {
                    out.push(*t);
                }
            }
        };
        let Some(root) = self.nodes.first() else {
            return;
        };
        if root.is_leaf() {
            return;
        }
        let mut stack: smallvec::SmallVec<[(u32, usize); 16]> = smallvec::SmallVec::new();
        self.descend(root, path, 0, &mut stack, out, &push);
        while let Some((node, at)) = stack.pop() {
            let Some(n) = self.nodes.get(node as usize) else {
                continue;
            };
            push(out, &n.rest);
            if !n.is_leaf() {
                self.descend(n, path, at, &mut stack, out, &push);
            }
        }
    }

    /// The root's `/**` routes with their methods.
    pub fn root_rest(&self) -> &[(Target, MethodSet)] {
        self.nodes.first().map_or(&[], |r| r.rest.as_slice())
    }

    /// [`RouteIndex::lookup`] on a request path as received: the query
    /// string and fragment are cut off, and segments are read one at a time
    /// as the trie is walked, only where a node has children or routes that
    /// end there (a policy of `/**` routes never reads the path). Nothing is
    /// allocated; the cost grows with the path's depth and the number of
    /// matching routes, not with the number of rules.
    pub fn lookup_path(
        &self,
        method_bits: u16,
        path: &str,
        out: &mut smallvec::SmallVec<[Target; 16]>,
    ) {
        for (t, m) in self.root_rest() {
            if m.contains_bits(method_bits) {
                out.push(*t);
            }
        }
        // Returns at once when only `/**` routes exist: no path to read.
        self.lookup_path_below_root(method_bits, path, out);
        sort_dedup(out);
    }

    /// One step of [`RouteIndex::lookup_path`] below node `n`, whose path
    /// starts at byte `at`.
    #[inline]
    fn descend(
        &self,
        n: &RouteNode,
        path: &str,
        at: usize,
        stack: &mut smallvec::SmallVec<[(u32, usize); 16]>,
        out: &mut smallvec::SmallVec<[Target; 16]>,
        push: &impl Fn(&mut smallvec::SmallVec<[Target; 16]>, &[(Target, MethodSet)]),
    ) {
        let Some((start, end)) = next_segment(path.as_bytes(), at) else {
            push(out, &n.here);
            return;
        };
        if !n.literal.is_empty() {
            if let Some(c) = path.get(start..end).and_then(|seg| n.child(seg)) {
                stack.push((c, end));
            }
        }
        if let Some(c) = n.any_segment {
            stack.push((c, end));
        }
    }

    /// Nodes in the trie.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// Literal children up to which a node is scanned rather than hashed.
const FEW_LITERALS: usize = 4;

impl RouteNode {
    /// True when no route continues or ends below this node's `/**`.
    fn is_leaf(&self) -> bool {
        self.here.is_empty() && self.literal.is_empty() && self.any_segment.is_none()
    }

    /// The literal child for `seg`: a scan of a few, a hash lookup of many.
    fn child(&self, seg: &str) -> Option<u32> {
        if self.literal.len() <= FEW_LITERALS {
            self.few.iter().find(|(k, _)| same(k, seg)).map(|&(_, c)| c)
        } else {
            self.literal.get(seg).copied()
        }
    }
}

/// Sorts and dedups routed targets, which are most often already in order
/// (one node's routes are kept in insertion order).
fn sort_dedup(out: &mut smallvec::SmallVec<[Target; 16]>) {
    if out.windows(2).any(|w| w[0] >= w[1]) {
        out.sort_unstable();
        out.dedup();
    }
}

/// The next non-empty segment of `path` at or after byte `at`, as a byte
/// range; `None` at the end of the path, which is also where a `?` or `#`
/// starts.
fn next_segment(path: &[u8], mut at: usize) -> Option<(usize, usize)> {
    while path.get(at) == Some(&b'/') {
        at += 1;
    }
    match path.get(at) {
        None | Some(b'?') | Some(b'#') => None,
        Some(_) => Some((at, segment_end(path, at))),
    }
}

/// The first `/`, `?` or `#` in `path` at or after `at` (the path's length
/// when none): eight bytes at a time, as segments such as ids are long.
#[inline]
fn segment_end(path: &[u8], at: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The high bit of each zero byte of `v`; the lowest one set is exact
    // (a borrow only runs upward from the first zero byte).
    let zeros = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut i = at;
    while let Some(chunk) = path.get(i..i + 8) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        let x = u64::from_le_bytes(b);
        let m = zeros(x ^ (ONES * u64::from(b'/')))
            | zeros(x ^ (ONES * u64::from(b'?')))
            | zeros(x ^ (ONES * u64::from(b'#')));
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = path.get(i) {
        if matches!(c, b'/' | b'?' | b'#') {
            break;
        }
        i += 1;
    }
    i
}

impl PathPattern {
    /// True when the pattern matches these path segments.
    pub fn matches(&self, segments: &[&str]) -> bool {
        let mut i = 0;
        for seg in &self.segments {
            match seg {
                PathSeg::Rest => return true,
                PathSeg::Literal(l) => {
                    if segments.get(i) != Some(&l.as_str()) {
                        return false;
                    }
                }
                PathSeg::Param(_) | PathSeg::Star => {
                    if i >= segments.len() {
                        return false;
                    }
                }
            }
            i += 1;
        }
        i == segments.len()
    }
}

/// A rule's time zone: from an attribute (an IANA name), else `zone`, else
/// UTC.
#[derive(Debug, Clone, Copy)]
pub struct TzSpec {
    /// The named zone.
    pub zone: Option<chrono_tz::Tz>,
    /// The attribute naming a zone per request.
    pub attr: Option<AttrId>,
}

impl Serialize for TzSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("TzSpec", 2)?;
        st.serialize_field("zone", &self.zone.map(|z| z.name()))?;
        st.serialize_field("attr", &self.attr)?;
        st.end()
    }
}

impl TzSpec {
    /// The zone's offset from UTC at `now`, in ns.
    pub fn offset_ns(&self, values: &[Option<&str>], now: u64) -> i64 {
        use chrono::{Offset, TimeZone};
        let from_attr = self
            .attr
            .and_then(|a| values.get(a).copied().flatten())
            .and_then(|n| n.parse::<chrono_tz::Tz>().ok());
        let Some(zone) = from_attr.or(self.zone) else {
            return 0;
        };
        let secs = i64::try_from(now / 1_000_000_000).unwrap_or(i64::MAX);
        match chrono::DateTime::from_timestamp(secs, 0) {
            Some(dt) => {
                i64::from(
                    zone.offset_from_utc_datetime(&dt.naive_utc())
                        .fix()
                        .local_minus_utc(),
                ) * 1_000_000_000
            }
            None => 0,
        }
    }
}

/// The ticks of the store's touch clock (2^30 ns, about 1.07 s).
pub const TICK_SHIFT: u32 = 30;

/// Compiles a policy that checked clean. The policy is taken by value: its
/// rules' names, paths and keys move into the table.
pub fn compile(mut policy: ir::Policy) -> DecisionTable {
    let mut groups = Vec::new();
    let mut counters = Vec::new();
    let mut routes = RouteIndex::new();
    for (ci, c) in policy.counters.iter().enumerate() {
        let group = GroupId(groups.len() as u32);
        let window_ns = match c.period {
            Period::Nanos(n) => n,
            Period::Months(_) | Period::Concurrent => 0,
        };
        groups.push(GroupSpec {
            owner: Owner::Counter(ci as u32),
            attrs: c.key.clone(),
            words: 1,
            penalty_word: None,
            horizon_ns: c.period.max_nanos().saturating_add(2 << TICK_SHIFT),
            live_words: Vec::new(),
        });
        for (p, _) in &c.matcher.paths {
            routes.insert(p, c.matcher.methods, Target::Counter(ci as u32));
        }
        counters.push(CounterSpec {
            name: c.name.clone(),
            methods: c.matcher.methods,
            paths: c.matcher.paths.iter().map(|(p, _)| p.clone()).collect(),
            cond: c.matcher.cond.as_ref().map(cond),
            group,
            period: c.period,
            window_ns,
            stride: c.period.min_nanos(),
        });
    }
    // The rules are taken by value: their names, paths and keys move into
    // the table instead of being copied (a large policy's compile time was
    // mostly those copies and their drop).
    let ir_rules = std::mem::take(&mut policy.rules);
    let mut rules = Vec::with_capacity(ir_rules.len());
    for (ri, r) in ir_rules.into_iter().enumerate() {
        let mut word = 0u32;
        let windows: Vec<WindowSpec> = r
            .windows
            .iter()
            .map(|w| {
                let spec = window(w, r.algorithm, r.burst.map(|(b, _)| b), word);
                word += spec.words();
                spec
            })
            .collect();
        let live_words: Vec<u32> = windows
            .iter()
            .filter(|w| w.period == Period::Concurrent)
            .map(|w| w.word)
            .collect();
        let penalty_word = r.block.map(|_| {
            word += 1;
            word - 1
        });
        let longest = r
            .windows
            .iter()
            .map(|w| {
                let base = w.period.max_nanos();
                // A sliding window looks back one granule more; a bucket may
                // hold up to `burst` emission intervals.
                match r.algorithm {
                    Algorithm::Sliding => base + base / SLIDING_GRANULES,
                    Algorithm::Bucket => match r.burst {
                        Some((b, _)) => (base / w.limit.bound().max(1)).saturating_mul(b).max(base),
                        None => base,
                    },
                    Algorithm::Fixed => base,
                }
            })
            .max()
            .unwrap_or(0)
            .max(r.block.map_or(0, |(b, _)| b));
        let key_groups: Vec<Vec<AttrId>> = if r.key.is_empty() {
            vec![Vec::new()]
        } else {
            r.key
        };
        let mut gids = Vec::new();
        for (gi, attrs) in key_groups.into_iter().enumerate() {
            gids.push(GroupId(groups.len() as u32));
            groups.push(GroupSpec {
                owner: Owner::Rule(RuleId(ri as u32), gi as u32),
                attrs,
                words: word,
                penalty_word,
                horizon_ns: longest.saturating_add(2 << TICK_SHIFT),
                live_words: live_words.clone(),
            });
        }
        for (p, _) in &r.matcher.paths {
            routes.insert(p, r.matcher.methods, Target::Rule(ri as u32));
        }
        let response = r.response;
        let status = r
            .status
            .or_else(|| {
                response
                    .and_then(|i| policy.responses.get(i))
                    .map(|x| x.status)
            })
            .unwrap_or(429);
        let (line, _) = policy.source.line_col(r.span.start);
        rules.push(RuleSpec {
            id: r.id,
            line,
            methods: r.matcher.methods,
            paths: r.matcher.paths.into_iter().map(|(p, _)| p).collect(),
            cond: r.matcher.cond.as_ref().map(cond),
            groups: gids,
            windows,
            algorithm: r.algorithm,
            burst: r.burst.map(|(b, _)| b),
            block_ns: r.block.map(|(b, _)| b),
            status,
            response,
            shadow: r.shadow,
            cost_attr: r.cost_attr,
            counting: r.counting,
            params: r.params,
            tz: r
                .tz
                .as_ref()
                .filter(|_| r.algorithm == Algorithm::Fixed)
                .map(|t| TzSpec {
                    zone: t.zone,
                    attr: t.attr,
                }),
            span: r.span,
        });
    }
    DecisionTable {
        policy: policy.name.clone(),
        file: policy.source.name().to_string(),
        inputs: policy.inputs.iter().map(|i| i.name.clone()).collect(),
        rules,
        counters,
        groups,
        responses: policy
            .responses
            .iter()
            .map(|r| ResponseSpec {
                name: r.name.clone(),
                status: r.status,
                headers: r.headers,
                body: r.body.as_ref().map(|(t, _)| t.clone()),
            })
            .collect(),
        header_sets: policy
            .header_sets
            .iter()
            .map(|h| HeaderSetSpec {
                name: h.name.clone(),
                lines: h
                    .lines
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone(), l.phase))
                    .collect(),
            })
            .collect(),
        default_response: policy.default_response,
        overflow: policy.overflow,
        params: policy.inputs.iter().map(|i| i.param).collect(),
        shadow_prefix: policy.shadow_prefix.clone(),
        routes,
    }
}

fn window(w: &ir::Window, algorithm: Algorithm, burst: Option<u64>, word: u32) -> WindowSpec {
    let limit = match &w.limit {
        ir::LimitExpr::Const(n) => Limit::Const(*n),
        ir::LimitExpr::Min { terms, cap } => Limit::Min {
            terms: terms.clone(),
            cap: *cap,
        },
    };
    let n = limit.bound().max(1);
    let window_ns = match w.period {
        Period::Nanos(ns) => ns,
        Period::Months(_) | Period::Concurrent => 0,
    };
    let emission_ns = (w.period.min_nanos() / n).max(1);
    WindowSpec {
        limit,
        period: w.period,
        algorithm,
        word,
        window_ns,
        emission_ns,
        tolerance_ns: emission_ns.saturating_mul(burst.unwrap_or(n)),
        granule_ns: window_ns.div_ceil(SLIDING_GRANULES).max(1),
        stride: n,
    }
}

fn cond(c: &ir::Condition) -> Cond {
    use crate::syntax::ast::CmpOp;
    match c {
        ir::Condition::Or(v) => Cond::Or(v.iter().map(cond).collect()),
        ir::Condition::And(v) => Cond::And(v.iter().map(cond).collect()),
        ir::Condition::Not(x) => Cond::Not(Box::new(cond(x))),
        ir::Condition::Cmp {
            attr, op, value, ..
        } => match op {
            CmpOp::Eq => Cond::Eq(*attr, value.clone()),
            CmpOp::Ne => Cond::Ne(*attr, value.clone()),
            CmpOp::Contains => Cond::Contains(*attr, value.clone()),
            CmpOp::Match | CmpOp::NotMatch => match regex::Regex::new(value) {
                Ok(re) => Cond::Regex {
                    attr: *attr,
                    pattern: Pattern::new(re),
                    negate: *op == CmpOp::NotMatch,
                },
                // Checked during lowering; a regex that failed there never
                // reaches compile. Keep the condition false rather than panic.
                Err(_) => Cond::Or(Vec::new()),
            },
        },
        ir::Condition::In { attr, values } => Cond::In(*attr, values.clone()),
        ir::Condition::Present(a) => Cond::Present(*a),
    }
}

#[cfg(test)]
mod pattern_tests {
    #![allow(clippy::unwrap_used)]
    use super::{same, Pattern};

    #[test]
    fn literal_alternations_skip_the_regex_engine_and_agree_with_it() {
        let cases = [
            ("_prod_|_test_", true),
            ("abc", true),
            ("a|b|c", true),
            ("^key_", false),
            ("a.c", false),
            ("a|", false),
            ("(?i)abc", false),
            ("x+|y", false),
            ("a b", false),
        ];
        let hays = [
            "",
            "key_prod_1",
            "key_test_2",
            "legacy",
            "abc",
            "ABC",
            "xabcx",
            "a",
            "b",
            "ac",
            "a.c",
            "axc",
            "key_",
            "a b",
            "xx",
            "y",
            "_prod",
            "_test_",
        ];
        for (src, literal) in cases {
            let p = Pattern::new(regex::Regex::new(src).unwrap());
            assert_eq!(p.1.is_some(), literal, "{src}");
            for h in hays {
                assert_eq!(p.is_match(h), p.0.is_match(h), "{src} on {h:?}");
            }
        }
    }

    #[test]
    fn same_is_string_equality() {
        // Every length up to three words, equal or differing at each byte.
        for n in 0..=24usize {
            let a: String = (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            assert!(same(&a, &a.clone()), "{a:?}");
            for i in 0..n {
                let mut b = a.clone().into_bytes();
                b[i] = b'Z';
                let b = String::from_utf8(b).expect("ASCII");
                assert!(!same(&a, &b), "{a:?} vs {b:?}");
            }
            assert!(!same(&a, &format!("{a}x")));
            assert!(!same(&format!("{a}x"), &a));
        }
        assert!(same("é", "é") && !same("é", "è"));
    }

    #[test]
    fn segment_end_finds_the_first_separator() {
        let simple = |p: &[u8], at: usize| {
            p[at..]
                .iter()
                .position(|&b| b == b'/' || b == b'?' || b == b'#')
                .map_or(p.len(), |i| at + i)
        };
        // Every position of each separator (and of none) in paths of every
        // length to 40, with bytes either side of ASCII and multibyte text.
        let fill = "ab\u{e9}c\u{80}-_.\u{ff}z0".as_bytes();
        for n in 0..=40usize {
            let base: Vec<u8> = (0..n).map(|i| fill[i % fill.len()]).collect();
            for sep in [None, Some(b'/'), Some(b'?'), Some(b'#')] {
                for k in 0..n.max(1) {
                    let mut p = base.clone();
                    if let (Some(c), Some(x)) = (sep, p.get_mut(k)) {
                        *x = c;
                    }
                    for at in 0..=p.len() {
                        assert_eq!(super::segment_end(&p, at), simple(&p, at), "{p:?} at {at}");
                    }
                }
            }
        }
    }
}
