//! Stage 5: the evaluator.
//!
//! In: a [`DecisionTable`] (inside a [`crate::Policy`]) and requests. Out: a
//! [`Decision`] per request: allowed or not, the status, the reported rule,
//! retry-after, and headers and body rendered only when asked.
//!
//! For each request: the route index yields the rules and counters whose
//! methods and paths match; conditions and key presence filter them; each
//! (rule, key group) finds its state words in the [`Store`]. Every window is
//! first judged on a snapshot; if all admit, each window's new state is
//! written with a compare-and-swap, re-judging a window whose word changed
//! meanwhile; if one now rejects, the windows already written are refunded
//! (all or nothing). Nothing is locked and, for keys already tracked,
//! nothing is allocated.
//!
//! Most requests take shorter paths to the same decision, chosen from what
//! the [`Limiter`] computed once about its table (`Fast`): a method routed to
//! exactly one plain rule of one window (a keyed quota) is judged and
//! written in one loop (`check_one`); requests whose rules are all plain
//! (enforced, constant limits, time windows, no time zone, no `counting`,
//! no path-parameter key: see `plain`) skip the general bookkeeping
//! (`check_plain`); bucket and fixed window figures are computed only when
//! asked for. `check_at_general` is the general path alone, and
//! `tests/fast_paths.rs` holds the two to the same decisions.
//!
//! Memory orderings: state words are read with `Acquire` and written with
//! `AcqRel` compare-and-swap, so that a sliding window's ring slot, published
//! with `fetch_max(Release)` before its head is swapped, is visible to every
//! thread that sees the new head.

pub mod algo;
pub mod calendar;
pub mod clock;
mod keyed;
pub mod render;
pub mod store;

use crate::compile::{same, DecisionTable, GroupId, Limit, RuleId, RuleSpec, Target, WindowSpec};
use crate::ir::{Algorithm, MethodSet, Overflow, Period};
use algo::{Verdict, WindowReport};
#[cfg(feature = "tsc")]
pub use clock::TscClock;
pub use clock::{Clock, DefaultClock, ManualClock, SystemClock};
pub use keyed::{Key, Keyed, KeyedVerdict, NotKeyed, NotKeyedReason, SharedKeyed};
use smallvec::SmallVec;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
pub use store::{Lookup, MemoryStore, Store};

/// Keys tracked per counter group by default.
pub const DEFAULT_CAPACITY: usize = 1 << 14;

/// A request as the limiter sees it: borrowed strings, no allocation for up
/// to 8 attributes.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    method: &'a str,
    path: &'a str,
    attrs: SmallVec<[(&'a str, &'a str); 8]>,
    /// Numbers: name, value, and how many text attributes came before it
    /// (which orders the two lists, for "a later value wins").
    nums: SmallVec<[(&'a str, u64, u32); 2]>,
    cost: u64,
}

/// A number's decimal text, formatted without allocating: how an attribute
/// given with [`Request::attr_u64`] reads in conditions and limits.
#[derive(Clone, Copy)]
struct Digits {
    buf: [u8; 20],
    start: u8,
}

impl Digits {
    fn new(mut n: u64) -> Digits {
        let mut buf = [b'0'; 20];
        let mut i = 20;
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Digits {
            buf,
            start: i as u8,
        }
    }

    fn as_str(&self) -> &str {
        // ASCII digits only: always UTF-8.
        std::str::from_utf8(&self.buf[usize::from(self.start)..]).unwrap_or("")
    }
}

impl<'a> Request<'a> {
    /// A request with a method and a path (a query string is ignored).
    #[inline]
    pub fn new(method: &'a str, path: &'a str) -> Self {
        Request {
            method,
            path,
            attrs: SmallVec::new(),
            nums: SmallVec::new(),
            cost: 1,
        }
    }

    /// Adds an attribute; a later value for the same name wins.
    #[inline]
    pub fn attr(mut self, name: &'a str, value: &'a str) -> Self {
        self.push(name, value);
        self
    }

    /// Adds an attribute whose value is a number, for keys that are numbers
    /// already (a user or account id): it is the same key as its decimal
    /// text given with [`Request::attr`] (`42` and `"42"` count together),
    /// and reads as that text in conditions and limits, but a key of one
    /// attribute is hashed from the number without formatting or reading
    /// any text. A later value for the same name wins.
    #[inline]
    pub fn attr_u64(mut self, name: &'a str, value: u64) -> Self {
        self.push_u64(name, value);
        self
    }

    /// Sets the cost counted instead of 1. A cost of 0 is admitted without
    /// counting (unless a penalty is running).
    #[inline]
    pub fn cost(mut self, cost: u64) -> Self {
        self.cost = cost;
        self
    }

    /// [`Request::attr`] in place: adds an attribute to a request held in a
    /// variable. The by-value builder moves the whole `Request` (about 360
    /// bytes) on every call, which the compiler does not always elide; a
    /// hot loop that builds several attributes per request saves those
    /// copies with this form:
    ///
    /// ```
    /// # use rlc::Request;
    /// let (ip, key) = ("10.0.0.1", "k1");
    /// let mut req = Request::new("GET", "/tokens");
    /// req.push("ip", ip).push("key", key).push_u64("user", 42);
    /// assert_eq!(req.attrs(), &[("ip", "10.0.0.1"), ("key", "k1")][..]);
    /// assert_eq!(req.nums(), vec![("user", 42)]);
    /// ```
    #[inline]
    pub fn push(&mut self, name: &'a str, value: &'a str) -> &mut Self {
        self.attrs.push((name, value));
        self
    }

    /// [`Request::attr_u64`] in place (see [`Request::push`]).
    #[inline]
    pub fn push_u64(&mut self, name: &'a str, value: u64) -> &mut Self {
        let pos = u32::try_from(self.attrs.len()).unwrap_or(u32::MAX);
        self.nums.push((name, value, pos));
        self
    }

    /// The method.
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The path.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The attributes given as text ([`Request::attr`]), in order (a name
    /// given again later, as text or number, replaces these).
    pub fn attrs(&self) -> &[(&'a str, &'a str)] {
        &self.attrs
    }

    /// The attributes given as numbers ([`Request::attr_u64`]) and not
    /// replaced by text given later, in order.
    pub fn nums(&self) -> Vec<(&'a str, u64)> {
        self.nums
            .iter()
            .filter(|&&(k, _, pos)| {
                !self
                    .attrs
                    .get(pos as usize..)
                    .is_some_and(|later| later.iter().any(|(n, _)| *n == k))
            })
            .map(|&(k, v, _)| (k, v))
            .collect()
    }

    /// The cost.
    pub fn get_cost(&self) -> u64 {
        self.cost
    }
}

/// Why a request was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A window was full.
    Limit,
    /// A `block` penalty is running (or was just started).
    Blocked,
    /// The key store had no room for a new key (`default overflow reject`).
    StoreFull,
    /// Too many requests in flight (`N concurrent`).
    Concurrency,
}

impl Reason {
    /// The reason code used in headers and bodies (`${reason}`).
    pub fn code(self) -> &'static str {
        match self {
            Reason::Limit => "rate_limited",
            Reason::Blocked => "blocked",
            Reason::StoreFull => "store_full",
            Reason::Concurrency => "too_many_in_flight",
        }
    }
}

/// What the rules in `shadow` mode would have decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shadow {
    /// False when a shadow rule would have rejected the request.
    pub allowed: bool,
    /// The shadow rule that would have rejected it (the one freeing last),
    /// or the applicable shadow rule with the least remaining capacity.
    pub rule: Option<RuleId>,
    /// Its retry-after, when it would have rejected.
    pub retry_after_ns: Option<u64>,
    /// Why it would have rejected.
    pub reason: Option<Reason>,
    /// Figures of its windows.
    pub windows: SmallVec<[WindowReport; 4]>,
    /// The reported window.
    pub window: usize,
}

/// One window a decision charged, kept so that the charge can be settled
/// (`Limiter::settle`) or, for concurrency limits, released.
#[derive(Clone, Copy)]
struct Charge<'t> {
    word: &'t AtomicU64,
    window: &'t WindowSpec,
    cost: u64,
    /// The state written (for sliding windows: the granule charged).
    new: u64,
    /// Whether `Limiter::settle` applies to it (the rule counts the
    /// request's cost, not an attribute).
    settles: bool,
    /// The rule's time-zone offset at the decision, ns.
    shift: i64,
}

/// The verdict on one request.
///
/// An admitted decision that holds concurrency slots (`N concurrent`) is the
/// permit: the slots are released when it is dropped, also when the caller
/// unwinds from a panic.
pub struct Decision<'t> {
    table: &'t DecisionTable,
    allowed: bool,
    status: u16,
    rule: Option<RuleId>,
    reason: Option<Reason>,
    retry_after_ns: Option<u64>,
    now: u64,
    figures: Figures<'t>,
}

/// What a decision reports of its windows, and the words it charged.
// Not boxed: the evaluator allocates nothing per decision (tests/alloc.rs).
#[allow(clippy::large_enum_variant)]
enum Figures<'t> {
    /// The one bucket or fixed window of a one-window decision: its figures
    /// are computed when first asked, into the cell, so that a request
    /// whose headers are never rendered does not pay for them (and the
    /// decision is built and dropped with a few words).
    Lazy(LazyWindow<'t>, std::sync::OnceLock<WindowReport>),
    /// The figures of a rejection by a rule of one window that was not
    /// judged at the decision (a running `block` penalty, or the general
    /// path), computed when first asked: most rejected requests are
    /// answered without them. The window, its limit, its reset (the retry)
    /// and its remaining (0) are the decision's whenever they are read;
    /// `used` is read from the state then, at the decision's `now`. (A rule
    /// of several windows reports its rejection eagerly: which window is
    /// reported depends on the state.)
    Rejected(
        LazyReject<'t>,
        std::sync::OnceLock<(usize, SmallVec<[WindowReport; 4]>)>,
    ),
    /// Figures computed at the decision.
    Eager(Eager<'t>),
}

struct Eager<'t> {
    /// The reported window, an index into `windows`.
    window: usize,
    windows: SmallVec<[WindowReport; 4]>,
    /// Out of line: most decisions have none.
    shadow: Option<Box<Shadow>>,
    charges: SmallVec<[Charge<'t>; 6]>,
    /// True when `charges` hold concurrency slots (so that dropping an
    /// ordinary decision costs one test).
    holds: bool,
}

impl<'t> Eager<'t> {
    /// Figures that charge nothing `settle` or a drop would touch.
    #[inline(always)]
    fn reported(window: usize, windows: SmallVec<[WindowReport; 4]>) -> Self {
        Eager {
            window,
            windows,
            shadow: None,
            charges: SmallVec::new(),
            holds: false,
        }
    }
}

impl<'t> Figures<'t> {
    #[inline(always)]
    fn lazy(l: LazyWindow<'t>) -> Self {
        Figures::Lazy(l, std::sync::OnceLock::new())
    }
}

/// What a bucket or fixed window's figures are computed from: the state
/// word that was judged, and how.
#[derive(Clone, Copy)]
struct LazyWindow<'t> {
    window: &'t WindowSpec,
    words: &'t [AtomicU64],
    /// The state word judged (the one replaced, when admitted).
    old: u64,
    cost: u64,
    limit: u64,
    /// `Some(retry)` when the request was rejected.
    rejected: Option<Option<u64>>,
}

impl LazyWindow<'_> {
    /// The figures the eager path reports: the judgement's own, and for a
    /// rejection nothing remaining until at least the retry time.
    fn report(&self, now: u64) -> WindowReport {
        let mut r = judge_word(
            self.window,
            self.old,
            self.words,
            now,
            self.cost,
            self.limit,
        )
        .1;
        if let Some(retry) = self.rejected {
            r.as_rejected(now, retry);
        }
        r
    }
}

/// What a rejection's figures are computed from (see [`Figures::Rejected`]).
struct LazyReject<'t> {
    windows: &'t [WindowSpec],
    words: &'t [AtomicU64],
    /// The cost the windows are judged at (a `counting` rule's: 1).
    cost: u64,
    /// The rule's time-zone offset at the decision, ns.
    shift: i64,
    /// Each window's limit at the decision (limits may read attributes).
    limits: SmallVec<[u64; 4]>,
    retry: Option<u64>,
    /// A running `block` penalty: the first window is reported.
    blocked: bool,
}

impl LazyReject<'_> {
    /// Every window's figures and the reported window: the one that frees
    /// last (or the first, under a penalty), as rejected. Lazily (see
    /// [`Figures::Rejected`]) for a rule of one window; at once for more.
    fn report(&self, now: u64) -> (usize, SmallVec<[WindowReport; 4]>) {
        let local = shifted(now, self.shift);
        let mut windows: SmallVec<[WindowReport; 4]> = SmallVec::new();
        let mut window = 0;
        let mut latest: Option<Option<u64>> = None;
        for (wi, (w, &limit)) in self.windows.iter().zip(&self.limits).enumerate() {
            // A rejecting judgement's figures are those of a cost of 0 (see
            // `algo`): one judgement serves both, unless the window admits.
            let (judged, mut r) = judge(w, self.words, local, self.cost, limit);
            if !matches!(judged, Judged::Reject(_)) {
                r = report(w, self.words, local, limit);
            }
            r.reset_ns = shifted(r.reset_ns, -self.shift);
            if let Judged::Reject(x) = judged {
                let later = match latest {
                    None => true,
                    Some(None) => false,
                    Some(Some(p)) => x.is_none_or(|x| x > p),
                };
                if later {
                    latest = Some(x);
                    window = wi;
                }
            }
            windows.push(r);
        }
        if self.blocked {
            window = 0;
        }
        if let Some(w) = windows.get_mut(window) {
            w.as_rejected(now, self.retry);
        }
        (window, windows)
    }
}

impl std::fmt::Debug for Decision<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decision")
            .field("allowed", &self.allowed)
            .field("status", &self.status)
            .field("rule", &self.rule())
            .field("reason", &self.reason)
            .field("retry_after_ns", &self.retry_after_ns)
            .field("windows", &self.windows())
            .field("shadow", &self.shadow())
            .finish()
    }
}

impl Drop for Decision<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Figures::Eager(Eager { holds: true, .. }) = self.figures {
            self.release();
        }
    }
}

impl<'t> Decision<'t> {
    /// True when the request may proceed.
    pub fn allowed(&self) -> bool {
        self.allowed
    }

    /// 200 when allowed, else the rejection status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Time before the same request alone would be admitted. `None` when
    /// allowed, and when rejected with no wait that helps (cost above the
    /// limit, a full store, or a concurrency limit, which frees when a
    /// request finishes rather than at a known time).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after_ns.map(std::time::Duration::from_nanos)
    }

    /// Same as [`Decision::retry_after`], in nanoseconds.
    pub fn retry_after_ns(&self) -> Option<u64> {
        self.retry_after_ns
    }

    /// The reported rule's id: on a rejection the one that frees last; on an
    /// admission the applicable one with the least remaining capacity.
    pub fn rule(&self) -> Option<&'t str> {
        self.rule_spec().map(|r| r.id.as_str())
    }

    /// The reported rule.
    pub fn rule_spec(&self) -> Option<&'t RuleSpec> {
        self.rule.and_then(|r| self.table.rules.get(r.0 as usize))
    }

    /// Why it was rejected.
    pub fn reason(&self) -> Option<Reason> {
        self.reason
    }

    /// The time of the decision (ns since the epoch).
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Figures of every window of the reported rule.
    pub fn windows(&self) -> &[WindowReport] {
        match &self.figures {
            Figures::Lazy(l, cell) => std::slice::from_ref(cell.get_or_init(|| l.report(self.now))),
            Figures::Rejected(l, cell) => &cell.get_or_init(|| l.report(self.now)).1,
            Figures::Eager(e) => &e.windows,
        }
    }

    /// Index of the reported window in [`Decision::windows`].
    pub fn window_index(&self) -> usize {
        match &self.figures {
            Figures::Lazy(..) => 0,
            Figures::Rejected(l, cell) => cell.get_or_init(|| l.report(self.now)).0,
            Figures::Eager(e) => e.window,
        }
    }

    /// The table it was decided on.
    pub fn table(&self) -> &'t DecisionTable {
        self.table
    }

    /// What rules in `shadow` mode would have decided; `None` when no shadow
    /// rule applies.
    pub fn shadow(&self) -> Option<&Shadow> {
        match &self.figures {
            Figures::Lazy(..) | Figures::Rejected(..) => None,
            Figures::Eager(e) => e.shadow.as_deref(),
        }
    }

    /// The id of a rule.
    pub fn rule_id(&self, r: RuleId) -> Option<&'t str> {
        self.table.rules.get(r.0 as usize).map(|r| r.id.as_str())
    }

    /// The response headers (rendered now, in declaration order).
    pub fn headers(&self) -> Vec<(String, String)> {
        render::headers(self)
    }

    /// The shadow rule's headers, with the policy's `shadow_prefix` before
    /// each name; empty without a prefix or a shadow rule.
    pub fn shadow_headers(&self) -> Vec<(String, String)> {
        render::shadow_headers(self)
    }

    /// The rejection body (rendered now), if the response has one.
    pub fn body(&self) -> Option<String> {
        render::body(self)
    }

    /// Concurrency slots held by this decision.
    pub fn slots_held(&self) -> u64 {
        self.charges()
            .iter()
            .filter(|c| c.window.period == Period::Concurrent)
            .map(|c| c.cost)
            .sum()
    }

    /// Releases the concurrency slots now (dropping the decision does it too).
    pub fn release(&mut self) {
        let Figures::Eager(e) = &mut self.figures else {
            return;
        };
        for c in e.charges.iter_mut() {
            if c.window.period == Period::Concurrent && c.cost > 0 {
                let cost = c.cost;
                let _ = c
                    .word
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                        Some(v.saturating_sub(cost))
                    });
                c.cost = 0;
            }
        }
        e.holds = false;
    }

    /// The words it charged (none for a lazily reported window).
    fn charges(&self) -> &[Charge<'t>] {
        match &self.figures {
            Figures::Lazy(..) | Figures::Rejected(..) => &[],
            Figures::Eager(e) => &e.charges,
        }
    }

    /// Its eager figures, to add a shadow result or charges to (a lazy
    /// rejection's are computed now).
    fn eager_mut(&mut self) -> Option<&mut Eager<'t>> {
        if let Figures::Rejected(l, cell) = &mut self.figures {
            let (window, windows) = match cell.take() {
                Some(x) => x,
                None => l.report(self.now),
            };
            self.figures = Figures::Eager(Eager::reported(window, windows));
        }
        match &mut self.figures {
            Figures::Lazy(..) | Figures::Rejected(..) => None,
            Figures::Eager(e) => Some(e),
        }
    }

    pub(crate) fn reported(&self) -> (Option<RuleId>, &[WindowReport], usize) {
        (self.rule, self.windows(), self.window_index())
    }
}

/// A policy's limiter: shared by reference across threads.
pub struct Limiter<C: Clock = DefaultClock, S: Store = MemoryStore> {
    table: Arc<DecisionTable>,
    store: S,
    clock: C,
    hasher: ahash::RandomState,
    fast: Fast,
}

/// What the fast path needs to know about a table, computed once.
struct Fast {
    /// Per rule: decided by [`Limiter::check_plain`] (see [`plain`]).
    plain: Box<[bool]>,
    /// Request attribute names (not path parameters) and their inputs, by
    /// the name's length (names of 32 bytes or more in the last list).
    names: Box<[Names]>,
    /// Per method bit: the root's `/**` targets, sorted, and whether all
    /// are plain rules.
    root: Box<[(Box<[Target]>, bool)]>,
    /// Per counter group: its key's attribute list, numbered (groups keyed
    /// alike share a number, and a request hashes their key once).
    keyset: Box<[usize]>,
    /// When the policy has only `/**` routes: per method bit, the routed
    /// targets (sorted, as `RouteIndex::lookup_path` yields them) and
    /// whether all are plain rules.
    by_method: Option<Box<[Routed]>>,
}

/// Attribute names of one length, with their inputs.
type Names = Box<[(Box<str>, usize)]>;

/// A touch's rejection: the touch, its retry, why, whether it is a running
/// penalty, and (for a rule of one window, when it was judged) the window's
/// figures from that judgement.
type Rejection = (usize, Option<u64>, Reason, bool, Option<WindowReport>);

/// What a method's requests route to, when that depends on the method alone.
enum Routed {
    /// Exactly one plain rule, with one key group of at most one attribute
    /// and one window: the shape of a single keyed quota.
    One(One),
    /// Plain rules only: [`Limiter::check_plain`].
    Plain(Box<[Target]>),
    /// Anything else: the general path.
    General,
}

#[derive(Clone, Copy, Debug)]
struct One {
    rule: u32,
    group: GroupId,
    /// The key's input, `None` for a rule without a key (one global count).
    attr: Option<usize>,
}

impl One {
    /// Rule `ri` as a single keyed quota, if it has that shape: a plain rule
    /// (see [`plain`]) with no condition, no `cost` attribute, one window
    /// and one key group of at most one attribute.
    fn of(t: &DecisionTable, ri: u32) -> Option<One> {
        let rule = t.rules.get(ri as usize)?;
        if !plain(rule) {
            return None;
        }
        let ([g], [_], None, None) = (
            &rule.groups[..],
            &rule.windows[..],
            &rule.cond,
            rule.cost_attr,
        ) else {
            return None;
        };
        let attrs = &t.groups[g.0 as usize].attrs;
        (attrs.len() <= 1).then(|| One {
            rule: ri,
            group: *g,
            attr: attrs.first().copied(),
        })
    }
}

impl Fast {
    fn new(t: &DecisionTable) -> Fast {
        let plain: Box<[bool]> = t.rules.iter().map(plain).collect();
        // Per method bit: the root's `/**` targets, sorted, and whether all
        // are plain rules.
        let root: Box<[(Box<[Target]>, bool)]> = (0..16)
            .map(|bit| {
                let mut v: Vec<Target> = t
                    .routes
                    .root_rest()
                    .iter()
                    .filter(|(_, m)| m.contains_bits(1 << bit))
                    .map(|(x, _)| *x)
                    .collect();
                v.sort_unstable();
                v.dedup();
                let all_plain = t.inputs.len() <= PLAIN_INPUTS
                    && v.iter().all(|x| match *x {
                        Target::Rule(ri) => plain.get(ri as usize).copied() == Some(true),
                        Target::Counter(_) => false,
                    });
                (v.into_boxed_slice(), all_plain)
            })
            .collect();
        // With only `/**` routes, the root's targets are all the targets.
        let by_method = t.routes.only_catch_all().then(|| {
            root.iter()
                .map(|(v, all_plain)| {
                    if !all_plain {
                        return Routed::General;
                    }
                    if let [Target::Rule(ri)] = v[..] {
                        if let Some(one) = One::of(t, ri) {
                            return Routed::One(one);
                        }
                    }
                    Routed::Plain(v.clone())
                })
                .collect()
        });
        Fast {
            by_method,
            names: {
                let mut by_len: Vec<Vec<(Box<str>, usize)>> = vec![Vec::new(); NAME_LENS + 1];
                for (i, (n, p)) in t.inputs.iter().zip(&t.params).enumerate() {
                    if !p {
                        by_len[n.len().min(NAME_LENS)].push((n.as_str().into(), i));
                    }
                }
                by_len.into_iter().map(Vec::into_boxed_slice).collect()
            },
            root,
            keyset: {
                let mut seen: std::collections::HashMap<&[usize], usize> =
                    std::collections::HashMap::new();
                t.groups
                    .iter()
                    .map(|g| {
                        let n = seen.len();
                        *seen.entry(g.attrs.as_slice()).or_insert(n)
                    })
                    .collect()
            },
            plain,
        }
    }

    /// True when `t` is a plain rule (see [`plain`]).
    #[inline]
    fn plain_target(&self, t: Target) -> bool {
        match t {
            Target::Rule(ri) => self.plain.get(ri as usize).copied() == Some(true),
            Target::Counter(_) => false,
        }
    }

    /// The input index of a request attribute named `name`.
    #[inline]
    fn input(&self, name: &str) -> Option<usize> {
        self.names
            .get(name.len().min(NAME_LENS))?
            .iter()
            .find(|(n, _)| same(n, name))
            .map(|&(_, i)| i)
    }
}

/// Attribute names shorter than this have their own list in [`Fast`].
const NAME_LENS: usize = 32;

impl<C: Clock, S: Store> std::fmt::Debug for Limiter<C, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("policy", &self.table.policy)
            .field("keys", &self.store.len())
            .finish()
    }
}

impl Limiter {
    /// A limiter with an in-memory store of [`DEFAULT_CAPACITY`] keys per
    /// counter group and the [`DefaultClock`] (the processor's counter,
    /// anchored to the wall clock: [`TscClock`]; [`SystemClock`] without
    /// the `tsc` feature).
    pub fn new(policy: crate::Policy) -> Self {
        Limiter::with_clock(policy, DefaultClock::default())
    }
}

impl<C: Clock> Limiter<C, MemoryStore> {
    /// A limiter with the given clock and the default store.
    pub fn with_clock(policy: crate::Policy, clock: C) -> Self {
        Limiter::with_capacity(policy, clock, DEFAULT_CAPACITY)
    }

    /// A limiter tracking at most `capacity` keys per counter group.
    pub fn with_capacity(policy: crate::Policy, clock: C, capacity: usize) -> Self {
        let table = policy.table();
        let store = MemoryStore::new(&table, capacity);
        Limiter {
            fast: Fast::new(&table),
            table,
            store,
            clock,
            hasher: ahash::RandomState::new(),
        }
    }
}

/// The rules and counters one request touches.
struct Collected<'s, 'r> {
    cost: u64,
    values: SmallVec<[Option<&'r str>; 8]>,
    touches: Touches<'s>,
    counters: Counted<'s>,
}

impl<C: Clock, S: Store> Limiter<C, S> {
    /// A limiter over any store.
    pub fn with_store(policy: crate::Policy, clock: C, store: S) -> Self {
        let table = policy.table();
        Limiter {
            fast: Fast::new(&table),
            table,
            store,
            clock,
            hasher: ahash::RandomState::new(),
        }
    }

    /// The compiled table.
    pub fn table(&self) -> &DecisionTable {
        &self.table
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Decides on `req` now, and counts it if admitted.
    pub fn check(&self, req: &Request<'_>) -> Decision<'_> {
        self.check_at(req, self.clock.now())
    }

    /// Decides on `req` at `now` (ns since the Unix epoch).
    pub fn check_at(&self, req: &Request<'_>, now: u64) -> Decision<'_> {
        if let Some(by_method) = &self.fast.by_method {
            let bit = method_bit(req.method).trailing_zeros() as usize;
            match by_method.get(bit) {
                Some(Routed::One(one)) => return self.check_one(req, *one, now),
                Some(Routed::Plain(targets)) => return self.check_plain(req, targets, &[], now),
                _ => {}
            }
        }
        let bits = method_bit(req.method);
        if let Some((root, true)) = self.fast.root.get(bits.trailing_zeros() as usize) {
            // The root's `/**` targets were sorted ahead; the few found
            // below are sorted here and merged in as `check_plain` reads them.
            let mut below: SmallVec<[Target; 16]> = SmallVec::new();
            self.table
                .routes
                .lookup_path_below_root(bits, req.path, &mut below);
            if below.iter().all(|x| self.fast.plain_target(*x)) {
                below.sort_unstable();
                below.dedup();
                return self.check_plain(req, root, &below, now);
            }
        }
        self.check_at_general(req, now)
    }

    /// [`Limiter::check_at`] on the general path alone, without the fast
    /// paths (one rule, plain rules) that decide most requests: the same
    /// decisions by design, for tests that compare the two.
    #[doc(hidden)]
    #[inline(never)]
    pub fn check_at_general(&self, req: &Request<'_>, now: u64) -> Decision<'_> {
        let digits = digits_of(req);
        let collected = self.collect(req, &digits, now);
        match collected {
            Ok(c) => {
                if c.touches.is_empty() {
                    // No rule applies: admit, and count in the named counters.
                    self.count(&c.counters, req.cost, now);
                    return self.admitted(None, SmallVec::new(), 0, now);
                }
                self.decide(&c, now)
            }
            Err((ri, status)) => self.reject_full(ri, status, now),
        }
    }

    /// The common case, when every routed target is a plain rule: the same
    /// decision as `collect` then `decide` (which it shares its rejection
    /// path with), without their intermediate copies, and reporting an
    /// admission from the judgement itself instead of judging again.
    /// `root`: the root's `/**` targets; `below`: those routed below it;
    /// each sorted and without repeats.
    #[inline(never)]
    fn check_plain<'s>(
        &'s self,
        req: &Request<'_>,
        root: &[Target],
        below: &[Target],
        now: u64,
    ) -> Decision<'s> {
        let t = &*self.table;
        let mut buf = [None; PLAIN_INPUTS];
        let values = &mut buf[..t.inputs.len().min(PLAIN_INPUTS)];
        let digits;
        if req.nums.is_empty() {
            // Text attributes only (the common case): read in place.
            for &(k, v) in req.attrs.as_slice() {
                if let Some(x) = self.fast.input(k).and_then(|i| values.get_mut(i)) {
                    *x = Some(v);
                }
            }
        } else {
            digits = digits_of(req);
            for (k, v) in text_attrs(req, &digits) {
                if let Some(x) = self.fast.input(k).and_then(|i| values.get_mut(i)) {
                    *x = Some(v);
                }
            }
        }
        let values = &*values;
        // Key hashes by key attribute list: rules keyed alike hash once.
        let mut hashes: [Option<Option<u64>>; 16] = [None; 16];
        // First every (rule, group, key hash) the request touches; then
        // each key's state is prefetched, in a loop short enough for the
        // processor to have all its misses in flight at once, so that the
        // lookups wait on memory about once, not once per key.
        let mut wanted: SmallVec<[Wanted; 8]> = SmallVec::new();
        for target in (Merged { a: root, b: below }) {
            let Target::Rule(ri) = target else { continue };
            let Some(rule) = t.rules.get(ri as usize) else {
                continue;
            };
            if !rule.cond.as_ref().is_none_or(|c| c.eval(values)) {
                continue;
            }
            let cost = rule_cost(rule, values, req.cost);
            for &g in &rule.groups {
                let ks = self.fast.keyset.get(g.0 as usize).copied();
                let hash = match ks.and_then(|k| hashes.get_mut(k)) {
                    Some(Some(h)) => *h,
                    Some(slot) => *slot.insert(self.key_hash(g, values)),
                    None => self.key_hash(g, values),
                };
                let Some(hash) = hash else {
                    continue;
                };
                wanted.push(Wanted {
                    target,
                    group: g,
                    hash,
                    cost,
                    // Plain rules have no time zone.
                    shift: 0,
                });
            }
        }
        let mut touches = Touches::new();
        // Plain rules count in no named counter: this stays empty.
        let mut counted = Counted::new();
        if let Err((ri, status)) = self.look_up(&wanted, now, &mut touches, &mut counted) {
            return self.reject_full(ri, status, now);
        }
        // Read through a slice from here on: a `SmallVec` checks where its
        // items live on every access.
        let touches = touches.as_slice();
        match touches {
            [] => return self.admitted(None, SmallVec::new(), 0, now),
            [one] if t.rules[one.rule as usize].windows.len() == 1 => {
                return self.decide_one(one, values, now)
            }
            _ => {}
        }
        // Phase 1, as in `decide`, keeping each admitted window's figures.
        let mut steps: SmallVec<[Step; 8]> = SmallVec::new();
        let mut reports: SmallVec<[WindowReport; 8]> = SmallVec::new();
        // Per rejecting touch: its latest-freeing window (or its running
        // penalty, `true`), in touch order.
        let mut rejects: SmallVec<[Rejection; 4]> = SmallVec::new();
        for (ti, touch) in touches.iter().enumerate() {
            let rule = &t.rules[touch.rule as usize];
            if let Some(until) = penalty_until(t, rule, touch) {
                if until > now {
                    rejects.push((ti, Some(until - now), Reason::Blocked, true, None));
                    continue;
                }
            }
            let mut own: Option<(usize, Option<u64>, Reason)> = None;
            let mut judged = None;
            for (wi, w) in rule.windows.iter().enumerate() {
                let limit = match w.limit {
                    Limit::Const(n) => n,
                    _ => self.limit_of(w, values, now),
                };
                let old = current(w, touch.words);
                match judge_word(w, old, touch.words, now, touch.cost, limit) {
                    (Judged::Admit { new, roll }, r) => {
                        steps.push(Step {
                            touch: ti as u32,
                            window: wi as u32,
                            limit,
                            old,
                            new,
                            roll,
                            applied: false,
                        });
                        reports.push(r);
                    }
                    (Judged::Reject(retry), r) => {
                        note_reject(&mut own, ti, retry, reason_of(w));
                        judged = Some(r);
                    }
                }
            }
            if let Some((_, retry, why)) = own {
                let judged = judged.filter(|_| rule.windows.len() == 1);
                rejects.push((ti, retry, why, false, judged));
            }
        }
        let (steps, reports) = (steps.as_mut_slice(), reports.as_mut_slice());
        if !rejects.is_empty() {
            // What `rejected` finds, from this one judgement instead of
            // judging every window again: start the penalty of each `block`
            // rule over its limit, and report the touch that frees last.
            let mut worst: Option<(usize, Option<u64>, Reason)> = None;
            for &(ti, retry, why, running, _) in &rejects {
                let touch = &touches[ti];
                let rule = &t.rules[touch.rule as usize];
                if !running && self.start_penalty(rule, touch, now) {
                    let until = penalty_until(t, rule, touch).unwrap_or(now);
                    let retry = retry.map(|r| r.max(until.saturating_sub(now)));
                    note_reject(&mut worst, ti, retry, Reason::Blocked);
                } else {
                    note_reject(&mut worst, ti, retry, why);
                }
            }
            if let Some((ti, retry, reason)) = worst {
                let judged = rejects.iter().find(|x| x.0 == ti).and_then(|x| x.4);
                return self.reject_report(&touches[ti], retry, reason, values, now, judged);
            }
        }
        // Phase 2, as in `decide`.
        for si in 0..steps.len() {
            let step = steps[si];
            let touch = &touches[step.touch as usize];
            let w = &t.rules[touch.rule as usize].windows[step.window as usize];
            match commit(w, touch, step, now) {
                Ok(new) => {
                    steps[si].applied = true;
                    if new != step.new {
                        // Re-judged after interference: report what stands.
                        steps[si].new = new;
                        reports[si] = touch.report(w, now, step.limit);
                    }
                }
                Err(retry) => {
                    self.refund(touches, &steps[..si], now);
                    let ti = step.touch as usize;
                    return self.rejected(touches, ti, retry, reason_of(w), values, now, false);
                }
            }
        }
        self.admitted_plain(touches, steps, reports, now)
    }

    /// A request whose method routes to [`Routed::One`]: find the key's
    /// value, its state, and decide.
    #[inline]
    fn check_one<'s>(&'s self, req: &Request<'_>, one: One, now: u64) -> Decision<'s> {
        let t = &*self.table;
        // Each group has its own table: its key's hash needs no group id.
        let mut h = self.hasher.build_hasher();
        if let Some(a) = one.attr {
            // A later value for the same name wins.
            let name = t.inputs[a].as_str();
            // The last value given for the name, as text or as a number.
            let text = req.attrs.iter().rposition(|(k, _)| same(k, name));
            let num = req.nums.iter().rev().find(|(k, _, _)| same(k, name));
            match (text, num) {
                (Some(i), Some(&(_, n, pos))) if pos as usize > i => hash_number(&mut h, n),
                (None, Some(&(_, n, _))) => hash_number(&mut h, n),
                (Some(i), _) => hash_value(&mut h, req.attrs[i].1),
                (None, None) => return self.admitted(None, SmallVec::new(), 0, now),
            }
        }
        self.decide_hashed(one, h.finish(), req.cost, now)
    }

    /// [`Limiter::check_one`] once the key is hashed: the key's state, then
    /// the judgement. Shared with [`Keyed`], so that a key decided through a
    /// handle and through [`Limiter::check`] is one key with one state.
    #[inline]
    fn decide_hashed(&self, one: One, hash: u64, cost: u64, now: u64) -> Decision<'_> {
        match self.touch_hashed(one, hash, cost, now) {
            Ok(touch) => self.decide_one(&touch, &[], now),
            Err(None) => self.admitted(None, SmallVec::new(), 0, now),
            Err(Some(status)) => self.reject_full(RuleId(one.rule), status, now),
        }
    }

    /// The touch of a hashed key of a [`One`] rule. `Err(None)`: no state,
    /// the request is admitted unlimited; `Err(Some(status))`: the store is
    /// full and `default overflow` rejects with that status.
    #[inline(always)]
    fn touch_hashed(
        &self,
        one: One,
        hash: u64,
        cost: u64,
        now: u64,
    ) -> Result<Touch<'_>, Option<u16>> {
        let t = &*self.table;
        match self.store.entry(one.group, hash, now, true) {
            Lookup::Found(words) => Ok(Touch {
                rule: one.rule,
                words,
                cost,
                shift: 0,
            }),
            Lookup::Absent => Err(None),
            Lookup::Full => {
                Err((t.overflow == Overflow::Reject).then(|| t.rules[one.rule as usize].status))
            }
        }
    }

    /// [`Limiter::check_plain`] when the request touches one (plain rule,
    /// key) of one window: [`Limiter::judge_one`], as a [`Decision`].
    #[inline]
    fn decide_one<'s>(
        &'s self,
        touch: &Touch<'s>,
        values: &[Option<&str>],
        now: u64,
    ) -> Decision<'s> {
        let t = &*self.table;
        let rule = &t.rules[touch.rule as usize];
        let w = &rule.windows[0];
        let one = std::slice::from_ref(touch);
        let lazy = |old, limit, rejected| LazyWindow {
            window: w,
            words: touch.words,
            old,
            cost: touch.cost,
            limit,
            rejected,
        };
        match self.judge_one(touch, values, now) {
            OneJudged::Blocked(until) => self.rejected(
                one,
                0,
                Some(until - now),
                Reason::Blocked,
                values,
                now,
                false,
            ),
            OneJudged::Admitted {
                old,
                new,
                limit,
                report,
            } => {
                let mut windows = SmallVec::new();
                let mut charges = SmallVec::new();
                // With a lazy window, `settle` finds the charge there
                // (bucket and fixed windows need no `new`).
                if let Some(r) = report {
                    windows.push(r);
                    charges.push(Charge {
                        word: &touch.words[w.word as usize],
                        window: w,
                        cost: touch.cost,
                        new,
                        settles: rule.cost_attr.is_none(),
                        shift: 0,
                    });
                }
                Decision {
                    table: t,
                    allowed: true,
                    status: 200,
                    rule: Some(RuleId(touch.rule)),
                    reason: None,
                    retry_after_ns: None,
                    now,
                    figures: match report {
                        None => Figures::lazy(lazy(old, limit, None)),
                        Some(_) => Figures::Eager(Eager {
                            charges,
                            ..Eager::reported(0, windows)
                        }),
                    },
                }
            }
            OneJudged::Rejected {
                old,
                retry,
                limit,
                report,
            } if rule.block_ns.is_none() => {
                // What `rejected` reports for one window with no penalty to
                // start: this window, as judged, with nothing left.
                let mut windows = SmallVec::new();
                if let Some(mut r) = report {
                    r.as_rejected(now, retry);
                    windows.push(r);
                }
                Decision {
                    table: t,
                    allowed: false,
                    status: rule.status,
                    rule: Some(RuleId(touch.rule)),
                    reason: Some(reason_of(w)),
                    retry_after_ns: retry,
                    now,
                    figures: match report {
                        None => Figures::lazy(lazy(old, limit, Some(retry))),
                        Some(_) => Figures::Eager(Eager::reported(0, windows)),
                    },
                }
            }
            OneJudged::Rejected { retry, .. } => {
                self.rejected(one, 0, retry, reason_of(w), values, now, false)
            }
        }
    }

    /// Judges one (plain rule, key) touch of one window and, when it admits,
    /// writes it: one loop, re-judging when the word changed since it was
    /// read (the same outcome as `decide`'s two phases, which have nothing
    /// to make all-or-nothing here). Shared by [`Limiter::decide_one`] and
    /// [`Keyed`]'s verdicts, which render it differently.
    #[inline(always)]
    fn judge_one(&self, touch: &Touch<'_>, values: &[Option<&str>], now: u64) -> OneJudged {
        let t = &*self.table;
        let rule = &t.rules[touch.rule as usize];
        if let Some(until) = penalty_until(t, rule, touch) {
            if until > now {
                return OneJudged::Blocked(until);
            }
        }
        let w = &rule.windows[0];
        let limit = match w.limit {
            Limit::Const(n) => n,
            _ => self.limit_of(w, values, now),
        };
        let head = &touch.words[w.word as usize];
        let mut old = head.load(Ordering::Acquire);
        loop {
            let (judged, report) = match (w.algorithm, w.period) {
                // Bucket and epoch-aligned fixed windows: the verdict alone,
                // inlined; the figures are computed later, if asked.
                (Algorithm::Bucket, Period::Nanos(_)) => {
                    let v =
                        algo::bucket(old, now, touch.cost, w.emission_ns, w.tolerance_ns, limit);
                    (judged(v.0, None), None)
                }
                (Algorithm::Fixed, Period::Nanos(_)) => {
                    let (k, end) = fixed_window(w.period, w.window_ns, now);
                    let v = algo::fixed(old, now, touch.cost, k, end, w.window_ns, limit, w.stride);
                    (judged(v.0, None), None)
                }
                _ => {
                    let (j, r) = judge_word(w, old, touch.words, now, touch.cost, limit);
                    (j, Some(r))
                }
            };
            match judged {
                Judged::Admit { new, roll } => {
                    if let Some((slot, val)) = roll {
                        touch.words[w.word as usize + 1 + slot].fetch_max(val, Ordering::AcqRel);
                    }
                    match head.compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Acquire)
                    {
                        Ok(_) => {
                            return OneJudged::Admitted {
                                old,
                                new,
                                limit,
                                report,
                            }
                        }
                        Err(actual) => old = actual,
                    }
                }
                Judged::Reject(retry) => {
                    return OneJudged::Rejected {
                        old,
                        retry,
                        limit,
                        report,
                    }
                }
            }
        }
    }

    /// The admission of [`Limiter::check_plain`]: the rule with the least
    /// remaining capacity (the first of equals, as `least_remaining`), built
    /// in place.
    fn admitted_plain<'s>(
        &'s self,
        touches: &[Touch<'s>],
        steps: &[Step],
        reports: &[WindowReport],
        now: u64,
    ) -> Decision<'s> {
        let t = &*self.table;
        let mut best = 0;
        for (i, r) in reports.iter().enumerate() {
            if r.remaining < reports[best].remaining {
                best = i;
            }
        }
        let bt = steps.get(best).map_or(0, |s| s.touch);
        let mut windows: SmallVec<[WindowReport; 4]> = SmallVec::new();
        let mut charges: SmallVec<[Charge<'s>; 6]> = SmallVec::new();
        let mut window = 0;
        let mut least = u64::MAX;
        for (s, r) in steps.iter().zip(reports) {
            let touch = &touches[s.touch as usize];
            let rule = &t.rules[touch.rule as usize];
            let w = &rule.windows[s.window as usize];
            if s.touch == bt {
                if r.remaining < least {
                    least = r.remaining;
                    window = windows.len();
                }
                windows.push(*r);
            }
            charges.push(Charge {
                word: &touch.words[w.word as usize],
                window: w,
                cost: touch.cost,
                new: s.new,
                settles: rule.cost_attr.is_none(),
                shift: touch.shift,
            });
        }
        Decision {
            table: &self.table,
            allowed: true,
            status: 200,
            rule: touches.get(bt as usize).map(|x| RuleId(x.rule)),
            reason: None,
            retry_after_ns: None,
            now,
            // Plain rules have no concurrency limits: nothing is held.
            figures: Figures::Eager(Eager {
                charges,
                ..Eager::reported(window, windows)
            }),
        }
    }

    /// Reports the status of the response to `req` (at `now`): rules with
    /// `counting STATUS|...` count it when the status is one of theirs, and
    /// start their `block` penalty when that goes over their limit.
    pub fn report_response_at(&self, req: &Request<'_>, status: u16, now: u64) {
        let digits = digits_of(req);
        let Ok(c) = self.collect(req, &digits, now) else {
            return;
        };
        let t = &*self.table;
        for touch in &c.touches {
            let rule = &t.rules[touch.rule as usize];
            if !rule.counting.contains(&status) {
                continue;
            }
            // The report that fills a window (or finds it full) starts the
            // rule's penalty: `10/15m block 1h counting 401` locks at the
            // tenth failure.
            let mut over = false;
            for w in &rule.windows {
                let limit = self.limit_of(w, &c.values, now);
                loop {
                    let old = current(w, touch.words);
                    // One response counts one, whatever the request cost.
                    match judge_word(w, old, touch.words, touch.local(now), 1, limit).0 {
                        Judged::Admit { new, roll } => {
                            if let Some((slot, val)) = roll {
                                touch.words[w.word as usize + 1 + slot]
                                    .fetch_max(val, Ordering::AcqRel);
                            }
                            if touch.words[w.word as usize]
                                .compare_exchange_weak(
                                    old,
                                    new,
                                    Ordering::AcqRel,
                                    Ordering::Acquire,
                                )
                                .is_ok()
                            {
                                if touch.report(w, now, limit).remaining == 0 {
                                    over = true;
                                }
                                break;
                            }
                        }
                        Judged::Reject(_) => {
                            over = true;
                            break;
                        }
                    }
                }
            }
            if over {
                self.start_penalty(rule, touch, now);
            }
        }
    }

    /// [`Limiter::report_response_at`] at the clock's time.
    pub fn report_response(&self, req: &Request<'_>, status: u16) {
        self.report_response_at(req, status, self.clock.now());
    }

    /// Settles an admitted decision with the request's actual cost: every
    /// window it charged is refunded or charged the difference. Windows that
    /// have moved on since are left as they are (a refund there is lost,
    /// which errs on the side of rejecting). A bucket hands back at most
    /// what of the request's emission is still ahead of the clock: the part
    /// that drained was room for later requests already. (When other
    /// requests of the same key were refunded in between, this request's
    /// emission moved earlier than the decision remembers, and part of a
    /// refund can still be room that was used; the cap bounds it.) Settling
    /// twice applies the second difference too: the decision remembers what
    /// it charged and what was handed back. Slots released already are not
    /// taken again.
    pub fn settle(&self, d: &mut Decision<'_>, actual_cost: u64) {
        self.settle_at(d, actual_cost, self.clock.now());
    }

    /// [`Limiter::settle`] at `now` (ns since the epoch), for callers that
    /// decide with [`Limiter::check_at`] on their own times: a bucket's
    /// refund is measured against the later of `now` and the decision's
    /// time.
    pub fn settle_at(&self, d: &mut Decision<'_>, actual_cost: u64, now: u64) {
        let settled_at = now;
        if !d.allowed {
            return;
        }
        let now = d.now;
        if let Figures::Lazy(l, cell) = &d.figures {
            // The one window of a lazily reported admission: its figures
            // and its charge become eager, for this and later settles.
            let l = *l;
            let report = *cell.get_or_init(|| l.report(now));
            let mut charges = SmallVec::new();
            if l.rejected.is_none() {
                let settles = d.rule_spec().is_some_and(|r| r.cost_attr.is_none());
                if let Some(word) = l.words.get(l.window.word as usize) {
                    // A bucket's charge remembers the time it pushed the
                    // bucket to (what the judgement wrote).
                    let w = l.window;
                    let new = match (w.algorithm, w.period) {
                        (Algorithm::Bucket, Period::Nanos(_)) => {
                            match algo::bucket(
                                l.old,
                                now,
                                l.cost,
                                w.emission_ns,
                                w.tolerance_ns,
                                l.limit,
                            )
                            .0
                            {
                                Verdict::Admit(new) => new,
                                _ => 0,
                            }
                        }
                        _ => 0,
                    };
                    charges.push(Charge {
                        word,
                        window: l.window,
                        cost: l.cost,
                        new,
                        settles,
                        shift: 0,
                    });
                }
            }
            d.figures = Figures::Eager(Eager {
                charges,
                ..Eager::reported(0, smallvec::smallvec![report])
            });
        }
        let Figures::Eager(e) = &mut d.figures else {
            return;
        };
        // Slots released already (`Decision::release`) are not this
        // decision's to adjust any more.
        let holds = e.holds;
        // A bucket hands back only what of this request's emission is still
        // ahead of the present: the part already drained has been available
        // to later requests, and refunding it would admit them twice.
        let present = settled_at.max(now);
        for c in e
            .charges
            .iter_mut()
            .filter(|c| c.settles && (holds || c.window.period != Period::Concurrent))
        {
            let w = c.window;
            let (more, delta) = if actual_cost >= c.cost {
                (true, actual_cost - c.cost)
            } else {
                (false, c.cost - actual_cost)
            };
            if delta == 0 {
                continue;
            }
            let charged = c.new;
            let shift = c.shift;
            let bucket_ns = if more {
                delta.saturating_mul(w.emission_ns)
            } else {
                delta
                    .saturating_mul(w.emission_ns)
                    .min(charged.saturating_sub(present))
            };
            // What stays charged: for a bucket whose refund was capped, the
            // cost less the units handed back (rounded up, so that a later
            // settle errs on the side of rejecting).
            let mut now_charged = actual_cost;
            if w.algorithm == Algorithm::Bucket && w.period != Period::Concurrent {
                c.new = if more {
                    charged.saturating_add(bucket_ns)
                } else {
                    let units = bucket_ns.div_ceil(w.emission_ns.max(1)).min(delta);
                    now_charged = c.cost - units;
                    charged.saturating_sub(bucket_ns)
                };
            }
            let _ = c
                .word
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| match w.period {
                    Period::Concurrent => Some(if more {
                        v.saturating_add(delta)
                    } else {
                        v.saturating_sub(delta)
                    }),
                    _ => match w.algorithm {
                        Algorithm::Bucket => {
                            if bucket_ns == 0 {
                                return None;
                            }
                            Some(if more {
                                v.saturating_add(bucket_ns)
                            } else {
                                v.saturating_sub(bucket_ns)
                            })
                        }
                        Algorithm::Fixed => {
                            let (k, _) = fixed_window(w.period, w.window_ns, shifted(now, shift));
                            let base = k.saturating_mul(w.stride);
                            if v < base || v > base.saturating_add(w.stride) {
                                return None;
                            }
                            Some(if more {
                                v.saturating_add(delta).min(base.saturating_add(w.stride))
                            } else {
                                v.saturating_sub(delta).max(base)
                            })
                        }
                        Algorithm::Sliding => {
                            let (ik, ic) = algo::unpack(v);
                            let (ck, _) = algo::unpack(charged);
                            if more && ik >= ck {
                                Some(algo::pack(
                                    ik,
                                    (ic + delta).min((1 << algo::COUNT_BITS) - 1),
                                ))
                            } else if !more && ik == ck {
                                Some(algo::pack(ik, ic.saturating_sub(delta)))
                            } else {
                                None
                            }
                        }
                    },
                });
            c.cost = now_charged;
        }
    }

    /// Finds the rules and counters a request touches, creating key state.
    /// `Err` when a key store is full and the policy rejects then.
    fn collect<'s, 'r>(
        &'s self,
        req: &'r Request<'_>,
        digits: &'r [Digits],
        now: u64,
    ) -> Result<Collected<'s, 'r>, (RuleId, u16)> {
        let t = &*self.table;
        let mut values: SmallVec<[Option<&'r str>; 8]> = SmallVec::from_elem(None, t.inputs.len());
        for (k, v) in text_attrs(req, digits) {
            if let Some(i) = self.fast.input(k) {
                values[i] = Some(v);
            }
        }
        let mut targets: SmallVec<[Target; 16]> = SmallVec::new();
        let path: &'r str = req.path.split(['?', '#']).next().unwrap_or("");
        let segments: SmallVec<[&'r str; 16]> = path.split('/').filter(|s| !s.is_empty()).collect();
        let bits = MethodSet::bit(req.method).unwrap_or(1 << 15);
        t.routes.lookup(bits, &segments, &mut targets);

        // As in `check_plain`: first every key the request touches (a rule's
        // `{param}` values and conditions may depend on the rules before
        // it, so in route order), then their state prefetched together,
        // then looked up in the same order.
        let mut wanted: SmallVec<[Wanted; 8]> = SmallVec::new();
        for target in &targets {
            match *target {
                Target::Rule(ri) => {
                    let Some(rule) = t.rules.get(ri as usize) else {
                        continue;
                    };
                    if !rule.cond.as_ref().is_none_or(|c| c.eval(&values)) {
                        continue;
                    }
                    // Take `{param}` key values from the pattern that matched.
                    if !rule.fill_params(&segments, &mut values) {
                        continue;
                    }
                    let shift = rule.tz.as_ref().map_or(0, |tz| tz.offset_ns(&values, now));
                    let cost = rule_cost(rule, values.as_ref(), req.cost);
                    for &g in &rule.groups {
                        if let Some(hash) = self.key_hash(g, &values) {
                            wanted.push(Wanted {
                                target: *target,
                                group: g,
                                hash,
                                cost,
                                shift,
                            });
                        }
                    }
                }
                Target::Counter(ci) => {
                    let Some(c) = t.counters.get(ci as usize) else {
                        continue;
                    };
                    if !c.cond.as_ref().is_none_or(|x| x.eval(&values)) {
                        continue;
                    }
                    if let Some(hash) = self.key_hash(c.group, &values) {
                        wanted.push(Wanted {
                            target: *target,
                            group: c.group,
                            hash,
                            cost: 0,
                            shift: 0,
                        });
                    }
                }
            }
        }
        let mut touches = Touches::new();
        let mut counters = Counted::new();
        self.look_up(&wanted, now, &mut touches, &mut counters)?;
        Ok(Collected {
            cost: req.cost,
            values,
            touches,
            counters,
        })
    }

    /// The state of every key in `wanted`, in order, into `touches` (rules)
    /// and `counters` (named counters): first each is prefetched, in a loop
    /// short enough for the processor to have all the misses in flight at
    /// once, then each is looked up (created if new). `Err` with the rule and
    /// its status when the store has no room for an enforced rule's key and
    /// `default overflow` rejects. The lists are filled in place: returning
    /// them cost 80-300 more instructions per request of basis-theory.rl
    /// (callgrind, inlined or not).
    #[inline(always)]
    fn look_up<'s>(
        &'s self,
        wanted: &[Wanted],
        now: u64,
        touches: &mut Touches<'s>,
        counters: &mut Counted<'s>,
    ) -> Result<(), (RuleId, u16)> {
        let t = &*self.table;
        for w in wanted {
            self.store.prefetch(w.group, w.hash);
        }
        for w in wanted {
            match (w.target, self.store.entry(w.group, w.hash, now, true)) {
                (Target::Rule(ri), Lookup::Found(words)) => touches.push(Touch {
                    rule: ri,
                    words,
                    cost: w.cost,
                    shift: w.shift,
                }),
                (Target::Rule(ri), Lookup::Full) => {
                    let rule = &t.rules[ri as usize];
                    if t.overflow == Overflow::Reject && !rule.shadow {
                        return Err((RuleId(ri), rule.status));
                    }
                }
                (Target::Counter(ci), Lookup::Found(words)) => counters.push((words, ci as usize)),
                (_, Lookup::Absent | Lookup::Full) => {}
            }
        }
        Ok(())
    }

    /// The hash of a group's key values, `None` when one is absent.
    fn key_hash(&self, g: GroupId, values: &[Option<&str>]) -> Option<u64> {
        let spec = self.table.groups.get(g.0 as usize)?;
        let mut h = self.hasher.build_hasher();
        for &a in &spec.attrs {
            hash_value(&mut h, values.get(a).copied().flatten()?);
        }
        Some(h.finish())
    }

    fn decide<'s>(&'s self, c: &Collected<'s, '_>, now: u64) -> Decision<'s> {
        let t = &*self.table;
        let touches = &c.touches;
        let values = &c.values[..];
        // Phase 1: judge every enforced window on a snapshot.
        let mut steps: SmallVec<[Step; 16]> = SmallVec::new();
        let mut worst: Option<(usize, Option<u64>, Reason)> = None;
        for (ti, touch) in touches.iter().enumerate() {
            let rule = &t.rules[touch.rule as usize];
            if rule.shadow {
                continue;
            }
            if let Some(until) = penalty_until(t, rule, touch) {
                if until > now {
                    note_reject(&mut worst, ti, Some(until - now), Reason::Blocked);
                    continue;
                }
            }
            // A `counting` rule counts responses, not requests: here it only
            // refuses while it has no room for one more.
            let counting = !rule.counting.is_empty();
            for (wi, w) in rule.windows.iter().enumerate() {
                let limit = self.limit_of(w, values, now);
                // The CAS below must expect the very value judged here.
                let old = current(w, touch.words);
                let cost = if counting { 1 } else { touch.cost };
                match judge_word(w, old, touch.words, touch.local(now), cost, limit).0 {
                    Judged::Admit { new, roll } if !counting => steps.push(Step {
                        touch: ti as u32,
                        window: wi as u32,
                        limit,
                        old,
                        new,
                        roll,
                        applied: false,
                    }),
                    Judged::Admit { .. } => {}
                    Judged::Reject(retry) => note_reject(&mut worst, ti, retry, reason_of(w)),
                }
            }
        }
        if let Some((ti, retry, reason)) = worst {
            let d = self.rejected(touches, ti, retry, reason, values, now, false);
            return self.with_shadow(d, touches, values, now);
        }
        // Phase 2: write each window; re-judge on interference; refund on a
        // late rejection.
        for si in 0..steps.len() {
            let step = steps[si];
            let touch = &touches[step.touch as usize];
            let w = &t.rules[touch.rule as usize].windows[step.window as usize];
            match commit(w, touch, step, now) {
                Ok(new) => {
                    steps[si].applied = true;
                    steps[si].new = new;
                }
                Err(retry) => {
                    self.refund(touches, &steps[..si], now);
                    let d = self.rejected(
                        touches,
                        step.touch as usize,
                        retry,
                        reason_of(w),
                        values,
                        now,
                        false,
                    );
                    return self.with_shadow(d, touches, values, now);
                }
            }
        }
        self.count(&c.counters, c.cost, now);
        let (rule, windows, window) = self.least_remaining(touches, values, now, false);
        let mut charges: SmallVec<[Charge<'_>; 6]> = SmallVec::new();
        for s in &steps {
            let touch = &touches[s.touch as usize];
            let rule = &t.rules[touch.rule as usize];
            let w = &rule.windows[s.window as usize];
            charges.push(Charge {
                word: &touch.words[w.word as usize],
                window: w,
                cost: touch.cost,
                new: s.new,
                settles: rule.cost_attr.is_none(),
                shift: touch.shift,
            });
        }
        // Shadow rules count as if enforced: their concurrency slots are
        // held by this decision too, and freed with it.
        let shadow = self
            .shadow(touches, values, now, true, &mut charges)
            .map(Box::new);
        let holds = charges
            .iter()
            .any(|c| c.window.period == Period::Concurrent);
        let mut d = self.admitted(rule, windows, window, now);
        if let Some(e) = d.eager_mut() {
            (e.charges, e.shadow, e.holds) = (charges, shadow, holds);
        }
        d
    }

    /// A rejection with the shadow rules' verdict on it (nothing is
    /// counted in them).
    fn with_shadow<'s>(
        &'s self,
        mut d: Decision<'s>,
        touches: &[Touch<'s>],
        values: &[Option<&str>],
        now: u64,
    ) -> Decision<'s> {
        let shadow = self
            .shadow(touches, values, now, false, &mut SmallVec::new())
            .map(Box::new);
        if let Some(e) = d.eager_mut() {
            e.shadow = shadow;
        }
        d
    }

    /// Decides the shadow rules; counts in them only when `commit` (the
    /// request was admitted) and the shadow rule itself admits it. The
    /// concurrency slots it takes go to `held`, for the decision to free.
    fn shadow<'s>(
        &'s self,
        touches: &[Touch<'s>],
        values: &[Option<&str>],
        now: u64,
        commit_ok: bool,
        held: &mut SmallVec<[Charge<'s>; 6]>,
    ) -> Option<Shadow> {
        let t = &*self.table;
        let mut any = false;
        let mut worst: Option<(usize, Option<u64>, Reason)> = None;
        for (ti, touch) in touches.iter().enumerate() {
            let rule = &t.rules[touch.rule as usize];
            if !rule.shadow {
                continue;
            }
            any = true;
            if let Some(until) = penalty_until(t, rule, touch) {
                if until > now {
                    note_reject(&mut worst, ti, Some(until - now), Reason::Blocked);
                    continue;
                }
            }
            let mut plan: SmallVec<[Step; 4]> = SmallVec::new();
            let mut own: Option<(usize, Option<u64>, Reason)> = None;
            for (wi, w) in rule.windows.iter().enumerate() {
                let limit = self.limit_of(w, values, now);
                let old = current(w, touch.words);
                match judge_word(w, old, touch.words, touch.local(now), touch.cost, limit).0 {
                    Judged::Admit { new, roll } => plan.push(Step {
                        touch: ti as u32,
                        window: wi as u32,
                        limit,
                        old,
                        new,
                        roll,
                        applied: false,
                    }),
                    Judged::Reject(r) => note_reject(&mut own, ti, r, reason_of(w)),
                }
            }
            if let Some((_, r, reason)) = own {
                let blocked = rule.block_ns.is_some() && self.start_penalty(rule, touch, now);
                let r = if blocked {
                    r.map(|r| r.max(rule.block_ns.unwrap_or(0)))
                } else {
                    r
                };
                note_reject(
                    &mut worst,
                    ti,
                    r,
                    if blocked { Reason::Blocked } else { reason },
                );
            } else if commit_ok && rule.counting.is_empty() {
                for step in plan {
                    let w = &rule.windows[step.window as usize];
                    if let (Ok(new), Period::Concurrent) = (commit(w, touch, step, now), w.period) {
                        if let Some(word) = touch.words.get(w.word as usize) {
                            held.push(Charge {
                                word,
                                window: w,
                                cost: touch.cost,
                                new,
                                // `settle` adjusts what is enforced.
                                settles: false,
                                shift: touch.shift,
                            });
                        }
                    }
                }
            }
        }
        if !any {
            return None;
        }
        if let Some((ti, retry, reason)) = worst {
            let d = self.rejected(touches, ti, retry, reason, values, now, true);
            let (rule, windows, window) = d.reported();
            return Some(Shadow {
                allowed: false,
                rule,
                retry_after_ns: retry,
                reason: Some(reason),
                windows: windows.iter().copied().collect(),
                window,
            });
        }
        let (rule, windows, window) = self.least_remaining(touches, values, now, true);
        Some(Shadow {
            allowed: true,
            rule,
            retry_after_ns: None,
            reason: None,
            windows,
            window,
        })
    }

    /// The applicable (shadow or enforced) rule with the least remaining
    /// capacity, and its windows.
    fn least_remaining(
        &self,
        touches: &[Touch<'_>],
        values: &[Option<&str>],
        now: u64,
        shadow: bool,
    ) -> (Option<RuleId>, SmallVec<[WindowReport; 4]>, usize) {
        let t = &*self.table;
        let mut best: Option<(u64, usize)> = None;
        for (ti, touch) in touches.iter().enumerate() {
            let rule = &t.rules[touch.rule as usize];
            if rule.shadow != shadow {
                continue;
            }
            for w in &rule.windows {
                let r = touch.report(w, now, self.limit_of(w, values, now));
                if best.is_none_or(|(rem, _)| r.remaining < rem) {
                    best = Some((r.remaining, ti));
                }
            }
        }
        let Some((_, ti)) = best else {
            return (None, SmallVec::new(), 0);
        };
        let touch = &touches[ti];
        let rule = &t.rules[touch.rule as usize];
        let mut windows = SmallVec::new();
        let mut window = 0;
        let mut least = u64::MAX;
        for (wi, w) in rule.windows.iter().enumerate() {
            let r = touch.report(w, now, self.limit_of(w, values, now));
            if r.remaining < least {
                least = r.remaining;
                window = wi;
            }
            windows.push(r);
        }
        (Some(RuleId(touch.rule)), windows, window)
    }

    /// The limit of a window for this request: a constant, or the least of
    /// its bound and its terms (counters read now, numeric attributes; an
    /// absent or non-numeric attribute counts as 0).
    fn limit_of(&self, w: &WindowSpec, values: &[Option<&str>], now: u64) -> u64 {
        match &w.limit {
            Limit::Const(n) => *n,
            Limit::Min { terms, cap } => {
                let mut n = *cap;
                for term in terms {
                    let mut x = term.factor;
                    for &a in &term.attrs {
                        let v = values
                            .get(a)
                            .copied()
                            .flatten()
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .unwrap_or(0);
                        x = x.saturating_mul(v);
                    }
                    for &ci in &term.counters {
                        x = x.saturating_mul(self.counter_now(ci, values, now));
                    }
                    n = n.min(x);
                }
                n
            }
        }
    }

    /// A named counter's value for this request's key, now.
    fn counter_now(&self, ci: usize, values: &[Option<&str>], now: u64) -> u64 {
        let Some(c) = self.table.counters.get(ci) else {
            return 0;
        };
        match self.key_hash(c.group, values) {
            Some(h) => match self.store.entry(c.group, h, now, false) {
                Lookup::Found(words) => counter_value(
                    c.period,
                    c.window_ns,
                    c.stride,
                    words[0].load(Ordering::Acquire),
                    now,
                ),
                _ => 0,
            },
            None => 0,
        }
    }

    /// Adds `cost` to every matched named counter.
    fn count(&self, counters: &[(&[AtomicU64], usize)], cost: u64, now: u64) {
        for &(words, ci) in counters {
            let Some(c) = self.table.counters.get(ci) else {
                continue;
            };
            let (k, _) = fixed_window(c.period, c.window_ns, now);
            let base = k.saturating_mul(c.stride);
            // Window k's count lives in [k*stride, (k+1)*stride]: a bigger
            // cost is capped there, or it would spill into window k+1 (a
            // value already past it, from a clock that went back, stays).
            let top = base.saturating_add(c.stride);
            let _ = words[0].fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.max(base).saturating_add(cost).min(top.max(v)))
            });
        }
    }

    /// Gives back what the first windows of an aborted admission took.
    fn refund(&self, touches: &[Touch<'_>], steps: &[Step], now: u64) {
        let t = &*self.table;
        for s in steps.iter().filter(|s| s.applied) {
            let touch = &touches[s.touch as usize];
            let cost = touch.cost;
            let w = &t.rules[touch.rule as usize].windows[s.window as usize];
            let word = &touch.words[w.word as usize];
            let _ = word.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                match (w.period, w.algorithm) {
                    (Period::Concurrent, _) => Some(v.saturating_sub(cost)),
                    (_, Algorithm::Bucket) => {
                        Some(v.saturating_sub(cost.saturating_mul(w.emission_ns)))
                    }
                    (_, Algorithm::Fixed) => {
                        let (k, _) = fixed_window(w.period, w.window_ns, touch.local(now));
                        let base = k.saturating_mul(w.stride);
                        (v >= base.saturating_add(cost) && v <= base.saturating_add(w.stride))
                            .then(|| v - cost)
                    }
                    (_, Algorithm::Sliding) => {
                        let (ik, ic) = algo::unpack(v);
                        let (sk, _) = algo::unpack(s.new);
                        (ik == sk && ic >= cost).then(|| algo::pack(ik, ic - cost))
                    }
                }
            });
        }
    }

    /// Starts a rule's `block` penalty for a touch; true if it has one.
    fn start_penalty(&self, rule: &RuleSpec, touch: &Touch<'_>, now: u64) -> bool {
        let (Some(block), Some(pw)) = (
            rule.block_ns,
            self.table.groups[rule.groups[0].0 as usize].penalty_word,
        ) else {
            return false;
        };
        let cell = &touch.words[pw as usize];
        if cell.load(Ordering::Acquire) <= now {
            // INVARIANT: fetch_max never shortens a running penalty.
            cell.fetch_max(now.saturating_add(block), Ordering::AcqRel);
        }
        true
    }

    fn admitted(
        &self,
        rule: Option<RuleId>,
        windows: SmallVec<[WindowReport; 4]>,
        window: usize,
        now: u64,
    ) -> Decision<'_> {
        Decision {
            table: &self.table,
            allowed: true,
            status: 200,
            rule,
            reason: None,
            retry_after_ns: None,
            now,
            figures: Figures::Eager(Eager::reported(window, windows)),
        }
    }

    /// Builds a rejection among the enforced (or, for `shadow`, the shadow)
    /// touches: starts the penalty of every `block` rule whose limit this
    /// request exceeded, then reports the touch that frees last.
    #[allow(clippy::too_many_arguments)]
    fn rejected<'s>(
        &'s self,
        touches: &[Touch<'s>],
        ti: usize,
        retry: Option<u64>,
        reason: Reason,
        values: &[Option<&str>],
        now: u64,
        shadow: bool,
    ) -> Decision<'s> {
        let t = &*self.table;
        let mut worst: Option<(usize, Option<u64>, Reason)> = None;
        for (i, touch) in touches.iter().enumerate() {
            let rule = &t.rules[touch.rule as usize];
            if rule.shadow != shadow {
                continue;
            }
            if let Some(until) = penalty_until(t, rule, touch) {
                if until > now {
                    note_reject(&mut worst, i, Some(until - now), Reason::Blocked);
                    continue;
                }
            }
            let cost = if rule.counting.is_empty() {
                touch.cost
            } else {
                1
            };
            let mut own: Option<(usize, Option<u64>, Reason)> = None;
            for w in &rule.windows {
                let limit = self.limit_of(w, values, now);
                if let Judged::Reject(r) = judge(w, touch.words, touch.local(now), cost, limit).0 {
                    note_reject(&mut own, i, r, reason_of(w));
                }
            }
            let Some((_, r, why)) = own else { continue };
            if !shadow && rule.counting.is_empty() && self.start_penalty(rule, touch, now) {
                let until = penalty_until(t, rule, touch).unwrap_or(now);
                note_reject(
                    &mut worst,
                    i,
                    r.map(|r| r.max(until.saturating_sub(now))),
                    Reason::Blocked,
                );
            } else {
                note_reject(&mut worst, i, r, why);
            }
        }
        // Under concurrency the snapshot may have changed; keep the original
        // finding if nothing rejects any more.
        let (ti, retry, reason) = worst.unwrap_or((ti, retry, reason));
        self.reject_report(&touches[ti], retry, reason, values, now, None)
    }

    /// The rejection reporting `touch`: its windows' figures, the one
    /// freeing last (the first, for a penalty) with nothing remaining until
    /// the retry time. The figures: from `judged`
    /// (the rejecting judgement's own, for a rule of one window) when given;
    /// else, for a rule of one window, computed when first asked (that
    /// window is the one reported whatever happens meanwhile; see
    /// [`Figures::Rejected`]); else computed now.
    fn reject_report<'s>(
        &'s self,
        touch: &Touch<'s>,
        retry: Option<u64>,
        reason: Reason,
        values: &[Option<&str>],
        now: u64,
        judged: Option<WindowReport>,
    ) -> Decision<'s> {
        let t = &*self.table;
        let rule = &t.rules[touch.rule as usize];
        let cost = if rule.counting.is_empty() {
            touch.cost
        } else {
            1
        };
        let lazy = || LazyReject {
            windows: &rule.windows,
            words: touch.words,
            cost,
            shift: touch.shift,
            limits: rule
                .windows
                .iter()
                .map(|w| self.limit_of(w, values, now))
                .collect(),
            retry,
            blocked: reason == Reason::Blocked,
        };
        let figures = match (judged, rule.windows.len()) {
            (Some(mut r), 1) => {
                r.reset_ns = shifted(r.reset_ns, -touch.shift);
                r.as_rejected(now, retry);
                Figures::Eager(Eager::reported(0, smallvec::smallvec![r]))
            }
            (_, 1) => Figures::Rejected(lazy(), std::sync::OnceLock::new()),
            _ => {
                let (window, windows) = lazy().report(now);
                Figures::Eager(Eager::reported(window, windows))
            }
        };
        Decision {
            table: &self.table,
            allowed: false,
            status: rule.status,
            rule: Some(RuleId(touch.rule)),
            reason: Some(reason),
            retry_after_ns: retry,
            now,
            figures,
        }
    }

    fn reject_full(&self, rule: RuleId, status: u16, now: u64) -> Decision<'_> {
        Decision {
            table: &self.table,
            allowed: false,
            status,
            rule: Some(rule),
            reason: Some(Reason::StoreFull),
            retry_after_ns: None,
            now,
            figures: Figures::Eager(Eager::reported(0, SmallVec::new())),
        }
    }
}

/// Two sorted target lists without repeats read as one, in order and
/// without repeats: the root's `/**` targets and those found below it,
/// which [`Limiter::check_plain`] reads without copying them into one list.
struct Merged<'a> {
    a: &'a [Target],
    b: &'a [Target],
}

impl Iterator for Merged<'_> {
    type Item = Target;

    #[inline]
    fn next(&mut self) -> Option<Target> {
        match (self.a.split_first(), self.b.split_first()) {
            (Some((&x, a)), Some((&y, b))) => {
                if y < x {
                    self.b = b;
                    Some(y)
                } else {
                    if y == x {
                        self.b = b;
                    }
                    self.a = a;
                    Some(x)
                }
            }
            (Some((&x, a)), None) => {
                self.a = a;
                Some(x)
            }
            (None, Some((&y, b))) => {
                self.b = b;
                Some(y)
            }
            (None, None) => None,
        }
    }
}

/// A key a request will look up (`check_plain`, `collect`): for a rule or a
/// named counter, in its group, with the rule's cost and time-zone shift.
#[derive(Clone, Copy)]
struct Wanted {
    target: Target,
    group: GroupId,
    hash: u64,
    cost: u64,
    shift: i64,
}

/// The (rule, key group) touches of a request, in route order.
type Touches<'s> = SmallVec<[Touch<'s>; 8]>;
/// The named counters a request counts in: their words and indices.
type Counted<'s> = SmallVec<[(&'s [AtomicU64], usize); 4]>;

/// One (rule, key group) a request touches.
#[derive(Clone, Copy)]
struct Touch<'s> {
    rule: u32,
    words: &'s [AtomicU64],
    /// The request's cost for this rule (its `cost ATTR`, or the request's).
    cost: u64,
    /// The rule's time-zone offset now, ns (0 for UTC): fixed windows are
    /// aligned on local time.
    shift: i64,
}

impl Touch<'_> {
    /// `now` on the rule's local clock.
    fn local(&self, now: u64) -> u64 {
        shifted(now, self.shift)
    }

    /// A window's figures, with times back on the UTC clock.
    fn report(&self, w: &WindowSpec, now: u64, limit: u64) -> WindowReport {
        let mut r = report(w, self.words, self.local(now), limit);
        r.reset_ns = shifted(r.reset_ns, -self.shift);
        r
    }
}

/// `t + shift`, clamped to the u64 clock.
fn shifted(t: u64, shift: i64) -> u64 {
    (i128::from(t) + i128::from(shift)).clamp(0, i128::from(u64::MAX)) as u64
}

/// One window's planned write.
#[derive(Clone, Copy)]
struct Step {
    // u32, not u8: a request may touch hundreds of (rule, key) pairs.
    touch: u32,
    window: u32,
    limit: u64,
    /// The state word the verdict was computed from.
    old: u64,
    new: u64,
    roll: Option<(usize, u64)>,
    applied: bool,
}

/// [`Limiter::judge_one`]'s outcome. `report`: the window's figures when
/// the judgement computed them (windows other than bucket and epoch-aligned
/// fixed ones, whose figures are computed when asked).
enum OneJudged {
    /// A penalty runs until then.
    Blocked(u64),
    /// Written: `old` was replaced by `new`.
    Admitted {
        old: u64,
        new: u64,
        limit: u64,
        report: Option<WindowReport>,
    },
    /// Rejected on the state word `old`.
    Rejected {
        old: u64,
        retry: Option<u64>,
        limit: u64,
        report: Option<WindowReport>,
    },
}

enum Judged {
    Admit {
        new: u64,
        roll: Option<(usize, u64)>,
    },
    Reject(Option<u64>),
}

/// Writes one planned window with compare-and-swap, re-judging when the
/// word changed since it was judged. `Ok(new)` when written, `Err(retry)`
/// when it no longer admits.
fn commit(w: &WindowSpec, touch: &Touch<'_>, step: Step, now: u64) -> Result<u64, Option<u64>> {
    let head = &touch.words[w.word as usize];
    let mut expected = step.old;
    let (mut new, mut roll) = (step.new, step.roll);
    loop {
        if let Some((slot, val)) = roll {
            touch.words[w.word as usize + 1 + slot].fetch_max(val, Ordering::AcqRel);
        }
        match head.compare_exchange_weak(expected, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Ok(new),
            Err(actual) => {
                expected = actual;
                match judge_word(
                    w,
                    actual,
                    touch.words,
                    touch.local(now),
                    touch.cost,
                    step.limit,
                )
                .0
                {
                    Judged::Admit { new: n, roll: r } => {
                        new = n;
                        roll = r;
                    }
                    Judged::Reject(retry) => return Err(retry),
                }
            }
        }
    }
}

/// `MethodSet::bit` (other methods: bit 15), with the usual spellings
/// looked up once.
#[inline]
fn method_bit(method: &str) -> u16 {
    static BITS: std::sync::OnceLock<[u16; 5]> = std::sync::OnceLock::new();
    let b = BITS.get_or_init(|| {
        ["GET", "POST", "PUT", "PATCH", "DELETE"].map(|m| MethodSet::bit(m).unwrap_or(1 << 15))
    });
    // Compared as numbers, not with `memcmp`.
    const GET: u64 = word(b"GET");
    const POST: u64 = word(b"POST");
    const PUT: u64 = word(b"PUT");
    const PATCH: u64 = word(b"PATCH");
    const DELETE: u64 = word(b"DELETE");
    let m = method.as_bytes();
    if m.len() <= 8 {
        // With the length: `word` pads with zeros, and "GET\0" is not GET.
        match (word(m), m.len()) {
            (GET, 3) => return b[0],
            (POST, 4) => return b[1],
            (PUT, 3) => return b[2],
            (PATCH, 5) => return b[3],
            (DELETE, 6) => return b[4],
            _ => {}
        }
    }
    MethodSet::bit(method).unwrap_or(1 << 15)
}

/// The first eight bytes of `s` as a little-endian number (zero-padded).
#[inline]
const fn word(s: &[u8]) -> u64 {
    let mut x = 0u64;
    let mut i = 0;
    while i < s.len() && i < 8 {
        x |= (s[i] as u64) << (8 * i);
        i += 1;
    }
    x
}

/// Declared attributes up to which [`Limiter::check_plain`] applies.
const PLAIN_INPUTS: usize = 16;

/// A rule that [`Limiter::check_plain`] decides: enforced (not `shadow`),
/// counting requests (not responses), keyed by attributes only, with constant
/// limits over time windows (no derived limits, no concurrency limits), in
/// UTC.
fn plain(rule: &RuleSpec) -> bool {
    !rule.shadow
        && rule.tz.is_none()
        && rule.counting.is_empty()
        && rule.params.is_empty()
        && rule
            .windows
            .iter()
            .all(|w| matches!(w.limit, Limit::Const(_)) && w.period != Period::Concurrent)
}

/// The request's cost for a rule: its `cost ATTR` when that is a whole
/// number, else the request's own.
fn rule_cost(rule: &RuleSpec, values: &[Option<&str>], req_cost: u64) -> u64 {
    rule.cost_attr
        .and_then(|a| values.get(a).copied().flatten())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(req_cost)
}

/// The decimal text of a request's number attributes, in order.
#[inline]
fn digits_of(req: &Request<'_>) -> SmallVec<[Digits; 2]> {
    req.nums.iter().map(|&(_, n, _)| Digits::new(n)).collect()
}

/// A request's attributes as text, in the order given (numbers as their
/// decimal text), so that assigning them in turn lets a later value win.
#[inline]
fn text_attrs<'r>(
    req: &'r Request<'_>,
    digits: &'r [Digits],
) -> impl Iterator<Item = (&'r str, &'r str)> + 'r {
    let attrs: &'r [(&'r str, &'r str)] = &req.attrs;
    let nums: &'r [(&'r str, u64, u32)] = &req.nums;
    let mut nums = nums.iter().zip(digits).peekable();
    let mut text = attrs.iter().enumerate();
    std::iter::from_fn(move || {
        if let Some(&(&(k, _, pos), d)) = nums.peek() {
            if text.len() == 0 || pos as usize <= attrs.len() - text.len() {
                nums.next();
                return Some((k, d.as_str()));
            }
        }
        text.next().map(|(_, &(k, v))| (k, v))
    })
}

/// Feeds one key value to a key hash (every path hashes keys this way). The
/// canonical decimal text of a number is hashed as that number, so that a
/// key given with `attr_u64` and its text given with `attr` are one key.
#[inline]
fn hash_value(h: &mut impl Hasher, v: &str) {
    match canonical_u64(v) {
        Some(n) => hash_number(h, n),
        None => {
            h.write_usize(v.len());
            h.write(v.as_bytes());
        }
    }
}

/// Feeds a number key to a key hash. The marker cannot be a text's length.
#[inline]
fn hash_number(h: &mut impl Hasher, n: u64) {
    h.write_usize(usize::MAX);
    h.write_u64(n);
}

/// `v` as a u64 when it is the number's canonical decimal text (digits
/// only, no sign, no leading zero, no overflow).
#[inline]
fn canonical_u64(v: &str) -> Option<u64> {
    let b = v.as_bytes();
    match b {
        [] => return None,
        [b'0'] => return Some(0),
        [b'0', ..] => return None,
        _ if b.len() > 20 => return None,
        _ => {}
    }
    let mut n: u64 = 0;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(n)
}

/// The end of a rule's running penalty for a touch, if the rule has one.
#[inline]
fn penalty_until(t: &DecisionTable, rule: &RuleSpec, touch: &Touch<'_>) -> Option<u64> {
    let pw = t.groups[rule.groups[0].0 as usize].penalty_word?;
    Some(touch.words[pw as usize].load(Ordering::Acquire))
}

#[inline]
fn reason_of(w: &WindowSpec) -> Reason {
    if w.period == Period::Concurrent {
        Reason::Concurrency
    } else {
        Reason::Limit
    }
}

/// Keeps the rejection that frees last (`None` = never, the latest of all);
/// ties keep the first.
fn note_reject(
    worst: &mut Option<(usize, Option<u64>, Reason)>,
    ti: usize,
    retry: Option<u64>,
    reason: Reason,
) {
    let later = match worst {
        None => true,
        Some((_, prev, _)) => match (prev, retry) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(p), Some(r)) => r > *p,
        },
    };
    if later {
        *worst = Some((ti, retry, reason));
    }
}

/// The index and end of the fixed window holding `now`.
fn fixed_window(period: Period, window_ns: u64, now: u64) -> (u64, u64) {
    match period {
        Period::Months(m) => calendar::month_window(now, m),
        Period::Nanos(_) => {
            let k = now / window_ns.max(1);
            (k, (k + 1).saturating_mul(window_ns))
        }
        Period::Concurrent => (0, u64::MAX),
    }
}

fn counter_value(period: Period, window_ns: u64, stride: u64, v: u64, now: u64) -> u64 {
    let (k, _) = fixed_window(period, window_ns, now);
    let base = k.saturating_mul(stride);
    match v.checked_sub(base) {
        // Counted in an earlier window: nothing in this one yet.
        None => 0,
        // Counted in a later window (time went back): its count, as for
        // the latest time seen; reading `v - base` would be more than a
        // whole stride and lift a derived limit to its cap. (`base +
        // stride` itself is this window full. A later word at a multiple of
        // the stride reads as 0, the lower of its two readings.)
        Some(c) if stride > 0 && c > stride => v % stride,
        Some(c) => c,
    }
}

/// The word a window's CAS compares against.
fn current(w: &WindowSpec, words: &[AtomicU64]) -> u64 {
    words[w.word as usize].load(Ordering::Acquire)
}

fn judge(
    w: &WindowSpec,
    words: &[AtomicU64],
    now: u64,
    cost: u64,
    limit: u64,
) -> (Judged, WindowReport) {
    judge_word(w, current(w, words), words, now, cost, limit)
}

/// [`judge`] on a state word `v` already loaded (a CAS must expect the value
/// that was judged, not a later one).
fn judge_word(
    w: &WindowSpec,
    v: u64,
    words: &[AtomicU64],
    now: u64,
    cost: u64,
    limit: u64,
) -> (Judged, WindowReport) {
    if w.period == Period::Concurrent {
        let (verdict, r) = algo::concurrent(v, now, cost, limit);
        return (judged(verdict, None), r);
    }
    match w.algorithm {
        Algorithm::Bucket => {
            let (verdict, r) = algo::bucket(v, now, cost, w.emission_ns, w.tolerance_ns, limit);
            (judged(verdict, None), r)
        }
        Algorithm::Fixed => {
            let (k, end) = fixed_window(w.period, w.window_ns, now);
            let (verdict, r) =
                algo::fixed(v, now, cost, k, end, w.period.min_nanos(), limit, w.stride);
            (judged(verdict, None), r)
        }
        Algorithm::Sliding => {
            const N: usize = crate::compile::SLIDING_GRANULES as usize;
            let mut ring = [0u64; N];
            // One bounds check for the ring (the table lays it out after
            // the head word), not one per slot.
            let at = w.word as usize + 1;
            for (slot, x) in ring.iter_mut().zip(&words[at..at + N]) {
                *slot = x.load(Ordering::Acquire);
            }
            let (step, r) = algo::sliding(v, &ring, now, cost, w.granule_ns, limit);
            (judged(step.verdict, step.roll), r)
        }
    }
}

fn judged(v: Verdict, roll: Option<(usize, u64)>) -> Judged {
    match v {
        Verdict::Admit(new) => Judged::Admit { new, roll },
        Verdict::Reject(r) => Judged::Reject(r),
    }
}

/// A window's figures as they stand (for a cost of 0).
fn report(w: &WindowSpec, words: &[AtomicU64], now: u64, limit: u64) -> WindowReport {
    judge(w, words, now, 0, limit).1
}
