//! The static analysis (`src/analyze.rs`): every finding on inputs that
//! must trigger it, and none on inputs that must not (the five vendor
//! policies first). The rendered form of each code is in `tests/ui/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlc::analyze::{binding_window, path_contains, paths_overlap, Pred, Solver, Test};
use rlc::diag::codes;
use rlc::ir::{PathPattern, PathSeg};
use rlc::{compile_source, Source};

const VENDORS: [&str; 5] = ["basiq", "basis-theory", "mangopay", "bindbee", "finch"];

/// The codes found in a policy text, in order.
fn codes_of(text: &str) -> Vec<&'static str> {
    let source = Source::new("t.rl", text);
    let (_, diags) = compile_source(&source);
    diags.iter().map(|d| d.code).collect()
}

fn has(text: &str, code: &str) -> bool {
    codes_of(text).contains(&code)
}

fn clean(text: &str) {
    let source = Source::new("t.rl", text);
    let (table, diags) = compile_source(&source);
    assert!(
        table.is_some() && diags.is_empty(),
        "expected no finding in:\n{text}\n{}",
        diags.render(&source, 100)
    );
}

fn pattern(p: &str) -> PathPattern {
    PathPattern {
        segments: p
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| match s {
                "**" => PathSeg::Rest,
                "*" => PathSeg::Star,
                s if s.starts_with('{') => PathSeg::Param(s.trim_matches(['{', '}']).to_string()),
                s => PathSeg::Literal(s.to_string()),
            })
            .collect(),
    }
}

// ------------------------------------------------------------------ vendors

#[test]
fn vendor_policies_have_no_findings() {
    for v in VENDORS {
        let text = std::fs::read_to_string(format!("policies/{v}.rl")).unwrap();
        clean(&text);
    }
}

/// The two findings the vendor policies acknowledge with `# rlc: allow`
/// are real: without the comments, the analysis reports exactly them.
#[test]
fn vendor_findings_are_acknowledged_not_hidden() {
    let strip = |v: &str| {
        std::fs::read_to_string(format!("policies/{v}.rl"))
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("# rlc:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(codes_of(&strip("basis-theory")), [codes::SHORT_BLOCK]);
    assert_eq!(codes_of(&strip("bindbee")), [codes::UNUSED_DECLARATION]);
    for v in ["basiq", "mangopay", "finch"] {
        assert!(codes_of(&strip(v)).is_empty(), "{v}");
    }
}

// ------------------------------------------------------------------ paths

#[test]
fn path_overlap_is_computed() {
    let o = |a: &str, b: &str| paths_overlap(&pattern(a), &pattern(b));
    assert!(o("/tokens/{id}", "/tokens/search"));
    assert!(o("/tokens/search", "/tokens/{id}"));
    assert!(!o("/a/*", "/a/b/c"));
    assert!(o("/a/**", "/a/b/c"));
    assert!(o("/a/**", "/a"));
    assert!(o("/**", "/x/y"));
    assert!(!o("/a/**", "/b/c"));
    assert!(!o("/tokens", "/tokenize"));
    assert!(!o("/", "/x"));
    assert!(o("/", "/**"));
    assert!(o("/a/*/c", "/a/b/*"));
    assert!(!o("/a/*/c", "/a/b/d"));
}

#[test]
fn path_containment_is_computed() {
    let c = |outer: &str, inner: &str| path_contains(&pattern(outer), &pattern(inner));
    assert!(c("/tokens/{id}", "/tokens/search"));
    assert!(!c("/tokens/search", "/tokens/{id}"));
    assert!(c("/**", "/anything/at/all"));
    assert!(c("/a/**", "/a"));
    assert!(c("/a/**", "/a/*/c"));
    assert!(!c("/a/*", "/a/**"));
    assert!(!c("/a/*/**", "/a/**"));
    assert!(c("/a/*/**", "/a/b/**"));
    assert!(!c("/a/*", "/a/b/c"));
    assert!(c("/a/{x}", "/a/*"));
}

// ------------------------------------------------------------------ conditions

#[test]
fn solver_decides_simple_conditions() {
    let eq = |a: &str, v: &str| Pred::Atom(a.into(), Test::Eq(v.into()));
    let not = |p: Pred| Pred::Not(Box::new(p));
    let mut s = Solver::new();
    assert!(!s.satisfiable(&Pred::And(vec![eq("t", "a"), eq("t", "b")])));
    assert!(s.satisfiable(&Pred::And(vec![eq("t", "a"), not(eq("t", "b"))])));
    assert!(!s.satisfiable(&Pred::And(vec![
        eq("t", "a"),
        Pred::Atom("t".into(), Test::Match("^b".into()))
    ])));
    assert!(!s.satisfiable(&Pred::And(vec![not(Pred::present("p")), eq("p", "x")])));
    // `!=` is true when absent: `t != "a" and t != "b"` holds.
    assert!(s.satisfiable(&Pred::And(vec![not(eq("t", "a")), not(eq("t", "b"))])));
    // Free values: a regex the solver cannot decide is assumed to hold.
    assert!(s.satisfiable(&Pred::And(vec![
        Pred::Atom("k".into(), Test::Match("_prod_".into())),
        Pred::Atom("k".into(), Test::Contains("x".into()))
    ])));
    assert!(s.implies(&eq("t", "a"), &Pred::present("t")));
    assert!(s.implies(
        &eq("t", "a"),
        &Pred::Atom("t".into(), Test::In(vec!["a".into(), "b".into()]))
    ));
    assert!(!s.implies(&Pred::present("t"), &eq("t", "a")));
    assert!(s.implies(&Pred::And(vec![eq("t", "a"), eq("u", "b")]), &eq("u", "b")));
}

#[test]
fn contradictory_conditions() {
    // Nested blocks fold into one condition.
    assert!(has(
        "input t, k\nwhen t == \"b\" {\n  when t == \"a\" {\n    GET /x by k: 1/1s\n  }\n}\n",
        codes::CONTRADICTORY_CONDITION
    ));
    assert!(has(
        "input t, k\nGET /x when t == \"a\" and t =~ \"^b\" by k: 1/1s\n",
        codes::CONTRADICTORY_CONDITION
    ));
    assert!(has(
        "input t, k\nGET /x when t in (\"a\", \"b\") and t == \"c\" by k: 1/1s\n",
        codes::CONTRADICTORY_CONDITION
    ));
    assert!(has(
        "input t, k\nGET /x when t contains \"ab\" and not t contains \"a\" by k: 1/1s\n",
        codes::CONTRADICTORY_CONDITION
    ));
    // Must not.
    clean("input t, k\nwhen t != \"b\" {\n  when t == \"a\" {\n    GET /x by k: 1/1s\n  }\n}\n");
    clean("input t, k\nGET /x when t == \"a\" and t =~ \"^a\" by k: 1/1s\n");
    clean("input t, k\nGET /x when t == \"a\" or t == \"b\" by k: 1/1s\n");
    clean("input t, k\nGET /x when t =~ \"^a\" and t =~ \"b$\" by k: 1/1s\n");
    clean("input t, k\nGET /x when not t and k by k: 1/1s\n");
}

#[test]
fn key_condition_conflicts() {
    assert!(has(
        "input proxy_key, ip\nANY /** when not proxy_key by proxy_key&ip: 50/10s\n",
        codes::KEY_CONDITION_CONFLICT
    ));
    // One group of two is dead: still reported, for that group.
    assert!(has(
        "input proxy_key, ip\nANY /** when not proxy_key by proxy_key|ip: 50/10s\n",
        codes::KEY_CONDITION_CONFLICT
    ));
    clean("input proxy_key, ip\nANY /** when proxy_key by proxy_key&ip: 50/10s\n");
    clean("input proxy_key, ip\nANY /** when not proxy_key by ip: 50/10s\n");
}

#[test]
fn dead_counters() {
    let text = "input app, env\ncounter c = POST /users when env == \"a\" and env == \"b\" by app per 1d\nPOST /r by app: min(c, 10)/1d fixed\n";
    assert!(has(text, codes::DEAD_COUNTER));
    assert!(
        compile_source(&Source::new("t.rl", text)).0.is_none(),
        "an error"
    );
    // The counter's key must be present, and the condition excludes it.
    assert!(has(
        "input app\ncounter c = POST /users when not app by app per 1d\nPOST /r by app: min(c, 10)/1d fixed\n",
        codes::DEAD_COUNTER
    ));
    // Unused and contradictory: a warning, not an error.
    let unused = codes_of("input app, env, k\ncounter c = POST /users when env == \"a\" and env == \"b\" by app per 1d\nGET /x by k: 1/1s\n");
    assert!(
        unused.contains(&codes::CONTRADICTORY_CONDITION),
        "{unused:?}"
    );
    assert!(!unused.contains(&codes::DEAD_COUNTER));
}

// ------------------------------------------------------------------ windows

#[test]
fn dead_windows() {
    for text in [
        // Fixed, aligned: 60 x 100 = 6000 per hour at most.
        "input k\nGET /x by k: 100/1m, 10000/1h fixed\n",
        "input k\nGET /x by k: 100/1m, 6000/1h fixed\n",
        // Sliding: 9 granules of 1m/8 hold at most 100, 60 blocks per 1h lookback.
        "input k\nGET /x by k: 100/1m, 10000/1h sliding\n",
        // Same window, lower limit.
        "input k\nGET /x by k: 10/1m, 20/1m\n",
        // A longer window with a lower limit makes the shorter one dead.
        "input k\nGET /x by k: 50/1m, 40/1h fixed\n",
        // Buckets: a slower refill and a smaller capacity always reject first.
        "input k\nGET /x by k: 100/1m, 10000/1h bucket burst 50\n",
    ] {
        assert!(has(text, codes::DEAD_WINDOW), "{text}");
    }
    for text in [
        "input k\nGET /x by k: 100/1m, 5000/1h fixed\n",
        "input k\nGET /x by k: 100/1m, 5999/1h sliding\n",
        // Not aligned (7m does not divide 1h): fixed bursts at window edges count.
        "input k\nGET /x by k: 100/7m, 900/1h fixed\n",
        "input k\nGET /x by k: 2300/15m, 4500/30m, 8800/1h, 105600/24h sliding\n",
        "input k\nGET /x by k: 10/1s, 500/1m fixed\n",
    ] {
        clean(text);
    }
}

#[test]
fn binding_window_is_the_lowest_sustained_rate() {
    let text = std::fs::read_to_string("policies/mangopay.rl").unwrap();
    let (table, _) = compile_source(&Source::new("m.rl", text));
    let table = table.unwrap();
    let rule = &table.rules[0];
    assert_eq!(binding_window(&rule.windows), Some(3), "105600/24h");
    let (table, _) = compile_source(&Source::new("t.rl", "input k\nGET /x by k: 10/1s, 60/1m\n"));
    assert_eq!(binding_window(&table.unwrap().rules[0].windows), Some(1));
}

#[test]
fn implicit_bursts() {
    assert!(has(
        "input k\nPOST /t by k: 6000/1m bucket\n",
        codes::IMPLICIT_BURST
    ));
    assert!(has(
        "input k\ndefault bucket\nPOST /t by k: 10/1s\n",
        codes::IMPLICIT_BURST
    ));
    clean("input k\nPOST /t by k: 6000/1m bucket burst 100\n");
    clean("input k\nPOST /t by k: 1/1s bucket\n");
    clean("input k\nPOST /t by k: 6000/1m sliding\n");
}

#[test]
fn short_blocks() {
    assert!(has(
        "input k\nPOST /t by k: 50/1m block 10s\n",
        codes::SHORT_BLOCK
    ));
    assert!(has(
        "input k\nPOST /t by k: 5/1s, 50/1h fixed block 10m\n",
        codes::SHORT_BLOCK
    ));
    clean("input k\nPOST /t by k: 50/1m block 1m\n");
    clean("input k\nPOST /t by k: 200/1m fixed block 60s\n");
    // A bucket frees one request every W/N: a block longer than that is fine.
    clean("input k\nPOST /t by k: 6000/1m bucket burst 10 block 10s\n");
}

#[test]
fn minutes_that_look_like_months() {
    assert!(has(
        "input k\nGET /r by k: 1000/1d, 20000/1m fixed\n",
        codes::MINUTES_NOT_MONTHS
    ));
    let c = codes_of("input k\nGET /r by k: 1000/1d, 20000/1m fixed\n");
    assert!(
        !c.contains(&codes::DEAD_WINDOW),
        "one finding, not two: {c:?}"
    );
    clean("input k\nGET /r by k: 1000/1d, 20000/1mo fixed\n");
    clean("input k\nGET /r by k: 10/1m, 1000/1d fixed\n");
}

// ------------------------------------------------------------------ rule pairs

#[test]
fn shadowed_rules() {
    // Contained paths, coarser key, lower limit, same window.
    assert!(has(
        "input key, ip\na: POST /tokens/** by key: 50/10s\nb: POST /tokens/search by key&ip: 100/10s\n",
        codes::SHADOWED_RULE
    ));
    // `{id}` contains `search`; a block condition implied by the inner one.
    assert!(has(
        "input key, t\nwhen t == \"x\" {\n  a: GET /tokens/{id} by key: 5/1m\n  when key {\n    b: GET /tokens/search by key: 10/1m\n  }\n}\n",
        codes::SHADOWED_RULE
    ));
    // Must not: basis-theory's test tenant row against a resource row. The
    // conditioned rule does not contain the other, nor the other it.
    clean("input key, ip, tenant\ntest_tenant: ANY /** when tenant == \"test\" by key&ip: 50/10s\ntokens_search: POST /tokens/search by key&ip: 50/10s\n");
    // Overlapping paths, but neither contains the other.
    clean("input key\na: GET /tokens/{id} by key: 5/1m\nb: GET /tokens/search | /tokens/search/x by key: 10/1m\n");
    // Different windows: not comparable over the same window.
    clean("input key\na: ANY /** by key: 5/10s\nb: GET /x by key: 10/1m\n");
    // A finer key on the stricter rule does not count everything.
    clean("input key, ip\na: ANY /** by key&ip: 5/1m\nb: GET /x by key: 10/1m\n");
    // A shadow-mode rule enforces nothing; a block on the looser rule matters.
    clean("input key\na: ANY /** by key: 5/1m shadow\nb: GET /x by key: 10/1m\n");
    clean("input key\na: ANY /** by key: 5/1m\nb: GET /x by key: 10/1m block 5m\n");
    // A full store that admits new keys uncounted: A may miss what B counts.
    clean("input key\ndefault overflow allow\na: ANY /** by key: 5/1m\nb: GET /x by key: 10/1m\n");
    // Keys from the path: `{id}` is the second segment for one, the third
    // for the other.
    clean("a: GET /t/{id}/** by id: 5/1m\nb: GET /t/x/{id} by id: 10/1m\n");
    // Different algorithms count differently.
    clean("input key\na: ANY /** by key: 5/1m fixed\nb: GET /x by key: 10/1m sliding\n");
}

#[test]
fn identical_rules_are_errors() {
    let text =
        "input key\na: POST /tokens by key: 10/1s\nb: POST /tokens by key: 10/1s status 503\n";
    assert!(has(text, codes::IDENTICAL_RULES));
    assert!(compile_source(&Source::new("t.rl", text)).0.is_none());
    // Same meaning, written differently.
    assert!(has(
        "input key, t\nPOST /tokens | /tokenize when t == \"a\" by key: 10/1s\nPOST /tokenize | /tokens when t in (\"a\") by key: 10/1s\n",
        codes::IDENTICAL_RULES
    ));
    let c = codes_of(text);
    assert!(!c.contains(&codes::SHADOWED_RULE), "{c:?}");
    // Must not: a different window, key, path or condition.
    for text in [
        "input key\nPOST /tokens by key: 10/1s\nPOST /tokens by key: 10/1s, 100/1m\n",
        "input key, ip\nPOST /tokens by key: 10/1s\nPOST /tokens by ip: 10/1s\n",
        "input key\nPOST /tokens by key: 10/1s\nPOST /tokenize by key: 10/1s\n",
        "input key, t\nPOST /tokens when t == \"a\" by key: 10/1s\nPOST /tokens when t == \"b\" by key: 10/1s\n",
    ] {
        assert!(!has(text, codes::IDENTICAL_RULES), "{text}");
    }
    // Must not: a different penalty, or one of them in shadow mode (an
    // enforced rule and its trial copy). These compile.
    for text in [
        "input k
soft: GET /x by k: 10/1m
hard: GET /x by k: 10/1m block 1h
",
        "input k
short: GET /x by k: 10/1m block 1m
long: GET /x by k: 10/1m block 1h
",
        "input k
live: GET /x by k: 10/1m
trial: GET /x by k: 10/1m shadow
",
    ] {
        assert!(!has(text, codes::IDENTICAL_RULES), "{text}");
        assert!(
            compile_source(&Source::new("t.rl", text)).0.is_some(),
            "{text}"
        );
    }
    // The same penalty, both in shadow mode: identical.
    assert!(has(
        "input k
a: GET /x by k: 10/1m block 1h shadow
b: GET /x by k: 10/1m block 1h shadow
",
        codes::IDENTICAL_RULES
    ));
}

/// Rules are compared only with the rules whose paths can contain theirs
/// (found through a trie of path segments): findings between rules far
/// apart in the file, through `**`, `{param}` and `*` segments and over
/// several paths, are all still there, and nothing else is.
#[test]
fn rule_pairs_far_apart_are_compared() {
    let mut text = String::from(
        "input key\n\
         early_wild: GET /api/{v}/users by key: 2/1m\n\
         dup_a: POST /svc/dup/{id} by key: 7/1m\n\
         mid_path: GET /deep/a/b/c by key: 9/1m\n\
         star: GET /files/*/meta | /files/*/data by key: 4/1m\n\
         root: GET / by key: 6/1m\n",
    );
    // Rules that match nothing above or below (an hour window, on paths of
    // their own), in between.
    for i in 0..300 {
        text.push_str(&format!("r{i}: GET /svc/r{i}/{{id}} by key: 100/1h\n"));
    }
    text.push_str(
        "late_lit: GET /api/v1/users by key: 5/1m\n\
         late_rest: GET /deep/** by key: 3/1m\n\
         files_both: GET /files/x/data | /files/y/meta by key: 8/1m\n\
         files_half: GET /files/x/data | /other/y/meta by key: 8/1m\n\
         root_again: GET / by key: 60/1m\n\
         dup_b: POST /svc/dup/{id} by key: 7/1m\n",
    );
    let source = Source::new("t.rl", text);
    let (table, diags) = compile_source(&source);
    assert!(table.is_none(), "identical rules are an error");
    let mut found: Vec<(&str, String)> = diags
        .iter()
        .filter(|d| d.code == codes::SHADOWED_RULE || d.code == codes::IDENTICAL_RULES)
        .map(|d| (d.code, d.message.clone()))
        .collect();
    found.sort();
    let shadowed = |b: &str, a: &str| {
        (
            codes::SHADOWED_RULE,
            format!("rule `{b}` is shadowed by `{a}`: it can never be the reason for a rejection"),
        )
    };
    let mut expected = vec![
        (
            codes::IDENTICAL_RULES,
            "rules `dup_a` and `dup_b` are identical".to_string(),
        ),
        shadowed("late_lit", "early_wild"),
        shadowed("mid_path", "late_rest"),
        shadowed("files_both", "star"),
        shadowed("root_again", "root"),
    ];
    expected.sort();
    assert_eq!(found, expected, "{}", diags.render(&source, 100));
}

// ------------------------------------------------------------------ declarations, keys, headers

#[test]
fn unused_declarations() {
    let c = codes_of("input key, ip, tenant\nheaders h {\n  \"Retry-After\" = \"${retry_after}\" on reject\n}\nresponse r {\n  headers h\n}\ncounter users = POST /users by key per 1d\nPOST /tokens by key&ip: 10/1s\n");
    assert_eq!(
        c.iter()
            .filter(|c| **c == codes::UNUSED_DECLARATION)
            .count(),
        3,
        "{c:?}"
    );
    // Used by a condition, a cost, a derived limit, a default response.
    clean("input key, ip, t\nheaders h {\n  \"Retry-After\" = \"${retry_after}\" on reject\n}\nresponse r {\n  headers h\n}\ndefault respond r\ncounter users = POST /users by key per 1d\nPOST /tokens when t == \"x\" by key&ip: min(users, 10)/1d fixed\n");
}

#[test]
fn free_form_keys() {
    assert!(has(
        "input key, ip, tenant\nPOST /tokens by key&ip: 200/10s\nGET /r by tenant: 10/1m\n",
        codes::FREE_FORM_KEY
    ));
    // The only keyed rule, an address, or a key other rules use: clean.
    clean("input client\nANY /** by client: 10/1m\n");
    clean("input key, client_ip\nPOST /tokens by key&client_ip: 200/10s\nGET /r by client_ip: 10/1m\n");
    clean("input key, ip\nPOST /tokens by key&ip: 200/10s\nGET /r by key: 10/1m\n");
}

#[test]
fn headers_that_disagree() {
    let with = |line: &str, rule: &str| {
        format!("input key\nheaders h {{\n  {line}\n}}\nresponse r {{\n  headers h\n}}\ndefault respond r\n{rule}\n")
    };
    assert!(has(
        &with(
            "\"Retry-After\" = \"${reset_after}\" on reject",
            "POST /t by key: 10/1s"
        ),
        codes::RETRY_AFTER_HEADER
    ));
    assert!(has(
        &with(
            "\"retry-after\" = \"60\" on reject",
            "POST /t by key: 10/1s"
        ),
        codes::RETRY_AFTER_HEADER
    ));
    clean(&with(
        "\"Retry-After\" = \"${retry_after}\" on reject",
        "POST /t by key: 10/1s",
    ));
    assert!(has(
        &with(
            "\"RateLimit-Policy\" = \"\\\"b\\\";q=100;w=60\"",
            "POST /t by key: 10/1s"
        ),
        codes::RATELIMIT_POLICY_HEADER
    ));
    clean(&with(
        "\"RateLimit-Policy\" = \"\\\"b\\\";q=100;w=60\"",
        "POST /t by key: 100/1m",
    ));
    clean(&with(
        "\"RateLimit-Policy\" = \"\\\"${rule}\\\";q=${limit};w=${window}\"",
        "POST /t by key: 10/1s",
    ));
}

// ------------------------------------------------------------------ allow comments

#[test]
fn allow_comments() {
    // On the line before, or at the end of the item's line.
    clean("input k, ip\n# rlc: allow(short_block): the vendor says so\nPOST /t by k&ip: 50/1m block 10s\n");
    clean("input k, ip\nPOST /t by k&ip: 50/1m block 10s # rlc: allow(short_block)\n");
    // On a block: for every rule inside.
    clean("input k, ip, t\n# rlc: allow(short_block)\nwhen t {\n  POST /t by k&ip: 50/1m block 10s\n  GET /t by k&ip: 50/1m block 10s\n}\n");
    // Only the next item.
    let c = codes_of("input k, ip\n# rlc: allow(short_block)\nPOST /t by k&ip: 50/1m block 10s\nGET /t by k&ip: 50/1m block 10s\n");
    assert_eq!(c, [codes::SHORT_BLOCK]);
    // Errors cannot be allowed; unknown and unused allows are reported.
    let c = codes_of(
        "input k\n# rlc: allow(identical_rules)\nPOST /t by k: 1/1s\nPOST /t by k: 1/1s\n",
    );
    assert!(c.contains(&codes::IDENTICAL_RULES), "{c:?}");
    assert!(has(
        "input k\n# rlc: allow(no_such_code)\nPOST /t by k: 1/1s\n",
        codes::UNUSED_ALLOW
    ));
    assert!(has(
        "input k\n# rlc: allow(short_block)\nPOST /t by k: 1/1s\n",
        codes::UNUSED_ALLOW
    ));
    assert!(has(
        "input k\n# rlc: whatever\nPOST /t by k: 1/1s\n",
        codes::UNUSED_ALLOW
    ));
    // Other comments are just comments.
    clean("input k\n# rlc is the compiler; allow(this) is prose\nPOST /t by k: 1/1s\n");
}

/// Hundreds of rules that all match each other: the pairwise analysis stays
/// fast and reports each shadowed rule once.
#[test]
fn many_rules_stay_fast() {
    let mut text = String::from("input key\n");
    for i in 0..600 {
        text.push_str(&format!("r{i}: ANY /** by key: {}/1m fixed\n", 10 + i));
    }
    let start = std::time::Instant::now();
    let c = codes_of(&text);
    assert!(start.elapsed().as_secs() < 20, "{:?}", start.elapsed());
    assert_eq!(
        c.iter().filter(|c| **c == codes::SHADOWED_RULE).count(),
        599
    );
}

/// The decisions of a limiter on a pseudo-random stream of requests.
fn decisions(text: &str, requests: &[(u64, &str)]) -> Vec<bool> {
    let policy = rlc::Policy::from_str("p.rl", text).unwrap();
    let limiter = rlc::Limiter::with_clock(policy, rlc::ManualClock::new(0));
    requests
        .iter()
        .map(|(t, path)| {
            limiter
                .check_at(
                    &rlc::Request::new("GET", path)
                        .attr("key", "k")
                        .attr("ip", "i"),
                    *t,
                )
                .allowed()
        })
        .collect()
}

/// Bursts and lulls at many rates, over a few hours, from 2023-11-14.
fn stream(seed: u64, paths: &[&'static str], len: usize) -> Vec<(u64, &'static str)> {
    let mut x = seed;
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 33
    };
    let mut t = 1_700_000_000_000_000_000u64;
    let mut out = Vec::new();
    while out.len() < len {
        // A burst of requests spaced by a random gap, then a pause.
        let gap = [1_000_000u64, 10_000_000, 100_000_000, 1_000_000_000][(next() % 4) as usize];
        for _ in 0..next() % 400 {
            t += next() % gap + 1;
            out.push((t, paths[(next() as usize) % paths.len()]));
        }
        // Mostly short pauses, sometimes a long one.
        let pause = if next() % 50 == 0 { 900 } else { next() % 20 };
        t += pause * 1_000_000_000;
    }
    out
}

/// What the analysis calls dead changes no decision: the policy without the
/// dead window, or without the shadowed rule, decides every request alike.
#[test]
fn findings_agree_with_the_evaluator() {
    let cases: [(&str, &str, &str, &[&'static str]); 6] = [
        (
            codes::DEAD_WINDOW,
            "input key\nGET /x by key: 100/1m, 6000/1h fixed\n",
            "input key\nGET /x by key: 100/1m fixed\n",
            &["/x"],
        ),
        (
            codes::DEAD_WINDOW,
            "input key\nGET /x by key: 10/1s, 600/1m sliding\n",
            "input key\nGET /x by key: 10/1s sliding\n",
            &["/x"],
        ),
        (
            codes::DEAD_WINDOW,
            "input key\nGET /x by key: 20/1s, 1000/1m bucket burst 5\n",
            "input key\nGET /x by key: 1000/1m bucket burst 5\n",
            &["/x"],
        ),
        (
            codes::DEAD_WINDOW,
            "input key\nGET /x by key: 30/7s, 1000/1m fixed\n",
            "input key\nGET /x by key: 30/7s fixed\n",
            &["/x"],
        ),
        (
            codes::SHADOWED_RULE,
            "input key, ip\na: GET /t/** by key: 50/10s\nb: GET /t/{id} by key&ip: 60/10s\n",
            "input key, ip\na: GET /t/** by key: 50/10s\n",
            &["/t/1", "/t", "/t/2/3"],
        ),
        (
            codes::SHADOWED_RULE,
            "input key\na: GET /** by key: 40/1m, 400/1h fixed\nb: GET /t by key: 40/1m, 500/1h fixed\n",
            "input key\na: GET /** by key: 40/1m, 400/1h fixed\n",
            &["/t", "/u"],
        ),
    ];
    for (code, with, without, paths) in cases {
        assert!(has(with, code), "{with}");
        assert!(!has(without, code), "{without}");
        for seed in 1..4 {
            let s = stream(seed, paths, 60_000);
            let (a, b) = (decisions(with, &s), decisions(without, &s));
            assert!(
                a.iter().any(|x| !x),
                "{with}: the stream never reaches the limit"
            );
            assert_eq!(a, b, "{with}: a finding changed a decision (seed {seed})");
        }
    }
}

/// The control for the test above: windows and rules the analysis keeps
/// do change decisions on the same streams.
#[test]
fn live_windows_and_rules_change_decisions() {
    let cases: [(&str, &str, &[&'static str]); 4] = [
        (
            "input key\nGET /x by key: 100/1m, 3000/1h fixed\n",
            "input key\nGET /x by key: 100/1m fixed\n",
            &["/x"],
        ),
        (
            "input key\nGET /x by key: 10/1s, 200/1m sliding\n",
            "input key\nGET /x by key: 10/1s sliding\n",
            &["/x"],
        ),
        (
            "input key\nGET /x by key: 20/1s, 300/1m bucket\n",
            "input key\nGET /x by key: 300/1m bucket\n",
            &["/x"],
        ),
        (
            "input key\na: GET /t/** by key: 50/10s\nb: GET /t/{id} by key: 10/10s\n",
            "input key\na: GET /t/** by key: 50/10s\n",
            &["/t/1", "/t", "/t/2/3"],
        ),
    ];
    for (with, without, paths) in cases {
        let differs = (1..4).any(|seed| {
            let s = stream(seed, paths, 60_000);
            decisions(with, &s) != decisions(without, &s)
        });
        assert!(differs, "{with}: the streams do not tell the windows apart");
    }
}

/// Random pairs of windows: whenever the analysis calls one dead, removing
/// it changes no decision.
#[test]
fn random_dead_windows_are_really_dead() {
    let periods = ["1s", "2s", "7s", "10s", "1m", "90s", "5m", "1h"];
    let mut x = 7u64;
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 33
    };
    let s = stream(11, &["/x"], 30_000);
    let mut dead = 0;
    for _ in 0..200 {
        let alg = ["fixed", "sliding", "bucket"][(next() % 3) as usize];
        let (p1, p2) = (
            periods[(next() as usize) % periods.len()],
            periods[(next() as usize) % periods.len()],
        );
        let (n1, n2) = (1 + next() % 300, 1 + next() % 3000);
        let burst = if alg == "bucket" && next() % 2 == 0 {
            format!(" burst {}", 1 + next() % 50)
        } else {
            String::new()
        };
        let w1 = format!("{n1}/{p1}");
        let w2 = format!("{n2}/{p2}");
        if w1 == w2 || (alg == "sliding" && (p1 == "1s" && n1 > 1_000 || p2 == "1s" && n2 > 1_000))
        {
            continue;
        }
        let text = format!("input key\nGET /x by key: {w1}, {w2} {alg}{burst}\n");
        let source = Source::new("t.rl", text.as_str());
        let (table, diags) = compile_source(&source);
        if table.is_none() {
            continue;
        }
        let Some(d) = diags.iter().find(|d| d.code == codes::DEAD_WINDOW) else {
            continue;
        };
        dead += 1;
        let gone = &text[d.span.start..d.span.end];
        let kept = if gone == w1 { &w2 } else { &w1 };
        let without = format!("input key\nGET /x by key: {kept} {alg}{burst}\n");
        assert_eq!(
            decisions(&text, &s),
            decisions(&without, &s),
            "{text} is not the same as {without}"
        );
    }
    assert!(dead > 15, "only {dead} dead windows drawn");
}

#[test]
fn an_input_named_like_a_path_parameter_key_is_explained() {
    // `by doc` reads the path's `{doc}`, so the input `doc` is unused; the
    // help says why instead of suggesting `by doc`, which is already there.
    let text = "input doc\nPATCH /v1/docs/{doc} by doc: 1/1m\n";
    let source = Source::new("t.rl", text);
    let (_, diags) = compile_source(&source);
    let out = diags.render(&source, 200);
    assert!(has(text, codes::UNUSED_DECLARATION), "{out}");
    assert!(out.contains("keys on the path parameter"), "{out}");
    // Without a parameter of that name, the usual help.
    let plain = "input doc, k\nPATCH /v1/docs/{id} by k: 1/1m\n";
    let source = Source::new("t.rl", plain);
    let out = compile_source(&source).1.render(&source, 200);
    assert!(out.contains("use it in a key (`by doc`)"), "{out}");
}
