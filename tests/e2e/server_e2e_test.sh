#!/usr/bin/env bash
# End-to-end: the real mamba-explaind and the real mamba-explain client over 127.0.0.1 with
# ephemeral ports, every Explain check on the LibTorch engine serving the committed fixture models
# (tests/fixtures/mamba1_bias_tied and mamba2_g1; vocabulary 96, no tokenizer: --ids).
# ListModels/GetModel/Tokenize, a model that fails to load is reported and skipped, health per
# model, metrics parse as Prometheus text, --help, TLS required unless --plaintext; Explain: remote
# == offline `mamba-explain explain` (dense, within 1e-5) for every method (LaTIM and the
# baselines, with their parameters) and row selection, invalid method parameters named,
# stream order (header first, summary last), CSR == the sparsified offline matrix, messages
# <= 1 MiB, every status code, batching (batch size > 1, results equal to solo runs),
# cancellation stops work, deadlines, queue full. A 240-layer copy of the Mamba-1 fixture
# (make_deep_model.py) makes requests long enough to cancel, time out or queue behind on any
# machine; waits are bounded polls, never timing asserts.
# usage: server_e2e_test.sh MAMBA_EXPLAIND MAMBA_EXPLAIN
set -u
server_bin=$1
client_bin=$2
here=$(cd "$(dirname "$0")" && pwd)
fixtures=$here/../fixtures
source "$here/lib.sh"

# --- model repositories: two good fixtures, a tokenizer model, a broken one; a deep copy -------
repo=$tmp/repo
mkdir -p "$repo/broken" "$repo/tok"
cp -r "$fixtures/mamba1_bias_tied" "$repo/m1"  # copies: symlinks out of the repository are refused
cp -r "$fixtures/mamba2_g1" "$repo/m2"
echo '{"model_type": "mamba", "hidden_size": ' >"$repo/broken/config.json"
# A copy of the Mamba-1 fixture whose layer-1 dt_proj weight is all NaN: it loads, but warm-up's
# finiteness check must make it FAILED instead of READY.
mkdir -p "$repo/nan"
cp "$fixtures/mamba1_bias_tied/config.json" "$repo/nan/"
python3 - "$fixtures/mamba1_bias_tied/model.safetensors" "$repo/nan/model.safetensors" <<'PY'
import json, struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
n = struct.unpack("<Q", b[:8])[0]
t = json.loads(b[8:8 + n])["backbone.layers.1.mixer.dt_proj.weight"]
begin, end = (8 + n + o for o in t["data_offsets"])
b[begin:end] = struct.pack("<f", float("nan")) * ((end - begin) // 4)
open(sys.argv[2], "wb").write(b)
PY
cp "$fixtures/mamba1_bias_tied/config.json" "$fixtures/mamba1_bias_tied/model.safetensors" "$repo/tok/"
cp "$here/../../data/gpt-neox-20b-tokenizer.json" "$repo/tok/tokenizer.json"
drepo=$tmp/drepo  # the engine on a 240-layer copy of the Mamba-1 fixture
mkdir -p "$drepo/deep"
python3 "$here/make_deep_model.py" "$fixtures/mamba1_bias_tied" "$drepo/deep" 240 ||
  { bad "make_deep_model.py"; finish; }

# E2E_SECTIONS (default "engine batching slow queuefull") runs only the parts named:
# tools/tsan_check.sh runs "batching slow" on its ThreadSanitizer build.
section() { [[ " ${E2E_SECTIONS:-engine batching slow queuefull} " == *" $1 "* ]]; }
if section engine; then

# --- flags -------------------------------------------------------------------------------------
if "$server_bin" --help 2>&1 | grep -q -- "--max_queue_delay_ms" &&
  "$server_bin" --help 2>&1 | grep -q -- "--auth_tokens_file"; then ok "--help documents flags"
else bad "--help documents flags"; fi
if "$server_bin" --model_repository "$repo" --port 0 >"$tmp/notls.log" 2>&1; then
  bad "refuses to serve without TLS or --plaintext"
elif grep -q "plaintext" "$tmp/notls.log"; then ok "refuses to serve without TLS or --plaintext"
else bad "refuses to serve without TLS or --plaintext: $(cat "$tmp/notls.log")"; fi

# --- engine server -----------------------------------------------------------------------------
start_server eng --model_repository "$repo" --plaintext --max_matrix_rows 20000 || finish
S="--server 127.0.0.1:$eng_port"
if grep -q "model 'broken' failed to load, skipped" "$tmp/eng.log"; then ok "broken model reported"
else bad "broken model reported"; fi
if $client_bin models $S >"$tmp/models.json" 2>"$tmp/err" && python3 - "$tmp/models.json" <<'PY'
import json, sys
m = {x["name"]: x for x in json.load(open(sys.argv[1]))}
assert set(m) == {"broken", "m1", "m2", "nan", "tok"}, m.keys()
assert m["broken"]["state"] == "FAILED" and "config" in m["broken"]["error"], m["broken"]
assert m["nan"]["state"] == "FAILED" and "non-finite" in m["nan"]["error"], m["nan"]
assert m["m1"]["state"] == "READY" and m["m1"]["n_layers"] == 3 and m["m1"]["vocab_size"] == 96
assert m["m1"]["architecture"] == "mamba1" and m["m2"]["architecture"] == "mamba2"
assert m["m1"]["backend"] == "engine"
every = ["latim-l1", "latim-l2", "latim-alti", "latim-alti-logit", "grad-x-input",
         "integrated-gradients", "smoothgrad", "mamba-lrp", "mamba-attention", "rollout",
         "mamba-attribution"]
assert m["m1"]["methods"] == every and m["m2"]["methods"] == every, m["m1"]["methods"]
PY
then ok "ListModels: ready models and the failed one"; else bad "ListModels: $(cat "$tmp/err")"; fi
if $client_bin models $S --model m2 | grep -q '"state":"READY"'; then ok "GetModel"
else bad "GetModel"; fi
expect_code "GetModel unknown -> NOT_FOUND" "NOT_FOUND" models $S --model nope
expect_code "Tokenize without tokenizer -> FAILED_PRECONDITION" "FAILED_PRECONDITION" tokenize $S --model m1 --text hi
expect_code "Tokenize unknown model -> NOT_FOUND" "NOT_FOUND" tokenize $S --model nope --text hi
expect_code "Tokenize failed model -> UNAVAILABLE" "UNAVAILABLE" tokenize $S --model broken --text hi
if $client_bin tokenize $S --model tok --text "Hello world" >"$tmp/rt.json" &&
  $client_bin tokenize --tokenizer "$repo/tok/tokenizer.json" --text "Hello world" >"$tmp/lt.json" &&
  cmp -s "$tmp/rt.json" "$tmp/lt.json" && grep -q '"ids":\[12092,1533\]' "$tmp/rt.json"; then
  ok "Tokenize remote == offline"
else bad "Tokenize remote == offline: $(cat "$tmp/rt.json" "$tmp/lt.json")"; fi
expect_code "text beyond the model vocabulary -> INVALID_ARGUMENT" "outside the model's vocabulary" \
  explain $S --model tok --text "Hello world" --method latim-l1
if [ "$($client_bin health $S)" = SERVING ]; then ok "health '' SERVING"; else bad "health ''"; fi
if [ "$($client_bin health $S --service mamba_explain.v1.Explainer)" = SERVING ]; then
  ok "health service SERVING"; else bad "health service"; fi
if [ "$($client_bin health $S --service mamba_explain.v1.Explainer/m1)" = SERVING ]; then
  ok "health per model SERVING"; else bad "health per model"; fi
expect_code "health of the failed model NOT_SERVING" "NOT_SERVING" health $S --service mamba_explain.v1.Explainer/broken
expect_code "health unknown service NOT_FOUND" "NOT_FOUND" health $S --service nope
expect_code "Explain unknown model -> NOT_FOUND" "NOT_FOUND" explain $S --model nope --ids 1,2 --method latim-l1
expect_code "Explain token id beyond vocab -> INVALID_ARGUMENT" "token_ids[1]=96 not in [0, 96)" \
  explain $S --model m1 --ids 1,96 --method latim-l1
expect_code "Explain failed model -> UNAVAILABLE" "UNAVAILABLE" explain $S --model broken --ids 1,2 --method latim-l1

# --- Explain on the engine: remote == offline ------------------------------------------------
ids=$(python3 -c 'print(",".join(str((7 * i + 3) % 96) for i in range(24)))')
E="explain $S --quiet"
# remote_vs_offline NAME MODEL FIXTURE FLAGS...: the same flags offline and remote (dense).
remote_vs_offline() {
  local name=$1 model=$2 fixture=$3
  shift 3
  if $client_bin explain --model-dir "$fixtures/$fixture" --ids "$ids" "$@" --json "$tmp/off.json" \
    2>"$tmp/err" && $client_bin $E --model "$model" --ids "$ids" "$@" --dense --json "$tmp/rem.json" \
    2>>"$tmp/err" && python3 "$here/compare_explain.py" "$tmp/off.json" "$tmp/rem.json" >>"$tmp/err" 2>&1
  then ok "remote == offline: $name"
  else bad "remote == offline: $name: $(tail -c 600 "$tmp/err")"; fi
}
all4=latim-l1,latim-l2,latim-alti,latim-alti-logit
for pair in m1:mamba1_bias_tied m2:mamba2_g1; do
  model=${pair%%:*}
  fixture=${pair#*:}
  remote_vs_offline "$model every method, all rows, all layers" $model $fixture --method $all4
  remote_vs_offline "$model --rows last --layers 0,2" $model $fixture --method $all4 --rows last --layers 0,2
  remote_vs_offline "$model --rows 3,17,5 --target 11 --activation identity" $model $fixture \
    --method latim-alti-logit,latim-l2 --rows 3,17,5 --target 11 --activation identity --layers 1
  remote_vs_offline "$model --layers 1-2 --activation relu --memory-budget-mib 1" $model $fixture \
    --method latim-alti,latim-l1 --layers 1-2 --activation relu --memory-budget-mib 1
done
# Every baseline, alone and mixed with LaTIM, with its parameters: remote == offline (few IG
# steps and SmoothGrad samples keep it quick on 2 cores).
G="--ig-steps 3 --sg-samples 2"
for pair in m1:mamba1_bias_tied m2:mamba2_g1; do
  model=${pair%%:*}
  fixture=${pair#*:}
  for method in grad-x-input integrated-gradients smoothgrad mamba-lrp mamba-attention rollout \
    mamba-attribution; do
    remote_vs_offline "$model $method --rows 2,9,23" $model $fixture --method $method \
      --rows 2,9,23 $G
  done
  remote_vs_offline "$model every method, --rows last" $model $fixture --rows last $G \
    --method $all4,grad-x-input,integrated-gradients,smoothgrad,mamba-lrp,mamba-attention,rollout,mamba-attribution
done
remote_vs_offline "m1 baseline parameters, --target 11" m1 mamba1_bias_tied --rows 4,20 --target 11 \
  --method integrated-gradients,smoothgrad,mamba-lrp,mamba-attention,rollout,mamba-attribution \
  --ig-steps 5 --ig-rule riemann --sg-samples 3 --sg-sigma 0.4 --sg-input clean --seed 7 \
  --lrp-rules no-ssm,no-gate --attention-norm abs-minmax --start-layer 1 --layers 0,2
remote_vs_offline "m2 --sg-sigma 0 (explicit zero)" m2 mamba2_g1 --rows 5 --method smoothgrad \
  --sg-samples 2 --sg-sigma 0
# Old spellings still work (--methods, --targets).
if $client_bin $E --model m1 --ids "$ids" --methods latim-l2 --targets 4,2 --layers 0 --json "$tmp/old.json" \
  2>"$tmp/err" && python3 -c "
import json; d = json.load(open('$tmp/old.json'))
assert [(r['method'], r['layer'], r['rows']) for r in d['results']] == [('latim-l2', 0, [2, 4])]"
then ok "--methods/--targets aliases"; else bad "aliases: $(cat "$tmp/err")"; fi
if python3 -c "
import json; d = json.load(open('$tmp/rem.json'))
a = [r for r in d['results'] if r['method'] == 'latim-alti-logit']
assert not a or all(len(r['targets']) == len(r['rows']) for r in a)" 2>"$tmp/err"; then
  ok "ALTI-Logit results carry the explained token per row"
else bad "ALTI-Logit targets: $(cat "$tmp/err")"; fi

# --- stream order ---------------------------------------------------------------------------
if $client_bin $E --model m2 --ids "$ids" --method latim-l1,latim-l2 --layers 2,0 --dense \
  --json "$tmp/so.json" --stream-log "$tmp/stream.log" 2>"$tmp/err" && python3 - "$tmp/stream.log" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
kinds = [l["kind"] for l in lines]
assert kinds[0] == "header" and kinds[-1] == "summary", kinds
assert kinds.count("header") == 1 and kinds.count("summary") == 1, kinds
got = [(l["layer"], l["method"]) for l in lines if l["kind"] == "layer_result"]
assert got == [(0, "latim-l1"), (0, "latim-l2"), (2, "latim-l1"), (2, "latim-l2")], got
PY
then ok "stream order: header first, layers increasing, methods in request order, summary last"
else bad "stream order: $(cat "$tmp/err")"; fi
if $client_bin $E --model m1 --ids "$ids" --method latim-l2,latim-alti-logit --layers 0,2 --dense \
  --json "$tmp/so2.json" --stream-log "$tmp/stream2.log" 2>"$tmp/err" && python3 - "$tmp/stream2.log" "$tmp/so2.json" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
got = [(l["layer"], l["method"]) for l in lines if l["kind"] == "layer_result"]
assert got == [(2, "latim-l2"), (0, "latim-l2"), (-1, "latim-alti-logit")], got
d = json.load(open(sys.argv[2]))  # the client restores the offline order
assert [(r["layer"], r["method"]) for r in d["results"]] == [(0, "latim-l2"), (2, "latim-l2"), (-1, "latim-alti-logit")]
PY
then ok "stream order with ALTI-Logit: top layer first, layer -1 last"
else bad "stream order with ALTI-Logit: $(cat "$tmp/err")"; fi

# --- CSR == the sparsified offline matrix -----------------------------------------------------
$client_bin explain --model-dir "$fixtures/mamba1_bias_tied" --ids "$ids" --method $all4 --layers 0,2 \
  --json "$tmp/off_sparse.json" 2>"$tmp/err" || bad "offline explain: $(cat "$tmp/err")"
for mode in "--threshold 0.3" "--top-k 3" "--mass 0.9"; do
  if $client_bin $E --model m1 --ids "$ids" --method $all4 --layers 0,2 $mode --json "$tmp/sparse.json" \
    --stream-log "$tmp/sparse.log" 2>"$tmp/err" &&
    python3 -c "
import json, sys
assert all(json.loads(l).get('encoding', 'csr') == 'csr' for l in open('$tmp/sparse.log'))" 2>>"$tmp/err" &&
    python3 "$here/compare_explain.py" "$tmp/off_sparse.json" "$tmp/sparse.json" $mode >>"$tmp/err" 2>&1
  then ok "CSR ($mode) equals the sparsified offline matrix"
  else bad "CSR ($mode): $(tail -c 600 "$tmp/err")"; fi
done

# --- 600x600 layers: split into messages <= 1 MiB, dense == CSR --------------------------------
long=$(python3 -c 'print(",".join(str((5 * i + 1) % 96) for i in range(600)))')
if $client_bin $E --model m1 --ids "$long" --method latim-l2 --layers 0 --dense --json "$tmp/ld.json" \
  --stream-log "$tmp/ld.log" 2>"$tmp/err" &&
  $client_bin $E --model m1 --ids "$long" --method latim-l2 --layers 0 --threshold 0 --json "$tmp/ls.json" \
  --stream-log "$tmp/ls.log" 2>>"$tmp/err" && python3 - "$tmp/ld.json" "$tmp/ls.json" "$tmp/ld.log" "$tmp/ls.log" <<'PY'
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for x, y in zip(a["results"][0]["matrix"], b["results"][0]["matrix"]):
    assert all(abs(u - v) <= 1e-5 + 1e-4 * abs(v) for u, v in zip(x, y))
assert len(a["results"][0]["matrix"]) == 600 and len(a["results"][0]["matrix"][0]) == 600
for log in sys.argv[3:5]:
    blocks = [json.loads(l) for l in open(log) if '"layer_result"' in l]
    assert len(blocks) >= 2, len(blocks)
    assert all(x["bytes"] <= 1 << 20 for x in blocks), [x["bytes"] for x in blocks]
    assert [x["last_block"] for x in blocks] == [False] * (len(blocks) - 1) + [True]
PY
then ok "600x600 layers split into messages <= 1 MiB, dense == CSR"
else bad "message split: $(tail -c 600 "$tmp/err")"; fi

# --- request errors -----------------------------------------------------------------------------
expect_code "layer out of range -> INVALID_ARGUMENT" "layers[1]=3 not in [0, 3)" $E --model m1 --ids 1,2 --method latim-l1 --layers 0,3
expect_code "unknown method -> client error (explain_flags)" "unknown method 'nope'" $E --model m1 --ids 1,2 --method nope
expect_code "row out of range -> INVALID_ARGUMENT" "target_rows[0]=5 not in [0, 2)" $E --model m1 --ids 1,2 --rows 5
expect_code "target beyond vocab -> INVALID_ARGUMENT" "target_token=96 not in [0, 96)" $E --model m1 --ids 1,2 --method latim-alti-logit --target 96
expect_code "per-row target beyond vocab -> INVALID_ARGUMENT" "target_tokens[1]=96" $E --model m1 --ids 1,2 --method latim-alti-logit --target-tokens 5,96
expect_code "text and ids -> client error" "give exactly one of --text, --text-file, --ids and --ids-file" $E --model m1 --ids 1 --text a
expect_code "bad --layers -> client error" "bad layer range" $E --model m1 --ids 1 --layers 2-1
expect_code "bad top-k -> INVALID_ARGUMENT" "sparsity.top_k=0" $E --model m1 --ids 1,2 --top-k 0
expect_code "priority out of range -> INVALID_ARGUMENT" "priority=12" $E --model m1 --ids 1,2 --priority 12
# Compute precision per request: an fp32 model computes in fp32, tf32 or bf16 (bf16 weights only in
# bf16, explain_request_test); the header echoes the precision used.
if $client_bin $E --model m1 --ids 1,2 --method latim-l2 --layers 0 --dtype tf32 --json "$tmp/tf32.json" \
  2>>"$tmp/err" && grep -q '"PRECISION_TF32"' "$tmp/tf32.json"; then ok "tf32 on an fp32 model accepted and echoed"
else bad "tf32 request: $(tail -c 400 "$tmp/err")"; fi
expect_code "memory budget over the limit -> INVALID_ARGUMENT" "memory_budget_mib=99999" $E --model m1 --ids 1,2 --memory-budget-mib 99999
expect_code "ig steps over the limit -> INVALID_ARGUMENT" "parameters.ig_steps=257 not in [0, 256]" $E --model m1 --ids 1,2 --method integrated-gradients --ig-steps 257
expect_code "smoothgrad samples over the limit -> INVALID_ARGUMENT" "parameters.smoothgrad_samples=129" $E --model m1 --ids 1,2 --method smoothgrad --sg-samples 129
expect_code "negative sigma -> INVALID_ARGUMENT" "parameters.smoothgrad_sigma=-1" $E --model m1 --ids 1,2 --method smoothgrad --sg-sigma -1
expect_code "bad ig rule -> client error" "unknown ig rule 'simpson'" $E --model m1 --ids 1,2 --method integrated-gradients --ig-rule simpson
expect_code "bad sg input -> client error" "unknown smoothgrad input 'both'" $E --model m1 --ids 1,2 --method smoothgrad --sg-input both
expect_code "bad lrp rule -> client error" "unknown lrp rule 'no-conv'" $E --model m1 --ids 1,2 --method mamba-lrp --lrp-rules no-ssm,no-conv
expect_code "bad attention norm -> client error" "unknown attention norm 'l2'" $E --model m1 --ids 1,2 --method mamba-attention --attention-norm l2
expect_code "start layer out of range -> INVALID_ARGUMENT" "parameters.start_layer=3 not in [0, 3)" $E --model m1 --ids 1,2 --method rollout --start-layer 3
expect_code "target beyond vocab for a baseline -> INVALID_ARGUMENT" "target_token=96 not in [0, 96)" $E --model m1 --ids 1,2 --method grad-x-input --target 96
toolong=$(python3 -c 'print(",".join(["1"] * 2049))')
expect_code "too many tokens -> RESOURCE_EXHAUSTED" "RESOURCE_EXHAUSTED: input has 2049 tokens" $E --model m1 --ids "$toolong"
big=$(python3 -c 'print(",".join(["1"] * 2000))')
expect_code "layers x rows budget -> RESOURCE_EXHAUSTED" "matrix rows" $E --model m1 --ids "$big" --method $all4
expect_code "gradient rows budget -> RESOURCE_EXHAUSTED" "RESOURCE_EXHAUSTED: request asks for 512000 gradient rows" $E --model m1 --ids "$big" --method integrated-gradients --ig-steps 256

curl -s "http://127.0.0.1:$eng_mport/metrics" >"$tmp/metrics.txt"
if python3 "$here/check_metrics.py" "$tmp/metrics.txt" mamba_explain_requests_total \
  mamba_explain_model_ready >"$tmp/err" 2>&1 &&
  grep -q 'mamba_explain_requests_total{code="NOT_FOUND",method="GetModel",model="unknown"} 1' "$tmp/metrics.txt" &&
  ! grep -q 'model="nope"' "$tmp/metrics.txt" &&
  grep -q 'mamba_explain_model_ready{model="broken"} 0' "$tmp/metrics.txt"; then
  ok "metrics parse as Prometheus text, count by method/model/code (unknown names as \"unknown\")"
else bad "metrics: $(cat "$tmp/err"; head -c 600 "$tmp/metrics.txt")"; fi
kill -TERM "$eng_pid"; wait "$eng_pid"; eng_rc=$?
if [ $eng_rc = 0 ]; then ok "engine server exits 0 on SIGTERM"; else bad "engine server rc=$eng_rc"; fi
fi


if section batching; then
# --- batching: concurrent requests share a batch; results equal solo (offline) runs ------------
# The batch fires when 4 requests are queued (--max_queue_delay_ms is long), so they always share
# it; each has its own length and rows, and the results must equal the offline single runs.
start_server bat --model_repository "$repo" --plaintext --max_batch_size 4 \
  --max_queue_delay_ms 60000 || finish
brows=(all last "1,3" "0,2,4")
for i in 0 1 2 3; do
  bids=$(python3 -c "print(','.join(str((11 * j + $i) % 96) for j in range(10 + $i)))")
  $client_bin explain --server 127.0.0.1:$bat_port --model m2 --quiet --ids "$bids" \
    --method latim-l2,latim-alti-logit --layers 0,2 --rows "${brows[$i]}" --dense \
    --json "$tmp/b$i.json" 2>"$tmp/b$i.err" &
  bpids[$i]=$!
done
for i in 0 1 2 3; do wait "${bpids[$i]}"; done
for i in 0 1 2 3; do
  bids=$(python3 -c "print(','.join(str((11 * j + $i) % 96) for j in range(10 + $i)))")
  $client_bin explain --model-dir "$fixtures/mamba2_g1" --ids "$bids" --method latim-l2,latim-alti-logit \
    --layers 0,2 --rows "${brows[$i]}" --json "$tmp/s$i.json" 2>"$tmp/s$i.err"
done
batched_equal_solo() {
  local i
  for i in 0 1 2 3; do
    python3 -c "import json, sys; s = json.load(open(sys.argv[1]))['summary']
assert s['batch_size'] == 4, s" "$tmp/b$i.json" || return 1
    python3 "$here/compare_explain.py" "$tmp/s$i.json" "$tmp/b$i.json" || return 1
  done
}
if batched_equal_solo >"$tmp/err" 2>&1; then ok "concurrent requests batched (batch_size 4) with results equal to solo runs"
else bad "batching: $(cat "$tmp/err" "$tmp"/b*.err | tail -c 800)"; fi
bat_layers=$(metric "$bat_mport" 'mamba_explain_layer_results_total{model="m2"}')
if [ "$(metric "$bat_mport" 'mamba_explain_batch_size_count{model="m2"}')" = 1 ] && [ "$bat_layers" = 12 ]; then
  ok "one batch of 4 ran (metrics)"; else bad "batch metrics: layers=$bat_layers"; fi
if [ "$(metric "$bat_mport" 'mamba_explain_gpu_memory_bytes{state="used"}')" = 0 ]; then
  ok "gpu memory gauge exported (0 on CPU)"; else bad "gpu memory gauge"; fi
kill -TERM "$bat_pid"; wait "$bat_pid"; bat_rc=$?
if [ $bat_rc = 0 ]; then ok "batching server exits 0 on SIGTERM"; else bad "batching server rc=$bat_rc"; fi
fi

if section slow; then
# --- a slow engine model: deadlines, cancellation, queue full -----------------------------------
# 240 layers x 3 methods over 600 rows: a request computes for about 9 minutes on one core of the
# development machine (about 2 s per layer), far longer than these checks take, and its results
# stream layer by layer. The checks wait on the server's gauges, never on time alone: the
# queue-full check once failed in CI because the queue-depth gauge could keep a stale 1 (set
# after the queue's lock was released; fixed in DynamicBatcher) and the third request went out
# before the second was queued.
start_server slow --model_repository "$drepo" --plaintext --max_batch_size 1 --max_queue 1 \
  --max_queue_delay_ms 0 --max_matrix_rows 1000000 || finish
S="--server 127.0.0.1:$slow_port"
slow=$(python3 -c 'print(",".join(str((13 * i + 5) % 96) for i in range(600)))')
SLOW="explain $S --model deep --ids $slow --method latim-l1,latim-l2,latim-alti --quiet"
expect_code "deadline -> DEADLINE_EXCEEDED" "DEADLINE_EXCEEDED" $SLOW --timeout 1
# idle_server: wait (bounded) until no stream is open and no batch computes. A stream closes as
# soon as its request expires or its client goes, while the worker computes that batch until its
# next result, which on a loaded machine can take a while; a request sent before then would wait
# in the queue, not run.
idle_server() {
  for _ in $(seq 1 1800); do
    [ "$(metric "$slow_mport" 'mamba_explain_inflight_streams')" = 0 ] &&
      [ "$(metric "$slow_mport" 'mamba_explain_running_batches{model="deep"}')" = 0 ] && return 0
    sleep 0.1
  done
  return 1
}
# What the slow server is doing, for failure messages.
slow_state() {
  local m
  for m in 'mamba_explain_inflight_streams' 'mamba_explain_pending_requests{model="deep"}' \
    'mamba_explain_running_batches{model="deep"}' 'mamba_explain_batch_size_count{model="deep"}' \
    'mamba_explain_layer_results_total{model="deep"}'; do
    printf ' %s=%s' "${m%%\{*}" "$(metric "$slow_mport" "$m")"
  done
}
idle_server || bad "the expired request still runs:$(slow_state)"

# Cancellation: kill a client mid-stream; the server must stop computing that request.
$client_bin $SLOW --stream-log "$tmp/c.log" >/dev/null 2>&1 &
cpid=$!
for _ in $(seq 1 1200); do grep -q layer_result "$tmp/c.log" 2>/dev/null && break; sleep 0.05; done
{ kill -9 "$cpid"; wait "$cpid"; } 2>/dev/null
for _ in $(seq 1 600); do
  [ "$(metric "$slow_mport" 'mamba_explain_requests_total{code="CANCELLED"')" = 1 ] && break; sleep 0.1
done
# Its batch must end early (results are counted when a batch ends).
idle_server || bad "the cancelled request still runs:$(slow_state)"
layers=$(metric "$slow_mport" 'mamba_explain_layer_results_total{model="deep"}')
if [ "$(metric "$slow_mport" 'mamba_explain_requests_total{code="CANCELLED"')" = 1 ] &&
  python3 -c "import sys; sys.exit(0 if 0 < float('$layers') < 720 else 1)"; then
  ok "client cancellation stops work (CANCELLED, $layers of 720 results computed)"
else bad "cancellation: layers=$layers"; fi
# Queue full: one running, one queued, the third is rejected with a retry hint. (Section
# "queuefull": its bounded waits assume the CLI starts and the first layer comes within
# seconds, which a ThreadSanitizer build does not meet.)
if section queuefull; then
$client_bin $SLOW --stream-log "$tmp/q1.log" >/dev/null 2>"$tmp/q1.err" &
q1=$!
# The first runs (it has a result and nothing waits in the queue) ...
running=
for _ in $(seq 1 1200); do
  if grep -q layer_result "$tmp/q1.log" 2>/dev/null &&
    [ "$(metric "$slow_mport" 'mamba_explain_pending_requests{model="deep"}')" = 0 ]; then
    running=1; break
  fi
  sleep 0.05
done
# ... the second waits in the queue (and is still there) ...
queued=
if [ -n "$running" ]; then
  $client_bin $SLOW >/dev/null 2>"$tmp/q2.err" &
  q2=$!
  for _ in $(seq 1 600); do
    if [ "$(metric "$slow_mport" 'mamba_explain_pending_requests{model="deep"}')" = 1 ] &&
      kill -0 "$q2" 2>/dev/null; then
      queued=1; break
    fi
    sleep 0.05
  done
fi
# ... and the third is rejected.
if [ -n "$queued" ]; then
  before=$fail
  expect_code "queue full -> RESOURCE_EXHAUSTED with retry hint" "retry after" explain $S --model deep --ids 1,2 --quiet
  # Says what the two long requests were doing if the check failed (they should both still run).
  if [ "$fail" != "$before" ]; then
    echo "  first: $(kill -0 "$q1" 2>/dev/null && echo running || echo ended), $(grep -c layer_result "$tmp/q1.log") results, $(head -c 300 "$tmp/q1.err")"
    echo "  second: $(kill -0 "$q2" 2>/dev/null && echo running || echo ended), $(head -c 300 "$tmp/q2.err")"
    echo "  server:$(slow_state)"
  fi
else
  bad "queue full: could not fill the queue (first running: ${running:-no}, $(grep -c layer_result "$tmp/q1.log" 2>/dev/null) results, $(head -c 300 "$tmp/q1.err"); second queued: ${queued:-no}, $(head -c 300 "$tmp/q2.err" 2>/dev/null); server:$(slow_state))"
fi
kill -9 "$q1" ${q2:+"$q2"} 2>/dev/null
wait "$q1" ${q2:+"$q2"} 2>/dev/null
fi
kill -TERM "$slow_pid"; wait "$slow_pid"; slow_rc=$?
if [ $slow_rc = 0 ]; then ok "slow-model server exits 0 on SIGTERM"; else bad "slow-model server rc=$slow_rc"; fi
fi
finish
