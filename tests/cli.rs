//! `rlc` run as a process: exit codes, output formats, and one clear line
//! for bad input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn rlc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rlc"))
        .args(args)
        .output()
        .unwrap()
}

fn rlc_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rlc"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn tmp(name: &str, content: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rlc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

#[test]
fn check_vendor_policies_is_clean() {
    let out = rlc(&[
        "check",
        "policies/basiq.rl",
        "policies/basis-theory.rl",
        "policies/mangopay.rl",
        "policies/bindbee.rl",
        "policies/finch.rl",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr)
            .matches(": ok (0 errors, 0 warnings)")
            .count(),
        5
    );
}

#[test]
fn check_reports_errors_with_exit_1() {
    let out = rlc(&["check", "tests/ui/many_errors.rl"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("rl::unknown_method") && err.contains("did you mean `POST`?"),
        "{err}"
    );
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"));
}

#[test]
fn check_json_has_one_object_per_diagnostic() {
    let out = rlc(&["check", "--format", "json", "tests/ui/unknown_method.rl"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    assert_eq!(arr[0]["code"], "rl::unknown_method");
    assert_eq!(arr[0]["severity"], "error");
    assert_eq!(arr[0]["line"], 2);
    assert_eq!(arr[0]["column"], 1);
    assert_eq!(arr[0]["file"], "tests/ui/unknown_method.rl");
    assert_eq!(arr[0]["help"], "did you mean `POST`?");
    assert!(arr[0]["span"]["start"].is_u64());
}

/// Secondary labels are in the JSON too, under `related`, each with the
/// same fields as the primary one; the primary fields are as before.
#[test]
fn check_json_has_related_labels() {
    let path = "tests/ui/duplicate_name.rl";
    let source = std::fs::read_to_string(path).unwrap();
    let out = rlc(&["check", "--format", "json", path]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let arr = v.as_array().unwrap();
    let dup = arr
        .iter()
        .find(|d| d["message"] == "response `slow` is declared twice")
        .unwrap();
    let at = |d: &serde_json::Value| {
        let (s, e) = (
            d["span"]["start"].as_u64().unwrap(),
            d["span"]["end"].as_u64().unwrap(),
        );
        &source[s as usize..e as usize]
    };
    assert_eq!(dup["code"], "rl::duplicate_name");
    assert_eq!(
        (dup["line"].as_u64(), dup["column"].as_u64()),
        (Some(3), Some(10))
    );
    assert_eq!(dup["label"], "declared again here");
    assert_eq!(at(dup), "slow");
    let related = dup["related"].as_array().unwrap();
    assert_eq!(related.len(), 1, "{related:?}");
    let first = &related[0];
    assert_eq!(first["label"], "first declared here");
    assert_eq!(
        (first["line"].as_u64(), first["column"].as_u64()),
        (Some(2), Some(10))
    );
    assert_eq!(at(first), "slow");
    assert_eq!(first["span"]["start"].as_u64(), Some(24));
    // A diagnostic without secondary labels has an empty array.
    let out = rlc(&["check", "--format", "json", "tests/ui/unknown_method.rl"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["related"], serde_json::json!([]));
}

/// The JSON example in docs/diagnostics.md is what `rlc check` prints.
#[test]
fn documented_json_example_is_real() {
    let doc = std::fs::read_to_string("docs/diagnostics.md").unwrap();
    let block = doc.split("```json\n").nth(1).unwrap();
    let block = &block[..block.find("```").unwrap()];
    let documented: serde_json::Value = serde_json::from_str(block).unwrap();
    let file = documented["file"].as_str().unwrap();
    let out = rlc(&["check", "--format", "json", file]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v.as_array().unwrap().contains(&documented),
        "docs/diagnostics.md: {documented:#}\nactual: {v:#}"
    );
}

#[test]
fn missing_file_directory_and_non_utf8_are_one_line_and_exit_2() {
    let out = rlc(&["check", "no/such/file.rl"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: cannot read `no/such/file.rl`"),
        "{err}"
    );

    let out = rlc(&["check", "policies"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is a directory"));

    let bin = tmp("binary.rl", &[0xff, 0xfe, 0x00, 0x41]);
    let out = rlc(&["check", bin.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not UTF-8"));

    for cmd in [["explain", "nope.rl"], ["compile", "nope.rl"]] {
        let out = rlc(&cmd);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}");
        assert_eq!(text(&out.stderr).lines().count(), 1, "{cmd:?}");
    }
    let out = rlc(&["replay", "policies/finch.rl", "no/such/trace.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(rlc(&[]).status.code(), Some(2));
    assert_eq!(rlc(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(rlc(&["check"]).status.code(), Some(2));
    let out = rlc(&["explain", "policies/finch.rl", "--request", "GET"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("missing path"));
    assert_eq!(rlc(&["--help"]).status.code(), Some(0));
}

#[test]
fn empty_and_garbage_policies_do_not_panic() {
    let empty = tmp("empty.rl", b"");
    let out = rlc(&["check", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let garbage = tmp("garbage.rl", b"}}}{{{ \"\x01 ` ((( ###\n\t/ / by : : 0/0");
    let out = rlc(&["check", garbage.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!text(&out.stderr).contains("panicked"));
}

#[test]
fn replay_outputs_one_line_per_input_line_and_marks_bad_lines() {
    let trace = concat!(
        r#"{"at": 1700000000.25, "method": "POST", "path": "/tokens", "attrs": {"key": "k1", "ip": "10.0.0.1"}, "cost": 1}"#,
        "\n",
        "not json\n",
        r#"{"at": 1700000000.5, "method": "POST", "path": "/tokens", "attrs": {"key": "k1", "ip": "10.0.0.1"}}"#,
        "\n",
        r#"{"at": 1600000000, "method": "POST", "path": "/tokens"}"#,
        "\n",
        r#"{"at": 1700000001, "method": "POST", "path": "tokens"}"#,
        "\n",
    );
    let policy = tmp(
        "replay.rl",
        b"input key, ip\nheaders h { \"Retry-After\" = \"${retry_after}\" on reject }\nresponse r { headers h body `{\"rule\": \"${rule}\"}` }\ndefault respond r\ntok: POST /tokens by key&ip: 1/10s fixed\n",
    );
    let out = rlc_stdin(
        &["replay", policy.to_str().unwrap(), "-", "--summary"],
        trace,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a malformed line makes the exit code 1"
    );
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["allowed"], true);
    assert_eq!(lines[0]["rule"], "tok");
    assert!(lines[1]["error"]
        .as_str()
        .unwrap()
        .starts_with("line 2: not JSON"));
    assert_eq!(lines[2]["allowed"], false);
    assert_eq!(lines[2]["status"], 429);
    // 1700000000 is 1700000000 mod 10 = 0: the window ends at ...010.
    assert_eq!(lines[2]["retry_after"], 9.5);
    assert_eq!(lines[2]["headers"]["Retry-After"], "10");
    assert_eq!(lines[2]["body"]["rule"], "tok");
    assert!(lines[3]["error"].as_str().unwrap().contains("back in time"));
    assert!(lines[4]["error"]
        .as_str()
        .unwrap()
        .contains("must start with `/`"));
    let err = text(&out.stderr);
    assert!(
        err.contains("1 allowed, 1 rejected, 3 unreadable lines"),
        "{err}"
    );
}

/// A misspelt field is an error line naming it (a request without its
/// attributes would be limited by no rule); blank lines give no output line
/// but keep their numbers.
#[test]
fn replay_rejects_unknown_fields_and_skips_blank_lines() {
    let trace = concat!(
        r#"{"at": 1700000000, "method": "GET", "path": "/x", "attrs": {"k": "a"}}"#,
        "\n\n   \n",
        r#"{"at": 1700000001, "method": "GET", "path": "/x", "atrs": {"k": "a"}}"#,
        "\n",
        r#"{"at": 1700000002, "method": "GET", "path": "/x", "attrs": {"k": "a"}}"#,
        "\n",
    );
    let policy = tmp(
        "fields.rl",
        b"input k
one: GET /x by k: 1/1m fixed
",
    );
    let out = rlc_stdin(&["replay", policy.to_str().unwrap(), "-"], trace);
    assert_eq!(out.status.code(), Some(1), "an unreadable line: exit 1");
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{}", text(&out.stdout));
    assert_eq!(lines[0]["allowed"], true);
    assert_eq!(
        lines[1]["error"],
        "line 4: unknown field `atrs` (did you mean `attrs`?); the fields are `at`, `method`, \
         `path`, `attrs`, `cost`, `duration`, `actual_cost`, `response_status`"
    );
    // The replay goes on: the next line is decided, on the same counter.
    assert_eq!(lines[2]["allowed"], false);
    assert_eq!(lines[2]["rule"], "one");
}

#[test]
fn explain_policy_and_request() {
    let out = rlc(&["explain", "policies/basis-theory.rl"]);
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    assert!(
        s.contains("tokens_create") && s.contains("counter slots"),
        "{s}"
    );
    let out = rlc(&[
        "explain",
        "policies/basis-theory.rl",
        "--request",
        "POST /tokens key=k_test_1 ip=10.0.0.1 tenant=test",
        "--at",
        "1700000000",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    assert!(s.contains("applies") && s.contains("does not apply"), "{s}");
    let out = rlc(&["explain", "policies/finch.rl", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["policy"], "finch");
}

#[test]
fn compile_prints_the_table_as_json() {
    let out = rlc(&["compile", "policies/mangopay.rl", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rules"][0]["windows"].as_array().unwrap().len(), 4);
    let out = rlc(&["compile", "tests/ui/zero_limit.rl"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn compile_prints_the_same_bytes_every_run() {
    // Each process seeds its hash maps anew: the route trie's literal
    // children must still come out in one order.
    for p in ["policies/basis-theory.rl", "policies/finch.rl"] {
        let runs: Vec<Vec<u8>> = (0..4).map(|_| rlc(&["compile", p]).stdout).collect();
        assert!(!runs[0].is_empty(), "{p}");
        assert!(
            runs.iter().all(|r| *r == runs[0]),
            "{p}: output differs between runs"
        );
    }
}

#[test]
fn human_and_json_columns_agree_on_non_ascii_lines() {
    // Four two-byte characters before the error: miette alone would say
    // column 38 (bytes); rustc, like the JSON output, counts characters.
    let p = tmp(
        "columns.rl",
        "policy p\ninput key\nr: ANY /** when key == \"éééé\" by ipp: 1/1s\n".as_bytes(),
    );
    let path = p.to_str().unwrap();
    let human = text(&rlc(&["check", path]).stderr) + &text(&rlc(&["check", path]).stdout);
    assert!(human.contains(&format!("{path}:3:34]")), "{human}");
    let json: serde_json::Value =
        serde_json::from_slice(&rlc(&["check", "--format", "json", path]).stdout).unwrap();
    assert_eq!(json[0]["line"], 3);
    assert_eq!(json[0]["column"], 34);
}
