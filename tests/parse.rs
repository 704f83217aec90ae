//! Parsing of every form of the language, checked on the syntax tree and on
//! the compiled table.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlc::compile::{Cond, Limit};
use rlc::ir::{Algorithm, MethodSet, PathSeg, Period, DAY, MINUTE, SECOND};
use rlc::syntax::ast::{Item, RuleOption, Segment};
use rlc::{syntax, Source};

fn rules(text: &str) -> Vec<rlc::syntax::ast::Rule> {
    let file = syntax::parse(&Source::new("t.rl", text)).unwrap_or_else(|d| panic!("{d:?}"));
    let mut out = Vec::new();
    fn walk(items: &[Item], out: &mut Vec<rlc::syntax::ast::Rule>) {
        for it in items {
            match it {
                Item::Rule(r) => out.push(r.clone()),
                Item::When(w) => walk(&w.items, out),
                _ => {}
            }
        }
    }
    walk(&file.items, &mut out);
    out
}

fn table(text: &str) -> rlc::DecisionTable {
    let (t, d) = rlc::compile_source(&Source::new("t.rl", text));
    t.unwrap_or_else(|| panic!("{}", d.render(&Source::new("t.rl", text), 100)))
}

#[test]
fn the_card_line_parses_exactly_as_written() {
    let r = &rules("input key, ip\nPOST /tokens by key&ip: 200/10s throttle\n")[0];
    assert_eq!(r.matcher.methods[0].name, "POST");
    assert!(matches!(&r.matcher.paths[0].segments[..], [Segment::Literal(s, _)] if s == "tokens"));
    let key = r.key.as_ref().unwrap();
    assert_eq!(key.groups.len(), 1);
    let names: Vec<&str> = key.groups[0].iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["key", "ip"]);
    assert_eq!(r.rates.len(), 1);
    assert_eq!(r.rates[0].window.as_ref().unwrap().unit.name, "s");
    assert!(matches!(r.options[..], [RuleOption::Throttle(_)]));
    let t = table("input key, ip\nPOST /tokens by key&ip: 200/10s throttle\n");
    assert_eq!(t.rules[0].windows[0].limit.bound(), 200);
    assert_eq!(t.rules[0].windows[0].period, Period::Nanos(10 * SECOND));
    assert_eq!(t.rules[0].block_ns, None);
    assert_eq!(t.rules[0].status, 429);
}

#[test]
fn methods_and_alternatives() {
    let t = table("input k\nPATCH|DELETE /t/{id} by k: 1/1s\nANY /x: 1/1s\nGET|HEAD|OPTIONS|PUT|POST /y: 1/1s\n");
    assert_eq!(t.rules[0].methods.describe(), "PATCH|DELETE");
    assert_eq!(t.rules[1].methods, MethodSet::ANY);
    assert_eq!(t.rules[2].methods.describe(), "GET|POST|PUT|HEAD|OPTIONS");
}

#[test]
fn paths_params_stars_rest_and_alternatives() {
    let t = table("input k\nGET /a/{id}/b | /c/*/d | /e/** by k: 1/1s\nGET /: 1/1s\n");
    let p = &t.rules[0].paths;
    assert_eq!(p.len(), 3);
    assert_eq!(
        p[0].segments,
        vec![
            PathSeg::Literal("a".into()),
            PathSeg::Param("id".into()),
            PathSeg::Literal("b".into())
        ]
    );
    assert_eq!(p[1].segments[1], PathSeg::Star);
    assert_eq!(
        p[2].segments,
        vec![PathSeg::Literal("e".into()), PathSeg::Rest]
    );
    assert!(t.rules[1].paths[0].segments.is_empty());
    assert_eq!(p[0].to_string(), "/a/{id}/b");
}

#[test]
fn keys_and_or_and_global() {
    let t = table("input key, ip, host\nANY /** by key|ip: 1/1s\nANY /** by key&ip|host&ip: 1/1s\nANY /**: 1/1s\n");
    let attrs = |ri: usize| -> Vec<Vec<usize>> {
        t.rules[ri]
            .groups
            .iter()
            .map(|g| t.groups[g.0 as usize].attrs.clone())
            .collect()
    };
    assert_eq!(attrs(0), vec![vec![0], vec![1]]);
    assert_eq!(attrs(1), vec![vec![0, 1], vec![2, 1]]);
    assert_eq!(attrs(2), vec![Vec::<usize>::new()]);
}

#[test]
fn rates_units_and_several_windows() {
    let t = table("input c\nANY /** by c: 2300/15m, 4500/30m, 8800/1h, 105_600/24h\nGET /e by c: 100/1mo fixed\nGET /f by c: 5/250ms bucket\nGET /g by c: 1/2d fixed\n");
    let w: Vec<(u64, Period)> = t.rules[0]
        .windows
        .iter()
        .map(|w| (w.limit.bound(), w.period))
        .collect();
    assert_eq!(
        w,
        vec![
            (2300, Period::Nanos(15 * MINUTE)),
            (4500, Period::Nanos(30 * MINUTE)),
            (8800, Period::Nanos(60 * MINUTE)),
            (105_600, Period::Nanos(DAY)),
        ]
    );
    assert_eq!(t.rules[1].windows[0].period, Period::Months(1));
    assert_eq!(t.rules[2].windows[0].period, Period::Nanos(250_000_000));
    assert_eq!(t.rules[3].windows[0].period, Period::Nanos(2 * DAY));
}

#[test]
fn algorithms_defaults_burst_block_status() {
    let t = table("input k\ndefault bucket\nGET /a by k: 10/1s\nGET /b by k: 10/1s burst 3\nGET /c by k: 10/1s sliding block 10s\nGET /d by k: 10/1s fixed status 403\n");
    assert_eq!(t.rules[0].algorithm, Algorithm::Bucket);
    assert_eq!(t.rules[1].burst, Some(3));
    assert_eq!(t.rules[1].windows[0].tolerance_ns, 3 * (SECOND / 10));
    assert_eq!(t.rules[2].algorithm, Algorithm::Sliding);
    assert_eq!(t.rules[2].block_ns, Some(10 * SECOND));
    assert_eq!(t.rules[3].algorithm, Algorithm::Fixed);
    assert_eq!(t.rules[3].status, 403);
    let t = table("input k\nGET /a by k: 10/1s\n");
    assert_eq!(t.rules[0].algorithm, Algorithm::Sliding, "built-in default");
}

#[test]
fn conditions_every_operator_and_nesting() {
    let text = r#"input a, b, c
GET /1 when a == "x": 1/1s
GET /2 when a != "x": 1/1s
GET /3 when a: 1/1s
GET /4 when not a: 1/1s
GET /5 when !a: 1/1s
GET /6 when a =~ "^k_": 1/1s
GET /7 when a !~ "_prod_|_test_": 1/1s
GET /8 when a contains "zz": 1/1s
GET /9 when a in ("p", "q"): 1/1s
GET /10 when a == "x" and b or not c: 1/1s
when a == "x" {
  when b {
    GET /11 when c: 1/1s
  }
}
"#;
    let t = table(text);
    let ev = |ri: usize, a: Option<&str>, b: Option<&str>, c: Option<&str>| {
        t.rules[ri].cond.as_ref().unwrap().eval(&[a, b, c])
    };
    assert!(
        ev(0, Some("x"), None, None) && !ev(0, Some("y"), None, None) && !ev(0, None, None, None)
    );
    assert!(
        ev(1, Some("y"), None, None) && ev(1, None, None, None) && !ev(1, Some("x"), None, None)
    );
    assert!(ev(2, Some(""), None, None) && !ev(2, None, None, None));
    assert!(ev(3, None, None, None) && !ev(3, Some("v"), None, None));
    assert!(ev(4, None, None, None));
    assert!(ev(5, Some("k_1"), None, None) && !ev(5, Some("x_k_"), None, None));
    // Legacy keys in basis-theory.md: keys without `_prod_` or `_test_`.
    assert!(
        ev(6, Some("legacy123"), None, None)
            && !ev(6, Some("key_prod_1"), None, None)
            && !ev(6, Some("key_test_1"), None, None)
    );
    assert!(ev(7, Some("azzb"), None, None) && !ev(7, Some("az"), None, None));
    assert!(
        ev(8, Some("q"), None, None) && !ev(8, Some("r"), None, None) && !ev(8, None, None, None)
    );
    // `and` binds tighter than `or`.
    assert!(ev(9, Some("x"), Some("1"), Some("1")));
    assert!(ev(9, None, None, None));
    assert!(!ev(9, Some("y"), None, Some("1")));
    // Nested blocks: every enclosing condition must hold.
    assert!(ev(10, Some("x"), Some("1"), Some("1")));
    assert!(!ev(10, Some("x"), None, Some("1")));
    assert!(!ev(10, Some("y"), Some("1"), Some("1")));
    assert!(matches!(t.rules[10].cond, Some(Cond::And(ref v)) if v.len() == 3));
}

#[test]
fn counters_and_derived_limits() {
    let t = table("input app\ncounter users_created = POST /users by app per 1d\nPOST /reports by app: min(users_created, 1000)/1d fixed\n");
    assert_eq!(t.counters[0].name, "users_created");
    assert_eq!(t.counters[0].period, Period::Nanos(DAY));
    match &t.rules[0].windows[0].limit {
        Limit::Min { terms, cap } => {
            assert_eq!(terms.len(), 1);
            assert_eq!(terms[0].counters, vec![0]);
            assert_eq!(terms[0].factor, 1);
            assert_eq!(*cap, 1000);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn declarations_responses_headers_names_comments() {
    let text = r#"# a comment
policy demo   # trailing comment
input key, ip
default overflow allow
headers h {
  "X-RateLimit-Limit" = "${limit}"
  "Retry-After" = "${retry_after}" on reject
  "X-Only-Ok" = "1" on allow
}
response slow {
  status 503
  headers h
  body `{"error": "slow", "rule": "${rule}"}`
}
default respond slow
tokens: POST /tokens by key: 10/1s
other: GET /x by key: 1/1s status 403
"#;
    let t = table(text);
    assert_eq!(t.policy, "demo");
    assert_eq!(t.inputs, vec!["key", "ip"]);
    assert_eq!(t.overflow, rlc::ir::Overflow::Allow);
    assert_eq!(t.header_sets[0].lines.len(), 3);
    assert_eq!(t.responses[0].status, 503);
    assert_eq!(t.rules[0].id, "tokens");
    assert_eq!(
        t.rules[0].status, 503,
        "status comes from the default response"
    );
    assert_eq!(t.rules[1].status, 403, "a rule's own status wins");
    assert_eq!(t.default_response, Some(0));
}

#[test]
fn unnamed_rules_are_cited_by_file_and_line() {
    let t = table("input k\n\nGET /a by k: 1/1s\n");
    assert_eq!(t.rules[0].id, "t.rl:3");
}

#[test]
fn multi_line_rules_and_free_whitespace() {
    let t = table("input c\nANY /**\n  by c:\n    2300/15m,\n    4500/30m\n  sliding\n");
    assert_eq!(t.rules[0].windows.len(), 2);
}

/// Syntax errors are built on a second parse with pest's error detail, a
/// process-wide switch: they read the same while other threads parse valid
/// policies (without detail) or other invalid ones at the same time.
#[test]
fn syntax_errors_are_the_same_while_other_threads_parse() {
    let bad = [
        "input key\nPOST /tokens by key 10/1s\n",
        "input key\nPOST /tokens by key: 10/1s\nGET /x by key&: 5/1m\nfoo bar\n",
    ];
    let good = "input key\nPOST /tokens by key: 10/1s\nGET /x/{id} by key: 5/1m fixed\n";
    let messages = |text: &str| -> Vec<String> {
        match syntax::parse(&Source::new("t.rl", text)) {
            Ok(_) => panic!("expected a syntax error in {text:?}"),
            Err(d) => d.iter().map(|d| d.message.clone()).collect(),
        }
    };
    let alone: Vec<Vec<String>> = bad.iter().map(|t| messages(t)).collect();
    // The missing `:` is named only with error detail.
    assert!(alone[0][0].contains("`:`"), "{:?}", alone[0]);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..200 {
                    assert!(syntax::parse(&Source::new("t.rl", good)).is_ok());
                }
            });
        }
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..100 {
                    for (t, want) in bad.iter().zip(&alone) {
                        assert_eq!(&messages(t), want);
                    }
                }
            });
        }
    });
}
