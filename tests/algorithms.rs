//! The guarantee of each algorithm, checked with proptest against reference
//! models, plus all-or-nothing, penalties, retry-after, derived limits,
//! calendar months and time that goes backwards.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use rlc::{Limiter, ManualClock, Policy, Request};

const S: u64 = 1_000_000_000;
/// 2023-11-14T22:13:20Z, an arbitrary start.
const T0: u64 = 1_700_000_000 * S;

fn limiter(text: &str) -> Limiter<ManualClock> {
    let p = Policy::from_str("t.rl", text).unwrap_or_else(|e| panic!("{}", e.render(100)));
    Limiter::with_capacity(p, ManualClock::new(0), 64)
}

fn req(key: &str) -> Request<'_> {
    Request::new("GET", "/x").attr("k", key)
}

/// Arrival offsets (ns after T0, sorted) and costs.
fn arrivals(max_gap: u64, n: usize) -> impl Strategy<Value = Vec<(u64, u64)>> {
    prop::collection::vec((0..max_gap, 1u64..4), 1..n).prop_map(|v| {
        let mut t = 0;
        v.into_iter()
            .map(|(gap, c)| {
                t += gap;
                (t, c)
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct("tests/algorithms.proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    /// sliding: never more than N in any interval of length W; and it admits
    /// whenever even the longest lookback (W plus one granule) has room.
    #[test]
    fn sliding_never_exceeds_n_in_any_window(arr in arrivals(2 * S, 300), n in 1u64..20) {
        let w = 8 * S; // granule 1 s
        let l = limiter(&format!("input k\nGET /x by k: {n}/8s sliding\n"));
        let mut admitted: Vec<(u64, u64)> = Vec::new();
        for &(t, c) in &arr {
            let now = T0 + t;
            let in_lookback: u64 = admitted.iter().filter(|(a, _)| *a + w + S > now).map(|(_, c)| c).sum();
            let d = l.check_at(&req("a").cost(c), now);
            if d.allowed() {
                admitted.push((now, c));
            } else if in_lookback + c <= n {
                prop_assert!(false, "rejected at {t} with only {in_lookback} in W+g, cost {c}, limit {n}");
            }
        }
        for (i, &(ti, _)) in admitted.iter().enumerate() {
            let sum: u64 = admitted[..=i].iter().filter(|(a, _)| *a + w > ti).map(|(_, c)| c).sum();
            prop_assert!(sum <= n, "{sum} admitted in the {w} ns ending at {ti}");
        }
    }

    /// fixed: at most N per aligned window, and exactly the model's decisions.
    #[test]
    fn fixed_matches_the_model(arr in arrivals(3 * S, 300), n in 1u64..20) {
        let w = 10 * S;
        let l = limiter(&format!("input k\nGET /x by k: {n}/10s fixed\n"));
        let mut used = std::collections::HashMap::<u64, u64>::new();
        for &(t, c) in &arr {
            let now = T0 + t;
            let k = now / w;
            let u = used.entry(k).or_default();
            let expect = *u + c <= n;
            let d = l.check_at(&req("a").cost(c), now);
            prop_assert_eq!(d.allowed(), expect);
            if expect {
                *u += c;
            } else if c > n {
                prop_assert_eq!(d.retry_after_ns(), None);
            } else {
                prop_assert_eq!(d.retry_after_ns(), Some((k + 1) * w - now));
            }
        }
    }

    /// bucket: identical to a token bucket of capacity B whose credit (in ns
    /// of emission time) refills continuously.
    #[test]
    fn bucket_matches_a_token_bucket(arr in arrivals(S, 300), n in 1u64..20, burst in 1u64..30) {
        let w = 10 * S;
        let t_emit = w / n;
        let l = limiter(&format!("input k\nGET /x by k: {n}/10s bucket burst {burst}\n"));
        let cap = burst * t_emit;
        let mut credit = cap;
        let mut last = T0;
        for &(t, c) in &arr {
            let now = T0 + t;
            credit = (credit + (now - last)).min(cap);
            last = now;
            let expect = credit >= c * t_emit;
            let d = l.check_at(&req("a").cost(c), now);
            prop_assert_eq!(d.allowed(), expect, "at {} credit {} cost {}", t, credit, c);
            if expect {
                credit -= c * t_emit;
            } else if c <= burst {
                prop_assert_eq!(d.retry_after_ns(), Some(c * t_emit - credit));
            } else {
                prop_assert_eq!(d.retry_after_ns(), None);
            }
        }
    }

    /// Waiting `retry_after` and retrying the same request alone succeeds,
    /// for every algorithm.
    #[test]
    fn retry_after_is_enough(arr in arrivals(S, 120), n in 1u64..10, alg in 0usize..3) {
        let alg = ["sliding", "fixed", "bucket"][alg];
        let text = format!("input k\nGET /x by k: {n}/4s {alg}\n");
        let l = limiter(&text);
        for &(t, c) in &arr {
            let now = T0 + t;
            let d = l.check_at(&req("a").cost(c), now);
            if let Some(r) = d.retry_after_ns() {
                // Replay the same history on a fresh limiter up to now, then
                // retry at now + r.
                let probe = limiter(&text);
                for &(t2, c2) in arr.iter().take_while(|(t2, _)| *t2 <= t) {
                    if t2 == t && c2 == c { break; }
                    probe.check_at(&req("a").cost(c2), T0 + t2);
                }
                prop_assert!(probe.check_at(&req("a").cost(c), now + r).allowed(),
                    "{alg}: retry after {r} ns at {t} did not succeed");
            }
        }
    }

    /// All or nothing: a request rejected by one window or rule consumes
    /// nothing from the others.
    #[test]
    fn rejected_requests_consume_nothing(arr in arrivals(S / 2, 200)) {
        let l = limiter("input k\nGET /x by k: 5/1s, 12/10s fixed\nANY /** by k: 30/10s fixed\n");
        let mut a1 = std::collections::HashMap::<u64, u64>::new();
        let mut a10 = std::collections::HashMap::<u64, u64>::new();
        for &(t, c) in &arr {
            let now = T0 + t;
            let (k1, k10) = (now / S, now / (10 * S));
            let u1 = *a1.get(&k1).unwrap_or(&0);
            let u10 = *a10.get(&k10).unwrap_or(&0);
            let expect = u1 + c <= 5 && u10 + c <= 12; // 12 < 30: rule 2 never binds first
            prop_assert_eq!(l.check_at(&req("a").cost(c), now).allowed(), expect);
            if expect {
                *a1.entry(k1).or_default() += c;
                *a10.entry(k10).or_default() += c;
            }
        }
    }
}

#[test]
fn block_penalty_lasts_its_whole_length_and_is_not_extended() {
    let l = limiter("input k\nGET /x by k: 2/10s fixed block 30s\n");
    let t = T0 - T0 % (10 * S);
    assert!(l.check_at(&req("a"), t).allowed());
    assert!(l.check_at(&req("a"), t).allowed());
    let d = l.check_at(&req("a"), t + S);
    assert!(!d.allowed());
    assert_eq!(d.retry_after_ns(), Some(30 * S));
    assert_eq!(d.reason(), Some(rlc::Reason::Blocked));
    // Rejected during the penalty, even in a fresh window; not extended.
    let d = l.check_at(&req("a"), t + 20 * S);
    assert!(!d.allowed());
    assert_eq!(d.retry_after_ns(), Some(11 * S));
    assert!(!l.check_at(&req("a"), t + 31 * S - 1).allowed());
    assert!(l.check_at(&req("a"), t + 31 * S).allowed());
    // Other keys were never blocked.
    assert!(l.check_at(&req("b"), t + 2 * S).allowed());
}

#[test]
fn derived_limit_reads_the_counter() {
    let l = limiter(
        "input k\ncounter made = POST /users by k per 1d\nPOST /reports by k: min(made, 3)/1d fixed\n",
    );
    let day = T0 - T0 % (86_400 * S);
    let report = |k| Request::new("POST", "/reports").attr("k", k);
    let user = |k| Request::new("POST", "/users").attr("k", k);
    let d = l.check_at(&report("a"), day + S);
    assert!(!d.allowed(), "no user created: limit 0");
    assert_eq!(d.retry_after_ns(), Some(86_400 * S - S));
    assert!(l.check_at(&user("a"), day + 2 * S).allowed());
    assert!(l.check_at(&user("a"), day + 2 * S).allowed());
    assert!(l.check_at(&report("a"), day + 3 * S).allowed());
    assert!(l.check_at(&report("a"), day + 3 * S).allowed());
    assert!(
        !l.check_at(&report("a"), day + 3 * S).allowed(),
        "two users: two reports"
    );
    assert!(!l.check_at(&report("b"), day + 3 * S).allowed(), "per key");
    for _ in 0..5 {
        l.check_at(&user("a"), day + 4 * S);
    }
    assert!(l.check_at(&report("a"), day + 5 * S).allowed());
    assert!(
        !l.check_at(&report("a"), day + 5 * S).allowed(),
        "capped at 3"
    );
    assert!(
        !l.check_at(&report("a"), day + 86_400 * S).allowed(),
        "new day: counter back to 0"
    );
}

#[test]
fn a_derived_limit_reads_the_latest_window_when_time_goes_back() {
    let l = limiter(
        "input k\ncounter made = POST /users by k per 1d\nPOST /reports by k: min(made, 1000)/1d fixed\n",
    );
    let day = T0 - T0 % (86_400 * S);
    let report = || Request::new("POST", "/reports").attr("k", "a");
    let user = || Request::new("POST", "/users").attr("k", "a");
    // Two users on day D, one just after midnight of D + 1.
    assert!(l.check_at(&user(), day + 10 * S).allowed());
    assert!(l.check_at(&user(), day + 10 * S).allowed());
    assert!(l.check_at(&user(), day + 86_400 * S + S / 2).allowed());
    // The clock steps back into day D: the counter reads as the latest day
    // seen (one user), never as a huge count capped at 1000.
    let back = day + 86_400 * S - S;
    let admitted = (0..20)
        .filter(|_| l.check_at(&report(), back).allowed())
        .count();
    assert!(admitted <= 2, "{admitted} reports admitted on 2 users");
}

#[test]
fn calendar_month_windows() {
    let l = limiter("input k\nGET /x by k: 2/1mo fixed\n");
    // 2024-02-29T23:59:59Z and 2024-03-01T00:00:00Z.
    let feb_end = 1_709_251_199 * S;
    let mar = 1_709_251_200 * S;
    assert!(l.check_at(&req("a"), feb_end - 20 * 86_400 * S).allowed());
    assert!(l.check_at(&req("a"), feb_end).allowed());
    let d = l.check_at(&req("a"), feb_end);
    assert!(!d.allowed());
    assert_eq!(d.retry_after_ns(), Some(S));
    assert!(l.check_at(&req("a"), mar).allowed());
}

#[test]
fn time_going_backwards_never_admits_extra() {
    for alg in ["sliding", "fixed", "bucket"] {
        let l = limiter(&format!("input k\nGET /x by k: 3/10s {alg}\n"));
        let t = T0 - T0 % (10 * S) + 5 * S;
        for _ in 0..3 {
            assert!(l.check_at(&req("a"), t).allowed());
        }
        for back in [1, S, 5 * S, 60 * S, T0] {
            let d = l.check_at(&req("a"), t - back);
            assert!(!d.allowed(), "{alg}: admitted {back} ns in the past");
        }
        assert!(!l.check_at(&req("a"), t).allowed());
    }
}

#[test]
fn cost_zero_and_cost_above_the_limit() {
    let l = limiter("input k\nGET /x by k: 3/10s fixed\n");
    assert!(l.check_at(&req("a").cost(0), T0).allowed());
    let d = l.check_at(&req("a").cost(4), T0);
    assert!(!d.allowed());
    assert_eq!(
        d.retry_after_ns(),
        None,
        "no wait helps a cost above the limit"
    );
    assert!(
        l.check_at(&req("a").cost(3), T0).allowed(),
        "the rejected request took nothing"
    );
}

#[test]
fn absent_key_attribute_means_the_rule_does_not_apply() {
    let l = limiter("input k, ip\nGET /x by k: 1/10s fixed\nGET /x by k|ip: 5/10s fixed\n");
    for _ in 0..5 {
        let d = l.check_at(&Request::new("GET", "/x").attr("ip", "1"), T0);
        assert!(d.allowed());
    }
    // The `ip` group of `k|ip` is exhausted; the `k` group is not involved.
    assert!(!l
        .check_at(&Request::new("GET", "/x").attr("ip", "1"), T0)
        .allowed());
    assert!(l
        .check_at(
            &Request::new("GET", "/x").attr("k", "z").attr("ip", "2"),
            T0
        )
        .allowed());
}

#[test]
fn matching_ignores_query_strings_and_trailing_slashes() {
    let l = limiter("input k\nGET /a/{id} by k: 1/10s fixed\n");
    assert!(l
        .check_at(&Request::new("GET", "/a/1?x=2").attr("k", "a"), T0)
        .allowed());
    let d = l.check_at(&Request::new("GET", "/a/1/").attr("k", "a"), T0);
    assert!(!d.allowed());
    assert!(
        l.check_at(&Request::new("GET", "/a/1/extra").attr("k", "a"), T0)
            .allowed(),
        "not matched"
    );
    assert!(
        l.check_at(&Request::new("POST", "/a/1").attr("k", "a"), T0)
            .allowed(),
        "method differs"
    );
}

#[test]
fn the_tightest_rule_is_reported() {
    let l = limiter("input k\nshort: GET /x by k: 1/1s fixed\nlong: GET /x by k: 1/1m fixed\n");
    let t = T0 - T0 % (60 * S);
    assert!(l.check_at(&req("a"), t).allowed());
    let d = l.check_at(&req("a"), t);
    assert_eq!(d.rule(), Some("long"), "largest retry-after wins");
    assert_eq!(d.retry_after_ns(), Some(60 * S));
}

// A rejection reports the window's figures for a cost of 0: the evaluator
// reuses a rejecting judgement's figures instead of judging again.
proptest! {
    #[test]
    fn a_rejections_figures_are_those_of_a_cost_of_zero(
        state in any::<u64>(),
        ring in prop::collection::vec(any::<u64>(), 8),
        now in 0u64..u64::MAX / 2,
        cost in 1u64..1_000,
        limit in 1u64..2_000,
        t in 1u64..1_000_000_000,
    ) {
        use rlc::eval::algo::{bucket, concurrent, fixed, sliding, Verdict};
        let checks = [
            (bucket(state, now, cost, t, t.saturating_mul(limit), limit),
             bucket(state, now, 0, t, t.saturating_mul(limit), limit)),
            (fixed(state, now, cost, now / t, (now / t + 1) * t, t, limit, limit),
             fixed(state, now, 0, now / t, (now / t + 1) * t, t, limit, limit)),
            (concurrent(state, now, cost, limit), concurrent(state, now, 0, limit)),
        ];
        for ((v, r), (_, r0)) in checks {
            if matches!(v, Verdict::Reject(_)) {
                prop_assert_eq!(r, r0);
            }
        }
        let (st, r) = sliding(state, &ring, now, cost, t, limit);
        let (_, r0) = sliding(state, &ring, now, 0, t, limit);
        if matches!(st.verdict, Verdict::Reject(_)) {
            prop_assert_eq!(r, r0);
        }
    }
}
