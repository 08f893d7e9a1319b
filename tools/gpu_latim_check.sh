#!/usr/bin/env bash
# LaTIM decomposition kernels on the GPU host: builds the engine, the kernel tests and latim_bench
# (LibTorch 2.11 + CUDA, the GPU-host recipe kept outside this repository), runs the LaTIM GPU tests, then the benchmark.
# Logs under $OUT when set.
#   source .device/env.sh && bash tools/gpu_latim_check.sh [latim_bench args...]
set -uo pipefail
source "$(dirname "$0")/gpu_lib.sh"
gpu_configure -DME_BUILD_BENCH=ON
gpu_build latim_kernels_test latim_batched_test latim_gpu_test latim_test latim_bench
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
(cd build-gpu && ctest --output-on-failure -R 'latim_(kernels|batched|gpu)_test' 2>&1 |
  tee "$out/ctest.log" | tail -40)
bin() { find build-gpu -type f -name "$1" -perm -u+x | head -1; }
"$(bin latim_kernels_test)" --gtest_filter='*Gemm*' 2>&1 | grep "rel err"
"$(bin latim_batched_test)" --gtest_filter='*Precision*' 2>&1 | grep "Spearman"
./build-gpu/latim_bench "$@" 2>&1 | tee "$out/latim_bench.log"
if [ "${PROFILE:-0}" = 1 ]; then
  # Stage times of the batched path (device synchronised between stages) and, for one large
  # launch of each contribution kernel, Nsight Compute's speed-of-light and occupancy sections.
  ME_LATIM_PROFILE=1 ./build-gpu/latim_bench --seq-lens 1024 --reps 1 2>&1 |
    tee "$out/latim_profile.log" | grep -E "stages|  all  " | head -30
  for arch in mamba1 mamba2; do
    timeout 150 ncu --clock-control none -k 'regex:Contrib' --launch-skip 200 --launch-count 1 \
      --section SpeedOfLight --section Occupancy --section LaunchStats \
      ./build-gpu/latim_bench --arch $arch --seq-lens 1024 --reps 1 >"$out/ncu_$arch.log" 2>&1
    grep -E "Contrib|Duration|Throughput|Achieved Occupancy|Registers|Grid Size" "$out/ncu_$arch.log" | head -14
  done
fi
