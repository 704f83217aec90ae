//! Headers and bodies, rendered from a [`Decision`] only when asked.

use super::algo::WindowReport;
use super::Decision;
use crate::ir::{Phase, Piece, Template, Var};
use std::fmt::Write as _;

const NS: u64 = 1_000_000_000;

fn ceil_secs(ns: u64) -> u64 {
    ns.div_ceil(NS)
}

/// What a template is filled from: the decision, or its shadow verdict.
struct View<'a> {
    rule: &'a str,
    windows: &'a [WindowReport],
    window: usize,
    retry_after_ns: Option<u64>,
    reason: Option<&'static str>,
    status: u16,
}

fn main_view<'a>(d: &'a Decision<'_>) -> View<'a> {
    View {
        rule: d.rule().unwrap_or(""),
        windows: d.windows(),
        window: d.window_index(),
        retry_after_ns: d.retry_after_ns(),
        reason: d.reason().map(|r| r.code()),
        status: d.status(),
    }
}

/// The response of a rule (its own, else the policy default).
fn response<'t>(
    d: &Decision<'t>,
    rule: &'t crate::compile::RuleSpec,
) -> Option<&'t crate::compile::ResponseSpec> {
    let t = d.table();
    rule.response
        .or(t.default_response)
        .and_then(|i| t.responses.get(i))
}

/// Fills a template from the decision.
pub fn fill(d: &Decision<'_>, t: &Template) -> String {
    fill_view(d, &main_view(d), t)
}

fn fill_view(d: &Decision<'_>, v: &View<'_>, t: &Template) -> String {
    let mut out = String::new();
    for p in &t.0 {
        match p {
            Piece::Text(s) => out.push_str(s),
            Piece::Var { var, all } => {
                if *all {
                    for i in 0..v.windows.len() {
                        if i > 0 {
                            out.push(',');
                        }
                        value(d, v, *var, i, &mut out);
                    }
                } else {
                    value(d, v, *var, v.window, &mut out);
                }
            }
        }
    }
    out
}

fn value(d: &Decision<'_>, v: &View<'_>, var: Var, window: usize, out: &mut String) {
    let w = v.windows.get(window).copied().unwrap_or_default();
    let now = d.now();
    let _ = match var {
        Var::Limit => write!(out, "{}", w.limit),
        Var::Remaining => write!(out, "{}", w.remaining),
        Var::Used => write!(out, "{}", w.used),
        Var::Window => write!(out, "{}", ceil_secs(w.window_ns)),
        Var::Reset => write!(out, "{}", ceil_secs(w.reset_ns.max(now))),
        Var::ResetAfter => write!(out, "{}", ceil_secs(w.reset_ns.saturating_sub(now))),
        Var::RetryAfter => write!(out, "{}", v.retry_after_ns.map_or(0, ceil_secs)),
        Var::Rule => write!(out, "{}", v.rule),
        Var::Policy => write!(out, "{}", d.table().policy),
        Var::Status => write!(out, "{}", v.status),
        Var::Now => write!(out, "{}", now / NS),
        Var::Reason => write!(out, "{}", v.reason.unwrap_or("")),
    };
}

fn lines<'t>(
    d: &Decision<'t>,
    rule: &'t crate::compile::RuleSpec,
    allowed: bool,
) -> impl Iterator<Item = &'t (String, Template, Phase)> {
    let t = d.table();
    response(d, rule)
        .and_then(|r| r.headers)
        .and_then(|i| t.header_sets.get(i))
        .into_iter()
        .flat_map(|set| set.lines.iter())
        .filter(move |(_, _, phase)| match phase {
            Phase::Any => true,
            Phase::Reject => !allowed,
            Phase::Allow => allowed,
        })
}

/// The headers of the reported rule's response for this decision.
pub fn headers(d: &Decision<'_>) -> Vec<(String, String)> {
    let Some(rule) = d.rule_spec() else {
        return Vec::new();
    };
    let view = main_view(d);
    lines(d, rule, d.allowed())
        .map(|(name, tpl, _)| (name.clone(), fill_view(d, &view, tpl)))
        .collect()
}

/// The rejection body, if the response has one.
pub fn body(d: &Decision<'_>) -> Option<String> {
    if d.allowed() {
        return None;
    }
    let resp = response(d, d.rule_spec()?)?;
    resp.body.as_ref().map(|t| fill(d, t))
}

/// The shadow rule's header set, each name prefixed with the policy's
/// `shadow_prefix`, with values for the shadow verdict.
pub fn shadow_headers(d: &Decision<'_>) -> Vec<(String, String)> {
    let t = d.table();
    let (Some(prefix), Some(sh)) = (t.shadow_prefix.as_deref(), d.shadow()) else {
        return Vec::new();
    };
    let Some(rule) = sh.rule.and_then(|r| t.rules.get(r.0 as usize)) else {
        return Vec::new();
    };
    let view = View {
        rule: rule.id.as_str(),
        windows: &sh.windows,
        window: sh.window,
        retry_after_ns: sh.retry_after_ns,
        reason: sh.reason.map(|r| r.code()),
        status: if sh.allowed { 200 } else { rule.status },
    };
    lines(d, rule, sh.allowed)
        .map(|(name, tpl, _)| (format!("{prefix}{name}"), fill_view(d, &view, tpl)))
        .collect()
}
