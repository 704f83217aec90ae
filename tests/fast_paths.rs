//! The evaluator's fast paths (a method routed to one rule, requests that
//! touch only plain rules, rejections built from the first judgement, lazy
//! window figures) decide exactly as the general path does: the same
//! requests, in the same order, to two limiters of one policy, one deciding
//! with `check_at`, the other with `check_at_general`, must give the same
//! decisions, figures, headers and bodies, also after `settle`.
//! `PROPTEST_CASES=N` scales it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "differential_common/mod.rs"]
mod differential_common;

use differential_common::{cases, same};
use proptest::prelude::*;
use rlc::{Decision, Limiter, ManualClock, Policy, Request};

const T0: u64 = 1_700_000_000_000_000_000;

const POLICIES: &[&str] = &[
    // One rule for every request: the one-rule path.
    "input key\nall: ANY /** by key: 5/10s bucket\n",
    "input key\nall: ANY /** by key: 4/10s fixed\n",
    "input key\nall: ANY /** by key: 4/8s sliding\n",
    "input key\nall: ANY /** by key: 3/10s block 30s\n",
    "input key\nall: ANY /** by key: 3/10s fixed block 4s\n",
    "all: ANY /** : 6/5s bucket\n",
    // Several plain rules, conditions, composite keys, several windows,
    // routes below the root, `{param}` routes: the plain path.
    "input key, ip, tier\n\
     reads: GET /** by key: 4/10s bucket\n\
     free: ANY /** when tier == \"free\" by key&ip: 2/5s fixed\n\
     items: POST /items/{id} by ip: 3/1m sliding block 20s\n\
     two: ANY /items/** by key: 10/1m, 3/5s\n\
     either: DELETE /** by key|ip: 2/10s\n\
     legacy: ANY /** when key !~ \"_prod_|_test_\" by key: 5/10s fixed\n",
    // A rule routed both at the root and below it (read once), and a rule
    // of five windows (its rejection figures judged eagerly).
    "input key, ip\n\
     both: ANY /** | /items/** by ip: 6/10s fixed\n\
     many: POST /items/{id} by key: 10/1m, 3/5s, 20/1h, 50/1d, 8/30s sliding\n\
     blocked: ANY /items/** by key: 2/5s fixed block 8s\n",
    // A rule the fast paths leave to the general path (a derived limit)
    // next to plain ones.
    "input key, seats\n\
     plain: GET /** by key: 3/10s\n\
     seats: POST /** by key: min(10, 1 * seats)/1m fixed\n",
];

const PATHS: &[&str] = &["/", "/items", "/items/7", "/items/7/parts", "/other/x?q=1"];
// With odd spellings: lower case is the method, a trailing NUL or an
// unknown name is not (it matches only `ANY` rules).
const METHODS: &[&str] = &["GET", "POST", "DELETE", "PATCH", "get", "GET\0", "PURGE"];
const KEYS: &[&str] = &["key_prod_1", "key_test_2", "legacy3", "42"];

#[derive(Clone, Debug)]
struct Op {
    dt_ns: u64,
    method: usize,
    path: usize,
    key: Option<usize>,
    key_as_number: bool,
    ip: Option<usize>,
    tier: Option<usize>,
    seats: Option<u64>,
    cost: u64,
    settle: Option<u64>,
}

fn op() -> impl Strategy<Value = Op> {
    let dt = prop_oneof![4 => Just(0u64), 4 => 0u64..2_000_000_000, 1 => 0u64..40_000_000_000];
    let cost = prop_oneof![8 => Just(1u64), 1 => Just(0u64), 1 => 2u64..6];
    (
        (
            dt,
            prop_oneof![2 => Just(1usize), 1 => 0..METHODS.len()],
            prop_oneof![2 => Just(2usize), 1 => 0..PATHS.len()],
        ),
        (
            prop::option::weighted(0.9, 0..KEYS.len()),
            any::<bool>(),
            prop::option::weighted(0.8, 0usize..2),
            prop::option::weighted(0.7, 0usize..2),
            prop::option::weighted(0.5, 0u64..4),
        ),
        (cost, prop::option::weighted(0.15, 0u64..4)),
    )
        .prop_map(
            |((dt_ns, method, path), (key, key_as_number, ip, tier, seats), (cost, settle))| Op {
                dt_ns,
                method,
                path,
                key,
                key_as_number,
                ip,
                tier,
                seats,
                cost,
                settle,
            },
        )
}

fn request(o: &Op) -> Request<'static> {
    let mut r = Request::new(METHODS[o.method], PATHS[o.path]).cost(o.cost);
    if let Some(k) = o.key {
        r = match (o.key_as_number, KEYS[k].parse::<u64>()) {
            (true, Ok(n)) => r.attr_u64("key", n),
            _ => r.attr("key", KEYS[k]),
        };
    }
    if let Some(i) = o.ip {
        r = r.attr("ip", ["10.0.0.1", "10.0.0.2"][i]);
    }
    if let Some(t) = o.tier {
        r = r.attr("tier", ["free", "paid"][t]);
    }
    if let Some(n) = o.seats {
        r = r.attr_u64("seats", n);
    }
    r
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn fast_paths_decide_as_the_general_path(
        p in 0..POLICIES.len(),
        ops in prop::collection::vec(op(), 1..200),
    ) {
        let policy = Policy::from_str("t.rl", POLICIES[p])
            .unwrap_or_else(|e| panic!("{}", e.render(100)));
        let fast = Limiter::with_capacity(policy.clone(), ManualClock::new(0), 64);
        let general = Limiter::with_capacity(policy, ManualClock::new(0), 64);
        let mut now = T0;
        for (i, o) in ops.iter().enumerate() {
            now += o.dt_ns;
            let req = request(o);
            let mut a = fast.check_at(&req, now);
            let mut b = general.check_at_general(&req, now);
            same(&a, &b, i)?;
            if let Some(actual) = o.settle {
                fast.settle(&mut a, actual);
                general.settle(&mut b, actual);
            }
        }
    }
}

#[test]
fn the_vendor_policies_decide_alike_on_both_paths() {
    // A fixed run per vendor policy: API-like requests from a few clients.
    for name in ["basiq", "basis-theory", "bindbee", "finch", "mangopay"] {
        let policy = Policy::from_file(format!("policies/{name}.rl")).unwrap();
        let inputs: Vec<String> = policy.table().inputs.clone();
        let fast = Limiter::with_capacity(policy.clone(), ManualClock::new(0), 64);
        let general = Limiter::with_capacity(policy, ManualClock::new(0), 64);
        let paths = [
            "/tokens",
            "/tokens/abc",
            "/tokens/search",
            "/employer/directory",
            "/users/1",
        ];
        let values = [
            "key_prod_1",
            "key_test_2",
            "legacy",
            "10.0.0.1",
            "test",
            "private",
            "public",
            "management",
        ];
        let mut now = T0;
        for i in 0..3000usize {
            now += (i as u64 % 7) * 37_000_000;
            let mut req = Request::new(METHODS[i % 3], paths[i % paths.len()]);
            for (j, input) in inputs.iter().enumerate() {
                if (i + j) % 5 != 0 {
                    req = req.attr(input, values[(i / 3 + j) % values.len()]);
                }
            }
            let a = fast.check_at(&req, now);
            let b = general.check_at_general(&req, now);
            same(&a, &b, i).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

#[test]
fn decisions_can_be_shared_and_sent_between_threads() {
    fn sync_and_send<T: Sync + Send>() {}
    sync_and_send::<Decision<'static>>();
    sync_and_send::<Limiter<ManualClock>>();
}
