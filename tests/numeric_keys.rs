//! Attributes given as numbers (`Request::attr_u64`): the same key as their
//! decimal text, the same text in conditions and limits, on the fast paths
//! (one rule, plain rules) and on the general one (named counters, derived
//! limits), and a later value for a name wins whichever way it was given.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlc::{Limiter, ManualClock, Policy, Request};

const S: u64 = 1_000_000_000;
const T0: u64 = 1_700_000_000 * S;

fn limiter(text: &str) -> Limiter<ManualClock> {
    let p = Policy::from_str("t.rl", text).unwrap_or_else(|e| panic!("{}", e.render(100)));
    Limiter::with_capacity(p, ManualClock::new(T0), 256)
}

/// Sends `n` requests built by `f`; returns how many were admitted.
fn admitted(l: &Limiter<ManualClock>, n: usize, f: impl Fn() -> Request<'static>) -> usize {
    (0..n).filter(|_| l.check_at(&f(), T0).allowed()).count()
}

#[test]
fn a_number_and_its_text_are_one_key_on_the_one_rule_path() {
    // `ANY /**`, one key, one window: the one-rule fast path.
    let l = limiter("input user\nANY /** by user: 3/1m\n");
    let text = || Request::new("GET", "/x").attr("user", "42");
    let num = || Request::new("GET", "/x").attr_u64("user", 42);
    assert_eq!(admitted(&l, 2, num), 2);
    assert_eq!(admitted(&l, 5, text), 1, "two of three already taken by 42");
    assert_eq!(admitted(&l, 1, num), 0);
    // Another number is another key.
    assert_eq!(
        admitted(&l, 1, || Request::new("GET", "/x").attr_u64("user", 43)),
        1
    );
}

#[test]
fn non_canonical_text_is_another_key() {
    let l = limiter("input user\nANY /** by user: 1/1m\n");
    assert_eq!(
        admitted(&l, 1, || Request::new("GET", "/x").attr_u64("user", 7)),
        1
    );
    // "07" and "+7" are not the text of 7: their own keys.
    for t in ["07", "+7", "7 "] {
        let l2 = &l;
        let n = (0..1)
            .filter(|_| {
                l2.check_at(&Request::new("GET", "/x").attr("user", t), T0)
                    .allowed()
            })
            .count();
        assert_eq!(n, 1, "{t:?} is a key of its own");
    }
    assert_eq!(
        admitted(&l, 1, || Request::new("GET", "/x").attr("user", "7")),
        0,
        "\"7\" is 7"
    );
    // The largest u64 and its text agree; one more digit is text only.
    let l = limiter("input user\nANY /** by user: 1/1m\n");
    assert_eq!(
        admitted(&l, 1, || Request::new("GET", "/x")
            .attr_u64("user", u64::MAX)),
        1
    );
    assert_eq!(
        admitted(&l, 1, || Request::new("GET", "/x")
            .attr("user", "18446744073709551615")),
        0
    );
    assert_eq!(
        admitted(&l, 1, || Request::new("GET", "/x")
            .attr("user", "18446744073709551616")),
        1
    );
}

#[test]
fn numbers_read_as_text_in_conditions_composite_keys_and_limits() {
    // Plain rules with a condition and a composite key (the plain path),
    // and a limit from an attribute (the general path).
    let l = limiter(
        "input user, org, seats\n\
         vip: ANY /** when org == \"1000\" by user&org: 2/1m\n\
         seats: POST /** by org: min(100, 1 * seats)/1m fixed\n",
    );
    let vip_num = || {
        Request::new("GET", "/x")
            .attr_u64("user", 5)
            .attr_u64("org", 1000)
    };
    let vip_text = || {
        Request::new("GET", "/x")
            .attr("user", "5")
            .attr("org", "1000")
    };
    assert_eq!(admitted(&l, 1, vip_num), 1);
    assert_eq!(admitted(&l, 3, vip_text), 1, "one key, whichever way given");
    // org 1001 does not match the condition: unlimited.
    assert_eq!(
        admitted(&l, 5, || Request::new("GET", "/x")
            .attr_u64("user", 5)
            .attr_u64("org", 1001)),
        5
    );
    // seats = 2 as a number: a limit of 2.
    let post = || {
        Request::new("POST", "/x")
            .attr("org", "9")
            .attr_u64("seats", 2)
    };
    assert_eq!(admitted(&l, 4, post), 2);
}

#[test]
fn a_later_value_wins_whichever_way_it_was_given() {
    let l = limiter("input user\nANY /** by user: 1/1m\n");
    let r = Request::new("GET", "/x")
        .attr("user", "a")
        .attr_u64("user", 1);
    assert_eq!(r.attrs(), &[("user", "a")], "text in the order given");
    assert_eq!(r.nums(), vec![("user", 1)]);
    assert!(l.check_at(&r, T0).allowed());
    // The text given last wins over the number: key "b", fresh.
    let r = Request::new("GET", "/x")
        .attr_u64("user", 1)
        .attr("user", "b");
    assert!(r.nums().is_empty());
    assert!(l.check_at(&r, T0).allowed());
    // Key 1 is spent, key "a" is not.
    assert!(l
        .check_at(&Request::new("GET", "/x").attr("user", "a"), T0)
        .allowed());
    assert!(!l
        .check_at(&Request::new("GET", "/x").attr_u64("user", 1), T0)
        .allowed());
}

#[test]
fn later_wins_on_the_plain_and_general_paths_too() {
    // Two rules (the plain path) and a derived limit (the general path).
    let l = limiter(
        "input user, n
         a: GET /** by user: 1/1m
         b: GET /** by n: 100/1m
         c: POST /** by user: min(100, 1 * n)/1m fixed
",
    );
    let first = Request::new("GET", "/x")
        .attr_u64("user", 5)
        .attr("n", "1")
        .attr("user", "6");
    assert!(l.check_at(&first, T0).allowed());
    // "6" was the user: 5 is still fresh, 6 is spent.
    assert!(l
        .check_at(&Request::new("GET", "/x").attr_u64("user", 5), T0)
        .allowed());
    assert!(!l
        .check_at(&Request::new("GET", "/x").attr("user", "6"), T0)
        .allowed());
    // The limit reads the last value of n: 2 (a number after text "50").
    let post = || {
        Request::new("POST", "/x")
            .attr("user", "9")
            .attr("n", "50")
            .attr_u64("n", 2)
    };
    assert_eq!(admitted(&l, 4, post), 2);
}

#[test]
fn named_counters_and_response_reports_see_numbers() {
    // `counting 401` rules go through the general path and
    // `report_response`.
    let l = limiter("input user\nlogin: POST /login by user: 2/1m block 1h counting 401\n");
    let r = || Request::new("POST", "/login").attr_u64("user", 77);
    assert!(l.check_at(&r(), T0).allowed());
    l.report_response_at(&r(), 401, T0);
    l.report_response_at(&Request::new("POST", "/login").attr("user", "77"), 401, T0);
    // Two failures for one key (number and text): blocked.
    assert!(!l.check_at(&r(), T0 + S).allowed());
    assert!(!l
        .check_at(&Request::new("POST", "/login").attr("user", "77"), T0 + S)
        .allowed());
    // Another user is not.
    assert!(l
        .check_at(&Request::new("POST", "/login").attr_u64("user", 78), T0 + S)
        .allowed());
}

#[test]
fn requests_built_in_place_are_the_same_requests() {
    // `push`/`push_u64` are `attr`/`attr_u64` without moving the request:
    // the same attributes in the same order, so the same keys, and a later
    // value still wins (here the text "7" given after the number 42).
    let l = limiter("input user, ip\nANY /** by user&ip: 2/1m\n");
    let by_value = || {
        Request::new("GET", "/x")
            .attr_u64("user", 42)
            .attr("ip", "10.0.0.1")
            .attr("user", "7")
    };
    let in_place = || {
        let mut r = Request::new("GET", "/x");
        r.push_u64("user", 42)
            .push("ip", "10.0.0.1")
            .push("user", "7");
        r
    };
    assert_eq!(in_place().attrs(), by_value().attrs());
    assert_eq!(in_place().nums(), by_value().nums());
    assert!(in_place().nums().is_empty(), "42 was replaced by \"7\"");
    assert_eq!(admitted(&l, 1, by_value), 1);
    assert_eq!(admitted(&l, 3, in_place), 1, "one key: one of two left");
    let user7 = || {
        Request::new("GET", "/x")
            .attr("user", "7")
            .attr("ip", "10.0.0.1")
    };
    assert_eq!(admitted(&l, 1, user7), 0, "and it is user 7's key");
}
