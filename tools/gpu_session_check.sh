#!/usr/bin/env bash
# GPU host, one call for the checks that need CUDA after a merge: builds the server, the client,
# the GPU-facing tests and gradient_bench once (build-gpu), then, each under its own timeout so one
# that fails or runs long leaves the others' results:
#   1. the GPU runtime filesystem served with chroot (tools/gpu_rootfs_check.sh, issue 13);
#   2. a served 262 144-token last-row request per architecture (tools/gpu_longserve_check.sh,
#      issue 18);
#   3. the CUDA tests (kernels against their references, forward, LaTIM, baselines);
#   4. Gradient×Input and MambaLRP, last row, at N = 65 536 (gradient_bench, issue 18).
# Logs under $OUT.
#   source .device/env.sh && bash tools/gpu_session_check.sh
set -uo pipefail
source "$(dirname "$0")/gpu_lib.sh"
gpu_configure -DME_BUILD_BENCH=ON
grep -E "HTTP gateway|CUDA kernels" "$out/cmake.log"
tests="mixer_ops_test selective_scan_test selective_scan_backward_test forward_gpu_test
  latim_kernels_test latim_gpu_test baselines_gpu_test"
# shellcheck disable=SC2086  # a list of targets
timeout "${BUILD_LIMIT:-300}" bash -c "source tools/gpu_lib.sh; gpu_build mamba-explaind \
  mamba-explain gradient_bench $(echo $tests)" || { echo "build failed or timed out"; exit 1; }
stamp "built"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
timeout "${ROOTFS_LIMIT:-150}" bash tools/gpu_rootfs_check.sh >/dev/null 2>&1
echo "rootfs: exit $?"
tail -30 "$out/gpu_rootfs.log"
stamp "rootfs"
SKIP_BUILD=1 timeout "${LONGSERVE_LIMIT:-200}" bash tools/gpu_longserve_check.sh 2>&1 | tail -30
stamp "longserve"
(cd build-gpu && timeout "${TEST_LIMIT:-150}" ctest --output-on-failure \
  -R "^($(echo $tests | tr ' ' '|'))\$" 2>&1 | tee "$out/ctest.log" |
  grep -E "tests passed|Failed|FAILED|Test +#")
stamp "tests"
timeout "${GRADIENT_LIMIT:-90}" ./build-gpu/gradient_bench --seq-lens 65536 --repeats 1 2>&1 |
  tee "$out/gradient_bench_65536.log" | tail -6
stamp "done"
