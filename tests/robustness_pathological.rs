#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use rlc::{Limiter, ManualClock, Policy, Request};
const T0: u64 = 1_700_000_000_000_000_000;

#[test]
fn probe_many_matching_rules() {
    let mut text = String::from("input key\n");
    for i in 0..300 {
        if i % 2 == 0 {
            text.push_str(&format!("r{i}: ANY /** by key: {}/1m fixed\n", 10 + i));
        } else {
            text.push_str(&format!(
                "r{i}: ANY /** by key: {}/1m, {}/1h sliding\n",
                10 + i,
                20 + i
            ));
        }
    }
    let p = Policy::from_str("m.rl", &text).unwrap();
    let l = Limiter::with_clock(p, ManualClock::new(T0));
    let mut n = 0;
    for _ in 0..20 {
        if l.check_at(&Request::new("GET", "/x").attr("key", "k"), T0)
            .allowed()
        {
            n += 1;
        }
    }
    assert_eq!(n, 10);
}

fn compile(text: &str) -> (bool, Vec<&'static str>) {
    let s = rlc::Source::new("p.rl", text);
    let (t, d) = rlc::compile_source(&s);
    (t.is_some(), d.iter().map(|d| d.code).collect())
}

#[test]
fn probe_nots() {
    for n in [10usize, 1000, 100_000] {
        let text = format!("input a\nGET /x when {}a: 1/1s\n", "not ".repeat(n));
        let r = compile(&text);
        eprintln!("not x{n}: {r:?}");
        let text = format!("input a\nGET /x when {}a: 1/1s\n", "!".repeat(n));
        let r = compile(&text);
        eprintln!("! x{n}: {r:?}");
    }
}

#[test]
fn probe_parens() {
    for n in [64usize, 65] {
        let text = format!(
            "input a\nGET /x when {}a{}: 1/1s\n",
            "(".repeat(n),
            ")".repeat(n)
        );
        eprintln!("parens x{n}: {:?}", compile(&text));
        let text = format!(
            "input a\n{}GET /x: 1/1s\n{}",
            "when a {\n".repeat(n),
            "}\n".repeat(n)
        );
        eprintln!("when x{n}: {:?}", compile(&text));
        let text = format!("input a\n{}GET /x: 1/1s\n", "when a {\n".repeat(n));
        eprintln!("unclosed when x{n}: {:?}", compile(&text));
    }
}
