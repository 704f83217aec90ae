//! `rlc explain`: a compiled policy in plain words, and why a given request
//! is admitted or not.
//!
//! In: a [`DecisionTable`] (and optionally a request). Out: text that reads
//! like a vendor's limits table, or the same as JSON.

use crate::compile::{Cond, DecisionTable, GroupSpec, Limit, Owner, RuleSpec, Target};
use crate::eval::{Limiter, ManualClock, Request};
use crate::ir::{format_nanos, Algorithm, MethodSet, Period};
use serde_json::{json, Value};

/// A condition in the policy's own syntax.
pub fn cond_text(c: &Cond, inputs: &[String]) -> String {
    let name = |a: &usize| inputs.get(*a).map_or("?", String::as_str).to_string();
    match c {
        Cond::Or(v) => v
            .iter()
            .map(|c| paren(c, inputs))
            .collect::<Vec<_>>()
            .join(" or "),
        Cond::And(v) => v
            .iter()
            .map(|c| paren(c, inputs))
            .collect::<Vec<_>>()
            .join(" and "),
        Cond::Not(x) => format!("not {}", paren(x, inputs)),
        Cond::Eq(a, v) => format!("{} == {v:?}", name(a)),
        Cond::Ne(a, v) => format!("{} != {v:?}", name(a)),
        Cond::Contains(a, v) => format!("{} contains {v:?}", name(a)),
        Cond::Regex {
            attr,
            pattern,
            negate,
        } => format!(
            "{} {} {:?}",
            name(attr),
            if *negate { "!~" } else { "=~" },
            pattern.0.as_str()
        ),
        Cond::In(a, vs) => format!(
            "{} in ({})",
            name(a),
            vs.iter()
                .map(|v| format!("{v:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Cond::Present(a) => name(a),
    }
}

fn paren(c: &Cond, inputs: &[String]) -> String {
    match c {
        Cond::Or(_) | Cond::And(_) => format!("({})", cond_text(c, inputs)),
        _ => cond_text(c, inputs),
    }
}

/// Why a condition is false for these values: the first failing test of an
/// `and`, every alternative of an `or`.
pub fn why_false(c: &Cond, inputs: &[String], values: &[Option<&str>]) -> String {
    let show = |a: &usize| {
        let n = inputs.get(*a).map_or("?", String::as_str);
        match values.get(*a).copied().flatten() {
            Some(v) => format!("{n} is {v:?}"),
            None => format!("{n} is absent"),
        }
    };
    match c {
        Cond::And(v) => v
            .iter()
            .find(|x| !x.eval(values))
            .map_or_else(|| cond_text(c, inputs), |x| why_false(x, inputs, values)),
        Cond::Or(v) => v
            .iter()
            .map(|x| why_false(x, inputs, values))
            .collect::<Vec<_>>()
            .join("; "),
        Cond::Eq(a, _)
        | Cond::Ne(a, _)
        | Cond::Contains(a, _)
        | Cond::In(a, _)
        | Cond::Present(a) => {
            format!("`{}` is false: {}", cond_text(c, inputs), show(a))
        }
        Cond::Regex { attr, .. } => format!("`{}` is false: {}", cond_text(c, inputs), show(attr)),
        _ => format!("`{}` is false", cond_text(c, inputs)),
    }
}

/// `by key&ip|ip`, or `global`.
pub fn key_text(rule: &RuleSpec, table: &DecisionTable) -> String {
    let groups: Vec<String> = rule
        .groups
        .iter()
        .filter_map(|g| table.groups.get(g.0 as usize))
        .map(|g| attrs_text(g, table))
        .collect();
    if groups.iter().all(String::is_empty) {
        "one global counter".into()
    } else {
        format!("per {}", groups.join(" | "))
    }
}

fn attrs_text(g: &GroupSpec, table: &DecisionTable) -> String {
    g.attrs
        .iter()
        .map(|a| table.inputs.get(*a).map_or("?", String::as_str))
        .collect::<Vec<_>>()
        .join("&")
}

fn limit_text(l: &Limit, table: &DecisionTable) -> String {
    match l {
        Limit::Const(n) => n.to_string(),
        Limit::Min { terms, cap } => {
            let mut parts: Vec<String> = terms
                .iter()
                .map(|t| {
                    let mut f: Vec<String> = Vec::new();
                    if t.factor != 1 {
                        f.push(t.factor.to_string());
                    }
                    f.extend(t.counters.iter().map(|c| {
                        table
                            .counters
                            .get(*c)
                            .map_or("?".into(), |c| c.name.clone())
                    }));
                    f.extend(
                        t.attrs
                            .iter()
                            .map(|a| table.inputs.get(*a).map_or("?".into(), |a| a.clone())),
                    );
                    f.join(" * ")
                })
                .collect();
            parts.push(cap.to_string());
            format!("min({})", parts.join(", "))
        }
    }
}

fn period_text(p: Period) -> String {
    match p {
        Period::Months(1) => "calendar month (UTC)".into(),
        Period::Months(m) => format!("{m} calendar months (UTC)"),
        Period::Nanos(n) => format_nanos(n),
        Period::Concurrent => "in flight at once".into(),
    }
}

/// One rule in words.
pub fn rule_text(rule: &RuleSpec, table: &DecisionTable) -> String {
    let paths = rule
        .paths
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(" | ");
    let mut s = format!("{} {}", rule.methods.describe(), paths);
    if let Some(c) = &rule.cond {
        s.push_str(&format!(" when {}", cond_text(c, &table.inputs)));
    }
    s.push_str(&format!(", {}: ", key_text(rule, table)));
    let windows: Vec<String> = rule
        .windows
        .iter()
        .map(|w| {
            format!(
                "{} per {}",
                limit_text(&w.limit, table),
                period_text(w.period)
            )
        })
        .collect();
    s.push_str(&windows.join(", "));
    s.push_str(&format!(" ({}", rule.algorithm.as_str()));
    if let Some(b) = rule.burst {
        s.push_str(&format!(", burst {b}"));
    }
    if rule.windows.len() > 1 {
        if let Some(b) = binds_text(rule, table) {
            s.push_str(&format!(", binds: {b}"));
        }
    }
    s.push(')');
    match rule.block_ns {
        Some(b) => s.push_str(&format!(
            "; over the limit: blocked for {}",
            format_nanos(b)
        )),
        None => s.push_str("; over the limit: throttled"),
    }
    if let Some(a) = rule.cost_attr {
        s.push_str(&format!(
            "; each request counts its `{}`",
            table.inputs.get(a).map_or("?", String::as_str)
        ));
    }
    if !rule.counting.is_empty() {
        let st: Vec<String> = rule.counting.iter().map(u16::to_string).collect();
        s.push_str(&format!(
            "; counts only responses with status {}",
            st.join(" or ")
        ));
    }
    if rule.shadow {
        s.push_str("; SHADOW: decided and reported, never enforced");
    }
    if let Some(tz) = &rule.tz {
        let zone = tz.zone.map_or("UTC", |z| z.name());
        match tz.attr.and_then(|a| table.inputs.get(a)) {
            Some(attr) => s.push_str(&format!(
                "; windows aligned on the time zone named by `{attr}` (else {zone})"
            )),
            None => s.push_str(&format!("; windows aligned on {zone} local time")),
        }
    }
    s.push_str(&format!(", status {}", rule.status));
    if let Some(r) = rule
        .response
        .or(table.default_response)
        .and_then(|i| table.responses.get(i))
    {
        s.push_str(&format!(", response `{}`", r.name));
    }
    s
}

/// The window that binds at the rule's sustained maximum rate, in words.
fn binds_text(rule: &RuleSpec, table: &DecisionTable) -> Option<String> {
    let w = crate::analyze::binding_window(&rule.windows).and_then(|i| rule.windows.get(i))?;
    Some(format!(
        "{} per {}",
        limit_text(&w.limit, table),
        period_text(w.period)
    ))
}

fn group_owner(g: &GroupSpec, table: &DecisionTable) -> String {
    match g.owner {
        Owner::Rule(r, _) => format!(
            "rule {}",
            table.rules.get(r.0 as usize).map_or("?", |r| r.id.as_str())
        ),
        Owner::Counter(c) => format!(
            "counter {}",
            table
                .counters
                .get(c as usize)
                .map_or("?", |c| c.name.as_str())
        ),
    }
}

/// The whole policy in words.
pub fn policy_text(table: &DecisionTable) -> String {
    let mut s = format!(
        "policy {} ({}): {} rule{}, {} counter{}, {} counter group{}\n\nEvery matching rule applies; a request is rejected if any one rejects it.\n\nrules\n",
        table.policy,
        table.file,
        table.rules.len(),
        plural(table.rules.len()),
        table.counters.len(),
        plural(table.counters.len()),
        table.groups.len(),
        plural(table.groups.len()),
    );
    let width = table.rules.iter().map(|r| r.id.len()).max().unwrap_or(0);
    for r in &table.rules {
        s.push_str(&format!("  {:width$}  {}\n", r.id, rule_text(r, table)));
    }
    if !table.counters.is_empty() {
        s.push_str("\ncounters (counted, never limiting)\n");
        for c in &table.counters {
            let paths = c
                .paths
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(" | ");
            let g = table.groups.get(c.group.0 as usize);
            s.push_str(&format!(
                "  {}  {} {}{}, per {}, per {} (fixed)\n",
                c.name,
                c.methods.describe(),
                paths,
                c.cond.as_ref().map_or(String::new(), |x| format!(
                    " when {}",
                    cond_text(x, &table.inputs)
                )),
                g.map_or(String::new(), |g| attrs_text(g, table)),
                period_text(c.period),
            ));
        }
    }
    s.push_str("\ncounter slots\n");
    for (i, g) in table.groups.iter().enumerate() {
        let key = attrs_text(g, table);
        s.push_str(&format!(
            "  group {i:<3} {:<40} key {:<16} {} word{} ({} bytes per key), idle keys expire after {}\n",
            group_owner(g, table),
            if key.is_empty() { "(global)".to_string() } else { key },
            g.words,
            plural(g.words as usize),
            8 * (1 + g.words),
            format_nanos(g.horizon_ns.div_ceil(crate::ir::SECOND) * crate::ir::SECOND),
        ));
    }
    let notes = crate::analyze::cardinality_notes(table);
    if !notes.is_empty() {
        s.push_str("\nnotes\n");
        for n in notes {
            s.push_str(&format!("  {n}\n"));
        }
    }
    s
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The policy as JSON.
pub fn policy_json(table: &DecisionTable) -> Value {
    json!({
        "policy": table.policy,
        "file": table.file,
        "rules": table.rules.iter().map(|r| json!({
            "id": r.id,
            "line": r.line,
            "text": rule_text(r, table),
            "methods": r.methods.describe(),
            "paths": r.paths.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            "when": r.cond.as_ref().map(|c| cond_text(c, &table.inputs)),
            "key": r.groups.iter().filter_map(|g| table.groups.get(g.0 as usize)).map(|g| attrs_text(g, table)).collect::<Vec<_>>(),
            "windows": r.windows.iter().map(|w| json!({
                "limit": limit_text(&w.limit, table),
                "window": period_text(w.period),
                "algorithm": w.algorithm,
            })).collect::<Vec<_>>(),
            "binds": binds_text(r, table),
            "block": r.block_ns.map(format_nanos),
            "status": r.status,
            "shadow": r.shadow,
            "counting": r.counting,
            "cost_attribute": r.cost_attr.and_then(|a| table.inputs.get(a)),
        })).collect::<Vec<_>>(),
        "counters": table.counters.iter().map(|c| json!({
            "name": c.name,
            "window": period_text(c.period),
        })).collect::<Vec<_>>(),
        "groups": table.groups.iter().enumerate().map(|(i, g)| json!({
            "group": i,
            "owner": group_owner(g, table),
            "key": attrs_text(g, table),
            "words": g.words,
            "bytes_per_key": 8 * (1 + g.words),
            "horizon_seconds": g.horizon_ns.div_ceil(crate::ir::SECOND),
        })).collect::<Vec<_>>(),
        "notes": crate::analyze::cardinality_notes(table),
    })
}

/// A request parsed from `METHOD /path name=value ...`.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Attributes.
    pub attrs: Vec<(String, String)>,
}

/// Parses `POST /tokens key=k1 ip=10.0.0.1` (values may be double-quoted).
pub fn parse_request(s: &str) -> Result<RequestSpec, String> {
    let mut words = s.split_whitespace();
    let method = words
        .next()
        .ok_or("empty request: expected `METHOD /path name=value ...`")?;
    let path = words
        .next()
        .ok_or("missing path: expected `METHOD /path name=value ...`")?;
    if !path.starts_with('/') {
        return Err(format!("path `{path}` must start with `/`"));
    }
    let mut attrs = Vec::new();
    for w in words {
        let (k, v) = w
            .split_once('=')
            .ok_or_else(|| format!("`{w}` is not `name=value`"))?;
        if k.is_empty() {
            return Err(format!("`{w}` has no attribute name"));
        }
        attrs.push((k.to_string(), v.trim_matches('"').to_string()));
    }
    Ok(RequestSpec {
        method: method.to_ascii_uppercase(),
        path: path.to_string(),
        attrs,
    })
}

/// Why each rule does or does not apply to a request, and the decision a
/// fresh limiter would make for it at `now`.
pub fn request_json(policy: &crate::Policy, req: &RequestSpec, now: u64) -> Value {
    let table = policy.table();
    let t = &*table;
    let mut values: Vec<Option<&str>> = vec![None; t.inputs.len()];
    let mut unknown = Vec::new();
    for (k, v) in &req.attrs {
        match t.inputs.iter().position(|n| n == k) {
            // A path parameter comes from the path, never by name (as in
            // the evaluator).
            Some(i) if t.params.get(i).copied().unwrap_or(false) => {}
            Some(i) => values[i] = Some(v),
            None => unknown.push(k.clone()),
        }
    }
    let path = req.path.split(['?', '#']).next().unwrap_or("");
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let bits = MethodSet::bit(&req.method).unwrap_or(1 << 15);
    let mut routed = smallvec::SmallVec::<[Target; 16]>::new();
    t.routes.lookup(u16::MAX, &segs, &mut routed);
    let mut rules = Vec::new();
    for (ri, r) in t.rules.iter().enumerate() {
        let path_ok = routed.contains(&Target::Rule(ri as u32));
        let (applies, why, counters) = if !path_ok {
            (
                false,
                format!(
                    "path `{path}` does not match {}",
                    r.paths
                        .iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
                vec![],
            )
        } else if !r.methods.contains_bits(bits) {
            (
                false,
                format!("method {} is not {}", req.method, r.methods.describe()),
                vec![],
            )
        } else if let Some(c) = r.cond.as_ref().filter(|c| !c.eval(&values)) {
            (false, why_false(c, &t.inputs, &values), vec![])
        } else if !r.fill_params(&segs, &mut values) {
            (
                false,
                format!("path `{path}` does not match a pattern of the rule"),
                vec![],
            )
        } else {
            let mut touched = Vec::new();
            let mut absent = Vec::new();
            for g in &r.groups {
                let Some(gs) = t.groups.get(g.0 as usize) else {
                    continue;
                };
                let missing: Vec<&str> = gs
                    .attrs
                    .iter()
                    .filter(|a| values[**a].is_none())
                    .map(|a| t.inputs[*a].as_str())
                    .collect();
                if missing.is_empty() {
                    let key: Vec<String> = gs
                        .attrs
                        .iter()
                        .map(|a| format!("{}={}", t.inputs[*a], values[*a].unwrap_or("")))
                        .collect();
                    for w in &r.windows {
                        touched.push(json!({
                            "group": g.0,
                            "key": if key.is_empty() { "(global)".to_string() } else { key.join("&") },
                            "window": format!("{} per {} ({})", limit_text(&w.limit, t), period_text(w.period), w.algorithm.as_str()),
                        }));
                    }
                } else {
                    absent.push(missing.join(", "));
                }
            }
            if touched.is_empty() {
                (
                    false,
                    format!("key attribute absent: {}", absent.join("; ")),
                    vec![],
                )
            } else {
                (true, "matches".to_string(), touched)
            }
        };
        rules.push(json!({
            "rule": r.id,
            "applies": applies,
            "why": why,
            "counters": counters,
        }));
    }
    let limiter = Limiter::with_capacity(policy.clone(), ManualClock::new(now), 16);
    let mut request = Request::new(&req.method, &req.path);
    for (k, v) in &req.attrs {
        request = request.attr(k, v);
    }
    let d = limiter.check_at(&request, now);
    json!({
        "request": format!("{} {}", req.method, req.path),
        "unknown_attributes": unknown,
        "rules": rules,
        "decision": crate::replay::decision_json(&d),
    })
}

/// [`request_json`] in words.
pub fn request_text(v: &Value) -> String {
    let mut s = format!("request {}\n", v["request"].as_str().unwrap_or(""));
    if let Some(u) = v["unknown_attributes"].as_array().filter(|u| !u.is_empty()) {
        let names: Vec<&str> = u.iter().filter_map(Value::as_str).collect();
        s.push_str(&format!(
            "  note: the policy does not read {}\n",
            names.join(", ")
        ));
    }
    let rules = v["rules"].as_array().cloned().unwrap_or_default();
    let width = rules
        .iter()
        .filter_map(|r| r["rule"].as_str())
        .map(str::len)
        .max()
        .unwrap_or(0);
    s.push_str("\napplies\n");
    for r in rules.iter().filter(|r| r["applies"] == true) {
        let name = r["rule"].as_str().unwrap_or("");
        for (i, c) in r["counters"].as_array().into_iter().flatten().enumerate() {
            s.push_str(&format!(
                "  {:width$}  {}, counter {}\n",
                if i == 0 { name } else { "" },
                c["window"].as_str().unwrap_or(""),
                c["key"].as_str().unwrap_or("")
            ));
        }
    }
    if !rules.iter().any(|r| r["applies"] == true) {
        s.push_str("  (none: the request is not limited)\n");
    }
    s.push_str("\ndoes not apply\n");
    if rules.iter().all(|r| r["applies"] == true) {
        s.push_str("  (none)\n");
    }
    for r in rules.iter().filter(|r| r["applies"] != true) {
        s.push_str(&format!(
            "  {:width$}  {}\n",
            r["rule"].as_str().unwrap_or(""),
            r["why"].as_str().unwrap_or("")
        ));
    }
    let d = &v["decision"];
    s.push_str(&format!(
        "\ndecision on a fresh limiter: {} (status {}){}\n",
        if d["allowed"] == true {
            "allowed"
        } else {
            "rejected"
        },
        d["status"],
        match d["rule"].as_str() {
            Some(r) => format!(", reported rule {r}"),
            None => String::new(),
        }
    ));
    if let Some(h) = d["headers"].as_object().filter(|h| !h.is_empty()) {
        s.push_str("headers\n");
        for (k, v) in h {
            s.push_str(&format!("  {k}: {}\n", v.as_str().unwrap_or("")));
        }
    }
    s
}

/// Keeps `Algorithm` in the public signature set of this module for docs.
pub fn algorithm_words(a: Algorithm) -> &'static str {
    match a {
        Algorithm::Sliding => "never more than N in any interval of length W",
        Algorithm::Fixed => "at most N per aligned window",
        Algorithm::Bucket => "token bucket: bursts up to its capacity, refilled at N per W",
    }
}
