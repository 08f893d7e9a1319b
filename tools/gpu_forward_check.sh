#!/usr/bin/env bash
# GPU host, one call: the fused inference forward (kernels/mixer_ops.h, the time-split selective
# scan, Mamba-2 on the scan kernel). Builds the CUDA tests and latim_bench, runs the kernel and
# forward tests against their references, then times the forward and LaTIM at N = 1024 with fp32
# and bf16 weights and the last row at N = 65 536 and (Mamba-2) 1 048 576. Each stage has its own timeout. Logs under $OUT.
#   source .device/env.sh && [PRECISIONS="fp32 bf16"] [PROFILE=1] [N4096=1] [LONG=0] \
#     bash tools/gpu_forward_check.sh
# N4096=1 adds all rows at N = 4 096 (Mamba-2); LONG=0 skips the long-context rows.
set -uo pipefail
source "$(dirname "$0")/gpu_lib.sh"
gpu_configure -DME_BUILD_BENCH=ON
tests="mixer_ops_test selective_scan_test forward_gpu_test layer_traces_test latim_kernels_test latim_gpu_test latim_batched_test latim_test hf_parity_test"
# shellcheck disable=SC2086  # a list of targets
gpu_build $tests latim_bench
stamp "built"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
(cd build-gpu && timeout 200 ctest --output-on-failure \
  -R "^($(echo $tests | tr ' ' '|'))\$" 2>&1 | tee "$out/ctest.log" |
  grep -E "tests passed|Failed|FAILED|Test +#|worst|Expected|Which is")
stamp "tests"
for prec in ${PRECISIONS:-fp32 bf16}; do
  timeout 120 ./build-gpu/latim_bench --seq-lens 1024 --reps 2 --model-precision $prec 2>&1 |
    tee "$out/latim_bench_1024_$prec.log" | grep -vE "^ +stages"
  stamp "bench 1024 $prec"
done
if [ "${PROFILE:-0}" = 1 ]; then
  # Stage times of the batched LaTIM path (device synchronised between stages).
  ME_LATIM_PROFILE=1 timeout 90 ./build-gpu/latim_bench --seq-lens 1024 --reps 1 \
    --model-precision bf16 2>&1 | tee "$out/latim_profile.log" | grep -E "stages|last|forward"
  stamp "profile"
fi
if [ "${N4096:-0}" = 1 ]; then
  timeout 120 ./build-gpu/latim_bench --arch mamba2 --seq-lens 4096 --reps 1 --model-precision bf16 \
    2>&1 | tee "$out/latim_bench_mamba2_4096.log" | grep -vE "^ +stages"
  stamp "mamba2 4096"
fi
[ "${LONG:-1}" = 1 ] || exit 0
for arch in mamba2 mamba1; do
  timeout 60 ./build-gpu/latim_bench --arch $arch --seq-lens 65536 --reps 1 --model-precision bf16 \
    2>&1 | tee "$out/latim_bench_${arch}_65536.log" | grep -E "forward|last|failed|MISMATCH"
done
stamp "long context 65536"
timeout 120 ./build-gpu/latim_bench --arch mamba2 --seq-lens 1048576 --reps 1 --model-precision bf16 \
  2>&1 | tee "$out/latim_bench_mamba2_1048576.log" | grep -E "forward|last|failed|MISMATCH|memory"
stamp "done"
