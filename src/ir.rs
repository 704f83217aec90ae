//! Stage 2: syntax tree to typed IR.
//!
//! In: an [`ast::File`]. Out: a [`Policy`] in which every name is resolved to
//! a dense index (attributes, counters, responses, header sets), every number
//! and duration is parsed and range-checked, block conditions are folded into
//! their rules, and defaults are applied; plus every problem found, as
//! [`Diagnostics`]. Entry point: [`lower`]. Whole-policy checks that need the
//! finished IR are in [`crate::check`].

use crate::diag::{codes, did_you_mean, Diagnostic, Diagnostics};
use crate::source::{Source, Span};
use crate::syntax::ast::{self, CmpOp};
use std::collections::HashMap;

/// A lowered policy.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The text it came from.
    pub source: Source,
    /// `policy NAME`, or the file's stem.
    pub name: String,
    /// Declared request attributes; an [`AttrId`] indexes this.
    pub inputs: Vec<Input>,
    /// Rules in source order.
    pub rules: Vec<Rule>,
    /// Named counters.
    pub counters: Vec<Counter>,
    /// Named responses.
    pub responses: Vec<Response>,
    /// Named header sets.
    pub header_sets: Vec<HeaderSet>,
    /// `default respond NAME`.
    pub default_response: Option<usize>,
    /// `default overflow ...`.
    pub overflow: Overflow,
    /// `default shadow_prefix "..."`: header-name prefix for shadow decisions.
    pub shadow_prefix: Option<String>,
}

/// Where a rule's time zone comes from.
#[derive(Clone, Debug, PartialEq)]
pub struct TzRef {
    /// A named zone (the rule's, or the policy default), the fallback when
    /// `attr` is absent or not a zone name.
    pub zone: Option<chrono_tz::Tz>,
    /// An attribute holding an IANA zone name.
    pub attr: Option<AttrId>,
    /// Written on the rule itself (not only a policy default).
    pub explicit: Option<Span>,
}

/// A declared attribute, or a path parameter used in a key.
#[derive(Clone, Debug)]
pub struct Input {
    /// Its name.
    pub name: String,
    /// Where it was declared (or first used, for a path parameter).
    pub span: Span,
    /// True for a `{param}` of the path, which requests do not set.
    pub param: bool,
}

/// Index of a declared attribute.
pub type AttrId = usize;

/// What a full key store does with a new key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Overflow {
    /// Reject the request (fail closed).
    Reject,
    /// Admit it without counting (fail open).
    Allow,
}

/// HTTP methods as a bit set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct MethodSet(pub u16);

/// The methods a rule may name, in bit order.
pub const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

impl MethodSet {
    /// Every method, including ones not in [`METHODS`].
    pub const ANY: MethodSet = MethodSet(u16::MAX);

    /// The bit of one method name, `None` if unknown. Other method names seen
    /// in requests map to bit 15, which only `ANY` contains.
    pub fn bit(method: &str) -> Option<u16> {
        METHODS
            .iter()
            .position(|m| m.eq_ignore_ascii_case(method))
            .map(|i| 1u16 << i)
    }

    /// True if `method` is in the set.
    pub fn contains_bits(self, bits: u16) -> bool {
        self.0 & bits != 0
    }

    /// Human form: `GET|POST` or `ANY`.
    pub fn describe(self) -> String {
        if self == MethodSet::ANY {
            return "ANY".into();
        }
        METHODS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, m)| *m)
            .collect::<Vec<_>>()
            .join("|")
    }
}

/// A path pattern.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PathPattern {
    /// Segments.
    pub segments: Vec<PathSeg>,
}

impl std::fmt::Display for PathPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for s in &self.segments {
            match s {
                PathSeg::Literal(l) => write!(f, "/{l}")?,
                PathSeg::Param(p) => write!(f, "/{{{p}}}")?,
                PathSeg::Star => f.write_str("/*")?,
                PathSeg::Rest => f.write_str("/**")?,
            }
        }
        Ok(())
    }
}

/// A path segment.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum PathSeg {
    /// Exactly this text.
    Literal(String),
    /// One segment, named.
    Param(String),
    /// One segment.
    Star,
    /// The rest.
    Rest,
}

/// A condition over attributes.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// Any holds.
    Or(Vec<Condition>),
    /// All hold.
    And(Vec<Condition>),
    /// Does not hold.
    Not(Box<Condition>),
    /// A comparison.
    Cmp {
        /// Attribute.
        attr: AttrId,
        /// Operator.
        op: CmpOp,
        /// Right side.
        value: String,
        /// Where.
        span: Span,
    },
    /// Membership in a set of strings.
    In {
        /// Attribute.
        attr: AttrId,
        /// Values.
        values: Vec<String>,
    },
    /// The attribute is present.
    Present(AttrId),
}

/// What a rule or counter matches.
#[derive(Clone, Debug)]
pub struct Matcher {
    /// Methods.
    pub methods: MethodSet,
    /// Path patterns with their spans.
    pub paths: Vec<(PathPattern, Span)>,
    /// Condition (block conditions and the rule's own, all required).
    pub cond: Option<Condition>,
}

/// One `&`-group of a key.
pub type KeyGroup = Vec<AttrId>;

/// Algorithm of a rule's windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// Never more than N in any interval of length W.
    Sliding,
    /// At most N per aligned window.
    Fixed,
    /// GCRA token bucket.
    Bucket,
}

impl Algorithm {
    /// As written.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sliding => "sliding",
            Algorithm::Fixed => "fixed",
            Algorithm::Bucket => "bucket",
        }
    }
}

/// A window's length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// A fixed number of nanoseconds.
    Nanos(u64),
    /// A number of UTC calendar months.
    Months(u32),
    /// Requests in flight at once (`N concurrent`), no window.
    Concurrent,
}

impl Period {
    /// Nanoseconds, with a month counted as 31 days (an upper bound).
    pub fn max_nanos(self) -> u64 {
        match self {
            Period::Nanos(n) => n,
            Period::Months(m) => u64::from(m).saturating_mul(31 * DAY),
            Period::Concurrent => 0,
        }
    }

    /// Nanoseconds, with a month counted as 28 days (a lower bound).
    pub fn min_nanos(self) -> u64 {
        match self {
            Period::Nanos(n) => n,
            Period::Months(m) => u64::from(m).saturating_mul(28 * DAY),
            Period::Concurrent => u64::MAX,
        }
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Period::Months(m) => write!(f, "{m}mo"),
            Period::Concurrent => f.write_str("concurrent"),
            Period::Nanos(n) => f.write_str(&format_nanos(n)),
        }
    }
}

/// `1500ms`, `10s`, `5m`, `1h`, `1d` — the largest unit that divides exactly.
pub fn format_nanos(n: u64) -> String {
    for (unit, size) in [
        ("d", DAY),
        ("h", HOUR),
        ("m", MINUTE),
        ("s", SECOND),
        ("ms", MILLI),
    ] {
        if n >= size && n % size == 0 {
            return format!("{}{unit}", n / size);
        }
    }
    format!("{n}ns")
}

/// Nanoseconds per millisecond.
pub const MILLI: u64 = 1_000_000;
/// Nanoseconds per second.
pub const SECOND: u64 = 1_000_000_000;
/// Nanoseconds per minute.
pub const MINUTE: u64 = 60 * SECOND;
/// Nanoseconds per hour.
pub const HOUR: u64 = 60 * MINUTE;
/// Nanoseconds per day.
pub const DAY: u64 = 24 * HOUR;

/// A limit.
#[derive(Clone, Debug, PartialEq)]
pub enum LimitExpr {
    /// A constant.
    Const(u64),
    /// The least of products of counters' current values, numeric request
    /// attributes and constants, and of a constant bound.
    Min {
        /// The non-constant arguments of `min`.
        terms: Vec<Term>,
        /// The smallest constant argument.
        cap: u64,
    },
}

/// `factor * attr * counter ...`, computed per request.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Term {
    /// Product of the constants.
    pub factor: u64,
    /// Numeric attributes multiplied in (absent or not a whole number: 0).
    pub attrs: Vec<AttrId>,
    /// Counters multiplied in (their current value).
    pub counters: Vec<usize>,
}

impl LimitExpr {
    /// The largest value it can take.
    pub fn bound(&self) -> u64 {
        match self {
            LimitExpr::Const(n) => *n,
            LimitExpr::Min { cap, .. } => *cap,
        }
    }
}

/// One `N/W` of a rule.
#[derive(Clone, Debug)]
pub struct Window {
    /// N.
    pub limit: LimitExpr,
    /// W.
    pub period: Period,
    /// Where.
    pub span: Span,
}

/// A rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Its name, or `file:line`.
    pub id: String,
    /// Whether `id` was written.
    pub named: bool,
    /// Name span or rule span.
    pub id_span: Span,
    /// Whole rule.
    pub span: Span,
    /// What it matches.
    pub matcher: Matcher,
    /// `|`-groups of `&`-joined attributes; empty for one global counter.
    pub key: Vec<KeyGroup>,
    /// Span of `by ...`.
    pub key_span: Option<Span>,
    /// Windows in source order.
    pub windows: Vec<Window>,
    /// Algorithm.
    pub algorithm: Algorithm,
    /// Where the algorithm was written, if it was.
    pub algorithm_span: Option<Span>,
    /// `burst B`.
    pub burst: Option<(u64, Span)>,
    /// `block D` penalty.
    pub block: Option<(u64, Span)>,
    /// `status N`.
    pub status: Option<u16>,
    /// `respond NAME` or the default.
    pub response: Option<usize>,
    /// `shadow`: decided and reported, never enforced.
    pub shadow: bool,
    /// `cost ATTR`: the numeric attribute counted instead of the request's cost.
    pub cost_attr: Option<AttrId>,
    /// `counting 401|403`: counts only responses with these statuses.
    pub counting: Vec<u16>,
    /// Path parameters used as key attributes: the attribute and its segment
    /// index in each of the rule's path patterns.
    pub params: Vec<(AttrId, Vec<usize>)>,
    /// Time zone for aligning fixed windows.
    pub tz: Option<TzRef>,
}

/// A named counter.
#[derive(Clone, Debug)]
pub struct Counter {
    /// Its name.
    pub name: String,
    /// Where declared.
    pub span: Span,
    /// What it counts.
    pub matcher: Matcher,
    /// Its key (one group).
    pub key: KeyGroup,
    /// Its window (fixed, UTC-aligned).
    pub period: Period,
}

/// A named response.
#[derive(Clone, Debug)]
pub struct Response {
    /// Its name.
    pub name: String,
    /// Where declared.
    pub span: Span,
    /// Rejection status.
    pub status: u16,
    /// Header set.
    pub headers: Option<usize>,
    /// Body template.
    pub body: Option<(Template, Span)>,
}

/// A named header set.
#[derive(Clone, Debug)]
pub struct HeaderSet {
    /// Its name.
    pub name: String,
    /// Where declared.
    pub span: Span,
    /// Lines.
    pub lines: Vec<HeaderLine>,
}

/// When a header line is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Always.
    Any,
    /// On rejections.
    Reject,
    /// On admissions.
    Allow,
}

/// One header.
#[derive(Clone, Debug)]
pub struct HeaderLine {
    /// Name.
    pub name: String,
    /// Value.
    pub value: Template,
    /// When.
    pub phase: Phase,
    /// Where.
    pub span: Span,
}

/// A text with `${placeholders}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Template(pub Vec<Piece>);

/// A piece of a template.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Piece {
    /// Literal text.
    Text(String),
    /// A value; `all` for the `*` form.
    Var {
        /// Which.
        var: Var,
        /// Every window, comma-separated.
        all: bool,
    },
}

/// Placeholder names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Var {
    /// `${limit}`
    Limit,
    /// `${remaining}`
    Remaining,
    /// `${used}`
    Used,
    /// `${window}`
    Window,
    /// `${reset}`
    Reset,
    /// `${reset_after}`
    ResetAfter,
    /// `${retry_after}`
    RetryAfter,
    /// `${rule}`
    Rule,
    /// `${policy}`
    Policy,
    /// `${status}`
    Status,
    /// `${now}`
    Now,
    /// `${reason}`: why a request was rejected (`rate_limited`, `blocked`,
    /// `too_many_in_flight`, `store_full`), empty when admitted.
    Reason,
}

impl Var {
    /// Every placeholder name and its variant.
    pub const ALL: [(&'static str, Var); 12] = [
        ("limit", Var::Limit),
        ("remaining", Var::Remaining),
        ("used", Var::Used),
        ("window", Var::Window),
        ("reset", Var::Reset),
        ("reset_after", Var::ResetAfter),
        ("retry_after", Var::RetryAfter),
        ("rule", Var::Rule),
        ("policy", Var::Policy),
        ("status", Var::Status),
        ("now", Var::Now),
        ("reason", Var::Reason),
    ];

    /// Whether the `*` (every window) form exists.
    pub fn per_window(self) -> bool {
        matches!(
            self,
            Var::Limit | Var::Remaining | Var::Used | Var::Window | Var::Reset | Var::ResetAfter
        )
    }
}

/// Lowers a parsed file. Returns the IR even when there are errors, so that
/// later checks can still run and report everything in one go; callers must
/// not compile a policy whose diagnostics contain errors.
pub fn lower(file: &ast::File, source: &Source) -> (Policy, Diagnostics) {
    let mut cx = Lower {
        diags: Diagnostics::default(),
        source: source.clone(),
        inputs: Vec::new(),
        input_ix: HashMap::new(),
        counters_ix: HashMap::new(),
        responses_ix: HashMap::new(),
        headers_ix: HashMap::new(),
    };
    let mut policy = Policy {
        source: source.clone(),
        name: default_name(source.name()),
        inputs: Vec::new(),
        rules: Vec::new(),
        counters: Vec::new(),
        responses: Vec::new(),
        header_sets: Vec::new(),
        default_response: None,
        overflow: Overflow::Reject,
        shadow_prefix: None,
    };
    let mut shadow_all = false;
    let mut default_tz: Option<chrono_tz::Tz> = None;
    cx.declare(&file.items, 0);
    // Defaults and named declarations first, so rules may use them in any order.
    let mut default_algorithm: Option<(Algorithm, Span)> = None;
    let mut policy_name: Option<Span> = None;
    let mut default_response: Option<Span> = None;
    let mut overflow: Option<Span> = None;
    for it in &file.items {
        match it {
            ast::Item::Policy(n) => {
                if let Some(prev) = policy_name {
                    cx.duplicate_declaration("policy", n.span, prev);
                } else {
                    policy_name = Some(n.span);
                    policy.name = n.name.clone();
                }
            }
            ast::Item::Default(d, span) => match d {
                ast::Default::Algorithm(a) => {
                    if let Some((_, prev)) = default_algorithm {
                        cx.duplicate_declaration("default algorithm", *span, prev);
                    } else if let Some(alg) = parse_algorithm(&a.name) {
                        default_algorithm = Some((alg, *span));
                    }
                }
                ast::Default::Respond(r) => {
                    if let Some(prev) = default_response {
                        cx.duplicate_declaration("default respond", *span, prev);
                    } else {
                        default_response = Some(*span);
                        policy.default_response = cx.response_ref(r);
                    }
                }
                ast::Default::Overflow(o) => {
                    if let Some(prev) = overflow {
                        cx.duplicate_declaration("default overflow", *span, prev);
                    } else {
                        overflow = Some(*span);
                        policy.overflow = if o.name == "allow" {
                            Overflow::Allow
                        } else {
                            Overflow::Reject
                        };
                    }
                }
                ast::Default::Shadow(_) => shadow_all = true,
                ast::Default::Timezone(name) => default_tz = cx.timezone(name),
                ast::Default::ShadowPrefix(p) => {
                    if p.value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    {
                        policy.shadow_prefix = Some(p.value.clone());
                    } else {
                        cx.diags.push(
                            Diagnostic::error(
                                codes::BAD_STRING,
                                p.span,
                                format!("`{}` cannot start a header name", p.value.escape_debug()),
                            )
                            .label("not a header-name prefix")
                            .help("use letters, digits and `-`, e.g. `\"Beta-\"`"),
                        );
                    }
                }
            },
            ast::Item::Headers(h) => {
                let set = cx.header_set(h);
                policy.header_sets.push(set);
            }
            ast::Item::Response(r) => {
                let resp = cx.response(r);
                policy.responses.push(resp);
            }
            ast::Item::Counter(c) => {
                let counter = cx.counter(c);
                policy.counters.push(counter);
            }
            _ => {}
        }
    }
    let defaults = RuleDefaults {
        algorithm: default_algorithm.map_or(Algorithm::Sliding, |(a, _)| a),
        response: policy.default_response,
        shadow: shadow_all,
        tz: default_tz,
    };
    cx.rules(&file.items, &[], &defaults, &mut policy.rules);
    policy.inputs = cx.inputs;
    (policy, cx.diags)
}

fn default_name(file: &str) -> String {
    std::path::Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("policy")
        .to_string()
}

fn parse_algorithm(s: &str) -> Option<Algorithm> {
    match s {
        "sliding" => Some(Algorithm::Sliding),
        "fixed" => Some(Algorithm::Fixed),
        "bucket" => Some(Algorithm::Bucket),
        _ => None,
    }
}

struct RuleDefaults {
    algorithm: Algorithm,
    response: Option<usize>,
    shadow: bool,
    tz: Option<chrono_tz::Tz>,
}

struct Lower {
    diags: Diagnostics,
    source: Source,
    inputs: Vec<Input>,
    input_ix: HashMap<String, AttrId>,
    counters_ix: HashMap<String, (usize, Span)>,
    responses_ix: HashMap<String, (usize, Span)>,
    headers_ix: HashMap<String, (usize, Span)>,
}

impl Lower {
    /// First pass: inputs and the names of counters, responses and header
    /// sets, so that references can be resolved in any order.
    fn declare(&mut self, items: &[ast::Item], depth: usize) {
        let (mut counters, mut responses, mut headers) = (0, 0, 0);
        for it in items {
            let kind = match it {
                ast::Item::Input(names, _) => {
                    for n in names {
                        if let Some(prev) = self.input_ix.get(&n.name) {
                            let prev = self.inputs[*prev].span;
                            self.diags.push(
                                Diagnostic::warning(
                                    codes::DUPLICATE_NAME,
                                    n.span,
                                    format!("input `{}` is declared twice", n.name),
                                )
                                .label("declared again here")
                                .with_related(prev, "first declared here")
                                .help("remove the second declaration"),
                            );
                        } else {
                            self.input_ix.insert(n.name.clone(), self.inputs.len());
                            self.inputs.push(Input {
                                name: n.name.clone(),
                                span: n.span,
                                param: false,
                            });
                        }
                    }
                    "input"
                }
                ast::Item::Counter(c) => {
                    let ix = counters;
                    counters += 1;
                    Self::name_into(
                        &mut self.diags,
                        &mut self.counters_ix,
                        &c.name,
                        ix,
                        "counter",
                    );
                    "counter"
                }
                ast::Item::Response(r) => {
                    let ix = responses;
                    responses += 1;
                    Self::name_into(
                        &mut self.diags,
                        &mut self.responses_ix,
                        &r.name,
                        ix,
                        "response",
                    );
                    "response"
                }
                ast::Item::Headers(h) => {
                    let ix = headers;
                    headers += 1;
                    Self::name_into(
                        &mut self.diags,
                        &mut self.headers_ix,
                        &h.name,
                        ix,
                        "header set",
                    );
                    "headers"
                }
                ast::Item::Policy(_) => "policy",
                ast::Item::Default(..) => "default",
                ast::Item::When(w) => {
                    self.misplaced(&w.items);
                    continue;
                }
                ast::Item::Rule(_) => continue,
            };
            if depth > 0 {
                self.diags.push(
                    Diagnostic::error(
                        codes::MISPLACED_DECLARATION,
                        it.span(),
                        format!("`{kind}` declaration inside a `when` block"),
                    )
                    .label("not allowed here")
                    .help("declarations apply to the whole policy; move it to the top level"),
                );
            }
        }
    }

    /// Reports declarations nested in blocks (they are ignored).
    fn misplaced(&mut self, items: &[ast::Item]) {
        for it in items {
            let kind = match it {
                ast::Item::Input(..) => "input",
                ast::Item::Counter(_) => "counter",
                ast::Item::Response(_) => "response",
                ast::Item::Headers(_) => "headers",
                ast::Item::Policy(_) => "policy",
                ast::Item::Default(..) => "default",
                ast::Item::When(w) => {
                    self.misplaced(&w.items);
                    continue;
                }
                ast::Item::Rule(_) => continue,
            };
            self.diags.push(
                Diagnostic::error(
                    codes::MISPLACED_DECLARATION,
                    it.span(),
                    format!("`{kind}` declaration inside a `when` block"),
                )
                .label("not allowed here")
                .help("declarations apply to the whole policy; move it to the top level"),
            );
        }
    }

    fn name_into(
        diags: &mut Diagnostics,
        map: &mut HashMap<String, (usize, Span)>,
        name: &ast::Ident,
        ix: usize,
        what: &str,
    ) {
        if let Some((_, prev)) = map.get(&name.name) {
            diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_NAME,
                    name.span,
                    format!("{what} `{}` is declared twice", name.name),
                )
                .label("declared again here")
                .with_related(*prev, "first declared here")
                .help(format!("give each {what} its own name")),
            );
        } else {
            map.insert(name.name.clone(), (ix, name.span));
        }
    }

    fn duplicate_declaration(&mut self, what: &str, span: Span, prev: Span) {
        self.diags.push(
            Diagnostic::error(
                codes::DUPLICATE_DECLARATION,
                span,
                format!("`{what}` is declared more than once"),
            )
            .label("declared again here")
            .with_related(prev, "first declared here")
            .help("keep one of them"),
        );
    }

    fn attr(&mut self, name: &ast::Ident) -> Option<AttrId> {
        if let Some(&ix) = self.input_ix.get(&name.name) {
            return Some(ix);
        }
        let mut d = Diagnostic::error(
            codes::UNKNOWN_ATTRIBUTE,
            name.span,
            format!("unknown attribute `{}`", name.name),
        )
        .label("not declared with `input`");
        let suggestion = did_you_mean(&name.name, self.inputs.iter().map(|i| i.name.as_str()));
        d = match suggestion {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d.help(format!("declare it: `input {}`", name.name)),
        };
        self.diags.push(d);
        None
    }

    fn number(&mut self, n: &ast::Num, what: &str) -> Option<u64> {
        // The grammar gives digits and `_` only, a digit first.
        let value = n
            .text
            .bytes()
            .filter(|&b| b != b'_')
            .try_fold(0u64, |v, b| {
                let d = b.wrapping_sub(b'0');
                (d <= 9)
                    .then_some(())
                    .and_then(|()| v.checked_mul(10)?.checked_add(u64::from(d)))
            });
        match value {
            Some(v) => Some(v),
            None => {
                self.diags.push(
                    Diagnostic::error(
                        codes::NUMBER_OVERFLOW,
                        n.span,
                        format!("{what} `{}` is too large", n.text),
                    )
                    .label("does not fit in 64 bits")
                    .help(format!("the largest {what} is {}", u64::MAX)),
                );
                None
            }
        }
    }

    fn duration(&mut self, d: &ast::DurationLit, what: &str) -> Option<Period> {
        let amount = self.number(&d.amount, what)?;
        let unit = d.unit.name.as_str();
        let size = match unit {
            "ms" => MILLI,
            "s" => SECOND,
            "m" => MINUTE,
            "h" => HOUR,
            "d" => DAY,
            "mo" => 0,
            _ => {
                let known = ["ms", "s", "m", "h", "d", "mo"];
                let hint = match unit {
                    "sec" | "secs" | "second" | "seconds" => Some("s"),
                    "min" | "mins" | "minute" | "minutes" => Some("m"),
                    "hr" | "hrs" | "hour" | "hours" => Some("h"),
                    "day" | "days" => Some("d"),
                    "month" | "months" | "mon" => Some("mo"),
                    _ => did_you_mean(unit, known),
                };
                let help = match hint {
                    Some(h) => format!("did you mean `{}{h}`?", d.amount.text),
                    None => {
                        "units are `ms`, `s`, `m` (minutes), `h`, `d` and `mo` (calendar month)"
                            .to_string()
                    }
                };
                self.diags.push(
                    Diagnostic::error(
                        codes::BAD_UNIT,
                        d.unit.span,
                        format!("unknown duration unit `{unit}`"),
                    )
                    .label("not a unit")
                    .help(help),
                );
                return None;
            }
        };
        if amount == 0 {
            self.diags.push(
                Diagnostic::error(
                    codes::ZERO_DURATION,
                    d.span,
                    format!("{what} of zero length"),
                )
                .label("zero")
                .help("a window or penalty must be longer than zero"),
            );
            return None;
        }
        if size == 0 {
            return match u32::try_from(amount) {
                Ok(m) if m <= 12_000 => Some(Period::Months(m)),
                _ => {
                    self.diags.push(
                        Diagnostic::error(
                            codes::NUMBER_OVERFLOW,
                            d.span,
                            format!(
                                "{what} `{}` is too long",
                                self.source
                                    .text()
                                    .get(d.span.start..d.span.end)
                                    .unwrap_or("")
                            ),
                        )
                        .label("more than 1000 years")
                        .help("the longest month window is `12000mo`"),
                    );
                    None
                }
            };
        }
        match amount.checked_mul(size) {
            // Keep every window well inside the u64 nanosecond clock.
            Some(ns) if ns <= 100 * 365 * DAY => Some(Period::Nanos(ns)),
            _ => {
                self.diags.push(
                    Diagnostic::error(
                        codes::NUMBER_OVERFLOW,
                        d.span,
                        format!("{what} `{}{}` is too long", d.amount.text, unit),
                    )
                    .label("longer than 100 years")
                    .help("windows and penalties are at most 100 years (`36500d`)"),
                );
                None
            }
        }
    }

    fn methods(&mut self, methods: &[ast::Ident]) -> MethodSet {
        let mut bits = 0u16;
        for m in methods {
            if m.name == "ANY" {
                bits = u16::MAX;
                continue;
            }
            match MethodSet::bit(&m.name) {
                Some(b) if m.name.chars().all(|c| c.is_ascii_uppercase()) => bits |= b,
                _ => {
                    let all = METHODS.iter().copied().chain(["ANY"]);
                    let help = match did_you_mean(&m.name, all) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("methods are {} and `ANY`", METHODS.join(", ")),
                    };
                    self.diags.push(
                        Diagnostic::error(
                            codes::UNKNOWN_METHOD,
                            m.span,
                            format!("unknown method `{}`", m.name),
                        )
                        .label("not an HTTP method")
                        .help(help),
                    );
                }
            }
        }
        MethodSet(bits)
    }

    fn paths(&mut self, paths: &[ast::PathPat]) -> Vec<(PathPattern, Span)> {
        let mut out = Vec::new();
        for p in paths {
            let mut segs = Vec::new();
            // A path has few parameters: a list, not a map.
            let mut params: Vec<(&str, Span)> = Vec::new();
            let n = p.segments.len();
            for (i, s) in p.segments.iter().enumerate() {
                segs.push(match s {
                    ast::Segment::Literal(l, _) => PathSeg::Literal(l.clone()),
                    ast::Segment::Param(id) => {
                        let prev = params.iter().rev().find(|(n, _)| *n == id.name).map(|p| p.1);
                        params.push((&id.name, id.span));
                        if let Some(prev) = prev {
                            self.diags.push(
                                Diagnostic::error(
                                    codes::DUPLICATE_PARAM,
                                    id.span,
                                    format!("path parameter `{{{}}}` appears twice", id.name),
                                )
                                .label("second use")
                                .with_related(prev, "first use")
                                .help("give each parameter of a path its own name"),
                            );
                        }
                        PathSeg::Param(id.name.clone())
                    }
                    ast::Segment::Star(_) => PathSeg::Star,
                    ast::Segment::Rest(span) => {
                        if i + 1 != n {
                            self.diags.push(
                                Diagnostic::error(
                                    codes::REST_NOT_LAST,
                                    *span,
                                    "`**` must be the last segment of a path",
                                )
                                .label("followed by more segments")
                                .help("`**` matches the whole rest of the path; use `*` for one segment"),
                            );
                        }
                        PathSeg::Rest
                    }
                });
            }
            out.push((PathPattern { segments: segs }, p.span));
        }
        out
    }

    fn condition(&mut self, c: &ast::Cond) -> Option<Condition> {
        Some(match c {
            ast::Cond::Or(parts, _) => Condition::Or(self.conditions(parts)?),
            ast::Cond::And(parts, _) => Condition::And(self.conditions(parts)?),
            ast::Cond::Not(inner, _) => Condition::Not(Box::new(self.condition(inner)?)),
            ast::Cond::Cmp {
                attr,
                op,
                value,
                span,
            } => {
                let a = self.attr(attr);
                if matches!(op, CmpOp::Match | CmpOp::NotMatch) {
                    if let Err(e) = regex::Regex::new(&value.value) {
                        let msg = e.to_string();
                        let last = msg
                            .lines()
                            .last()
                            .unwrap_or("invalid regex")
                            .trim()
                            .to_string();
                        self.diags.push(
                            Diagnostic::error(
                                codes::BAD_REGEX,
                                value.span,
                                format!("invalid regex `{}`", value.value),
                            )
                            .label(last)
                            .help("the syntax is Rust's `regex` crate; escape metacharacters with `\\\\`"),
                        );
                        return None;
                    }
                }
                Condition::Cmp {
                    attr: a?,
                    op: *op,
                    value: value.value.clone(),
                    span: *span,
                }
            }
            ast::Cond::In { attr, values, .. } => Condition::In {
                attr: self.attr(attr)?,
                values: values.iter().map(|v| v.value.clone()).collect(),
            },
            ast::Cond::Present(a) => Condition::Present(self.attr(a)?),
        })
    }

    fn conditions(&mut self, parts: &[ast::Cond]) -> Option<Vec<Condition>> {
        let out: Vec<Option<Condition>> = parts.iter().map(|p| self.condition(p)).collect();
        out.into_iter().collect()
    }

    fn matcher(&mut self, m: &ast::Matcher, outer: &[Condition]) -> Option<Matcher> {
        let methods = self.methods(&m.methods);
        let paths = self.paths(&m.paths);
        let own = match &m.cond {
            Some(c) => Some(self.condition(c)?),
            None => None,
        };
        let mut all: Vec<Condition> = outer.to_vec();
        all.extend(own);
        let cond = match all.len() {
            0 => None,
            1 => all.pop(),
            _ => Some(Condition::And(all)),
        };
        Some(Matcher {
            methods,
            paths,
            cond,
        })
    }

    fn key(&mut self, k: &ast::Key) -> Vec<KeyGroup> {
        k.groups
            .iter()
            .map(|g| g.iter().filter_map(|a| self.attr(a)).collect())
            .collect()
    }

    fn response_ref(&mut self, name: &ast::Ident) -> Option<usize> {
        match self.responses_ix.get(&name.name) {
            Some((ix, _)) => Some(*ix),
            None => {
                self.unknown_ref(
                    name,
                    "response",
                    self.responses_ix.keys().cloned().collect(),
                );
                None
            }
        }
    }

    fn unknown_ref(&mut self, name: &ast::Ident, what: &str, known: Vec<String>) {
        let help = match did_you_mean(&name.name, known.iter().map(String::as_str)) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("declare it with `{what} {} {{ ... }}`", name.name),
        };
        let code = if what == "counter" {
            codes::UNKNOWN_COUNTER
        } else {
            codes::UNKNOWN_RESPONSE
        };
        self.diags.push(
            Diagnostic::error(code, name.span, format!("unknown {what} `{}`", name.name))
                .label("not declared")
                .help(help),
        );
    }

    fn header_set(&mut self, h: &ast::HeadersDecl) -> HeaderSet {
        let mut lines = Vec::new();
        for l in &h.lines {
            if l.name.value.is_empty()
                || !l
                    .name
                    .value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
            {
                self.diags.push(
                    Diagnostic::error(
                        codes::BAD_STRING,
                        l.name.span,
                        format!(
                            "`{}` is not a valid header name",
                            l.name.value.escape_debug()
                        ),
                    )
                    .label("not an HTTP token")
                    .help("header names are letters, digits and `!#$%&'*+-.^_`|~`"),
                );
            }
            if l.value
                .value
                .chars()
                .any(|c| c == '\r' || c == '\n' || c == '\0')
            {
                self.diags.push(
                    Diagnostic::error(
                        codes::BAD_STRING,
                        l.value.span,
                        "header value contains a line break or NUL",
                    )
                    .label("not allowed in a header")
                    .help("remove `\\r`, `\\n` and `\\0` from the value"),
                );
            }
            let phase = match l.phase.as_ref().map(|p| p.name.as_str()) {
                Some("reject") => Phase::Reject,
                Some("allow") => Phase::Allow,
                _ => Phase::Any,
            };
            if let Some(value) = self.template(&l.value) {
                lines.push(HeaderLine {
                    name: l.name.value.clone(),
                    value,
                    phase,
                    span: l.span,
                });
            }
        }
        HeaderSet {
            name: h.name.name.clone(),
            span: h.span,
            lines,
        }
    }

    /// Splits `${...}` placeholders out of a string literal.
    fn template(&mut self, s: &ast::Str) -> Option<Template> {
        let text = &s.value;
        let mut pieces = Vec::new();
        let mut rest = text.as_str();
        let mut ok = true;
        while let Some(i) = rest.find("${") {
            if i > 0 {
                pieces.push(Piece::Text(rest[..i].to_string()));
            }
            let after = &rest[i + 2..];
            let Some(end) = after.find('}') else {
                pieces.push(Piece::Text(rest[i..].to_string()));
                rest = "";
                break;
            };
            let name = &after[..end];
            let (base, all) = match name.strip_suffix('*') {
                Some(b) => (b, true),
                None => (name, false),
            };
            match Var::ALL.iter().find(|(n, _)| *n == base) {
                Some((_, var)) if !all || var.per_window() => {
                    pieces.push(Piece::Var { var: *var, all })
                }
                _ => {
                    ok = false;
                    // Point into the literal when it has no escapes before it.
                    let span = match self.source.text().get(s.span.start..s.span.end) {
                        Some(lit) => match lit.find(&format!("${{{name}}}")) {
                            Some(off) => {
                                Span::new(s.span.start + off, s.span.start + off + name.len() + 3)
                            }
                            None => s.span,
                        },
                        None => s.span,
                    };
                    let names = Var::ALL.iter().map(|(n, _)| *n);
                    let help = match did_you_mean(base, names) {
                        Some(g) => {
                            format!("did you mean `${{{g}{}}}`?", if all { "*" } else { "" })
                        }
                        None => format!(
                            "placeholders are {}",
                            Var::ALL
                                .iter()
                                .map(|(n, _)| format!("`${{{n}}}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    };
                    self.diags.push(
                        Diagnostic::error(
                            codes::UNKNOWN_PLACEHOLDER,
                            span,
                            format!("unknown placeholder `${{{name}}}`"),
                        )
                        .label("no such value")
                        .help(help),
                    );
                }
            }
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        ok.then_some(Template(pieces))
    }

    fn response(&mut self, r: &ast::ResponseDecl) -> Response {
        let mut status = 429;
        for (i, s) in r.statuses.iter().enumerate() {
            if i > 0 {
                self.duplicate_declaration("status", s.span, r.statuses[0].span);
            } else if let Some(v) = self.status(s) {
                status = v;
            }
        }
        let mut headers = None;
        for (i, h) in r.headers.iter().enumerate() {
            if i > 0 {
                self.duplicate_declaration("headers", h.span, r.headers[0].span);
            } else {
                headers = match self.headers_ix.get(&h.name) {
                    Some((ix, _)) => Some(*ix),
                    None => {
                        let known = self.headers_ix.keys().cloned().collect();
                        self.unknown_ref(h, "headers", known);
                        None
                    }
                };
            }
        }
        let mut body = None;
        for (i, b) in r.bodies.iter().enumerate() {
            if i > 0 {
                self.duplicate_declaration("body", b.span, r.bodies[0].span);
            } else if let Some(t) = self.template(b) {
                body = Some((t, b.span));
            }
        }
        Response {
            name: r.name.name.clone(),
            span: r.span,
            status,
            headers,
            body,
        }
    }

    fn status(&mut self, n: &ast::Num) -> Option<u16> {
        let v = self.number(n, "status")?;
        if (100..=599).contains(&v) {
            // INVARIANT: checked to be at most 599 just above.
            u16::try_from(v).ok()
        } else {
            self.diags.push(
                Diagnostic::error(
                    codes::BAD_STATUS,
                    n.span,
                    format!("`{v}` is not an HTTP status"),
                )
                .label("outside 100..=599")
                .help("rejections usually use 429, 403 or 503"),
            );
            None
        }
    }

    fn counter(&mut self, c: &ast::CounterDecl) -> Counter {
        let matcher = self.matcher(&c.matcher, &[]).unwrap_or(Matcher {
            methods: MethodSet(0),
            paths: Vec::new(),
            cond: None,
        });
        let groups = self.key(&c.key);
        if groups.len() > 1 {
            self.diags.push(
                Diagnostic::error(
                    codes::COUNTER_KEY_MISMATCH,
                    c.key.span,
                    format!("counter `{}` has more than one key group", c.name.name),
                )
                .label("`|` is not allowed here")
                .help("a counter has one key: join attributes with `&`"),
            );
        }
        let period = self
            .duration(&c.period, "counter period")
            .unwrap_or(Period::Nanos(DAY));
        Counter {
            name: c.name.name.clone(),
            span: c.span,
            matcher,
            key: groups.into_iter().next().unwrap_or_default(),
            period,
        }
    }

    fn rules(
        &mut self,
        items: &[ast::Item],
        outer: &[Condition],
        defaults: &RuleDefaults,
        out: &mut Vec<Rule>,
    ) {
        for it in items {
            match it {
                ast::Item::When(w) => {
                    let Some(c) = self.condition(&w.cond) else {
                        continue;
                    };
                    let mut conds = outer.to_vec();
                    conds.push(c);
                    self.rules(&w.items, &conds, defaults, out);
                }
                ast::Item::Rule(r) => {
                    if let Some(rule) = self.rule(r, outer, defaults) {
                        out.push(rule);
                    }
                }
                _ => {}
            }
        }
    }

    fn rule(
        &mut self,
        r: &ast::Rule,
        outer: &[Condition],
        defaults: &RuleDefaults,
    ) -> Option<Rule> {
        let matcher = self.matcher(&r.matcher, outer);
        let mut params = Vec::new();
        let key = match &r.key {
            Some(k) => self.rule_key(k, &r.matcher.paths, &mut params),
            None => Vec::new(),
        };
        let mut windows = Vec::new();
        for rate in &r.rates {
            let period = match &rate.window {
                Some(w) => self.duration(w, "window"),
                None => Some(Period::Concurrent),
            };
            let limit = self.limit(&rate.limit);
            if let (Some(period), Some(limit)) = (period, limit) {
                windows.push(Window {
                    limit,
                    period,
                    span: rate.span,
                });
            }
        }
        let mut algorithm: Option<(Algorithm, Span)> = None;
        let mut burst = None;
        let mut action: Option<Span> = None;
        let mut block = None;
        let mut status = None;
        let mut response = defaults.response;
        let mut seen_response: Option<Span> = None;
        let mut seen_status: Option<Span> = None;
        let mut seen_burst: Option<Span> = None;
        let mut shadow = defaults.shadow;
        let mut cost_attr = None;
        let mut counting = Vec::new();
        let mut tz = defaults.tz.map(|z| TzRef {
            zone: Some(z),
            attr: None,
            explicit: None,
        });
        for o in &r.options {
            match o {
                ast::RuleOption::TimezoneName(name, span) => {
                    tz = Some(TzRef {
                        zone: self.timezone(name).or(defaults.tz),
                        attr: None,
                        explicit: Some(*span),
                    });
                }
                ast::RuleOption::TimezoneAttr(a, span) => {
                    tz = Some(TzRef {
                        zone: defaults.tz,
                        attr: self.attr(a),
                        explicit: Some(*span),
                    });
                }
                ast::RuleOption::Shadow(_) => shadow = true,
                ast::RuleOption::Cost(a, _) => cost_attr = self.attr(a),
                ast::RuleOption::Counting(statuses, _) => {
                    for n in statuses {
                        if let Some(v) = self.status(n) {
                            counting.push(v);
                        }
                    }
                }
                ast::RuleOption::Algorithm(a) => {
                    if let Some((_, prev)) = algorithm {
                        self.conflict(a.span, prev, "algorithm");
                    } else {
                        algorithm = parse_algorithm(&a.name).map(|x| (x, a.span));
                    }
                }
                ast::RuleOption::Burst(n, span) => {
                    if let Some(prev) = seen_burst {
                        self.conflict(*span, prev, "burst");
                    }
                    seen_burst = Some(*span);
                    if let Some(v) = self.number(n, "burst") {
                        if v == 0 {
                            self.diags.push(
                                Diagnostic::error(
                                    codes::ZERO_LIMIT,
                                    n.span,
                                    "a burst of zero admits nothing",
                                )
                                .label("zero")
                                .help("the burst is the bucket's capacity; use at least 1"),
                            );
                        } else {
                            burst = Some((v, *span));
                        }
                    }
                }
                ast::RuleOption::Throttle(span) => {
                    if let Some(prev) = action {
                        self.conflict(*span, prev, "action");
                    }
                    action = Some(*span);
                }
                ast::RuleOption::Block(d, span) => {
                    if let Some(prev) = action {
                        self.conflict(*span, prev, "action");
                    }
                    action = Some(*span);
                    if d.amount.text.chars().all(|c| c == '0' || c == '_') {
                        self.diags.push(
                            Diagnostic::error(codes::BAD_BLOCK, d.span, "a `block` penalty of zero length")
                                .label("zero")
                                .help("use `throttle` to reject only while over the limit, or a penalty longer than zero"),
                        );
                    } else if let Some(p) = self.duration(d, "penalty") {
                        match p {
                            Period::Nanos(ns) => block = Some((ns, *span)),
                            Period::Concurrent => {}
                            Period::Months(_) => self.diags.push(
                                Diagnostic::error(
                                    codes::BAD_UNIT,
                                    d.unit.span,
                                    "a penalty cannot be in calendar months",
                                )
                                .label("`mo` is a calendar window")
                                .help("write the penalty in days, e.g. `block 30d`"),
                            ),
                        }
                    }
                }
                ast::RuleOption::Status(n, span) => {
                    if let Some(prev) = seen_status {
                        self.conflict(*span, prev, "status");
                    }
                    seen_status = Some(*span);
                    status = self.status(n);
                }
                ast::RuleOption::Respond(name, span) => {
                    if let Some(prev) = seen_response {
                        self.conflict(*span, prev, "respond");
                    }
                    seen_response = Some(*span);
                    response = self.response_ref(name);
                }
            }
        }
        let matcher = matcher?;
        let (line, _) = self.source.line_col(r.span.start);
        let (id, named, id_span) = match &r.name {
            Some(n) => (n.name.clone(), true, n.span),
            None => (format!("{}:{line}", self.source.name()), false, r.span),
        };
        Some(Rule {
            id,
            named,
            id_span,
            span: r.span,
            matcher,
            key,
            key_span: r.key.as_ref().map(|k| k.span),
            windows,
            algorithm: algorithm.map_or(defaults.algorithm, |(a, _)| a),
            algorithm_span: algorithm.map(|(_, s)| s),
            burst,
            block,
            status,
            response,
            shadow,
            cost_attr,
            counting,
            params,
            tz,
        })
    }

    /// An IANA zone by name.
    fn timezone(&mut self, name: &ast::Str) -> Option<chrono_tz::Tz> {
        match name.value.parse::<chrono_tz::Tz>() {
            Ok(z) => Some(z),
            Err(_) => {
                let names = chrono_tz::TZ_VARIANTS.iter().map(|z| z.name());
                let help = match did_you_mean(&name.value, names) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => {
                        "use an IANA name such as `Europe/Paris` or `America/New_York`".to_string()
                    }
                };
                self.diags.push(
                    Diagnostic::error(
                        codes::UNKNOWN_TIMEZONE,
                        name.span,
                        format!("unknown time zone `{}`", name.value),
                    )
                    .label("not in the IANA database")
                    .help(help),
                );
                None
            }
        }
    }

    /// A rule's key: attributes, or `{param}`s that every path of the rule has.
    fn rule_key(
        &mut self,
        k: &ast::Key,
        paths: &[ast::PathPat],
        params: &mut Vec<(AttrId, Vec<usize>)>,
    ) -> Vec<KeyGroup> {
        let mut groups = Vec::new();
        for g in &k.groups {
            let mut group = Vec::new();
            for a in g {
                // A `{param}` of the rule's paths is the key even when an
                // input has the same name: the request's attribute never
                // overrides the path (docs/language.md).
                let positions: Vec<Option<usize>> = paths
                    .iter()
                    .map(|p| {
                        p.segments
                            .iter()
                            .position(|s| matches!(s, ast::Segment::Param(i) if i.name == a.name))
                    })
                    .collect();
                if positions.iter().any(Option::is_some) {
                    if positions.iter().all(Option::is_some) {
                        let id = self.param_attr(a);
                        if !params.iter().any(|(x, _)| *x == id) {
                            params.push((id, positions.into_iter().flatten().collect()));
                        }
                        group.push(id);
                    } else {
                        self.diags.push(
                            Diagnostic::error(
                                codes::PARAM_NOT_IN_PATH,
                                a.span,
                                format!("`{{{}}}` is not a parameter of every path of this rule", a.name),
                            )
                            .label("path parameter missing from some paths")
                            .help("a key taken from the path needs the parameter in every path alternative; split the rule"),
                        );
                    }
                    continue;
                }
                group.extend(self.attr(a));
            }
            groups.push(group);
        }
        groups
    }

    /// The pseudo-attribute of a path parameter used in a key.
    fn param_attr(&mut self, a: &ast::Ident) -> AttrId {
        let key = format!("{{{}}}", a.name);
        if let Some(&ix) = self.input_ix.get(&key) {
            return ix;
        }
        let ix = self.inputs.len();
        self.input_ix.insert(key.clone(), ix);
        self.inputs.push(Input {
            name: key,
            span: a.span,
            param: true,
        });
        ix
    }

    fn conflict(&mut self, span: Span, prev: Span, what: &str) {
        self.diags.push(
            Diagnostic::error(
                codes::CONFLICTING_OPTIONS,
                span,
                format!("a rule can have only one {what} option"),
            )
            .label("second one")
            .with_related(prev, "first one")
            .help("keep one of them"),
        );
    }

    fn limit(&mut self, l: &ast::Limit) -> Option<LimitExpr> {
        let (products, span, is_min) = match l {
            ast::Limit::Product(p) => (std::slice::from_ref(p), p.span, false),
            ast::Limit::Min(args, span) => (args.as_slice(), *span, true),
        };
        let mut terms = Vec::new();
        let mut cap: Option<u64> = None;
        let mut ok = true;
        for p in products {
            let mut term = Term {
                factor: 1,
                attrs: Vec::new(),
                counters: Vec::new(),
            };
            for f in &p.factors {
                match f {
                    ast::Factor::Number(n) => match self.number(n, "limit") {
                        Some(v) => match term.factor.checked_mul(v) {
                            Some(x) => term.factor = x,
                            None => {
                                ok = false;
                                self.diags.push(
                                    Diagnostic::error(
                                        codes::NUMBER_OVERFLOW,
                                        p.span,
                                        "this product overflows 64 bits",
                                    )
                                    .label("too large")
                                    .help("use smaller factors"),
                                );
                            }
                        },
                        None => ok = false,
                    },
                    ast::Factor::Name(name) => {
                        if let Some((ix, _)) = self.counters_ix.get(&name.name) {
                            term.counters.push(*ix);
                        } else if self.input_ix.contains_key(&name.name) {
                            term.attrs.extend(self.attr(name));
                        } else {
                            ok = false;
                            let mut known: Vec<String> = self.counters_ix.keys().cloned().collect();
                            known.extend(
                                self.inputs
                                    .iter()
                                    .filter(|i| !i.param)
                                    .map(|i| i.name.clone()),
                            );
                            let help = match did_you_mean(&name.name, known.iter().map(String::as_str)) {
                                Some(s) => format!("did you mean `{s}`?"),
                                None => "a limit may use numbers, declared counters and declared numeric attributes".to_string(),
                            };
                            self.diags.push(
                                Diagnostic::error(
                                    codes::UNKNOWN_COUNTER,
                                    name.span,
                                    format!("unknown counter or attribute `{}`", name.name),
                                )
                                .label("not declared")
                                .help(help),
                            );
                        }
                    }
                }
            }
            if term.factor == 0 {
                ok = false;
                self.diags.push(
                    Diagnostic::error(codes::ZERO_LIMIT, p.span, "a limit of zero admits nothing")
                        .label("zero")
                        .help(if is_min {
                            "the bound of `min` must be at least 1"
                        } else {
                            "to refuse every request, use a gateway rule; a rate limit needs at least 1"
                        }),
                );
            } else if term.attrs.is_empty() && term.counters.is_empty() {
                cap = Some(cap.map_or(term.factor, |c: u64| c.min(term.factor)));
            } else {
                terms.push(term);
            }
        }
        if !ok {
            return None;
        }
        let Some(cap) = cap else {
            self.diags.push(
                Diagnostic::error(codes::UNBOUNDED_LIMIT, span, "this limit has no constant bound")
                    .label("only counters or attributes")
                    .help("wrap it in `min` with the largest limit it may reach, e.g. `min(users_created, 1000)`"),
            );
            return None;
        };
        if terms.is_empty() {
            Some(LimitExpr::Const(cap))
        } else {
            Some(LimitExpr::Min { terms, cap })
        }
    }
}
