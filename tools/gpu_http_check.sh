#!/usr/bin/env bash
# GPU host: does the HTTP gateway (cpp-httplib) start in the gVisor sandbox where civetweb does
# not, and does an Explain stream over it match the gRPC result on CUDA? Starts mamba-explaind on
# the committed copy model with --http_port 0 (metrics off: civetweb), then curl: /v1/models,
# an SSE and an NDJSON explanation compared value by value with the gRPC client's
# (tests/e2e/compare_http.py), and the console page.
# Needs the build with libcpp-httplib-dev (add it and libcpp-httplib0.11 to the host's packages).
#   source .device/env.sh && bash tools/gpu_http_check.sh
set -uo pipefail
# The carried Debian packages live under /opt/deb (.device/env.sh); their .pc files say /usr.
[ -d /opt/deb ] && export PKG_CONFIG_SYSROOT_DIR=/opt/deb
B=${B:-./build-gpu}
out=$(mktemp -d)
mkdir -p "$out/repo" && cp -r models/copy-mamba1-silu "$out/repo/copy"
$B/mamba-explaind --model_repository "$out/repo" --device cuda --host 127.0.0.1 --port 0 \
  --http_port 0 --metrics_port -1 --plaintext 2>"$out/server.log" &
spid=$!
for _ in $(seq 1 900); do
  grep -q "grpc_port=" "$out/server.log" && break
  kill -0 $spid 2>/dev/null || break; sleep 0.1
done
cat "$out/server.log"
G=$(sed -n 's/.*grpc_port=\([0-9]*\).*/\1/p' "$out/server.log")
H=$(sed -n 's/.*http_port=\([-0-9]*\).*/\1/p' "$out/server.log")
echo "grpc_port=$G http_port=$H"
curl -sS "http://127.0.0.1:$H/v1/models" | head -c 400; echo
ids=5,7,3,2,9,11,8,15,5,7,3,2
$B/mamba-explain explain --server 127.0.0.1:$G --model copy --ids $ids \
  --method latim-l2,latim-alti-logit,grad-x-input --dense --json "$out/grpc.json" --quiet
req='{"model":"copy","tokenIds":['$ids'],"methods":["latim-l2","latim-alti-logit","grad-x-input"],"sparsity":{"mode":"DENSE"}}'
curl -sS -N -d "$req" "http://127.0.0.1:$H/v1/explain" >"$out/sse.txt"
curl -sS -N -d "$req" "http://127.0.0.1:$H/v1/explain?format=ndjson" >"$out/nd.txt"
python3 tests/e2e/compare_http.py "$out/grpc.json" "$out/sse.txt" "$out/nd.txt" && echo "HTTP == gRPC on CUDA"
curl -sS -o /dev/null -w "console: HTTP %{http_code} %{size_download} bytes\n" "http://127.0.0.1:$H/"
kill -TERM $spid; wait $spid
rm -rf "$out"
