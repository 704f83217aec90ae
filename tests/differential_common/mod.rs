//! What the differential tests (`fast_paths.rs`, `keyed.rs`) share: the
//! comparison of two decisions, field by field, and the proptest
//! configuration (`PROPTEST_CASES=N` scales it).

use proptest::prelude::*;
use proptest::test_runner::Config;
use rlc::Decision;

/// Two decisions agree on everything a caller can read: verdict, status,
/// rule, reason, retry, window figures, headers and body.
pub fn same(a: &Decision<'_>, b: &Decision<'_>, step: usize) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.allowed(), b.allowed(), "allowed, step {}", step);
    prop_assert_eq!(a.status(), b.status(), "status, step {}", step);
    prop_assert_eq!(a.rule(), b.rule(), "rule, step {}", step);
    prop_assert_eq!(a.reason(), b.reason(), "reason, step {}", step);
    prop_assert_eq!(
        a.retry_after_ns(),
        b.retry_after_ns(),
        "retry, step {}",
        step
    );
    prop_assert_eq!(a.windows(), b.windows(), "windows, step {}", step);
    prop_assert_eq!(a.window_index(), b.window_index(), "window, step {}", step);
    prop_assert_eq!(a.headers(), b.headers(), "headers, step {}", step);
    prop_assert_eq!(a.body(), b.body(), "body, step {}", step);
    Ok(())
}

/// 96 cases unless `PROPTEST_CASES` says otherwise; no regression files.
pub fn cases() -> Config {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(96);
    Config {
        cases: n,
        failure_persistence: None,
        ..Config::default()
    }
}
