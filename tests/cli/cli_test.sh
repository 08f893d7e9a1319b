#!/usr/bin/env bash
# End-to-end checks of the offline CLI through the real binary: forward on the committed HF
# fixtures matches HF's logits to 1e-4 (all positions and --last), JSON shapes, every bad input
# exits non-zero with a message naming the problem, and the committed catalogue JSON is current.
# usage: cli_test.sh PATH/TO/mamba-explain [cpu|cuda]
set -u
bin=$1
device=${2:-cpu}
here=$(cd "$(dirname "$0")" && pwd)
fixtures=$here/../fixtures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

# expect_error NAME SUBSTRING ARGS...: the command must exit non-zero and print SUBSTRING.
expect_error() {
  local name=$1 want=$2
  shift 2
  if "$bin" "$@" >"$tmp/out" 2>"$tmp/err"; then
    bad "$name: exited 0"
  elif grep -qF -- "$want" "$tmp/err"; then
    ok "$name"
  else
    bad "$name: stderr lacks '$want': $(head -c 300 "$tmp/err")"
  fi
}

if [ "$device" = cuda ] && "$bin" forward --model-dir "$fixtures/mamba1_bias_tied" --ids 1 --device cuda 2>&1 >/dev/null | grep -q UNAVAILABLE; then
  echo "CUDA not available: skipped"
  exit 77
fi

for fx in mamba1_bias_tied mamba1_nobias_untied mamba2_g1 mamba2_g2_bias mamba1_sharded mamba2_bf16; do
  ids=$(python3 "$here/compare_logits.py" ids "$fixtures/$fx/reference.safetensors" 0)
  if "$bin" forward --model-dir "$fixtures/$fx" --ids "$ids" --device "$device" --logits all >"$tmp/all.json" 2>"$tmp/err" &&
    python3 "$here/compare_logits.py" compare "$fixtures/$fx/reference.safetensors" 0 "$tmp/all.json" all; then
    ok "forward $fx all positions ($device)"
  else
    bad "forward $fx all positions ($device): $(tail -c 400 "$tmp/err")"
  fi
  if "$bin" forward --model-dir "$fixtures/$fx" --ids "$ids" --device "$device" --last >"$tmp/last.json" 2>"$tmp/err" &&
    python3 "$here/compare_logits.py" compare "$fixtures/$fx/reference.safetensors" 0 "$tmp/last.json" last &&
    grep -q "top-5 next tokens" "$tmp/err"; then
    ok "forward $fx --last ($device)"
  else
    bad "forward $fx --last ($device): $(tail -c 400 "$tmp/err")"
  fi
done

fx=$fixtures/mamba1_bias_tied
expect_error "no command args" "--model-dir is required" forward --ids 1,2
expect_error "unknown flag" "unknown flag --modle-dir" forward --modle-dir "$fx" --ids 1
expect_error "text and ids" "give exactly one of --text, --text-file, --ids and --ids-file" forward --model-dir "$fx" --ids 1 --text hi
expect_error "bad id" "bad token id 'x'" forward --model-dir "$fx" --ids 1,x
expect_error "id beyond vocab" "token id 96" forward --model-dir "$fx" --ids 1,96
expect_error "text without tokenizer" "no tokenizer.json" forward --model-dir "$fx" --text hello
expect_error "missing dir" "NOT_FOUND" forward --model-dir "$tmp/nope" --ids 1
expect_error "bad dtype" "unknown precision 'fp8'" forward --model-dir "$fx" --ids 1 --dtype fp8
expect_error "bad device" "unknown device 'gpu0'" forward --model-dir "$fx" --ids 1 --device gpu0
expect_error "missing value" "--ids needs a value" forward --model-dir "$fx" --ids
expect_error "tokenize without text" "give exactly one of --text and --text-file" tokenize --model-dir "$fx"
expect_error "tokenize missing tokenizer" "tokenizer.json" tokenize --model-dir "$fx" --text hi
mkdir -p "$tmp/broken" && cp "$fx/config.json" "$tmp/broken/" && head -c 100 "$fx/model.safetensors" >"$tmp/broken/model.safetensors"
expect_error "truncated checkpoint" "model.safetensors" forward --model-dir "$tmp/broken" --ids 1
if "$bin" unknown-cmd >/dev/null 2>&1; then bad "unknown command exits 0"; else ok "unknown command"; fi

# explain (LaTIM): JSON shape, row and layer selection, every score, and bad input.
for efx in mamba1_bias_tied mamba2_g2_bias; do
  if "$bin" explain --model-dir "$fixtures/$efx" --ids 1,5,7,9,11,13 --device "$device" \
      --method latim-l2,latim-l1,latim-alti,latim-alti-logit --json "$tmp/ex.json" 2>"$tmp/err" &&
    python3 - "$tmp/ex.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ids"] == [1, 5, 7, 9, 11, 13] and d["tokens"] == ["<1>", "<5>", "<7>", "<9>", "<11>", "<13>"], d
res = d["results"]
assert len(res) == 3 * 3 + 1, len(res)
for r in res:
    assert set(r) == {"method", "layer", "rows", "matrix", "approx_error"}, r.keys()
    assert r["rows"] == list(range(6)) and len(r["matrix"]) == 6 and all(len(x) == 6 for x in r["matrix"])
    assert all(r["matrix"][t][s] == 0 for t in range(6) for s in range(t + 1, 6)), r["method"]
    assert 0 <= r["approx_error"] < 10
    if r["method"] == "latim-alti":
        assert all(abs(sum(row) - 1) < 1e-5 for row in r["matrix"])
assert sorted({(r["method"], r["layer"]) for r in res if r["layer"] == -1}) == [("latim-alti-logit", -1)]
assert sorted({r["layer"] for r in res}) == [-1, 0, 1, 2]
PY
  then
    ok "explain $efx json shape, all scores ($device)"
  else
    bad "explain $efx json shape ($device): $(tail -c 400 "$tmp/err")"
  fi
done
if "$bin" explain --model-dir "$fx" --ids 1,5,7,9,11 --device "$device" --rows last --layers 0,2 \
    --json "$tmp/last.json" 2>"$tmp/err" &&
  "$bin" explain --model-dir "$fx" --ids 1,5,7,9,11 --device "$device" --json "$tmp/full.json" 2>>"$tmp/err" &&
  python3 - "$tmp/last.json" "$tmp/full.json" <<'PY'
import json, sys
last, full = (json.load(open(p))["results"] for p in sys.argv[1:3])
assert [(r["method"], r["layer"]) for r in last] == [("latim-l2", 0), ("latim-l2", 2)], last
full = {r["layer"]: r for r in full}
assert sorted(full) == [0, 1, 2]
for r in last:
    assert r["rows"] == [4] and len(r["matrix"]) == 1 and len(r["matrix"][0]) == 5
    want = full[r["layer"]]["matrix"][4]
    assert all(abs(a - b) <= 1e-5 + 1e-4 * abs(b) for a, b in zip(r["matrix"][0], want)), (r, want)
PY
then
  ok "explain --rows last --layers 0,2 equals the full rows ($device)"
else
  bad "explain --rows last --layers ($device): $(tail -c 400 "$tmp/err")"
fi
if "$bin" explain --model-dir "$fx" --ids 1,5,7,9,11 --layers 1-2 --rows 0,3 --json "$tmp/sel.json" 2>"$tmp/err" &&
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; assert [(x["layer"], x["rows"]) for x in r]==[(1,[0,3]),(2,[0,3])], r' "$tmp/sel.json"; then
  ok "explain --layers 1-2 --rows 0,3"
else
  bad "explain --layers 1-2 --rows 0,3: $(tail -c 400 "$tmp/err")"
fi
# explain (baselines): per-target JSON shape (scores, explained_logit), rows=last equals the full
# rows, hidden-attention shapes, and bad flags.
for efx in mamba1_bias_tied mamba2_g1; do
  if "$bin" explain --model-dir "$fixtures/$efx" --ids 1,5,7,9,11,13 --device "$device" \
      --method grad-x-input,integrated-gradients,smoothgrad,mamba-lrp,mamba-attention,rollout,mamba-attribution \
      --ig-steps 4 --sg-samples 2 --sg-sigma 0.1 --seed 3 --lrp-rules all --attention-norm minmax \
      --start-layer 1 --json "$tmp/bl.json" 2>"$tmp/err" &&
    "$bin" explain --model-dir "$fixtures/$efx" --ids 1,5,7,9,11,13 --device "$device" \
      --method grad-x-input,integrated-gradients,smoothgrad,mamba-lrp,mamba-attention,rollout,mamba-attribution \
      --ig-steps 4 --sg-samples 2 --sg-sigma 0.1 --seed 3 --start-layer 1 --rows last \
      --json "$tmp/bl_last.json" 2>>"$tmp/err" &&
    python3 - "$tmp/bl.json" "$tmp/bl_last.json" <<'PY'
import json, sys
full, last = (json.load(open(p))["results"] for p in sys.argv[1:3])
per_target = {"grad-x-input", "integrated-gradients", "smoothgrad", "mamba-lrp", "mamba-attribution"}
assert sorted(r["method"] for r in full) == sorted(
    ["mamba-attention"] * 3 + list(per_target) + ["rollout"]), [r["method"] for r in full]
for r in full:
    if r["method"] in per_target:
        assert set(r) == {"method", "layer", "rows", "scores", "explained_logit", "targets",
                          "approx_error"}, r.keys()
        assert r["layer"] == -1 and len(r["explained_logit"]) == 6 and len(r["targets"]) == 6
        m = r["scores"]
    else:
        assert set(r) == {"method", "layer", "rows", "matrix", "approx_error"}, r.keys()
        m = r["matrix"]
    assert r["rows"] == list(range(6)) and len(m) == 6 and all(len(x) == 6 for x in m), r["method"]
    assert all(m[t][s] == 0 for t in range(6) for s in range(t + 1, 6)), r["method"]
    if r["method"] in ("rollout", "mamba-attribution"):
        assert all(abs(sum(row) - 1) < 1e-5 and min(row) >= 0 for row in m), r["method"]
    if r["method"] == "mamba-lrp":
        assert all(abs(sum(m[t]) - r["explained_logit"][t]) < 0.5 * abs(r["explained_logit"][t]) + 1
                   for t in range(6))
key = lambda r: (r["method"], r["layer"])
full = {key(r): r for r in full}
for r in last:
    f = full[key(r)]
    want = (f.get("scores") or f.get("matrix"))[5]
    got = (r.get("scores") or r.get("matrix"))
    assert r["rows"] == [5] and len(got) == 1, r
    assert all(abs(a - b) <= 1e-5 + 1e-4 * abs(b) for a, b in zip(got[0], want)), (r["method"], got, want)
    if "explained_logit" in r:
        assert abs(r["explained_logit"][0] - f["explained_logit"][5]) < 1e-5
PY
  then
    ok "explain $efx baselines json shape, --rows last ($device)"
  else
    bad "explain $efx baselines ($device): $(tail -c 400 "$tmp/err")"
  fi
done
if "$bin" explain --model-dir "$fx" --ids 1,5,7 --method grad-x-input --target 4 --json "$tmp/t4.json" 2>"$tmp/err" &&
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; assert r["targets"]==[4,4,4], r' "$tmp/t4.json"; then
  ok "explain grad-x-input --target 4"
else
  bad "explain grad-x-input --target 4: $(tail -c 400 "$tmp/err")"
fi
expect_error "explain bad lrp rule" "unknown lrp rule 'no-conv'" explain --model-dir "$fx" --ids 1,2 --method mamba-lrp --lrp-rules no-conv --json "$tmp/x.json"
expect_error "explain bad ig rule" "unknown ig rule 'simpson'" explain --model-dir "$fx" --ids 1,2 --method integrated-gradients --ig-rule simpson --json "$tmp/x.json"
expect_error "explain bad ig steps" "bad --ig-steps '0' (an integer >= 1)" explain --model-dir "$fx" --ids 1,2 --method integrated-gradients --ig-steps 0 --json "$tmp/x.json"
expect_error "explain bad sg sigma" "bad sg sigma 'x'" explain --model-dir "$fx" --ids 1,2 --method smoothgrad --sg-sigma x --json "$tmp/x.json"
expect_error "explain bad attention norm" "unknown attention norm 'softmax'" explain --model-dir "$fx" --ids 1,2 --method mamba-attention --attention-norm softmax --json "$tmp/x.json"
expect_error "explain bad start layer" "parameters.start_layer=3 not in [0, 3)" explain --model-dir "$fx" --ids 1,2 --method rollout --start-layer 3 --json "$tmp/x.json"
expect_error "explain unknown baseline flag" "unknown flag --ig-step" explain --model-dir "$fx" --ids 1,2 --method integrated-gradients --ig-step 3 --json "$tmp/x.json"
expect_error "explain bad target" "target_token=96 not in [0, 96)" explain --model-dir "$fx" --ids 1,2 --method mamba-lrp --target 96 --json "$tmp/x.json"
expect_error "explain bad method" "unknown method 'latim-l3'" explain --model-dir "$fx" --ids 1,2 --method latim-l3 --json "$tmp/x.json"
expect_error "explain bad layer" "layers[0]=3 not in [0, 3)" explain --model-dir "$fx" --ids 1,2 --layers 3 --json "$tmp/x.json"
expect_error "explain bad layer text" "bad layer 'a'" explain --model-dir "$fx" --ids 1,2 --layers a --json "$tmp/x.json"
expect_error "explain row out of range" "target_rows[0]=2 not in [0, 2)" explain --model-dir "$fx" --ids 1,2 --rows 2 --json "$tmp/x.json"
expect_error "explain bad rows" "bad row 'first'" explain --model-dir "$fx" --ids 1,2 --rows first --json "$tmp/x.json"
expect_error "explain bad activation" "unknown activation 'gelu'" explain --model-dir "$fx" --ids 1,2 --activation gelu --json "$tmp/x.json"
expect_error "explain fp32 compute on bf16 weights" "precision=fp32 but the model's weights are bf16" explain --model-dir "$fx" --ids 1,2 --dtype bf16 --precision fp32 --json "$tmp/x.json"
expect_error "explain bad precision" "unknown precision 'fp16'" explain --model-dir "$fx" --ids 1,2 --precision fp16 --json "$tmp/x.json"

tok=$here/../../data/gpt-neox-20b-tokenizer.json
if [ -f "$tok" ]; then
  if "$bin" tokenize --tokenizer "$tok" --text "Hello my name is" >"$tmp/tok.json" &&
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ids"]==[12092,619,1416,310], d; assert d["tokens"]==["Hello"," my"," name"," is"], d' "$tmp/tok.json"; then
    ok "tokenize json"
  else
    bad "tokenize json: $(cat "$tmp/tok.json")"
  fi
  if "$bin" tokenize --tokenizer "$tok" --text "a,b.c" >"$tmp/ab.json" &&
    "$bin" forward --model-dir "$fx" --tokenizer "$tok" --text "a,b.c" --last >"$tmp/t.json" 2>/dev/null &&
    python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); assert a["ids"]==b["ids"] and len(b["logits"])==1, (a,b)' "$tmp/ab.json" "$tmp/t.json"; then
    ok "forward --text with --tokenizer"
  else
    bad "forward --text with --tokenizer"
  fi
else
  bad "repository tokenizer not found at $tok"
fi

# The method catalogue as data: proto/mamba_explain/v1/methods.json (what the Python client ships)
# is exactly what `methods --json` prints from src/attribution/methods.h, so a method added to the
# catalogue fails here until the file is regenerated:
#   build/mamba-explain methods --json proto/mamba_explain/v1/methods.json
if "$bin" methods --json - >"$tmp/methods.json" 2>"$tmp/err" &&
  cmp -s "$tmp/methods.json" "$here/../../proto/mamba_explain/v1/methods.json"; then
  ok "methods --json == proto/mamba_explain/v1/methods.json"
else
  bad "methods --json differs from proto/mamba_explain/v1/methods.json (regenerate it): $(diff "$tmp/methods.json" "$here/../../proto/mamba_explain/v1/methods.json" | head -c 600) $(cat "$tmp/err")"
fi
if "$bin" methods | grep -q "^  latim-l2 "; then ok "methods lists the catalogue"; else bad "methods text"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
