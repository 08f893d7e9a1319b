#!/usr/bin/env bash
# The researcher's papercuts (issue 14), through the real binaries: per-command --help, --json -
# on stdout, output paths checked before any work, forward's small default output, long prompts
# from --ids-file / --text-file / stdin, "1 result", approx_error null where a method defines
# none, the IG completeness warning, progress, a clear tokenizer/model vocabulary mismatch, and
# bad requests (flags that do not parse, and layers, rows, targets and parameters the model's
# shape refuses) rejected with the same stderr offline and remote. With MAMBA_EXPLAIND, the remote half runs against a real server
# on 127.0.0.1 serving the same fixture.
# usage: cli_ux_test.sh MAMBA_EXPLAIN [MAMBA_EXPLAIND]
set -u
client_bin=$1
server_bin=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
root=$here/../..
fx=$root/tests/fixtures/mamba1_bias_tied
tok=$root/data/gpt-neox-20b-tokenizer.json
source "$root/tests/e2e/lib.sh"
bin=$client_bin
O=(--model-dir "$fx")

# expect_error NAME SUBSTRING ARGS...: non-zero exit and SUBSTRING on stderr.
expect_error() { expect_code "$@"; }
# json_check NAME FILE PYTHON: the Python snippet (d = the parsed JSON) must pass.
json_check() {
  if python3 -c "import json,sys; d=json.load(open(sys.argv[1])); $3" "$2" 2>"$tmp/py.err"; then ok "$1"
  else bad "$1: $(head -c 300 "$tmp/py.err") $(head -c 200 "$2")"; fi
}

# --- help -----------------------------------------------------------------------------------
for c in explain forward tokenize; do
  if "$bin" $c --help >"$tmp/h" 2>&1 && grep -q "usage: mamba-explain $c" "$tmp/h"; then ok "$c --help exits 0"
  else bad "$c --help: $(head -c 200 "$tmp/h")"; fi
done
if "$bin" explain --help | grep -q -- "--ids-file"; then ok "explain --help lists --ids-file"
else bad "explain --help lists --ids-file"; fi

# --- forward: the last position's top-k by default, logits only when asked -------------------
"$bin" forward "${O[@]}" --ids 1,5,7 >"$tmp/f.json" 2>"$tmp/err"
json_check "forward default: top-5 of the last position, no logits" "$tmp/f.json" \
  'assert "logits" not in d and d["position"] == 2 and len(d["top_k"]) == 5, d; assert d["top_k"][0]["logit"] >= d["top_k"][4]["logit"]'
"$bin" forward "${O[@]}" --ids 1,5,7 --top-k 2 --logits last >"$tmp/f2.json" 2>"$tmp/err"
json_check "forward --top-k 2 --logits last" "$tmp/f2.json" \
  'assert len(d["top_k"]) == 2 and len(d["logits"]) == 1 and len(d["logits"][0]) == 96, d.keys(); assert max(d["logits"][0]) == d["top_k"][0]["logit"]'
expect_error "forward bad --logits" "bad --logits 'some'" forward "${O[@]}" --ids 1 --logits some

# --- --json - and output paths checked first --------------------------------------------------
"$bin" explain "${O[@]}" --ids 1,5,7 --json - >"$tmp/s.json" 2>"$tmp/err"
json_check "explain --json - writes JSON to stdout" "$tmp/s.json" 'assert len(d["results"]) == 3'
[ -e ./- ] && bad "--json - created a file named '-'" || ok "--json - creates no file"
if grep -q "wrote 3 results to stdout" "$tmp/err"; then ok "wrote 3 results"; else bad "wrote 3 results: $(cat "$tmp/err")"; fi
"$bin" explain "${O[@]}" --ids 1,5,7 --layers 1 --json "$tmp/one.json" 2>"$tmp/err"
if grep -q "wrote 1 result to" "$tmp/err"; then ok "'1 result' grammar"; else bad "1 result: $(cat "$tmp/err")"; fi
# The model directory does not exist either: the output path must be reported first, i.e. before
# the model loads and anything is computed.
expect_error "unwritable --json is reported before any work" "cannot write --json '$tmp/none/x.json'" \
  explain --model-dir "$tmp/no-model" --ids 1,2 --json "$tmp/none/x.json"
expect_error "--json naming a directory" "is a directory" explain "${O[@]}" --ids 1,2 --json "$tmp"
expect_error "forward unwritable --json" "cannot write --json" forward --model-dir "$tmp/no-model" --ids 1 --json /proc/x/y

# --- prompts from files and stdin -----------------------------------------------------------
printf '1 5\n7,9\t11\n' >"$tmp/ids.txt"
"$bin" explain "${O[@]}" --ids 1,5,7,9,11 --json "$tmp/a.json" 2>/dev/null
"$bin" explain "${O[@]}" --ids-file "$tmp/ids.txt" --json "$tmp/b.json" 2>/dev/null
printf '1,5,7,9,11' | "$bin" explain "${O[@]}" --ids-file - --json "$tmp/c.json" 2>/dev/null
if cmp -s "$tmp/a.json" "$tmp/b.json" && cmp -s "$tmp/a.json" "$tmp/c.json"; then ok "--ids-file FILE and - equal --ids"
else bad "--ids-file"; fi
# Beyond what one argument can carry (128 KiB): 70 000 ids.
python3 -c 'print(",".join(["1"] * 70000))' >"$tmp/long.txt"
if "$bin" forward "${O[@]}" --ids-file "$tmp/long.txt" >"$tmp/long.json" 2>"$tmp/err"; then
  json_check "--ids-file with a 140 KB line" "$tmp/long.json" 'assert len(d["ids"]) == 70000 and d["position"] == 69999'
else bad "--ids-file long: $(tail -c 300 "$tmp/err")"; fi
printf 'a,b.c\n' >"$tmp/t.txt"
"$bin" tokenize --tokenizer "$tok" --text "a,b.c" >"$tmp/t1.json"
"$bin" tokenize --tokenizer "$tok" --text-file "$tmp/t.txt" >"$tmp/t2.json"
"$bin" tokenize --tokenizer "$tok" --text-file - <"$tmp/t.txt" >"$tmp/t3.json"
if cmp -s "$tmp/t1.json" "$tmp/t2.json" && cmp -s "$tmp/t1.json" "$tmp/t3.json"; then ok "--text-file FILE and - equal --text"
else bad "--text-file: $(cat "$tmp/t1.json" "$tmp/t2.json" "$tmp/t3.json")"; fi
expect_error "--ids-file bad id" "bad token id 'x' in --ids-file" explain "${O[@]}" --ids-file <(echo "1 x") --json "$tmp/x.json"
expect_error "--ids-file missing" "NOT_FOUND" forward "${O[@]}" --ids-file "$tmp/nope.txt"
expect_error "--ids and --ids-file" "give exactly one of --text, --text-file, --ids and --ids-file" forward "${O[@]}" --ids 1 --ids-file "$tmp/ids.txt"

# --- real text on a model with a smaller vocabulary --------------------------------------------
expect_error "tokenizer/model vocabulary mismatch is named" "the tokenizer and the model have different vocabularies" \
  forward "${O[@]}" --tokenizer "$tok" --text "Hello world"

# --- approx_error, IG warning, progress ---------------------------------------------------------
"$bin" explain "${O[@]}" --ids 1,5,7,9 --method latim-l2,mamba-attention,rollout,mamba-attribution,grad-x-input \
  --layers 2 --json "$tmp/ae.json" 2>/dev/null
json_check "approx_error null exactly where undefined" "$tmp/ae.json" \
  'e = {r["method"]: r["approx_error"] for r in d["results"]}; assert e["mamba-attention"] is None and e["rollout"] is None and e["mamba-attribution"] is None, e; assert isinstance(e["latim-l2"], float) and isinstance(e["grad-x-input"], float), e'
"$bin" explain "${O[@]}" --ids 1,5,7,9,11,13 --method integrated-gradients --ig-steps 1 --json "$tmp/ig.json" 2>"$tmp/ig.err"
gap=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["approx_error"])' "$tmp/ig.json")
if python3 -c "import sys; sys.exit(0 if $gap > 0.05 else 1)"; then
  if grep -q "completeness gap .* --ig-steps 1; .*Try --ig-steps 4" "$tmp/ig.err"; then ok "IG warns at gap $gap"
  else bad "IG gap $gap without warning: $(cat "$tmp/ig.err")"; fi
else bad "IG with 1 step should have a gap > 0.05 on this fixture (got $gap)"; fi
sha=$(sha256sum "$fx/config.json" | cut -d' ' -f1)
json_check "meta records the model, its config hash and the parameters" "$tmp/ig.json" \
  "m = d['meta']; assert m['model']['config_sha256'] == '$sha' and m['model']['name'] == 'mamba1_bias_tied', m; p = m['parameters']; assert p['ig_steps'] == 1 and p['ig_rule'] == 'gauss-legendre' and p['smoothgrad_samples'] == 30 and m['precision'] == 'fp32' and m['methods'] == ['integrated-gradients'] and m['rows'] == list(range(6)) and m['version'], m"
"$bin" explain "${O[@]}" --ids 1,5,7,9 --method grad-x-input --json "$tmp/gx.json" 2>"$tmp/gx.err"
if grep -q "completeness gap" "$tmp/gx.err"; then bad "warning for a method other than IG"; else ok "no IG warning for grad-x-input"; fi
"$bin" explain "${O[@]}" --ids 1,5,7 --method latim-l2,latim-alti-logit --json "$tmp/p.json" --progress 2>"$tmp/p.err"
if grep -q "\[4/4\] latim-alti-logit" "$tmp/p.err" && grep -q "ETA" "$tmp/p.err" && grep -q "4/4 results in" "$tmp/p.err"; then
  ok "--progress: per result, total and ETA"
else bad "--progress: $(cat "$tmp/p.err")"; fi
"$bin" explain "${O[@]}" --ids 1,5 --json "$tmp/q.json" 2>"$tmp/q.err"
if ! grep -q "\[1/" "$tmp/q.err"; then
  ok "no progress when stderr is not a terminal"
else bad "progress without a terminal"; fi

# --- the same bad flags, the same message, offline and remote ----------------------------------
bad_flags=(
  "--ig-steps 0|bad --ig-steps '0' (an integer >= 1)|--method integrated-gradients --ig-steps 0"
  "--sg-samples 0|bad --sg-samples '0' (an integer >= 1)|--method smoothgrad --sg-samples 0"
  "--target with LaTIM only|--target is given but no method asked for explains a target token (latim-l2, latim-alti)|--method latim-l2,latim-alti --target 5"
  "repeated method|methods[1]='latim-l2' is repeated|--method latim-l2,latim-l2"
  "unknown method|unknown method 'nope'|--method latim-l2,nope"
  "unknown ig rule|unknown ig rule 'simpson'|--method integrated-gradients --ig-rule simpson"
  "bad --memory-budget-mib|bad --memory-budget-mib '0'|--memory-budget-mib 0"
  "layer out of range|layers[0]=3 not in [0, 3)|--layers 3"
  "row out of range|target_rows[0]=5 not in [0, 2)|--rows 5"
  "target beyond the vocabulary|target_token=96 not in [0, 96)|--method latim-alti-logit --target 96"
  "per-row targets|target_tokens has 1 entries but there are 2 target rows|--method grad-x-input --target-tokens 4"
  "start layer out of range|parameters.start_layer=3 not in [0, 3)|--method rollout --start-layer 3"
)
for entry in "${bad_flags[@]}"; do
  IFS='|' read -r name want flags <<<"$entry"
  expect_error "offline: $name" "$want" explain "${O[@]}" --ids 1,2 $flags --json "$tmp/x.json"
  cp "$tmp/err" "$tmp/offline_err_${name// /_}"
done
if [ -z "$server_bin" ]; then finish; fi

repo=$tmp/repo
mkdir -p "$repo"
cp -r "$fx" "$repo/m1"
start_server s --model_repository "$repo" --plaintext || finish
S=(--server "127.0.0.1:$s_port" --model m1)
for entry in "${bad_flags[@]}"; do
  IFS='|' read -r name want flags <<<"$entry"
  expect_error "remote: $name" "$want" explain "${S[@]}" --ids 1,2 $flags
  # The whole message, not only the expected part: one validation (client flags, or the explain
  # Validate that the server runs too) gives the same line in both modes.
  if cmp -s "$tmp/err" "$tmp/offline_err_${name// /_}"; then ok "same message offline and remote: $name"
  else bad "offline and remote differ for $name: $(cat "$tmp/offline_err_${name// /_}") vs $(cat "$tmp/err")"; fi
done
expect_error "remote: output path checked before connecting" "cannot write --html" \
  explain --server 127.0.0.1:1 --model m1 --ids 1,2 --json "$tmp/r.json" --html "$tmp/none/r.html"
printf '1 5\n7' >"$tmp/ids3.txt"
"$bin" explain "${S[@]}" --ids-file "$tmp/ids3.txt" --method latim-l2,rollout --json - --progress >"$tmp/r.json" 2>"$tmp/r.err"
json_check "remote --ids-file, --json -, approx_error null for rollout" "$tmp/r.json" \
  'assert d["ids"] == [1, 5, 7]; e = {r["method"]: r["approx_error"] for r in d["results"]}; assert e["rollout"] is None and isinstance(e["latim-l2"], float), e'
if grep -q "\[4/4\]" "$tmp/r.err" && grep -q "4/4 results in" "$tmp/r.err"; then ok "remote --progress with total"
else bad "remote --progress: $(cat "$tmp/r.err")"; fi
# Steps inside the long methods: the server sends Progress only when asked (--progress), each
# method's last (done == total) always, before its result; the bar shows the same step lines as
# offline.
G=(--ids 1,5,7,9,11,13 --method integrated-gradients,mamba-lrp --ig-steps 40)
"$bin" explain "${S[@]}" "${G[@]}" --json "$tmp/rs.json" --progress --stream-log "$tmp/rs.log" \
  2>"$tmp/rs.err"
"$bin" explain "${O[@]}" "${G[@]}" --json "$tmp/os.json" --progress 2>"$tmp/os.err"
if python3 - "$tmp/rs.log" <<'PY' 2>"$tmp/err"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
kinds = [l["kind"] for l in lines]
for method, total in (("integrated-gradients", 6 * 40), ("mamba-lrp", 6)):
    steps = [i for i, l in enumerate(lines) if l["kind"] == "progress" and l["method"] == method]
    assert steps, (method, kinds)
    done = [lines[i]["done"] for i in steps]
    assert done == sorted(done) and done[-1] == total, (method, done)
    assert all(lines[i]["total"] == total for i in steps), method
    result = next(i for i, l in enumerate(lines) if l["kind"] == "token_scores" and l["method"] == method)
    assert steps[-1] < result, (method, steps, result)
PY
then ok "remote Progress messages: steps of each long method up to its total, before its result"
else bad "remote Progress: $(cat "$tmp/err")"; fi
if grep -q "integrated-gradients step 240/240" "$tmp/rs.err" && grep -q "mamba-lrp step 6/6" "$tmp/rs.err" &&
  grep -q "integrated-gradients step 240/240" "$tmp/os.err"; then
  ok "remote --progress shows the steps of the long methods, as offline"
else bad "remote step lines: $(cat "$tmp/rs.err") / offline: $(cat "$tmp/os.err")"; fi
"$bin" explain "${S[@]}" "${G[@]}" --json "$tmp/rn.json" --stream-log "$tmp/rn.log" 2>/dev/null
if [ -s "$tmp/rn.log" ] && ! grep -q '"progress"' "$tmp/rn.log"; then
  ok "no Progress messages unless asked"
else bad "Progress without --progress: $(grep -c progress "$tmp/rn.log")"; fi
"$bin" explain "${S[@]}" --ids 1,5,7,9,11,13 --method integrated-gradients --ig-steps 1 --json "$tmp/rig.json" 2>"$tmp/rig.err"
if grep -q "Try --ig-steps 4" "$tmp/rig.err"; then ok "remote IG warning"; else bad "remote IG warning: $(cat "$tmp/rig.err")"; fi
"$bin" explain "${S[@]}" --ids 1,5,7 --json "$tmp/r1.json" 2>/dev/null
"$bin" explain "${O[@]}" --ids 1,5,7 --json "$tmp/o1.json" 2>/dev/null
if python3 "$root/tests/e2e/compare_explain.py" "$tmp/o1.json" "$tmp/r1.json" >/dev/null 2>&1; then ok "remote --ids == offline"
else bad "remote == offline"; fi
if python3 - "$tmp/o1.json" "$tmp/r1.json" <<'PY'
import json, sys
o, r = (json.load(open(p))["meta"] for p in sys.argv[1:3])
assert o["mode"] == "offline" and r["mode"] == "remote" and r["server"], r
for k in ("parameters", "precision", "activation", "methods", "layers", "rows", "target",
          "memory_budget_mib", "version"):
    assert o[k] == r[k], (k, o[k], r[k])
assert o["model"]["architecture"] == r["model"]["architecture"] == "mamba1"
PY
then ok "remote meta == offline meta (parameters, precision, methods, rows)"
else bad "remote meta"; fi
finish
