#!/usr/bin/env bash
# End-to-end reliability and security checks of mamba-explaind (issue 12; docs/reliability.md),
# with a misbehaving raw gRPC client (grpc_probe) against the real server on 127.0.0.1 with the
# synthetic backend (no model compute, so no check depends on CPU speed):
#   backpressure: three clients that stop reading a 240 MiB dense explanation do not grow the
#   server's RSS by more than 64 MB (unbounded queues: +150 MB within the same 7 s, growing),
#   the model still serves after they cancel, and a client that reads nothing for
#   --stream_stall_timeout_s is cut off;
#   metric labels: unauthenticated and unknown model names never become label values;
#   /metrics answers with two idle connections open; echo bounds (status messages <= 1 KiB,
#   request_id <= 128 bytes, Header <= 1 MiB); the retry hint of a full queue covers the running
#   batch; flag ranges; paths and symlinks in the repository; text size limit; health reveals
#   no model names under auth; malformed protobuf gets INVALID_ARGUMENT with a message.
# Waits are bounded polls; the only timing-dependent bound (the retry hint) has a 2x margin.
# Under a sanitizer (tools/tsan_check.sh) the server is slower and its shadow memory counts as RSS:
# RELIABILITY_RSS_BOUND_MB (64), RELIABILITY_STALL_S (how long the cut-off client stalls, 6) and
# RELIABILITY_LAYER_DELAY_MS (the running batch of the retry-hint check, 100 ms a layer) loosen
# those checks there; nothing else changes.
# usage: reliability_test.sh MAMBA_EXPLAIND GRPC_PROBE
set -u
rss_bound_mb=${RELIABILITY_RSS_BOUND_MB:-64}
stall_s=${RELIABILITY_STALL_S:-6}
layer_delay_ms=${RELIABILITY_LAYER_DELAY_MS:-100}
server_bin=$1
probe_bin=$2
client_bin=/bin/false  # lib.sh's expect_code is not used here
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

# SIGTERM, then the server must drain and exit 0 (a sanitizer report at exit fails here too).
stop_server() {
  local pid_var=${1}_pid
  kill -TERM "${!pid_var}"
  if wait "${!pid_var}"; then ok "server $1 exits 0 on SIGTERM"
  else bad "server $1 exit $?: $(tail -5 "$tmp/$1.log")"; fi
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# field VALUE of "key=value" in file $2 (first match)
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" "$2" | head -1; }

srepo=$tmp/srepo
mkdir -p "$srepo/deep" "$srepo/wide"
python3 - "$here/../fixtures/mamba1_bias_tied/config.json" "$srepo" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
for name, layers in (("deep", 40), ("wide", 60)):
    c["num_hidden_layers"] = layers
    json.dump(c, open(f"{sys.argv[2]}/{name}/config.json", "w"))
PY

# --- backpressure: slow readers -----------------------------------------------------------------
start_server slow --model_repository "$srepo" --plaintext --backend synthetic \
  --max_queue_delay_ms 0 --max_matrix_rows 1000000 || finish
base=$(rss_kb "$slow_pid")
probes=()
for i in 1 2 3; do
  # 1024 ids x 60 layers, dense fp32: 4 MiB per layer, 240 MiB per stream.
  "$probe_bin" stall --server "127.0.0.1:$slow_port" --model wide --ids 1024 --stall_s 8 --cancel \
    >"$tmp/stall$i.out" 2>&1 &
  probes+=($!)
done
peak=$base
for _ in $(seq 1 60); do  # 6 s of samples while the readers stall
  r=$(rss_kb "$slow_pid")
  [ "$r" -gt "$peak" ] && peak=$r
  sleep 0.1
done
wait "${probes[@]}"
growth_mb=$(((peak - base) / 1024))
echo "slow readers: server RSS base $((base / 1024)) MB, peak $((peak / 1024)) MB (+$growth_mb MB)"
if grep -q stalling "$tmp/stall1.out" && [ "$growth_mb" -lt "$rss_bound_mb" ]; then
  ok "3 slow readers of 240 MiB each: server RSS grows by $growth_mb MB (< $rss_bound_mb)"
else bad "slow readers: RSS +$growth_mb MB; $(cat "$tmp/stall1.out")"; fi
# The cancelled streams released the worker: a full explanation now completes.
"$probe_bin" stall --server "127.0.0.1:$slow_port" --model wide --ids 64 --stall_s 0 >"$tmp/after.out" 2>&1
if [ "$(field code "$tmp/after.out")" = 0 ] && [ "$(field messages "$tmp/after.out")" -ge 62 ]; then
  ok "after the slow readers cancelled, a full explanation completes"
else bad "after cancel: $(cat "$tmp/after.out")"; fi
sleep 1
after=$(rss_kb "$slow_pid")
echo "slow readers: server RSS after cancel $((after / 1024)) MB"
stop_server slow

# A client that reads nothing for the stall timeout is cut off; the model keeps serving others.
start_server stl --model_repository "$srepo" --plaintext --backend synthetic \
  --max_queue_delay_ms 0 --max_matrix_rows 1000000 --stream_stall_timeout_s 2 --max_batch_size 1 || finish
"$probe_bin" stall --server "127.0.0.1:$stl_port" --model wide --ids 1024 --stall_s "$stall_s" >"$tmp/stl.out" 2>&1 &
spid=$!
for _ in $(seq 1 100); do grep -q stalling "$tmp/stl.out" && break; sleep 0.05; done
"$probe_bin" stall --server "127.0.0.1:$stl_port" --model deep --ids 8 --stall_s 0 --deadline_s 20 \
  >"$tmp/other.out" 2>&1
wait $spid
if [ "$(field code "$tmp/stl.out")" = 1 ] && [ "$(field code "$tmp/other.out")" = 0 ]; then
  ok "a client that stops reading is cancelled after --stream_stall_timeout_s; others are served"
else bad "stall timeout: $(cat "$tmp/stl.out") / $(cat "$tmp/other.out")"; fi
stop_server stl

# --- metric labels, health and auth ------------------------------------------------------------
echo secret-token >"$tmp/tokens"
start_server lab --model_repository "$srepo" --plaintext --backend synthetic \
  --auth_tokens_file "$tmp/tokens" || finish
P="--server 127.0.0.1:$lab_port"
for i in $(seq 1 30); do
  "$probe_bin" echo $P --model "anon-model-$i" >/dev/null 2>&1
  "$probe_bin" echo $P --model "authed-model-$i" --token secret-token >/dev/null 2>&1
  "$probe_bin" tokenize $P --model "anon-tok-$i" >/dev/null 2>&1
done
for i in 1 2 3; do "$probe_bin" echo $P --model_bytes 1048576 --token secret-token >/dev/null 2>&1; done
"$probe_bin" echo $P --model deep --token secret-token >/dev/null 2>&1
curl -s --max-time 10 "http://127.0.0.1:$lab_mport/metrics" >"$tmp/labels.txt"
bytes=$(wc -c <"$tmp/labels.txt")
if ! grep -q -e anon- -e authed- -e mmmmmmmm "$tmp/labels.txt" &&
  grep -q 'code="UNAUTHENTICATED",method="Explain",model=""' "$tmp/labels.txt" &&
  grep -q 'code="NOT_FOUND",method="Explain",model="unknown"' "$tmp/labels.txt" &&
  grep -q 'code="OK",method="Explain",model="deep"' "$tmp/labels.txt" && [ "$bytes" -lt 40000 ]; then
  ok "client model names never become label values (/metrics $bytes bytes after 93 odd names)"
else bad "labels: $(grep -c requests_total "$tmp/labels.txt") series, $bytes bytes"; fi
# grpc.health.v1.Health/Check {service: "mamba_explain.v1.Explainer/deep"} without a token.
svc=$(printf 'mamba_explain.v1.Explainer/deep' | od -An -tx1 | tr -d ' \n')
hc="0a$(printf '%02x' 31)$svc"
"$probe_bin" raw $P --rpc /grpc.health.v1.Health/Check --hex "$hc" >"$tmp/h1.out" 2>&1
if [ "$(field code "$tmp/h1.out")" = 5 ]; then ok "with tokens, health does not reveal model names"
else bad "per-model health under auth: $(cat "$tmp/h1.out")"; fi
stop_server lab

# --- echo bounds, malformed requests, text limit, metrics endpoint -----------------------------
start_server ech --model_repository "$srepo" --plaintext --backend synthetic --max_tokens 300000 \
  --max_matrix_rows 100000000 --max_text_bytes 1000 || finish
P="--server 127.0.0.1:$ech_port"
"$probe_bin" raw $P --rpc /grpc.health.v1.Health/Check --hex "$hc" >"$tmp/h2.out" 2>&1
if [ "$(field code "$tmp/h2.out")" = 0 ]; then ok "without tokens, per-model health is published"
else bad "per-model health without auth: $(cat "$tmp/h2.out")"; fi
check_echo() {  # NAME WANT_CODE PROBE_ARGS...
  local name=$1 want=$2
  shift 2
  "$probe_bin" echo $P "$@" >"$tmp/echo.out" 2>&1
  local code mb
  code=$(field code "$tmp/echo.out")
  mb=$(field message_bytes "$tmp/echo.out")
  if [ "$code" = "$want" ] && [ "$mb" -le 1024 ]; then ok "$name -> code $code, message $mb bytes"
  else bad "$name: $(head -c 300 "$tmp/echo.out")"; fi
}
check_echo "1 MiB model name" 5 --model_bytes 1048576
check_echo "1 MiB method name" 3 --method_bytes 1048576
check_echo "1 MiB lrp_rules" 3 --lrp_bytes 1048576
"$probe_bin" echo $P --request_id_bytes 1048576 >"$tmp/rid.out" 2>&1
if [ "$(field code "$tmp/rid.out")" = 0 ] && [ "$(field request_id_bytes "$tmp/rid.out")" -le 128 ]; then
  ok "1 MiB request_id is echoed truncated ($(field request_id_bytes "$tmp/rid.out") bytes)"
else bad "request_id echo: $(cat "$tmp/rid.out")"; fi
# 200 000 ids: their ids and token strings (~1.6 MB) pass the proto's 1 MiB promise for one
# message, so the Header carries the first ones and InputTokens messages the rest.
"$probe_bin" echo $P --ids 200000 --last >"$tmp/big.out" 2>&1
if [ "$(field code "$tmp/big.out")" = 0 ] && [ "$(field ids_received "$tmp/big.out")" = 200000 ] &&
  [ "$(field ids_match "$tmp/big.out")" = 1 ] && [ "$(field header_bytes "$tmp/big.out")" -le 1048576 ] &&
  [ "$(field max_message_bytes "$tmp/big.out")" -le 1048576 ] &&
  [ "$(field input_tokens_messages "$tmp/big.out")" -ge 1 ]; then
  ok "200 000 ids: Header + $(field input_tokens_messages "$tmp/big.out") InputTokens messages, each <= 1 MiB"
else bad "big input: $(head -c 300 "$tmp/big.out")"; fi
"$probe_bin" tokenize $P --model deep --text_bytes 5000 >"$tmp/tok.out" 2>&1
if [ "$(field code "$tmp/tok.out")" = 8 ] && grep -q max_text_bytes "$tmp/tok.out"; then
  ok "Tokenize of text over --max_text_bytes -> RESOURCE_EXHAUSTED before tokenizing"
else bad "text limit: $(cat "$tmp/tok.out")"; fi
# Explain checks the same limit before its text reaches the tokenizer (or even the missing-tokenizer
# check: this synthetic model has no tokenizer.json, so a tokenizer run would be FAILED_PRECONDITION).
"$probe_bin" echo $P --model deep --text_bytes 5000 >"$tmp/etok.out" 2>&1
if [ "$(field code "$tmp/etok.out")" = 8 ] && grep -q max_text_bytes "$tmp/etok.out"; then
  ok "Explain of text over --max_text_bytes -> RESOURCE_EXHAUSTED before tokenizing"
else bad "Explain text limit: $(cat "$tmp/etok.out")"; fi
for rpc in Tokenize GetModel Explain; do
  "$probe_bin" raw $P --rpc "/mamba_explain.v1.Explainer/$rpc" --hex ffffffff >"$tmp/raw.out" 2>&1
  if [ "$(field code "$tmp/raw.out")" = 3 ] && [ "$(field message_bytes "$tmp/raw.out")" -gt 0 ]; then
    ok "malformed protobuf to $rpc -> INVALID_ARGUMENT with a message"
  else bad "malformed $rpc: $(cat "$tmp/raw.out")"; fi
done
n=$(curl -s --max-time 10 "http://127.0.0.1:$ech_mport/metrics" |
  awk '/^mamba_explain_requests_total/ && /INVALID_ARGUMENT/ && /method="Tokenize"/ {s += $NF} END {print s + 0}')
if [ "$n" -ge 1 ]; then ok "malformed requests are counted"; else bad "malformed not counted"; fi
# Two idle (half-open) connections must not stall a scrape.
exec 3<>"/dev/tcp/127.0.0.1/$ech_mport" 4<>"/dev/tcp/127.0.0.1/$ech_mport"
if curl -s --max-time 5 "http://127.0.0.1:$ech_mport/metrics" | grep -q mamba_explain_inflight_streams; then
  ok "/metrics answers with two idle connections open"
else bad "/metrics stalled by two idle connections"; fi
exec 3>&- 4>&-
stop_server ech

# --- the retry hint of a full queue ------------------------------------------------------------
start_server rty --model_repository "$srepo" --plaintext --backend synthetic --max_batch_size 1 \
  --max_queue 1 --max_queue_delay_ms 0 --synthetic_layer_delay_ms "$layer_delay_ms" || finish
P="--server 127.0.0.1:$rty_port"
"$probe_bin" stall $P --model deep --ids 4 --stall_s 0 >"$tmp/a.out" 2>&1 &  # 40 x 100 ms (default)
apid=$!
for _ in $(seq 1 100); do grep -q stalling "$tmp/a.out" && break; sleep 0.05; done
sleep 2  # the running batch is ~2 s in
"$probe_bin" stall $P --model deep --ids 4 --stall_s 0 >"$tmp/b.out" 2>&1 &  # queued
bpid=$!
for _ in $(seq 1 100); do grep -q stalling "$tmp/b.out" && break; sleep 0.05; done
"$probe_bin" echo $P --model deep >"$tmp/c.out" 2>&1
hint=$(sed -n 's/.*retry after \([0-9]*\) ms.*/\1/p' "$tmp/c.out" | head -1)
# The queue frees when the running batch ends, ~2 s later; the old hint said 200 ms.
if [ "$(field code "$tmp/c.out")" = 8 ] && [ -n "$hint" ] && [ "$hint" -ge 500 ]; then
  ok "queue full: retry hint $hint ms covers the running batch (~2000 ms left)"
else bad "retry hint: $(cat "$tmp/c.out")"; fi
wait $apid $bpid
stop_server rty

# --- SIGTERM while a computation cannot be interrupted ----------------------------------------
# Each synthetic layer sleeps 8 s without a cancellation point (like a long gradient method). With
# --drain_grace_s 1 --stop_grace_s 1 the server must be gone well before that layer ends.
start_server trm --model_repository "$srepo" --plaintext --backend synthetic --max_queue_delay_ms 0 \
  --synthetic_layer_delay_ms 8000 --drain_grace_s 1 --stop_grace_s 1 || finish
"$probe_bin" stall --server "127.0.0.1:$trm_port" --model deep --ids 4 --stall_s 0 >"$tmp/trm.out" 2>&1 &
for _ in $(seq 1 100); do grep -q stalling "$tmp/trm.out" && break; sleep 0.05; done
sleep 0.3
kill -TERM "$trm_pid"
start=$SECONDS
for _ in $(seq 1 50); do kill -0 "$trm_pid" 2>/dev/null || break; sleep 0.1; done
if ! kill -0 "$trm_pid" 2>/dev/null && wait "$trm_pid"; then
  ok "SIGTERM: exit 0 after $((SECONDS - start)) s with an 8 s uninterruptible layer running"
else bad "SIGTERM with a running layer: still running or failed after $((SECONDS - start)) s"; fi
wait

# --- flags ---------------------------------------------------------------------------------------
check_flag() {  # FLAG...: the server must refuse to start, naming the flag
  if "$server_bin" --model_repository "$srepo" --plaintext --backend synthetic --port 0 \
    --metrics_port -1 "$@" >"$tmp/flag.log" 2>&1; then bad "$*: started"
  elif grep -q -- "${1%%=*}=" "$tmp/flag.log"; then ok "$* refused at start"
  else bad "$*: $(head -c 300 "$tmp/flag.log")"; fi
}
check_flag --port=99999
check_flag --metrics_port=70000
check_flag --max_queue=0
check_flag --max_batch_size=0
if "$server_bin" --help 2>&1 | grep -A3 -- "-metrics_address" | grep -q 'default: "127.0.0.1"'; then
  ok "/metrics binds 127.0.0.1 by default"
else bad "metrics_address default"; fi

# --- repository: paths in errors, symlinks out of the repository -------------------------------
rrepo=$tmp/rrepo
outside=$tmp/outside
mkdir -p "$rrepo/good" "$rrepo/broken" "$rrepo/linkfile" "$outside/m"
cp "$srepo/deep/config.json" "$rrepo/good/"
cp "$srepo/deep/config.json" "$outside/m/"
echo '{"model_type": "mamba", ' >"$rrepo/broken/config.json"
ln -s "$outside/m" "$rrepo/linkdir"
ln -s "$outside/m/config.json" "$rrepo/linkfile/config.json"
ln -s good "$rrepo/inside"  # a symlink that stays inside is fine
start_server rep --model_repository "$rrepo" --plaintext --backend synthetic || finish
"$probe_bin" models --server "127.0.0.1:$rep_port" >"$tmp/models.out" 2>&1
if grep -q "model=broken state=FAILED error=INVALID_ARGUMENT: broken/config.json" "$tmp/models.out" &&
  ! grep -q "$tmp" "$tmp/models.out"; then
  ok "errors name files relative to the repository, not server paths"
else bad "paths in errors: $(cat "$tmp/models.out")"; fi
if grep -q "model=linkdir state=FAILED error=.*outside the model repository" "$tmp/models.out" &&
  grep -q "model=linkfile state=FAILED error=.*outside the model repository" "$tmp/models.out" &&
  grep -q "model=inside state=READY" "$tmp/models.out" &&
  grep -q "model=good state=READY" "$tmp/models.out"; then
  ok "symlinks out of the repository are refused, inside ones followed"
else bad "symlinks: $(cat "$tmp/models.out")"; fi
stop_server rep
start_server rpf --model_repository "$rrepo" --plaintext --backend synthetic \
  --follow_external_symlinks || finish
"$probe_bin" models --server "127.0.0.1:$rpf_port" >"$tmp/models2.out" 2>&1
if grep -q "model=linkdir state=READY" "$tmp/models2.out"; then
  ok "--follow_external_symlinks loads them"
else bad "--follow_external_symlinks: $(cat "$tmp/models2.out")"; fi
stop_server rpf
finish
