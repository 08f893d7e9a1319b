#!/usr/bin/env bash
# GPU host: why the Prometheus endpoint does not start there ("null context when constructing
# CivetServer"). Builds tools/metrics_probe (plain socket, civetweb's mg_start2 with its own
# error text, prometheus::Exposer) and runs it on the addresses mamba-explaind was tried on,
# under strace when available (the failing system call). Then checks that mamba-explaind
# without --metrics_required keeps serving when the exposer fails. Output under $OUT.
#   source .device/env.sh && bash tools/gpu_metrics_probe.sh
set -uo pipefail
# The carried Debian packages live under /opt/deb (.device/env.sh); their .pc files say /usr.
[ -d /opt/deb ] && export PKG_CONFIG_SYSROOT_DIR=/opt/deb
out=${OUT:-/tmp}
cmake -S . -B build-gpu -G Ninja $DEVICE_CMAKE_ARGS >"$out/cmake.log" 2>&1 ||
  { tail -50 "$out/cmake.log"; exit 1; }
cmake --build build-gpu -j16 --target metrics_probe mamba-explaind mamba-explain \
  >"$out/build.log" 2>&1 || { grep -E "error|Error" -A5 "$out/build.log" | head -80; exit 1; }
uname -a; (dmesg 2>/dev/null | grep -i gvisor | head -2) || true
for address in 127.0.0.1:0 127.0.0.1:9464 0.0.0.0:0 "[::1]:0"; do
  echo "===== $address"
  ./build-gpu/metrics_probe "$address" 2>&1 | tee "$out/metrics_probe_${address//[^0-9a-z]/_}.txt"
done
if command -v strace >/dev/null; then
  strace -f -e trace=network,pipe,pipe2,socketpair,eventfd2 -o "$out/metrics_probe.strace" \
    ./build-gpu/metrics_probe 127.0.0.1:0 >/dev/null 2>&1
  grep -E "= -1" "$out/metrics_probe.strace" | head -20
fi
# The degrade path: the server keeps serving gRPC when /metrics fails.
repo=$(mktemp -d)
cp -r models/copy-mamba1-silu "$repo/copy"
./build-gpu/mamba-explaind --model_repository "$repo" --device cuda --host 127.0.0.1 --port 0 \
  --metrics_address 127.0.0.1 --metrics_port 0 --plaintext >"$out/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do grep -q "grpc_port=" "$out/server.log" && break; sleep 0.1; done
cat "$out/server.log"
port=$(sed -n 's/.*grpc_port=\([0-9]*\).*/\1/p' "$out/server.log" | head -1)
./build-gpu/mamba-explain health --server "127.0.0.1:$port"
kill -TERM $pid; wait $pid
