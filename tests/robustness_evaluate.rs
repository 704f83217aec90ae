//! Random request sequences against the vendor policies and against one
//! small policy per algorithm, each decision checked by an independent
//! oracle (tests/robustness_common/oracle.rs): never more admitted than a
//! rule allows in any of its windows, no admission during a penalty, and
//! self-consistent decisions. The same oracle runs in the `evaluate` fuzz
//! target. `PROPTEST_CASES=N` scales it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "robustness_common/oracle.rs"]
mod oracle;

use oracle::{vocab, Oracle, Req};
use proptest::prelude::*;
use proptest::test_runner::Config;
use rlc::{Limiter, ManualClock, Policy, Request};

const T0: u64 = 1_700_000_000_000_000_000;

fn cases(default: u32) -> Config {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    Config {
        cases: n,
        failure_persistence: None,
        ..Config::default()
    }
}

/// One step of a run: how far the clock moves, then the request.
#[derive(Clone, Debug)]
struct Op {
    dt_ns: u64,
    method: usize,
    path: usize,
    attrs: Vec<Option<usize>>,
    cost: u64,
    repeat: u8,
}

fn op(inputs: usize) -> impl Strategy<Value = Op> {
    let dt = prop_oneof![
        4 => Just(0u64),
        4 => 0u64..2_000_000_000,
        2 => 0u64..120_000_000_000,
        1 => 0u64..40 * 86_400_000_000_000,
    ];
    let cost = prop_oneof![8 => Just(1u64), 1 => Just(0u64), 2 => 2u64..60, 1 => Just(u64::MAX)];
    (
        dt,
        0usize..9,
        any::<usize>(),
        prop::collection::vec(prop::option::weighted(0.8, 0usize..64), inputs),
        cost,
        prop_oneof![3 => Just(1u8), 1 => 1u8..120],
    )
        .prop_map(|(dt_ns, method, path, attrs, cost, repeat)| Op {
            dt_ns,
            method,
            path,
            attrs,
            cost,
            repeat,
        })
}

const METHODS: [&str; 9] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "BREW", "get",
];

/// Drives `ops` through a fresh limiter on `text`, checking every decision.
fn run(name: &str, text: &str, ops: &[Op]) -> (u64, u64) {
    let policy = Policy::from_str(name, text).unwrap();
    let table = policy.table();
    let v = vocab(&table);
    let limiter = Limiter::with_capacity(policy.clone(), ManualClock::new(T0), 4096);
    let mut oracle = Oracle::new(&table);
    let mut now = T0;
    for o in ops {
        now += o.dt_ns;
        let attrs: Vec<(String, String)> = o
            .attrs
            .iter()
            .zip(&table.inputs)
            .filter_map(|(a, name)| a.map(|i| (name.clone(), v.values[i % v.values.len()].clone())))
            .collect();
        let req = Req {
            method: METHODS[o.method].to_string(),
            path: v.paths[o.path % v.paths.len()].clone(),
            attrs,
            cost: o.cost,
        };
        for i in 0..o.repeat {
            let at = now + u64::from(i) * 1_000_000;
            let mut r = Request::new(&req.method, &req.path).cost(req.cost);
            for (k, val) in &req.attrs {
                r = r.attr(k, val);
            }
            let d = limiter.check_at(&r, at);
            if let Err(e) = oracle.observe(&req, at, &d) {
                panic!("{name}: {e}");
            }
        }
        now += u64::from(o.repeat) * 1_000_000;
    }
    (oracle.decisions, oracle.admissions)
}

/// One policy per algorithm and feature, small limits so that runs hit them.
const SYNTHETIC: &[(&str, &str)] = &[
    ("sliding.rl", "input key\nANY /** by key: 5/10s sliding\n"),
    ("fixed.rl", "input key\nANY /** by key: 5/10s fixed\n"),
    ("bucket.rl", "input key\nANY /** by key: 5/10s bucket burst 3\n"),
    ("month.rl", "input key\nANY /** by key: 7/1mo fixed\n"),
    (
        "multi.rl",
        "input key, ip\nANY /** by key|ip: 4/1s, 10/1m fixed block 5s\nPOST /** by key&ip: 3/2s bucket\nGET /** by key: 6/10s\n",
    ),
    (
        "derived.rl",
        "input key\ncounter made = POST /users by key per 1d\nGET /users/{id} by key: min(made, 3)/1d fixed\n",
    ),
    (
        "blocks.rl",
        "input key\nANY /** by key: 3/1s sliding block 30s\nANY /** by key: 20/1m fixed block 2m\n",
    ),
];

fn vendor(name: &str) -> String {
    std::fs::read_to_string(format!("policies/{name}.rl")).unwrap()
}

proptest! {
    #![proptest_config(cases(1000))]

    #[test]
    fn synthetic_policies_keep_their_limits(
        which in 0usize..SYNTHETIC.len(),
        ops in prop::collection::vec(op(2), 1..120),
    ) {
        let (name, text) = SYNTHETIC[which];
        run(name, text, &ops);
    }

    #[test]
    fn vendor_policies_keep_their_limits(
        which in 0usize..5,
        ops in prop::collection::vec(op(6), 1..120),
    ) {
        let name = ["basis-theory", "basiq", "bindbee", "finch", "mangopay"][which];
        run(name, &vendor(name), &ops);
    }
}

/// The oracle itself catches over-admission: judged against a table whose
/// limits are one lower than the limiter's, every algorithm is caught.
#[test]
fn oracle_catches_a_limiter_that_admits_one_too_many() {
    for alg in ["sliding", "fixed", "bucket"] {
        let loose =
            Policy::from_str("l.rl", &format!("input key\nANY /** by key: 5/10s {alg}\n")).unwrap();
        let strict =
            Policy::from_str("s.rl", &format!("input key\nANY /** by key: 4/10s {alg}\n")).unwrap();
        let limiter = Limiter::with_clock(loose, ManualClock::new(T0));
        let table = strict.table();
        let mut oracle = Oracle::new(&table);
        let req = Req {
            method: "GET".into(),
            path: "/x".into(),
            attrs: vec![("key".into(), "k".into())],
            cost: 1,
        };
        let mut caught = false;
        for i in 0..5 {
            let d = limiter.check_at(&Request::new("GET", "/x").attr("key", "k"), T0 + i);
            caught |= oracle.observe(&req, T0 + i, &d).is_err();
        }
        assert!(caught, "{alg}: the oracle missed a fifth admission");
    }
}
