//! Arbitrary request sequences (times, methods, paths, attributes, costs)
//! against the vendor policies and one small policy per algorithm, every
//! decision checked by the oracle of tests/robustness_common/oracle.rs:
//! never more admitted than a rule allows in any window, no admission
//! during a penalty, self-consistent decisions.
#![no_main]

#[path = "../../tests/robustness_common/oracle.rs"]
mod oracle;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use oracle::{vocab, Oracle, Req};
use rlc::{Limiter, ManualClock, Policy, Request};

const POLICIES: &[(&str, &str)] = &[
    ("basis-theory.rl", include_str!("../../policies/basis-theory.rl")),
    ("basiq.rl", include_str!("../../policies/basiq.rl")),
    ("bindbee.rl", include_str!("../../policies/bindbee.rl")),
    ("finch.rl", include_str!("../../policies/finch.rl")),
    ("mangopay.rl", include_str!("../../policies/mangopay.rl")),
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
];

const METHODS: [&str; 9] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "BREW", "get",
];

#[derive(Arbitrary, Debug)]
struct Op {
    /// Clock step: small steps mostly, occasionally days.
    dt: u32,
    days: bool,
    method: u8,
    path: u8,
    attrs: [Option<u8>; 6],
    /// A free-form attribute value instead of the vocabulary (attacker keys).
    raw: Option<String>,
    cost: u8,
    repeat: u8,
}

#[derive(Arbitrary, Debug)]
struct Input {
    policy: u8,
    start: u32,
    ops: Vec<Op>,
}

/// Compiled once: compiling is most of the cost of a short run.
fn policies() -> &'static [Policy] {
    static P: std::sync::OnceLock<Vec<Policy>> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        POLICIES
            .iter()
            .map(|(name, text)| Policy::from_str(name, text).expect("fuzz policies compile"))
            .collect()
    })
}

fuzz_target!(|input: Input| {
    let which = input.policy as usize % POLICIES.len();
    let name = POLICIES[which].0;
    let policy = policies()[which].clone();
    let table = policy.table();
    let v = vocab(&table);
    let mut now = 1_600_000_000_000_000_000u64 + u64::from(input.start) * 1_000_000_000;
    let limiter = Limiter::with_capacity(policy.clone(), ManualClock::new(now), 1024);
    let mut oracle = Oracle::new(&table);
    for op in input.ops.iter().take(400) {
        now += if op.days {
            u64::from(op.dt % 64) * 86_400_000_000_000
        } else {
            u64::from(op.dt) * 1_000
        };
        let mut attrs = Vec::new();
        for (i, name) in table.inputs.iter().enumerate().take(6) {
            if let Some(a) = op.attrs[i] {
                let value = match (&op.raw, a) {
                    (Some(raw), 255) => raw.clone(),
                    _ => v.values[a as usize % v.values.len()].clone(),
                };
                attrs.push((name.clone(), value));
            }
        }
        let cost = match op.cost {
            250 => u64::MAX,
            251..=255 => u64::from(op.cost) * 1_000_000,
            c if c % 8 == 0 => 0,
            c if c % 3 == 0 => u64::from(c % 7),
            _ => 1,
        };
        let req = Req {
            method: METHODS[op.method as usize % METHODS.len()].to_string(),
            path: v.paths[op.path as usize % v.paths.len()].clone(),
            attrs,
            cost,
        };
        for _ in 0..=(op.repeat % 64) {
            now += 1_000_000;
            let mut r = Request::new(&req.method, &req.path).cost(req.cost);
            for (k, val) in &req.attrs {
                r = r.attr(k, val);
            }
            let d = limiter.check_at(&r, now);
            if let Err(e) = oracle.observe(&req, now, &d) {
                panic!("{name}: {e}");
            }
        }
    }
});
