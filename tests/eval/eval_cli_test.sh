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

# flip: every method (per-layer maps at each layer) and the random control, curves of K+1 points,
# SVG plots that parse as XML.
"$bin" --help | grep -q "mamba-explain-eval flip"
# The copy models' vocabulary (16) has 4 key ids: 5 keys cannot fit.
if "$bin" flip --model-dir "$src/models/copy-mamba1-silu" --task recall --keys 5 > /dev/null \
     2> "$tmp/err"; then
  echo "FAIL: flip --task recall --keys 5 accepted on a 16-token vocabulary"; exit 1
fi
grep -q "key ids" "$tmp/err"
"$bin" flip --model-dir "$src/models/copy-mamba1-silu" --task recall --keys 2 --length 24 \
  --samples 2 --steps 4 --methods grad-x-input,random --json "$tmp/recall.json" > /dev/null \
  2> /dev/null
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["options"]["task"]=="recall" and [m["name"] for m in j["methods"]]==["grad-x-input","random"], j["methods"]' "$tmp/recall.json"
"$bin" flip --model-dir "$src/models/copy-mamba1-silu" --samples 2 --steps 4 --ig-steps 2 \
  --sg-samples 2 --json "$tmp/flip.json" --markdown "$tmp/flip.md" --plot-dir "$tmp/svg" \
  > "$tmp/flip_stdout.md" 2> "$tmp/flip_progress"
cmp "$tmp/flip_stdout.md" "$tmp/flip.md"
python3 - "$tmp/flip.json" "$tmp/svg" <<'PY'
import json, os, sys, xml.etree.ElementTree as ET
j = json.load(open(sys.argv[1]))
names = [m["name"] for m in j["methods"]]
want = ["latim-l1@0", "latim-l1@1", "latim-l2@0", "latim-l2@1", "latim-alti@0", "latim-alti@1",
        "latim-alti-logit", "grad-x-input", "integrated-gradients", "smoothgrad", "mamba-lrp",
        "mamba-attention@0", "mamba-attention@1", "rollout", "mamba-attribution", "random"]
if names != want: sys.exit(f"FAIL: flip methods {names}")
for m in j["methods"]:
    if not isinstance(m["delta_af"], float): sys.exit(f"FAIL: {m['name']} delta_af")
    for kind in ("logit", "logit_raw", "prob"):
        for order in ("morf", "lerf"):
            if len(m["curves"][kind][order]) != 5: sys.exit(f"FAIL: {m['name']} {kind} {order}")
svgs = sorted(os.listdir(sys.argv[2]))
if svgs != ["copy-mamba1-silu_flip_lerf.svg", "copy-mamba1-silu_flip_morf.svg"]:
    sys.exit(f"FAIL: svgs {svgs}")
for f in svgs:
    root = ET.parse(os.path.join(sys.argv[2], f)).getroot()
    if len(root.findall("{http://www.w3.org/2000/svg}polyline")) != len(want):
        sys.exit(f"FAIL: {f} polylines")
PY
# recall: per key count, accuracy split by gold-first and per-method retrieval metrics.
"$bin" --help | grep -q "mamba-explain-eval recall"
if "$bin" recall --model-dir "$src/models/copy-mamba1-silu" --length 12 --keys 5 > /dev/null \
     2> "$tmp/err"; then
  echo "FAIL: recall --keys 5 accepted on a 16-token vocabulary"; exit 1
fi
grep -q "key ids" "$tmp/err"
"$bin" recall --model-dir "$src/models/copy-mamba2-silu" --length 12 --keys 1,2,4 --samples 3 \
  --methods latim-l2,latim-alti-logit,mamba-lrp --json "$tmp/recall_eval.json" \
  --markdown "$tmp/recall_eval.md" > "$tmp/recall_stdout.md" 2> /dev/null
cmp "$tmp/recall_stdout.md" "$tmp/recall_eval.md"
python3 - "$tmp/recall_eval.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["task"] == "recall" and [k["keys"] for k in j["by_keys"]] == [1, 2, 4], j["by_keys"]
for k in j["by_keys"]:
    assert k["gold_first"]["samples"] + k["not_first"]["samples"] == 3
    assert [m["method"] for m in k["methods"]] == ["latim-l2", "latim-alti-logit", "mamba-lrp"]
    for m in k["methods"]:
        for key in ("auc", "ap", "r_at_k", "pair_ap", "first_share", "first_over_gold"):
            assert key in m["best"], (m["method"], key)
PY
# decomposition: per layer and binned, every f.
"$bin" decomposition --model-dir "$src/models/copy-mamba1-identity" --length 16 --samples 2 \
  --bins 2 --json "$tmp/decomp.json" > /dev/null 2> /dev/null
python3 - "$tmp/decomp.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["bins"] == [[0, 0], [1, 1]], j["bins"]
assert sorted(j["per_layer"]) == ["identity", "relu", "silu"]
assert all(v < 1e-5 for v in j["binned"]["identity"]), j["binned"]
PY
echo "eval_cli_test: OK"
