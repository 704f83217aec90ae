//! Golden tests of diagnostics: every `tests/ui/*.rl` is checked and its
//! rendered report (miette, no colour, 100 columns) compared with the
//! `.stderr` file beside it. `BLESS=1 cargo test --test ui` rewrites the
//! expected files; review every change before committing it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlc::diag::codes;
use rlc::{compile_source, Source};
use std::path::Path;

fn render(path: &Path) -> (String, Vec<&'static str>) {
    let text = std::fs::read_to_string(path).unwrap();
    let name = format!("tests/ui/{}", path.file_name().unwrap().to_string_lossy());
    let source = Source::new(name, text);
    let (_, diags) = compile_source(&source);
    let codes = diags.iter().map(|d| d.code).collect();
    (diags.render(&source, 100), codes)
}

#[test]
fn golden_diagnostics() {
    let bless = std::env::var_os("BLESS").is_some();
    let mut failures = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir("tests/ui")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rl"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 25,
        "expected the ui corpus, found {} files",
        files.len()
    );
    for rl in files {
        let (actual, _) = render(&rl);
        let expected_path = rl.with_extension("stderr");
        if bless {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            failures.push(format!(
                "--- {}\n--- expected:\n{expected}\n--- actual:\n{actual}",
                rl.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every code except the CLI's `bad_input` has a ui file named after it that
/// produces that code, and the clean file produces nothing.
#[test]
fn every_code_has_a_triggering_file() {
    for code in codes::ALL {
        if *code == codes::BAD_INPUT {
            continue;
        }
        let stem = code.trim_start_matches("rl::");
        let path = Path::new("tests/ui").join(format!("{stem}.rl"));
        let (_, found) = render(&path);
        assert!(
            found.contains(code),
            "{} does not produce {code}: {found:?}",
            path.display()
        );
    }
    let (out, found) = render(Path::new("tests/ui/clean.rl"));
    assert!(found.is_empty() && out.is_empty(), "clean.rl: {out}");
}

/// All errors of a file are reported in one run, in source order.
#[test]
fn reports_every_error_of_a_file() {
    let (_, found) = render(Path::new("tests/ui/many_errors.rl"));
    for code in [
        codes::UNKNOWN_METHOD,
        codes::UNKNOWN_ATTRIBUTE,
        codes::ZERO_LIMIT,
        codes::BAD_UNIT,
        codes::REST_NOT_LAST,
        codes::MONTH_NOT_FIXED,
        codes::BURST_NOT_BUCKET,
    ] {
        assert!(found.contains(&code), "missing {code} in {found:?}");
    }
    let (_, syntax) = render(Path::new("tests/ui/syntax.rl"));
    assert!(
        syntax.len() >= 2,
        "syntax errors after the first are reported too: {syntax:?}"
    );
}

/// The structure of a diagnostic, not only its text: code, the exact text
/// underlined, and the help.
#[test]
fn structure_of_an_unknown_method() {
    let text = "input key\nPSOT /tokens by key: 200/10s\n";
    let source = Source::new("t.rl", text);
    let (table, diags) = compile_source(&source);
    assert!(table.is_none());
    let d = diags.iter().next().unwrap();
    assert_eq!(d.code, codes::UNKNOWN_METHOD);
    assert_eq!(&text[d.span.start..d.span.end], "PSOT");
    assert_eq!(d.help.as_deref(), Some("did you mean `POST`?"));
    assert_eq!(diags.to_json(&source)[0]["line"], 2);
    assert_eq!(diags.to_json(&source)[0]["column"], 1);
}

#[test]
fn structure_of_an_unknown_attribute() {
    let text = "input key, ip\nPOST /tokens by key&ipp: 200/10s\n";
    let source = Source::new("t.rl", text);
    let (_, diags) = compile_source(&source);
    let d = diags.iter().next().unwrap();
    assert_eq!(d.code, codes::UNKNOWN_ATTRIBUTE);
    assert_eq!(&text[d.span.start..d.span.end], "ipp");
    assert_eq!(d.help.as_deref(), Some("did you mean `ip`?"));
}

#[test]
fn syntax_errors_name_what_was_expected_in_words() {
    let source = Source::new("t.rl", "input key\nPOST /tokens by key 200/10s\n");
    let (_, diags) = compile_source(&source);
    let d = diags.iter().next().unwrap();
    assert_eq!(d.code, codes::SYNTAX);
    assert!(
        !d.message.contains("key_clause") && !d.message.contains("rule_when"),
        "{}",
        d.message
    );
    assert!(d.message.contains("found `200`"), "{}", d.message);
}

/// `docs/diagnostics.md` has a section for every code.
#[test]
fn every_code_is_documented() {
    let doc = std::fs::read_to_string("docs/diagnostics.md").unwrap();
    for code in codes::ALL {
        assert!(
            doc.contains(&format!("## `{code}`")),
            "docs/diagnostics.md lacks {code}"
        );
    }
}
