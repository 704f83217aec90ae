//! The compiler never panics: whatever text it is given, `compile_source`
//! returns a table or diagnostics, and every diagnostic's spans lie inside
//! the text, on character boundaries. Inputs: arbitrary strings, arbitrary
//! bytes read as lossy UTF-8, token soups built from grammar fragments, and
//! mutations of the five vendor policies and the tests/ui corpus. A policy
//! that compiles is also explained and evaluated, so that every later stage
//! sees what the fuzzer built. See docs/robustness.md.
//!
//! `PROPTEST_CASES=N` scales every property (the numbers below are the
//! defaults used in `cargo test --release`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "robustness_common/exercise.rs"]
mod exercise;

use exercise::exercise;
use proptest::prelude::*;
use proptest::test_runner::Config;

/// Cases per property: `PROPTEST_CASES` when set, else `default`.
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

/// Grammar fragments: every token kind the language has, plus near misses.
const FRAGMENTS: &[&str] = &[
    "policy",
    "input",
    "default",
    "headers",
    "response",
    "counter",
    "when",
    "by",
    "per",
    "on",
    "and",
    "or",
    "not",
    "in",
    "contains",
    "min",
    "status",
    "body",
    "respond",
    "overflow",
    "sliding",
    "fixed",
    "bucket",
    "burst",
    "throttle",
    "block",
    "reject",
    "allow",
    "any",
    "GET",
    "POST",
    "PUT",
    "PATCH",
    "DELETE",
    "HEAD",
    "OPTIONS",
    "ANY",
    "BREW",
    "get",
    "/",
    "/tokens",
    "/tokens/{id}",
    "/a/*/b",
    "/**",
    "/x/**/y",
    "/{a}/{a}",
    "/%20",
    "/é",
    "key",
    "ip",
    "tenant",
    "app",
    "c1",
    "r1:",
    "k&ip",
    "key|ip",
    "_",
    "-x",
    "x-y",
    ":",
    ",",
    "|",
    "&",
    "=",
    "==",
    "!=",
    "=~",
    "!~",
    "!",
    "(",
    ")",
    "{",
    "}",
    "/",
    "*",
    "**",
    "10/1s",
    "0/1s",
    "1/0s",
    "5/1ms",
    "7/1mo",
    "3/1d",
    "100_000/1h",
    "1/1x",
    "9/99999999999d",
    "18446744073709551615/1s",
    "18446744073709551616",
    "99999999999999999999999/1s",
    "min(c1, 10)",
    "min(c1)",
    "min()",
    "min(10, 20)",
    "1s",
    "10m",
    "1h",
    "1mo",
    "36500d",
    "\"test\"",
    "\"\"",
    "\"\\u{1F600}\"",
    "\"\\u{D800}\"",
    "\"\\u{110000}\"",
    "\"\\q\"",
    "\"${limit}\"",
    "\"${nope}\"",
    "\"${\"",
    "\"\\\"",
    "\"a\nb\"",
    "\"(a|b\"",
    "\"\\0\"",
    "`{\"a\": ${limit}}`",
    "`not json`",
    "`",
    "\"X-RateLimit-Limit\" = \"${limit}\"",
    "\"Bad Name\" = \"v\"",
    "# comment",
    "#",
    "\n",
    " ",
    "\t",
    "\r\n",
    "\u{FEFF}",
    "\u{200F}",
    "e\u{301}",
    "\u{0}",
    "\u{7F}",
    "ü",
    "𝕏",
    "status 429",
    "status 99",
    "status 600",
    "block 10s",
    "block 0s",
    "burst 5",
    "burst 0",
    "respond r",
    "default overflow allow",
    "input key, ip, tenant, app",
    "headers h { \"A\" = \"b\" on reject }",
    "response r { status 503 headers h body `{}` }",
    "counter c1 = POST /users by app per 1d",
    "GET /x by key: 10/1m fixed",
    "ANY /** when tenant == \"t\" by key&ip: 5/10s block 1m",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::sample::select(FRAGMENTS),
            prop::sample::select(&[" ", " ", "\n", "", "\t"][..]),
        ),
        0..60,
    )
    .prop_map(|parts| {
        let mut s = String::new();
        for (f, sep) in parts {
            s.push_str(f);
            s.push_str(sep);
        }
        s
    })
}

/// Statements built from fragments in the right order (mostly valid, with
/// wrong pieces mixed in), so that the later stages see deep input too.
fn statements() -> impl Strategy<Value = String> {
    let method = prop::sample::select(&["GET", "POST", "ANY", "PATCH|DELETE", "FOO", ""][..]);
    let path = prop::sample::select(
        &[
            "/tokens",
            "/tokens/{id}",
            "/**",
            "/a/*/b",
            "/a/**/b",
            "/{x}/{x}",
            "tokens",
            "/",
        ][..],
    );
    let cond = prop::sample::select(
        &[
            "",
            " when tenant == \"test\"",
            " when not key",
            " when key =~ \"(\"",
            " when key =~ \"_prod_|_test_\"",
            " when app in (\"a\", \"b\")",
            " when (a or b) and not (c)",
            " when nope",
            " when key contains \"x\" or !ip",
        ][..],
    );
    let key =
        prop::sample::select(&["", " by key", " by key&ip", " by key|ip", " by zz", " by"][..]);
    let rate = prop::sample::select(
        &[
            "10/1s",
            "50/10s, 100/1m",
            "0/1s",
            "1/0s",
            "5/1mo",
            "min(c1, 10)/1d",
            "min(c1)/1d",
            "99999999999/1ms",
            "16777216/1h",
            "2_000/10s",
            "1/1y",
        ][..],
    );
    let opts = prop::sample::select(
        &[
            "",
            " fixed",
            " bucket burst 5",
            " sliding burst 5",
            " block 10s",
            " block 0s",
            " throttle block 1m",
            " status 503",
            " status 1000",
            " respond r",
            " respond nope",
            " fixed sliding",
        ][..],
    );
    let rule = (method, path, cond, key, rate, opts)
        .prop_map(|(m, p, c, k, r, o)| format!("{m} {p}{c}{k}: {r}{o}"));
    let decl = prop::sample::select(
        &[
            "input key, ip, tenant, app, a, b, c",
            "input key",
            "policy p",
            "default fixed",
            "default respond r",
            "default overflow allow",
            "headers h { \"X-L\" = \"${limit}\" \"Retry-After\" = \"${retry_after}\" on reject }",
            "headers h { \"X L\" = \"v\" }",
            "response r { status 429 headers h body `{\"l\": ${limit}}` }",
            "response r { body `nope ${limit}` }",
            "counter c1 = POST /users by key per 1d",
            "counter c1 = POST /users by ip per 1mo",
        ][..],
    )
    .prop_map(str::to_string);
    let item = prop_oneof![3 => rule, 2 => decl];
    prop::collection::vec((item, 0u8..4), 0..12).prop_map(|items| {
        let mut s = String::new();
        let mut open = 0;
        for (it, wrap) in items {
            if wrap == 0 {
                s.push_str("when tenant == \"x\" {\n");
                open += 1;
            }
            s.push_str(&it);
            s.push('\n');
            if wrap == 1 && open > 0 {
                s.push_str("}\n");
                open -= 1;
            }
        }
        s.push_str(&"}\n".repeat(open));
        s
    })
}

/// The vendor policies and the ui corpus, the mutation seeds.
fn corpus() -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["policies", "tests/ui"] {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "rl"))
            .collect();
        files.sort();
        for f in files {
            out.push(std::fs::read_to_string(f).unwrap());
        }
    }
    assert!(out.len() >= 30, "corpus too small: {}", out.len());
    out
}

#[derive(Clone, Debug)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, &'static str),
    Duplicate(usize, usize),
    Replace(usize, char),
    Truncate(usize),
    SwapLines(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), prop::sample::select(FRAGMENTS)).prop_map(|(a, f)| Mutation::Insert(a, f)),
        (any::<usize>(), 1usize..200).prop_map(|(a, n)| Mutation::Duplicate(a, n)),
        (any::<usize>(), any::<char>()).prop_map(|(a, c)| Mutation::Replace(a, c)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
    ]
}

/// The char boundary at or before `i % (len + 1)`.
fn at(s: &str, i: usize) -> usize {
    let mut i = i % (s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn mutate(mut s: String, ms: &[Mutation]) -> String {
    for m in ms {
        match *m {
            Mutation::Delete(a, n) => {
                let a = at(&s, a);
                let b = at(&s, a + n);
                if b >= a {
                    s.replace_range(a..b, "");
                }
            }
            Mutation::Insert(a, f) => {
                let a = at(&s, a);
                s.insert_str(a, f);
            }
            Mutation::Duplicate(a, n) => {
                let a = at(&s, a);
                let b = at(&s, a + n).max(a);
                let piece = s[a..b].to_string();
                s.insert_str(b, &piece);
            }
            Mutation::Replace(a, c) => {
                let a = at(&s, a);
                if let Some(old) = s[a..].chars().next() {
                    s.replace_range(a..a + old.len_utf8(), &c.to_string());
                }
            }
            Mutation::Truncate(a) => {
                let a = at(&s, a);
                s.truncate(a);
            }
            Mutation::SwapLines(a, b) => {
                let mut lines: Vec<&str> = s.split('\n').collect();
                let n = lines.len();
                lines.swap(a % n, b % n);
                s = lines.join("\n");
            }
        }
    }
    s
}

proptest! {
    #![proptest_config(cases(4000))]

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        exercise(&s);
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..400)) {
        exercise(&String::from_utf8_lossy(&b));
    }

    #[test]
    fn fragment_soup_never_panics(s in soup()) {
        exercise(&s);
    }

    #[test]
    fn statements_never_panic(s in statements()) {
        exercise(&s);
    }
}

proptest! {
    #![proptest_config(cases(2000))]

    #[test]
    fn mutated_policies_never_panic(
        which in any::<usize>(),
        ms in prop::collection::vec(mutation(), 1..8),
    ) {
        let seeds = corpus();
        let seed = seeds[which % seeds.len()].clone();
        exercise(&mutate(seed, &ms));
    }
}

/// The seeds themselves, unmutated, and a few hand-picked hard cases.
#[test]
fn corpus_and_known_hard_cases() {
    for text in corpus() {
        exercise(&text);
    }
    for text in [
        "",
        "\u{FEFF}",
        "\u{FEFF}\u{FEFF}input a",
        "input a\nGET /x when a == \"\\u{D800}\": 1/1s",
        "input a\nGET /x when a == \"\\u{}\": 1/1s",
        "input a\nGET /x when a == \"\\u{1234567}\": 1/1s",
        "input a\nGET /x when a == \"é\\u{301}\u{200F}\u{0}\": 1/1s",
        "GET /x: 1/1s\n}\n}\n}\n{",
        "headers h { \"A\" = \"${",
        "response r { body `${limit",
        "\"",
        "`",
        "#",
        "input a\nGET /x when not not not a: 1/1s",
        "input a\nGET /x when !!!a: 1/1s",
    ] {
        exercise(text);
    }
}
