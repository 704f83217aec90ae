//! An independent checker of the limiter's guarantees, shared by
//! `tests/robustness_evaluate.rs` and the `evaluate` fuzz target
//! (`fuzz/fuzz_targets/evaluate.rs` includes this file by path).
//!
//! It works out by itself which (rule, key group, key values) every request
//! applies to, remembers every admission, and after each decision checks,
//! for every such counter, the guarantee of its algorithm:
//!
//! * `sliding` N/W: no interval of length W holds more than N (by cost);
//! * `fixed` N/W: no aligned window (UTC month for `mo`) holds more than N;
//! * `bucket` N/W burst B: over any interval `[s, t]`, at most
//!   `B + (t - s) / T` with `T = W/N`;
//! * `block P`: no admission while a penalty announced by a `Blocked`
//!   rejection is running;
//!
//! with a derived limit `min(c, K)` checked against K. Time must not go
//! backwards (the driver keeps it monotone). Decisions must also be
//! self-consistent (200 iff allowed; a retry-after only on rejections).

#![allow(dead_code)]

use rlc::compile::{Cond, DecisionTable, Target};
use rlc::eval::calendar;
use rlc::ir::{Algorithm, MethodSet, Overflow, PathSeg, Period};
use rlc::{Decision, Reason};
use std::collections::HashMap;

/// A request the driver sent.
#[derive(Clone, Debug)]
pub struct Req {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Attributes, in order (a later one wins, as in the limiter).
    pub attrs: Vec<(String, String)>,
    /// Cost.
    pub cost: u64,
}

/// Paths and attribute values worth sending to a table: one concrete path
/// per rule and counter pattern, and every string the conditions compare.
#[derive(Clone, Debug, Default)]
pub struct Vocab {
    /// Concrete paths.
    pub paths: Vec<String>,
    /// Attribute values.
    pub values: Vec<String>,
}

/// The vocabulary of `table`.
pub fn vocab(table: &DecisionTable) -> Vocab {
    let mut paths = vec!["/".to_string(), "/zz/top".to_string(), "/tokens?x=1".into()];
    let patterns = table
        .rules
        .iter()
        .flat_map(|r| r.paths.iter())
        .chain(table.counters.iter().flat_map(|c| c.paths.iter()));
    for p in patterns {
        let mut s = String::new();
        for seg in &p.segments {
            s.push('/');
            match seg {
                PathSeg::Literal(l) => s.push_str(l),
                PathSeg::Param(_) | PathSeg::Star => s.push_str("p1"),
                PathSeg::Rest => s.push_str("r/s"),
            }
        }
        if s.is_empty() {
            s.push('/');
        }
        if !paths.contains(&s) {
            paths.push(s);
        }
    }
    let mut values: Vec<String> = [
        "v0", "v1", "v2", "k_prod_1", "k_test_2", "10.0.0.1", "::1", "",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    fn walk(c: &Cond, out: &mut Vec<String>) {
        match c {
            Cond::Or(v) | Cond::And(v) => v.iter().for_each(|c| walk(c, out)),
            Cond::Not(c) => walk(c, out),
            Cond::Eq(_, s) | Cond::Ne(_, s) | Cond::Contains(_, s) => out.push(s.clone()),
            Cond::In(_, v) => out.extend(v.iter().cloned()),
            Cond::Regex { .. } | Cond::Present(_) => {}
        }
    }
    for c in table
        .rules
        .iter()
        .filter_map(|r| r.cond.as_ref())
        .chain(table.counters.iter().filter_map(|c| c.cond.as_ref()))
    {
        walk(c, &mut values);
    }
    values.sort();
    values.dedup();
    Vocab { paths, values }
}

type CounterKey = (usize, usize, Vec<String>);

/// The checker.
pub struct Oracle<'t> {
    table: &'t DecisionTable,
    /// Admissions (time, cost) per (rule, group, key values), in time order.
    admitted: HashMap<CounterKey, Vec<(u64, u64)>>,
    /// Penalty end per (rule, group, key values) for single-group rules.
    blocked: HashMap<CounterKey, u64>,
    last: u64,
    /// Decisions checked.
    pub decisions: u64,
    /// Admissions checked.
    pub admissions: u64,
}

impl<'t> Oracle<'t> {
    /// A checker for `table`.
    pub fn new(table: &'t DecisionTable) -> Self {
        Oracle {
            table,
            admitted: HashMap::new(),
            blocked: HashMap::new(),
            last: 0,
            decisions: 0,
            admissions: 0,
        }
    }

    /// The (rule, group, key values) that `req` applies to.
    pub fn applicable(&self, req: &Req) -> Vec<CounterKey> {
        let t = self.table;
        let mut values: Vec<Option<&str>> = vec![None; t.inputs.len()];
        for (k, v) in &req.attrs {
            if let Some(i) = t.inputs.iter().position(|n| n == k) {
                values[i] = Some(v);
            }
        }
        let path = req.path.split(['?', '#']).next().unwrap_or("");
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let bits = MethodSet::bit(&req.method).unwrap_or(1 << 15);
        let mut routed = smallvec::SmallVec::<[Target; 16]>::new();
        t.routes.lookup(bits, &segments, &mut routed);
        let mut out = Vec::new();
        for target in routed {
            let Target::Rule(ri) = target else { continue };
            let rule = &t.rules[ri as usize];
            // Rules whose charge is not simply the request's cost under its
            // attribute key (shadow rules never reject; a cost taken from an
            // attribute, counting by response status and keys taken from the
            // path need a model of their own) are left out of the check.
            if rule.shadow
                || rule.cost_attr.is_some()
                || !rule.counting.is_empty()
                || !rule.params.is_empty()
            {
                continue;
            }
            if !rule.cond.as_ref().is_none_or(|c| c.eval(&values)) {
                continue;
            }
            for (gi, g) in rule.groups.iter().enumerate() {
                let spec = &t.groups[g.0 as usize];
                let key: Option<Vec<String>> = spec
                    .attrs
                    .iter()
                    .map(|&a| values[a].map(str::to_string))
                    .collect();
                if let Some(key) = key {
                    out.push((ri as usize, gi, key));
                }
            }
        }
        out
    }

    /// Checks one decision taken at `now` on `req`.
    pub fn observe(&mut self, req: &Req, now: u64, d: &Decision<'_>) -> Result<(), String> {
        if now < self.last {
            return Err(format!("driver bug: time went back {} -> {now}", self.last));
        }
        self.last = now;
        self.decisions += 1;
        let _ = d.headers();
        let _ = d.body();
        if d.allowed() {
            if d.status() != 200 || d.retry_after_ns().is_some() || d.reason().is_some() {
                return Err(format!("inconsistent admission: {d:?}"));
            }
        } else if !(100..=599).contains(&d.status()) || d.reason().is_none() || d.rule().is_none() {
            return Err(format!("inconsistent rejection: {d:?}"));
        }
        let keys = self.applicable(req);
        if !d.allowed() {
            if d.reason() == Some(Reason::Blocked) {
                let Some(ri) = d.rule_spec().map(|r| {
                    self.table
                        .rules
                        .iter()
                        .position(|x| std::ptr::eq(x, r))
                        .unwrap_or(usize::MAX)
                }) else {
                    return Ok(());
                };
                let Some(rule) = self.table.rules.get(ri) else {
                    return Ok(());
                };
                if let (Some(p), Some(retry), 1) =
                    (rule.block_ns, d.retry_after_ns(), rule.groups.len())
                {
                    for k in keys.iter().filter(|k| k.0 == ri) {
                        let until = now.saturating_add(retry.min(p));
                        let e = self.blocked.entry(k.clone()).or_insert(0);
                        *e = (*e).max(until);
                    }
                }
            }
            return Ok(());
        }
        if self.table.overflow == Overflow::Allow || req.cost == 0 {
            // Fail-open admissions are not counted, by design; cost 0 is free.
            return Ok(());
        }
        self.admissions += 1;
        for k in keys {
            if let Some(&until) = self.blocked.get(&k) {
                if now < until {
                    return Err(format!(
                        "admitted {req:?} at {now} while {}'s penalty runs until {until}",
                        self.table.rules[k.0].id
                    ));
                }
            }
            let hist = self.admitted.entry(k.clone()).or_default();
            hist.push((now, req.cost));
            let rule = &self.table.rules[k.0];
            for w in &rule.windows {
                let n = w.limit.bound();
                let over = match (rule.algorithm, w.period) {
                    (Algorithm::Sliding, _) => {
                        let from = now.saturating_sub(w.window_ns);
                        let used: u64 = hist
                            .iter()
                            .rev()
                            .take_while(|(t, _)| *t > from || w.window_ns > now)
                            .map(|(_, c)| c)
                            .sum();
                        (used > n).then(|| format!("{used} in the {} ns before", w.window_ns))
                    }
                    (Algorithm::Fixed, Period::Nanos(len)) => {
                        let start = now / len * len;
                        let used: u64 = hist
                            .iter()
                            .rev()
                            .take_while(|(t, _)| *t >= start)
                            .map(|(_, c)| c)
                            .sum();
                        (used > n).then(|| format!("{used} in the window from {start}"))
                    }
                    (Algorithm::Fixed, Period::Months(m)) => {
                        let (k_now, _) = calendar::month_window(now, m);
                        let used: u64 = hist
                            .iter()
                            .rev()
                            .take_while(|(t, _)| calendar::month_window(*t, m).0 == k_now)
                            .map(|(_, c)| c)
                            .sum();
                        (used > n).then(|| format!("{used} in month window {k_now}"))
                    }
                    (Algorithm::Bucket, _) => {
                        let (tt, tau) = (u128::from(w.emission_ns), u128::from(w.tolerance_ns));
                        let mut sum = 0u128;
                        let mut bad = None;
                        for &(s, c) in hist.iter().rev() {
                            sum += u128::from(c);
                            if sum * tt > tau + u128::from(now - s) {
                                bad = Some(format!("{sum} in [{s}, {now}]"));
                                break;
                            }
                        }
                        bad
                    }
                    // Concurrency limits (permits) and anything newer: not
                    // a rate; the driver never holds permits.
                    #[allow(unreachable_patterns)]
                    _ => None,
                };
                if let Some(why) = over {
                    return Err(format!(
                        "rule {} ({:?}, limit {n}) over-admitted for key {:?}: {why}",
                        rule.id, rule.algorithm, k.2
                    ));
                }
            }
        }
        Ok(())
    }
}
