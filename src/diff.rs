//! `rlc diff`: what changes between two versions of a policy, in words.
//!
//! In: two compiled [`DecisionTable`]s. Out: a [`PolicyDiff`] decided on the
//! tables, not on the text (reformatting and comments change nothing):
//! rules are matched by name, and rules without a name (or renamed) by their
//! methods, paths and key; for each matched rule, which windows get stricter
//! or looser (compared as rates N/W over the same window), which endpoints
//! it now covers or no longer covers, and changes of key, condition,
//! algorithm, time zone, burst, penalty, status and response; rules added
//! and dropped; and changes of responses, header sets, counters and
//! defaults. Entry point: [`diff`].
//!
//! Rule order counts only where it breaks a tie: when two rules reject a
//! request with the same retry-after (or admit it with the same remaining),
//! the first in the file is reported. Two rules that swapped places are a
//! change when one request can match both and they answer differently
//! (rejection status or response); other reorderings change nothing.

use crate::analyze::{path_contains, paths_overlap, Pred, Solver, Test};
use crate::compile::{Cond, DecisionTable, Limit, RuleSpec, WindowSpec};
use crate::ir::{Algorithm, Period};
use serde::Serialize;
use serde_json::{json, Value};

/// Which way a change moves the limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Fewer requests admitted, or more requests limited.
    Stricter,
    /// More requests admitted, or fewer requests limited.
    Looser,
    /// Some stricter, some looser.
    Mixed,
    /// A change that admits the same requests (status, response, a rewritten
    /// condition with the same meaning...).
    Neutral,
}

impl Effect {
    fn word(self) -> &'static str {
        match self {
            Effect::Stricter => "stricter",
            Effect::Looser => "looser",
            Effect::Mixed => "mixed",
            Effect::Neutral => "no change in limits",
        }
    }

    fn combine(effects: impl IntoIterator<Item = Effect>) -> Effect {
        let (mut s, mut l) = (false, false);
        for e in effects {
            match e {
                Effect::Stricter => s = true,
                Effect::Looser => l = true,
                Effect::Mixed => {
                    s = true;
                    l = true;
                }
                Effect::Neutral => {}
            }
        }
        match (s, l) {
            (true, true) => Effect::Mixed,
            (true, false) => Effect::Stricter,
            (false, true) => Effect::Looser,
            (false, false) => Effect::Neutral,
        }
    }
}

/// One change.
#[derive(Clone, Debug, Serialize)]
pub struct Change {
    /// What changed (`window 1h`, `paths`, `algorithm`...).
    pub what: String,
    /// Before, in the policy's words; `None` when added.
    pub old: Option<String>,
    /// After; `None` when removed.
    pub new: Option<String>,
    /// Which way it moves the limits.
    pub effect: Effect,
    /// A sentence about it.
    pub note: String,
}

/// How a rule changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleStatus {
    /// Only in the new policy.
    Added,
    /// Only in the old policy.
    Dropped,
    /// In both, different.
    Changed,
}

/// One rule's difference.
#[derive(Clone, Debug, Serialize)]
pub struct RuleDiff {
    /// Its id in the new policy (the old one for a dropped rule).
    pub id: String,
    /// Its id in the old policy, when it differs.
    pub old_id: Option<String>,
    /// Added, dropped or changed.
    pub status: RuleStatus,
    /// `POST /tokens | /tokenize when ...`.
    pub endpoint: String,
    /// `per key&ip`, or `one global counter`.
    pub key: String,
    /// Its limits, `200/10s sliding`.
    pub limits: String,
    /// All changes together.
    pub effect: Effect,
    /// The changes, for a changed rule.
    pub changes: Vec<Change>,
}

/// Everything that differs between two policies.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyDiff {
    /// The old file.
    pub old: String,
    /// The new file.
    pub new: String,
    /// Rules added, dropped or changed, in the new policy's order (dropped
    /// rules last).
    pub rules: Vec<RuleDiff>,
    /// Changes outside rules (responses, headers, counters, defaults).
    pub policy: Vec<Change>,
}

impl PolicyDiff {
    /// True when the two policies decide every request alike.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.policy.is_empty()
    }

    /// As JSON: `{"changed", "old", "new", "rules", "policy", "summary"}`.
    pub fn to_json(&self) -> Value {
        json!({
            "changed": !self.is_empty(),
            "old": self.old,
            "new": self.new,
            "rules": self.rules,
            "policy": self.policy,
            "summary": self.summary(),
        })
    }

    /// One line: how many rules got stricter, looser...
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return "no semantic change".to_string();
        }
        let count = |f: &dyn Fn(&RuleDiff) -> bool| self.rules.iter().filter(|r| f(r)).count();
        let mut parts = Vec::new();
        for (n, what) in [
            (count(&|r| r.status == RuleStatus::Added), "added"),
            (count(&|r| r.status == RuleStatus::Dropped), "dropped"),
            (
                count(&|r| r.status == RuleStatus::Changed && r.effect == Effect::Stricter),
                "stricter",
            ),
            (
                count(&|r| r.status == RuleStatus::Changed && r.effect == Effect::Looser),
                "looser",
            ),
            (
                count(&|r| r.status == RuleStatus::Changed && r.effect == Effect::Mixed),
                "mixed",
            ),
            (
                count(&|r| r.status == RuleStatus::Changed && r.effect == Effect::Neutral),
                "changed without a change in limits",
            ),
        ] {
            if n > 0 {
                parts.push(format!("{n} rule{} {what}", if n == 1 { "" } else { "s" }));
            }
        }
        if !self.policy.is_empty() {
            let n = self.policy.len();
            parts.push(format!("{n} other change{}", if n == 1 { "" } else { "s" }));
        }
        parts.join(", ")
    }

    /// In words.
    pub fn to_text(&self) -> String {
        let mut s = format!("{} -> {}\n", self.old, self.new);
        if self.is_empty() {
            s.push_str("no semantic change\n");
            return s;
        }
        if !self.rules.is_empty() {
            s.push_str("\nrules\n");
        }
        for r in &self.rules {
            let (mark, what) = match r.status {
                RuleStatus::Added => ("+", "added".to_string()),
                RuleStatus::Dropped => ("-", "dropped".to_string()),
                RuleStatus::Changed => ("~", r.effect.word().to_string()),
            };
            let renamed = match &r.old_id {
                Some(o) => format!(" (was {o})"),
                None => String::new(),
            };
            s.push_str(&format!(
                "  {mark} {}{renamed}: {}, {}: {what}\n",
                r.id, r.endpoint, r.key
            ));
            match r.status {
                RuleStatus::Added => s.push_str(&format!("      now limited to {}\n", r.limits)),
                RuleStatus::Dropped => {
                    s.push_str(&format!("      no longer limited to {}\n", r.limits))
                }
                RuleStatus::Changed => {
                    for c in &r.changes {
                        s.push_str(&format!("      {}\n", c.note));
                    }
                }
            }
        }
        if !self.policy.is_empty() {
            s.push_str("\npolicy\n");
            for c in &self.policy {
                s.push_str(&format!("  {}\n", c.note));
            }
        }
        s.push_str(&format!("\n{}\n", self.summary()));
        s
    }
}

fn limit_text(l: &Limit, t: &DecisionTable) -> String {
    match l {
        Limit::Const(n) => n.to_string(),
        Limit::Min { terms, cap } => {
            let mut parts: Vec<String> = terms
                .iter()
                .map(|term| {
                    let mut f = Vec::new();
                    if term.factor != 1 {
                        f.push(term.factor.to_string());
                    }
                    f.extend(term.counters.iter().map(|c| {
                        t.counters
                            .get(*c)
                            .map_or("?".to_string(), |c| c.name.clone())
                    }));
                    f.extend(
                        term.attrs
                            .iter()
                            .map(|a| t.inputs.get(*a).cloned().unwrap_or_default()),
                    );
                    f.join(" * ")
                })
                .collect();
            parts.push(cap.to_string());
            format!("min({})", parts.join(", "))
        }
    }
}

fn window_text(w: &WindowSpec, t: &DecisionTable) -> String {
    match w.period {
        Period::Concurrent => format!("{} concurrent", limit_text(&w.limit, t)),
        p => format!("{}/{p}", limit_text(&w.limit, t)),
    }
}

fn limits_text(r: &RuleSpec, t: &DecisionTable) -> String {
    let ws: Vec<String> = r.windows.iter().map(|w| window_text(w, t)).collect();
    format!("{} {}", ws.join(", "), r.algorithm.as_str())
}

/// Where a rule's fixed windows are aligned: a zone name (`UTC` without
/// one), or the attribute naming a zone per request and its fallback.
fn tz_text(r: &RuleSpec, t: &DecisionTable) -> String {
    let zone =
        r.tz.and_then(|z| z.zone)
            .map_or("UTC", |z| z.name())
            .to_string();
    match r.tz.and_then(|z| z.attr) {
        Some(a) => format!(
            "`{}` (else {zone})",
            t.inputs.get(a).cloned().unwrap_or_default()
        ),
        None => zone,
    }
}

fn key_groups(r: &RuleSpec, t: &DecisionTable) -> Vec<Vec<String>> {
    r.groups
        .iter()
        .filter_map(|g| t.groups.get(g.0 as usize))
        .map(|g| {
            let mut v: Vec<String> = g
                .attrs
                .iter()
                .map(|a| t.inputs.get(*a).cloned().unwrap_or_default())
                .collect();
            v.sort();
            v
        })
        .collect()
}

fn key_text(r: &RuleSpec, t: &DecisionTable) -> String {
    // As written (not sorted, unlike `key_groups`).
    let groups: Vec<Vec<String>> = r
        .groups
        .iter()
        .filter_map(|g| t.groups.get(g.0 as usize))
        .map(|g| {
            g.attrs
                .iter()
                .map(|a| t.inputs.get(*a).cloned().unwrap_or_default())
                .collect()
        })
        .collect();
    if groups.iter().all(Vec::is_empty) {
        "one global counter".to_string()
    } else {
        format!(
            "per {}",
            groups
                .iter()
                .map(|g| g.join("&"))
                .collect::<Vec<_>>()
                .join(" | ")
        )
    }
}

fn endpoint(r: &RuleSpec, t: &DecisionTable) -> String {
    let mut s = format!(
        "{} {}",
        r.methods.describe(),
        r.paths
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    if let Some(c) = &r.cond {
        s.push_str(&format!(
            " when {}",
            crate::explain::cond_text(c, &t.inputs)
        ));
    }
    s
}

/// The condition as a [`Pred`] over attribute names.
fn pred(c: &Cond, inputs: &[String]) -> Pred {
    let name = |a: &usize| inputs.get(*a).cloned().unwrap_or_default();
    let atom = |a: &usize, t: Test| Pred::Atom(name(a), t);
    match c {
        Cond::Or(v) => Pred::Or(v.iter().map(|x| pred(x, inputs)).collect()),
        Cond::And(v) => Pred::And(v.iter().map(|x| pred(x, inputs)).collect()),
        Cond::Not(x) => Pred::Not(Box::new(pred(x, inputs))),
        Cond::Eq(a, v) => atom(a, Test::Eq(v.clone())),
        Cond::Ne(a, v) => Pred::Not(Box::new(atom(a, Test::Eq(v.clone())))),
        Cond::Contains(a, v) => atom(a, Test::Contains(v.clone())),
        Cond::Regex {
            attr,
            pattern,
            negate,
        } => {
            let p = atom(attr, Test::Match(pattern.0.as_str().to_string()));
            if *negate {
                Pred::Not(Box::new(p))
            } else {
                p
            }
        }
        Cond::In(a, vs) => atom(a, Test::In(vs.clone())),
        Cond::Present(a) => atom(a, Test::Present),
    }
}

fn rule_pred(r: &RuleSpec, t: &DecisionTable) -> Pred {
    r.cond
        .as_ref()
        .map_or(Pred::And(Vec::new()), |c| pred(c, &t.inputs))
}

/// True for the `FILE:LINE` id of a rule without a name (names cannot hold `:`).
fn unnamed(r: &RuleSpec) -> bool {
    r.id.contains(':')
}

fn signature(r: &RuleSpec, t: &DecisionTable) -> (u16, Vec<String>, Vec<Vec<String>>) {
    let mut paths: Vec<String> = r.paths.iter().map(|p| p.to_string()).collect();
    paths.sort();
    let mut key = key_groups(r, t);
    key.sort();
    (r.methods.0, paths, key)
}

/// Compares two compiled policies.
pub fn diff(old: &DecisionTable, new: &DecisionTable) -> PolicyDiff {
    let mut solver = Solver::new();
    let mut old_used = vec![false; old.rules.len()];
    let mut pairs: Vec<(usize, Option<usize>)> = Vec::new();
    for (ni, nr) in new.rules.iter().enumerate() {
        let m = (!unnamed(nr))
            .then(|| {
                old.rules
                    .iter()
                    .enumerate()
                    .position(|(oi, or)| !old_used[oi] && !unnamed(or) && or.id == nr.id)
            })
            .flatten();
        if let Some(oi) = m {
            old_used[oi] = true;
        }
        pairs.push((ni, m));
    }
    // Then rules without a name, or renamed: by methods, paths and key.
    for pair in pairs.iter_mut() {
        if pair.1.is_some() {
            continue;
        }
        let Some(nr) = new.rules.get(pair.0) else {
            continue;
        };
        let sig = signature(nr, new);
        let m = old.rules.iter().enumerate().position(|(oi, or)| {
            !old_used[oi]
                && (unnamed(or) || unnamed(nr) || !new.rules.iter().any(|x| x.id == or.id))
                && signature(or, old) == sig
        });
        if let Some(oi) = m {
            old_used[oi] = true;
            pair.1 = Some(oi);
        }
    }
    let mut moved = order_changes(new, &pairs, &mut solver);
    let mut rules = Vec::new();
    for (ni, oi) in pairs {
        let Some(nr) = new.rules.get(ni) else {
            continue;
        };
        match oi.and_then(|oi| old.rules.get(oi)) {
            None => rules.push(RuleDiff {
                id: nr.id.clone(),
                old_id: None,
                status: RuleStatus::Added,
                endpoint: endpoint(nr, new),
                key: key_text(nr, new),
                limits: limits_text(nr, new),
                effect: Effect::Stricter,
                changes: Vec::new(),
            }),
            Some(or) => {
                let mut changes = rule_changes(or, old, nr, new, &mut solver);
                if let Some(m) = moved.get_mut(ni) {
                    changes.append(m);
                }
                let renamed = or.id != nr.id && !(unnamed(or) && unnamed(nr));
                if changes.is_empty() && !renamed {
                    continue;
                }
                rules.push(RuleDiff {
                    id: nr.id.clone(),
                    old_id: renamed.then(|| or.id.clone()),
                    status: RuleStatus::Changed,
                    endpoint: endpoint(nr, new),
                    key: key_text(nr, new),
                    limits: limits_text(nr, new),
                    effect: Effect::combine(changes.iter().map(|c| c.effect)),
                    changes,
                });
            }
        }
    }
    for (oi, or) in old.rules.iter().enumerate() {
        if old_used[oi] {
            continue;
        }
        rules.push(RuleDiff {
            id: or.id.clone(),
            old_id: None,
            status: RuleStatus::Dropped,
            endpoint: endpoint(or, old),
            key: key_text(or, old),
            limits: limits_text(or, old),
            effect: Effect::Looser,
            changes: Vec::new(),
        });
    }
    PolicyDiff {
        old: old.file.clone(),
        new: new.file.clone(),
        rules,
        policy: policy_changes(old, new),
    }
}

/// The rule's response, its own or the policy default, by name.
fn response_name(r: &RuleSpec, t: &DecisionTable) -> Option<String> {
    r.response
        .or(t.default_response)
        .and_then(|i| t.responses.get(i))
        .map(|x| x.name.clone())
}

/// Reorderings that can change an answer, by the new index of the rule now
/// first of each pair. File order breaks ties (the rejection with the
/// largest retry-after, the admission with the least remaining), so two
/// matched rules that swapped places matter when one request can match both
/// (methods, paths and conditions overlap), both enforced or both in shadow
/// mode, and they answer differently in the new policy (rejection status or
/// response; a change of either is reported on its own rule too). Ties
/// between rules that answer alike are not reported, though the `rule` of
/// the decision (and `${rule}`, `${limit}`...) can then name the other rule.
fn order_changes(
    new: &DecisionTable,
    pairs: &[(usize, Option<usize>)],
    solver: &mut Solver,
) -> Vec<Vec<Change>> {
    let mut out: Vec<Vec<Change>> = vec![Vec::new(); new.rules.len()];
    let matched: Vec<(usize, usize)> = pairs
        .iter()
        .filter_map(|&(ni, oi)| oi.map(|oi| (ni, oi)))
        .collect();
    let answer = |r: &RuleSpec, t: &DecisionTable| (r.status, response_name(r, t));
    for (x, &(na, oa)) in matched.iter().enumerate() {
        for &(nb, ob) in matched.iter().skip(x + 1) {
            // `na` is before `nb` in the new file; was it after in the old?
            if na > nb || oa < ob {
                continue;
            }
            let (Some(a), Some(b)) = (new.rules.get(na), new.rules.get(nb)) else {
                continue;
            };
            if answer(a, new) == answer(b, new)
                || a.shadow != b.shadow
                || a.methods.0 & b.methods.0 == 0
                || !a
                    .paths
                    .iter()
                    .any(|p| b.paths.iter().any(|q| paths_overlap(p, q)))
                || !solver.satisfiable(&Pred::And(vec![rule_pred(a, new), rule_pred(b, new)]))
            {
                continue;
            }
            let mut what = Vec::new();
            if a.status != b.status {
                what.push(format!("status {} instead of {}", a.status, b.status));
            }
            let (ra, rb) = (response_name(a, new), response_name(b, new));
            if ra != rb {
                let show = |x: Option<String>| x.unwrap_or_else(|| "(none)".to_string());
                what.push(format!("response {} instead of {}", show(ra), show(rb)));
            }
            if let Some(v) = out.get_mut(na) {
                v.push(change(
                    "order",
                    Some(format!("after {}", b.id)),
                    Some(format!("before {}", b.id)),
                    Effect::Neutral,
                    format!(
                        "now before {} (was after): on a tie between them this rule is the one reported, so {}",
                        b.id,
                        what.join(" and ")
                    ),
                ));
            }
        }
    }
    out
}

fn change(
    what: &str,
    old: Option<String>,
    new: Option<String>,
    effect: Effect,
    note: String,
) -> Change {
    Change {
        what: what.to_string(),
        old,
        new,
        effect,
        note,
    }
}

fn rule_changes(
    or: &RuleSpec,
    ot: &DecisionTable,
    nr: &RuleSpec,
    nt: &DecisionTable,
    solver: &mut Solver,
) -> Vec<Change> {
    let mut out = Vec::new();
    // Endpoints: methods and paths. Matching more requests limits more.
    if or.methods != nr.methods {
        let (o, n) = (or.methods.0, nr.methods.0);
        let effect = if n & o == o {
            Effect::Stricter
        } else if n & o == n {
            Effect::Looser
        } else {
            Effect::Mixed
        };
        out.push(change(
            "methods",
            Some(or.methods.describe()),
            Some(nr.methods.describe()),
            effect,
            format!(
                "methods {} -> {}: {}",
                or.methods.describe(),
                nr.methods.describe(),
                match effect {
                    Effect::Stricter => "limits more requests",
                    Effect::Looser => "limits fewer requests",
                    _ => "limits other requests",
                }
            ),
        ));
    }
    for p in &nr.paths {
        if !or.paths.iter().any(|q| path_contains(q, p)) {
            out.push(change(
                "paths",
                None,
                Some(p.to_string()),
                Effect::Stricter,
                format!("now also limits {p}"),
            ));
        }
    }
    for p in &or.paths {
        if !nr.paths.iter().any(|q| path_contains(q, p)) {
            out.push(change(
                "paths",
                Some(p.to_string()),
                None,
                Effect::Looser,
                format!("no longer limits {p}"),
            ));
        }
    }
    // Condition.
    let (oc, nc) = (
        or.cond
            .as_ref()
            .map(|c| crate::explain::cond_text(c, &ot.inputs)),
        nr.cond
            .as_ref()
            .map(|c| crate::explain::cond_text(c, &nt.inputs)),
    );
    if oc != nc {
        let (op, np) = (rule_pred(or, ot), rule_pred(nr, nt));
        let wider = solver.implies(&op, &np);
        let narrower = solver.implies(&np, &op);
        let effect = match (wider, narrower) {
            (true, true) => Effect::Neutral,
            (true, false) => Effect::Stricter,
            (false, true) => Effect::Looser,
            (false, false) => Effect::Mixed,
        };
        let show = |c: &Option<String>| c.clone().unwrap_or_else(|| "(none)".to_string());
        out.push(change(
            "condition",
            oc.clone(),
            nc.clone(),
            effect,
            format!(
                "condition {} -> {}: {}",
                show(&oc),
                show(&nc),
                match effect {
                    Effect::Neutral => "the same requests",
                    Effect::Stricter => "applies to more requests",
                    Effect::Looser => "applies to fewer requests",
                    Effect::Mixed => "applies to other requests",
                }
            ),
        ));
    }
    // Key: a coarser key shares one counter among more requests.
    let (ok, nk) = (key_groups(or, ot), key_groups(nr, nt));
    let same = |a: &Vec<Vec<String>>, b: &Vec<Vec<String>>| a.iter().all(|g| b.contains(g));
    if !(same(&ok, &nk) && same(&nk, &ok)) {
        let subset = |a: &Vec<String>, b: &Vec<String>| a.iter().all(|x| b.contains(x));
        let coarser = |a: &Vec<Vec<String>>, b: &Vec<Vec<String>>| {
            b.iter().all(|gb| a.iter().any(|ga| subset(ga, gb)))
        };
        let effect = match (coarser(&nk, &ok), coarser(&ok, &nk)) {
            (true, false) => Effect::Stricter,
            (false, true) => Effect::Looser,
            _ => Effect::Mixed,
        };
        out.push(change(
            "key",
            Some(key_text(or, ot)),
            Some(key_text(nr, nt)),
            effect,
            format!(
                "key {} -> {}: {}",
                key_text(or, ot),
                key_text(nr, nt),
                match effect {
                    Effect::Stricter => "fewer, shared counters",
                    Effect::Looser => "more, separate counters",
                    _ => "counted differently",
                }
            ),
        ));
    }
    windows(or, ot, nr, nt, &mut out);
    if or.algorithm != nr.algorithm {
        let effect = match (or.algorithm, nr.algorithm) {
            (Algorithm::Sliding, Algorithm::Fixed) => Effect::Looser,
            (Algorithm::Fixed, Algorithm::Sliding) => Effect::Stricter,
            _ => Effect::Mixed,
        };
        out.push(change(
            "algorithm",
            Some(or.algorithm.as_str().to_string()),
            Some(nr.algorithm.as_str().to_string()),
            effect,
            format!(
                "algorithm {} -> {}{}",
                or.algorithm.as_str(),
                nr.algorithm.as_str(),
                match effect {
                    Effect::Looser =>
                        ": fixed windows let up to twice the limit through across a window edge",
                    Effect::Stricter => ": no more bursts across window edges",
                    _ => ": a different shape of burst",
                }
            ),
        ));
    }
    // Time zone: where fixed windows (and calendar months) start. Only
    // fixed windows have one; a change of algorithm is reported above.
    if or.algorithm == Algorithm::Fixed && nr.algorithm == Algorithm::Fixed {
        let (oz, nz) = (tz_text(or, ot), tz_text(nr, nt));
        if oz != nz {
            out.push(change(
                "timezone",
                Some(oz.clone()),
                Some(nz.clone()),
                Effect::Mixed,
                format!(
                    "time zone {oz} -> {nz}: fixed windows start at other instants, so a request can be admitted under one and rejected under the other"
                ),
            ));
        }
    }
    if or.burst != nr.burst
        && or.algorithm == Algorithm::Bucket
        && nr.algorithm == Algorithm::Bucket
    {
        let cap = |r: &RuleSpec| {
            r.burst
                .or_else(|| r.windows.first().map(|w| w.limit.bound()))
                .unwrap_or(0)
        };
        let (o, n) = (cap(or), cap(nr));
        let effect = match n.cmp(&o) {
            std::cmp::Ordering::Less => Effect::Stricter,
            std::cmp::Ordering::Greater => Effect::Looser,
            std::cmp::Ordering::Equal => Effect::Neutral,
        };
        out.push(change(
            "burst",
            Some(o.to_string()),
            Some(n.to_string()),
            effect,
            format!("burst {o} -> {n}"),
        ));
    }
    if or.block_ns != nr.block_ns {
        let show = |b: Option<u64>| {
            b.map_or("throttle".to_string(), |b| {
                format!("block {}", crate::ir::format_nanos(b))
            })
        };
        let effect = match (or.block_ns, nr.block_ns) {
            (None, Some(_)) => Effect::Stricter,
            (Some(_), None) => Effect::Looser,
            (Some(a), Some(b)) if b > a => Effect::Stricter,
            _ => Effect::Looser,
        };
        out.push(change(
            "penalty",
            Some(show(or.block_ns)),
            Some(show(nr.block_ns)),
            effect,
            format!(
                "over the limit: {} -> {}",
                show(or.block_ns),
                show(nr.block_ns)
            ),
        ));
    }
    if or.shadow != nr.shadow {
        let effect = if nr.shadow {
            Effect::Looser
        } else {
            Effect::Stricter
        };
        out.push(change(
            "shadow",
            Some(or.shadow.to_string()),
            Some(nr.shadow.to_string()),
            effect,
            if nr.shadow {
                "now in shadow mode: decided and reported, never enforced".to_string()
            } else {
                "now enforced (was in shadow mode)".to_string()
            },
        ));
    }
    if or.status != nr.status {
        out.push(change(
            "status",
            Some(or.status.to_string()),
            Some(nr.status.to_string()),
            Effect::Neutral,
            format!("rejection status {} -> {}", or.status, nr.status),
        ));
    }
    let resp = response_name;
    if resp(or, ot) != resp(nr, nt) {
        let show = |x: Option<String>| x.unwrap_or_else(|| "(none)".to_string());
        out.push(change(
            "response",
            resp(or, ot),
            resp(nr, nt),
            Effect::Neutral,
            format!("response {} -> {}", show(resp(or, ot)), show(resp(nr, nt))),
        ));
    }
    let attr = |a: Option<usize>, t: &DecisionTable| a.and_then(|a| t.inputs.get(a).cloned());
    if attr(or.cost_attr, ot) != attr(nr.cost_attr, nt) {
        let show = |x: Option<String>| x.map_or("1 per request".to_string(), |a| format!("`{a}`"));
        out.push(change(
            "cost",
            attr(or.cost_attr, ot),
            attr(nr.cost_attr, nt),
            Effect::Mixed,
            format!(
                "cost {} -> {}",
                show(attr(or.cost_attr, ot)),
                show(attr(nr.cost_attr, nt))
            ),
        ));
    }
    let mut oc: Vec<u16> = or.counting.clone();
    let mut nc: Vec<u16> = nr.counting.clone();
    oc.sort_unstable();
    nc.sort_unstable();
    if oc != nc {
        let show = |v: &[u16]| {
            if v.is_empty() {
                "every admitted request".to_string()
            } else {
                v.iter().map(u16::to_string).collect::<Vec<_>>().join("|")
            }
        };
        out.push(change(
            "counting",
            Some(show(&oc)),
            Some(show(&nc)),
            Effect::Mixed,
            format!("counts {} -> {}", show(&oc), show(&nc)),
        ));
    }
    out
}

/// Rate of a window as a fraction N/W (W in ns, months as 28 days).
fn rate(w: &WindowSpec) -> (u128, u128) {
    (
        u128::from(w.limit.bound()),
        u128::from(w.period.min_nanos().max(1)),
    )
}

fn windows(
    or: &RuleSpec,
    ot: &DecisionTable,
    nr: &RuleSpec,
    nt: &DecisionTable,
    out: &mut Vec<Change>,
) {
    let mut removed: Vec<&WindowSpec> = Vec::new();
    let mut added: Vec<&WindowSpec> = nr
        .windows
        .iter()
        .filter(|w| !or.windows.iter().any(|o| o.period == w.period))
        .collect();
    for ow in &or.windows {
        let Some(nw) = nr.windows.iter().find(|w| w.period == ow.period) else {
            removed.push(ow);
            continue;
        };
        let (ol, nl) = (limit_text(&ow.limit, ot), limit_text(&nw.limit, nt));
        if ol == nl {
            continue;
        }
        let effect = match (&ow.limit, &nw.limit) {
            (Limit::Const(a), Limit::Const(b)) if b < a => Effect::Stricter,
            (Limit::Const(a), Limit::Const(b)) if b > a => Effect::Looser,
            _ if nw.limit.bound() < ow.limit.bound() => Effect::Stricter,
            _ if nw.limit.bound() > ow.limit.bound() => Effect::Looser,
            _ => Effect::Mixed,
        };
        let per = match ow.period {
            Period::Concurrent => "in flight at once".to_string(),
            p => format!("per {p}"),
        };
        out.push(change(
            &format!("window {}", ow.period),
            Some(window_text(ow, ot)),
            Some(window_text(nw, nt)),
            effect,
            format!("{ol} -> {nl} {per}: {}", effect.word()),
        ));
    }
    // One window replaced by one of another length: compare the rates.
    if let ([ow], [nw]) = (removed.as_slice(), added.as_slice()) {
        if ow.period != Period::Concurrent && nw.period != Period::Concurrent {
            use std::cmp::Ordering::{Equal, Greater, Less};
            let ((on, ol), (nn, nl)) = (rate(ow), rate(nw));
            let (effect, why) = match ((nn * ol).cmp(&(on * nl)), nn.cmp(&on)) {
                (Less, Less | Equal) => (Effect::Stricter, "a lower rate, and no larger bursts"),
                (Equal, Less) => (
                    Effect::Stricter,
                    "the same sustained rate, in smaller bursts",
                ),
                (Greater, Greater | Equal) => {
                    (Effect::Looser, "a higher rate, and no smaller bursts")
                }
                (Equal, Greater) => (Effect::Looser, "the same sustained rate, in larger bursts"),
                (Less, Greater) => (Effect::Mixed, "a lower sustained rate, but larger bursts"),
                (Greater, Less) => (Effect::Mixed, "a higher sustained rate, but smaller bursts"),
                (Equal, Equal) => (Effect::Neutral, "the same rate"),
            };
            out.push(change(
                "window",
                Some(window_text(ow, ot)),
                Some(window_text(nw, nt)),
                effect,
                format!(
                    "{} -> {}: {why} ({})",
                    window_text(ow, ot),
                    window_text(nw, nt),
                    effect.word()
                ),
            ));
            removed.clear();
            added.clear();
        }
    }
    for w in removed {
        out.push(change(
            "window",
            Some(window_text(w, ot)),
            None,
            Effect::Looser,
            format!("window {} removed: looser", window_text(w, ot)),
        ));
    }
    for w in added {
        out.push(change(
            "window",
            None,
            Some(window_text(w, nt)),
            Effect::Stricter,
            format!("window {} added: stricter", window_text(w, nt)),
        ));
    }
}

fn by_name<'a, T>(items: &'a [T], name: impl Fn(&T) -> &str, wanted: &str) -> Option<&'a T> {
    items.iter().find(|x| name(x) == wanted)
}

fn policy_changes(old: &DecisionTable, new: &DecisionTable) -> Vec<Change> {
    let mut out = Vec::new();
    let neutral = |what: &str, o: Option<String>, n: Option<String>, note: String| {
        change(what, o, n, Effect::Neutral, note)
    };
    // A policy without `policy NAME` is named after its file: not a change.
    let stem = |t: &DecisionTable| {
        std::path::Path::new(&t.file)
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
    };
    let declared = |t: &DecisionTable| stem(t).as_deref() != Some(t.policy.as_str());
    if old.policy != new.policy && (declared(old) || declared(new)) {
        out.push(neutral(
            "name",
            Some(old.policy.clone()),
            Some(new.policy.clone()),
            format!("policy name {} -> {}", old.policy, new.policy),
        ));
    }
    if old.overflow != new.overflow {
        let show = |o: crate::ir::Overflow| format!("{o:?}").to_lowercase();
        let effect = match new.overflow {
            crate::ir::Overflow::Allow => Effect::Looser,
            crate::ir::Overflow::Reject => Effect::Stricter,
        };
        out.push(change(
            "overflow",
            Some(show(old.overflow)),
            Some(show(new.overflow)),
            effect,
            format!(
                "when the key store is full: {} -> {}",
                show(old.overflow),
                show(new.overflow)
            ),
        ));
    }
    let resp_name = |t: &DecisionTable, i: Option<usize>| {
        i.and_then(|i| t.responses.get(i)).map(|r| r.name.clone())
    };
    let (od, nd) = (
        resp_name(old, old.default_response),
        resp_name(new, new.default_response),
    );
    if od != nd {
        out.push(neutral(
            "default response",
            od.clone(),
            nd.clone(),
            format!(
                "default response {} -> {}",
                od.unwrap_or_else(|| "(none)".into()),
                nd.unwrap_or_else(|| "(none)".into())
            ),
        ));
    }
    // Responses, header sets and counters by name, compared as JSON.
    let header_name = |t: &DecisionTable, i: Option<usize>| {
        i.and_then(|i| t.header_sets.get(i)).map(|h| h.name.clone())
    };
    let resp_json = |t: &DecisionTable, r: &crate::compile::ResponseSpec| json!({"status": r.status, "headers": header_name(t, r.headers), "body": r.body});
    for r in &new.responses {
        match by_name(&old.responses, |x| &x.name, &r.name) {
            None => out.push(neutral(
                "response",
                None,
                Some(r.name.clone()),
                format!("response {} added", r.name),
            )),
            Some(o) => {
                let (a, b) = (resp_json(old, o), resp_json(new, r));
                for field in ["status", "headers", "body"] {
                    if a[field] != b[field] {
                        out.push(neutral(
                            "response",
                            Some(a[field].to_string()),
                            Some(b[field].to_string()),
                            format!("response {}: {field} {} -> {}", r.name, a[field], b[field]),
                        ));
                    }
                }
            }
        }
    }
    for r in &old.responses {
        if by_name(&new.responses, |x| &x.name, &r.name).is_none() {
            out.push(neutral(
                "response",
                Some(r.name.clone()),
                None,
                format!("response {} removed", r.name),
            ));
        }
    }
    let lines =
        |h: &crate::compile::HeaderSetSpec| serde_json::to_value(&h.lines).unwrap_or(Value::Null);
    for h in &new.header_sets {
        match by_name(&old.header_sets, |x| &x.name, &h.name) {
            None => out.push(neutral(
                "headers",
                None,
                Some(h.name.clone()),
                format!("header set {} added", h.name),
            )),
            Some(o) if lines(o) != lines(h) => out.push(neutral(
                "headers",
                Some(o.name.clone()),
                Some(h.name.clone()),
                format!("header set {}: lines changed", h.name),
            )),
            Some(_) => {}
        }
    }
    for h in &old.header_sets {
        if by_name(&new.header_sets, |x| &x.name, &h.name).is_none() {
            out.push(neutral(
                "headers",
                Some(h.name.clone()),
                None,
                format!("header set {} removed", h.name),
            ));
        }
    }
    let counter_json = |t: &DecisionTable, c: &crate::compile::CounterSpec| {
        let key: Vec<String> = t
            .groups
            .get(c.group.0 as usize)
            .map(|g| {
                g.attrs
                    .iter()
                    .map(|a| t.inputs.get(*a).cloned().unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default();
        json!({
            "methods": c.methods.describe(),
            "paths": c.paths.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            "when": c.cond.as_ref().map(|x| crate::explain::cond_text(x, &t.inputs)),
            "key": key,
            "period": c.period.to_string(),
        })
    };
    for c in &new.counters {
        match by_name(&old.counters, |x| &x.name, &c.name) {
            None => out.push(neutral(
                "counter",
                None,
                Some(c.name.clone()),
                format!("counter {} added", c.name),
            )),
            Some(o) => {
                let (a, b) = (counter_json(old, o), counter_json(new, c));
                for field in ["methods", "paths", "when", "key", "period"] {
                    if a[field] != b[field] {
                        out.push(change(
                            "counter",
                            Some(a[field].to_string()),
                            Some(b[field].to_string()),
                            Effect::Mixed,
                            format!(
                                "counter {}: {field} {} -> {} (changes the derived limits that read it)",
                                c.name, a[field], b[field]
                            ),
                        ));
                    }
                }
            }
        }
    }
    for c in &old.counters {
        if by_name(&new.counters, |x| &x.name, &c.name).is_none() {
            out.push(neutral(
                "counter",
                Some(c.name.clone()),
                None,
                format!("counter {} removed", c.name),
            ));
        }
    }
    out
}
