//! Clocks: time going backwards, jumping forward by years, calendar month
//! boundaries (`fixed` `mo`), and the end of u64 nanoseconds (year 2554).
//! No panic, and never an admission that the latest time seen would refuse:
//! time that goes back is treated as the latest time seen for that key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlc::{Clock, Limiter, ManualClock, Policy, Reason, Request};

const T0: u64 = 1_700_000_000_000_000_000;
const SEC: u64 = 1_000_000_000;
const DAY: u64 = 86_400 * SEC;
const YEAR: u64 = 365 * DAY;

/// One policy per algorithm, each allowing 5 per 10 s (the `block` one also
/// blocks for 1 m; the calendar one allows 5 per month).
const POLICIES: &[(&str, &str)] = &[
    ("fixed", "input key\nANY /** by key: 5/10s fixed\n"),
    ("sliding", "input key\nANY /** by key: 5/10s sliding\n"),
    ("bucket", "input key\nANY /** by key: 5/10s bucket\n"),
    ("block", "input key\nANY /** by key: 5/10s block 1m\n"),
    ("month", "input key\nANY /** by key: 5/1mo fixed\n"),
    ("multi", "input key\nANY /** by key: 5/10s, 7/1h fixed\n"),
];

fn limiter(text: &str) -> Limiter<ManualClock> {
    Limiter::with_clock(
        Policy::from_str("c.rl", text).unwrap(),
        ManualClock::new(T0),
    )
}

fn req() -> Request<'static> {
    Request::new("GET", "/x").attr("key", "k")
}

fn admitted(l: &Limiter<ManualClock>, at: u64, tries: usize) -> usize {
    (0..tries)
        .filter(|_| l.check_at(&req(), at).allowed())
        .count()
}

#[test]
fn time_going_backwards_admits_nothing_extra() {
    let steps = [
        1,
        1_000_000,
        SEC,
        5 * SEC,
        10 * SEC,
        11 * SEC,
        100 * SEC,
        DAY,
        40 * DAY,
        YEAR,
        30 * YEAR,
        T0,
    ];
    for (name, text) in POLICIES {
        for back in steps {
            let l = limiter(text);
            // Fill the window at T0 (the monthly one too: 5 at T0).
            assert_eq!(admitted(&l, T0, 10), 5, "{name}");
            // Earlier instants: nothing more.
            let then = T0 - back;
            assert_eq!(admitted(&l, then, 10), 0, "{name}: {back} ns back admitted");
            // And back at T0: still nothing more.
            assert_eq!(
                admitted(&l, T0, 10),
                0,
                "{name}: after going back {back} ns"
            );
        }
        // Half used, then the clock steps back: at most the other half.
        for back in steps {
            let l = limiter(text);
            assert_eq!(admitted(&l, T0, 3), 3, "{name}");
            let more = admitted(&l, T0 - back, 10) + admitted(&l, T0, 10);
            assert!(more <= 2, "{name}: {more} more after {back} ns back");
        }
    }
}

#[test]
fn forward_jumps_of_years() {
    for (name, text) in POLICIES {
        let l = limiter(text);
        let mut now = T0;
        for jump in [YEAR, 10 * YEAR, 100 * YEAR, 300 * YEAR] {
            assert!(admitted(&l, now, 10) <= 5, "{name}");
            now = now.saturating_add(jump);
            // A new epoch for the key: a full quota, not more.
            let n = admitted(&l, now, 10);
            assert_eq!(n, 5, "{name}: after a jump of {} years", jump / YEAR);
        }
    }
}

/// The Unix nanosecond counter ends in April 2554 (u64::MAX ns). Near and
/// at it: no panic, no unbounded admission, retry-afters that do not wrap.
#[test]
fn the_end_of_u64_nanoseconds() {
    for (name, text) in POLICIES {
        for at in [
            u64::MAX - 20 * SEC,
            u64::MAX - 10 * SEC,
            u64::MAX - SEC,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let l = limiter(text);
            let n = admitted(&l, at, 20);
            assert!(
                n <= 5,
                "{name}: {n} admitted at u64::MAX - {}",
                u64::MAX - at
            );
            let d = l.check_at(&req(), at);
            assert!(!d.allowed() || n < 5, "{name}");
            if let Some(r) = d.retry_after_ns() {
                assert!(r > 0, "{name}: retry-after 0 on a rejection");
            }
            let _ = d.headers();
            for w in d.windows() {
                assert!(w.used <= w.limit, "{name}: {w:?}");
            }
            // Time then wraps to the past (a buggy clock): no more than one
            // quota in all.
            let total = n + admitted(&l, 0, 10) + admitted(&l, at, 10);
            assert!(total <= 5, "{name} at {at}: {total} in all");
        }
    }
}

/// The epoch itself and the first instants after it.
#[test]
fn the_epoch() {
    for (name, text) in POLICIES {
        let l = limiter(text);
        assert_eq!(admitted(&l, 0, 10), 5, "{name}");
        assert_eq!(admitted(&l, 1, 10), 0, "{name}");
    }
}

/// Unix seconds of 00:00:00 UTC on a date.
fn utc(y: i64, m: u32, d: u32) -> u64 {
    // Howard Hinnant's days_from_civil, independent of the crate's.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days).unwrap() * DAY
}

#[test]
fn calendar_month_boundaries() {
    for (y, m, next) in [
        (2024, 1, (2024, 2)),
        (2024, 2, (2024, 3)), // leap February
        (2023, 2, (2023, 3)),
        (2024, 12, (2025, 1)), // year end
        (2100, 2, (2100, 3)),  // not a leap year
        (2400, 2, (2400, 3)),  // a leap year
    ] {
        let l = limiter("input key\nANY /** by key: 3/1mo fixed\n");
        let start = utc(y, m, 1);
        let end = utc(next.0, next.1, 1);
        let last = end - 1;
        // The last nanosecond of the month: 3, then a rejection that frees
        // at the first nanosecond of the next.
        assert_eq!(admitted(&l, last, 3), 3, "{y}-{m}");
        let d = l.check_at(&req(), last);
        assert_eq!(d.reason(), Some(Reason::Limit), "{y}-{m}");
        assert_eq!(d.retry_after_ns(), Some(1), "{y}-{m}");
        // The requests at its start belonged to the same window.
        assert_eq!(admitted(&l, start, 3), 0, "{y}-{m}");
        assert_eq!(admitted(&l, end, 5), 3, "{y}-{m} -> next month");
    }
    // Quarters (3mo) are aligned on January 1970: Jan, Apr, Jul, Oct.
    let l = limiter("input key\nANY /** by key: 2/3mo fixed\n");
    assert_eq!(admitted(&l, utc(2024, 3, 31), 5), 2);
    assert_eq!(admitted(&l, utc(2024, 1, 1), 5), 0, "same quarter");
    assert_eq!(admitted(&l, utc(2024, 4, 1), 5), 2, "next quarter");
}

#[test]
fn manual_clock_and_system_clock() {
    let c = ManualClock::new(u64::MAX - 5);
    c.advance(10);
    assert!(
        c.now() >= u64::MAX - 5,
        "advance past the end must not wrap: {}",
        c.now()
    );
    c.set(0);
    assert_eq!(c.now(), 0);
    let now = rlc::SystemClock.now();
    assert!(now > T0, "the system clock reads {now}");
    let l =
        Limiter::new(Policy::from_str("s.rl", "input key\nANY /** by key: 2/1h fixed\n").unwrap());
    assert!(l.check(&req()).allowed());
}

/// The fastest rate a policy may have (one per nanosecond) in the last
/// window before the end of u64 nanoseconds: `(k + 1) * N` does not fit in
/// 64 bits there. Nothing wraps: never more than N, then only rejections.
#[test]
fn one_per_nanosecond_in_the_last_window() {
    let l = limiter("GET /x: 86400000000000/1d fixed\n");
    let day = 86_400 * SEC;
    let last_start = u64::MAX / day * day;
    let get = |cost| Request::new("GET", "/x").cost(cost);
    let mut admitted = 0u64;
    for (at, cost) in [
        (last_start, day / 2),
        (last_start + 1, day / 2),
        (last_start + 2, day / 2),
        (u64::MAX - 1, 1),
        (u64::MAX, 1),
        (u64::MAX, 1),
    ] {
        let d = l.check_at(&get(cost), at);
        if d.allowed() {
            admitted += cost;
        }
    }
    assert!(admitted <= day, "{admitted} admitted in one day's window");
    assert!(!l.check_at(&get(1), u64::MAX).allowed() || admitted < day);
}

/// `TscClock` (the default clock) reads the wall clock: within a few ms of
/// `SystemClock`, before and after it re-anchors, and a skewed anchor is put
/// right by the next re-anchoring.
#[cfg(feature = "tsc")]
#[test]
fn the_tsc_clock_follows_the_system_clock() {
    use rlc::{SystemClock, TscClock};
    use std::time::Duration;
    // Generous: a loaded 2-vCPU machine may deschedule between the reads.
    let close = |a: u64, b: u64| a.abs_diff(b) < 50_000_000;
    let c = TscClock::with_resync(Duration::from_millis(2));
    for _ in 0..5 {
        let (before, t, after) = (SystemClock.now(), c.now(), SystemClock.now());
        assert!(
            close(t, before) && close(t, after),
            "tsc {t}, system {before}..{after}"
        );
        std::thread::sleep(Duration::from_millis(3));
    }
    // Ten seconds ahead: wrong until the next anchoring, right after it.
    c.skew(10 * SEC as i64);
    std::thread::sleep(Duration::from_millis(3));
    let (t, sys) = (c.now(), SystemClock.now());
    assert!(close(t, sys), "re-anchored: tsc {t}, system {sys}");
    // Without re-anchoring for an hour, the skew stays: the reads come from
    // the counter, not the system clock.
    let slow = TscClock::with_resync(Duration::from_secs(3600));
    slow.skew(10 * SEC as i64);
    let (t, sys) = (slow.now(), SystemClock.now());
    assert!(
        t.abs_diff(sys + 10 * SEC) < 50_000_000,
        "tsc {t}, system {sys}"
    );
    // And a limiter made with `Limiter::new` decides with it.
    let l = Limiter::new(Policy::from_str("c.rl", POLICIES[2].1).unwrap());
    assert!(close(l.clock().now(), SystemClock.now()));
    assert_eq!(
        (0..8).filter(|_| l.check(&req()).allowed()).count(),
        5,
        "5 per 10 s, now"
    );
}
