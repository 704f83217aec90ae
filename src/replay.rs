//! `rlc replay`: a trace of requests through the evaluator on a virtual clock.
//!
//! In: JSON Lines, one request a line:
//! `{"at": 1700000000.25, "method": "POST", "path": "/tokens", "attrs": {"key": "k1"}, "cost": 1}`.
//! Out: one JSON line per input line, in order:
//! `{"allowed": false, "status": 429, "rule": "...", "retry_after": 3.5, "headers": {...}, "body": {...}}`,
//! or `{"error": "line 7: ..."}` for a line that cannot be read (the replay
//! goes on with the next line). Blank lines (only whitespace) are skipped
//! and give no output line; line numbers in errors still count them.
//!
//! Optional fields of a request line: `duration` (seconds in flight: the
//! concurrency slots it holds free at `at + duration`; without it they free
//! at once), `actual_cost` (settles the admitted request with this cost),
//! `response_status` (reported to rules that count responses). Any other
//! field is an error ([`FIELDS`] lists them). When a rule in `shadow` mode
//! applies, the output line has a `"shadow"` object.

use crate::eval::{Decision, Limiter, ManualClock, Request};
use serde_json::{json, Map, Value};

/// One request of a trace.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceLine {
    /// Time in ns since the epoch.
    pub at_ns: u64,
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Attributes.
    pub attrs: Vec<(String, String)>,
    /// Cost.
    pub cost: u64,
    /// Time in flight, ns.
    pub duration_ns: Option<u64>,
    /// Actual cost to settle with.
    pub actual_cost: Option<u64>,
    /// Status of the response.
    pub response_status: Option<u16>,
}

/// Longest trace line accepted, in bytes.
pub const MAX_LINE: usize = 1 << 20;

/// The fields of a trace line; any other is an error (a typo such as
/// `"atrs"` would otherwise leave a request without its attributes).
pub const FIELDS: [&str; 8] = [
    "at",
    "method",
    "path",
    "attrs",
    "cost",
    "duration",
    "actual_cost",
    "response_status",
];

/// Reads one trace line (1-based `lineno` for messages).
pub fn parse_line(text: &str, lineno: usize) -> Result<TraceLine, String> {
    let err = |m: String| format!("line {lineno}: {m}");
    if text.len() > MAX_LINE {
        return Err(err(format!("longer than {MAX_LINE} bytes")));
    }
    let v: Value = serde_json::from_str(text).map_err(|e| err(format!("not JSON: {e}")))?;
    let Value::Object(o) = v else {
        return Err(err("expected a JSON object".into()));
    };
    if let Some(k) = o.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        let hint = crate::diag::did_you_mean(k, FIELDS)
            .map(|f| format!(" (did you mean `{f}`?)"))
            .unwrap_or_default();
        let known: Vec<String> = FIELDS.iter().map(|f| format!("`{f}`")).collect();
        return Err(err(format!(
            "unknown field `{k}`{hint}; the fields are {}",
            known.join(", ")
        )));
    }
    let at = match o.get("at") {
        Some(Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| err("`at` is not a number".into()))?,
        Some(_) => {
            return Err(err(
                "`at` must be a number of seconds since the Unix epoch".into()
            ))
        }
        None => return Err(err("missing `at`".into())),
    };
    if !at.is_finite() || !(0.0..=1.8e10).contains(&at) {
        return Err(err(format!("`at` = {at} is outside 0..=1.8e10 seconds")));
    }
    // Microsecond resolution keeps f64 exact for any time until year 2255.
    let at_ns = ((at * 1e6).round() as u64).saturating_mul(1000);
    let string = |k: &str| -> Result<String, String> {
        match o.get(k) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(err(format!("`{k}` must be a string"))),
            None => Err(err(format!("missing `{k}`"))),
        }
    };
    let method = string("method")?;
    let path = string("path")?;
    if method.is_empty() {
        return Err(err("`method` is empty".into()));
    }
    if !path.starts_with('/') {
        return Err(err(format!("`path` must start with `/`, got {path:?}")));
    }
    let mut attrs = Vec::new();
    match o.get("attrs") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                match v {
                    Value::String(s) => attrs.push((k.clone(), s.clone())),
                    Value::Number(n) => attrs.push((k.clone(), n.to_string())),
                    Value::Bool(b) => attrs.push((k.clone(), b.to_string())),
                    Value::Null => {}
                    _ => return Err(err(format!("attribute `{k}` must be a string"))),
                }
            }
        }
        Some(_) => return Err(err("`attrs` must be an object of strings".into())),
    }
    let cost = match o.get("cost") {
        None | Some(Value::Null) => 1,
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| err(format!("`cost` must be a whole number >= 0, got {n}")))?,
        Some(_) => return Err(err("`cost` must be a number".into())),
    };
    let duration_ns = match o.get("duration") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(d) if d.is_finite() && (0.0..=1e9).contains(&d) => Some((d * 1e9).round() as u64),
            _ => {
                return Err(err(format!(
                    "`duration` must be seconds in 0..=1e9, got {n}"
                )))
            }
        },
        Some(_) => return Err(err("`duration` must be a number of seconds".into())),
    };
    let actual_cost = match o.get("actual_cost") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.as_u64().ok_or_else(|| {
            err(format!(
                "`actual_cost` must be a whole number >= 0, got {n}"
            ))
        })?),
        Some(_) => return Err(err("`actual_cost` must be a number".into())),
    };
    let response_status = match o.get("response_status") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(s) if (100..=599).contains(&s) => u16::try_from(s).ok(),
            _ => {
                return Err(err(format!(
                    "`response_status` must be an HTTP status, got {n}"
                )))
            }
        },
        Some(_) => return Err(err("`response_status` must be a number".into())),
    };
    Ok(TraceLine {
        at_ns,
        method,
        path,
        attrs,
        cost,
        duration_ns,
        actual_cost,
        response_status,
    })
}

/// Runs one request on the limiter at its time, then settles it
/// (`actual_cost`) and reports its response (`response_status`).
pub fn run_line<'l>(limiter: &'l Limiter<ManualClock>, line: &TraceLine) -> Decision<'l> {
    limiter.clock().set(line.at_ns);
    let mut req = Request::new(&line.method, &line.path).cost(line.cost);
    for (k, v) in &line.attrs {
        req = req.attr(k, v);
    }
    let mut d = limiter.check_at(&req, line.at_ns);
    if let Some(actual) = line.actual_cost {
        limiter.settle(&mut d, actual);
    }
    if let Some(status) = line.response_status {
        limiter.report_response_at(&req, status, line.at_ns);
    }
    d
}

/// A decision as a replay output object.
pub fn decision_json(d: &Decision<'_>) -> Value {
    let headers: Map<String, Value> = d
        .headers()
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let body = d
        .body()
        .map(|b| serde_json::from_str::<Value>(&b).unwrap_or(Value::String(b)));
    let mut out = json!({
        "allowed": d.allowed(),
        "status": d.status(),
        "rule": d.rule(),
        "retry_after": d.retry_after_ns().map(|ns| ns as f64 / 1e9),
        "headers": headers,
        "body": body,
    });
    if let Some(sh) = d.shadow() {
        let headers: Map<String, Value> = d
            .shadow_headers()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        out["shadow"] = json!({
            "allowed": sh.allowed,
            "rule": sh.rule.and_then(|r| d.rule_id(r)),
            "retry_after": sh.retry_after_ns.map(|ns| ns as f64 / 1e9),
            "reason": sh.reason.map(|r| r.code()),
            "headers": headers,
        });
    }
    out
}

/// Per-rule totals for `--summary`.
#[derive(Debug, Default)]
pub struct Summary {
    /// (rule id, admitted while reported, rejected) in first-seen order.
    pub rules: Vec<(String, u64, u64)>,
    /// Requests admitted.
    pub allowed: u64,
    /// Requests rejected.
    pub rejected: u64,
    /// Lines that could not be read.
    pub errors: u64,
}

impl Summary {
    /// Counts one decision.
    pub fn add(&mut self, d: &Decision<'_>) {
        if d.allowed() {
            self.allowed += 1;
        } else {
            self.rejected += 1;
        }
        let Some(rule) = d.rule() else { return };
        let ix = match self.rules.iter().position(|(r, _, _)| r == rule) {
            Some(i) => i,
            None => {
                self.rules.push((rule.to_string(), 0, 0));
                self.rules.len() - 1
            }
        };
        if d.allowed() {
            self.rules[ix].1 += 1;
        } else {
            self.rules[ix].2 += 1;
        }
    }
}

/// Reads the next line, without its `\n`, into `line`: `None` at the end,
/// `Some(true)` when the line is longer than `max` bytes, in which case the
/// rest of it is read and dropped, so that a trace of one endless line
/// (`/dev/zero`) never fills memory.
fn next_line<R: std::io::BufRead>(
    input: &mut R,
    max: usize,
    line: &mut Vec<u8>,
) -> std::io::Result<Option<bool>> {
    use std::io::{BufRead as _, Read as _};
    line.clear();
    let n = (&mut *input).take(max as u64 + 1).read_until(b'\n', line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        return Ok(Some(false));
    }
    if line.len() <= max {
        return Ok(Some(false));
    }
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                input.consume(i + 1);
                break;
            }
            None => {
                let n = buf.len();
                input.consume(n);
            }
        }
    }
    Ok(Some(true))
}

/// Runs a whole trace, writing one output line per input line (blank lines
/// are skipped). Returns the summary; `summary.errors > 0` means some lines
/// could not be read.
pub fn run<R: std::io::BufRead, W: std::io::Write>(
    limiter: &Limiter<ManualClock>,
    input: R,
    mut out: W,
) -> std::io::Result<Summary> {
    let mut summary = Summary::default();
    let mut last_at = 0u64;
    // Admitted requests still in flight: (time they finish, their permit).
    let mut in_flight: Vec<(u64, Decision<'_>)> = Vec::new();
    let mut input = input;
    let mut buf = Vec::new();
    let mut lineno = 0usize;
    while let Some(too_long) = next_line(&mut input, MAX_LINE, &mut buf)? {
        lineno += 1;
        if too_long {
            summary.errors += 1;
            let e = format!("line {lineno}: longer than {MAX_LINE} bytes");
            writeln!(out, "{}", json!({ "error": e }))?;
            continue;
        }
        let line: &[u8] = &buf;
        let text = match std::str::from_utf8(line) {
            Ok(t) => t.trim(),
            Err(_) => {
                summary.errors += 1;
                writeln!(
                    out,
                    "{}",
                    json!({"error": format!("line {lineno}: not UTF-8")})
                )?;
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        let parsed = parse_line(text, lineno).and_then(|l| {
            if l.at_ns < last_at {
                Err(format!(
                    "line {lineno}: `at` goes back in time (trace lines must be in time order)"
                ))
            } else {
                Ok(l)
            }
        });
        match parsed {
            Ok(l) => {
                last_at = l.at_ns;
                // Requests that finished by now give their slots back.
                in_flight.retain(|(end, _)| *end > l.at_ns);
                let d = run_line(limiter, &l);
                summary.add(&d);
                writeln!(out, "{}", decision_json(&d))?;
                if let Some(dur) = l.duration_ns.filter(|_| d.slots_held() > 0) {
                    in_flight.push((l.at_ns.saturating_add(dur), d));
                }
            }
            Err(e) => {
                summary.errors += 1;
                writeln!(out, "{}", json!({ "error": e }))?;
            }
        }
    }
    Ok(summary)
}
