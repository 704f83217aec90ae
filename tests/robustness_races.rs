//! Races: threads on shared and distinct keys, on a controlled clock
//! (`check_at`). Checked after every round:
//!
//! * never more admitted than a window allows, and, at a frozen instant,
//!   exactly as many as it allows (a request that lost a race and was then
//!   rejected took no quota);
//! * all or nothing across the windows of a rule under contention: at the
//!   end of every second, what each window reports as used equals what was
//!   admitted in it;
//! * penalties are never shortened (nor extended) by concurrent rejected
//!   requests, and concurrent starts keep the latest end.
//!
//! loom would model every interleaving but needs the evaluator built on its
//! atomics; this is the many-iterations version in release instead
//! (`RLC_RACE_ROUNDS` scales it). 2 threads per core are used so that the
//! scheduler interleaves them inside the compare-and-swap loops.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlc::{Limiter, ManualClock, Policy, Reason, Request};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};

const T0: u64 = 1_700_000_000_000_000_000;
const SEC: u64 = 1_000_000_000;

fn rounds(release: u64) -> u64 {
    std::env::var("RLC_RACE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) {
            release / 10
        } else {
            release
        })
        .max(1)
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) * 2
}

/// Runs `f(thread index)` on `n` threads started together.
fn together<F: Fn(usize) + Send + Sync + 'static>(n: usize, f: F) {
    let f = Arc::new(f);
    let start = Arc::new(Barrier::new(n));
    let hs: Vec<_> = (0..n)
        .map(|i| {
            let (f, start) = (Arc::clone(&f), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                f(i);
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
}

/// All threads on one key at one instant: exactly N admitted, for every
/// algorithm, and for a key shared by a multi-window rule.
#[test]
fn shared_key_at_a_frozen_instant_admits_exactly_the_limit() {
    let policies = [
        ("fixed", "input key\nANY /** by key: 100/1m fixed\n", 100),
        (
            "sliding",
            "input key\nANY /** by key: 100/1m sliding\n",
            100,
        ),
        ("bucket", "input key\nANY /** by key: 100/1m bucket\n", 100),
        (
            "bucket burst",
            "input key\nANY /** by key: 100/1m bucket burst 30\n",
            30,
        ),
        (
            "multi",
            "input key\nANY /** by key: 100/1s, 150/1m, 120/1h fixed\n",
            100,
        ),
        (
            "two rules",
            "input key, ip\nANY /** by key: 100/1m sliding\nGET /** by key&ip: 70/1m fixed\n",
            70,
        ),
        (
            "key or ip",
            "input key, ip\nANY /** by key|ip: 60/1m fixed\n",
            60,
        ),
    ];
    let n = threads();
    let rounds = rounds(300);
    let mut total = 0;
    for (name, text, limit) in policies {
        let policy = Policy::from_str("r.rl", text).unwrap();
        for round in 0..rounds {
            let limiter = Arc::new(Limiter::with_clock(policy.clone(), ManualClock::new(T0)));
            let admitted = Arc::new(AtomicU64::new(0));
            let (l, a) = (Arc::clone(&limiter), Arc::clone(&admitted));
            together(n, move |_| {
                let req = Request::new("GET", "/x").attr("key", "k").attr("ip", "i");
                for _ in 0..(2 * limit / n as u64 + 10) {
                    if l.check_at(&req, T0).allowed() {
                        a.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            let got = admitted.load(Ordering::Relaxed);
            assert_eq!(
                got, limit,
                "{name}, round {round}: admitted {got} of {limit}"
            );
            total += 1;
        }
    }
    eprintln!("frozen instant: {total} rounds of {n} threads, all exact");
}

/// Threads on their own keys and on a shared one: every key gets exactly
/// its own quota, whatever the others do.
#[test]
fn distinct_keys_do_not_interfere() {
    let policy = Policy::from_str(
        "r.rl",
        "input key\nANY /** by key: 25/1m fixed\nGET /** by key: 40/1h sliding\n",
    )
    .unwrap();
    let n = threads();
    for round in 0..rounds(200) {
        let limiter = Arc::new(Limiter::with_clock(policy.clone(), ManualClock::new(T0)));
        let counts: Arc<Vec<AtomicU64>> = Arc::new((0..=n).map(|_| AtomicU64::new(0)).collect());
        let (l, c) = (Arc::clone(&limiter), Arc::clone(&counts));
        together(n, move |i| {
            let own = format!("own-{i}");
            for j in 0..80 {
                let (key, slot) = if j % 2 == 0 {
                    (own.as_str(), i)
                } else {
                    ("shared", n)
                };
                if l.check_at(&Request::new("GET", "/x").attr("key", key), T0 + j)
                    .allowed()
                {
                    c[slot].fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        for (i, c) in counts.iter().enumerate() {
            assert_eq!(c.load(Ordering::Relaxed), 25, "round {round}, key {i}");
        }
    }
}

/// `10/1s, 50/1m fixed` under contention for 3 minutes of virtual time:
/// each second admits at most 10, each minute at most 50, and exactly that
/// while demand lasts; and what the windows report as used (a cost-0
/// probe) is exactly what was admitted: no quota taken by a request that
/// was then rejected by the other window.
#[test]
fn multi_window_totals_agree_with_admissions() {
    let policy =
        Policy::from_str("r.rl", "input key\nANY /** by key: 10/1s, 50/1m fixed\n").unwrap();
    let n = threads();
    let rounds = rounds(20);
    for round in 0..rounds {
        let limiter = Arc::new(Limiter::with_clock(policy.clone(), ManualClock::new(T0)));
        // Seconds aligned to minutes: start at a minute boundary.
        let base = (T0 / (60 * SEC) + 1) * 60 * SEC;
        let mut minute_admitted = 0u64;
        for s in 0..180u64 {
            let at = base + s * SEC;
            let admitted = Arc::new(AtomicU64::new(0));
            let (l, a) = (Arc::clone(&limiter), Arc::clone(&admitted));
            together(n, move |i| {
                let req = Request::new("POST", "/x").attr("key", "k");
                for j in 0..6u64 {
                    // Different instants inside the second, interleaved.
                    let t = at + (i as u64 * 7 + j * 13) % 997 * 1_000_000;
                    if l.check_at(&req, t).allowed() {
                        a.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            let got = admitted.load(Ordering::Relaxed);
            if s % 60 == 0 {
                minute_admitted = 0;
            }
            let left_in_minute = 50 - minute_admitted;
            assert_eq!(
                got,
                left_in_minute.min(10),
                "round {round}, second {s}: admitted {got}, minute had {left_in_minute} left"
            );
            minute_admitted += got;
            // The windows' own figures, read without counting.
            let probe = Request::new("POST", "/x").attr("key", "k").cost(0);
            let d = limiter.check_at(&probe, at + 999_000_000);
            assert!(d.allowed(), "a cost-0 probe is admitted: {d:?}");
            let w = d.windows();
            assert_eq!(w.len(), 2, "{d:?}");
            assert_eq!(w[0].used, got, "round {round}, second {s}: 1s window used");
            assert_eq!(
                w[1].used, minute_admitted,
                "round {round}, second {s}: 1m window used"
            );
        }
    }
}

/// A running penalty is neither shortened nor extended by a crowd of
/// rejected requests at different instants, and penalties started at once
/// by several threads end at the latest of their ends.
#[test]
fn penalties_are_never_shortened() {
    let policy = Policy::from_str("r.rl", "input key\nANY /** by key: 5/1s block 10s\n").unwrap();
    let n = threads();
    for round in 0..rounds(100) {
        let limiter = Arc::new(Limiter::with_clock(policy.clone(), ManualClock::new(T0)));
        let req = Request::new("GET", "/x").attr("key", "k");
        for _ in 0..5 {
            assert!(limiter.check_at(&req, T0).allowed());
        }
        let d = limiter.check_at(&req, T0);
        assert_eq!(d.reason(), Some(Reason::Blocked));
        let until = T0 + 10 * SEC;
        drop(d);
        // A crowd inside the penalty, at scattered instants.
        let l = Arc::clone(&limiter);
        let admitted = Arc::new(AtomicU64::new(0));
        let a = Arc::clone(&admitted);
        together(n, move |i| {
            let req = Request::new("GET", "/x").attr("key", "k");
            for j in 0..200u64 {
                let t = T0 + (i as u64 * 7919 + j * 104_729) % (10 * SEC);
                let d = l.check_at(&req, t);
                if d.allowed() {
                    a.fetch_add(1, Ordering::Relaxed);
                } else {
                    assert_eq!(d.reason(), Some(Reason::Blocked));
                    assert_eq!(d.retry_after_ns(), Some(until - t), "at {t}");
                }
            }
        });
        assert_eq!(admitted.load(Ordering::Relaxed), 0, "round {round}");
        assert!(!limiter.check_at(&req, until - 1).allowed());
        assert!(
            limiter.check_at(&req, until).allowed(),
            "round {round}: penalty extended"
        );

        // Concurrent starts: every thread exceeds at its own instant; the
        // penalty ends 10 s after the latest of those that started one.
        let limiter = Arc::new(Limiter::with_clock(policy.clone(), ManualClock::new(T0)));
        for _ in 0..5 {
            assert!(limiter.check_at(&req, T0).allowed());
        }
        let latest = Arc::new(AtomicU64::new(0));
        let (l, lt) = (Arc::clone(&limiter), Arc::clone(&latest));
        together(n, move |i| {
            let req = Request::new("GET", "/x").attr("key", "k");
            let t = T0 + i as u64 * 1_000;
            let d = l.check_at(&req, t);
            assert!(!d.allowed());
            let end = t + d.retry_after_ns().unwrap();
            lt.fetch_max(end, Ordering::Relaxed);
        });
        let end = latest.load(Ordering::Relaxed);
        assert!(end >= T0 + 10 * SEC);
        assert!(
            !limiter.check_at(&req, end - 1).allowed(),
            "round {round}: shortened"
        );
    }
}
