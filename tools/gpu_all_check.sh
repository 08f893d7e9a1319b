#!/usr/bin/env bash
# GPU host, one call: builds the server, the client and the GPU-facing tests and benches once
# (build-gpu), runs the CUDA tests (scan from an initial state, layer traces, LaTIM kernels), the
# long-context last-row LaTIM at N = 65 536 (both architectures) and 1 048 576 (Mamba-2), the
# issue-11 perf table (tools/gpu_perf_check.sh, shortened) and the metrics probe. Each stage runs
# under its own timeout so one that fails or runs long leaves the others' results. Logs under $OUT.
#   source .device/env.sh && bash tools/gpu_all_check.sh
set -uo pipefail
source "$(dirname "$0")/gpu_lib.sh"
gpu_configure -DME_BUILD_BENCH=ON
grep -E "HTTP gateway|CUDA kernels" "$out/cmake.log"
gpu_build mamba-explaind mamba-explain metrics_probe selective_scan_test layer_traces_test \
  latim_kernels_test latim_gpu_test latim_bench
stamp "built"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
git rev-parse --short HEAD 2>/dev/null | sed 's/^/commit /'
(cd build-gpu && timeout 150 ctest --output-on-failure \
  -R '^(selective_scan_test|layer_traces_test|latim_kernels_test|latim_gpu_test)$' 2>&1 |
  tee "$out/ctest.log" | grep -E "tests passed|Failed|FAILED|Test +#")
stamp "tests"
for spec in mamba2:65536:45 mamba1:65536:45; do
  IFS=: read -r arch n limit <<<"$spec"
  timeout "$limit" ./build-gpu/latim_bench --arch "$arch" --seq-lens "$n" --reps 1 2>&1 |
    tee "$out/latim_bench_${arch}_$n.log" | grep -E "forward|last|failed|MISMATCH"
done
stamp "long context 65536"
timeout 15 ./build-gpu/metrics_probe 127.0.0.1:0 2>&1 | tail -4
DURATION=${DURATION:-3} WARMUP=${WARMUP:-1} timeout "${PERF_LIMIT:-200}" \
  bash tools/gpu_perf_check.sh 2>&1 | tail -30
stamp "perf"
timeout 100 ./build-gpu/latim_bench --arch mamba2 --seq-lens 1048576 --reps 1 2>&1 |
  tee "$out/latim_bench_mamba2_1048576.log" | grep -E "forward|last|failed|MISMATCH|memory"
stamp "done"
