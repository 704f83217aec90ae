//! `Limiter::keyed`: a route decided by one keyed quota, resolved once.
//!
//! A handle decides exactly as `Limiter::check` does on a request of its
//! route carrying the key, with the same state: one limiter gets a random
//! mix of handle checks, handle verdicts and ordinary requests, another the
//! same requests on the general path, and every decision must agree. Routes
//! that are not a single keyed quota are refused with the reason.
//! `PROPTEST_CASES=N` scales it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "differential_common/mod.rs"]
mod differential_common;

use differential_common::{cases, same};
use proptest::prelude::*;
use rlc::{
    Key, KeyedVerdict, Limiter, ManualClock, NotKeyed, NotKeyedReason, Policy, Reason, Request,
};

const T0: u64 = 1_700_000_000_000_000_000;

/// Policies whose `GET /items/7` is one keyed quota, of every algorithm,
/// with and without penalties, statuses, bodies and overflow choices.
const POLICIES: &[&str] = &[
    "input key\nall: ANY /** by key: 5/10s bucket\n",
    "input key\nall: ANY /** by key: 5/10s bucket burst 2 status 503\n",
    "input key\nall: ANY /** by key: 4/10s fixed\n",
    "input key\nall: ANY /** by key: 4/8s sliding\n",
    "input key\nall: ANY /** by key: 3/10s block 30s\n",
    "input key\nall: ANY /** by key: 3/10s bucket block 30s\n",
    "input key\nall: ANY /** by key: 3/10s fixed block 4s\n",
    "input key\nall: ANY /** by key: 40/1mo fixed\n",
    "input key\nitems: GET /items/{id} by key: 3/5s\nother: POST /** by key: 1/1h\n",
    "input key\nme: GET /items/me by key: 9/1s\n\
     items: GET /items/{id} by key: 3/5s bucket\nother: POST /** by key: 1/1h\n",
    // More inputs than the plain path reads: ordinary requests take the
    // general path, on the handle's state.
    "input key, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16\n\
     all: GET /** by key: 4/10s bucket\nmore: POST /** by key&a1&a2: 1/1s\n",
    "input key\ndefault overflow allow\nall: ANY /** by key: 2/10s\n",
    "input key\nresponse slow { status 429 body \"{\\\"retry\\\": ${retry_after}}\" }\n\
     all: ANY /** by key: 2/10s respond slow\n",
];

const METHOD: &str = "GET";
const PATH: &str = "/items/7";
/// Spellings of the route that requests may use, all routed as `PATH`.
const REQUEST_ROUTES: &[(&str, &str)] = &[
    ("GET", "/items/7"),
    ("get", "/items/7/"),
    ("GET", "/items/7?page=2"),
    ("GET", "//items//7#top"),
];
/// More keys than the limiters' capacity, so that the store fills up; texts
/// that look like numbers but are not canonical are other keys.
const KEYS: &[&str] = &[
    "key_prod_1",
    "7",
    "42",
    "07",
    "+7",
    "18446744073709551616",
    "k7",
    "18446744073709551615",
];
const CAPACITY: usize = 4;

#[derive(Clone, Copy, Debug)]
enum Via {
    /// `Keyed::check_n_at`: a full decision.
    Check,
    /// `Keyed::verdict_n_at`.
    Verdict,
    /// `Limiter::check_at` on the same limiter: state shared with the handle.
    Request,
}

#[derive(Clone, Debug)]
struct Op {
    /// Time moves by this (back, now and then: a clock step).
    dt_ns: i64,
    route: usize,
    key: usize,
    as_number: bool,
    cost: u64,
    via: Via,
    settle: Option<u64>,
}

fn op() -> impl Strategy<Value = Op> {
    let dt = prop_oneof![
        4 => Just(0i64),
        4 => 0i64..2_000_000_000,
        1 => 0i64..40_000_000_000,
        1 => -3_000_000_000i64..0,
    ];
    let cost = prop_oneof![8 => Just(1u64), 1 => Just(0u64), 1 => 2u64..6];
    let via = prop_oneof![Just(Via::Check), Just(Via::Verdict), Just(Via::Request)];
    (
        (dt, 0..REQUEST_ROUTES.len()),
        prop_oneof![4 => 0..4usize, 1 => 0..KEYS.len()],
        any::<bool>(),
        cost,
        via,
        prop::option::weighted(0.15, 0u64..4),
    )
        .prop_map(|((dt_ns, route), key, as_number, cost, via, settle)| Op {
            dt_ns,
            route,
            key,
            as_number,
            cost,
            via,
            settle,
        })
}

/// The op's key: a number when asked and the text is a number's.
fn key(o: &Op) -> Key<'static> {
    match (o.as_number, KEYS[o.key].parse::<u64>()) {
        (true, Ok(n)) => Key::Num(n),
        _ => Key::Text(KEYS[o.key]),
    }
}

fn request(o: &Op) -> Request<'static> {
    let (method, path) = REQUEST_ROUTES[o.route];
    let r = Request::new(method, path).cost(o.cost);
    match key(o) {
        Key::Num(n) => r.attr_u64("key", n),
        Key::Text(s) => r.attr("key", s),
    }
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn a_handle_decides_as_the_limiter_does(
        p in 0..POLICIES.len(),
        ops in prop::collection::vec(op(), 1..200),
    ) {
        let policy = Policy::from_str("t.rl", POLICIES[p])
            .unwrap_or_else(|e| panic!("{}", e.render(100)));
        let keyed = Limiter::with_capacity(policy.clone(), ManualClock::new(0), CAPACITY);
        let general = Limiter::with_capacity(policy, ManualClock::new(0), CAPACITY);
        let h = keyed.keyed(METHOD, PATH).unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(h.key_name(), "key");
        let mut now = T0;
        for (i, o) in ops.iter().enumerate() {
            now = now.saturating_add_signed(o.dt_ns);
            let mut b = general.check_at_general(&request(o), now);
            match o.via {
                Via::Check => {
                    let mut a = h.check_n_at(key(o), o.cost, now);
                    same(&a, &b, i)?;
                    if let Some(actual) = o.settle {
                        keyed.settle(&mut a, actual);
                        general.settle(&mut b, actual);
                    }
                }
                Via::Verdict => {
                    let v = h.verdict_n_at(key(o), o.cost, now);
                    prop_assert_eq!(v, KeyedVerdict::of(&b), "step {}", i);
                }
                Via::Request => {
                    let mut a = keyed.check_at(&request(o), now);
                    same(&a, &b, i)?;
                    if let Some(actual) = o.settle {
                        keyed.settle(&mut a, actual);
                        general.settle(&mut b, actual);
                    }
                }
            }
        }
    }
}

fn limiter(src: &str) -> Limiter<ManualClock> {
    let policy = Policy::from_str("t.rl", src).unwrap_or_else(|e| panic!("{}", e.render(100)));
    Limiter::with_clock(policy, ManualClock::new(T0))
}

#[test]
fn a_handle_counts_against_the_documented_quota() {
    // 3 per 10 s, bucket: the fourth request in one instant waits for one
    // emission interval, 10 s / 3.
    let l = limiter("input key\nall: GET /** by key: 3/10s bucket\n");
    let h = l.keyed("GET", "/").unwrap();
    for _ in 0..3 {
        assert!(h.verdict(7).allowed());
    }
    let v = h.verdict("7");
    assert!(!v.allowed(), "the text of 7 is the key 7");
    assert_eq!(v.status(), 429);
    assert_eq!(v.reason(), Some(Reason::Limit));
    assert_eq!(v.retry_after_ns(), Some(10_000_000_000 / 3));
    assert!(h.verdict(8).allowed(), "another key has its own quota");
    let req = Request::new("GET", "/").attr_u64("key", 7);
    assert!(
        !l.check(&req).allowed(),
        "the handle's state is the limiter's"
    );
    assert_eq!(format!("{h:?}"), r#"Keyed { rule: "all", key: "key" }"#);
}

#[test]
fn a_penalty_started_through_a_handle_is_reported() {
    let l = limiter("input key\nall: GET /** by key: 1/10s bucket block 1m\n");
    let h = l.keyed("GET", "/").unwrap();
    assert!(h.verdict(1).allowed());
    let v = h.verdict(1);
    assert_eq!(v.reason(), Some(Reason::Blocked));
    assert_eq!(v.retry_after(), Some(std::time::Duration::from_secs(60)));
    let d = h.check(1);
    assert_eq!(d.reason(), Some(Reason::Blocked));
    assert_eq!(d.retry_after_ns(), Some(60_000_000_000));
}

#[test]
fn routes_that_are_not_one_keyed_quota_are_refused_with_the_reason() {
    let shape = |src: &str, method: &str, path: &str| -> NotKeyedReason {
        let e: NotKeyed = limiter(src)
            .keyed(method, path)
            .expect_err("this route is not one keyed quota");
        assert_eq!((e.method.as_str(), e.path.as_str()), (method, path));
        e.reason
    };
    assert_eq!(
        shape("input key\nr: GET /a by key: 1/1s\n", "GET", "/b"),
        NotKeyedReason::NoRule
    );
    assert_eq!(
        shape("input key\nr: GET /a by key: 1/1s\n", "POST", "/a"),
        NotKeyedReason::NoRule
    );
    assert_eq!(
        shape(
            "input key, ip\nb: GET /** by ip: 9/1s\na: GET /a by key: 1/1s\n",
            "GET",
            "/a"
        ),
        NotKeyedReason::SeveralRules(vec!["b".into(), "a".into()])
    );
    // A literal route next to a `{param}` route: both apply to `/u/me`.
    let src = "input key\nme: GET /u/me by key: 1/1s\nany: GET /u/{id} by key: 5/1s\n";
    assert_eq!(
        shape(src, "GET", "/u/me"),
        NotKeyedReason::SeveralRules(vec!["me".into(), "any".into()])
    );
    assert_eq!(
        limiter(src).keyed("GET", "/u/42?x=1").unwrap().rule(),
        "any"
    );
    assert_eq!(
        shape(
            "input key\ncounter hits = GET /** by key per 1m\nr: GET /** by key: 1/1s\n",
            "GET",
            "/"
        ),
        NotKeyedReason::Counter("hits".into())
    );
    let why = |src: &str| match shape(src, "GET", "/x") {
        NotKeyedReason::Shape { rule, why } => {
            assert_eq!(rule, "r");
            why
        }
        other => panic!("expected a shape, got {other:?}"),
    };
    assert_eq!(why("r: GET /** : 1/1s\n"), "has no key");
    assert_eq!(
        why("input key, tier\nr: GET /** when tier == \"free\" by key: 1/1s\n"),
        "has a condition"
    );
    assert_eq!(
        why("input key, n\nr: GET /** by key: 1/1s cost n\n"),
        "takes its cost from an attribute"
    );
    assert_eq!(
        why("input key, ip\nr: GET /** by key&ip: 1/1s\n"),
        "has a key of several attributes (`&`)"
    );
    assert_eq!(
        why("input key, ip\nr: GET /** by key|ip: 1/1s\n"),
        "has several keys (`|`), each counted apart"
    );
    assert_eq!(
        why("input key\nr: GET /** by key: 1/1s, 10/1m\n"),
        "has several windows"
    );
    assert_eq!(
        why("input key\nr: GET /** by key: 1/1s shadow\n"),
        "is a shadow rule"
    );
    assert_eq!(
        why("r: GET /{x} by x: 1/1s\n"),
        "takes its key from the path"
    );
    assert_eq!(
        why("input key\nr: GET /** by key: 2 concurrent\n"),
        "has a derived, concurrency, time-zone or response-counting limit"
    );
    let l = limiter("input key\nr: GET /** by key: 1/1s shadow\n");
    assert_eq!(
        l.keyed("GET", "/x").unwrap_err().to_string(),
        "GET /x: rule `r` is a shadow rule; decide these requests with `Limiter::check`"
    );
    assert_eq!(
        l.keyed("POST", "/x").unwrap_err().to_string(),
        "POST /x: no rule applies, every request is admitted"
    );
}

#[test]
fn two_threads_on_one_handle_admit_exactly_the_quota() {
    // 1000 per hour, bucket of burst 1000, time frozen: of 2 x 2000 requests
    // of one key in one instant, exactly 1000 are admitted, whichever thread
    // wins each compare-and-swap; no admission is lost or doubled.
    let l = limiter("input key\nall: GET /** by key: 1000/1h bucket\n");
    let h = l.keyed("GET", "/").unwrap();
    let admitted: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|t| {
                let h = &h;
                s.spawn(move || {
                    (0..2000)
                        .filter(|i| {
                            if (i + t) % 2 == 0 {
                                h.verdict_at(5, T0).allowed()
                            } else {
                                h.check_at("5", T0).allowed()
                            }
                        })
                        .count() as u64
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(admitted, 1000);
}

#[test]
fn a_shared_handle_lives_as_long_as_the_limiter_it_holds() {
    // A handle in a `'static` worker, next to the limiter's other users:
    // it holds the limiter through its `Arc`.
    let l = std::sync::Arc::new(limiter("input key\nall: GET /** by key: 2/1h bucket\n"));
    let h = l.keyed_shared("GET", "/").unwrap();
    let worker = std::thread::spawn(move || {
        (0..3)
            .map(|_| h.handle().verdict_at(9, T0).allowed())
            .collect::<Vec<_>>()
    });
    assert_eq!(worker.join().unwrap(), [true, true, false]);
    let req = Request::new("GET", "/").attr_u64("key", 9);
    assert!(!l.check_at(&req, T0).allowed(), "one state for both");
    assert!(l.keyed_shared("POST", "/").is_err());
}

#[test]
fn costs_on_the_limiter_clock_and_copied_handles() {
    // 3 per 10 s, bucket: a cost of 3 takes the whole burst; the copy of
    // the handle decides on the same state.
    let l = limiter("input key\nall: GET /** by key: 3/10s bucket\n");
    let h = l.keyed("GET", "/").unwrap();
    let copy = h;
    assert!(h.verdict_n(9, 3).allowed());
    assert!(!copy.check_n(9, 1).allowed());
    assert!(!copy.verdict_n(9, 4).allowed());
    assert_eq!(
        copy.verdict_n(9, 4).retry_after_ns(),
        None,
        "4 > 3: no wait helps"
    );
    let shared = std::sync::Arc::new(limiter("input key\nall: GET /** by key: 1/1h\n"))
        .keyed_shared("GET", "/")
        .unwrap();
    let twin = shared.clone();
    assert!(shared.handle().verdict(1).allowed());
    assert!(!twin.handle().verdict(1).allowed());
    assert_eq!(format!("{twin:?}"), r#"Keyed { rule: "all", key: "key" }"#);
}
