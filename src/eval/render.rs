//! Headers and bodies, rendered from a [`Decision`] only when asked.

use super::Decision;
use crate::ir::{Phase, Piece, Template, Var};
use std::fmt::Write as _;

const NS: u64 = 1_000_000_000;

fn ceil_secs(ns: u64) -> u64 {
    ns.div_ceil(NS)
}

/// The response of the reported rule (its own, else the policy default).
fn response<'t>(d: &Decision<'t>) -> Option<&'t crate::compile::ResponseSpec> {
    let t = d.table();
    let rule = d.rule_spec()?;
    rule.response
        .or(t.default_response)
        .and_then(|i| t.responses.get(i))
}

/// Fills a template.
pub fn fill(d: &Decision<'_>, t: &Template) -> String {
    let mut out = String::new();
    for p in &t.0 {
        match p {
            Piece::Text(s) => out.push_str(s),
            Piece::Var { var, all } => {
                if *all {
                    for (i, _) in d.windows().iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        value(d, *var, i, &mut out);
                    }
                } else {
                    value(d, *var, d.window_index(), &mut out);
                }
            }
        }
    }
    out
}

fn value(d: &Decision<'_>, var: Var, window: usize, out: &mut String) {
    let w = d.windows().get(window).copied().unwrap_or_default();
    let now = d.now();
    let _ = match var {
        Var::Limit => write!(out, "{}", w.limit),
        Var::Remaining => write!(
            out,
            "{}",
            if d.allowed() {
                w.remaining
            } else if window == d.window_index() {
                0
            } else {
                w.remaining
            }
        ),
        Var::Used => write!(out, "{}", w.used),
        Var::Window => write!(out, "{}", ceil_secs(w.window_ns)),
        Var::Reset => write!(out, "{}", ceil_secs(w.reset_ns.max(now))),
        Var::ResetAfter => write!(out, "{}", ceil_secs(w.reset_ns.saturating_sub(now))),
        Var::RetryAfter => write!(out, "{}", d.retry_after_ns().map_or(0, ceil_secs)),
        Var::Rule => write!(out, "{}", d.rule().unwrap_or("")),
        Var::Policy => write!(out, "{}", d.table().policy),
        Var::Status => write!(out, "{}", d.status()),
        Var::Now => write!(out, "{}", now / NS),
    };
}

/// The headers of the reported rule's response for this decision.
pub fn headers(d: &Decision<'_>) -> Vec<(String, String)> {
    let Some(resp) = response(d) else {
        return Vec::new();
    };
    let Some(set) = resp.headers.and_then(|i| d.table().header_sets.get(i)) else {
        return Vec::new();
    };
    set.lines
        .iter()
        .filter(|(_, _, phase)| match phase {
            Phase::Any => true,
            Phase::Reject => !d.allowed(),
            Phase::Allow => d.allowed(),
        })
        .map(|(name, tpl, _)| (name.clone(), fill(d, tpl)))
        .collect()
}

/// The rejection body, if the response has one.
pub fn body(d: &Decision<'_>) -> Option<String> {
    if d.allowed() {
        return None;
    }
    let resp = response(d)?;
    resp.body.as_ref().map(|t| fill(d, t))
}
