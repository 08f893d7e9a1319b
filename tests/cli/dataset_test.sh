#!/usr/bin/env bash
# explain beyond one prompt and one JSON document (issue 14 items 5 and 6), through the real
# binaries: --input FILE.jsonl (per-line prompts and overrides, JSONL or one file per prompt,
# resumed after an interrupted run, progress, errors before any work), --format
# safetensors|npz (arrays equal to the JSON), --target / --target-tokens as token strings,
# --generate N (greedy, each generated token explained at the row that predicted it) and
# --contrast-target (logit(a) − logit(b) = the difference of the two explanations). With
# MAMBA_EXPLAIND, the dataset, formats, strings, generation and contrast run remote too and must
# equal offline.
# usage: dataset_test.sh MAMBA_EXPLAIN [MAMBA_EXPLAIND]
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
# Debian's interpreter has python3-numpy; a pyenv python3 earlier on PATH may not.
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
have_numpy=0
$py -c 'import numpy' 2>/dev/null && have_numpy=1

expect_error() { expect_code "$@"; }
# check NAME PYTHON ARGS...: the snippet must pass (sys.argv[1:] = ARGS; J = json.load).
check() {
  local name=$1 code=$2
  shift 2
  if $py - "$@" >"$tmp/py.err" 2>&1 <<PY
import json, math, struct, sys
def J(p): return json.load(open(p))
def L(p): return [json.loads(l) for l in open(p)]
def close(a, b, tol=1e-5):
    if isinstance(a, list): return len(a) == len(b) and all(close(x, y, tol) for x, y in zip(a, b))
    return abs(a - b) <= tol + 1e-4 * abs(b)
def safetensors(p):
    data = open(p, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__": continue
        b, e = v["data_offsets"]
        raw = data[8 + n + b:8 + n + e]
        vals = list(struct.unpack("<%d%s" % (len(raw) // 4, "f" if v["dtype"] == "F32" else "i"), raw))
        if len(v["shape"]) == 2:
            c = v["shape"][1]
            vals = [vals[i * c:(i + 1) * c] for i in range(v["shape"][0])]
        out[k] = vals
    return out, header["__metadata__"]
$code
PY
  then ok "$name"; else bad "$name: $(tail -c 600 "$tmp/py.err")"; fi
}

ids_of() { "$bin" tokenize --tokenizer "$tok" --text "$1" | $py -c 'import json,sys; print(",".join(map(str, json.load(sys.stdin)["ids"])))'; }

# --- --input: JSONL, per-line overrides, progress ----------------------------------------------
cat >"$tmp/in.jsonl" <<'EOF'
{"ids": [1, 5, 7]}
{"id": "b", "ids": [1, 5, 7, 9], "rows": "last", "method": "grad-x-input", "target": 5}

{"ids": "2 3", "meta": {"label": 1}, "layers": [0]}
EOF
"$bin" explain "${O[@]}" --input "$tmp/in.jsonl" --output "$tmp/out.jsonl" --progress 2>"$tmp/ds.err"
"$bin" explain "${O[@]}" --ids 1,5,7 --json "$tmp/single1.json" 2>/dev/null
"$bin" explain "${O[@]}" --ids 1,5,7,9 --rows last --method grad-x-input --target 5 --json "$tmp/single2.json" 2>/dev/null
check "--input: one JSONL record per prompt, equal to single explains" '
r = L(sys.argv[1]); s1, s2 = J(sys.argv[2]), J(sys.argv[3])
assert [x["line"] for x in r] == [1, 2, 4] and [x["id"] for x in r] == [None, "b", None], [(x["line"], x["id"]) for x in r]
assert r[0]["results"] == s1["results"] and r[0]["ids"] == [1, 5, 7]
assert r[1]["results"] == s2["results"] and r[1]["results"][0]["targets"] == [5] and r[1]["results"][0]["rows"] == [3]
assert r[2]["ids"] == [2, 3] and [x["layer"] for x in r[2]["results"]] == [0] and r[2]["input_meta"] == {"label": 1}
assert r[1]["meta"]["methods"] == ["grad-x-input"] and r[0]["meta"]["methods"] == ["latim-l2"]
' "$tmp/out.jsonl" "$tmp/single1.json" "$tmp/single2.json"
if grep -q "\[3/3\] line 4" "$tmp/ds.err" && grep -q "ETA" "$tmp/ds.err" && grep -q "3/3 prompts in" "$tmp/ds.err"; then
  ok "--input --progress: prompts done of total, ETA"
else bad "--input progress: $(cat "$tmp/ds.err")"; fi

# --- steps of a gradient method inside one result (offline) ------------------------------------
"$bin" explain "${O[@]}" --ids 1,5,7,9,11,13 --method integrated-gradients --ig-steps 64 --progress \
  --json "$tmp/igp.json" 2>"$tmp/igp.err"
if grep -q "\[0/1\] integrated-gradients step 384/384" "$tmp/igp.err"; then ok "IG progress counts rows x steps (384)"
else bad "IG step progress: $(cat "$tmp/igp.err")"; fi

# --- resume: an interrupted run (a record cut short) and a grown input --------------------------
head -n 2 "$tmp/out.jsonl" >"$tmp/out2.jsonl"
sed -n 3p "$tmp/out.jsonl" | head -c 50 >>"$tmp/out2.jsonl"
echo '{"id": 7, "ids": [1, 2]}' >>"$tmp/in.jsonl"
cp "$tmp/out2.jsonl" "$tmp/out2.before"
"$bin" explain "${O[@]}" --input "$tmp/in.jsonl" --output "$tmp/out2.jsonl" 2>"$tmp/rs.err"
check "resume: the cut record redone, the new prompt added, the rest untouched" '
r = L(sys.argv[1]); full = L(sys.argv[2])
assert [(x["line"], x["id"]) for x in r] == [(1, None), (2, "b"), (4, None), (5, "7")], [(x["line"], x["id"]) for x in r]
assert r[2]["results"] == full[2]["results"]
before = open(sys.argv[3]).read().split("\n")[:2]
assert open(sys.argv[1]).read().split("\n")[:2] == before
' "$tmp/out2.jsonl" "$tmp/out.jsonl" "$tmp/out2.before"
if grep -q "4 prompts, 2 already in" "$tmp/rs.err" && grep -q "explained 2 prompts" "$tmp/rs.err"; then ok "resume says what it skips"
else bad "resume message: $(cat "$tmp/rs.err")"; fi
"$bin" explain "${O[@]}" --input "$tmp/in.jsonl" --output "$tmp/out2.jsonl" 2>"$tmp/rs2.err"
if grep -q "explained 0 prompts" "$tmp/rs2.err" && [ "$(wc -l <"$tmp/out2.jsonl")" -eq 4 ]; then ok "resume of a finished run does nothing"
else bad "finished resume: $(cat "$tmp/rs2.err")"; fi
"$bin" explain "${O[@]}" --input "$tmp/in.jsonl" --output "$tmp/out2.jsonl" --overwrite 2>/dev/null
[ "$(wc -l <"$tmp/out2.jsonl")" -eq 4 ] && ok "--overwrite starts over" || bad "--overwrite: $(wc -l <"$tmp/out2.jsonl") lines"

# --- --input errors, before the model loads (the model directory does not exist) ----------------
printf '{"ids": [1]}\n{"ids": [1], "tagret": 5}\n' >"$tmp/bad1.jsonl"
expect_error "unknown key named with its line" "--input line 2: unknown key \"tagret\"" \
  explain --model-dir "$tmp/no-model" --input "$tmp/bad1.jsonl" --output "$tmp/x.jsonl"
printf '{"id": "a", "ids": [1]}\n{"id": "a", "ids": [2]}\n' >"$tmp/bad2.jsonl"
expect_error "repeated id" "--input line 2: id 'a' repeats line 1" \
  explain --model-dir "$tmp/no-model" --input "$tmp/bad2.jsonl"
printf '{"ids": [1]}\n{"text": "x", "ids": [1]}\n' >"$tmp/bad3.jsonl"
expect_error "text and ids" "--input line 2: give exactly one of \"text\" and \"ids\"" \
  explain --model-dir "$tmp/no-model" --input "$tmp/bad3.jsonl"
printf '{"ids": [1, 2], "target": 3}\n' >"$tmp/bad4.jsonl"
expect_error "per-line flags checked like flags" "--input line 1: --target is given but no method" \
  explain --model-dir "$tmp/no-model" --input "$tmp/bad4.jsonl"
printf '{"id": "a/b", "ids": [1]}\n' >"$tmp/bad5.jsonl"
expect_error "an id that cannot name a file" "cannot name a file" \
  explain --model-dir "$tmp/no-model" --input "$tmp/bad5.jsonl" --format safetensors --output "$tmp/dir"
expect_error "--input with --text" "--input replaces --text" explain "${O[@]}" --input "$tmp/in.jsonl" --text hi
expect_error "--input with --json" "--json does not go with --input" explain "${O[@]}" --input "$tmp/in.jsonl" --json "$tmp/j.json"
expect_error "--format without --output" "--format safetensors needs --output" explain "${O[@]}" --ids 1,2 --format safetensors
expect_error "bad --format" "bad --format 'csv'" explain "${O[@]}" --ids 1,2 --format csv
printf '{"ids": [1, 2]}\n{"ids": [1, 200]}\n' >"$tmp/bad6.jsonl"
expect_error "a failing prompt stops with its line" "--input line 2:" \
  explain "${O[@]}" --input "$tmp/bad6.jsonl" --output "$tmp/bad6.out"
[ "$(wc -l <"$tmp/bad6.out")" -eq 1 ] && ok "prompts before the failure are kept" || bad "kept before failure"

# --- --format safetensors / npz -----------------------------------------------------------------
"$bin" explain "${O[@]}" --ids 1,5,7,9 --method latim-l2,grad-x-input,latim-alti-logit --layers 1 \
  --format safetensors --output "$tmp/x.safetensors" --json "$tmp/x.json" 2>"$tmp/st.err"
check "safetensors holds the JSON's matrices, scores, ids, tokens and meta" '
t, meta = safetensors(sys.argv[1]); j = J(sys.argv[2])
assert t["ids"] == j["ids"] == [1, 5, 7, 9]
by = {(r["method"], r["layer"]): r for r in j["results"]}
assert close(t["latim-l2.layer1.matrix"], by[("latim-l2", 1)]["matrix"])
assert close(t["latim-alti-logit.model.matrix"], by[("latim-alti-logit", -1)]["matrix"])
g = by[("grad-x-input", -1)]
assert close(t["grad-x-input.model.scores"], g["scores"]) and t["grad-x-input.model.targets"] == g["targets"]
assert close(t["grad-x-input.model.explained_logit"], g["explained_logit"]) and t["grad-x-input.model.rows"] == [0, 1, 2, 3]
assert json.loads(meta["tokens"]) == j["tokens"]
info = json.loads(meta["info"]); assert info["meta"] == j["meta"], info.keys()
assert [r["prefix"] for r in info["results"]] == ["latim-l2.layer1", "latim-alti-logit.model", "grad-x-input.model"]
' "$tmp/x.safetensors" "$tmp/x.json"
if [ "$have_numpy" = 1 ]; then
  "$bin" explain "${O[@]}" --ids 1,5,7,9 --method latim-l2,smoothgrad --layers 0,1 --format npz --output "$tmp/x.npz" \
    --json "$tmp/xn.json" 2>/dev/null
  check "npz (numpy.load, no pickle) holds the same arrays" '
import numpy as np
z = np.load(sys.argv[1]); j = J(sys.argv[2])
assert z["ids"].dtype == np.int32 and z["ids"].tolist() == j["ids"]
assert z["latim-l2.layer0.matrix"].dtype == np.float32 and close(z["latim-l2.layer0.matrix"].tolist(), j["results"][0]["matrix"])
assert close(z["smoothgrad.model.scores"].tolist(), j["results"][2]["scores"])
assert z["tokens"].tolist() == j["tokens"]
assert json.loads(str(z["info"]))["meta"]["methods"] == ["latim-l2", "smoothgrad"]
' "$tmp/x.npz" "$tmp/xn.json"
  # One file per prompt, named by id or line; resume by file.
  "$bin" explain "${O[@]}" --input "$tmp/in.jsonl" --format npz --output "$tmp/npzdir" 2>/dev/null
  ls "$tmp/npzdir" | LC_ALL=C sort >"$tmp/npzlist"
  if [ "$(tr '\n' ' ' <"$tmp/npzlist")" = "7.npz b.npz line-1.npz line-4.npz " ]; then ok "--input --format npz: one file per prompt"
  else bad "npz dir: $(cat "$tmp/npzlist")"; fi
  rm "$tmp/npzdir/b.npz"
  "$bin" explain "${O[@]}" --input "$tmp/in.jsonl" --format npz --output "$tmp/npzdir" 2>"$tmp/npz.err"
  if grep -q "3 already in" "$tmp/npz.err" && [ -f "$tmp/npzdir/b.npz" ]; then ok "npz directory resumed"
  else bad "npz resume: $(cat "$tmp/npz.err")"; fi
  check "a dataset npz equals the JSONL record" '
import numpy as np
z = np.load(sys.argv[1]); r = L(sys.argv[2])[1]
assert close(z["grad-x-input.model.scores"].tolist(), r["results"][0]["scores"])
assert json.loads(str(z["info"]))["id"] == "b"
' "$tmp/npzdir/b.npz" "$tmp/out.jsonl"
else
  echo "skip npz checks: numpy missing (python3-numpy)"
fi

# --- --target / --target-tokens as token strings ----------------------------------------------
a=$(ids_of "a"); b=$(ids_of "b")
"$bin" explain "${O[@]}" --tokenizer "$tok" --ids 1,5,7 --method grad-x-input --target a --json "$tmp/ts.json" 2>/dev/null
"$bin" explain "${O[@]}" --ids 1,5,7 --method grad-x-input --target "$a" --json "$tmp/ti.json" 2>/dev/null
check "--target as a string == its id" 'a, b = J(sys.argv[1]), J(sys.argv[2]); assert a["results"] == b["results"] and a["results"][0]["targets"] == [int(sys.argv[3])] * 3' \
  "$tmp/ts.json" "$tmp/ti.json" "$a"
"$bin" explain "${O[@]}" --tokenizer "$tok" --ids 1,5,7 --rows 1,2 --method grad-x-input --target-tokens '["a", '"$b"']' \
  --json "$tmp/tt.json" 2>/dev/null
"$bin" explain "${O[@]}" --tokenizer "$tok" --ids 1,5,7 --rows 1,2 --method grad-x-input --target-tokens "a,b" \
  --json "$tmp/tt2.json" 2>/dev/null
check "--target-tokens: a JSON list or a comma list of strings and ids" '
a, b = J(sys.argv[1]), J(sys.argv[2]); assert a["results"][0]["targets"] == [int(sys.argv[3]), int(sys.argv[4])] and a["results"] == b["results"]' \
  "$tmp/tt.json" "$tmp/tt2.json" "$a" "$b"
expect_error "a string of several tokens" '--target "a,b" is 3 tokens' \
  explain "${O[@]}" --tokenizer "$tok" --ids 1,5,7 --method grad-x-input --target '"a,b"'
expect_error "token strings need a tokenizer" "tokenizer" \
  explain "${O[@]}" --ids 1,5,7 --method grad-x-input --target a
printf '{"ids": [1, 5, 7], "method": "grad-x-input", "target": "a"}\n{"ids": [1, 5, 7], "rows": [1, 2], "method": "grad-x-input", "targets": [5, "b"]}\n' >"$tmp/ts.jsonl"
"$bin" explain "${O[@]}" --tokenizer "$tok" --input "$tmp/ts.jsonl" --output "$tmp/ts.out" 2>/dev/null
check "token strings and ids as a line's target / targets" '
r = L(sys.argv[1]); assert r[0]["results"][0]["targets"] == [int(sys.argv[2])] * 3
assert r[1]["results"][0]["targets"] == [5, int(sys.argv[3])] and r[1]["results"][0]["rows"] == [1, 2]' "$tmp/ts.out" "$a" "$b"

# --- --generate ---------------------------------------------------------------------------------
# The fixture's greedy continuation of 2,9,4 changes token (4, 4, 34, 34), so a shifted row or
# target shows.
"$bin" explain "${O[@]}" --ids 2,9,4 --generate 4 --method latim-l2,grad-x-input --layers 1 --json "$tmp/g.json" 2>/dev/null
g=$($py -c 'import json,sys; print(",".join(map(str, json.load(open(sys.argv[1]))["generated"]["ids"])))' "$tmp/g.json")
want="" prefix="2,9,4"
for _ in 1 2 3 4; do
  n=$("$bin" forward "${O[@]}" --ids "$prefix" 2>/dev/null | $py -c 'import json,sys; print(json.load(sys.stdin)["top_k"][0]["id"])')
  want="${want:+$want,}$n" prefix="$prefix,$n"
done
[ "$g" = "$want" ] && ok "--generate: the greedy tokens of forward ($g)" || bad "--generate: $g vs forward $want"
IFS=, read -r g0 g1 g2 g3 <<<"$g"
"$bin" explain "${O[@]}" --ids "2,9,4,$g0,$g1" --rows last --method grad-x-input --target "$g2" --json "$tmp/g2.json" 2>/dev/null
check "--generate: each generated token explained at the row that predicted it" '
g, one = J(sys.argv[1]), J(sys.argv[2]); gen = g["generated"]["ids"]
assert g["ids"] == [2, 9, 4] + gen and g["generated"]["prompt_length"] == 3 and len(g["generated"]["tokens"]) == 4
assert g["generated"]["tokens"] == g["tokens"][3:]
gx = [r for r in g["results"] if r["method"] == "grad-x-input"][0]
assert gx["rows"] == [2, 3, 4, 5] and gx["targets"] == gen, gx["targets"]
assert [r["rows"] for r in g["results"] if r["method"] == "latim-l2"] == [[2, 3, 4, 5]]
assert close(gx["scores"][2][:5], one["results"][0]["scores"][0]) and all(v == 0 for v in gx["scores"][2][5:])
assert close(gx["explained_logit"][2], one["results"][0]["explained_logit"][0])
' "$tmp/g.json" "$tmp/g2.json"
expect_error "--generate decides the rows" "drop --rows" explain "${O[@]}" --ids 1,5 --generate 2 --rows last
expect_error "bad --generate" "bad --generate '0'" explain "${O[@]}" --ids 1,5 --generate 0

# --- --contrast-target -----------------------------------------------------------------------
M=(--ids 1,5,7,9 --rows 2,3 --method grad-x-input,mamba-lrp,latim-alti-logit,latim-l2 --layers 0)
"$bin" explain "${O[@]}" "${M[@]}" --target 5 --contrast-target 9 --json "$tmp/c.json" 2>/dev/null
"$bin" explain "${O[@]}" "${M[@]}" --target 5 --json "$tmp/ca.json" 2>/dev/null
"$bin" explain "${O[@]}" "${M[@]}" --target 9 --json "$tmp/cb.json" 2>/dev/null
check "--contrast-target: explanation of logit(a) - logit(b)" '
c, a, b = J(sys.argv[1]), J(sys.argv[2]), J(sys.argv[3])
for rc, ra, rb in zip(c["results"], a["results"], b["results"]):
    assert rc["method"] == ra["method"]
    k = "scores" if "scores" in rc else "matrix"
    if rc["method"] == "latim-l2":
        assert rc == ra; continue
    want = [[x - y for x, y in zip(p, q)] for p, q in zip(ra[k], rb[k])]
    assert close(rc[k], want, 1e-4), rc["method"]
    assert rc["contrast_targets"] == [9, 9]
    if "explained_logit" in rc:
        assert close(rc["explained_logit"], [x - y for x, y in zip(ra["explained_logit"], rb["explained_logit"])])
        s = [sum(r) for r in rc["scores"]]
        gap = max(abs(x - f) / abs(f) for x, f in zip(s, rc["explained_logit"]))
        assert abs(rc["approx_error"] - gap) < 1e-4
assert c["meta"]["contrast_target"] == 9
' "$tmp/c.json" "$tmp/ca.json" "$tmp/cb.json"
"$bin" explain "${O[@]}" --ids 1,5,7 --method smoothgrad,integrated-gradients --target 5 --contrast-target 5 --json "$tmp/c0.json" 2>/dev/null
check "contrast with itself is zero (SmoothGrad: the same noise)" '
c = J(sys.argv[1])
for r in c["results"]:
    assert all(abs(v) < 1e-6 for row in r["scores"] for v in row), r["method"]
    assert r["approx_error"] is None or r["method"] != "integrated-gradients"
' "$tmp/c0.json"
expect_error "contrast with a non-linear method" "--contrast-target does not go with mamba-attribution" \
  explain "${O[@]}" --ids 1,5 --method grad-x-input,mamba-attribution --contrast-target 3
expect_error "contrast with LaTIM only" "--contrast-target is given but no method" \
  explain "${O[@]}" --ids 1,5 --method latim-l2 --contrast-target 3
if [ -z "$server_bin" ]; then finish; fi

# --- remote: the same flags, the same results ----------------------------------------------------
repo=$tmp/repo
mkdir -p "$repo"
cp -r "$fx" "$repo/m1"
cp "$tok" "$repo/m1/tokenizer.json"
start_server s --model_repository "$repo" --plaintext || finish
S=(--server "127.0.0.1:$s_port" --model m1)
"$bin" explain "${S[@]}" --input "$tmp/in.jsonl" --output "$tmp/rout.jsonl" 2>"$tmp/rds.err"
"$bin" explain "${O[@]}" --input "$tmp/in.jsonl" --output "$tmp/oout.jsonl" 2>/dev/null
check "remote --input == offline --input" '
r, o = L(sys.argv[1]), L(sys.argv[2])
assert [(x["line"], x["id"]) for x in r] == [(x["line"], x["id"]) for x in o]
for x, y in zip(r, o):
    assert x["ids"] == y["ids"]
    for p, q in zip(x["results"], y["results"]):
        k = "scores" if "scores" in q else "matrix"
        assert p["method"] == q["method"] and p["layer"] == q["layer"] and close(p[k], q[k], 1e-4)
assert r[0]["meta"]["mode"] == "remote"
' "$tmp/rout.jsonl" "$tmp/oout.jsonl"
"$bin" explain "${S[@]}" --ids 1,5,7,9 --method latim-l2,grad-x-input,latim-alti-logit --layers 1 \
  --format safetensors --output "$tmp/r.safetensors" 2>/dev/null
check "remote safetensors == offline safetensors" '
r, _ = safetensors(sys.argv[1]); o, _ = safetensors(sys.argv[2])
# Remote adds the explained tokens of ALTI-Logit (the wire carries them; offline JSON has none).
assert sorted(set(r) - {"latim-alti-logit.model.targets"}) == sorted(o), (sorted(r), sorted(o))
for k in o: assert close(r[k], o[k], 1e-4), k
' "$tmp/r.safetensors" "$tmp/x.safetensors"
"$bin" explain "${S[@]}" --ids 1,5,7,9 --method latim-l2 --layers 1 --top-k 2 \
  --format safetensors --output "$tmp/rs.safetensors" 2>/dev/null
check "remote --top-k: CSR arrays of the kept entries" '
t, meta = safetensors(sys.argv[1]); o = J(sys.argv[2])
ptr, idx, val = t["latim-l2.layer1.indptr"], t["latim-l2.layer1.indices"], t["latim-l2.layer1.data"]
assert len(ptr) == 5 and all(ptr[i + 1] - ptr[i] <= 2 for i in range(4)) and "latim-l2.layer1.matrix" not in t
m = o["results"][0]["matrix"]
for i in range(4):
    for e in range(ptr[i], ptr[i + 1]): assert close(val[e], m[i][idx[e]], 1e-4)
' "$tmp/rs.safetensors" "$tmp/x.json"
"$bin" explain "${S[@]}" --ids 1,5,7 --method grad-x-input --target a --json "$tmp/rts.json" 2>/dev/null
check "remote --target string (the server's tokenizer)" 'assert J(sys.argv[1])["results"][0]["targets"] == [int(sys.argv[2])] * 3' "$tmp/rts.json" "$a"
expect_error "remote: a string of several tokens" '--target "a,b" is 3 tokens' \
  explain "${S[@]}" --ids 1,5,7 --method grad-x-input --target '"a,b"'
"$bin" explain "${S[@]}" --ids 2,9,4 --generate 4 --method latim-l2,grad-x-input --layers 1 --json "$tmp/rg.json" 2>/dev/null
check "remote --generate == offline" '
r, o = J(sys.argv[1]), J(sys.argv[2])
assert r["generated"]["ids"] == o["generated"]["ids"] and r["ids"] == o["ids"]
# The server has the GPT-NeoX tokenizer, the offline fixture none: token texts differ.
assert r["generated"]["tokens"] == r["tokens"][3:] and len(r["generated"]["tokens"]) == 4
for p, q in zip(r["results"], o["results"]):
    k = "scores" if "scores" in q else "matrix"
    assert p["rows"] == q["rows"] and close(p[k], q[k], 1e-4)
' "$tmp/rg.json" "$tmp/g.json"
"$bin" explain "${S[@]}" "${M[@]}" --target 5 --contrast-target 9 --json "$tmp/rc.json" 2>/dev/null
check "remote --contrast-target == offline" '
r, o = J(sys.argv[1]), J(sys.argv[2])
for p, q in zip(r["results"], o["results"]):
    k = "scores" if "scores" in q else "matrix"
    assert p["method"] == q["method"] and close(p[k], q[k], 1e-4) and p.get("contrast_targets") == q.get("contrast_targets")
' "$tmp/rc.json" "$tmp/c.json"
finish
