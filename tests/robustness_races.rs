#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use rlc::{Limiter, ManualClock, Policy, Request};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};

const T0: u64 = 1_700_000_000_000_000_000;

#[test]
fn probe_single_fixed() {
    let p = Policy::from_str("r.rl", "input key\nANY /** by key: 100/1m fixed\n").unwrap();
    for round in 0..200 {
        let l = Arc::new(Limiter::with_clock(p.clone(), ManualClock::new(T0)));
        let admitted = Arc::new(AtomicU64::new(0));
        let b = Arc::new(Barrier::new(2));
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let (l, a, b) = (l.clone(), admitted.clone(), b.clone());
                std::thread::spawn(move || {
                    b.wait();
                    for _ in 0..1000 {
                        if l.check_at(&Request::new("GET", "/x").attr("key", "k"), T0)
                            .allowed()
                        {
                            a.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let n = admitted.load(Ordering::Relaxed);
        assert!(n <= 100, "round {round}: admitted {n}");
    }
}
