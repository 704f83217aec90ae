//! Beyond the five vendors: concurrency limits, keys from the path, cost
//! settled after the response, counting responses, shadow mode, limits from
//! attributes, status and reason signalling. One test (or more) per
//! guarantee.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlc::replay;
use rlc::{Limiter, ManualClock, Policy, Reason, Request};
use std::sync::atomic::{AtomicU64, Ordering};

const S: u64 = 1_000_000_000;
const T0: u64 = 1_700_000_000 * S - (1_700_000_000 * S) % (3600 * S);

fn limiter(text: &str) -> Limiter<ManualClock> {
    let p = Policy::from_str("t.rl", text).unwrap_or_else(|e| panic!("{}", e.render(100)));
    Limiter::with_capacity(p, ManualClock::new(T0), 256)
}

// ---------------------------------------------------------------- concurrency

#[test]
fn concurrency_slots_are_held_by_the_decision_and_freed_on_drop() {
    let l = limiter("input user\nANY /** by user: 2 concurrent\n");
    let r = Request::new("GET", "/x").attr("user", "u");
    let a = l.check_at(&r, T0);
    let b = l.check_at(&r, T0);
    assert!(a.allowed() && b.allowed());
    assert_eq!(a.slots_held(), 1);
    let c = l.check_at(&r, T0);
    assert!(!c.allowed());
    assert_eq!(c.reason(), Some(Reason::Concurrency));
    assert_eq!(
        c.retry_after_ns(),
        None,
        "a slot frees when a request finishes"
    );
    drop(c);
    assert!(
        !l.check_at(&r, T0).allowed(),
        "a rejected decision held nothing"
    );
    drop(a);
    let d = l.check_at(&r, T0);
    assert!(d.allowed(), "dropping a permit frees its slot");
    assert!(l
        .check_at(&Request::new("GET", "/x").attr("user", "other"), T0)
        .allowed());
    drop((b, d));
}

#[test]
fn a_panicking_caller_releases_its_slot() {
    let l = limiter("input user\nANY /** by user: 1 concurrent\n");
    let r = Request::new("GET", "/x").attr("user", "u");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let permit = l.check_at(&r, T0);
        assert!(permit.allowed());
        panic!("handler failed");
    }));
    assert!(result.is_err());
    assert!(
        l.check_at(&r, T0).allowed(),
        "the slot was released during unwinding"
    );
}

#[test]
fn never_more_in_flight_than_the_limit_under_threads() {
    let l = limiter("input user\nANY /** by user: 3 concurrent\n");
    let in_flight = AtomicU64::new(0);
    let peak = AtomicU64::new(0);
    let admitted = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..2_000 {
                    let d = l.check_at(&Request::new("GET", "/x").attr("user", "u"), T0);
                    if d.allowed() {
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        admitted.fetch_add(1, Ordering::Relaxed);
                        std::hint::spin_loop();
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                    }
                    drop(d);
                }
            });
        }
    });
    assert!(
        peak.load(Ordering::SeqCst) <= 3,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
    assert!(admitted.load(Ordering::Relaxed) > 0);
    // Every slot came back.
    let all: Vec<_> = (0..3)
        .map(|_| l.check_at(&Request::new("GET", "/x").attr("user", "u"), T0))
        .collect();
    assert!(all.iter().all(|d| d.allowed()));
}

#[test]
fn replay_frees_slots_at_at_plus_duration() {
    let l = limiter("input user\nANY /** by user: 1 concurrent\n");
    let t = T0 / S;
    let trace = format!(
        "{{\"at\": {t}, \"method\": \"GET\", \"path\": \"/a\", \"attrs\": {{\"user\": \"u\"}}, \"duration\": 2.5}}\n\
         {{\"at\": {}, \"method\": \"GET\", \"path\": \"/a\", \"attrs\": {{\"user\": \"u\"}}}}\n\
         {{\"at\": {}, \"method\": \"GET\", \"path\": \"/a\", \"attrs\": {{\"user\": \"u\"}}}}\n\
         {{\"at\": {}, \"method\": \"GET\", \"path\": \"/a\", \"attrs\": {{\"user\": \"u\"}}}}\n",
        t as f64 + 2.4,
        t as f64 + 2.5,
        t as f64 + 2.5
    );
    let mut out = Vec::new();
    replay::run(&l, trace.as_bytes(), &mut out).unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|x| serde_json::from_str(x).unwrap())
        .collect();
    let allowed: Vec<bool> = lines
        .iter()
        .map(|v| v["allowed"].as_bool().unwrap())
        .collect();
    // In flight until +2.5 s; the lines without duration free at once.
    assert_eq!(allowed, [true, false, true, true]);
}

// ---------------------------------------------------------------- path keys

#[test]
fn path_parameters_as_keys_limit_each_object() {
    let l = limiter(
        "input key\nPOST /v1/intents/{intent} by key&intent: 2/1h fixed\nGET /channels/{channel}/messages | /c/{channel}/m by channel: 3/1h fixed\n",
    );
    let post = |i: &'static str| Request::new("POST", i).attr("key", "k");
    for _ in 0..2 {
        assert!(l.check_at(&post("/v1/intents/pi_1"), T0).allowed());
    }
    assert!(!l.check_at(&post("/v1/intents/pi_1"), T0).allowed());
    assert!(
        l.check_at(&post("/v1/intents/pi_2"), T0).allowed(),
        "another object has its own counter"
    );
    // One counter per channel across both route templates.
    assert!(l
        .check_at(&Request::new("GET", "/channels/9/messages"), T0)
        .allowed());
    assert!(l.check_at(&Request::new("GET", "/c/9/m"), T0).allowed());
    assert!(l
        .check_at(&Request::new("GET", "/channels/9/messages"), T0)
        .allowed());
    let d = l.check_at(&Request::new("GET", "/c/9/m"), T0);
    assert!(!d.allowed());
    assert!(l.check_at(&Request::new("GET", "/c/10/m"), T0).allowed());
    // A request attribute named like the parameter does not override the path.
    let d = l.check_at(
        &Request::new("GET", "/c/10/m")
            .attr("channel", "9")
            .attr("{channel}", "9"),
        T0,
    );
    assert!(d.allowed());
}

#[test]
fn a_path_parameter_key_wins_over_an_input_of_the_same_name() {
    // `doc` is also declared as an input: the key is still the path's
    // `{doc}`, and a request attribute named `doc` changes nothing.
    let l = limiter("input doc\nPATCH /v1/docs/{doc} by doc: 1/1m\n");
    let r = |path: &'static str| Request::new("PATCH", path);
    assert!(l.check_at(&r("/v1/docs/a"), T0).allowed());
    let d = l.check_at(&r("/v1/docs/a"), T0);
    assert!(!d.allowed(), "one per document, without any attribute");
    assert!(d.rule().is_some());
    assert!(l.check_at(&r("/v1/docs/b").attr("doc", "x"), T0).allowed());
    assert!(
        l.check_at(&r("/v1/docs/c").attr("doc", "x"), T0).allowed(),
        "two documents, two counters, whatever the attribute says"
    );
    assert!(!l.check_at(&r("/v1/docs/c").attr("doc", "y"), T0).allowed());
}

// ---------------------------------------------------------------- settle

#[test]
fn settle_refunds_or_charges_the_difference() {
    for alg in ["fixed", "sliding", "bucket"] {
        let l = limiter(&format!("input k\nANY /** by k: 10/1h {alg}\n"));
        let r = |c| Request::new("GET", "/x").attr("k", "a").cost(c);
        let mut d = l.check_at(&r(8), T0);
        assert!(d.allowed());
        l.settle(&mut d, 2);
        // 2 used: 8 more fit, 9 do not.
        assert!(!l.check_at(&r(9), T0).allowed(), "{alg}");
        let mut d2 = l.check_at(&r(1), T0);
        assert!(d2.allowed(), "{alg}");
        l.settle(&mut d2, 7);
        // 2 + 7 = 9 used: 1 fits, 2 do not.
        assert!(!l.check_at(&r(2), T0).allowed(), "{alg}");
        assert!(l.check_at(&r(1), T0).allowed(), "{alg}");
    }
}

#[test]
fn settling_a_released_permit_takes_no_slot() {
    // `release` gave the slot back: a later `settle` must not take slots
    // again (they would never be freed: the decision holds nothing now).
    let l = limiter("input user\nexports: POST /x by user: 2 concurrent\n");
    let r = Request::new("POST", "/x").attr("user", "u");
    for round in 0..3 {
        let mut d = l.check_at(&r, T0);
        assert!(d.allowed(), "round {round}");
        d.release();
        l.settle(&mut d, 1);
        assert_eq!(d.slots_held(), 0, "round {round}");
        drop(d);
    }
    let (a, b) = (l.check_at(&r, T0), l.check_at(&r, T0));
    assert!(a.allowed() && b.allowed(), "both slots are free");
    // Settling a held permit still adjusts what it holds.
    drop((a, b));
    let mut a = l.check_at(&r.clone().cost(1), T0);
    l.settle(&mut a, 2);
    assert_eq!(a.slots_held(), 2);
    assert!(!l.check_at(&r, T0).allowed(), "a holds both slots");
    drop(a);
    assert!(l.check_at(&r, T0).allowed());
}

#[test]
fn a_bucket_refund_is_only_what_has_not_drained_yet() {
    // 10 per 10 s bucket: one request per second, bursts of 10.
    let p = Policy::from_str("t.rl", "input key\nPOST /gen by key: 10/10s bucket\n").unwrap();
    let clock = ManualClock::new(T0);
    let l = Limiter::with_capacity(p, &clock, 64);
    let r = |c| Request::new("POST", "/gen").attr("key", "k").cost(c);
    // t = 0: an estimate of 10 takes the whole burst.
    let mut d = l.check(&r(10));
    assert!(d.allowed());
    // The handler runs 20 s; meanwhile the bucket refilled and 10 more ran.
    clock.advance(20 * S);
    assert_eq!((0..10).filter(|_| l.check(&r(1)).allowed()).count(), 10);
    // Settling the first request at 0 now hands back nothing: its 10 s of
    // debt drained long ago, and the 10 just admitted used that room.
    l.settle(&mut d, 0);
    assert!(
        !l.check(&r(1)).allowed(),
        "no 21st request in the same instant"
    );
    // A refund while the debt is still ahead of now is handed back.
    clock.advance(100 * S);
    let mut e = l.check(&r(10));
    assert!(e.allowed());
    clock.advance(4 * S);
    // 4 s drained: 6 of the 10 are still owed; settling at 2 hands back
    // 8 at most, capped at those 6.
    l.settle(&mut e, 2);
    assert_eq!(
        (0..10).filter(|_| l.check(&r(1)).allowed()).count(),
        10,
        "4 refilled + 6 handed back"
    );
}

#[test]
fn settle_at_measures_a_bucket_refund_at_the_given_time() {
    // A caller deciding on its own times, with a clock it never moves.
    let l = limiter("input key\nPOST /gen by key: 10/10s bucket\n");
    let r = |c| Request::new("POST", "/gen").attr("key", "k").cost(c);
    let mut d = l.check_at(&r(10), T0);
    assert!(d.allowed());
    let later = T0 + 20 * S;
    assert_eq!(
        (0..10)
            .filter(|_| l.check_at(&r(1), later).allowed())
            .count(),
        10
    );
    // At `later` the first request's debt has drained: nothing to hand back.
    l.settle_at(&mut d, 0, later);
    assert!(!l.check_at(&r(1), later).allowed());
    // A capped refund is remembered: cost 10, 4 s drained, settled at 2
    // hands back 6 (not 8); settled at 10 again, it charges those 6 back,
    // not 8, leaving room for 4.
    let t1 = T0 + 1000 * S;
    let mut e = l.check_at(&r(10), t1);
    assert!(e.allowed());
    l.settle_at(&mut e, 2, t1 + 4 * S);
    l.settle_at(&mut e, 10, t1 + 4 * S);
    assert_eq!(
        (0..10)
            .filter(|_| l.check_at(&r(1), t1 + 4 * S).allowed())
            .count(),
        4
    );
}

#[test]
fn settle_in_replay_and_cost_from_an_attribute() {
    let l = limiter("input k, tokens\nANY /** by k: 100/1h fixed cost tokens\n");
    let at = T0 / S;
    let trace = format!(
        "{{\"at\": {at}, \"method\": \"POST\", \"path\": \"/q\", \"attrs\": {{\"k\": \"a\", \"tokens\": \"60\"}}}}\n\
         {{\"at\": {at}, \"method\": \"POST\", \"path\": \"/q\", \"attrs\": {{\"k\": \"a\", \"tokens\": \"41\"}}}}\n\
         {{\"at\": {at}, \"method\": \"POST\", \"path\": \"/q\", \"attrs\": {{\"k\": \"a\", \"tokens\": \"40\"}}}}\n"
    );
    let mut out = Vec::new();
    replay::run(&l, trace.as_bytes(), &mut out).unwrap();
    let allowed: Vec<bool> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|x| {
            serde_json::from_str::<serde_json::Value>(x).unwrap()["allowed"]
                .as_bool()
                .unwrap()
        })
        .collect();
    assert_eq!(allowed, [true, false, true]);

    let l = limiter("input k\nANY /** by k: 10/1h fixed\n");
    let trace = format!(
        "{{\"at\": {at}, \"method\": \"POST\", \"path\": \"/q\", \"attrs\": {{\"k\": \"a\"}}, \"cost\": 10, \"actual_cost\": 3}}\n\
         {{\"at\": {at}, \"method\": \"POST\", \"path\": \"/q\", \"attrs\": {{\"k\": \"a\"}}, \"cost\": 7}}\n\
         {{\"at\": {at}, \"method\": \"POST\", \"path\": \"/q\", \"attrs\": {{\"k\": \"a\"}}}}\n"
    );
    let mut out = Vec::new();
    replay::run(&l, trace.as_bytes(), &mut out).unwrap();
    let allowed: Vec<bool> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|x| {
            serde_json::from_str::<serde_json::Value>(x).unwrap()["allowed"]
                .as_bool()
                .unwrap()
        })
        .collect();
    assert_eq!(
        allowed,
        [true, true, false],
        "10 estimated, 3 actual: 7 more fit, then none"
    );
}

// ---------------------------------------------------------------- responses

#[test]
fn counting_responses_blocks_after_too_many_failures() {
    let l =
        limiter("input ip\nauth_failures: ANY /** by ip: 3/10m fixed block 1h counting 401|403\n");
    let r = Request::new("POST", "/login").attr("ip", "1.2.3.4");
    // Requests themselves are not counted.
    for _ in 0..10 {
        assert!(l.check_at(&r, T0).allowed());
    }
    l.report_response_at(&r, 200, T0);
    l.report_response_at(&r, 401, T0);
    l.report_response_at(&r, 403, T0);
    l.report_response_at(&r, 500, T0);
    assert!(l.check_at(&r, T0).allowed(), "two failures of three");
    // The third failure fills the window and starts the hour.
    l.report_response_at(&r, 401, T0 + S);
    let d = l.check_at(&r, T0 + 2 * S);
    assert!(!d.allowed());
    assert_eq!(d.reason(), Some(Reason::Blocked));
    assert_eq!(d.rule(), Some("auth_failures"));
    assert_eq!(
        d.retry_after_ns(),
        Some(3600 * S - S),
        "the hour runs from the third failure"
    );
    assert!(
        !l.check_at(&r, T0 + 3600 * S).allowed(),
        "still blocked at its last instant"
    );
    assert!(
        l.check_at(&r, T0 + 3601 * S).allowed(),
        "the penalty ends; a new 10m window"
    );
    assert!(l
        .check_at(
            &Request::new("POST", "/login").attr("ip", "5.6.7.8"),
            T0 + 2 * S
        )
        .allowed());
}

#[test]
fn each_counted_response_counts_one_whatever_the_request_cost() {
    // The doc's login rule: the tenth failure locks the IP out, also when
    // the server gives its requests a cost.
    let l = limiter("input ip\nPOST /login by ip: 10/15m block 1h counting 401\n");
    let r = Request::new("POST", "/login").attr("ip", "1.2.3.4").cost(5);
    for i in 0..9 {
        l.report_response_at(&r, 401, T0);
        assert!(l.check_at(&r, T0).allowed(), "after failure {}", i + 1);
    }
    l.report_response_at(&r, 401, T0);
    let d = l.check_at(&r, T0);
    assert!(!d.allowed(), "the tenth failure locks");
    assert_eq!(d.reason(), Some(Reason::Blocked));
}

#[test]
fn response_status_in_replay() {
    let l = limiter("input ip\nANY /** by ip: 1/10m fixed block 1h counting 429\n");
    let at = T0 / S;
    let line = |s: u16| {
        format!("{{\"at\": {at}, \"method\": \"GET\", \"path\": \"/\", \"attrs\": {{\"ip\": \"i\"}}, \"response_status\": {s}}}\n")
    };
    let trace = [line(429), line(429), line(200)].concat();
    let mut out = Vec::new();
    replay::run(&l, trace.as_bytes(), &mut out).unwrap();
    let allowed: Vec<bool> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|x| {
            serde_json::from_str::<serde_json::Value>(x).unwrap()["allowed"]
                .as_bool()
                .unwrap()
        })
        .collect();
    assert_eq!(allowed, [true, false, false]);
}

// ---------------------------------------------------------------- shadow

#[test]
fn shadow_rules_report_but_never_reject() {
    let l = limiter(
        "input k\ndefault shadow_prefix \"Beta-\"\nheaders h { \"RateLimit-Remaining\" = \"${remaining}\" \"Reason\" = \"${reason}\" on reject }\nresponse r { headers h }\ndefault respond r\nnew_limit: ANY /** by k: 2/1m fixed shadow\nold_limit: ANY /** by k: 100/1m fixed\n",
    );
    let r = Request::new("GET", "/x").attr("k", "a");
    for i in 0..2 {
        let d = l.check_at(&r, T0);
        assert!(d.allowed());
        assert_eq!(d.rule(), Some("old_limit"));
        assert!(d.shadow().unwrap().allowed, "request {i}");
    }
    let d = l.check_at(&r, T0);
    assert!(d.allowed(), "a shadow rule never rejects");
    let sh = d.shadow().unwrap();
    assert!(!sh.allowed);
    assert_eq!(sh.rule.and_then(|x| d.rule_id(x)), Some("new_limit"));
    assert!(sh.retry_after_ns.is_some());
    let h = d.shadow_headers();
    assert!(
        h.contains(&("Beta-RateLimit-Remaining".to_string(), "0".to_string())),
        "{h:?}"
    );
    assert!(
        h.contains(&("Beta-Reason".to_string(), "rate_limited".to_string())),
        "{h:?}"
    );
    assert!(d.headers().iter().all(|(n, _)| !n.starts_with("Beta-")));
    let v = replay::decision_json(&d);
    assert_eq!(v["shadow"]["allowed"], false);
    assert_eq!(v["shadow"]["rule"], "new_limit");
    // The enforced rule counted all three.
    assert_eq!(d.windows()[0].used, 3);
}

#[test]
fn a_rejection_keeps_its_shadow_result_and_figures() {
    // A rejection's figures are computed when asked; adding the shadow
    // result to it must neither lose the result nor change the figures.
    let l = limiter(
        "input k\nenforced: ANY /** by k: 2/1m, 5/1h fixed\nbeta: ANY /** by k: 10/1m fixed shadow\n",
    );
    let r = Request::new("GET", "/x").attr("k", "a");
    for _ in 0..2 {
        assert!(l.check_at(&r, T0).allowed());
    }
    let d = l.check_at(&r, T0);
    assert!(!d.allowed());
    assert_eq!(d.rule(), Some("enforced"));
    let sh = d
        .shadow()
        .expect("the shadow rule applies to a rejected request too");
    assert!(sh.allowed, "3 of the shadow rule's 10");
    // The minute window rejects: it is reported, with nothing remaining and
    // its reset at the retry; the hour window shows its 2 of 5 used.
    assert_eq!(d.window_index(), 0);
    let w = d.windows();
    assert_eq!((w[0].used, w[0].remaining), (2, 0));
    assert_eq!(w[0].reset_ns, T0 + d.retry_after_ns().unwrap());
    assert_eq!((w[1].used, w[1].remaining), (2, 3));

    // A rule of one window on the general path (a shadow rule applies)
    // leaves its figures to be computed when asked; adding the shadow result
    // computes them first.
    let l = limiter(
        "input k\nenforced: ANY /** by k: 2/1m fixed\nbeta: ANY /** by k: 10/1m fixed shadow\n",
    );
    for _ in 0..2 {
        assert!(l.check_at(&r, T0).allowed());
    }
    let d = l.check_at(&r, T0);
    assert!(!d.allowed());
    assert!(
        d.shadow()
            .expect("kept on a lazily reported rejection")
            .allowed
    );
    let w = d.windows();
    assert_eq!((d.window_index(), w[0].used, w[0].remaining), (0, 2, 0));
    assert_eq!(w[0].reset_ns, T0 + d.retry_after_ns().unwrap());
}

#[test]
fn a_rejection_read_after_later_requests_reports_what_was_decided() {
    // A rejection by a rule of several windows reports the window that
    // rejected it, with that window's figures, however late it is read.
    let l = limiter("input k\nr: ANY /** by k: 1/1s, 3/1m fixed\n");
    let r = Request::new("GET", "/x").attr("k", "a");
    assert!(l.check_at(&r, T0).allowed());
    let d = l.check_at(&r, T0);
    assert!(!d.allowed());
    assert!(l.check_at(&r, T0 + S).allowed());
    assert!(l.check_at(&r, T0 + 2 * S).allowed());
    assert_eq!(d.window_index(), 0, "the first window (1/1s) rejected it");
    let w = d.windows();
    assert_eq!((w[0].limit, w[0].remaining, w[0].reset_ns), (1, 0, T0 + S));
    assert_eq!((w[1].limit, w[1].used, w[1].remaining), (3, 1, 2));

    // Under a running `block` penalty the one window is reported with the
    // decision's limit, remaining and reset, read before or after others.
    let l = limiter("input k\nb: ANY /** by k: 1/1s fixed block 10s\n");
    assert!(l.check_at(&r, T0).allowed());
    assert!(
        !l.check_at(&r, T0).allowed(),
        "over the limit: the block starts"
    );
    let d = l.check_at(&r, T0 + S);
    assert_eq!(d.reason(), Some(Reason::Blocked));
    let retry = d.retry_after_ns().unwrap();
    assert_eq!(retry, 9 * S);
    assert!(!l.check_at(&r, T0 + 2 * S).allowed());
    let w = d.windows()[0];
    assert_eq!((d.window_index(), w.limit, w.remaining), (0, 1, 0));
    assert_eq!(w.reset_ns, T0 + S + retry);
}

#[test]
fn shadow_concurrency_slots_are_freed_with_the_decision() {
    // Counted as if enforced: two in flight at most, and a slot frees when
    // its decision is dropped, as an enforced permit's does.
    for text in [
        "input user\nPOST /x by user: 2 concurrent shadow\n",
        "input user\ndefault shadow\nPOST /x by user: 2 concurrent\n",
    ] {
        let l = limiter(text);
        let r = Request::new("POST", "/x").attr("user", "u");
        for i in 0..5 {
            let d = l.check_at(&r, T0);
            assert!(d.allowed(), "{text}: {i}");
            assert!(d.shadow().unwrap().allowed, "{text}: request {i} alone");
        }
        let (a, b) = (l.check_at(&r, T0), l.check_at(&r, T0));
        assert!(a.shadow().unwrap().allowed && b.shadow().unwrap().allowed);
        let c = l.check_at(&r, T0);
        assert!(c.allowed(), "a shadow rule never rejects");
        let sh = c.shadow().unwrap();
        assert!(!sh.allowed, "{text}: a third in flight");
        assert_eq!(sh.reason, Some(Reason::Concurrency));
        drop((a, c));
        assert!(l.check_at(&r, T0).shadow().unwrap().allowed, "{text}");
        drop(b);
    }
}

#[test]
fn a_whole_policy_in_shadow_mode() {
    let l = limiter("input k\ndefault shadow\nANY /** by k: 1/1m fixed\n");
    let r = Request::new("GET", "/x").attr("k", "a");
    assert!(l.check_at(&r, T0).allowed());
    let d = l.check_at(&r, T0);
    assert!(d.allowed());
    assert!(!d.shadow().unwrap().allowed);
}

// ---------------------------------------------------------------- limits from attributes

#[test]
fn limits_computed_from_attributes() {
    let l = limiter("input org, licences\nANY /** by org: min(15000, 1000 * licences)/24h fixed\n");
    let r = |org: &'static str, lic: &'static str| {
        Request::new("GET", "/x")
            .attr("org", org)
            .attr("licences", lic)
    };
    let day = T0 - T0 % (86_400 * S);
    for _ in 0..3000 {
        assert!(l.check_at(&r("a", "3"), day).allowed());
    }
    assert!(
        !l.check_at(&r("a", "3"), day).allowed(),
        "3 licences: 3000 a day"
    );
    assert!(
        l.check_at(&r("a", "4"), day).allowed(),
        "the limit follows the attribute"
    );
    let big = l.check_at(&r("b", "1000000000000"), day);
    assert!(big.allowed());
    assert_eq!(big.windows()[0].limit, 15000, "capped by the constant");
    let huge = l.check_at(&r("c", "18446744073709551615"), day);
    assert_eq!(
        huge.windows()[0].limit,
        15000,
        "overflow saturates, then the cap applies"
    );
    assert!(
        !l.check_at(&r("d", "-5"), day).allowed(),
        "a negative or non-numeric value counts as 0"
    );
    assert!(
        !l.check_at(&Request::new("GET", "/x").attr("org", "e"), day)
            .allowed(),
        "absent: 0"
    );
}

#[test]
fn tiers_by_condition() {
    let l = limiter("input k, plan\nwhen plan == \"pro\" { ANY /** by k: 3/1m fixed }\nwhen plan != \"pro\" { ANY /** by k: 1/1m fixed }\n");
    let r = |plan: &'static str| Request::new("GET", "/x").attr("k", "a").attr("plan", plan);
    assert!(l.check_at(&r("free"), T0).allowed());
    assert!(!l.check_at(&r("free"), T0).allowed());
    let l = limiter("input k, plan\nwhen plan == \"pro\" { ANY /** by k: 3/1m fixed }\nwhen plan != \"pro\" { ANY /** by k: 1/1m fixed }\n");
    for _ in 0..3 {
        assert!(l.check_at(&r("pro"), T0).allowed());
    }
    assert!(!l.check_at(&r("pro"), T0).allowed());
}

#[test]
fn misuse_is_diagnosed() {
    for (text, code) in [
        (
            "input k, n\nANY /** by k: 1000 * n/1h fixed\n",
            "rl::unbounded_limit",
        ),
        (
            "input k, n\nANY /** by k: min(10, 99999999999 * 99999999999)/1h fixed\n",
            "rl::number_overflow",
        ),
        (
            "input k, n\nANY /** by k: min(10, n)/1h sliding\n",
            "rl::derived_not_fixed",
        ),
        (
            "input k\nANY /** by k: 5 concurrent block 1m\n",
            "rl::concurrency_misuse",
        ),
        (
            "input k\nPOST /a/{id} | /b by k&id: 5/1m\n",
            "rl::param_not_in_path",
        ),
        (
            "input k\nANY /** by k: 5/1m cost tokens\n",
            "rl::unknown_attribute",
        ),
        (
            "input k\nANY /** by k: 5/1m counting 999\n",
            "rl::bad_status",
        ),
        (
            "input k\ndefault shadow_prefix \"Beta \"\nANY /** by k: 5/1m\n",
            "rl::bad_string",
        ),
    ] {
        let (_, d) = rlc::compile_source(&rlc::Source::new("t.rl", text));
        assert!(
            d.iter().any(|x| x.code == code),
            "{text}: expected {code}, got {:?}",
            d.iter().map(|x| x.code).collect::<Vec<_>>()
        );
    }
}

// ---------------------------------------------------------------- signalling

#[test]
fn any_status_reason_codes_and_the_rule_in_headers_and_body() {
    let l = limiter(
        "input k\nheaders h { \"X-Reason\" = \"${reason}\" on reject \"X-Rule\" = \"${rule}\" on reject }\nresponse soft { status 200 headers h body `{\"throttled\": true, \"reason\": \"${reason}\", \"rule\": \"${rule}\"}` }\nresponse hard { status 503 headers h }\nsoft_cap: GET /x by k: 1/1m fixed respond soft\nhard_cap: GET /y by k: 1/1m fixed block 10m respond hard\n",
    );
    let x = Request::new("GET", "/x").attr("k", "a");
    l.check_at(&x, T0);
    let d = l.check_at(&x, T0);
    assert!(!d.allowed());
    assert_eq!(d.status(), 200, "a rejection may answer 200 with a body");
    assert_eq!(
        d.body().unwrap(),
        r#"{"throttled": true, "reason": "rate_limited", "rule": "soft_cap"}"#
    );
    let y = Request::new("GET", "/y").attr("k", "a");
    l.check_at(&y, T0);
    let d = l.check_at(&y, T0);
    assert_eq!(d.status(), 503);
    assert!(d.headers().contains(&("X-Reason".into(), "blocked".into())));
    assert!(d.headers().contains(&("X-Rule".into(), "hard_cap".into())));
}

// ---------------------------------------------------------------- time zones

#[test]
fn fixed_days_aligned_to_local_midnight() {
    // 2024-01-15T15:00:00Z is midnight in Tokyo (UTC+9, no DST).
    let tokyo_midnight = 1_705_330_800 * S;
    let l = limiter("input k\nANY /** by k: 2/1d fixed timezone \"Asia/Tokyo\"\n");
    let r = Request::new("GET", "/x").attr("k", "a");
    assert!(l.check_at(&r, tokyo_midnight - 2 * S).allowed());
    assert!(l.check_at(&r, tokyo_midnight - S).allowed());
    let d = l.check_at(&r, tokyo_midnight - S);
    assert!(!d.allowed());
    assert_eq!(
        d.retry_after_ns(),
        Some(S),
        "the day ends at Tokyo midnight"
    );
    assert_eq!(d.windows()[0].reset_ns, tokyo_midnight);
    assert!(l.check_at(&r, tokyo_midnight).allowed(), "a new Tokyo day");
}

#[test]
fn time_zone_from_a_request_attribute_with_a_policy_default() {
    // 2024-07-01T22:00:00Z is midnight in Paris (UTC+2 in summer).
    let paris_midnight = 1_719_871_200 * S;
    let l = limiter(
        "input k, tz\ndefault timezone \"Europe/Paris\"\nANY /** by k: 1/1d fixed timezone tz\n",
    );
    let r =
        |k: &'static str, tz: &'static str| Request::new("GET", "/x").attr("k", k).attr("tz", tz);
    assert!(l.check_at(&r("a", "nowhere"), paris_midnight - S).allowed());
    assert!(
        l.check_at(&r("a", "nowhere"), paris_midnight).allowed(),
        "invalid zone: the policy default (Paris)"
    );
    // New York midnight is 04:00Z: at 22:00Z it is still the same NY day.
    assert!(l
        .check_at(&r("b", "America/New_York"), paris_midnight - S)
        .allowed());
    let d = l.check_at(&r("b", "America/New_York"), paris_midnight);
    assert!(!d.allowed());
    assert_eq!(d.retry_after_ns(), Some(6 * 3600 * S));
}

/// The worked example in docs/language.md compiles clean and does what its
/// published text says.
#[test]
fn the_documented_example_policy() {
    let doc = std::fs::read_to_string("docs/language.md").unwrap();
    let start = doc.find("```rl\npolicy quillpad").unwrap() + 6;
    let end = start + doc[start..].find("```").unwrap();
    let p = Policy::from_str("quillpad.rl", &doc[start..end])
        .unwrap_or_else(|e| panic!("{}", e.render(100)));
    assert!(p.warnings().is_empty(), "{:?}", p.warnings());
    let l = Limiter::with_capacity(p, ManualClock::new(T0), 256);
    // "Each user may have at most 4 exports running at once."
    let export = Request::new("POST", "/v1/exports")
        .attr("org", "o")
        .attr("user", "u");
    let held: Vec<_> = (0..4).map(|_| l.check_at(&export, T0)).collect();
    assert!(held.iter().all(|d| d.allowed()));
    let fifth = l.check_at(&export, T0);
    assert_eq!(fifth.status(), 429);
    assert_eq!(fifth.reason(), Some(Reason::Concurrency));
    assert!(fifth
        .headers()
        .contains(&("X-RateLimit-Reason".into(), "too_many_in_flight".into())));
    drop(held);
    // "Each document accepts at most 30 edits per minute, whoever makes them."
    let minute = T0 - T0 % (60 * S);
    for i in 0..30 {
        let user = if i % 2 == 0 { "a" } else { "b" };
        assert!(l
            .check_at(
                &Request::new("PATCH", "/v1/docs/d1")
                    .attr("org", "o")
                    .attr("user", user),
                minute
            )
            .allowed());
    }
    assert!(!l
        .check_at(
            &Request::new("PATCH", "/v1/docs/d1").attr("org", "o2"),
            minute
        )
        .allowed());
    assert!(l
        .check_at(
            &Request::new("PATCH", "/v1/docs/d2").attr("org", "o2"),
            minute
        )
        .allowed());
    // "Ten failed logins from one IP within 15 minutes lock that IP out for an hour."
    let login = Request::new("POST", "/v1/login")
        .attr("ip", "9.9.9.9")
        .attr("org", "o3");
    for _ in 0..10 {
        assert!(l.check_at(&login, minute).allowed());
        l.report_response_at(&login, 401, minute);
    }
    let d = l.check_at(&login, minute + S);
    assert_eq!(d.status(), 403);
    assert_eq!(d.rule(), Some("login_failures"));
}

/// A key with requests in flight keeps its entry, however long they run and
/// however many new keys arrive: its slots are never handed to another key.
#[test]
fn in_flight_entries_are_never_reclaimed() {
    let p = Policy::from_str("t.rl", "input user\nANY /** by user: 1 concurrent\n").unwrap();
    let l = Limiter::with_capacity(p, ManualClock::new(T0), 16);
    let a = Request::new("GET", "/x").attr("user", "a");
    let held = l.check_at(&a, T0);
    assert!(held.allowed());
    let later = T0 + 3600 * S;
    let names: Vec<String> = (0..500).map(|i| format!("u{i}")).collect();
    for n in &names {
        let d = l.check_at(&Request::new("GET", "/x").attr("user", n), later);
        drop(d);
    }
    assert!(
        !l.check_at(&a, later).allowed(),
        "a's request is still in flight"
    );
    drop(held);
    assert!(l.check_at(&a, later).allowed());
}
