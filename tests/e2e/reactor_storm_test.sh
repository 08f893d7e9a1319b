#!/usr/bin/env bash
# The gRPC reactor under concurrent abuse, for tools/tsan_check.sh (ThreadSanitizer build; it
# passes on any build): mamba-explaind with the synthetic backend (12 layers, 20 ms each) while
# a reader stalls 3 s and cancels, another stalls 5 s on 1 024 ids (past the 2 s stall timeout),
# a storm of 30 calls is cancelled or expires within 300 ms, a Tokenize and malformed bytes come
# in, then SIGTERM with a stream open. Every call must end with OK, CANCELLED, DEADLINE_EXCEEDED,
# RESOURCE_EXHAUSTED or UNAVAILABLE, and the server must drain and exit 0.
# usage: reactor_storm_test.sh MAMBA_EXPLAIND GRPC_PROBE
set -u
server_bin=$1
probe_bin=$2
client_bin=$probe_bin  # lib.sh's expect_code is not used here
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
mkdir -p "$tmp/repo/deep"
python3 - "$here/../fixtures/mamba1_bias_tied/config.json" "$tmp/repo/deep/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["num_hidden_layers"] = 12
json.dump(c, open(sys.argv[2], "w"))
PY
start_server srv --model_repository "$tmp/repo" --plaintext --backend synthetic \
  --synthetic_layer_delay_ms 20 --drain_grace_s 1 --stop_grace_s 3 --stream_stall_timeout_s 2 ||
  finish
P="--server 127.0.0.1:$srv_port"
"$probe_bin" stall $P --model deep --ids 256 --stall_s 3 --cancel >"$tmp/a.out" 2>&1 &
a=$!
"$probe_bin" stall $P --model deep --ids 1024 --stall_s 5 >"$tmp/b.out" 2>&1 &
b=$!
"$probe_bin" storm $P --model deep --calls 30 --ids 16 --cancel_ms_max 300 >"$tmp/c.out" 2>&1
if grep -qE '^calls=30 .* other=0' "$tmp/c.out"; then ok "storm: $(cat "$tmp/c.out")"
else bad "storm: $(tail -c 400 "$tmp/c.out")"; fi
"$probe_bin" tokenize $P --model deep --text_bytes 10 >"$tmp/d.out" 2>&1
if grep -q 'code=9 ' "$tmp/d.out"; then ok "Tokenize without tokenizer: FAILED_PRECONDITION"
else bad "Tokenize: $(tail -c 300 "$tmp/d.out")"; fi
"$probe_bin" raw $P --rpc /mamba_explain.v1.Explainer/Explain --hex ffffffff >"$tmp/e.out" 2>&1
if grep -q 'code=3 ' "$tmp/e.out"; then ok "malformed bytes: INVALID_ARGUMENT"
else bad "malformed bytes: $(tail -c 300 "$tmp/e.out")"; fi
wait "$a" "$b"
# 1: CANCELLED (the client's own cancel), 8: RESOURCE_EXHAUSTED (cut off by the stall timeout),
# 0: read on after the stall and completed.
for f in a b; do
  if grep -qE '^code=(0|1|8) ' "$tmp/$f.out"; then ok "stalled reader $f: $(grep -m1 '^code=' "$tmp/$f.out")"
  else bad "stalled reader $f: $(tail -c 300 "$tmp/$f.out")"; fi
done
"$probe_bin" stall $P --model deep --ids 64 --stall_s 0 >"$tmp/f.out" 2>&1 &
f=$!
sleep 0.5
kill -TERM "$srv_pid"
if wait "$srv_pid"; then ok "server drains and exits 0 on SIGTERM with a stream open"
else bad "server exit $? after SIGTERM: $(tail -c 600 "$tmp/srv.log")"; fi
wait "$f"
if grep -qE '^code=(0|1|4|14) ' "$tmp/f.out"; then ok "stream open at SIGTERM: $(grep -m1 '^code=' "$tmp/f.out")"
else bad "stream open at SIGTERM: $(tail -c 300 "$tmp/f.out")"; fi
finish
