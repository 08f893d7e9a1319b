#!/usr/bin/env bash
# mamba-explain-eval end to end on a committed model (CPU, a few samples): usage, a bad flag, and a
# full run whose JSON must hold every method and whose PNGs Python's zlib must decode.
#   eval_cli_test.sh PATH/TO/mamba-explain-eval
set -euo pipefail
bin=$1
src=${ME_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v python3 > /dev/null || { echo "python3 missing: skip"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$bin" --help | grep -q "mamba-explain-eval copy"
if "$bin" copy --model-dir "$src/models/copy-mamba1-silu" --length 16 --methods latim-l9 \
     > /dev/null 2> "$tmp/err"; then
  echo "FAIL: unknown method accepted"; exit 1
fi
grep -q "latim-l9" "$tmp/err"

"$bin" copy --model-dir "$src/models/copy-mamba1-silu/" --length 16 --samples 2 --ig-steps 2 \
  --sg-samples 2 --json "$tmp/out.json" --markdown "$tmp/out.md" --heatmap-dir "$tmp/png" \
  > "$tmp/stdout.md" 2> "$tmp/progress"
grep -q "| latim-l2 |" "$tmp/stdout.md"
cmp "$tmp/stdout.md" "$tmp/out.md"
python3 "$src/tests/eval/check_eval_outputs.py" "$tmp/out.json" "$tmp/png"
echo "eval_cli_test: OK"
