#!/usr/bin/env bash
# The reactor/drain part of the TSan run of docs/reliability.md ("Sanitizers"): mamba-explaind of a
# -fsanitize=thread build (synthetic backend) under a slow reader that cancels, a stalled reader,
# a cancel storm, Tokenize, malformed bytes and SIGTERM with a stream open. TSan reports go to
# /tmp/tsan_srv.<pid>; the server's exit code is 66 when there are any. Not a ctest (Debian's
# Abseil and gRPC are not instrumented, so the reports are not actionable yet).
# usage: tests/e2e/tsan_server_run.sh BUILD_TSAN_DIR
set -u
B=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
R=$(mktemp -d)
mkdir -p $R/deep
python3 - "$here/../fixtures/mamba1_bias_tied/config.json" $R/deep <<'PY'
import json,sys
c=json.load(open(sys.argv[1])); c["num_hidden_layers"]=12; json.dump(c,open(sys.argv[2]+"/config.json","w"))
PY
export TSAN_OPTIONS="halt_on_error=0:log_path=/tmp/tsan_srv"
rm -f /tmp/tsan_srv.*
$B/mamba-explaind --host 127.0.0.1 --port 0 --metrics_port 0 --model_repository $R --plaintext --backend synthetic --synthetic_layer_delay_ms 20 --drain_grace_s 1 --stop_grace_s 3 --stream_stall_timeout_s 2 > $R/srv.log 2>&1 &
pid=$!
for i in $(seq 1 600); do grep -q grpc_port= $R/srv.log && break; sleep 0.1; done
port=$(sed -n 's/.*grpc_port=\([0-9]*\).*/\1/p' $R/srv.log | head -1)
S="--server 127.0.0.1:$port"
unset TSAN_OPTIONS
P=$B/tests/grpc_probe
$P stall $S --model deep --ids 256 --stall_s 3 --cancel > $R/a.out 2>&1 &
$P stall $S --model deep --ids 1024 --stall_s 5 > $R/b.out 2>&1 &
$P storm $S --model deep --calls 30 --ids 16 --cancel_ms_max 300 > $R/c.out 2>&1
$P tokenize $S --model deep --text_bytes 10 > $R/d.out 2>&1
$P raw $S --rpc /mamba_explain.v1.Explainer/Explain --hex ffffffff > $R/e.out 2>&1
$P stall $S --model deep --ids 64 --stall_s 0 > $R/f.out 2>&1 &
sleep 0.5
kill -TERM $pid; wait $pid; echo "server exit $?"
wait
cat $R/a.out $R/b.out $R/c.out $R/f.out | grep -E 'code=|calls='
ls /tmp/tsan_srv.* 2>/dev/null && grep -c 'WARNING: ThreadSanitizer' /tmp/tsan_srv.*
