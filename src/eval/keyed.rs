//! A route decided by one keyed quota, resolved once: [`Limiter::keyed`].
//!
//! In: a method and a path, once (at startup, per handler), then one key per
//! request. Out: the [`Decision`] that [`Limiter::check`] gives a request of
//! that method and path carrying that key, with the same state: a key
//! decided through a handle and through `check` is one key.
//!
//! This is the shape of governor's keyed limiter (`check_key(&key)`): the
//! route and the key's attribute are found once instead of on every
//! request, and a number key is hashed without being written out as text.
//! Only a route that exactly one rule decides, with nothing to read from
//! the request but its key, resolves to a handle; [`NotKeyed`] says why any
//! other does not, and such routes are decided by [`Limiter::check`].

use super::algo::{self, Verdict};
use super::{
    hash_number, hash_value, method_bit, plain, reason_of, Clock, Decision, Limiter, One,
    OneJudged, Reason, Store,
};
use crate::compile::{Limit, Target};
use crate::ir::{Algorithm, Period};
use smallvec::SmallVec;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A key given to a [`Keyed`] handle: a number, or text. The canonical
/// decimal text of a number and the number itself are one key, as with
/// [`crate::Request::attr_u64`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key<'a> {
    /// A number key (a user or account id).
    Num(u64),
    /// A text key (an API key, or a combined string such as an API key
    /// and an address joined by the caller).
    Text(&'a str),
}

// Only `u64` among the integers, so that a literal (`verdict(7)`) infers
// as one; other widths convert with `u64::from` first.
impl From<u64> for Key<'_> {
    fn from(n: u64) -> Self {
        Key::Num(n)
    }
}

impl<'a> From<&'a str> for Key<'a> {
    fn from(s: &'a str) -> Self {
        Key::Text(s)
    }
}

impl<'a> From<&'a String> for Key<'a> {
    fn from(s: &'a String) -> Self {
        Key::Text(s)
    }
}

/// Why a route has no [`Keyed`] handle: the route asked for, and the
/// reason. Requests of such a route are decided by [`Limiter::check`], which
/// handles every case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotKeyed {
    /// The method asked for.
    pub method: String,
    /// The path asked for.
    pub path: String,
    /// Why.
    pub reason: NotKeyedReason,
}

/// [`NotKeyed`]'s reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotKeyedReason {
    /// No rule applies to the route: every request is admitted.
    NoRule,
    /// Several rules apply (names in policy order).
    SeveralRules(Vec<String>),
    /// A named counter counts the route's requests.
    Counter(String),
    /// The one rule reads more of the request than its key, or has no key:
    /// the rule, and what keeps it from being a single keyed quota.
    Shape {
        /// The rule.
        rule: String,
        /// What keeps it from being a single keyed quota.
        why: &'static str,
    },
}

impl std::fmt::Display for NotKeyed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: ", self.method, self.path)?;
        match &self.reason {
            NotKeyedReason::NoRule => {
                return write!(f, "no rule applies, every request is admitted")
            }
            NotKeyedReason::SeveralRules(r) => {
                write!(f, "several rules apply ({})", r.join(", "))
            }
            NotKeyedReason::Counter(c) => write!(f, "counter `{c}` counts these requests"),
            NotKeyedReason::Shape { rule, why } => write!(f, "rule `{rule}` {why}"),
        }?;
        write!(f, "; decide these requests with `Limiter::check`")
    }
}

impl std::error::Error for NotKeyed {}

/// What keeps rule `ri` from being one keyed quota, for
/// [`NotKeyedReason::Shape`].
fn shape_of(t: &crate::DecisionTable, ri: u32) -> &'static str {
    let rule = &t.rules[ri as usize];
    let attrs = rule
        .groups
        .first()
        .map_or(0, |g| t.groups[g.0 as usize].attrs.len());
    if rule.shadow {
        "is a shadow rule"
    } else if rule.cond.is_some() {
        "has a condition"
    } else if rule.cost_attr.is_some() {
        "takes its cost from an attribute"
    } else if !rule.params.is_empty() {
        "takes its key from the path"
    } else if !plain(rule) {
        "has a derived, concurrency, time-zone or response-counting limit"
    } else if rule.groups.len() > 1 {
        "has several keys (`|`), each counted apart"
    } else if attrs > 1 {
        "has a key of several attributes (`&`)"
    } else if rule.windows.len() != 1 {
        "has several windows"
    } else {
        "has no key"
    }
}

/// A handle on a route decided by one keyed quota: see the [module
/// docs](self) and [`Limiter::keyed`].
pub struct Keyed<'l, C: Clock, S: Store> {
    limiter: &'l Limiter<C, S>,
    one: One,
    /// The input the rule is keyed by (`one.attr`).
    key: usize,
    /// The rule's bucket, when it is one of a constant limit with no
    /// `block` penalty: [`Keyed::verdict`] then judges it inline, from
    /// these figures copied out of the table (see [`Bucket`]).
    bucket: Option<Bucket>,
}

/// What a bucket's verdict reads, side by side: the arguments of
/// [`algo::bucket`](super::algo::bucket), the state word's offset and the
/// rejection status.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    emission_ns: u64,
    tolerance_ns: u64,
    limit: u64,
    word: usize,
    status: u16,
}

impl Bucket {
    fn of(t: &crate::DecisionTable, one: One) -> Option<Bucket> {
        let rule = &t.rules[one.rule as usize];
        let w = rule.windows.first()?;
        match (w.algorithm, w.period, &w.limit, rule.block_ns) {
            (Algorithm::Bucket, Period::Nanos(_), &Limit::Const(limit), None) => Some(Bucket {
                emission_ns: w.emission_ns,
                tolerance_ns: w.tolerance_ns,
                limit,
                word: w.word as usize,
                status: rule.status,
            }),
            _ => None,
        }
    }
}

// By hand: a derive would ask `C: Clone` and `S: Clone` of the limiter's
// parts, which a handle (a borrow and a few numbers) does not copy.
impl<C: Clock, S: Store> Clone for Keyed<'_, C, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C: Clock, S: Store> Copy for Keyed<'_, C, S> {}

impl<C: Clock, S: Store> Clone for SharedKeyed<C, S> {
    fn clone(&self) -> Self {
        SharedKeyed {
            limiter: Arc::clone(&self.limiter),
            one: self.one,
            key: self.key,
            bucket: self.bucket,
        }
    }
}

impl<C: Clock, S: Store> std::fmt::Debug for Keyed<'_, C, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyed")
            .field("rule", &self.rule())
            .field("key", &self.key_name())
            .finish()
    }
}

impl<C: Clock, S: Store> Limiter<C, S> {
    /// Resolves the requests of `method` and `path` (a request path as
    /// received, `/users/42`) to the one rule that decides them, when that
    /// rule is a single keyed quota: enforced (not `shadow`), no condition,
    /// no `cost` attribute, one window of a constant limit over time (not
    /// `concurrent`, no time zone, no `counting`), keyed by one request
    /// attribute (not a path parameter), and no named counter counting the
    /// route. The handle then decides a request from its key alone, as
    /// governor's keyed limiter does, with the decisions and state of
    /// [`Limiter::check`]. Otherwise [`NotKeyed`] says why.
    ///
    /// The route is resolved for this path only; where the policy routes
    /// other paths of a handler differently (a literal `/users/me` next to
    /// `/users/{id}`), resolve one handle per path that differs.
    pub fn keyed(&self, method: &str, path: &str) -> Result<Keyed<'_, C, S>, NotKeyed> {
        self.resolve(method, path).map(|(one, key, bucket)| Keyed {
            limiter: self,
            one,
            key,
            bucket,
        })
    }

    /// [`Limiter::keyed`] for a handle that holds the limiter through its
    /// `Arc`, so that it can live in a server's `'static` state next to the
    /// limiter's other users; [`SharedKeyed::handle`] lends the [`Keyed`]
    /// handle (a few words, copied).
    pub fn keyed_shared(
        self: &Arc<Self>,
        method: &str,
        path: &str,
    ) -> Result<SharedKeyed<C, S>, NotKeyed> {
        self.resolve(method, path)
            .map(|(one, key, bucket)| SharedKeyed {
                limiter: Arc::clone(self),
                one,
                key,
                bucket,
            })
    }

    /// The route's one rule, its key's input and its bucket (see
    /// [`Limiter::keyed`]).
    fn resolve(&self, method: &str, path: &str) -> Result<(One, usize, Option<Bucket>), NotKeyed> {
        let t = &*self.table;
        let not = |reason| NotKeyed {
            method: method.to_string(),
            path: path.to_string(),
            reason,
        };
        let mut targets: SmallVec<[Target; 16]> = SmallVec::new();
        t.routes.lookup_path(method_bit(method), path, &mut targets);
        let rule_name = |ri: u32| t.rules[ri as usize].id.clone();
        if let Some(c) = targets.iter().find_map(|x| match *x {
            Target::Counter(c) => Some(c),
            Target::Rule(_) => None,
        }) {
            let name = t.counters[c as usize].name.clone();
            return Err(not(NotKeyedReason::Counter(name)));
        }
        let ri = match targets[..] {
            [] => return Err(not(NotKeyedReason::NoRule)),
            [Target::Rule(ri)] => ri,
            _ => {
                let mut rules: Vec<u32> = targets
                    .iter()
                    .filter_map(|x| match *x {
                        Target::Rule(ri) => Some(ri),
                        Target::Counter(_) => None,
                    })
                    .collect();
                rules.sort_unstable();
                let names = rules.into_iter().map(rule_name).collect();
                return Err(not(NotKeyedReason::SeveralRules(names)));
            }
        };
        match One::of(t, ri) {
            Some(
                one @ One {
                    attr: Some(key), ..
                },
            ) => Ok((one, key, Bucket::of(t, one))),
            _ => Err(not(NotKeyedReason::Shape {
                rule: rule_name(ri),
                why: shape_of(t, ri),
            })),
        }
    }
}

/// A [`Keyed`] handle that holds its limiter through an `Arc`: from
/// [`Limiter::keyed_shared`], for a handle kept as long as the server's
/// state. `shared.handle().verdict(key)` decides as [`Keyed::verdict`].
pub struct SharedKeyed<C: Clock, S: Store> {
    limiter: Arc<Limiter<C, S>>,
    one: One,
    key: usize,
    bucket: Option<Bucket>,
}

impl<C: Clock, S: Store> SharedKeyed<C, S> {
    /// The handle, borrowing the limiter this holds.
    #[inline]
    pub fn handle(&self) -> Keyed<'_, C, S> {
        Keyed {
            limiter: &self.limiter,
            one: self.one,
            key: self.key,
            bucket: self.bucket,
        }
    }
}

impl<C: Clock, S: Store> std::fmt::Debug for SharedKeyed<C, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.handle().fmt(f)
    }
}

impl<'l, C: Clock, S: Store> Keyed<'l, C, S> {
    /// The rule that decides this route.
    pub fn rule(&self) -> &'l str {
        &self.limiter.table.rules[self.one.rule as usize].id
    }

    /// The request attribute the rule is keyed by.
    pub fn key_name(&self) -> &'l str {
        &self.limiter.table.inputs[self.key]
    }

    /// The key's hash, as the limiter hashes the attribute's value.
    #[inline(always)]
    fn hash(&self, key: Key<'_>) -> u64 {
        let mut h = self.limiter.hasher.build_hasher();
        match key {
            Key::Num(n) => hash_number(&mut h, n),
            Key::Text(s) => hash_value(&mut h, s),
        }
        h.finish()
    }

    /// Decides a request of cost 1 with this key, now (the limiter's clock).
    #[inline]
    pub fn check<'k>(&self, key: impl Into<Key<'k>>) -> Decision<'l> {
        self.check_n_at(key, 1, self.limiter.clock.now())
    }

    /// Decides a request of cost `cost` with this key, now.
    #[inline]
    pub fn check_n<'k>(&self, key: impl Into<Key<'k>>, cost: u64) -> Decision<'l> {
        self.check_n_at(key, cost, self.limiter.clock.now())
    }

    /// Decides a request of cost 1 with this key at `now` (ns since the
    /// Unix epoch), as [`Limiter::check_at`].
    #[inline]
    pub fn check_at<'k>(&self, key: impl Into<Key<'k>>, now: u64) -> Decision<'l> {
        self.check_n_at(key, 1, now)
    }

    /// Decides a request of cost `cost` with this key at `now`, as
    /// [`Limiter::check_at`] on a request of that [`crate::Request::cost`].
    #[inline]
    pub fn check_n_at<'k>(&self, key: impl Into<Key<'k>>, cost: u64, now: u64) -> Decision<'l> {
        let l = self.limiter;
        l.decide_hashed(self.one, self.hash(key.into()), cost, now)
    }

    /// [`Keyed::check`] as a [`KeyedVerdict`]: the same decision and state
    /// change, reported in a few words (allowed, status, reason, retry)
    /// instead of a [`Decision`], as governor's `check_key` reports `Ok` or
    /// `NotUntil`.
    /// For headers, a body or [`Limiter::settle`], use [`Keyed::check`].
    #[inline]
    pub fn verdict<'k>(&self, key: impl Into<Key<'k>>) -> KeyedVerdict {
        self.verdict_n_at(key, 1, self.limiter.clock.now())
    }

    /// [`Keyed::check_n`] as a [`KeyedVerdict`].
    #[inline]
    pub fn verdict_n<'k>(&self, key: impl Into<Key<'k>>, cost: u64) -> KeyedVerdict {
        self.verdict_n_at(key, cost, self.limiter.clock.now())
    }

    /// [`Keyed::verdict`] at `now` (ns since the Unix epoch).
    #[inline]
    pub fn verdict_at<'k>(&self, key: impl Into<Key<'k>>, now: u64) -> KeyedVerdict {
        self.verdict_n_at(key, 1, now)
    }

    /// [`Keyed::check_n_at`] as a [`KeyedVerdict`].
    #[inline]
    pub fn verdict_n_at<'k>(&self, key: impl Into<Key<'k>>, cost: u64, now: u64) -> KeyedVerdict {
        let l = self.limiter;
        let touch = match l.touch_hashed(self.one, self.hash(key.into()), cost, now) {
            Ok(touch) => touch,
            Err(None) => return KeyedVerdict::ADMIT,
            Err(Some(status)) => {
                return KeyedVerdict {
                    allowed: false,
                    status,
                    reason: Some(Reason::StoreFull),
                    retry_after_ns: None,
                }
            }
        };
        if let Some(b) = self.bucket {
            // `judge_one` for this case, with the figures at hand.
            let Some(head) = touch.words.get(b.word) else {
                // Not for a compiled table: its words are the group's.
                return KeyedVerdict::of(&l.decide_one(&touch, &[], now));
            };
            let mut old = head.load(Ordering::Acquire);
            loop {
                match algo::bucket(old, now, cost, b.emission_ns, b.tolerance_ns, b.limit).0 {
                    Verdict::Admit(new) => {
                        match head.compare_exchange_weak(
                            old,
                            new,
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        ) {
                            Ok(_) => return KeyedVerdict::ADMIT,
                            Err(actual) => old = actual,
                        }
                    }
                    Verdict::Reject(retry) => {
                        return KeyedVerdict {
                            allowed: false,
                            status: b.status,
                            reason: Some(Reason::Limit),
                            retry_after_ns: retry,
                        }
                    }
                }
            }
        }
        let rule = &l.table.rules[self.one.rule as usize];
        let w = &rule.windows[0];
        let one = std::slice::from_ref(&touch);
        // The branches of `decide_one`, as verdicts.
        let d = match l.judge_one(&touch, &[], now) {
            OneJudged::Admitted { .. } => return KeyedVerdict::ADMIT,
            OneJudged::Rejected { retry, .. } if rule.block_ns.is_none() => {
                return KeyedVerdict {
                    allowed: false,
                    status: rule.status,
                    reason: Some(reason_of(w)),
                    retry_after_ns: retry,
                }
            }
            // A penalty to report or to start.
            OneJudged::Rejected { retry, .. } => {
                l.rejected(one, 0, retry, reason_of(w), &[], now, false)
            }
            OneJudged::Blocked(until) => {
                l.rejected(one, 0, Some(until - now), Reason::Blocked, &[], now, false)
            }
        };
        KeyedVerdict::of(&d)
    }
}

/// A [`Keyed`] handle's decision in brief: allowed or not, the status and
/// reason of a rejection (`Limit`, `Blocked` or `StoreFull`; never
/// `Concurrency`, which a handle's rule cannot have), and when to retry:
/// four fields in 24 bytes. The same decision as the
/// [`Decision`] of [`Keyed::check`], without its figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyedVerdict {
    allowed: bool,
    status: u16,
    reason: Option<Reason>,
    retry_after_ns: Option<u64>,
}

impl KeyedVerdict {
    const ADMIT: KeyedVerdict = KeyedVerdict {
        allowed: true,
        status: 200,
        reason: None,
        retry_after_ns: None,
    };

    /// The brief of a decision.
    pub fn of(d: &Decision<'_>) -> Self {
        KeyedVerdict {
            allowed: d.allowed(),
            status: d.status(),
            reason: d.reason(),
            retry_after_ns: d.retry_after_ns(),
        }
    }

    /// True when the request may proceed.
    pub fn allowed(&self) -> bool {
        self.allowed
    }

    /// 200 when allowed, else the rule's rejection status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Why the request was rejected.
    pub fn reason(&self) -> Option<Reason> {
        self.reason
    }

    /// When a rejected request may be retried (`None`: admitted, or no
    /// wait helps).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after_ns.map(std::time::Duration::from_nanos)
    }

    /// [`KeyedVerdict::retry_after`] in ns.
    pub fn retry_after_ns(&self) -> Option<u64> {
        self.retry_after_ns
    }
}
