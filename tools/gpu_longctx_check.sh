#!/usr/bin/env bash
# Long-context explanations on the GPU host (issue 18): builds the engine, the chunked-scan and
# layer-trace tests and the benchmarks (LibTorch 2.11 + CUDA, the GPU host's recipe), runs the
# tests (the CUDA scan from an initial state against the reference included), then the last row
# of LaTIM(ℓ2) on random 130m-shaped models (24 layers; Mamba-1 and Mamba-2) at N = 65 536,
# 262 144 and 1 048 576 (time, peak CUDA memory, bytes per token), and Gradient×Input / MambaLRP
# at N = 65 536. Each benchmark runs under its own timeout so one that runs out of memory or time
# leaves the others' numbers; about 7 minutes in all. Logs under $OUT (default /tmp).
#   source .device/env.sh && bash tools/gpu_longctx_check.sh
set -uo pipefail
source "$(dirname "$0")/gpu_lib.sh"
gpu_configure -DME_BUILD_BENCH=ON
gpu_build selective_scan_test layer_traces_test latim_test latim_gpu_test latim_batched_test \
  memory_estimate_test latim_bench gradient_bench
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
(cd build-gpu && timeout 180 ctest --output-on-failure \
  -R '^(selective_scan_test|layer_traces_test|latim_test|latim_gpu_test|latim_batched_test|memory_estimate_test)$' \
  2>&1 | tee "$out/ctest.log" | tail -30)
git rev-parse --short HEAD | sed 's/^/commit /'
for arch in mamba2 mamba1; do
  for n in 65536 262144 1048576; do
    case $n in 65536) limit=45 ;; 262144) limit=60 ;; *) limit=110 ;; esac
    echo "== latim_bench $arch N=$n (timeout ${limit}s)"
    timeout $limit ./build-gpu/latim_bench --arch "$arch" --seq-lens "$n" --reps 1 2>&1 |
      tee "$out/latim_bench_${arch}_$n.log" | grep -E "forward|last|error|failed|MISMATCH"
  done
done
echo "== gradient_bench N=65536"
timeout 60 ./build-gpu/gradient_bench --seq-lens 65536 --repeats 1 2>&1 |
  tee "$out/gradient_bench_65536.log" | tail -5
