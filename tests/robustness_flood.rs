//! Key flood: an attacker sends millions of requests, each with a key never
//! seen before (random IPv4 and IPv6 addresses, 1 KB header values), to a
//! limiter with a bounded store. Checked:
//!
//! * memory: the store is allocated up front; the process's peak RSS
//!   (VmHWM) grows by no more than a small slack during the flood;
//! * legitimate keys, created before the flood, keep their exact state:
//!   the store never evicts a live key for a new one;
//! * a new key that finds no room gets the documented answer: rejected
//!   with `Reason::StoreFull` and the rule's status, no retry-after, under
//!   `default overflow reject` (the default); admitted and not counted under
//!   `default overflow allow`;
//! * once the flood's keys have been idle for longer than the policy's
//!   longest window, their slots are reused and new keys get in again.
//!
//! Both `flood_1m_keys` (1M keys, 100k in a debug build) and
//! `flood_10m_keys` (10M keys, about 10 s) run in `cargo test --release`;
//! a debug build skips the 10M run (`-- --ignored` runs it anyway). The
//! figures are printed with `-- --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlc::eval::{MemoryStore, Store};
use rlc::{Limiter, ManualClock, Policy, Reason, Request};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

/// The tests of this file measure the process's memory: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const T0: u64 = 1_700_000_000_000_000_000;
const SEC: u64 = 1_000_000_000;

const POLICY: &str = r#"
input ip, key, ua
# Per client IP, per API key and IP, and per user agent (a header value an
# attacker can make as long as the server lets it).
per_ip:  ANY /** by ip: 5/10m fixed
per_key: POST /tokens by key&ip: 3/10m sliding
per_ua:  GET /** by ua: 4/10m bucket
"#;

/// The process's peak resident set (VmHWM) and current RSS, in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// A small deterministic generator (xorshift*), so that runs repeat.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Legitimate clients: (ip, key, ua).
fn legit(i: usize) -> (String, String, String) {
    (
        format!("192.0.2.{}", i % 250),
        format!("key_prod_{i}"),
        format!("legit-agent/{i}"),
    )
}

#[derive(Debug, Default)]
struct Report {
    requests: u64,
    admitted: u64,
    full: u64,
    other: u64,
    secs: f64,
    hwm_before_kib: u64,
    hwm_after_kib: u64,
    store_bytes: usize,
    tracked: usize,
}

/// Runs the flood of `n` new keys over `capacity` keys per group.
fn flood(n: u64, capacity: usize, overflow_allow: bool) -> Report {
    let text = if overflow_allow {
        format!("default overflow allow\n{POLICY}")
    } else {
        POLICY.to_string()
    };
    let policy = Policy::from_str("flood.rl", &text).unwrap();
    let clock = ManualClock::new(T0);
    let limiter = Limiter::with_capacity(policy, clock, capacity);
    let store_bytes = limiter.store().bytes();

    // 1. Legitimate clients use part of their quota: per_ip 2 of 5 (fixed),
    //    per_key 2 of 3 (sliding), per_ua 2 of 4 (bucket).
    let clients = 200;
    for i in 0..clients {
        let (ip, key, ua) = legit(i);
        for _ in 0..2 {
            let d = limiter.check_at(
                &Request::new("POST", "/tokens")
                    .attr("ip", &ip)
                    .attr("key", &key),
                T0,
            );
            assert!(d.allowed(), "legit {i}: {d:?}");
        }
        let d = limiter.check_at(&Request::new("GET", "/me").attr("ua", &ua), T0);
        assert!(d.allowed(), "legit {i}: {d:?}");
        let d = limiter.check_at(&Request::new("GET", "/me").attr("ua", &ua), T0);
        assert!(d.allowed(), "legit {i}: {d:?}");
    }

    // 2. The flood: every request a new key, over 60 s of virtual time (all
    //    well inside the 10-minute windows, so nothing expires).
    let (hwm_before_kib, _) = memory_kib();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut ip = String::with_capacity(64);
    let mut ua = String::with_capacity(1100);
    let mut key = String::with_capacity(32);
    let mut r = Report {
        store_bytes,
        hwm_before_kib,
        ..Report::default()
    };
    let start = Instant::now();
    for i in 0..n {
        let now = T0 + SEC + i * (60 * SEC / n.max(1));
        let x = rng.next();
        ip.clear();
        ua.clear();
        let d = match i % 4 {
            // Random IPv4 on any path.
            0 => {
                let _ = write!(
                    ip,
                    "{}.{}.{}.{}",
                    x >> 56,
                    (x >> 48) & 255,
                    (x >> 40) & 255,
                    (x >> 32) & 255
                );
                limiter.check_at(&Request::new("PUT", "/x").attr("ip", &ip), now)
            }
            // Random IPv6 with a random API key on the per-key rule.
            1 => {
                let y = rng.next();
                let _ = write!(
                    ip,
                    "2001:db8:{:x}:{:x}:{:x}:{:x}::{:x}",
                    x >> 48,
                    (x >> 32) & 0xffff,
                    (x >> 16) & 0xffff,
                    x & 0xffff,
                    y & 0xffff
                );
                key.clear();
                let _ = write!(key, "key_{y:016x}");
                limiter.check_at(
                    &Request::new("POST", "/tokens")
                        .attr("ip", &ip)
                        .attr("key", &key),
                    now,
                )
            }
            // A 1 KB user agent, different in its last bytes only.
            _ => {
                ua.push_str(&"A".repeat(1000));
                let _ = write!(ua, "{x:016x}{i:08}");
                limiter.check_at(&Request::new("GET", "/me").attr("ua", &ua), now)
            }
        };
        r.requests += 1;
        if d.allowed() {
            r.admitted += 1;
        } else if d.reason() == Some(Reason::StoreFull) {
            r.full += 1;
            // The documented answer to a full store.
            assert_eq!(d.status(), 429);
            assert!(d.retry_after_ns().is_none(), "{d:?}");
            assert!(d.rule().is_some());
            assert!(!overflow_allow, "overflow allow must admit: {d:?}");
        } else {
            r.other += 1;
        }
    }
    r.secs = start.elapsed().as_secs_f64();
    r.hwm_after_kib = memory_kib().0;
    r.tracked = limiter.store().len();

    // 3. Legitimate clients still have exactly what they had left.
    let now = T0 + 61 * SEC;
    for i in 0..clients {
        let (ip, key, ua) = legit(i);
        let post = Request::new("POST", "/tokens")
            .attr("ip", &ip)
            .attr("key", &key);
        let d = limiter.check_at(&post, now);
        assert!(
            d.allowed(),
            "legit {i} lost its quota after the flood: {d:?}"
        );
        let d = limiter.check_at(&post, now);
        assert!(!d.allowed(), "legit {i}: per_key allows 3, got a 4th");
        assert_eq!(d.reason(), Some(Reason::Limit), "legit {i}: {d:?}");
        assert_eq!(d.rule(), Some("per_key"));
        let get = Request::new("GET", "/me").attr("ua", &ua);
        assert!(limiter.check_at(&get, now).allowed(), "legit {i} ua");
        assert!(limiter.check_at(&get, now).allowed(), "legit {i} ua");
        let d = limiter.check_at(&get, now);
        assert!(!d.allowed(), "legit {i}: per_ua allows 4, got a 5th");
        assert_eq!(d.rule(), Some("per_ua"));
    }

    // 4. Long after the flood, its keys' slots are free again.
    let later = T0 + 3600 * SEC;
    let mut admitted_later = 0;
    for j in 0..1000 {
        let ip = format!("198.51.100.{}/{j}", j % 250);
        if limiter
            .check_at(&Request::new("PUT", "/x").attr("ip", &ip), later)
            .allowed()
        {
            admitted_later += 1;
        }
    }
    assert_eq!(admitted_later, 1000, "expired slots are not reused");
    r
}

fn print(name: &str, r: &Report, capacity: usize) {
    eprintln!(
        "{name}: {} requests with new keys in {:.2} s ({:.0} ns each); capacity {capacity} keys/group, \
         store {} KiB, keys tracked {}; admitted {}, store_full {}, other {}; \
         VmHWM {} KiB before, {} KiB after (+{} KiB)",
        r.requests,
        r.secs,
        r.secs * 1e9 / r.requests.max(1) as f64,
        r.store_bytes / 1024,
        r.tracked,
        r.admitted,
        r.full,
        r.other,
        r.hwm_before_kib,
        r.hwm_after_kib,
        r.hwm_after_kib.saturating_sub(r.hwm_before_kib),
    );
}

/// Peak memory grows by at most this during a flood (the request strings
/// are reused; the store is preallocated).
const SLACK_KIB: u64 = 8 * 1024;

fn check(r: &Report, capacity: usize) {
    let growth = r.hwm_after_kib.saturating_sub(r.hwm_before_kib);
    assert!(
        growth <= SLACK_KIB,
        "peak RSS grew by {growth} KiB during the flood (store: {} KiB)",
        r.store_bytes / 1024
    );
    // Every group keeps at most 2 * capacity entries (the table's size).
    assert!(r.tracked <= 3 * 2 * capacity, "tracked {}", r.tracked);
    assert!(r.full > 0, "the flood never filled the store");
    assert_eq!(r.admitted + r.full + r.other, r.requests);
}

#[test]
fn flood_1m_keys() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let n = if cfg!(debug_assertions) {
        100_000
    } else {
        1_000_000
    };
    let capacity = 1 << 14;
    let r = flood(n, capacity, false);
    print("flood_1m_keys", &r, capacity);
    check(&r, capacity);
    // New keys beyond the store's room are all refused, never admitted
    // against another key's state.
    assert_eq!(r.other, 0, "a new key was rejected by a limit: {r:?}");
}

#[test]
fn flood_with_overflow_allow_admits_uncounted() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let capacity = 1 << 10;
    let r = flood(100_000, capacity, true);
    print("flood_overflow_allow", &r, capacity);
    assert_eq!(r.full, 0);
    assert_eq!(r.admitted, r.requests, "{r:?}");
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "10 million keys: about 10 s in release, minutes in a debug build"
)]
fn flood_10m_keys() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let capacity = 1 << 16;
    let r = flood(10_000_000, capacity, false);
    print("flood_10m_keys", &r, capacity);
    check(&r, capacity);
    assert_eq!(r.other, 0, "{r:?}");
}

/// The store's size is fixed at construction: its byte count does not
/// change with use, and matches 2 entries per key of capacity.
#[test]
fn store_is_preallocated() {
    let policy = Policy::from_str("flood.rl", POLICY).unwrap();
    let table = policy.table();
    let store = MemoryStore::new(&table, 1000);
    let bytes = store.bytes();
    let words: usize = table.groups.iter().map(|g| 1 + g.words as usize).sum();
    assert_eq!(bytes, 2 * 1000 * words * 8, "{} groups", table.groups.len());
    assert_eq!(store.len(), 0);
}
