#!/usr/bin/env python3
"""Regenerates docs/diagnostics.md from src/diag.rs and tests/ui/ goldens.

Every code in `diag::codes` gets a section with its doc line, the ui input
named after it and that input's expected output. Run after adding a code
and blessing its golden (`BLESS=1 cargo test --test ui golden`)."""
import os
import re

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
src = open(os.path.join(root, "src/diag.rs")).read()
codes = [(m.group(3), m.group(1)) for m in re.finditer(
    r'/// (.*)\n    pub const (\w+): &str = "(rl::\w+)";', src)]
out = ["# Diagnostics", "",
       "Every finding of `rlc check` has a stable code. Errors stop a policy from",
       "compiling; warnings do not (`--deny-warnings` makes them fail CI). Each code",
       "below has a golden test in `tests/ui/` whose file is named after it, and the",
       "example output here is that test's expected output. This page is generated",
       "by `scripts/gen-diagnostics.py`.", "",
       "## JSON output", "",
       "`rlc check --format json FILE...` prints one JSON array with an object per",
       "diagnostic, in the order the human output shows them:", "",
       "```json",
       "{",
       '  "file": "tests/ui/duplicate_name.rl",',
       '  "code": "rl::duplicate_name",',
       '  "severity": "error",',
       '  "message": "response `slow` is declared twice",',
       '  "line": 3,',
       '  "column": 10,',
       '  "span": {"start": 53, "end": 57},',
       '  "label": "declared again here",',
       '  "help": "give each response its own name",',
       '  "related": [',
       '    {"line": 2, "column": 10, "span": {"start": 24, "end": 28}, "label": "first declared here"}',
       "  ]",
       "}",
       "```", "",
       "`severity` is `error` or `warning`. `span` is the byte range of the primary",
       "label in the file (`end` exclusive); `line` and `column` are 1-based and are",
       "where `span` starts, the column counted in characters. `label` is the text",
       "under the span (may be empty) and `help` is `null` when there is none.",
       "`related` holds the secondary labels, such as the first declaration of a",
       "duplicate, each with the same `line`, `column`, `span` and `label` fields; it",
       "is empty when there are none. A file that cannot be read gives an object",
       "with only `file`, `code` (`rl::bad_input`), `severity` and `message`.",
       "The human output's `file:line:col` header counts the same way.", ""]
# Longer text than a code's one-line doc: (description, note after the example).
NOTES = {
    "identical_rules": (
        "Two rules that limit the same requests the same way: the same methods,\n"
        "paths, condition, key, windows, algorithm, burst, `block` penalty and mode\n"
        "(both enforced or both `shadow`). Rules that differ only in `status` or\n"
        "response are identical (they count every request twice over); a rule and a\n"
        "copy with another `block`, or its `shadow` copy on trial, are not.",
        None),
    "bad_body": (
        None,
        "`${rule}`, `${policy}` and `${reason}` (`rate_limited`, `blocked`...) are\n"
        "text and need quotes in a body; the other placeholders are numbers. An\n"
        "unquoted `${reason}` is the same error (`tests/ui/bad_body_reason.rl`)."),
}
for code, desc in codes:
    stem = code.split("::")[1]
    long_desc, note = NOTES.get(stem, (None, None))
    out += [f"## `{code}`", "", long_desc or desc, ""]
    rl = os.path.join(root, f"tests/ui/{stem}.rl")
    if os.path.exists(rl):
        out += ["```rl", open(rl).read().rstrip(), "```", "", "```text",
                open(rl[:-3] + ".stderr").read().rstrip(), "```"]
    else:
        out.append("Reported by the command line when a file cannot be used: missing, "
                   "a directory, not UTF-8, or larger than 64 MiB (`rlc check` exits 2).")
    out.append("")
    if note:
        out += [note, ""]
open(os.path.join(root, "docs/diagnostics.md"), "w").write("\n".join(out))
print(f"{len(codes)} codes")
