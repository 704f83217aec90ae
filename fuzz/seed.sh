#!/usr/bin/env bash
# Seeds the fuzz corpora from the repository: policies and the ui corpus for
# `compile`, the vendor scenario traces (split into lines and whole files)
# for `trace`. `evaluate` starts from nothing (its input is structured).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/compile corpus/trace corpus/evaluate
for f in ../policies/*.rl ../tests/ui/*.rl; do
  cp "$f" "corpus/compile/$(basename "$(dirname "$f")")-$(basename "$f")"
done
n=0
# The scenario files carry the test harness's fields (`repeat`, `step`,
# `expect`, `why`) after the request's own and `//` comment lines, which
# `rlc replay` rejects; the seeds are the files with both removed, as plain
# trace lines (everything from the first harness field on is cut, which
# leaves the request's fields: they come first in every scenario line).
strip() {
  grep -v '^//' "$1" | sed -E 's/, "(repeat|step|expect|why)": .*$/}/'
}
for f in ../tests/vendors/*/*.jsonl; do
  strip "$f" > "corpus/trace/$(basename "$(dirname "$f")")-$(basename "$f")"
  # The first request lines alone too.
  strip "$f" | grep -v '^$' | sed -n '1,5p' | while IFS= read -r line; do
    n=$((n + 1))
    printf '%s\n' "$line" > "corpus/trace/line-$(basename "$f" .jsonl)-$n.jsonl"
  done
done
echo "seeded: $(ls corpus/compile | wc -l) compile, $(ls corpus/trace | wc -l) trace"
