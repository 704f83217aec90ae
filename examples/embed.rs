//! Embedding rlc in a server: one shared `Limiter`, many threads, decisions
//! with headers and bodies. Run with `cargo run --example embed`.

use rlc::{Limiter, Policy, Request};
use std::sync::Arc;

const POLICY: &str = r#"
policy widgets_api
input api_key, ip

headers std {
  "RateLimit-Policy" = "\"${rule}\";q=${limit};w=${window}"
  "RateLimit" = "\"${rule}\";r=${remaining};t=${reset_after}"
  "Retry-After" = "${retry_after}" on reject
}
response too_many {
  status 429
  headers std
  body `{"error": "rate_limited", "rule": "${rule}", "retry_after": ${retry_after}}`
}
default respond too_many

writes:   POST|PUT|DELETE /widgets/** by api_key: 5/1m fixed
per_ip:   ANY /** by ip: 100/10s bucket
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Compile once at start-up; a bad policy is a clear error, not a panic.
    let policy = Policy::from_str("widgets.rl", POLICY)?;
    // Share one limiter across threads (it is Send + Sync and lock-free).
    let limiter = Arc::new(Limiter::new(policy));

    let handles: Vec<_> = (0..2)
        .map(|worker| {
            let limiter = Arc::clone(&limiter);
            std::thread::spawn(move || {
                for i in 0..4 {
                    // Borrow request data straight from your framework's request.
                    let req = Request::new("POST", "/widgets/42")
                        .attr("api_key", "key_123")
                        .attr("ip", "203.0.113.9");
                    let d = limiter.check(&req);
                    if d.allowed() {
                        println!("worker {worker} request {i}: 200 (rule {:?})", d.rule());
                    } else {
                        // Render headers and body only for the responses that need them.
                        println!(
                            "worker {worker} request {i}: {} after {:?}, rule {:?}\n  headers {:?}\n  body {}",
                            d.status(),
                            d.retry_after(),
                            d.rule(),
                            d.headers(),
                            d.body().unwrap_or_default()
                        );
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| "worker panicked")?;
    }

    // A route that one keyed quota decides (here GET, only `per_ip`) can be
    // resolved once and decided from its key alone: the fastest path. The
    // shared form holds the limiter's `Arc`, so it can move into a worker.
    let reads = limiter.keyed_shared("GET", "/widgets/42")?;
    let worker = std::thread::spawn(move || {
        let h = reads.handle();
        let v = h.verdict("203.0.113.9");
        format!(
            "GET through the `{}` handle, keyed by {}: {}",
            h.rule(),
            h.key_name(),
            v.status()
        )
    });
    println!("{}", worker.join().map_err(|_| "worker panicked")?);
    // POST routes to two rules: no handle, and the reason why.
    if let Err(why) = limiter.keyed("POST", "/widgets/42") {
        println!("POST has no handle: {why}");
    }
    Ok(())
}
