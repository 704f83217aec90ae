//! Compiles a text and checks everything the stages promise about it; shared
//! by `tests/robustness_parse.rs` and the `compile` fuzz target.

#![allow(dead_code)]

use rlc::{compile_source, explain, Limiter, ManualClock, Policy, Request, Source};

const T0: u64 = 1_700_000_000_000_000_000;

/// Compiles `text`: a table iff no error; every span inside the text and on
/// character boundaries; rendering and JSON work; a policy that compiles is
/// explained and evaluated on a few requests.
pub fn exercise(text: &str) {
    let source = Source::new("fuzz.rl", text);
    let (table, diags) = compile_source(&source);
    assert_eq!(
        table.is_some(),
        !diags.has_errors(),
        "a table iff no error: {diags:?}"
    );
    for d in diags.iter() {
        let spans = std::iter::once(d.span).chain(d.related.iter().map(|(s, _)| *s));
        for s in spans {
            assert!(
                s.start <= s.end && s.end <= text.len(),
                "{}: span {}..{} outside a text of {} bytes",
                d.code,
                s.start,
                s.end,
                text.len()
            );
            assert!(
                text.is_char_boundary(s.start) && text.is_char_boundary(s.end),
                "{}: span {}..{} splits a character",
                d.code,
                s.start,
                s.end
            );
        }
        assert!(!d.message.is_empty(), "{}: empty message", d.code);
        assert!(
            rlc::diag::codes::ALL.contains(&d.code),
            "unknown code {}",
            d.code
        );
    }
    // Rendering (miette) and JSON must cope with whatever spans were made.
    let _ = diags.render(&source, 80);
    let _ = diags.to_json(&source);
    if table.is_some() {
        let policy = Policy::from_source(source).expect("compiled once, compiles again");
        let t = policy.table();
        let _ = explain::policy_text(&t);
        let _ = explain::policy_json(&t);
        let limiter = Limiter::with_capacity(policy.clone(), ManualClock::new(T0), 64);
        for (i, (m, p)) in [
            ("GET", "/"),
            ("POST", "/tokens"),
            ("DELETE", "/a/b/c/d"),
            ("BREW", "/x?y#z"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut req = Request::new(m, p);
            for name in &t.inputs {
                req = req.attr(name, "v");
            }
            let d = limiter.check_at(&req, T0 + i as u64 * 1_000_000_000);
            let _ = d.headers();
            let _ = d.body();
            let spec = explain::parse_request(&format!("{m} {p} a=b")).expect("a valid request");
            let v = explain::request_json(&policy, &spec, T0);
            let _ = explain::request_text(&v);
        }
    }
}
