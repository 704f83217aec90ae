//! Bad calls: every public entry point with empty, huge or invalid
//! arguments gets a clear error value or a defined decision, never a panic;
//! and every CLI command with missing, unreadable or malformed input prints
//! one clear line on stderr and exits non-zero (2 for I/O and usage, 1 for
//! an invalid policy or unreadable trace lines).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlc::eval::{algo, calendar, Store};
use rlc::{explain, replay, Limiter, ManualClock, Policy, PolicyError, Reason, Request, Source};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const T0: u64 = 1_700_000_000_000_000_000;

const POLICY: &str = r#"
input key, ip
per_key: ANY /** by key: 5/1m fixed
per_ip:  POST /tokens/{id} by ip: 3/10s sliding block 1m
tokens:  GET /b by key: 4/1s bucket burst 2
"#;

fn limiter() -> Limiter<ManualClock> {
    Limiter::with_clock(
        Policy::from_str("api.rl", POLICY).unwrap(),
        ManualClock::new(T0),
    )
}

#[test]
fn policy_constructors_with_bad_arguments() {
    // Empty name and empty text: an empty policy is valid and limits nothing.
    let p = Policy::from_str("", "").unwrap();
    let l = Limiter::with_clock(p, ManualClock::new(T0));
    assert!(l.check_at(&Request::new("GET", "/"), T0).allowed());
    // Names with NUL, newlines, 64 KB: used as given in messages.
    for name in ["a\0b", "line\nbreak", &"n".repeat(64 << 10)] {
        let e = Policy::from_str(name, "GET /x: 0/1s").unwrap_err();
        assert!(matches!(e, PolicyError::Invalid { .. }));
        assert!(e.to_string().contains("rl::zero_limit"), "{e}");
        let _ = e.render(80);
        let _ = e.render(0);
        let _ = e.render(usize::MAX);
    }
    // Files that are not policies.
    let dir = tmp("policy-files");
    let cases: Vec<(PathBuf, &str)> = vec![
        (dir.join("missing.rl"), "cannot read"),
        (dir.clone(), "directory"),
        (write(&dir, "latin1.rl", b"input caf\xe9\n"), "not UTF-8"),
        (PathBuf::from(""), "cannot read"),
        (PathBuf::from("/dev/zero"), "larger than"),
    ];
    for (path, want) in cases {
        let e = Policy::from_file(&path).unwrap_err();
        assert!(e.to_string().contains(want), "{}: {e}", path.display());
        assert!(!matches!(e, PolicyError::Invalid { .. }));
        let _ = e.render(100);
    }
    // An empty file and /dev/null: an empty policy.
    assert!(Policy::from_file(write(&dir, "empty.rl", b"")).is_ok());
    assert!(Policy::from_file("/dev/null").is_ok());
}

#[test]
fn requests_with_bad_arguments() {
    let l = limiter();
    let long = "x".repeat(64 << 10);
    let nul = "k\0ey";
    let deep = "/a".repeat(50_000);
    let cases: Vec<Request<'_>> = vec![
        Request::new("", ""),
        Request::new("", "/"),
        Request::new("GET", "no-slash"),
        Request::new("GET", "//"),
        Request::new("GET", "?"),
        Request::new("GET", "#"),
        Request::new("get", "/x"),
        Request::new("BREW", "/x"),
        Request::new(&long, &long),
        Request::new("GET", &deep),
        Request::new("POST", "/tokens/\0").attr("ip", nul),
        Request::new("GET", "/x").attr("key", ""),
        Request::new("GET", "/x").attr("key", &long),
        Request::new("GET", "/x").attr("", "v"),
        Request::new("GET", "/x").attr(&long, &long),
        Request::new("GET", "/x").attr("key", "a").attr("key", "b"),
        (0..100).fold(Request::new("GET", "/x"), |r, _| r.attr("key", nul)),
    ];
    for req in &cases {
        let d = l.check_at(req, T0);
        if !d.allowed() {
            assert!((100..=599).contains(&d.status()), "{d:?}");
        }
        let _ = d.headers();
        let _ = d.body();
    }
    // A NUL or 64 KB value is a key like any other: counted apart.
    let l = limiter();
    for key in [nul, long.as_str(), ""] {
        let req = Request::new("GET", "/x").attr("key", key);
        let n = (0..10).filter(|_| l.check_at(&req, T0).allowed()).count();
        assert_eq!(n, 5, "key of {} bytes", key.len());
    }
}

#[test]
fn keyed_handles_with_bad_arguments() {
    let l = limiter();
    let long = "/".repeat(1 << 20);
    let nul = "GET\0";
    // Odd routes: an error value naming the route, never a panic.
    for (m, p) in [
        ("", ""),
        ("GET", ""),
        ("GET", "no-slash"),
        (nul, "/x"),
        ("GET", long.as_str()),
        ("\u{1F600}", "/\u{1F600}?#"),
        ("DELETE", "/tokens/7"),
    ] {
        match l.keyed(m, p) {
            Ok(h) => assert_eq!(h.rule(), "per_key", "{m:?} {p:?}"),
            Err(e) => {
                assert_eq!((e.method.as_str(), e.path.as_str()), (m, p));
                assert!(e.to_string().contains("several rules"), "{e}");
            }
        }
    }
    // `per_key` alone applies to DELETE: a handle, whatever the key.
    let h = l.keyed("DELETE", "/x").unwrap();
    let huge = "k".repeat(1 << 20);
    for key in ["", "\0", huge.as_str(), "18446744073709551616", "-1"] {
        assert!(h.verdict_at(key, T0).allowed(), "{key:?}");
    }
    for n in [0, u64::MAX] {
        assert!(h.check_n_at(n, 0, T0).allowed());
        let d = h.check_n_at(n, u64::MAX, 0);
        assert!(!d.allowed(), "a cost above every limit is rejected");
        assert_eq!(d.retry_after_ns(), None, "and no wait helps");
        let v = h.verdict_n_at(n, 1, u64::MAX);
        assert!(v.allowed(), "the end of time is a time like another");
    }
}

#[test]
fn costs_zero_huge_and_above_every_limit() {
    let l = limiter();
    let req = |cost| Request::new("GET", "/b").attr("key", "c").cost(cost);
    // Cost 0: admitted, counts nothing, reports the windows.
    for _ in 0..100 {
        assert!(l.check_at(&req(0), T0).allowed());
    }
    // Above every limit: rejected, and no wait helps (no retry-after).
    for cost in [6, 1_000, u64::MAX / 2, u64::MAX] {
        let d = l.check_at(&req(cost), T0);
        assert!(!d.allowed(), "cost {cost}");
        assert_eq!(d.reason(), Some(Reason::Limit));
        assert_eq!(d.retry_after_ns(), None, "cost {cost}: {d:?}");
        let _ = d.headers();
    }
    // None of that used any quota: the bucket still has its burst of 2 and
    // the minute its 5.
    assert!(l.check_at(&req(2), T0).allowed());
    assert!(!l.check_at(&req(1), T0).allowed());
    let other = Request::new("PUT", "/z").attr("key", "c");
    let n = (0..10).filter(|_| l.check_at(&other, T0).allowed()).count();
    assert_eq!(n, 3, "5 per minute, 2 used by the bucket's request");
}

#[test]
fn settle_release_and_report_with_bad_arguments() {
    let l = limiter();
    let req = Request::new("PUT", "/z").attr("key", "s");
    let mut d = l.check_at(&req, T0);
    assert!(d.allowed());
    for actual in [0, 1, u64::MAX, 0] {
        l.settle(&mut d, actual);
    }
    d.release();
    d.release();
    drop(d);
    // A rejected decision: settling it is a no-op.
    for _ in 0..10 {
        let _ = l.check_at(&req, T0);
    }
    let mut r = l.check_at(&req, T0);
    assert!(!r.allowed());
    l.settle(&mut r, u64::MAX);
    r.release();
    for status in [0, 1, 99, 200, 429, 600, 999, u16::MAX] {
        l.report_response_at(&req, status, T0);
        l.report_response_at(&Request::new("", ""), status, u64::MAX);
    }
}

#[test]
fn limiter_capacities() {
    let p = Policy::from_str("api.rl", POLICY).unwrap();
    for cap in [0, 1, 15, 17, 1 << 20] {
        let l = Limiter::with_capacity(p.clone(), ManualClock::new(T0), cap);
        let n = (0..40)
            .filter(|i| {
                let k = format!("k{i}");
                let allowed = l
                    .check_at(&Request::new("GET", "/x").attr("key", &k), T0)
                    .allowed();
                allowed
            })
            .count();
        // At least the minimum capacity (16 keys) always fits.
        assert!(n >= 16, "capacity {cap}: {n} keys");
        assert!(l.store().bytes() > 0);
    }
}

#[test]
fn explain_and_replay_helpers_with_bad_arguments() {
    for s in [
        "",
        " ",
        "GET",
        "GET x",
        "GET /x =",
        "GET /x =v",
        "GET /x a",
        "\0 /\0 \0=\0",
    ] {
        let _ = explain::parse_request(s);
    }
    assert!(explain::parse_request("").is_err());
    assert!(explain::parse_request("GET x").is_err());
    let p = Policy::from_str("api.rl", POLICY).unwrap();
    let spec = explain::parse_request(&format!(
        "BREW /{} key={}",
        "a/".repeat(10_000),
        "v".repeat(1 << 16)
    ))
    .unwrap();
    for now in [0, T0, u64::MAX] {
        let v = explain::request_json(&p, &spec, now);
        let _ = explain::request_text(&v);
    }
    let deep_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_obj = format!(
        "{{\"at\": 1, \"method\": \"GET\", \"path\": \"/\", \"attrs\": {}}}",
        "{\"a\":".repeat(10_000) + "1" + &"}".repeat(10_000)
    );
    for (line, want) in [
        ("", "not JSON"),
        ("null", "object"),
        ("[]", "object"),
        ("{}", "missing `at`"),
        (deep_json.as_str(), "not JSON"),
        (deep_obj.as_str(), "line 1"),
        (r#"{"at": 1e400, "method": "GET", "path": "/"}"#, "line 1"),
        (r#"{"at": -1, "method": "GET", "path": "/"}"#, "outside"),
        (r#"{"at": 1.8e10, "method": "GET", "path": "/"}"#, "line 1"),
        (r#"{"at": "now", "method": "GET", "path": "/"}"#, "`at`"),
        (
            r#"{"at": 1, "method": "", "path": "/"}"#,
            "`method` is empty",
        ),
        (
            r#"{"at": 1, "method": "GET", "path": "x"}"#,
            "must start with `/`",
        ),
        (
            r#"{"at": 1, "method": "GET", "path": "/", "cost": -1}"#,
            "`cost`",
        ),
        (
            r#"{"at": 1, "method": "GET", "path": "/", "cost": 1.5}"#,
            "`cost`",
        ),
        (
            r#"{"at": 1, "method": "GET", "path": "/", "cost": 18446744073709551616}"#,
            "`cost`",
        ),
        (
            r#"{"at": 1, "method": "GET", "path": "/", "attrs": [1]}"#,
            "`attrs`",
        ),
        (
            r#"{"at": 1, "method": "GET", "path": "/", "attrs": {"a": {}}}"#,
            "attribute `a`",
        ),
        (
            r#"{"at": 1, "method": "GET", "path": "/", "atrs": {"a": "b"}}"#,
            "unknown field `atrs`",
        ),
        (r#"{"": 1}"#, "unknown field ``"),
    ] {
        match replay::parse_line(line, 1) {
            Ok(l) => assert!(want == "line 1", "{line:.60}: parsed as {l:?}"),
            Err(e) => {
                assert!(e.starts_with("line 1: "), "{e}");
                assert!(e.contains(want) || want == "line 1", "{line:.60}: {e}");
            }
        }
    }
    let long = format!(
        "{{\"at\": 1, \"method\": \"GET\", \"path\": \"/{}\"}}",
        "a".repeat(replay::MAX_LINE)
    );
    assert!(replay::parse_line(&long, 7)
        .unwrap_err()
        .contains("longer than"));
}

#[test]
fn replay_run_on_bad_traces() {
    let p = Policy::from_str("api.rl", POLICY).unwrap();
    let mut input = Vec::new();
    input.extend_from_slice(b"{\"at\": 1700000000, \"method\": \"GET\", \"path\": \"/x\"}\r\n");
    input.extend_from_slice(b"\xff\xfe not utf-8\n");
    input.extend_from_slice(b"\n   \n\r\n");
    input.extend_from_slice(b"{\"at\": 1600000000, \"method\": \"GET\", \"path\": \"/x\"}\n"); // back in time
    input.extend_from_slice(&vec![b'x'; 3 * replay::MAX_LINE]); // one huge line
    input.extend_from_slice(b"\n\0\0\0\n");
    input.extend_from_slice(b"{\"at\": 1700000001, \"method\": \"GET\", \"path\": \"/x\"}"); // no final newline
    let l = Limiter::with_clock(p, ManualClock::new(0));
    let mut out = Vec::new();
    let s = replay::run(&l, input.as_slice(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text:.2000}");
    assert_eq!((s.allowed, s.errors), (2, 4), "{text:.2000}");
    assert!(lines[1].contains("line 2: not UTF-8"));
    assert!(
        lines[2].contains("line 6: `at` goes back in time"),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].contains("line 7: longer than"),
        "{:.200}",
        lines[3]
    );
    assert!(lines[4].contains("line 8: not JSON"), "{}", lines[4]);
}

#[test]
fn algorithm_and_calendar_functions_at_their_edges() {
    for t in [0, 1, u64::MAX] {
        for tau in [0, 1, u64::MAX] {
            for (tat, now) in [(0, 0), (u64::MAX, 0), (0, u64::MAX), (u64::MAX, u64::MAX)] {
                for cost in [0, 1, u64::MAX] {
                    let _ = algo::bucket(tat, now, cost, t, tau, 5);
                    let _ = algo::bucket(tat, now, cost, t, tau, 0);
                }
            }
        }
    }
    for v in [0, 1, u64::MAX] {
        for (k, end) in [(0, 0), (u64::MAX, u64::MAX), (5, 0)] {
            for cost in [0, 1, u64::MAX] {
                for (limit, stride) in [(0, 0), (5, 5), (u64::MAX, u64::MAX), (5, 0)] {
                    let _ = algo::fixed(v, u64::MAX, cost, k, end, 0, limit, stride);
                }
            }
        }
    }
    let ring = [u64::MAX; 8];
    for g in [0, 1, u64::MAX] {
        for head in [0, u64::MAX, algo::pack(u64::MAX, u64::MAX)] {
            for now in [0, u64::MAX] {
                for cost in [0, 1, u64::MAX] {
                    let _ = algo::sliding(head, &ring, now, cost, g, 5);
                    let _ = algo::sliding(head, &[], now, cost, g, 0);
                }
            }
        }
    }
    for ns in [0, 1, u64::MAX] {
        for months in [0, 1, 12_000, u32::MAX] {
            let (k, end) = calendar::month_window(ns, months);
            assert!(end >= ns.min(end), "{k}");
        }
        let _ = calendar::month_index(ns);
        let _ = calendar::month_start(ns);
    }
    assert_eq!(calendar::month_start(u64::MAX), u64::MAX);
}

#[test]
fn sources_and_spans_out_of_range() {
    let s = Source::new("s.rl", "é\nab");
    for offset in [0, 1, 2, 3, 4, 5, 100, usize::MAX] {
        let (line, col) = s.line_col(offset);
        assert!(
            (1..=2).contains(&line) && col >= 1,
            "{offset}: {line}:{col}"
        );
    }
    let d = rlc::Diagnostic::error(
        "rl::syntax",
        rlc::Span::new(usize::MAX - 1, usize::MAX),
        "x",
    )
    .with_related(rlc::Span::new(3, 1), "backwards");
    let _ = rlc::diag::render(&d, &s, 80);
    let _ = rlc::diag::to_json(&d, &s);
    assert_eq!(rlc::ir::MethodSet::bit(""), None);
}

// ------------------------------------------------------------------- CLI

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rlc-api-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn rlc(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rlc"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn cli_commands_on_bad_files() {
    let dir = tmp("cli");
    let good = write(&dir, "good.rl", POLICY.as_bytes());
    let invalid = write(&dir, "invalid.rl", b"GET /x: 0/1s\n");
    let latin1 = write(&dir, "latin1.rl", b"input caf\xe9\n");
    let missing = dir.join("missing.rl");
    let unreadable = write(&dir, "unreadable.rl", POLICY.as_bytes());
    let trace = write(&dir, "t.jsonl", b"{\"at\": 1700000000, \"method\": \"GET\", \"path\": \"/x\", \"attrs\": {\"key\": \"k\"}}\n");
    let bad_trace = write(
        &dir,
        "bad.jsonl",
        b"{\"at\": 1700000000, \"method\": \"GET\", \"path\": \"/x\"}\n\xff\nnot json\n",
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&unreadable, std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let d = s(&dir);
    let mut cases: Vec<(Vec<String>, i32, &str)> = Vec::new();
    for cmd in ["check", "compile", "explain"] {
        cases.push((vec![cmd.into(), s(&missing)], 2, "cannot read"));
        cases.push((vec![cmd.into(), d.clone()], 2, "directory"));
        cases.push((vec![cmd.into(), s(&latin1)], 2, "not UTF-8"));
        cases.push((vec![cmd.into(), "/dev/zero".into()], 2, "larger than"));
        cases.push((vec![cmd.into(), s(&invalid)], 1, "rl::zero_limit"));
        cases.push((vec![cmd.into()], 2, "Usage"));
        cases.push((
            vec![cmd.into(), s(&good), "--bogus".into()],
            2,
            "unexpected argument",
        ));
    }
    cases.push((
        vec!["check".into(), s(&good), s(&missing)],
        2,
        "cannot read",
    ));
    cases.push((
        vec!["replay".into(), s(&missing), s(&trace)],
        2,
        "cannot read",
    ));
    cases.push((
        vec!["replay".into(), s(&invalid), s(&trace)],
        1,
        "rl::zero_limit",
    ));
    cases.push((
        vec!["replay".into(), s(&good), s(&missing)],
        2,
        "cannot read",
    ));
    cases.push((vec!["replay".into(), s(&good), d.clone()], 2, "directory"));
    cases.push((vec!["replay".into(), s(&good), s(&bad_trace)], 1, ""));
    cases.push((vec!["replay".into(), s(&good)], 2, "Usage"));
    cases.push((
        vec!["explain".into(), s(&good), "--request".into(), "".into()],
        2,
        "--request",
    ));
    cases.push((
        vec![
            "explain".into(),
            s(&good),
            "--request".into(),
            "GET x".into(),
        ],
        2,
        "--request",
    ));
    for at in ["NaN", "inf", "-1", "1e300", "x"] {
        cases.push((
            vec![
                "explain".into(),
                s(&good),
                "--request".into(),
                "GET /x".into(),
                format!("--at={at}"),
            ],
            2,
            "--at",
        ));
    }
    cases.push((vec!["frobnicate".into()], 2, "unrecognized subcommand"));
    cases.push((vec![], 2, "Usage"));
    if is_root() {
        eprintln!(
            "running as root: chmod 000 does not stop reading; the unreadable-file case is skipped"
        );
    } else {
        for cmd in ["check", "compile", "explain"] {
            cases.push((vec![cmd.into(), s(&unreadable)], 2, "Permission denied"));
        }
        cases.push((
            vec!["replay".into(), s(&good), s(&unreadable)],
            2,
            "Permission denied",
        ));
    }
    for (args, want, text) in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = rlc(&a);
        assert_eq!(
            code,
            Some(want),
            "rlc {a:?}\nstdout: {stdout:.500}\nstderr: {stderr:.500}"
        );
        assert!(!stderr.contains("panicked"), "rlc {a:?}: {stderr}");
        assert!(
            stderr.contains(text),
            "rlc {a:?}: want {text:?} in\n{stderr:.800}"
        );
        if want == 2
            && !text.is_empty()
            && text != "Usage"
            && !text.starts_with("unrecognized")
            && !text.starts_with("unexpected")
        {
            // I/O and usage errors: one line each.
            let errors = stderr.lines().filter(|l| l.starts_with("error")).count();
            assert_eq!(errors, 1, "rlc {a:?}: {stderr}");
            // (clap adds a "For more information" line to usage errors.)
            let lines = stderr.lines().filter(|l| !l.trim().is_empty()).count();
            assert!(lines <= 2, "rlc {a:?}: {stderr}");
        }
    }
    // Non-UTF-8 arguments (file names): a clear error, not a panic.
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9.rl");
        let out = Command::new(env!("CARGO_BIN_EXE_rlc"))
            .arg("check")
            .arg(dir.join(name))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A huge cost counted by a named counter stays in its own window: it must
/// not spill into the next day and raise tomorrow's derived limit.
#[test]
fn huge_costs_do_not_spill_into_the_next_counter_window() {
    let text = "input app\ncounter made = POST /users by app per 1d\nGET /report by app: min(made, 1000)/1d fixed\n";
    let day = 86_400 * 1_000_000_000u64;
    let today = (T0 / day) * day;
    for cost in [3, day - 1, day, day + 1, u64::MAX / 2, u64::MAX] {
        let l = Limiter::with_clock(
            Policy::from_str("d.rl", text).unwrap(),
            ManualClock::new(T0),
        );
        let post = Request::new("POST", "/users").attr("app", "a").cost(cost);
        assert!(l.check_at(&post, today + 1).allowed());
        let get = Request::new("GET", "/report").attr("app", "a");
        // Today the counter allows min(cost, 1000) reports.
        let n = (0..2000)
            .filter(|_| l.check_at(&get, today + 2).allowed())
            .count();
        assert_eq!(n as u64, cost.min(1000), "cost {cost}: today");
        // Tomorrow nothing was made yet: no report.
        let d = l.check_at(&get, today + day + 5);
        assert!(
            !d.allowed(),
            "cost {cost}: tomorrow's limit came from today's count"
        );
    }
}

/// `rlc check` and `rlc replay` on endless inputs (`/dev/zero`, one line
/// that never ends): `check` stops at the size limit; `replay` reads on
/// without keeping the line, so its memory stays small. (Both used to read
/// everything into memory until it ran out.)
#[test]
fn cli_on_endless_input_keeps_memory_bounded() {
    let (code, _, stderr) = rlc(&["check", "/dev/zero"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("larger than"), "{stderr}");
    let dir = tmp("endless");
    let good = write(&dir, "good.rl", POLICY.as_bytes());
    let mut child = Command::new(env!("CARGO_BIN_EXE_rlc"))
        .args(["replay", good.to_str().unwrap(), "/dev/zero"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let rss_kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("rlc replay /dev/zero: peak RSS {rss_kib} KiB after 1.5 s");
    assert!(rss_kib < 64 * 1024, "peak RSS {rss_kib} KiB");
}
