#!/usr/bin/env bash
# GPU host, two calls on one warm machine (build-gpu survives between them): the whole test suite
# built with g++ 13 + LibTorch 2.11 CUDA (issue 10), then Nsight Compute on every LaTIM kernel of
# one all-rows call (issue 17) and the cancellation latency of the gradient methods (issue 12).
#   source .device/env.sh && STAGE=build bash tools/gpu_suite_check.sh   # configure + build all
#   source .device/env.sh && STAGE=test bash tools/gpu_suite_check.sh    # ctest, ncu, cancel
# Tools the machine lacks (node, chromium, kubectl, clang) make their tests skip (77). Logs under
# $OUT.
set -uo pipefail
source "$(dirname "$0")/gpu_lib.sh"
case "${STAGE:-build}" in
  build)
    for tool in node npm chromium kubectl promtool clang++ ncu compute-sanitizer; do
      printf '%s: %s\n' "$tool" "$(command -v "$tool" || echo absent)"
    done
    gpu_configure -DME_BUILD_BENCH=ON
    grep -E "HTTP gateway|CUDA kernels|fuzz|clang" "$out/cmake.log" | head
    cmake --build build-gpu -j16 >"$out/build.log" 2>&1 ||
      { grep -E "error|Error" -A5 "$out/build.log" | head -80; exit 1; }
    stamp "built"
    ;;
  test)
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    (cd build-gpu && timeout "${CTEST_LIMIT:-400}" ctest -j8 --output-on-failure 2>&1 |
      tee "$out/ctest.log" | grep -E "Test +#|tests passed|tests failed|Skipped|\*\*\*")
    stamp "ctest"
    # One launch of each kernel of an all-rows N = 1024 call (bf16 model), after warm-up.
    for arch in mamba1 mamba2; do
      timeout 120 ncu --clock-control none \
        -k 'regex:LatimPrepare|LatimPairScores|LatimRowErrors|Contrib' --launch-skip 120 \
        --launch-count 8 --section SpeedOfLight --section Occupancy --section LaunchStats \
        ./build-gpu/latim_bench --arch "$arch" --seq-lens 1024 --reps 1 \
        --model-precision bf16 >"$out/ncu_$arch.log" 2>&1
      grep -E "Kernel|Contrib|Duration|Memory Throughput|DRAM Throughput|Compute \(SM\)|Achieved Occupancy|Registers Per|Grid Size" \
        "$out/ncu_$arch.log" | head -60
    done
    stamp "ncu"
    timeout 150 ./build-gpu/gradient_bench --cancel-latency --seq-lens 512,2048 --repeats 5 2>&1 |
      tee "$out/cancel_latency.log" | tail -20
    stamp "cancel latency"
    ;;
esac
