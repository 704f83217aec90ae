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

/// The diagnostics of a policy that must not compile.
fn rejected(source: &Source) -> rlc::Diagnostics {
    let (table, diags) = compile_source(source);
    assert!(table.is_none(), "the policy compiled: {diags:?}");
    diags
}

/// The structure of a diagnostic, not only its text: code, the exact text
/// underlined, and the help.
#[test]
fn structure_of_an_unknown_method() {
    let text = "input key\nPSOT /tokens by key: 200/10s\n";
    let source = Source::new("t.rl", text);
    let diags = rejected(&source);
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

/// The words of the grammar's `keyword` rule, read from the grammar itself
/// so that a keyword added there is tested here without a second list.
fn grammar_keywords() -> Vec<String> {
    let grammar = std::fs::read_to_string("grammar/rl.pest").unwrap();
    let start = grammar.find("\nkeyword = @{").expect("a `keyword` rule");
    let body = &grammar[start..];
    let body = &body[..body.find("~ !ident_char").unwrap()];
    let words: Vec<String> = body
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    assert!(words.len() >= 30, "{words:?}");
    words
}

/// Every keyword used as a rule name is named as such, with the keyword
/// underlined and a rename suggested; other names get the same treatment.
/// `text`'s first diagnostic is `rl::keyword_as_name` on `kw`, naming
/// `what` it cannot name; its help.
fn keyword_named(text: &str, kw: &str, what: &str) -> Option<String> {
    let (_, diags) = compile_source(&Source::new("t.rl", text));
    let d = diags.iter().next().unwrap();
    assert_eq!(d.code, codes::KEYWORD_AS_NAME, "{text:?}: {}", d.message);
    assert_eq!(&text[d.span.start..d.span.end], kw, "{text:?}");
    assert_eq!(
        d.message,
        format!("`{kw}` is a keyword and cannot name {what}")
    );
    d.help.clone()
}

#[test]
fn every_keyword_as_a_rule_name() {
    for kw in grammar_keywords() {
        for text in [
            format!("input key\n{kw}: ANY /** by key: 10/1s\n"),
            format!("input key\n  {kw} : GET /x: 1/1s\nGET /y: 1/1s\n"),
            format!("input key\nwhen key {{ {kw}: GET /x: 1/1s }}\n"),
        ] {
            let help = keyword_named(&text, &kw, "a rule");
            assert!(
                help.as_deref().unwrap().contains(&format!("`{kw}_rule`")),
                "{help:?}"
            );
        }
    }
    for (text, kw, what) in [
        ("input key, fixed\n", "fixed", "an attribute"),
        (
            "input key\nGET /x by key&bucket: 1/1s\n",
            "bucket",
            "an attribute",
        ),
        (
            "input key\nGET /x by key | min: 1/1s\n",
            "min",
            "an attribute",
        ),
        (
            "input a\nGET /x when not block: 1/1s\n",
            "block",
            "an attribute",
        ),
        ("policy when\n", "when", "the policy"),
        (
            "input k\ncounter per = GET /x by k per 1h\n",
            "per",
            "a counter",
        ),
        ("response status { status 429 }\n", "status", "a response"),
        ("headers on { \"A\" = \"b\" }\n", "on", "a header set"),
        ("default respond shadow\n", "shadow", "a response"),
    ] {
        keyword_named(text, kw, what);
    }
    // A missing name after a keyword is not a keyword used as a name.
    expect_first_code(
        codes::SYNTAX,
        &[
            "input key\nGET /x by key: 1/1s respond",
            "input key\nGET /x by key: 1/1s fixed\n  bogus\n",
            "default respond",
            "input key\nGET /x by",
        ],
    );
}

/// Asserts that each text's first diagnostic has `code`.
fn expect_first_code(code: &str, texts: &[&str]) {
    for text in texts {
        let (found, message) = first_diag(text);
        assert_eq!(found, code, "{text:?}: {message}");
    }
}

/// The code and message of the first diagnostic of a policy text.
fn first_diag(text: &str) -> (&'static str, String) {
    let (_, diags) = compile_source(&Source::new("t.rl", text));
    let d = diags
        .iter()
        .next()
        .unwrap_or_else(|| panic!("{text:?}: no diagnostic"));
    (d.code, d.message.clone())
}

/// A keyword and a `:` name a rule only when methods and a path follow;
/// otherwise the mistake is something else and the generic message stays.
#[test]
fn keyword_before_a_colon_names_a_rule_only_before_a_matcher() {
    expect_first_code(
        codes::SYNTAX,
        &[
            "response slow {\n  status: 429\n}\n",
            "response slow {\n  body: \"x\"\n}\n",
            "policy: foo\n",
            "input: key\n",
            "default: sliding\n",
            "input key\nGET /x by key: 1/1s\n  burst: 5\n",
            "input key\nstatus: 429\n",
            "input key\nfixed: GET\n",
        ],
    );
    // Methods and a path, however spread out, make it a rule's name.
    expect_first_code(
        codes::KEYWORD_AS_NAME,
        &[
            "input key\nstatus: GET|POST /x: 1/1s\n",
            "input key\nbody:\n  GET | POST\n  /x: 1/1s\n",
        ],
    );
}

/// The parser fails at the end of a file that ends in a comment without a
/// final newline; the comment's last word is not a name, keyword or not.
#[test]
fn no_keyword_hint_inside_a_comment() {
    expect_first_code(
        codes::SYNTAX,
        &[
            "input key\ninput tenant,\n# keyed by default",
            "input key\nGET /x by\n# key: 1/1s by default",
            "input key\nGET /x by # by fixed",
            "input key\nbucket # respond",
        ],
    );
}

/// docs/language.md lists every keyword.
#[test]
fn every_keyword_is_documented() {
    let doc = std::fs::read_to_string("docs/language.md").unwrap();
    let section = &doc[doc.find("## Names and keywords").unwrap()..];
    let section = &section[..3 + section[3..].find("\n## ").unwrap()];
    for kw in grammar_keywords() {
        assert!(
            section.contains(&format!("`{kw}`")),
            "docs/language.md does not list `{kw}`"
        );
    }
}

#[test]
fn structure_of_an_option_between_windows() {
    let text = "input key\nr: ANY /** by key: 25/1m fixed, 40/1h sliding\n";
    let source = Source::new("t.rl", text);
    let diags = rejected(&source);
    assert_eq!(diags.len(), 1);
    let d = diags.iter().next().unwrap();
    assert_eq!(d.code, codes::OPTION_BETWEEN_WINDOWS);
    assert_eq!(&text[d.span.start..d.span.end], "fixed");
    assert_eq!(
        d.message,
        "an algorithm applies to the whole rule, not to one window"
    );
    let (span, label) = &d.related[0];
    assert_eq!(
        (&text[span.start..span.end], label.as_str()),
        (",", "another window follows")
    );
    assert_eq!(
        d.help.as_deref(),
        Some(
            "write one rule per window, each with its own options: \
             `25/1m fixed` and `40/1h sliding`"
        )
    );

    // Other options, and windows alike.
    let text = "input key\nGET /x by key: 5/1s bucket burst 3, 50/1m bucket burst 3\n";
    let (_, diags) = compile_source(&Source::new("t.rl", text));
    let d = diags.iter().next().unwrap();
    assert_eq!(d.code, codes::OPTION_BETWEEN_WINDOWS);
    assert_eq!(
        d.help.as_deref(),
        Some("write the algorithm once, after the last window: `5/1s, 50/1m bucket burst 3`")
    );
    // A derived limit holds a comma of its own.
    let text = "input k\ncounter c = ANY /** by k per 1d\n\
                GET /x by k: min(c, 1000)/1d fixed, 100/1m sliding\n";
    let (_, diags) = compile_source(&Source::new("t.rl", text));
    let d = diags.iter().next().unwrap();
    assert_eq!(d.code, codes::OPTION_BETWEEN_WINDOWS);
    assert_eq!(&text[d.span.start..d.span.end], "fixed");
    assert_eq!(
        d.help.as_deref(),
        Some(
            "write one rule per window, each with its own options: \
             `min(c, 1000)/1d fixed` and `100/1m sliding`"
        )
    );
    let text = "input key\nGET /x by key: 5/1s block 1m, 50/1m\n";
    let (_, diags) = compile_source(&Source::new("t.rl", text));
    let d = diags.iter().next().unwrap();
    assert_eq!(d.code, codes::OPTION_BETWEEN_WINDOWS);
    assert_eq!(&text[d.span.start..d.span.end], "block");
    assert_eq!(
        d.message,
        "options apply to the whole rule, not to one window"
    );
}

/// Every form the help of `rl::option_between_windows` offers compiles in
/// place of the rates, and together they keep every window and option
/// written; a form that would not compile (a month window without `fixed`)
/// is not offered.
#[test]
fn option_between_windows_suggestions_compile() {
    let head = "input key\ncounter c = ANY /** by key per 1d\nr: GET /x by key: ";
    for (rates, forms) in [
        ("25/1m fixed, 40/1h sliding", 2),
        ("25/1m sliding, 1000/1mo fixed", 2),
        ("25/1m fixed, 40/1h bucket burst 5", 2),
        ("25/1m bucket burst 5, 40/1h fixed", 2),
        ("5/1s bucket burst 3, 50/1m bucket burst 3", 1),
        ("10/1s sliding, 100/1m", 1),
        ("5/1s block 1m, 50/1m", 1),
        ("min(c, 1000)/1d fixed, 100/1m sliding", 2),
        ("25/1m fixed, 1000/1mo", 1),
        ("25/1m fixed, 1000/1mo fixed", 1),
        // No form compiles: the help says why instead.
        ("25/1m sliding, 1000/1mo sliding", 0),
        ("25/1m sliding, 1000/1mo", 0),
        ("25/1m fixed, 1000/1mo sliding", 0),
        ("5/1s block 1m, 50/1mo", 0),
    ] {
        let text = format!("{head}{rates}\n");
        let (_, diags) = compile_source(&Source::new("t.rl", text.as_str()));
        let d = diags.iter().next().unwrap();
        assert_eq!(
            d.code,
            codes::OPTION_BETWEEN_WINDOWS,
            "{rates}: {}",
            d.message
        );
        let help = d.help.as_deref().unwrap();
        let offered: Vec<&str> = help.split('`').skip(1).step_by(2).collect();
        let offered: Vec<&str> = offered.into_iter().filter(|f| *f != "fixed").collect();
        assert_eq!(offered.len(), forms, "{rates}: {help}");
        for form in &offered {
            let fixed = format!("{head}{form}\n");
            let (table, diags) = compile_source(&Source::new("t.rl", fixed.as_str()));
            assert!(
                table.is_some(),
                "{rates}: `{form}` does not compile: {:?}",
                diags.iter().map(|d| d.code).collect::<Vec<_>>()
            );
        }
        if forms > 0 {
            let mut written: Vec<&str> =
                rates.split([' ', ',']).filter(|w| !w.is_empty()).collect();
            let mut kept: Vec<&str> = offered
                .iter()
                .flat_map(|f| f.split([' ', ',']))
                .filter(|w| !w.is_empty())
                .collect();
            written.sort_unstable();
            written.dedup();
            kept.sort_unstable();
            kept.dedup();
            assert_eq!(kept, written, "{rates}: {help}");
        } else {
            assert!(help.contains("a window in months needs `fixed`"), "{help}");
        }
    }
}

/// A `,` after something that is not a rule's options is left to the
/// generic message.
#[test]
fn option_between_windows_only_after_options() {
    expect_first_code(
        codes::SYNTAX,
        &[
            "input k\nGET /y: 1/1s\ncounter c = GET /x by k per 1m fixed, 5/1s\n",
            "input k\nGET /x by k: 1/1s fixed, bogus\n",
            "input k\nGET /x by k per 1s fixed, 2/1m\n",
        ],
    );
}
