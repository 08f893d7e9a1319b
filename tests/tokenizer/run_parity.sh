#!/usr/bin/env bash
# Token-id parity of our tokenizer with @huggingface/tokenizers (npm, an independent JS port of
# HF tokenizers) on corpus.json. Usage: run_parity.sh PATH_TO_tokenize_corpus [TOKENIZER_JSON]
# Tokenizer: the repository's data/gpt-neox-20b-tokenizer.json unless one is given (e.g. the text
# demo model's small BPE, models/text-mamba1/tokenizer.json).
# Prints every mismatch (string, ours, theirs) and "N passed, M failed"; exits non-zero on any
# mismatch, on a corpus of fewer than 300 strings, or if either side fails to run.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
  echo "usage: $0 PATH_TO_tokenize_corpus [TOKENIZER_JSON]" >&2
  exit 2
fi
tokenize_corpus="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tokenizer_json="$script_dir/../../data/gpt-neox-20b-tokenizer.json"
if [[ $# -eq 2 ]]; then
  tokenizer_json="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
fi
cd "$script_dir"
if [[ ! -f "$tokenizer_json" ]]; then
  echo "missing tokenizer: $tokenizer_json" >&2
  exit 1
fi

# CI installs node and npm (scripts/install_deps.sh); a machine without them (the GPU host) skips.
command -v node >/dev/null 2>&1 || { echo "node not installed: skipped"; exit 77; }
if [[ ! -d node_modules ]]; then
  command -v npm >/dev/null 2>&1 || { echo "npm not installed: skipped"; exit 77; }
  npm ci --silent
fi

tmp_dir="$(mktemp -d)"
trap 'rm -rf "$tmp_dir"' EXIT
"$tokenize_corpus" "$tokenizer_json" corpus.json > "$tmp_dir/ours.json"
node reference.mjs "$tokenizer_json" corpus.json > "$tmp_dir/theirs.json"

node --input-type=module - corpus.json "$tmp_dir/ours.json" "$tmp_dir/theirs.json" <<'JS'
import { readFileSync } from "node:fs";
const [corpusPath, oursPath, theirsPath] = process.argv.slice(2);
const load = (p) => JSON.parse(readFileSync(p, "utf8"));
const corpus = load(corpusPath), ours = load(oursPath), theirs = load(theirsPath);
if (ours.length !== corpus.length || theirs.length !== corpus.length) {
  console.log(`length mismatch: corpus ${corpus.length}, ours ${ours.length}, theirs ${theirs.length}`);
  process.exit(1);
}
let passed = 0, failed = 0;
corpus.forEach((text, i) => {
  if (JSON.stringify(ours[i]) === JSON.stringify(theirs[i])) {
    ++passed;
  } else {
    ++failed;
    console.log(`MISMATCH [${i}] ${JSON.stringify(text)}\n  ours:   ${JSON.stringify(ours[i])}\n  theirs: ${JSON.stringify(theirs[i])}`);
  }
});
console.log(`${passed} passed, ${failed} failed`);
if (corpus.length < 300) {
  console.log(`corpus has ${corpus.length} strings; at least 300 are required`);
  process.exit(1);
}
process.exit(failed === 0 ? 0 : 1);
JS
