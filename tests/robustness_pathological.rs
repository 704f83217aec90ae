//! Pathological policies: deep nesting, 100k rules, 10 MB files, very long
//! lines, huge numbers and Unicode oddities. Each must compile or produce
//! clear diagnostics, in bounded time, without overflowing the stack (the
//! deep cases run on a thread with a 2 MiB stack, the size of a test
//! thread, also in a debug build). The CLI is run on some of them.
//! Timings are printed with `-- --nocapture`; see docs/robustness.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlc::{compile_source, Limiter, ManualClock, Policy, Reason, Request, Source};
use std::process::Command;
use std::time::{Duration, Instant};

const T0: u64 = 1_700_000_000_000_000_000;

/// Time allowed for one compile of a big input: generous, for slow CI
/// machines and debug builds.
fn budget() -> Duration {
    Duration::from_secs(if cfg!(debug_assertions) { 300 } else { 30 })
}

/// Compiles `text` on a thread with a 2 MiB stack; returns whether a table
/// was made, the diagnostic codes, and the time taken.
fn compile(name: &str, text: String) -> (bool, Vec<&'static str>, Duration) {
    let len = text.len();
    let h = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let start = Instant::now();
            let source = Source::new("p.rl", text);
            let (t, d) = compile_source(&source);
            // Rendering is part of what a user sees: it must cope too.
            let shown = d.render(&source, 100);
            assert!(d.is_empty() || !shown.is_empty());
            let codes: Vec<&'static str> = d.iter().map(|d| d.code).collect();
            (t.is_some(), codes, start.elapsed())
        })
        .unwrap();
    let r = h
        .join()
        .unwrap_or_else(|_| panic!("{name}: the compiler panicked"));
    eprintln!(
        "{name}: {len} bytes, {} in {:?}, codes {:?}",
        if r.0 { "compiled" } else { "rejected" },
        r.2,
        &r.1[..r.1.len().min(5)]
    );
    assert!(r.2 < budget(), "{name}: took {:?}", r.2);
    r
}

fn assert_rejected_with(name: &str, text: String, code: &str) {
    let (ok, codes, _) = compile(name, text);
    assert!(!ok, "{name}: compiled");
    assert!(
        codes.contains(&code),
        "{name}: expected {code}, got {codes:?}"
    );
}

fn assert_compiles(name: &str, text: String) {
    let (ok, codes, _) = compile(name, text);
    assert!(ok, "{name}: {codes:?}");
}

#[test]
fn nesting_at_the_limit_compiles_and_beyond_is_too_deep() {
    let max = rlc::syntax::MAX_NESTING;
    let parens = |n: usize| {
        format!(
            "input a\nGET /x when {}a{}: 1/1s\n",
            "(".repeat(n),
            ")".repeat(n)
        )
    };
    let blocks = |n: usize| {
        format!(
            "input a\n{}GET /x: 1/1s\n{}",
            "when a {\n".repeat(n),
            "}\n".repeat(n)
        )
    };
    let nots = |n: usize, word: &str| format!("input a\nGET /x when {}a: 1/1s\n", word.repeat(n));
    // Blocks and a condition, together at the limit.
    let mixed = |n: usize| {
        format!(
            "input a\n{}GET /x when {}a{}: 1/1s\n{}",
            "when a {\n".repeat(n / 2),
            "not (".repeat(n / 4),
            ")".repeat(n / 4),
            "}\n".repeat(n / 2)
        )
    };
    assert_compiles("parens 64", parens(max));
    assert_compiles("when blocks 64", blocks(max));
    assert_compiles("not x64", nots(max, "not "));
    assert_compiles("! x64", nots(max, "!"));
    assert_compiles("mixed 64", mixed(max));
    for n in [max + 1, 1_000, 100_000, 1_000_000] {
        assert_rejected_with(&format!("parens {n}"), parens(n), "rl::too_deep");
        assert_rejected_with(&format!("when blocks {n}"), blocks(n), "rl::too_deep");
        assert_rejected_with(&format!("not x{n}"), nots(n, "not "), "rl::too_deep");
        assert_rejected_with(&format!("! x{n}"), nots(n, "!"), "rl::too_deep");
        assert_rejected_with(&format!("mixed {n}"), mixed(n + 3), "rl::too_deep");
        // What the grammar skips between negations must not hide them.
        assert_rejected_with(
            &format!("not+comment x{n}"),
            nots(n, "not #c\n"),
            "rl::too_deep",
        );
        assert_rejected_with(
            &format!("not+BOM x{n}"),
            nots(n, "not\u{FEFF}"),
            "rl::too_deep",
        );
        // Unclosed brackets only: the pre-check stops them too.
        assert_rejected_with(&format!("unclosed {{ x{n}"), "{".repeat(n), "rl::too_deep");
        assert_rejected_with(&format!("unclosed ( x{n}"), "(".repeat(n), "rl::too_deep");
    }
    // Brackets in strings, bodies and comments do not count.
    let quoted = format!(
        "input a\nGET /x when a == \"{}\": 1/1s # {}\nresponse r {{ body `{{\"a\": \"{}\"}}` }}\n",
        "(".repeat(10_000),
        "{".repeat(10_000),
        "[".repeat(10_000)
    );
    assert_compiles("brackets in strings", quoted);
}

#[test]
fn a_hundred_thousand_rules() {
    let n = if cfg!(debug_assertions) {
        20_000
    } else {
        100_000
    };
    let mut text = String::from("policy big\ninput key, ip\n");
    for i in 0..n {
        text.push_str(&format!(
            "r{i}: GET /p{i}/{{id}} by key: {}/1m fixed\n",
            1 + i % 50
        ));
    }
    let start = Instant::now();
    let policy = Policy::from_str("big.rl", &text).unwrap();
    let took = start.elapsed();
    eprintln!("100k rules: {} bytes compiled in {took:?}", text.len());
    assert!(took < budget());
    // One table per rule: the smallest store (16 keys per group).
    let limiter = Limiter::with_capacity(policy, ManualClock::new(T0), 16);
    let last = n - 1;
    let path = format!("/p{last}/7");
    let limit = 1 + last % 50;
    let start = Instant::now();
    let admitted = (0..limit + 5)
        .filter(|_| {
            limiter
                .check_at(&Request::new("GET", &path).attr("key", "k"), T0)
                .allowed()
        })
        .count();
    eprintln!(
        "100k rules: {} requests in {:?}",
        limit + 5,
        start.elapsed()
    );
    assert_eq!(admitted, limit, "the last rule's limit");
    assert!(limiter
        .check_at(&Request::new("GET", "/nope").attr("key", "k"), T0)
        .allowed());
}

/// Hundreds of rules matching one request: every one applies, all or
/// nothing, and the strictest decides (a regression test: step indices were
/// `u8`, so the 257th rule's state was written into the first's).
#[test]
fn a_thousand_rules_on_one_request() {
    let mut text = String::from("input key\n");
    for i in 0..1000 {
        let alg = ["fixed", "sliding", "bucket"][i % 3];
        text.push_str(&format!(
            "r{i}: ANY /** by key: {}/1m, {}/1h {alg}\n",
            10 + i,
            20 + i
        ));
    }
    text.push_str("strict: GET /x by key: 7/1m fixed\n");
    let policy = Policy::from_str("many.rl", &text).unwrap();
    let limiter = Limiter::with_clock(policy, ManualClock::new(T0));
    let get = Request::new("GET", "/x").attr("key", "k");
    let n = (0..30)
        .filter(|_| limiter.check_at(&get, T0).allowed())
        .count();
    assert_eq!(n, 7, "the strict rule allows 7");
    // The other rules counted exactly those 7: r0 (10/1m) has 3 left.
    let post = Request::new("POST", "/y").attr("key", "k");
    let m = (0..30)
        .filter(|_| limiter.check_at(&post, T0).allowed())
        .count();
    assert_eq!(m, 3, "r0 allows 10, 7 used");
    let d = limiter.check_at(&post, T0);
    assert_eq!(d.rule(), Some("r0"));
    assert_eq!(d.reason(), Some(Reason::Limit));
}

#[test]
fn ten_megabyte_files() {
    const MB: usize = 1 << 20;
    // Mostly comments.
    let mut text = String::from("input key\nGET /x by key: 1/1s\n");
    while text.len() < 10 * MB {
        text.push_str("# a comment line that goes on and on and on, padding the file out\n");
    }
    assert_compiles("10 MB of comments", text);
    // One 10 MB string in a condition.
    let text = format!(
        "input key\nGET /x when key == \"{}\" by key: 1/1s\n",
        "k".repeat(10 * MB)
    );
    assert_compiles("10 MB string", text);
    // 10 MB of rules with an error on every line: error recovery stops at
    // its cap and the time stays linear.
    let mut text = String::from("input key\n");
    while text.len() < 10 * MB {
        text.push_str("GET /x by key: 10/1parsec\nGET /y by: 1/1s\n");
    }
    let (ok, codes, _) = compile("10 MB of errors", text);
    assert!(!ok);
    assert!(codes.len() <= 20, "{} syntax errors reported", codes.len());
    // 10 MB of bytes that are no policy at all.
    let junk: String = (0..10 * MB)
        .map(|i| {
            let alphabet = b"{}()!\"`#:/ \nGETnot";
            char::from(alphabet[i * 7 % alphabet.len()])
        })
        .collect();
    let (ok, _, _) = compile("10 MB of junk", junk);
    assert!(!ok);
}

#[test]
fn very_long_lines_and_names() {
    const LONG: usize = 1 << 20;
    let name = "a".repeat(LONG);
    assert_compiles(
        "1 MB attribute name",
        format!("input {name}\nGET /x by {name}: 1/1s\n"),
    );
    assert_rejected_with(
        "1 MB unknown attribute",
        format!("input b{name}\nGET /x by {name}: 1/1s\n"),
        "rl::unknown_attribute",
    );
    assert_compiles("1 MB path literal", format!("GET /{name}: 1/1s\n"));
    assert_compiles("1 MB rule name", format!("{name}: GET /x: 1/1s\n"));
    assert_rejected_with(
        "1 MB method",
        format!("{}: /x: 1/1s\n", "A".repeat(LONG)),
        "rl::syntax",
    );
    assert_rejected_with(
        "1 MB of digits",
        format!("GET /x: {}/1s\n", "9".repeat(LONG)),
        "rl::number_overflow",
    );
    assert_rejected_with(
        "1 MB duration",
        format!("GET /x: 1/{}s\n", "9".repeat(LONG)),
        "rl::number_overflow",
    );
    assert_rejected_with(
        "1 MB unit",
        format!("GET /x: 1/1{}\n", "x".repeat(LONG)),
        "rl::bad_unit",
    );
    assert_compiles(
        "20k alternatives",
        format!(
            "input a\nGET {} when {} : 1/1s\n",
            (0..20_000)
                .map(|i| format!("/p{i}"))
                .collect::<Vec<_>>()
                .join(" | "),
            (0..20_000)
                .map(|i| format!("a == \"{i}\""))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    );
    assert_compiles(
        "10k rates",
        format!(
            "GET /x: {} fixed\n",
            (1..=10_000)
                .map(|i| format!("{i}/{i}m"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
}

#[test]
fn huge_numbers() {
    let max = u64::MAX;
    for (name, text, code) in [
        (
            "limit u64::MAX + 1",
            "GET /x: 18446744073709551616/1s".to_string(),
            "rl::number_overflow",
        ),
        (
            "limit 10^40",
            format!("GET /x: 1{}/1s", "0".repeat(40)),
            "rl::number_overflow",
        ),
        (
            "limit u64::MAX per second",
            format!("GET /x: {max}/1s fixed"),
            "rl::rate_too_high",
        ),
        (
            "window u64::MAX days",
            format!("GET /x: 1/{max}d"),
            "rl::number_overflow",
        ),
        (
            "window u64::MAX months",
            format!("GET /x: 1/{max}mo fixed"),
            "rl::number_overflow",
        ),
        (
            "block u64::MAX ms",
            format!("GET /x: 1/1s block {max}ms"),
            "rl::number_overflow",
        ),
        (
            "status u64::MAX",
            format!("GET /x: 1/1s status {max}"),
            "rl::bad_status",
        ),
        (
            "burst u64::MAX",
            format!("GET /x: 1/1s bucket burst {max}"),
            "rl::number_overflow",
        ),
        (
            "sliding over 24 bits",
            "GET /x: 16777216/1d".to_string(),
            "rl::number_overflow",
        ),
        (
            "min cap too big",
            format!(
                "input k\ncounter c = GET /y by k per 1d\nGET /x by k: min(c, 1{})/1d fixed",
                "0".repeat(30)
            ),
            "rl::number_overflow",
        ),
        ("zero limit", "GET /x: 0/1s".to_string(), "rl::zero_limit"),
        (
            "zero window",
            "GET /x: 1/0s".to_string(),
            "rl::zero_duration",
        ),
    ] {
        assert_rejected_with(name, format!("{text}\n"), code);
    }
    // The largest accepted values compile, and evaluate without overflow.
    for text in [
        "GET /x: 86400000000000/1d fixed",
        "GET /x: 16777215/1d sliding",
        "GET /x: 1/36500d bucket burst 1",
        "GET /x: 1/1s block 36500d",
        "GET /x: 1/12000mo fixed",
        "GET /x: 1_000_000_000/1s bucket",
    ] {
        let policy = Policy::from_str("big.rl", text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let limiter = Limiter::with_clock(policy, ManualClock::new(T0));
        for now in [0, T0, u64::MAX / 2, u64::MAX - 1, u64::MAX] {
            for cost in [0, 1, u64::MAX] {
                let _ = limiter.check_at(&Request::new("GET", "/x").cost(cost), now);
            }
        }
    }
}

#[test]
fn unicode_oddities() {
    // In strings, comments and bodies: anything goes.
    for (name, s) in [
        ("RTL mark", "\u{200F}abc\u{202E}"),
        ("combining", "e\u{301}\u{301}\u{301}"),
        ("NUL", "a\u{0}b"),
        ("BOM", "\u{FEFF}x"),
        ("emoji", "👩‍👩‍👧‍👦"),
        ("private use", "\u{E000}\u{10FFFD}"),
    ] {
        assert_compiles(
            &format!("{name} in a string"),
            format!("input a\n# {s}\nGET /x when a == \"{s}\" or a contains \"{s}\": 1/1s\n"),
        );
        // In a body, where it must still be JSON: a raw control character
        // is not, and is refused as such.
        let body = format!("response r {{ body `{{\"m\": \"{s}\"}}` }}\n");
        if s.chars().any(char::is_control) {
            assert_rejected_with(&format!("{name} in a body"), body, "rl::bad_body");
        } else {
            assert_compiles(&format!("{name} in a body"), body);
        }
    }
    // Escapes: valid ones decode, surrogates and out-of-range are errors.
    assert_compiles(
        "\\u{10FFFF}",
        "input a\nGET /x when a == \"\\u{10FFFF}\\0\\u{200F}\": 1/1s\n".into(),
    );
    for esc in ["\\u{D800}", "\\u{DFFF}", "\\u{110000}", "\\u{FFFFFF}"] {
        assert_rejected_with(
            esc,
            format!("input a\nGET /x when a == \"{esc}\": 1/1s\n"),
            "rl::bad_string",
        );
    }
    // In identifiers: not allowed, and said so clearly.
    for (name, text) in [
        ("RTL mark in a name", "input a\u{200F}b\nGET /x: 1/1s\n"),
        ("combining in a name", "input e\u{301}\nGET /x: 1/1s\n"),
        ("NUL in a name", "input a\u{0}b\nGET /x: 1/1s\n"),
        ("fullwidth method", "ＧＥＴ /x: 1/1s\n"),
        ("NUL in a path", "GET /a\u{0}b: 1/1s\n"),
        ("BOM in a path", "GET /a\u{FEFF}b: 1/1s\n"),
        ("Cyrillic a in a keyword", "input \u{430}\n"),
    ] {
        let (ok, codes, _) = compile(name, text.to_string());
        assert!(!ok, "{name} compiled");
        assert!(!codes.is_empty());
    }
    // BOMs and CRLF where whitespace may be.
    assert_compiles(
        "BOM + CRLF",
        "\u{FEFF}input a\r\n\u{FEFF}GET /x by a: 1/1s\r\n".into(),
    );
    // A header value with a control character is refused (it would split
    // the HTTP response).
    let (ok, _, _) = compile(
        "header CRLF",
        "headers h { \"X-A\" = \"a\\r\\nSet-Cookie: x\" }\n".into(),
    );
    assert!(!ok, "a header value with CRLF compiled");
}

/// The CLI on some of the same inputs: one clear report, exit 1, no crash.
#[test]
fn cli_on_pathological_files() {
    let dir = std::env::temp_dir().join(format!("rlc-patho-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases: Vec<(&str, Vec<u8>, i32)> = vec![
        (
            "deep.rl",
            format!("input a\nGET /x when {}a: 1/1s\n", "(".repeat(100_000)).into_bytes(),
            1,
        ),
        (
            "nots.rl",
            format!("input a\nGET /x when {}a: 1/1s\n", "not ".repeat(100_000)).into_bytes(),
            1,
        ),
        (
            "big.rl",
            {
                let mut t = String::from("input key\nGET /x by key: 1/1s\n");
                while t.len() < 10 << 20 {
                    t.push_str("# padding padding padding padding padding padding padding\n");
                }
                t.into_bytes()
            },
            0,
        ),
        ("nul.rl", b"input a\0b\nGET /x: 1/1s\n".to_vec(), 1),
        (
            "huge.rl",
            format!("GET /x: {}/1s\n", "9".repeat(100_000)).into_bytes(),
            1,
        ),
        ("latin1.rl", b"input caf\xe9\n".to_vec(), 2),
        // An error on a 1 MB line: reported without drawing the line (miette
        // panicked on widths past 65535 columns).
        (
            "longline.rl",
            format!("{}: /x: 1/1s\n", "A".repeat(1 << 20)).into_bytes(),
            1,
        ),
    ];
    for (name, bytes, want) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        for cmd in [&["check"][..], &["compile"], &["explain"]] {
            let start = Instant::now();
            let out = Command::new(env!("CARGO_BIN_EXE_rlc"))
                .args(cmd)
                .arg(&path)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            eprintln!(
                "rlc {} {name}: exit {:?} in {:?}",
                cmd[0],
                out.status.code(),
                start.elapsed()
            );
            assert_eq!(
                out.status.code(),
                Some(want),
                "rlc {} {name}: {stderr}",
                cmd[0]
            );
            assert!(!stderr.contains("panicked"), "{stderr}");
            if want != 0 {
                assert!(stderr.contains("error"), "rlc {} {name}: {stderr}", cmd[0]);
            }
            assert!(start.elapsed() < budget());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
