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
//! Memory orderings: state words are read with `Acquire` and written with
//! `AcqRel` compare-and-swap, so that a sliding window's ring slot, published
//! with `fetch_max(Release)` before its head is swapped, is visible to every
//! thread that sees the new head.

pub mod algo;
pub mod calendar;
pub mod clock;
pub mod render;
pub mod store;

use crate::compile::{DecisionTable, GroupId, Limit, RuleId, RuleSpec, Target, WindowSpec};
use crate::ir::{Algorithm, MethodSet, Overflow, Period};
use algo::{Verdict, WindowReport};
pub use clock::{Clock, ManualClock, SystemClock};
use smallvec::SmallVec;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
pub use store::{Lookup, MemoryStore, Store};

/// Keys tracked per counter group by default.
pub const DEFAULT_CAPACITY: usize = 1 << 15;

/// A request as the limiter sees it: borrowed strings, no allocation for up
/// to 8 attributes.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    method: &'a str,
    path: &'a str,
    attrs: SmallVec<[(&'a str, &'a str); 8]>,
    cost: u64,
}

impl<'a> Request<'a> {
    /// A request with a method and a path (a query string is ignored).
    pub fn new(method: &'a str, path: &'a str) -> Self {
        Request {
            method,
            path,
            attrs: SmallVec::new(),
            cost: 1,
        }
    }

    /// Adds an attribute; a later value for the same name wins.
    pub fn attr(mut self, name: &'a str, value: &'a str) -> Self {
        self.attrs.push((name, value));
        self
    }

    /// Sets the cost counted instead of 1. A cost of 0 is admitted without
    /// counting (unless a penalty is running).
    pub fn cost(mut self, cost: u64) -> Self {
        self.cost = cost;
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

    /// The attributes as given.
    pub fn attrs(&self) -> &[(&'a str, &'a str)] {
        &self.attrs
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
}

/// The verdict on one request.
#[derive(Clone, Debug)]
pub struct Decision<'t> {
    table: &'t DecisionTable,
    allowed: bool,
    status: u16,
    rule: Option<RuleId>,
    reason: Option<Reason>,
    retry_after_ns: Option<u64>,
    now: u64,
    window: usize,
    windows: SmallVec<[WindowReport; 4]>,
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
    /// limit, or a full store).
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
        &self.windows
    }

    /// Index of the reported window in [`Decision::windows`].
    pub fn window_index(&self) -> usize {
        self.window
    }

    /// The table it was decided on.
    pub fn table(&self) -> &'t DecisionTable {
        self.table
    }

    /// The response headers (rendered now, in declaration order).
    pub fn headers(&self) -> Vec<(String, String)> {
        render::headers(self)
    }

    /// The rejection body (rendered now), if the response has one.
    pub fn body(&self) -> Option<String> {
        render::body(self)
    }
}

/// A policy's limiter: shared by reference across threads.
pub struct Limiter<C: Clock = SystemClock, S: Store = MemoryStore> {
    table: Arc<DecisionTable>,
    store: S,
    clock: C,
    hasher: ahash::RandomState,
}

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
    /// counter group and the system clock.
    pub fn new(policy: crate::Policy) -> Self {
        Limiter::with_clock(policy, SystemClock)
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
            table,
            store,
            clock,
            hasher: ahash::RandomState::new(),
        }
    }
}

impl<C: Clock, S: Store> Limiter<C, S> {
    /// A limiter over any store.
    pub fn with_store(policy: crate::Policy, clock: C, store: S) -> Self {
        Limiter {
            table: policy.table(),
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
        let t = &*self.table;
        let mut values: SmallVec<[Option<&str>; 8]> = SmallVec::from_elem(None, t.inputs.len());
        for (k, v) in &req.attrs {
            if let Some(i) = t.inputs.iter().position(|n| n == k) {
                values[i] = Some(v);
            }
        }
        let mut targets: SmallVec<[Target; 16]> = SmallVec::new();
        let path = req.path.split(['?', '#']).next().unwrap_or("");
        let segments: SmallVec<[&str; 16]> = path.split('/').filter(|s| !s.is_empty()).collect();
        let bits = MethodSet::bit(req.method).unwrap_or(1 << 15);
        t.routes.lookup(bits, &segments, &mut targets);

        let mut touches: SmallVec<[Touch<'_>; 8]> = SmallVec::new();
        let mut counters: SmallVec<[(&[AtomicU64], usize); 4]> = SmallVec::new();
        for target in &targets {
            match *target {
                Target::Rule(ri) => {
                    let Some(rule) = t.rules.get(ri as usize) else {
                        continue;
                    };
                    if !rule.cond.as_ref().is_none_or(|c| c.eval(&values)) {
                        continue;
                    }
                    for &g in &rule.groups {
                        let Some(hash) = self.key_hash(g, &values) else {
                            continue;
                        };
                        match self.store.entry(g, hash, now, true) {
                            Lookup::Found(words) => touches.push(Touch { rule: ri, words }),
                            Lookup::Absent => {}
                            Lookup::Full => {
                                if t.overflow == Overflow::Reject {
                                    return self.reject_full(RuleId(ri), rule, now);
                                }
                            }
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
                    let Some(hash) = self.key_hash(c.group, &values) else {
                        continue;
                    };
                    if let Lookup::Found(words) = self.store.entry(c.group, hash, now, true) {
                        counters.push((words, ci as usize));
                    }
                }
            }
        }
        if touches.is_empty() {
            // No rule applies: admit, and count in the named counters.
            self.count(&counters, req.cost, now);
            return self.admitted(None, SmallVec::new(), 0, now);
        }
        self.decide(&touches, &counters, &values, req.cost, now)
    }

    /// The hash of a group's key values, `None` when one is absent.
    fn key_hash(&self, g: GroupId, values: &[Option<&str>]) -> Option<u64> {
        let spec = self.table.groups.get(g.0 as usize)?;
        let mut h = self.hasher.build_hasher();
        h.write_u32(g.0);
        for &a in &spec.attrs {
            let v = values.get(a).copied().flatten()?;
            h.write_usize(v.len());
            h.write(v.as_bytes());
        }
        Some(h.finish())
    }

    fn decide(
        &self,
        touches: &[Touch<'_>],
        counters: &[(&[AtomicU64], usize)],
        values: &[Option<&str>],
        cost: u64,
        now: u64,
    ) -> Decision<'_> {
        let t = &*self.table;
        // Phase 1: judge every window on a snapshot.
        let mut steps: SmallVec<[Step; 16]> = SmallVec::new();
        let mut worst: Option<(usize, Option<u64>, Reason)> = None;
        for (ti, touch) in touches.iter().enumerate() {
            let Some(rule) = t.rules.get(touch.rule as usize) else {
                continue;
            };
            if let Some(pw) = t.groups[rule.groups[0].0 as usize].penalty_word {
                let until = touch.words[pw as usize].load(Ordering::Acquire);
                if until > now {
                    note_reject(&mut worst, ti, Some(until - now), Reason::Blocked);
                    continue;
                }
            }
            for (wi, w) in rule.windows.iter().enumerate() {
                let limit = self.limit_of(w, values, now);
                let (verdict, _) = judge(w, touch.words, now, cost, limit);
                match verdict {
                    Judged::Admit { new, roll } => steps.push(Step {
                        touch: ti as u8,
                        window: wi as u8,
                        limit,
                        new,
                        roll,
                        applied: false,
                    }),
                    Judged::Reject(retry) => note_reject(&mut worst, ti, retry, Reason::Limit),
                }
            }
        }
        if let Some((ti, retry, reason)) = worst {
            return self.rejected(touches, ti, retry, reason, cost, values, now);
        }
        // Phase 2: write each window; re-judge on interference; refund on a
        // late rejection.
        for si in 0..steps.len() {
            let step = steps[si];
            let touch = &touches[step.touch as usize];
            let rule = &t.rules[touch.rule as usize];
            let w = &rule.windows[step.window as usize];
            let head = &touch.words[w.word as usize];
            let mut expected = current(w, touch.words);
            let mut next = step;
            loop {
                if let Some((slot, val)) = next.roll {
                    touch.words[w.word as usize + 1 + slot].fetch_max(val, Ordering::AcqRel);
                }
                match head.compare_exchange_weak(
                    expected,
                    next.new,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        steps[si].applied = true;
                        steps[si].new = next.new;
                        break;
                    }
                    Err(_) => {
                        expected = current(w, touch.words);
                        match judge(w, touch.words, now, cost, next.limit).0 {
                            Judged::Admit { new, roll } => {
                                next.new = new;
                                next.roll = roll;
                            }
                            Judged::Reject(retry) => {
                                self.refund(touches, &steps[..si], cost, now);
                                let mut worst = None;
                                note_reject(&mut worst, step.touch as usize, retry, Reason::Limit);
                                let (ti, retry, reason) =
                                    worst.unwrap_or((step.touch as usize, retry, Reason::Limit));
                                return self
                                    .rejected(touches, ti, retry, reason, cost, values, now);
                            }
                        }
                    }
                }
            }
        }
        self.count(counters, cost, now);
        // Report the window with the least remaining capacity.
        let mut best: Option<(u64, usize)> = None;
        for (ti, touch) in touches.iter().enumerate() {
            let rule = &t.rules[touch.rule as usize];
            for (wi, w) in rule.windows.iter().enumerate() {
                let limit = self.limit_of(w, values, now);
                let r = report(w, touch.words, now, limit);
                let _ = wi;
                if best.is_none_or(|(rem, _)| r.remaining < rem) {
                    best = Some((r.remaining, ti));
                }
            }
        }
        let Some((_, ti)) = best else {
            return self.admitted(None, SmallVec::new(), 0, now);
        };
        let touch = &touches[ti];
        let rule = &t.rules[touch.rule as usize];
        let mut windows = SmallVec::new();
        let mut window = 0;
        let mut least = u64::MAX;
        for (wi, w) in rule.windows.iter().enumerate() {
            let r = report(w, touch.words, now, self.limit_of(w, values, now));
            if r.remaining < least {
                least = r.remaining;
                window = wi;
            }
            windows.push(r);
        }
        self.admitted(Some(RuleId(touch.rule)), windows, window, now)
    }

    /// The limit of a window for this request (derived limits read their
    /// counters now).
    fn limit_of(&self, w: &WindowSpec, values: &[Option<&str>], now: u64) -> u64 {
        match &w.limit {
            Limit::Const(n) => *n,
            Limit::Min { counters, cap } => {
                let mut n = *cap;
                for &ci in counters {
                    let Some(c) = self.table.counters.get(ci) else {
                        continue;
                    };
                    let count = match self.key_hash(c.group, values) {
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
                    };
                    n = n.min(count);
                }
                n
            }
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
            let _ = words[0].fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.max(base).saturating_add(cost))
            });
        }
    }

    /// Gives back what the first windows of an aborted admission took.
    fn refund(&self, touches: &[Touch<'_>], steps: &[Step], cost: u64, now: u64) {
        let t = &*self.table;
        for s in steps.iter().filter(|s| s.applied) {
            let touch = &touches[s.touch as usize];
            let w = &t.rules[touch.rule as usize].windows[s.window as usize];
            let word = &touch.words[w.word as usize];
            let _ = word.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| match w.algorithm {
                Algorithm::Bucket => Some(v.saturating_sub(cost.saturating_mul(w.emission_ns))),
                Algorithm::Fixed => {
                    let (k, _) = fixed_window(w.period, w.window_ns, now);
                    let base = k.saturating_mul(w.stride);
                    (v >= base.saturating_add(cost) && v <= base.saturating_add(w.stride))
                        .then(|| v - cost)
                }
                Algorithm::Sliding => {
                    let (ik, ic) = algo::unpack(v);
                    let (sk, _) = algo::unpack(s.new);
                    (ik == sk && ic >= cost).then(|| algo::pack(ik, ic - cost))
                }
            });
        }
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
            window,
            windows,
        }
    }

    /// Builds a rejection: starts the penalty of every `block` rule whose
    /// limit this request exceeded, then reports the touch that frees last.
    #[allow(clippy::too_many_arguments)]
    fn rejected(
        &self,
        touches: &[Touch<'_>],
        ti: usize,
        retry: Option<u64>,
        reason: Reason,
        cost: u64,
        values: &[Option<&str>],
        now: u64,
    ) -> Decision<'_> {
        let t = &*self.table;
        let mut worst: Option<(usize, Option<u64>, Reason)> = None;
        for (i, touch) in touches.iter().enumerate() {
            let rule = &t.rules[touch.rule as usize];
            let penalty = t.groups[rule.groups[0].0 as usize]
                .penalty_word
                .map(|pw| &touch.words[pw as usize]);
            if let Some(cell) = penalty {
                let until = cell.load(Ordering::Acquire);
                if until > now {
                    note_reject(&mut worst, i, Some(until - now), Reason::Blocked);
                    continue;
                }
            }
            let mut own: Option<(usize, Option<u64>, Reason)> = None;
            for w in &rule.windows {
                let limit = self.limit_of(w, values, now);
                if let Judged::Reject(r) = judge(w, touch.words, now, cost, limit).0 {
                    note_reject(&mut own, i, r, Reason::Limit);
                }
            }
            let Some((_, r, _)) = own else { continue };
            match (rule.block_ns, penalty) {
                (Some(block), Some(cell)) => {
                    // INVARIANT: fetch_max never shortens a running penalty.
                    let until = now.saturating_add(block);
                    let prev = cell.fetch_max(until, Ordering::AcqRel);
                    let until = prev.max(until);
                    let wait = r.map(|r| r.max(until - now));
                    note_reject(&mut worst, i, wait, Reason::Blocked);
                }
                _ => note_reject(&mut worst, i, r, Reason::Limit),
            }
        }
        // Under concurrency the snapshot may have changed; keep the original
        // finding if nothing rejects any more.
        let (ti, retry, reason) = worst.unwrap_or((ti, retry, reason));
        let touch = &touches[ti];
        let rule = &t.rules[touch.rule as usize];
        let mut windows: SmallVec<[WindowReport; 4]> = SmallVec::new();
        let mut window = 0;
        let mut latest: Option<Option<u64>> = None;
        for (wi, w) in rule.windows.iter().enumerate() {
            let limit = self.limit_of(w, values, now);
            let r = report(w, touch.words, now, limit);
            if let Judged::Reject(x) = judge(w, touch.words, now, cost, limit).0 {
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
        if reason == Reason::Blocked {
            window = 0;
        }
        if let Some(w) = windows.get_mut(window) {
            w.remaining = 0;
            if let Some(r) = retry {
                w.reset_ns = if reason == Reason::Blocked {
                    now.saturating_add(r)
                } else {
                    w.reset_ns.max(now.saturating_add(r))
                };
            }
        }
        Decision {
            table: &self.table,
            allowed: false,
            status: rule.status,
            rule: Some(RuleId(touch.rule)),
            reason: Some(reason),
            retry_after_ns: retry,
            now,
            window,
            windows,
        }
    }

    fn reject_full(&self, rule: RuleId, spec: &RuleSpec, now: u64) -> Decision<'_> {
        Decision {
            table: &self.table,
            allowed: false,
            status: spec.status,
            rule: Some(rule),
            reason: Some(Reason::StoreFull),
            retry_after_ns: None,
            now,
            window: 0,
            windows: SmallVec::new(),
        }
    }
}

/// One (rule, key group) a request touches.
#[derive(Clone, Copy)]
struct Touch<'s> {
    rule: u32,
    words: &'s [AtomicU64],
}

/// One window's planned write.
#[derive(Clone, Copy)]
struct Step {
    touch: u8,
    window: u8,
    limit: u64,
    new: u64,
    roll: Option<(usize, u64)>,
    applied: bool,
}

enum Judged {
    Admit {
        new: u64,
        roll: Option<(usize, u64)>,
    },
    Reject(Option<u64>),
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
    }
}

fn counter_value(period: Period, window_ns: u64, stride: u64, v: u64, now: u64) -> u64 {
    let (k, _) = fixed_window(period, window_ns, now);
    v.saturating_sub(k.saturating_mul(stride))
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
    let v = words[w.word as usize].load(Ordering::Acquire);
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
            let mut ring = [0u64; crate::compile::SLIDING_GRANULES as usize];
            for (i, slot) in ring.iter_mut().enumerate() {
                *slot = words[w.word as usize + 1 + i].load(Ordering::Acquire);
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
