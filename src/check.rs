//! Stage 3: validation of the whole IR.
//!
//! In: a lowered [`ir::Policy`]. Out: the diagnostics of every rule that is
//! well-formed on its own but wrong in context: calendar months on a
//! non-`fixed` rule, `burst` without `bucket`, rates faster than the
//! evaluator's clock resolution, derived limits whose counter key the rule
//! cannot supply, duplicate rule names, bodies that are not JSON. A policy
//! whose diagnostics hold no error is ready for [`crate::compile`]. Entry
//! point: [`check`].

use crate::diag::{codes, Diagnostic, Diagnostics};
use crate::ir::{self, Algorithm, LimitExpr, Period, Piece, Var};
use std::collections::HashMap;

/// The most a `sliding` window can count (24 bits of packed state).
pub const SLIDING_MAX: u64 = (1 << 24) - 1;

/// Runs every check and returns the findings.
pub fn check(policy: &ir::Policy) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let mut names: HashMap<&str, &ir::Rule> = HashMap::new();
    for rule in &policy.rules {
        if rule.named {
            if let Some(prev) = names.insert(&rule.id, rule) {
                diags.push(
                    Diagnostic::error(
                        codes::DUPLICATE_RULE,
                        rule.id_span,
                        format!("two rules are named `{}`", rule.id),
                    )
                    .label("second rule")
                    .with_related(prev.id_span, "first rule")
                    .help("rule names are the ids decisions cite; make them unique"),
                );
            }
        }
        check_rule(policy, rule, &mut diags);
    }
    for r in &policy.responses {
        if let Some((body, span)) = &r.body {
            let filled = fill_sample(body);
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&filled) {
                diags.push(
                    Diagnostic::error(
                        codes::BAD_BODY,
                        *span,
                        format!("the body of response `{}` is not JSON", r.name),
                    )
                    .label(format!("{e}"))
                    .help(
                        "write the body as JSON; `${rule}`, `${policy}` and `${reason}` are text, put them in quotes: `\"${rule}\"`",
                    ),
                );
            }
        }
    }
    diags
}

/// A template with every placeholder replaced by a sample value of its kind,
/// to test that the result is JSON: text for `${rule}`, `${policy}` and
/// `${reason}` (so that only a quoted one passes), a number for the others.
fn fill_sample(t: &ir::Template) -> String {
    let mut s = String::new();
    for p in &t.0 {
        match p {
            Piece::Text(x) => s.push_str(x),
            Piece::Var { var, all } => match var {
                Var::Rule | Var::Policy => s.push_str("sample"),
                Var::Reason => s.push_str("rate_limited"),
                Var::Limit
                | Var::Remaining
                | Var::Used
                | Var::Window
                | Var::Reset
                | Var::ResetAfter
                | Var::RetryAfter
                | Var::Status
                | Var::Now => s.push_str(if *all { "1,2" } else { "1" }),
            },
        }
    }
    s
}

fn check_rule(policy: &ir::Policy, rule: &ir::Rule, diags: &mut Diagnostics) {
    for w in &rule.windows {
        if w.period == Period::Concurrent {
            if let LimitExpr::Min { terms, .. } = &w.limit {
                if terms.iter().any(|t| !t.counters.is_empty()) {
                    diags.push(
                        Diagnostic::error(
                            codes::DERIVED_NOT_FIXED,
                            w.span,
                            "a concurrency limit cannot read a counter",
                        )
                        .label("counter in a concurrency limit")
                        .help("counters count per window; a concurrency limit has no window"),
                    );
                }
            }
            continue;
        }
        if matches!(w.period, Period::Months(_)) && rule.algorithm != Algorithm::Fixed {
            let mut d = Diagnostic::error(
                codes::MONTH_NOT_FIXED,
                w.span,
                format!(
                    "a calendar month window needs the `fixed` algorithm, not `{}`",
                    rule.algorithm.as_str()
                ),
            )
            .label("calendar month");
            if let Some(s) = rule.algorithm_span {
                d = d.with_related(s, "algorithm chosen here");
            }
            diags.push(d.help("add `fixed` to the rule, or write the window in days (`30d`)"));
        }
        let bound = w.limit.bound();
        if bound > w.period.min_nanos() {
            diags.push(
                Diagnostic::error(
                    codes::RATE_TOO_HIGH,
                    w.span,
                    format!(
                        "a rate of {bound} per {} is more than one request per nanosecond",
                        w.period
                    ),
                )
                .label("too fast")
                .help("rlc counts time in nanoseconds; use a longer window"),
            );
        }
        if rule.algorithm == Algorithm::Sliding && w.period.min_nanos() < ir::SECOND {
            diags.push(
                Diagnostic::error(
                    codes::RATE_TOO_HIGH,
                    w.span,
                    format!("a `sliding` window must be at least 1s, not {}", w.period),
                )
                .label("window too short for `sliding`")
                .help("use `bucket` or `fixed` for sub-second windows"),
            );
        }
        if rule.algorithm == Algorithm::Sliding && bound > SLIDING_MAX {
            diags.push(
                Diagnostic::error(
                    codes::NUMBER_OVERFLOW,
                    w.span,
                    format!("a `sliding` window counts at most {SLIDING_MAX}, not {bound}"),
                )
                .label("limit too large for `sliding`")
                .help("use `fixed` or `bucket` for limits this large"),
            );
        }
        if w.period == Period::Concurrent {
            continue;
        }
        if let LimitExpr::Min { terms, .. } = &w.limit {
            let counters: Vec<usize> = terms
                .iter()
                .flat_map(|t| t.counters.iter().copied())
                .collect();
            if rule.algorithm != Algorithm::Fixed {
                let mut d = Diagnostic::error(
                    codes::DERIVED_NOT_FIXED,
                    w.span,
                    format!(
                        "a limit computed per request needs the `fixed` algorithm, not `{}`",
                        rule.algorithm.as_str()
                    ),
                )
                .label("derived limit");
                if let Some(s) = rule.algorithm_span {
                    d = d.with_related(s, "algorithm chosen here");
                }
                diags.push(d.help("counters count in fixed windows; add `fixed` so the limit and the counter share the same window"));
            }
            for &c in &counters {
                let Some(counter) = policy.counters.get(c) else {
                    continue;
                };
                for (gi, group) in rule.key.iter().enumerate() {
                    let missing: Vec<&str> = counter
                        .key
                        .iter()
                        .filter(|a| !group.contains(a))
                        .filter_map(|a| policy.inputs.get(*a).map(|i| i.name.as_str()))
                        .collect();
                    if !missing.is_empty() {
                        diags.push(
                            Diagnostic::error(
                                codes::COUNTER_KEY_MISMATCH,
                                rule.key_span.unwrap_or(w.span),
                                format!(
                                    "counter `{}` is keyed by `{}`, which key group {} of this rule lacks",
                                    counter.name,
                                    missing.join("&"),
                                    gi + 1
                                ),
                            )
                            .label("the rule's key")
                            .with_related(counter.span, "the counter")
                            .help("a derived limit reads the counter for the request's own key values; key the rule by the counter's attributes too"),
                        );
                    }
                }
                if rule.key.is_empty() && !counter.key.is_empty() {
                    diags.push(
                        Diagnostic::error(
                            codes::COUNTER_KEY_MISMATCH,
                            w.span,
                            format!(
                                "counter `{}` is keyed, but this rule has one global counter",
                                counter.name
                            ),
                        )
                        .label("derived limit")
                        .with_related(counter.span, "the counter")
                        .help("add `by` with the counter's attributes to the rule"),
                    );
                }
            }
        }
    }
    if let Some(span) = rule.tz.as_ref().and_then(|t| t.explicit) {
        if rule.algorithm != Algorithm::Fixed {
            diags.push(
                Diagnostic::error(
                    codes::TIMEZONE_NOT_FIXED,
                    span,
                    format!("a time zone aligns `fixed` windows, not `{}` ones", rule.algorithm.as_str()),
                )
                .label("time zone")
                .help("add `fixed`, or remove the time zone: sliding windows and buckets have no alignment"),
            );
        }
    }
    let concurrent = rule.windows.iter().find(|w| w.period == Period::Concurrent);
    if let Some(w) = concurrent {
        let mut misuse = Vec::new();
        if rule.block.is_some() {
            misuse.push("`block`");
        }
        if !rule.counting.is_empty() {
            misuse.push("`counting`");
        }
        if rule.burst.is_some() {
            misuse.push("`burst`");
        }
        if !misuse.is_empty() {
            diags.push(
                Diagnostic::error(
                    codes::CONCURRENCY_MISUSE,
                    w.span,
                    format!("a concurrency limit cannot be combined with {}", misuse.join(" or ")),
                )
                .label("concurrency limit")
                .with_related(rule.span, "in this rule")
                .help("a slot frees when its request finishes, not after a time; put rate windows with these options in a rule of their own"),
            );
        }
    }
    if let Some((b, span)) = rule.burst {
        if rule.algorithm != Algorithm::Bucket {
            diags.push(
                Diagnostic::error(
                    codes::BURST_NOT_BUCKET,
                    span,
                    format!(
                        "`burst` needs the `bucket` algorithm, not `{}`",
                        rule.algorithm.as_str()
                    ),
                )
                .label("burst")
                .help("add `bucket` to the rule, or remove `burst`"),
            );
        } else {
            for w in &rule.windows {
                let t = w.period.min_nanos() / w.limit.bound().max(1);
                if t.checked_mul(b).is_none_or(|x| x > 100 * 365 * ir::DAY) {
                    diags.push(
                        Diagnostic::error(
                            codes::NUMBER_OVERFLOW,
                            span,
                            format!("a burst of {b} spans more than 100 years at this rate"),
                        )
                        .label("too large")
                        .help("a burst is a number of requests; keep it near the limit"),
                    );
                }
            }
        }
    }
}
