//! Threads hammering shared and distinct keys on a frozen clock: exactly N
//! admitted per window, never more, and per-key totals add up.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlc::{Limiter, ManualClock, Policy, Request};
use std::sync::atomic::{AtomicU64, Ordering};

const S: u64 = 1_000_000_000;
const T0: u64 = 1_700_000_000 * S;
const THREADS: usize = 4;

fn limiter(text: &str) -> Limiter<ManualClock> {
    Limiter::with_capacity(
        Policy::from_str("t.rl", text).unwrap(),
        ManualClock::new(T0),
        1024,
    )
}

/// Every thread tries `tries` times at `now`; returns the total admitted.
fn hammer(l: &Limiter<ManualClock>, key: &str, tries: usize, now: u64) -> u64 {
    let admitted = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..tries {
                    if l.check_at(&Request::new("GET", "/x").attr("k", key), now)
                        .allowed()
                    {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    admitted.load(Ordering::Relaxed)
}

#[test]
fn exactly_n_per_window_on_one_key_for_every_algorithm() {
    for alg in ["fixed", "sliding", "bucket"] {
        let l = limiter(&format!("input k\nGET /x by k: 100/10s {alg}\n"));
        let t = T0 - T0 % (80 * S);
        for round in 0..5u64 {
            // Each round is 80 s later: every window (and the sliding
            // lookback of 11.25 s, and a full bucket) has emptied.
            let now = t + round * 80 * S;
            let got = hammer(&l, "shared", 2_000, now);
            assert_eq!(got, 100, "{alg} round {round}: admitted {got}");
        }
    }
}

#[test]
fn multi_window_rules_stay_consistent_under_contention() {
    // 10 per second and 25 per minute, fixed: over 4 seconds in one minute,
    // exactly 10 + 10 + 5 + 0 are admitted, however the threads interleave.
    let l = limiter("input k\nGET /x by k: 10/1s, 25/1m fixed\n");
    let t = T0 - T0 % (60 * S);
    let per_second: Vec<u64> = (0..4).map(|i| hammer(&l, "k", 500, t + i * S)).collect();
    assert_eq!(per_second, vec![10, 10, 5, 0]);
}

#[test]
fn mixed_keys_totals() {
    let l = limiter("input k\nGET /x by k: 50/10s fixed\nANY /** : 1000/10s fixed\n");
    let t = T0 - T0 % (10 * S);
    let admitted: Vec<AtomicU64> = (0..8).map(|_| AtomicU64::new(0)).collect();
    std::thread::scope(|s| {
        for th in 0..THREADS {
            let l = &l;
            let admitted = &admitted;
            s.spawn(move || {
                for i in 0..800usize {
                    let k = (i + th) % 8;
                    let key = format!("key{k}");
                    if l.check_at(&Request::new("GET", "/x").attr("k", &key), t)
                        .allowed()
                    {
                        admitted[k].fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    // 8 keys x 400 tries each: every key gets exactly its 50; the global
    // rule (1000) never binds; nothing else is admitted.
    for (k, a) in admitted.iter().enumerate() {
        assert_eq!(a.load(Ordering::Relaxed), 50, "key{k}");
    }
}

#[test]
fn limiter_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Limiter>();
    assert_send_sync::<Limiter<ManualClock>>();
}
