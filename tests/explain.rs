//! Golden tests of `rlc explain` on the five vendor policies: the policy in
//! words and one request, as text and as JSON. `BLESS=1 cargo test --test
//! explain` rewrites them; review every change against the vendor document.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlc::{explain, Policy};

const CASES: [(&str, &str); 5] = [
    ("basiq", "POST /users/u1/income app=a1 env=sandbox"),
    (
        "basis-theory",
        "POST /tokens key=k_test_1 ip=10.0.0.1 tenant=test",
    ),
    ("mangopay", "GET /v2.01/payins?page=2 client=c1"),
    ("bindbee", "GET /hris/employees api_key=k1 connector=c1"),
    ("finch", "GET /employer/directory client_id=c1 ip=10.0.0.1"),
];

/// 2023-11-14T22:13:20Z.
const AT: u64 = 1_700_000_000_000_000_000;

fn golden(name: &str, actual: &str, failures: &mut Vec<String>) {
    let path = format!("tests/explain/{name}");
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        failures.push(format!(
            "--- {path}\n--- expected:\n{expected}\n--- actual:\n{actual}"
        ));
    }
}

#[test]
fn explain_goldens() {
    let mut failures = Vec::new();
    for (vendor, request) in CASES {
        let policy = Policy::from_file(format!("policies/{vendor}.rl")).unwrap();
        let table = policy.table();
        golden(
            &format!("{vendor}.txt"),
            &explain::policy_text(&table),
            &mut failures,
        );
        golden(
            &format!("{vendor}.json"),
            &format!("{:#}\n", explain::policy_json(&table)),
            &mut failures,
        );
        let spec = explain::parse_request(request).unwrap();
        let v = explain::request_json(&policy, &spec, AT);
        golden(
            &format!("{vendor}-request.txt"),
            &explain::request_text(&v),
            &mut failures,
        );
        golden(
            &format!("{vendor}-request.json"),
            &format!("{v:#}\n"),
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The facts the goldens encode, stated independently of their text.
#[test]
fn explain_request_facts() {
    let policy = Policy::from_file("policies/basis-theory.rl").unwrap();
    let spec = explain::parse_request("POST /tokens key=k_test_1 ip=10.0.0.1 tenant=test").unwrap();
    let v = explain::request_json(&policy, &spec, AT);
    let applies: Vec<&str> = v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["applies"] == true)
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    // basis-theory.md: the test tenant row, POST /tokens, and the IP global row.
    assert_eq!(applies, ["test_tenant", "tokens_create", "ip_global"]);
    let why = |id: &str| {
        v["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"] == id)
            .unwrap()["why"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(why("tokens_list").contains("method POST is not GET"));
    assert!(why("legacy_key").contains("key is \"k_test_1\""));
    assert!(why("proxy_key_ip").contains("key attribute absent: proxy_key"));
    assert!(why("tokens_search").contains("does not match `/tokens/search`"));
    assert_eq!(v["decision"]["allowed"], true);
}

/// A key taken from the path (`{doc}`) is read from the request's path, at
/// the parameter's position in the pattern that matched.
#[test]
fn explain_request_reads_path_parameters() {
    let text = "input k\ndoc_edits: PATCH /v1/docs/{doc} | /v2/{doc}/edit by doc: 30/1m\nanon: PATCH /v1/** by k: 5/1m\n";
    let policy = Policy::from_str("docs.rl", text).unwrap();
    for (request, key) in [
        ("PATCH /v1/docs/abc", "{doc}=abc"),
        ("PATCH /v2/xyz/edit?x=1", "{doc}=xyz"),
    ] {
        let spec = explain::parse_request(request).unwrap();
        let v = explain::request_json(&policy, &spec, AT);
        let r = &v["rules"][0];
        assert_eq!(r["rule"], "doc_edits");
        assert_eq!(r["applies"], true, "{request}: {v:#}");
        assert_eq!(r["counters"][0]["key"], key, "{request}: {v:#}");
        assert_eq!(v["decision"]["rule"], "doc_edits");
        let text = explain::request_text(&v);
        assert!(
            !text.contains("(none: the request is not limited)"),
            "{text}"
        );
    }
    // The key group of `anon` needs `k`, which is absent: only that rule
    // says so.
    let spec = explain::parse_request("PATCH /v1/docs/abc").unwrap();
    let v = explain::request_json(&policy, &spec, AT);
    assert_eq!(v["rules"][1]["applies"], false);
    assert_eq!(v["rules"][1]["why"], "key attribute absent: k");
}
