//! `rlc diff`: semantic differences between two policies, decided on the
//! compiled tables.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlc::diff::{diff, Effect, PolicyDiff, RuleStatus};
use rlc::{compile_source, Source};
use std::process::Command;

fn table(name: &str, text: &str) -> rlc::DecisionTable {
    let source = Source::new(name, text);
    let (t, d) = compile_source(&source);
    t.unwrap_or_else(|| panic!("{}", d.render(&source, 100)))
}

fn compare(old: &str, new: &str) -> PolicyDiff {
    diff(&table("old.rl", old), &table("new.rl", new))
}

/// The diff's text mentions `what`.
fn says(d: &PolicyDiff, what: &str) {
    let text = d.to_text();
    assert!(text.contains(what), "no {what:?} in:\n{text}");
}

fn rule<'a>(d: &'a PolicyDiff, id: &str) -> &'a rlc::diff::RuleDiff {
    d.rules
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no change for {id}: {}", d.to_text()))
}

const BASE: &str = "input key, ip\ntokens: POST /tokens | /tokenize by key&ip: 200/10s\nsearch: POST /tokens/search by key&ip: 50/10s\nip_global: ANY /** by ip: 2000/10s block 30s\n";

#[test]
fn the_same_policy_has_no_change() {
    for v in ["basiq", "basis-theory", "mangopay", "bindbee", "finch"] {
        let text = std::fs::read_to_string(format!("policies/{v}.rl")).unwrap();
        let d = compare(&text, &text);
        assert!(d.is_empty(), "{v}: {}", d.to_text());
        // Nor a formatted, comment-free copy of it.
        let formatted = rlc::fmt::format_source(&Source::new("x.rl", text.as_str())).unwrap();
        let bare: String = formatted
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        let d = compare(&text, &bare);
        assert!(d.is_empty(), "{v}: {}", d.to_text());
    }
}

#[test]
fn stricter_and_looser_windows() {
    let d = compare(
        BASE,
        &BASE
            .replace("200/10s", "100/10s")
            .replace("2000/10s", "3000/10s"),
    );
    assert_eq!(rule(&d, "tokens").effect, Effect::Stricter);
    assert_eq!(rule(&d, "ip_global").effect, Effect::Looser);
    assert!(
        d.rules.iter().all(|r| r.id != "search"),
        "unchanged rules are not listed"
    );
    // Added and removed windows.
    let d = compare(BASE, &BASE.replace("50/10s", "50/10s, 1000/1h"));
    assert_eq!(rule(&d, "search").effect, Effect::Stricter);
    let d = compare(&BASE.replace("50/10s", "50/10s, 1000/1h"), BASE);
    assert_eq!(rule(&d, "search").effect, Effect::Looser);
    // One window for another: compared as rates.
    let d = compare(BASE, &BASE.replace("50/10s", "18000/1h"));
    let r = rule(&d, "search");
    assert_eq!(
        r.effect,
        Effect::Looser,
        "same rate, larger bursts: {}",
        d.to_text()
    );
    assert!(
        d.to_text()
            .contains("the same sustained rate, in larger bursts"),
        "{}",
        d.to_text()
    );
    let d = compare(BASE, &BASE.replace("50/10s", "1000/1h"));
    assert_eq!(rule(&d, "search").effect, Effect::Mixed, "{}", d.to_text());
    let d = compare(BASE, &BASE.replace("50/10s", "10/10s, 1/1s"));
    assert_eq!(
        rule(&d, "search").effect,
        Effect::Stricter,
        "{}",
        d.to_text()
    );
}

#[test]
fn endpoints_keys_and_options() {
    let d = compare(
        BASE,
        &BASE.replace("POST /tokens | /tokenize", "POST /tokens"),
    );
    let r = rule(&d, "tokens");
    assert_eq!(r.effect, Effect::Looser);
    says(&d, "no longer limits /tokenize");
    let d = compare(
        BASE,
        &BASE.replace("POST /tokens/search", "POST|PUT /tokens/search"),
    );
    assert_eq!(rule(&d, "search").effect, Effect::Stricter);
    // A coarser key shares one counter among more requests.
    let d = compare(
        BASE,
        &BASE.replace(
            "search: POST /tokens/search by key&ip",
            "search: POST /tokens/search by key",
        ),
    );
    assert_eq!(rule(&d, "search").effect, Effect::Stricter);
    let d = compare(BASE, &BASE.replace("block 30s", "block 60s"));
    assert_eq!(rule(&d, "ip_global").effect, Effect::Stricter);
    let d = compare(BASE, &BASE.replace("block 30s", "throttle"));
    assert_eq!(rule(&d, "ip_global").effect, Effect::Looser);
    let d = compare(BASE, &BASE.replace("200/10s", "200/10s fixed"));
    assert_eq!(
        rule(&d, "tokens").effect,
        Effect::Looser,
        "fixed windows burst at edges"
    );
    let d = compare(BASE, &BASE.replace("200/10s", "200/10s status 503"));
    assert_eq!(rule(&d, "tokens").effect, Effect::Neutral);
    // A condition: narrower applies to fewer requests.
    let with = BASE.replace("input key, ip", "input key, ip, t");
    let narrower = with.replace(
        "POST /tokens/search by",
        "POST /tokens/search when t == \"x\" by",
    );
    let d = compare(&with, &narrower);
    assert_eq!(rule(&d, "search").effect, Effect::Looser);
    let d = compare(&narrower, &narrower.replace("t == \"x\"", "t in (\"x\")"));
    assert!(
        d.rules.iter().all(|r| r.effect == Effect::Neutral),
        "{}",
        d.to_text()
    );
}

#[test]
fn rules_added_dropped_renamed_and_unnamed() {
    let d = compare(BASE, &format!("{BASE}health: GET /health by ip: 10/1s\n"));
    assert_eq!(rule(&d, "health").status, RuleStatus::Added);
    let d = compare(&format!("{BASE}health: GET /health by ip: 10/1s\n"), BASE);
    assert_eq!(rule(&d, "health").status, RuleStatus::Dropped);
    // Renamed: matched by methods, paths and key.
    let d = compare(BASE, &BASE.replace("search:", "tokens_search:"));
    let r = rule(&d, "tokens_search");
    assert_eq!(
        (r.status, r.old_id.as_deref()),
        (RuleStatus::Changed, Some("search"))
    );
    // Rules without a name, moved to other lines: no change.
    let old = "input key\n\nGET /a by key: 1/1s\nGET /b by key: 2/1s\n";
    let new = "input key\nGET /b by key: 2/1s\nGET /a by key: 1/1s\n";
    assert!(
        compare(old, new).is_empty(),
        "{}",
        compare(old, new).to_text()
    );
    let d = compare(old, &new.replace("2/1s", "1/1s"));
    assert_eq!(d.rules.len(), 1);
    assert_eq!(d.rules[0].effect, Effect::Stricter);
}

#[test]
fn responses_headers_counters_and_defaults() {
    let with =
        "input key\nresponse r {\n  status 429\n}\ndefault respond r\nPOST /t by key: 1/1s\n";
    let d = compare(with, &with.replace("status 429", "status 503"));
    // The rule's rejection status is its response's.
    assert_eq!(d.rules.len(), 1, "{}", d.to_text());
    assert_eq!(d.rules[0].effect, Effect::Neutral);
    assert_eq!(d.policy.len(), 1, "{}", d.to_text());
    says(&d, "response r: status 429 -> 503");
    let d = compare(
        with,
        &with.replace("input key\n", "input key\ndefault overflow allow\n"),
    );
    assert_eq!(d.policy[0].effect, Effect::Looser);
}

#[test]
fn json_output() {
    let d = compare(BASE, &BASE.replace("200/10s", "100/10s"));
    let v = d.to_json();
    assert_eq!(v["changed"], true);
    assert_eq!(v["rules"][0]["id"], "tokens");
    assert_eq!(v["rules"][0]["status"], "changed");
    assert_eq!(v["rules"][0]["effect"], "stricter");
    assert_eq!(v["rules"][0]["changes"][0]["old"], "200/10s");
    assert_eq!(v["rules"][0]["changes"][0]["new"], "100/10s");
    assert_eq!(compare(BASE, BASE).to_json()["changed"], false);
}

#[test]
fn cli_exit_codes() {
    let dir = std::env::temp_dir().join(format!("rlc-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let a = write("a.rl", BASE);
    let b = write("b.rl", &BASE.replace("200/10s", "100/10s"));
    let bad = write("bad.rl", "input key\nPOST /x by key 1/1s\n");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_rlc"))
            .args(args)
            .output()
            .unwrap()
    };
    let same = run(&["diff", &a, &a]);
    assert_eq!(same.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&same.stdout).contains("no semantic change"));
    let changed = run(&["diff", &a, &b]);
    assert_eq!(changed.status.code(), Some(1));
    let text = String::from_utf8_lossy(&changed.stdout);
    assert!(
        text.contains("~ tokens: POST /tokens | /tokenize, per key&ip: stricter"),
        "{text}"
    );
    assert!(text.contains("200 -> 100 per 10s: stricter"), "{text}");
    let json = run(&["diff", "--format", "json", &a, &b]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["changed"], true);
    assert_eq!(run(&["diff", &a, &bad]).status.code(), Some(2));
}

#[test]
fn time_zone_changes() {
    let tokyo = "input k, tz\ndaily: GET /x by k: 10/1d fixed timezone \"Asia/Tokyo\"\n";
    let utc = "input k, tz\ndaily: GET /x by k: 10/1d fixed\n";
    // Days that start at other instants: some requests admitted under one
    // policy are rejected under the other.
    let d = compare(tokyo, utc);
    let r = rule(&d, "daily");
    assert_eq!(r.effect, Effect::Mixed, "{}", d.to_text());
    says(&d, "time zone Asia/Tokyo -> UTC");
    let d = compare(utc, &utc.replace("fixed", "fixed timezone tz"));
    says(&d, "time zone UTC -> `tz` (else UTC)");
    // `default timezone` changes every fixed rule it aligns.
    let both = "input k, tz\na: GET /a by k: 10/1d fixed\nb: GET /b by k: 10/1d fixed\nc: GET /c by k: 10/1d\n";
    let d = compare(
        both,
        &both.replace(
            "input k, tz\n",
            "input k, tz\ndefault timezone \"Europe/Paris\"\n",
        ),
    );
    let ids: Vec<&str> = d.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"], "{}", d.to_text());
    // UTC written out is no change, and neither is an unchanged zone.
    assert!(compare(utc, &utc.replace("fixed", "fixed timezone \"UTC\"")).is_empty());
    assert!(compare(tokyo, tokyo).is_empty());
}

#[test]
fn reordered_rules_that_break_ties_differently() {
    let old = "input k, ip\nper_key: GET /x/** by k: 1/1m fixed status 403\nper_ip: GET /x/* by ip: 1/1m fixed status 503\n";
    let new = "input k, ip\nper_ip: GET /x/* by ip: 1/1m fixed status 503\nper_key: GET /x/** by k: 1/1m fixed status 403\n";
    // Both reject the second request with the same retry-after: the first
    // rule in the file answers, 403 before and 503 after.
    let d = compare(old, new);
    let r = rule(&d, "per_ip");
    assert_eq!(r.effect, Effect::Neutral, "{}", d.to_text());
    assert_eq!(d.rules.len(), 1, "{}", d.to_text());
    says(&d, "now before per_key (was after): on a tie between them this rule is the one reported, so status 503 instead of 403");
    // Responses that differ count too.
    let with = "input k, ip\nresponse a {\n  status 429\n}\nresponse b {\n  status 429\n}\n";
    let d = compare(
        &format!("{with}one: GET /x by k: 1/1m respond a\ntwo: GET /x by ip: 1/1m respond b\n"),
        &format!("{with}two: GET /x by ip: 1/1m respond b\none: GET /x by k: 1/1m respond a\n"),
    );
    says(&d, "response b instead of a");
    // No change: the same answer, routes that cannot overlap, conditions
    // that cannot both hold, or methods apart.
    for (a, b) in [
        (
            "GET /x by k: 1/1m status 403",
            "GET /x by ip: 1/1m status 403",
        ),
        (
            "GET /x/a by k: 1/1m status 403",
            "GET /x/b by ip: 1/1m status 503",
        ),
        (
            "GET /x when k == \"a\" by k: 1/1m status 403",
            "GET /x when k == \"b\" by ip: 1/1m status 503",
        ),
        (
            "GET /x by k: 1/1m status 403",
            "POST /x by ip: 1/1m status 503",
        ),
    ] {
        let old = format!("input k, ip\none: {a}\ntwo: {b}\n");
        let new = format!("input k, ip\ntwo: {b}\none: {a}\n");
        assert!(
            compare(&old, &new).is_empty(),
            "{}",
            compare(&old, &new).to_text()
        );
    }
}
