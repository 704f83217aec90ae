//! The syntax tree of an `.rl` file: what was written, with spans, before any
//! name is resolved or any number is checked.

use crate::source::Span;

/// A whole file.
#[derive(Clone, Debug, PartialEq)]
pub struct File {
    /// Top-level items in source order.
    pub items: Vec<Item>,
}

/// A top-level or block item.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `policy NAME`
    Policy(Ident),
    /// `input a, b`
    Input(Vec<Ident>, Span),
    /// `default ...`
    Default(Default, Span),
    /// `headers NAME { ... }`
    Headers(HeadersDecl),
    /// `response NAME { ... }`
    Response(ResponseDecl),
    /// `counter NAME = ...`
    Counter(CounterDecl),
    /// `when COND { ... }`
    When(WhenBlock),
    /// A rate-limit rule.
    Rule(Rule),
}

impl Item {
    /// The whole item's span.
    pub fn span(&self) -> Span {
        match self {
            Item::Policy(i) => i.span,
            Item::Input(_, s) | Item::Default(_, s) => *s,
            Item::Headers(h) => h.span,
            Item::Response(r) => r.span,
            Item::Counter(c) => c.span,
            Item::When(w) => w.span,
            Item::Rule(r) => r.span,
        }
    }
}

/// A name with its span.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ident {
    /// The text.
    pub name: String,
    /// Where.
    pub span: Span,
}

/// A string literal, unescaped.
#[derive(Clone, Debug, PartialEq)]
pub struct Str {
    /// The value after escapes.
    pub value: String,
    /// The literal's span, quotes included.
    pub span: Span,
}

/// A number as written (digits and `_`), parsed during lowering so that
/// overflow is reported with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Num {
    /// Digits and underscores.
    pub text: String,
    /// Where.
    pub span: Span,
}

/// `12s`, `1mo`.
#[derive(Clone, Debug, PartialEq)]
pub struct DurationLit {
    /// The amount.
    pub amount: Num,
    /// The unit as written.
    pub unit: Ident,
    /// Both.
    pub span: Span,
}

/// `default ...`
#[derive(Clone, Debug, PartialEq)]
pub enum Default {
    /// `default sliding`
    Algorithm(Ident),
    /// `default respond NAME`
    Respond(Ident),
    /// `default overflow reject`
    Overflow(Ident),
    /// `default shadow`: every rule in shadow mode.
    Shadow(Span),
    /// `default shadow_prefix "Beta-"`
    ShadowPrefix(Str),
    /// `default timezone "Europe/Paris"`
    Timezone(Str),
}

/// `headers NAME { "H" = "v" on reject ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct HeadersDecl {
    /// The set's name.
    pub name: Ident,
    /// Its lines.
    pub lines: Vec<HeaderLine>,
    /// Whole declaration.
    pub span: Span,
}

/// `"Name" = "value" [on reject|allow|any]`
#[derive(Clone, Debug, PartialEq)]
pub struct HeaderLine {
    /// Header name.
    pub name: Str,
    /// Value template.
    pub value: Str,
    /// `on ...` as written.
    pub phase: Option<Ident>,
    /// Whole line.
    pub span: Span,
}

/// `response NAME { status N headers H body `...` }`
#[derive(Clone, Debug, PartialEq)]
pub struct ResponseDecl {
    /// Its name.
    pub name: Ident,
    /// `status` items (more than one is an error).
    pub statuses: Vec<Num>,
    /// `headers` items.
    pub headers: Vec<Ident>,
    /// `body` items.
    pub bodies: Vec<Str>,
    /// Whole declaration.
    pub span: Span,
}

/// `counter NAME = METHODS PATHS [when C] by KEY per D`
#[derive(Clone, Debug, PartialEq)]
pub struct CounterDecl {
    /// Its name.
    pub name: Ident,
    /// What it matches.
    pub matcher: Matcher,
    /// Its key.
    pub key: Key,
    /// Window length.
    pub period: DurationLit,
    /// Whole declaration.
    pub span: Span,
}

/// `when COND { items }`
#[derive(Clone, Debug, PartialEq)]
pub struct WhenBlock {
    /// The condition.
    pub cond: Cond,
    /// Items inside.
    pub items: Vec<Item>,
    /// Whole block.
    pub span: Span,
}

/// Methods, paths and an optional condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Matcher {
    /// Method names as written.
    pub methods: Vec<Ident>,
    /// Path patterns.
    pub paths: Vec<PathPat>,
    /// `when ...` on the rule itself.
    pub cond: Option<Cond>,
}

/// A rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// `name:` prefix.
    pub name: Option<Ident>,
    /// What it matches.
    pub matcher: Matcher,
    /// `by ...`
    pub key: Option<Key>,
    /// Rates.
    pub rates: Vec<Rate>,
    /// Options after the rates.
    pub options: Vec<RuleOption>,
    /// Whole rule.
    pub span: Span,
}

/// A path pattern.
#[derive(Clone, Debug, PartialEq)]
pub struct PathPat {
    /// Segments between slashes.
    pub segments: Vec<Segment>,
    /// Whole pattern.
    pub span: Span,
}

/// One path segment.
#[derive(Clone, Debug, PartialEq)]
pub enum Segment {
    /// A literal segment.
    Literal(String, Span),
    /// `{name}`
    Param(Ident),
    /// `*`
    Star(Span),
    /// `**`
    Rest(Span),
}

impl Segment {
    /// Where.
    pub fn span(&self) -> Span {
        match self {
            Segment::Literal(_, s) | Segment::Star(s) | Segment::Rest(s) => *s,
            Segment::Param(i) => i.span,
        }
    }
}

/// `by a&b|c`
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    /// Groups separated by `|`, each a list joined by `&`.
    pub groups: Vec<Vec<Ident>>,
    /// Whole clause.
    pub span: Span,
}

/// `N/D`, or `N concurrent`.
#[derive(Clone, Debug, PartialEq)]
pub struct Rate {
    /// The limit.
    pub limit: Limit,
    /// The window; `None` for `concurrent`.
    pub window: Option<DurationLit>,
    /// Whole rate.
    pub span: Span,
}

/// A limit: a product or `min` of products.
#[derive(Clone, Debug, PartialEq)]
pub enum Limit {
    /// `100`, `1000 * licences`
    Product(Product),
    /// `min(users_created, 1000)`
    Min(Vec<Product>, Span),
}

/// Factors multiplied: numbers, counters, numeric attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Product {
    /// The factors.
    pub factors: Vec<Factor>,
    /// Where.
    pub span: Span,
}

/// A factor of a product.
#[derive(Clone, Debug, PartialEq)]
pub enum Factor {
    /// A constant.
    Number(Num),
    /// A counter's or a numeric attribute's name.
    Name(Ident),
}

/// Options after the rates.
#[derive(Clone, Debug, PartialEq)]
pub enum RuleOption {
    /// `sliding`, `fixed`, `bucket`
    Algorithm(Ident),
    /// `burst N`
    Burst(Num, Span),
    /// `throttle`
    Throttle(Span),
    /// `block D`
    Block(DurationLit, Span),
    /// `status N`
    Status(Num, Span),
    /// `respond NAME`
    Respond(Ident, Span),
    /// `shadow`
    Shadow(Span),
    /// `cost ATTR`
    Cost(Ident, Span),
    /// `counting 401|403`
    Counting(Vec<Num>, Span),
    /// `timezone "Asia/Tokyo"`
    TimezoneName(Str, Span),
    /// `timezone ATTR`: the zone named by a request attribute
    TimezoneAttr(Ident, Span),
}

impl RuleOption {
    /// Where.
    pub fn span(&self) -> Span {
        match self {
            RuleOption::Algorithm(i) => i.span,
            RuleOption::Burst(_, s)
            | RuleOption::Throttle(s)
            | RuleOption::Block(_, s)
            | RuleOption::Status(_, s)
            | RuleOption::Respond(_, s)
            | RuleOption::Shadow(s)
            | RuleOption::Cost(_, s)
            | RuleOption::Counting(_, s)
            | RuleOption::TimezoneName(_, s)
            | RuleOption::TimezoneAttr(_, s) => *s,
        }
    }
}

/// A condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    /// `a or b`
    Or(Vec<Cond>, Span),
    /// `a and b`
    And(Vec<Cond>, Span),
    /// `not a`
    Not(Box<Cond>, Span),
    /// `attr OP "value"`
    Cmp {
        /// Attribute.
        attr: Ident,
        /// Operator.
        op: CmpOp,
        /// Right side.
        value: Str,
        /// Whole comparison.
        span: Span,
    },
    /// `attr in ("a", "b")`
    In {
        /// Attribute.
        attr: Ident,
        /// Values.
        values: Vec<Str>,
        /// Whole test.
        span: Span,
    },
    /// `attr`
    Present(Ident),
}

impl Cond {
    /// Where.
    pub fn span(&self) -> Span {
        match self {
            Cond::Or(_, s) | Cond::And(_, s) | Cond::Not(_, s) => *s,
            Cond::Cmp { span, .. } | Cond::In { span, .. } => *span,
            Cond::Present(i) => i.span,
        }
    }
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `=~`
    Match,
    /// `!~`
    NotMatch,
    /// `contains`
    Contains,
}

impl CmpOp {
    /// As written.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Match => "=~",
            CmpOp::NotMatch => "!~",
            CmpOp::Contains => "contains",
        }
    }
}
