//! The vendor scenario corpus: every `tests/vendors/<vendor>/*.jsonl` replayed
//! through `policies/<vendor>.rl` on a fresh limiter, each expectation
//! checked. The expected values were derived by hand from the vendor
//! documents in `../shared/vendor-docs/` (see each line's `why`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlc::replay::{decision_json, parse_line, run_line};
use rlc::{Limiter, ManualClock, Policy};
use serde_json::Value;
use std::path::{Path, PathBuf};

const VENDORS: [&str; 5] = ["basiq", "basis-theory", "mangopay", "bindbee", "finch"];

fn scenario_files(vendor: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(Path::new("tests/vendors").join(vendor))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
}

/// Compares the fields present in `expect` with a replay output line.
fn mismatch(expect: &Value, actual: &Value) -> Option<String> {
    let exp = expect.as_object()?;
    for (k, e) in exp {
        let a = &actual[k];
        let ok = match k.as_str() {
            "retry_after" => match (e.as_f64(), a.as_f64()) {
                (Some(x), Some(y)) => (x - y).abs() <= 0.001,
                _ => e.is_null() && a.is_null(),
            },
            "headers" => e
                .as_object()
                .is_some_and(|h| h.iter().all(|(name, v)| a.get(name) == Some(v))),
            _ => e == a,
        };
        if !ok {
            return Some(format!("field `{k}`: expected {e}, got {a}"));
        }
    }
    None
}

fn run_scenario(policy: &Policy, file: &Path) -> Result<usize, String> {
    let limiter = Limiter::with_capacity(policy.clone(), ManualClock::new(0), 1 << 12);
    let text = std::fs::read_to_string(file).unwrap();
    let mut checked = 0;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        // The harness's own fields are not part of a trace line.
        let mut request = v.clone();
        if let Some(o) = request.as_object_mut() {
            for k in ["repeat", "step", "expect", "why"] {
                o.remove(k);
            }
        }
        let base = parse_line(&request.to_string(), i + 1)?;
        let repeat = v["repeat"].as_u64().unwrap_or(1);
        let step = v["step"].as_f64().unwrap_or(0.0);
        for r in 0..repeat {
            let mut req = base.clone();
            let at = v["at"].as_f64().unwrap() + r as f64 * step;
            req.at_ns = ((at * 1e6).round() as u64) * 1000;
            let d = run_line(&limiter, &req);
            let out = decision_json(&d);
            if let Some(expect) = v.get("expect") {
                if let Some(m) = mismatch(expect, &out) {
                    return Err(format!(
                        "{}:{} (repetition {r} at {at}): {m}\n  output: {out}\n  why: {}",
                        file.display(),
                        i + 1,
                        v["why"]
                    ));
                }
                checked += 1;
            }
        }
    }
    Ok(checked)
}

fn suite(vendor: &str) {
    let policy = Policy::from_file(format!("policies/{vendor}.rl"))
        .unwrap_or_else(|e| panic!("{}", e.render(100)));
    assert!(
        policy.warnings().is_empty(),
        "{vendor}: warnings {:?}",
        policy.warnings()
    );
    let files = scenario_files(vendor);
    assert!(
        files.len() >= 8,
        "{vendor}: {} scenarios, want at least 8",
        files.len()
    );
    let mut failures = Vec::new();
    for f in &files {
        match run_scenario(&policy, f) {
            Ok(0) => failures.push(format!("{}: no expectation checked", f.display())),
            Ok(_) => {}
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn basiq() {
    suite("basiq");
}

#[test]
fn basis_theory() {
    suite("basis-theory");
}

#[test]
fn mangopay() {
    suite("mangopay");
}

#[test]
fn bindbee() {
    suite("bindbee");
}

#[test]
fn finch() {
    suite("finch");
}

/// The harness itself can fail: a wrong expectation is caught.
#[test]
fn harness_detects_a_wrong_expectation() {
    let out = serde_json::json!({"allowed": true, "status": 200, "retry_after": null, "headers": {"A": "1"}});
    assert!(mismatch(&serde_json::json!({"allowed": false}), &out).is_some());
    assert!(mismatch(&serde_json::json!({"headers": {"A": "2"}}), &out).is_some());
    assert!(mismatch(&serde_json::json!({"retry_after": 1.0}), &out).is_some());
    assert!(mismatch(
        &serde_json::json!({"allowed": true, "headers": {"A": "1"}}),
        &out
    )
    .is_none());
    for v in VENDORS {
        assert!(Path::new("policies").join(format!("{v}.rl")).exists());
    }
}
