#!/usr/bin/env bash
# GPU host: mamba-explaind on CUDA serving the paper-scale Mamba-2 copy model (paper/, made by
# tools/gpu_paper_train.sh) and the committed demo model, explained through the gRPC client; the
# client's wall time is measured three times per model (first = warm server, not cold start).
# Civetweb (the metrics endpoint) fails to start in the GPU host's gVisor sandbox on any port
# ("null context when constructing CivetServer"); run it there with METRICS_PORT=-1.
#   source .device/env.sh && bash tools/gpu_serve_check.sh
set -uo pipefail
# The carried Debian packages live under /opt/deb (.device/env.sh); their .pc files say /usr.
[ -d /opt/deb ] && export PKG_CONFIG_SYSROOT_DIR=/opt/deb
B=./build-gpu
# The service on the GPU: a paper-scale model and the committed demo model.
repo=$(mktemp -d)
ln -s "$PWD/paper/copy-mamba2-silu-paper" "$repo/copy-mamba2-paper"
ln -s "$PWD/models/copy-mamba1-silu" "$repo/copy-mamba1-silu"
$B/mamba-explaind --model_repository "$repo" --follow_external_symlinks --device cuda \
  --host 127.0.0.1 --port 0 \
  --metrics_port "${METRICS_PORT:-9464}" --metrics_address 127.0.0.1 --plaintext 2>paper/server.log &
spid=$!
port=
for _ in $(seq 1 900); do
  port=$(sed -n 's/.*grpc_port=\([0-9]*\).*/\1/p' paper/server.log); [ -n "$port" ] && break
  kill -0 $spid 2>/dev/null || break; sleep 0.1
done
echo "server port: ${port:-none}"; cat paper/server.log
S=127.0.0.1:$port
$B/mamba-explain health --server $S
$B/mamba-explain models --server $S | tee paper/models.json | head -c 600; echo
ids16=$(python3 -c 'import random; r = random.Random(3); s = [r.randint(2, 15) for _ in range(16)]
print(",".join(map(str, [0] + s + [1] + s[:15])))')
ids50=$(python3 -c 'import random; r = random.Random(5); s = [r.randint(2, 31) for _ in range(50)]
print(",".join(map(str, [0] + s + [1] + s[:49])))')
for i in 1 2 3; do
  /usr/bin/time -f "client wall %e s" $B/mamba-explain explain --server $S --model copy-mamba1-silu \
    --ids "$ids16" --method latim-l2,latim-alti,latim-alti-logit --json paper/serve-small.json \
    --html paper/serve-small.html 2>&1 | tail -c 300
done
for i in 1 2 3; do
  /usr/bin/time -f "client wall %e s" $B/mamba-explain explain --server $S --model copy-mamba2-paper \
    --ids "$ids50" --method latim-l2,latim-alti,latim-alti-logit --json paper/serve-paper.json \
    --html paper/serve-paper.html 2>&1 | tail -c 400
done
python3 -c 'import json; d=json.load(open("paper/serve-paper.json")); print("summary:", d.get("summary"))'
curl -s 127.0.0.1:${METRICS_PORT:-9464}/metrics | grep -E "^mamba_explain_(requests_total|gpu_memory|batch_size_count)" | head -20
kill -TERM $spid; wait $spid
