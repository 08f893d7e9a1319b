#!/usr/bin/env bash
# GPU host, one call (issue 13, "the GPU runtime filesystem serves on the GPU host"): builds
# mamba-explaind and mamba-explain against LibTorch CUDA in build-gpu (reused as it is when an
# earlier step of the same call configured it: nothing is rebuilt then), assembles the GPU
# image's runtime filesystem from it and runs the server from it with chroot as uid 65534 on the
# GPU (scripts/gpu_rootfs.sh: loader check, health, one Explain, the HTTP gateway, /metrics,
# mapped objects, SIGTERM). Log: $OUT/gpu_rootfs.log (one file). Target: under 3 minutes with
# build-gpu already built, ~1 minute of it the tree and the server.
#   source .device/env.sh && bash tools/gpu_rootfs_check.sh
set -uo pipefail
source "$(dirname "$0")/gpu_lib.sh"  # sysroot of /opt/deb, $out, stamp, gpu_configure
B=${B:-build-gpu}
logf=$out/gpu_rootfs.log
{
  echo "gpu_rootfs_check: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo ?)$(git diff --quiet 2>/dev/null || echo +dirty)"
  command -v nvidia-smi >/dev/null &&
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | sed 's/^/gpu: /'
  echo "torch: $(python3 -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)' 2>&1 | tail -1)"
  echo "host: $(. /etc/os-release 2>/dev/null; echo "$PRETTY_NAME"), glibc $(ldd --version | head -1 | awk '{print $NF}'), uid $(id -u), kernel $(uname -r)"
  if [ -f "$B/CMakeCache.txt" ]; then
    echo "build: reusing $B (configured earlier; CUDA architectures $(sed -n 's/^CMAKE_CUDA_ARCHITECTURES:[A-Z]*=//p' "$B/CMakeCache.txt"))"
  else
    echo "build: configuring $B with \$DEVICE_CMAKE_ARGS"
    [ "$B" = build-gpu ] || { echo "B=$B does not exist (only build-gpu is configured here)"; exit 1; }
    gpu_configure
    grep -E "HTTP gateway|CUDA kernels" "$out/cmake.log"
  fi
  if ! timeout "${BUILD_LIMIT:-420}" cmake --build "$B" -j"$(nproc)" --target mamba-explaind mamba-explain \
      >/tmp/rootfs_build.log 2>&1; then
    grep -E "error|Error" -A5 /tmp/rootfs_build.log | head -60
    echo "gpu_rootfs_check: build failed"
    exit 1
  fi
  echo "build: $(grep -c '^\[' /tmp/rootfs_build.log) steps in $(($(date +%s) - t0)) s ($(tail -1 /tmp/rootfs_build.log | cut -c1-80))"
  help=$("$B/mamba-explaind" --help 2>&1)  # exits 1 after printing
  grep -q -- --http_cors_origins <<<"$help" ||
    echo "note: this build's server predates --http_cors_origins (or has no HTTP gateway)"
  timeout "${RUN_LIMIT:-240}" bash scripts/gpu_rootfs.sh "$B" /tmp/me-rootfs
  rc=$?
  echo "gpu_rootfs_check: exit $rc, total $(($(date +%s) - t0)) s"
  exit $rc
} 2>&1 | tee "$logf"
exit "${PIPESTATUS[0]}"
