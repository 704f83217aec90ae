//! A loop over the evaluator's hot path, for profilers (callgrind, perf):
//! `cargo run --release --example hotpath -- single|vendor [iterations]`.
//!
//! `single`: `ANY /** by key: 10_000_000/1s bucket`, 1,000 keys, round robin;
//! `single-u64`: the same with the keys given as numbers (`attr_u64`);
//! `single-str`: the same with `key|ip`-like strings.
//! `keyed-u64`, `keyed-str`: the same rule through a [`rlc::Keyed`] handle
//! (`Limiter::keyed`, `Keyed::check_at`: a `Decision`), number or
//! `key|ip`-like keys; `verdict-u64`: the handle's `verdict_at` (a
//! `KeyedVerdict`), number keys in a scrambled order, capacity 1,000 (the
//! store at load one half, as in the benchmark); `verdict-u64-deny`: the
//! same with `1/1h`, every request after each key's first rejected.
//! `vendor`: `policies/basis-theory.rl`, API requests of 1,000 clients
//! (most rejected: each client comes back every 10 ms); `vendor [N] [C]`
//! with C clients, e.g. 100000: each client every second, all admitted, as
//! in the benchmark's 100k-client rows; `vendor N C S`: S virtual ns between
//! requests (10,000 unless given).
use rlc::{Limiter, ManualClock, Policy, Request};
use std::hint::black_box;

/// The single-rule policy of the `single*`, `keyed*` and `verdict*` modes.
const SINGLE: &str = "policy p\ninput key\nall: ANY /** by key: 10_000_000/1s bucket\n";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("single", String::as_str);
    let iters: u64 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let clients: u64 = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .filter(|&c| c > 0)
        .unwrap_or(1000);
    // Virtual ns between requests (vendor mode): 10 µs unless given.
    let step: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let keys: Vec<String> = (0..1000u64)
        .map(|i| {
            if mode == "single-str" || mode == "keyed-str" {
                format!("key_prod_{:016x}|10.0.{}.{}", i * 7919, i / 250, i % 250)
            } else {
                (i * 7919).to_string()
            }
        })
        .collect();
    let ips: Vec<String> = (0..clients)
        .map(|i| format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255))
        .collect();
    let mut now = 1_700_000_000_000_000_000u64;
    let mut admitted = 0u64;
    match mode {
        "single" | "single-u64" | "single-str" => {
            let numeric = mode == "single-u64";
            let p = Policy::from_str("p.rl", SINGLE)?;
            let l = Limiter::with_capacity(p, ManualClock::new(0), 4096);
            for i in 0..iters {
                let k = &keys[(i % 1000) as usize];
                let req = Request::new("GET", "/v1/items");
                let req = if numeric {
                    req.attr_u64("key", (i % 1000) * 7919)
                } else {
                    req.attr("key", k)
                };
                let d = l.check_at(&req, now);
                admitted += d.allowed() as u64;
                now += 1000;
            }
        }
        "verdict-u64" | "verdict-u64-deny" => {
            // Capacity 1,000 for 1,000 keys (the store at load one half, as
            // in the benchmark), keys in a scrambled order.
            let text = if mode == "verdict-u64" {
                SINGLE.to_string()
            } else {
                SINGLE.replace("10_000_000/1s", "1/1h")
            };
            let p = Policy::from_str("p.rl", &text)?;
            let l = Limiter::with_capacity(p, ManualClock::new(0), 1000);
            let h = l.keyed("GET", "/v1/items")?;
            for i in 0..iters {
                let k = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % 1000;
                admitted += h.verdict_at(k * 7919, now).allowed() as u64;
                now += 1000;
            }
        }
        "keyed-u64" | "keyed-str" => {
            let p = Policy::from_str("p.rl", SINGLE)?;
            let l = Limiter::with_capacity(p, ManualClock::new(0), 4096);
            let h = l.keyed("GET", "/v1/items")?;
            for i in 0..iters {
                let d = if mode == "keyed-u64" {
                    h.check_at((i % 1000) * 7919, now)
                } else {
                    h.check_at(&keys[(i % 1000) as usize], now)
                };
                admitted += d.allowed() as u64;
                now += 1000;
            }
        }
        _ => {
            let p = Policy::from_file("policies/basis-theory.rl")?;
            let l = Limiter::with_capacity(p, ManualClock::new(0), clients.max(4096) as usize);
            let routes = [
                ("POST", "/tokens"),
                ("GET", "/tokens"),
                ("PATCH", "/tokens/abc"),
                ("GET", "/applications"),
            ];
            for i in 0..iters {
                let c = (i % clients) as usize;
                let key = format!("key_prod_{c:016x}");
                let (m, path) = routes[(i % 4) as usize];
                let mut req = Request::new(m, path);
                req.push("ip", &ips[c])
                    .push("key", &key)
                    .push("tenant", "production")
                    .push("app_type", if c % 3 == 0 { "private" } else { "public" });
                let d = l.check_at(&req, now);
                admitted += d.allowed() as u64;
                now += step;
            }
        }
    }
    println!("{}", black_box(admitted));
    Ok(())
}
