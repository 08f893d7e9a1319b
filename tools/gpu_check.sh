#!/usr/bin/env bash
# Builds and runs the whole test suite on the GPU host (LibTorch 2.11 + CUDA), as the device
# GPU-host recipe (kept outside this repository) prescribes. Logs go to $OUT when set.
#   source .device/env.sh && bash tools/gpu_check.sh [ctest args...]
set -uo pipefail
# The carried Debian packages live under /opt/deb (.device/env.sh); their .pc files say /usr.
[ -d /opt/deb ] && export PKG_CONFIG_SYSROOT_DIR=/opt/deb
out=${OUT:-/tmp}
cmake -S . -B build-gpu -G Ninja $DEVICE_CMAKE_ARGS -DME_BUILD_BENCH=ON >"$out/cmake.log" 2>&1 || { tail -50 "$out/cmake.log"; exit 1; }
cmake --build build-gpu -j16 >"$out/build.log" 2>&1 || { grep -E "error|Error" -A3 "$out/build.log" | head -80; exit 1; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
cd build-gpu && ctest --output-on-failure -j4 "$@" 2>&1 | tee "$out/ctest.log" | tail -60
