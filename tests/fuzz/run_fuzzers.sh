#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with Debian's clang (ASan + UBSan, every library
# instrumented) in a separate build directory, replays the committed regression inputs
# (tests/fuzz/regressions/<target>/: every crash found so far), then fuzzes each target for
# SECONDS from its committed seed corpus (tests/fuzz/corpus/<target>/; new inputs go to
# BUILD/corpus/<target>, never into the source tree). Exits non-zero on any crash, leak,
# sanitizer report or timeout; the reproducer is BUILD/crash-<target>-*.
# usage: run_fuzzers.sh [SECONDS_PER_TARGET (45)] [BUILD_DIR (build-fuzz)]
# By hand for longer: run_fuzzers.sh 3600 (FUZZ_TARGETS=request_fuzz,tokenizer_fuzz to pick
# targets). ctest runs it as fuzz_smoke (exit 77 = no clang).
set -euo pipefail
seconds=${1:-45}
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${2:-$src/build-fuzz}
targets=(safetensors_fuzz config_fuzz tokenizer_fuzz csr_fuzz)
# request_fuzz needs the gRPC/protobuf/prometheus-cpp development packages (ME_WITH_SERVER).
if ! command -v clang++ >/dev/null 2>&1; then
  echo "clang++ not found (apt-get install clang libclang-rt-14-dev): fuzzers skipped"
  exit 77
fi
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
mkdir -p "$build"
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -g -O1"
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_COMPILER=clang++ \
  "${launcher[@]}" -DCMAKE_CXX_FLAGS="$flags" -DME_ENGINE=OFF \
  -DME_BUILD_TESTS=OFF -DME_BUILD_FUZZERS=ON >"$build/cmake.log" 2>&1 ||
  { cat "$build/cmake.log"; exit 1; }
if grep -q '^ME_WITH_SERVER:BOOL=ON' "$build/CMakeCache.txt"; then
  targets+=(request_fuzz)
else
  echo "request_fuzz skipped: no gRPC/protobuf development packages (ME_WITH_SERVER is OFF)"
fi
# FUZZ_TARGETS=a,b runs only those (e.g. a long run by hand of one target). FUZZ_TIMEOUT (10 s) is
# libFuzzer's per-input wall-clock limit: raise it for niced runs on a loaded machine, where a
# starved process can spend 12 s on an input that takes milliseconds (request_fuzz, 12-02).
if [ -n "${FUZZ_TARGETS:-}" ]; then IFS=, read -r -a targets <<<"$FUZZ_TARGETS"; fi
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" >"$build/build.log" 2>&1 ||
  { tail -50 "$build/build.log"; exit 1; }
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/$t
  regressions=$src/tests/fuzz/regressions/$t
  if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    if "$bin" -runs=0 "$regressions"/* >"$build/$t.regressions.log" 2>&1; then
      echo "$t: $(ls "$regressions" | wc -l) regression inputs pass"
    else
      echo "$t: a regression input fails"; tail -30 "$build/$t.regressions.log"; status=1
    fi
  fi
  mkdir -p "$build/corpus/$t"
  if "$bin" -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$build/crash-$t-" "$build/corpus/$t" \
    "$src/tests/fuzz/corpus/$t" >"$build/$t.log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/$t.log")
    cov=$(grep -o 'cov: [0-9]*' "$build/$t.log" | tail -1)
    echo "$t: ${seconds}s, $runs runs, $cov, no crash"
  else
    echo "$t: FAILED"; grep -A25 -m1 -E "ERROR|runtime error|deadly signal|==[0-9]+==" \
      "$build/$t.log" || tail -30 "$build/$t.log"
    status=1
  fi
done
exit $status
