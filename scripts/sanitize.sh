#!/usr/bin/env bash
# The sanitizer run (docs/reliability.md): builds the torch-free serving stack (model library,
# sparse, serving, server with the synthetic backend) with clang and ASan + UBSan in
# build-asan/, then runs its unit tests and the reliability end-to-end test (slow readers,
# cancellation, stall timeout, malformed and oversized requests, drain by SIGTERM) under the
# sanitizers. Any report fails the run. The LibTorch engine is left out: Debian's libtorch is not
# instrumented, and ASan on it reports inside libtorch rather than in our code.
# With `tsan` as first argument: tools/tsan_check.sh (ThreadSanitizer on the batcher, reactor and
# drain, with an instrumented Abseil so that TSan sees absl::Mutex; g++, LibTorch CPU).
# usage: scripts/sanitize.sh [asan|tsan]
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-asan}
[[ $kind == tsan ]] && exec tools/tsan_check.sh
case $kind in
  asan) flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1" ;;
  *) echo "usage: scripts/sanitize.sh [asan|tsan]"; exit 2 ;;
esac
build=build-$kind
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_COMPILER=clang++ \
  "${launcher[@]}" -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" -DME_ENGINE=OFF
tests=(config_test safetensors_test tokenizer_test csr_test dynamic_batcher_test
  request_validation_test metrics_test model_registry_test status_mapping_test)
cmake --build "$build" -j"$(nproc)" --target mamba-explaind grpc_probe "${tests[@]}"
# A small quarantine: the slow-reader check bounds RSS, and freed blocks held for use-after-free
# detection would count as growth.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1:quarantine_size_mb=8
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
regex="^($(IFS='|'; echo "${tests[*]}")|reliability_e2e_test)$"
cd "$build" && ctest --output-on-failure -R "$regex"
