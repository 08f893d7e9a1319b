#!/usr/bin/env bash
# End-to-end: the real mamba-explaind and the real mamba-explain client over 127.0.0.1 with
# ephemeral ports. Engine server (committed fixture models): ListModels/GetModel/Tokenize, a
# model that fails to load is reported and skipped, health per model, metrics parse as Prometheus
# text, --help, TLS required unless --plaintext. Synthetic server: every Explain status code,
# stream order (header first, summary last), CSR == thresholded dense, messages <= 1 MiB,
# batching (batch size > 1, same results), cancellation stops work, queue full, deadlines.
# usage: server_e2e_test.sh MAMBA_EXPLAIND MAMBA_EXPLAIN
set -u
server_bin=$1
client_bin=$2
here=$(cd "$(dirname "$0")" && pwd)
fixtures=$here/../fixtures
shared=${ME_SHARED_DIR:-$here/../../../shared}
source "$here/lib.sh"

# --- model repository: two good fixtures, a tokenizer model, a broken one, a deep synthetic ---
repo=$tmp/repo
mkdir -p "$repo/broken" "$repo/tok"
ln -s "$fixtures/mamba1_bias_tied" "$repo/m1"
ln -s "$fixtures/mamba2_g1" "$repo/m2"
echo '{"model_type": "mamba", "hidden_size": ' >"$repo/broken/config.json"
cp "$fixtures/mamba1_bias_tied/config.json" "$fixtures/mamba1_bias_tied/model.safetensors" "$repo/tok/"
have_tokenizer=0
if [ -f "$shared/data/gpt-neox-20b-tokenizer.json" ]; then
  cp "$shared/data/gpt-neox-20b-tokenizer.json" "$repo/tok/tokenizer.json"
  have_tokenizer=1
fi
srepo=$tmp/srepo  # synthetic backend: config only; 40 layers, vocabulary 96
mkdir -p "$srepo/deep"
python3 - "$fixtures/mamba1_bias_tied/config.json" "$srepo/deep/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["num_hidden_layers"] = 40
json.dump(c, open(sys.argv[2], "w"))
PY

# --- flags -------------------------------------------------------------------------------------
if "$server_bin" --help 2>&1 | grep -q -- "--max_queue_delay_ms" &&
  "$server_bin" --help 2>&1 | grep -q -- "--auth_tokens_file"; then ok "--help documents flags"
else bad "--help documents flags"; fi
if "$server_bin" --model_repository "$repo" --port 0 >"$tmp/notls.log" 2>&1; then
  bad "refuses to serve without TLS or --plaintext"
elif grep -q "plaintext" "$tmp/notls.log"; then ok "refuses to serve without TLS or --plaintext"
else bad "refuses to serve without TLS or --plaintext: $(cat "$tmp/notls.log")"; fi

# --- engine server -----------------------------------------------------------------------------
start_server eng --model_repository "$repo" --plaintext || finish
S="--server 127.0.0.1:$eng_port"
if grep -q "model 'broken' failed to load, skipped" "$tmp/eng.log"; then ok "broken model reported"
else bad "broken model reported"; fi
if $client_bin models $S >"$tmp/models.json" 2>"$tmp/err" && python3 - "$tmp/models.json" <<'PY'
import json, sys
m = {x["name"]: x for x in json.load(open(sys.argv[1]))}
assert set(m) == {"broken", "m1", "m2", "tok"}, m.keys()
assert m["broken"]["state"] == "FAILED" and "config" in m["broken"]["error"], m["broken"]
assert m["m1"]["state"] == "READY" and m["m1"]["n_layers"] == 3 and m["m1"]["vocab_size"] == 96
assert m["m1"]["architecture"] == "mamba1" and m["m2"]["architecture"] == "mamba2"
assert m["m1"]["backend"] == "engine"
PY
then ok "ListModels: ready models and the failed one"; else bad "ListModels: $(cat "$tmp/err")"; fi
if $client_bin models $S --model m2 | grep -q '"state":"READY"'; then ok "GetModel"
else bad "GetModel"; fi
expect_code "GetModel unknown -> NOT_FOUND" "NOT_FOUND" models $S --model nope
expect_code "Tokenize without tokenizer -> FAILED_PRECONDITION" "FAILED_PRECONDITION" tokenize $S --model m1 --text hi
expect_code "Tokenize unknown model -> NOT_FOUND" "NOT_FOUND" tokenize $S --model nope --text hi
expect_code "Tokenize failed model -> UNAVAILABLE" "UNAVAILABLE" tokenize $S --model broken --text hi
if [ $have_tokenizer = 1 ]; then
  if $client_bin tokenize $S --model tok --text "Hello world" >"$tmp/rt.json" &&
    $client_bin tokenize --tokenizer "$repo/tok/tokenizer.json" --text "Hello world" >"$tmp/lt.json" &&
    cmp -s "$tmp/rt.json" "$tmp/lt.json" && grep -q '"ids":\[12092,1533\]' "$tmp/rt.json"; then
    ok "Tokenize remote == offline"
  else bad "Tokenize remote == offline: $(cat "$tmp/rt.json" "$tmp/lt.json")"; fi
  expect_code "text beyond the model vocabulary -> INVALID_ARGUMENT" "outside the model's vocabulary" \
    explain $S --model tok --text "Hello world" --methods latim-l1
fi
if [ "$($client_bin health $S)" = SERVING ]; then ok "health '' SERVING"; else bad "health ''"; fi
if [ "$($client_bin health $S --service mamba_explain.v1.Explainer)" = SERVING ]; then
  ok "health service SERVING"; else bad "health service"; fi
if [ "$($client_bin health $S --service mamba_explain.v1.Explainer/m1)" = SERVING ]; then
  ok "health per model SERVING"; else bad "health per model"; fi
expect_code "health of the failed model NOT_SERVING" "NOT_SERVING" health $S --service mamba_explain.v1.Explainer/broken
expect_code "health unknown service NOT_FOUND" "NOT_FOUND" health $S --service nope
expect_code "Explain unknown model -> NOT_FOUND" "NOT_FOUND" explain $S --model nope --ids 1,2 --methods latim-l1
expect_code "Explain token id beyond vocab -> INVALID_ARGUMENT" "token_ids[1]=96 not in [0, 96)" \
  explain $S --model m1 --ids 1,96 --methods latim-l1
curl -s "http://127.0.0.1:$eng_mport/metrics" >"$tmp/metrics.txt"
if python3 "$here/check_metrics.py" "$tmp/metrics.txt" mamba_explain_requests_total \
  mamba_explain_model_ready >"$tmp/err" 2>&1 &&
  grep -q 'mamba_explain_requests_total{code="NOT_FOUND",method="GetModel",model="nope"} 1' "$tmp/metrics.txt" &&
  grep -q 'mamba_explain_model_ready{model="broken"} 0' "$tmp/metrics.txt"; then
  ok "metrics parse as Prometheus text, count by method/model/code"
else bad "metrics: $(cat "$tmp/err"; head -c 600 "$tmp/metrics.txt")"; fi
kill -TERM "$eng_pid"; wait "$eng_pid"; eng_rc=$?
if [ $eng_rc = 0 ]; then ok "engine server exits 0 on SIGTERM"; else bad "engine server rc=$eng_rc"; fi

# --- synthetic server: Explain -----------------------------------------------------------------
start_server syn --model_repository "$srepo" --plaintext --backend synthetic --max_queue_delay_ms 0 \
  --max_tokens 700 --max_matrix_rows 20000 || finish
S="--server 127.0.0.1:$syn_port"
E="explain $S --model deep --quiet"
ids=$(python3 -c 'print(",".join(str((7 * i + 3) % 96) for i in range(24)))')
if $client_bin $E --ids "$ids" --methods synthetic-decay,synthetic-logit --layers 5,1,3 --dense \
  --json "$tmp/dense.json" --stream-log "$tmp/stream.log" 2>"$tmp/err" && python3 - "$tmp/stream.log" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
kinds = [l["kind"] for l in lines]
assert kinds[0] == "header" and kinds[-1] == "summary", kinds
assert kinds.count("header") == 1 and kinds.count("summary") == 1, kinds
layers = [l["layer"] for l in lines if l["kind"] == "layer_result"]
assert layers == sorted(layers) and set(layers) == {1, 3, 5}, layers
assert kinds.count("token_scores") == 3, kinds
PY
then ok "stream order: header first, layers increasing, summary last"
else bad "stream order: $(cat "$tmp/err")"; fi
for mode in "--threshold 0.3" "--top-k 3" "--mass 0.9"; do
  if $client_bin $E --ids "$ids" --methods synthetic-decay --layers 5,1,3 $mode --json "$tmp/sparse.json" \
    --stream-log "$tmp/sparse.log" 2>"$tmp/err" &&
    python3 - "$tmp/dense.json" "$tmp/sparse.json" "$tmp/sparse.log" $mode <<'PY'
import json, sys
dense, sparse = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert all(json.loads(l).get("encoding", "csr") == "csr" for l in open(sys.argv[3]))
mode, arg = sys.argv[4], float(sys.argv[5])
D = {(r["method"], r["layer"]): r["matrix"] for r in dense["results"]}
assert len(sparse["results"]) == 3
for r in sparse["results"]:
    for drow, srow in zip(D[(r["method"], r["layer"])], r["matrix"]):
        mx = max(abs(v) for v in drow)
        order = sorted(range(len(drow)), key=lambda j: (-abs(drow[j]), j))
        if mode == "--threshold":
            want = [v if abs(v) >= arg * mx else 0.0 for v in drow]
        elif mode == "--top-k":
            keep = set(order[:int(arg)])
            want = [v if j in keep else 0.0 for j, v in enumerate(drow)]
        else:
            total, acc, keep = sum(abs(v) for v in drow), 0.0, set()
            for j in order:
                if acc >= arg * total - 1e-5 * total: break
                keep.add(j); acc += abs(drow[j])
            want = [v if j in keep else 0.0 for j, v in enumerate(drow)]
        assert srow == want, (mode, srow, want)
    assert 0 < r["kept_mass"] <= 1
PY
  then ok "CSR ($mode) equals the sparsified dense matrix"
  else bad "CSR ($mode): $(tail -c 600 "$tmp/err")"; fi
done
long=$(python3 -c 'print(",".join(str((5 * i + 1) % 96) for i in range(600)))')
if $client_bin $E --ids "$long" --methods synthetic-decay --layers 0 --dense --json "$tmp/ld.json" \
  --stream-log "$tmp/ld.log" 2>"$tmp/err" &&
  $client_bin $E --ids "$long" --methods synthetic-decay --layers 0 --threshold 0 --json "$tmp/ls.json" \
  --stream-log "$tmp/ls.log" 2>>"$tmp/err" && python3 - "$tmp/ld.json" "$tmp/ls.json" "$tmp/ld.log" "$tmp/ls.log" <<'PY'
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a["results"][0]["matrix"] == b["results"][0]["matrix"]
for log in sys.argv[3:5]:
    blocks = [json.loads(l) for l in open(log) if '"layer_result"' in l]
    assert len(blocks) >= 2, len(blocks)
    assert all(x["bytes"] <= 1 << 20 for x in blocks), [x["bytes"] for x in blocks]
    assert [x["last_block"] for x in blocks] == [False] * (len(blocks) - 1) + [True]
PY
then ok "600x600 layers split into messages <= 1 MiB, dense == CSR"
else bad "message split: $(tail -c 600 "$tmp/err")"; fi
expect_code "layer out of range -> INVALID_ARGUMENT" "layers[1]=40 not in [0, 40)" $E --ids 1,2 --methods synthetic-decay --layers 0,40
expect_code "unknown method -> INVALID_ARGUMENT" "methods[0]='nope' is not supported" $E --ids 1,2 --methods nope
expect_code "text and ids -> client error" "exactly one of --text and --ids" $E --ids 1 --text a --methods synthetic-decay
expect_code "bad top-k -> INVALID_ARGUMENT" "sparsity.top_k=0" $E --ids 1,2 --methods synthetic-decay --top-k 0
expect_code "priority out of range -> INVALID_ARGUMENT" "priority=12" $E --ids 1,2 --methods synthetic-decay --priority 12
toolong=$(python3 -c 'print(",".join(["1"] * 701))')
expect_code "too many tokens -> RESOURCE_EXHAUSTED" "RESOURCE_EXHAUSTED: input has 701 tokens" $E --ids "$toolong" --methods synthetic-decay
expect_code "layers x rows budget -> RESOURCE_EXHAUSTED" "matrix rows" $E --ids "$long" --methods synthetic-decay
kill -TERM "$syn_pid"; wait "$syn_pid"

# --- batching: concurrent requests share a batch; results equal solo results ------------------
start_server bat --model_repository "$srepo" --plaintext --backend synthetic --max_batch_size 4 \
  --max_queue_delay_ms 30000 || finish
for i in 0 1 2 3; do
  bids=$(python3 -c "print(','.join(str((11 * j + $i) % 96) for j in range(10 + $i)))")
  $client_bin explain --server 127.0.0.1:$bat_port --model deep --quiet --ids "$bids" \
    --methods synthetic-decay --layers 0,7 --json "$tmp/b$i.json" 2>"$tmp/b$i.err" &
  bpids[$i]=$!
done
for i in 0 1 2 3; do wait "${bpids[$i]}"; done
kill -TERM "$bat_pid"; wait "$bat_pid"
start_server solo --model_repository "$srepo" --plaintext --backend synthetic --max_batch_size 1 || finish
for i in 0 1 2 3; do
  bids=$(python3 -c "print(','.join(str((11 * j + $i) % 96) for j in range(10 + $i)))")
  $client_bin explain --server 127.0.0.1:$solo_port --model deep --quiet --ids "$bids" \
    --methods synthetic-decay --layers 0,7 --json "$tmp/s$i.json" 2>"$tmp/s$i.err"
done
if python3 - "$tmp" <<'PY'
import json, sys
for i in range(4):
    b = json.load(open(f"{sys.argv[1]}/b{i}.json")); s = json.load(open(f"{sys.argv[1]}/s{i}.json"))
    assert b["summary"]["batch_size"] > 1, b["summary"]
    assert s["summary"]["batch_size"] == 1, s["summary"]
    assert b["results"] == s["results"], i
PY
then ok "concurrent requests batched (batch_size > 1) with unchanged results"
else bad "batching: $(cat "$tmp"/b*.err)"; fi

# --- slow synthetic server: deadlines, cancellation, queue full --------------------------------
# 40 layers x 500 ms: a running request stays running for the whole check, even on a loaded CI.
start_server slow --model_repository "$srepo" --plaintext --backend synthetic --synthetic_layer_delay_ms 500 \
  --max_batch_size 1 --max_queue 1 --max_queue_delay_ms 0 || finish
S="--server 127.0.0.1:$slow_port"
expect_code "deadline -> DEADLINE_EXCEEDED" "DEADLINE_EXCEEDED" explain $S --model deep --ids 1,2,3 --methods synthetic-decay --timeout 0.5 --quiet
# Cancellation: kill a client mid-stream; the server must stop computing that request.
$client_bin explain $S --model deep --ids 1,2,3 --methods synthetic-decay --quiet --stream-log "$tmp/c.log" >/dev/null 2>&1 &
cpid=$!
for _ in $(seq 1 300); do grep -q layer_result "$tmp/c.log" 2>/dev/null && break; sleep 0.05; done
{ kill -9 "$cpid"; wait "$cpid"; } 2>/dev/null
for _ in $(seq 1 300); do
  [ "$(metric "$slow_mport" 'mamba_explain_requests_total{code="CANCELLED"')" = 1 ] && break; sleep 0.1
done
layers=$(metric "$slow_mport" 'mamba_explain_layer_results_total{model="deep"}')
if [ "$(metric "$slow_mport" 'mamba_explain_requests_total{code="CANCELLED"')" = 1 ] &&
  python3 -c "import sys; sys.exit(0 if float('$layers') < 40 else 1)"; then
  ok "client cancellation stops work (CANCELLED, $layers of 40 layers computed)"
else bad "cancellation: layers=$layers"; fi
# Queue full: one running, one queued, the third is rejected with a retry hint.
$client_bin explain $S --model deep --ids 1,2,3 --methods synthetic-decay --quiet --stream-log "$tmp/q1.log" >/dev/null 2>&1 &
q1=$!
for _ in $(seq 1 300); do grep -q layer_result "$tmp/q1.log" 2>/dev/null && break; sleep 0.05; done
$client_bin explain $S --model deep --ids 1,2,3 --methods synthetic-decay --quiet >/dev/null 2>&1 &
q2=$!
for _ in $(seq 1 300); do
  [ "$(metric "$slow_mport" 'mamba_explain_pending_requests{model="deep"}')" = 1 ] && break; sleep 0.05
done
expect_code "queue full -> RESOURCE_EXHAUSTED with retry hint" "retry after" explain $S --model deep --ids 1,2 --methods synthetic-decay --quiet
kill -9 "$q1" "$q2" 2>/dev/null
wait "$q1" "$q2" 2>/dev/null
kill -TERM "$slow_pid"; wait "$slow_pid"
finish
