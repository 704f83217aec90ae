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
for f in ../tests/vendors/*/*.jsonl; do
  cp "$f" "corpus/trace/$(basename "$(dirname "$f")")-$(basename "$f")"
  # Each request line alone too, as written. Note: these files carry the
  # test harness's own fields (repeat, step, expect, why), which replay
  # rejects as unknown fields, so every seed line starts on that error path
  # and the fuzzer mutates from there; seeds of plain trace lines would
  # reach the decisions sooner (not done: stripping nested JSON needs a
  # tool beyond the shell).
  grep -v '^//' "$f" | head -5 | while IFS= read -r line; do
    n=$((n + 1))
    printf '%s\n' "$line" > "corpus/trace/line-$(basename "$f" .jsonl)-$n.jsonl"
  done
done
echo "seeded: $(ls corpus/compile | wc -l) compile, $(ls corpus/trace | wc -l) trace"
