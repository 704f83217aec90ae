//! `rlc replay` on arbitrary bytes: `replay::run` over a fixed policy, and
//! `parse_line` on every line. Never a panic; one output line (valid JSON)
//! per non-blank input line; unreadable lines become `{"error": ...}`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rlc::{replay, Limiter, ManualClock, Policy};

const POLICY: &str = include_str!("../../policies/basis-theory.rl");

fn policy() -> Policy {
    static P: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
    P.get_or_init(|| Policy::from_str("basis-theory.rl", POLICY).expect("the vendor policy compiles"))
        .clone()
}

fuzz_target!(|data: &[u8]| {
    let policy = policy();
    let limiter = Limiter::with_capacity(policy, ManualClock::new(0), 256);
    let mut out = Vec::new();
    let summary = replay::run(&limiter, data, &mut out).expect("writing to a Vec cannot fail");
    let mut expected = 0;
    for (i, line) in data.split(|&b| b == b'\n').enumerate() {
        match std::str::from_utf8(line) {
            Ok(t) if t.trim().is_empty() => {}
            Ok(t) => {
                expected += 1;
                if let Err(e) = replay::parse_line(t.trim(), i + 1) {
                    assert!(e.starts_with(&format!("line {}: ", i + 1)), "{e}");
                }
            }
            Err(_) => expected += 1,
        }
    }
    let text = std::str::from_utf8(&out).expect("replay writes UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), expected, "one output line per input line");
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).expect("replay writes JSON");
        assert!(v.is_object(), "not a JSON object: {l}");
    }
    assert_eq!(
        summary.allowed + summary.rejected + summary.errors,
        expected as u64
    );
});
