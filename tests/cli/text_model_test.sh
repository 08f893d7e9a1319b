#!/usr/bin/env bash
# The committed text demo model explains English offline through the real CLI, with nothing but
# repository files: `explain --model-dir models/text-mamba1 --text ...` tokenizes with the model's
# own tokenizer.json (the tokens join back to the text), and every LaTIM layer matrix and the
# gradient scores are finite, causal (nothing above the diagonal) and shaped by the token count.
# usage: text_model_test.sh PATH/TO/mamba-explain
set -u
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
model=$here/../../models/text-mamba1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
text='cat, true cat: feline mammal usually having thick soft fur; "the cat sat on the mat"'
if ! "$bin" explain --model-dir "$model" --text "$text" --method latim-l2,grad-x-input \
  --rows all --json "$tmp/out.json" --quiet 2>"$tmp/err"; then
  echo "FAIL explain exited non-zero: $(tail -c 600 "$tmp/err")"
  exit 1
fi
python3 - "$tmp/out.json" "$text" <<'PY'
import json, math, sys
out = json.load(open(sys.argv[1]))
text = sys.argv[2]
fail = []
n = len(out["ids"])
if "".join(out["tokens"]) != text:
    fail.append(f"tokens do not join to the text: {out['tokens']}")
if not 15 <= n <= 40:
    fail.append(f"{n} tokens for {len(text)} characters")
layers = [r for r in out["results"] if r["method"] == "latim-l2"]
if len(layers) != 4:
    fail.append(f"{len(layers)} latim-l2 layers, 4 expected")
for r in layers:
    m = r["matrix"]
    if len(m) != n or any(len(row) != n for row in m):
        fail.append(f"layer {r['layer']}: matrix not {n}x{n}")
        continue
    if not all(math.isfinite(v) and v >= 0 for row in m for v in row):
        fail.append(f"layer {r['layer']}: non-finite or negative norms")
    if any(m[i][j] != 0 for i in range(n) for j in range(i + 1, n)):
        fail.append(f"layer {r['layer']}: a row attributes to a later token")
    if not all(m[i][i] > 0 for i in range(n)):
        fail.append(f"layer {r['layer']}: an empty diagonal")
grads = [r for r in out["results"] if r["method"] == "grad-x-input"]
if len(grads) != 1 or len(grads[0]["scores"]) != n:
    fail.append("grad-x-input: one result with a row per token expected")
elif not all(math.isfinite(v) for row in grads[0]["scores"] for v in row):
    fail.append("grad-x-input: non-finite scores")
for f in fail:
    print("FAIL", f)
if fail:
    sys.exit(1)
print(f"ok   text model explains {n} tokens: latim-l2 x {len(layers)} layers, grad-x-input")
PY
