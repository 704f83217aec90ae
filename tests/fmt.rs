//! `rlc fmt`: canonical layout, idempotent, every comment kept, and the
//! same decision table before and after, on the five vendor policies, the
//! ui corpus and `tests/fmt/*.rl` (whose formatted form is the golden
//! `tests/fmt/*.rl.fmt`; `BLESS=1 cargo test --test fmt` rewrites them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlc::fmt::{comments, format_source};
use rlc::{compile_source, Source};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn inputs() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["basiq", "basis-theory", "mangopay", "bindbee", "finch"]
        .iter()
        .map(|v| PathBuf::from(format!("policies/{v}.rl")))
        .collect();
    for dir in ["tests/ui", "tests/fmt"] {
        let mut more: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "rl"))
            .collect();
        more.sort();
        files.extend(more);
    }
    files
}

/// The table as JSON, without what formatting may move: the file name,
/// line numbers, and the `FILE:LINE` ids of rules without a name.
fn table_json(text: &str) -> Option<Value> {
    let (table, _) = compile_source(&Source::new("p.rl", text));
    let mut v = serde_json::to_value(&table?).unwrap();
    v.as_object_mut().unwrap().remove("file");
    for r in v["rules"].as_array_mut().unwrap() {
        let r = r.as_object_mut().unwrap();
        r.remove("line");
        if r["id"].as_str().unwrap().starts_with("p.rl:") {
            r.insert("id".into(), Value::from("p.rl:?"));
        }
    }
    Some(v)
}

fn comment_texts(text: &str) -> Vec<String> {
    comments(text)
        .iter()
        .map(|c| text[c.span.start..c.span.end].to_string())
        .collect()
}

#[test]
fn formatting_keeps_the_table_and_every_comment() {
    let mut compiled = 0;
    for path in inputs() {
        let text = std::fs::read_to_string(&path).unwrap();
        let Ok(formatted) = format_source(&Source::new("p.rl", text.as_str())) else {
            continue; // syntax errors: refused, see below
        };
        let name = path.display();
        let again = format_source(&Source::new("p.rl", formatted.as_str())).unwrap();
        assert_eq!(again, formatted, "{name}: formatting is not idempotent");
        assert_eq!(
            comment_texts(&formatted),
            comment_texts(&text)
                .iter()
                .map(|c| c.trim_end().to_string())
                .collect::<Vec<_>>(),
            "{name}: comments lost or reordered"
        );
        match (table_json(&text), table_json(&formatted)) {
            (Some(a), Some(b)) => {
                compiled += 1;
                assert_eq!(a, b, "{name}: the table changed");
            }
            (None, None) => {}
            _ => panic!("{name}: compiles on one side only"),
        }
        // The same findings, in the same order.
        let codes = |t: &str| {
            let (_, d) = compile_source(&Source::new("p.rl", t));
            d.iter().map(|d| d.code).collect::<Vec<_>>()
        };
        assert_eq!(
            codes(&text),
            codes(&formatted),
            "{name}: the findings changed"
        );
    }
    assert!(compiled >= 15, "only {compiled} files compiled");
}

#[test]
fn golden_layouts() {
    let bless = std::env::var_os("BLESS").is_some();
    let mut failures = Vec::new();
    for path in inputs().into_iter().filter(|p| p.starts_with("tests/fmt")) {
        let text = std::fs::read_to_string(&path).unwrap();
        let actual = format_source(&Source::new("p.rl", text.as_str())).unwrap();
        let golden = PathBuf::from(format!("{}.fmt", path.display()));
        if bless {
            std::fs::write(&golden, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if expected != actual {
            failures.push(format!("--- {}\n{actual}", golden.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn vendor_rule_tables_are_aligned() {
    let text = std::fs::read_to_string("policies/basis-theory.rl").unwrap();
    let out = format_source(&Source::new("p.rl", text.as_str())).unwrap();
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("tokens_")).collect();
    assert_eq!(lines.len(), 5);
    let col = |l: &str| l.find(" by ").unwrap();
    assert!(lines.iter().all(|l| col(l) == col(lines[0])), "{lines:#?}");
    let rates = |l: &str| l.find(": ").map(|_| l.rfind(": ").unwrap());
    assert!(
        lines.iter().all(|l| rates(l) == rates(lines[0])),
        "{lines:#?}"
    );
    // A rule too long for one line, with three paths: one path per line,
    // the paths aligned, the key under the `|`s.
    let text = std::fs::read_to_string("policies/basiq.rl").unwrap();
    let out = format_source(&Source::new("p.rl", text.as_str())).unwrap();
    assert!(
        out.contains(
            "summaries: POST /users/{userId}/affordability\n\
             \x20             | /users/{userId}/income\n\
             \x20             | /users/{userId}/expenses\n\
             \x20             by app: min(users_created, 1_000)/1d fixed\n"
        ),
        "{out}"
    );
    // Rules too long for one line, with two paths, in a table: the paths
    // on the first line, the name column kept, and the key and rates on the
    // next line, clear of the name column.
    let text = std::fs::read_to_string("policies/finch.rl").unwrap();
    let out = format_source(&Source::new("p.rl", text.as_str())).unwrap();
    assert!(
        out.contains(
            "app_documents:          GET /employer/documents | /employer/documents/{id}\n\
             \x20                         by client_id: 20/1m sliding\n"
        ),
        "{out}"
    );
}

/// The vendor policies are in the canonical layout.
#[test]
fn vendor_policies_are_formatted() {
    for path in inputs().iter().filter(|p| p.starts_with("policies")) {
        let text = std::fs::read_to_string(path).unwrap();
        let out = format_source(&Source::new("p.rl", text.as_str())).unwrap();
        assert!(
            out == text,
            "{} is not as `rlc fmt` writes it",
            path.display()
        );
    }
}

#[test]
fn syntax_errors_are_refused() {
    let source = Source::new("p.rl", "input key\nPOST /tokens by key 200/10s\n");
    let err = format_source(&source).unwrap_err();
    assert_eq!(err.iter().next().unwrap().code, rlc::diag::codes::SYNTAX);
}

#[test]
fn comments_are_found_outside_strings_only() {
    let text = "input a # one\nGET /x when a == \"#no\" : 1/1s\nresponse r {\n  body `{\"a\": \"# no\"}`\n}\n  # two\n";
    let found = comment_texts(text);
    assert_eq!(found, ["# one", "# two"]);
    let c = comments(text);
    assert!(!c[0].own_line && c[1].own_line);
}

fn rlc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rlc"))
        .args(args)
        .output()
        .unwrap()
}

fn tmp(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rlc-fmt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

#[test]
fn cli_fmt_in_place_and_check() {
    let messy = tmp(
        "messy.rl",
        "input   key\nPOST /tokens   by key :  10/1s # c\n",
    );
    let tidy = tmp("tidy.rl", "input key\nPOST /tokens by key: 10/1s\n");
    let m = messy.to_str().unwrap();
    let t = tidy.to_str().unwrap();
    let out = rlc(&["fmt", "--check", m, t]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        m,
        "lists only the file that would change"
    );
    assert!(
        std::fs::read_to_string(&messy).unwrap().contains("   key"),
        "--check writes nothing"
    );
    let out = rlc(&["fmt", m, t]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&messy).unwrap(),
        "input key\nPOST /tokens by key: 10/1s # c\n"
    );
    assert_eq!(rlc(&["fmt", "--check", m, t]).status.code(), Some(0));
    // Syntax errors: exit 1, the diagnostics, and the file left alone.
    let bad = tmp("bad.rl", "input key\nPOST /tokens by key 10/1s\n");
    let b = bad.to_str().unwrap();
    let out = rlc(&["fmt", b]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rl::syntax"));
    assert_eq!(
        std::fs::read_to_string(&bad).unwrap(),
        "input key\nPOST /tokens by key 10/1s\n"
    );
    // A file that cannot be read: exit 2.
    let out = rlc(&[
        "fmt",
        Path::new(m).with_file_name("missing.rl").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

/// Generated rules of every shape, some far too long for a line: the
/// formatted lines stay within `MAX_WIDTH` (no token here is longer, and no
/// condition or list of rates is longer than a line less its indentation),
/// formatting a second time changes nothing, and the table is the same.
#[test]
fn long_rules_wrap_within_max_width() {
    let names = ["", "r", "a_rather_long_rule_name_for_reports"];
    let methods = [
        "GET",
        "GET|POST",
        "GET|POST|PUT|PATCH|DELETE",
        "OPTIONS|HEAD|GET|POST|PUT|PATCH|DELETE",
    ];
    let paths: [&[&str]; 4] = [
        &["/a"],
        &["/organisations/{organisationId}/members"],
        &[
            "/organisations/{organisationId}/members",
            "/organisations/{organisationId}/members/{memberId}",
        ],
        &[
            "/v1/accounts/{id}/transactions",
            "/v1/accounts/{id}/statements",
            "/v1/accounts/{id}/balances/history",
        ],
    ];
    let conds = [
        None,
        Some(r#"tenant == "acme""#),
        Some(
            r#"tenant in ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")"#,
        ),
    ];
    let keys = [None, Some("key"), Some("key&region|tenant&region")];
    let tails = [
        "1/1s",
        "2300/15m, 4500/30m, 8800/1h, 105600/24h sliding",
        "25/1m, 40/1h, 900/1d, 20000/7d fixed block 5m status 503 shadow",
    ];
    let mut checked = 0;
    for (n, name) in names.iter().enumerate() {
        for m in methods {
            for ps in paths {
                for c in conds {
                    for k in keys {
                        for t in tails {
                            for depth in 0..2 {
                                let mut rule = String::new();
                                if !name.is_empty() {
                                    rule.push_str(&format!("{name}{checked}: "));
                                }
                                rule.push_str(&format!("{m} {}", ps.join(" | ")));
                                if let Some(c) = c {
                                    rule.push_str(&format!(" when {c}"));
                                }
                                if let Some(k) = k {
                                    rule.push_str(&format!(" by {k}"));
                                }
                                rule.push_str(&format!(": {t}"));
                                // A short rule before it shares its columns.
                                let short = if n == 0 { "" } else { "s: " };
                                let run = format!("{short}GET /s by key: 1/1s\n{rule}\n");
                                let text = if depth == 0 {
                                    format!("input key, tenant, region\n{run}")
                                } else {
                                    format!("input key, tenant, region\nwhen region == \"eu\" {{\n{run}}}\n")
                                };
                                let formatted =
                                    format_source(&Source::new("p.rl", text.as_str())).unwrap();
                                for line in formatted.lines() {
                                    assert!(
                                        line.chars().count() <= rlc::fmt::MAX_WIDTH,
                                        "{} columns:\n{line}\nin\n{formatted}\nfrom\n{text}",
                                        line.chars().count()
                                    );
                                }
                                let again = format_source(&Source::new("p.rl", formatted.as_str()))
                                    .unwrap();
                                assert_eq!(again, formatted, "not idempotent:\n{text}");
                                let before = table_json(&text);
                                assert!(before.is_some(), "does not compile:\n{text}");
                                assert_eq!(before, table_json(&formatted), "{text}");
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 3 * 4 * 4 * 3 * 3 * 3 * 2);
}
