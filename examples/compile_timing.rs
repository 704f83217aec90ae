//! How long `rlc::compile_source` takes on a machine-made policy of many
//! rules, in total and per stage (parse, lower, check, analyze, compile).
//!
//! The policy is `n` rules of the form `rN: GET /svc/rN/{id} by key: 100/1m`.
//! Run with `cargo run --release --example compile_timing [N ...]`
//! (default sizes: 1000 and 10000). Prints medians of several runs; it makes
//! no assertions, timings depend on the machine.

use rlc::{analyze, check, compile, ir, syntax, Source};
use std::time::{Duration, Instant};

fn policy(n: usize) -> String {
    let mut s = String::from("policy generated\ninput key\n");
    for i in 0..n {
        s.push_str(&format!("r{i}: GET /svc/r{i}/{{id}} by key: 100/1m\n"));
    }
    s
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:8.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 10_000]
    } else {
        sizes
    };
    for n in sizes {
        let source = Source::new("generated.rl", policy(n));
        let runs = if n <= 10_000 { 9 } else { 3 };

        let mut total = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            let (table, diags) = rlc::compile_source(&source);
            total.push(t.elapsed());
            assert!(table.is_some(), "{diags:?}");
        }

        let mut stages: [Vec<Duration>; 5] = Default::default();
        for _ in 0..runs {
            let t = Instant::now();
            let Ok(file) = syntax::parse(&source) else {
                return;
            };
            stages[0].push(t.elapsed());
            let t = Instant::now();
            let (policy, _) = ir::lower(&file, &source);
            stages[1].push(t.elapsed());
            let t = Instant::now();
            let _ = check::check(&policy);
            stages[2].push(t.elapsed());
            let t = Instant::now();
            let _ = analyze::analyze_file(&policy, &file);
            stages[3].push(t.elapsed());
            let t = Instant::now();
            let _ = compile::compile(policy);
            stages[4].push(t.elapsed());
        }
        let [parse, lower, check, analyze, compile] = stages.map(median);
        println!(
            "{n:>7} rules: compile_source {} | parse {} lower {} check {} analyze {} compile {}",
            ms(median(total)),
            ms(parse),
            ms(lower),
            ms(check),
            ms(analyze),
            ms(compile),
        );
    }
}
