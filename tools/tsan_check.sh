#!/usr/bin/env bash
# The ThreadSanitizer check of the batcher, the gRPC reactor and the drain (issue 12;
# docs/reliability.md, "Sanitizers"). From a clean checkout:
#   1. tools/tsan_absl.sh: Debian's Abseil source of the installed version, built with
#      -fsanitize=thread as shared libraries with Debian's SONAMEs (cached; minutes the first time).
#   2. A g++ -fsanitize=thread build of our code with LibTorch CPU in BUILD (default build-tsan/):
#      the serving unit tests, mamba-explaind, mamba-explain and grpc_probe.
#   3. Every process runs with the instrumented Abseil first on LD_LIBRARY_PATH, so our code and
#      Debian's libgrpc/libgrpc++ take absl::Mutex from it (checked with ldd, and with a canary:
#      a counter under absl::Mutex must give no report, one without a lock must give one).
#   4. Runs dynamic_batcher_test, batch_plan_test, engine_backend_test, metrics_test,
#      model_registry_test, request_validation_test, then the reactor/drain end-to-end tests on
#      the TSan binaries: reliability_test.sh (slow readers, stall timeout, cancellation,
#      hostile requests, SIGTERM drain), reactor_storm_test.sh (a cancel storm, stalled readers,
#      SIGTERM with a stream open), server_e2e_test.sh's batching and slow-model (deadline,
#      client cancel; not its queue-full check, whose waits assume normal speed) parts on the
#      LibTorch engine, drain_auth_test.sh.
#   5. Fails when a test fails or TSan reports anything not matched by tools/tsan.supp; the
#      reports are in BUILD/tsan-logs/ and summarised at the end.
# LibTorch, libgomp, gRPC, protobuf and OpenSSL stay uninstrumented; OMP_NUM_THREADS=1 keeps
# LibTorch's intra-op work on the calling thread.
# usage: tools/tsan_check.sh [BUILD]    env: TSAN_ABSL_PREFIX (cache), TSAN_JOBS (2),
#        TSAN_ONLY="unit e2e" (what to run)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${1:-build-tsan}
jobs=${TSAN_JOBS:-2}
only=" ${TSAN_ONLY:-unit e2e} "
start=$(date +%s)

absl_lib=$(tools/tsan_absl.sh | tail -1) || { echo "tsan_check: the Abseil build failed"; exit 1; }
[[ -f $absl_lib/libabsl_synchronization.so.20220623 ]] || { echo "tsan_check: no $absl_lib"; exit 1; }
nm -D "$absl_lib/libabsl_synchronization.so.20220623" | grep -q __tsan_mutex_pre_lock ||
  { echo "tsan_check: $absl_lib is not built with -fsanitize=thread"; exit 1; }

flags="-fsanitize=thread -O1 -g1"
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_COMPILER=g++ "${launcher[@]}" \
  -DME_TORCH_PCH=ON -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread \
  -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread >/dev/null || exit 1
unit_tests=(dynamic_batcher_test batch_plan_test engine_backend_test metrics_test
  model_registry_test request_validation_test)
nice cmake --build "$build" -j"$jobs" --target "${unit_tests[@]}" mamba-explaind mamba-explain \
  grpc_probe || exit 1
g++ -std=c++17 $flags tests/tsan/absl_mutex_canary.cc -o "$build/absl_mutex_canary" \
  -labsl_synchronization || exit 1
build_s=$(($(date +%s) - start))

export LD_LIBRARY_PATH=$absl_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
export ME_SOURCE_DIR=$root
# Every process loads only the instrumented Abseil: ours and the one libgrpc/libgrpc++ pull in.
for bin in "$build/mamba-explaind" "$build/mamba-explain" "$build/tests/engine_backend_test"; do
  if ldd "$bin" | grep libabsl_ | grep -v "=> $absl_lib/" | grep -q .; then
    echo "tsan_check: $bin loads an uninstrumented Abseil:"; ldd "$bin" | grep libabsl_ | grep -v "$absl_lib/"
    exit 1
  fi
done

logs=$root/$build/tsan-logs
rm -rf "$logs" && mkdir -p "$logs"
base_opts="halt_on_error=0 exitcode=66 second_deadlock_stack=1 suppressions=$root/tools/tsan.supp"
failures=()
step() {  # step NAME COMMAND...: runs it with TSan logging to $logs/NAME.<pid>
  local name=$1 t0=$SECONDS rc
  shift
  echo "=== $name"
  TSAN_OPTIONS="$base_opts log_path=$logs/$name" "$@" >"$logs/$name.out" 2>&1
  rc=$?
  local n
  n=$(cat "$logs/$name".[0-9]* 2>/dev/null | grep -c "WARNING: ThreadSanitizer")
  echo "    exit $rc, $((SECONDS - t0)) s, $n TSan reports"
  if [[ $rc != 0 ]]; then failures+=("$name (exit $rc)"); tail -20 "$logs/$name.out"; fi
  return 0
}

# The control: TSan must see absl::Mutex, and must still see a real race.
TSAN_OPTIONS="$base_opts log_path=$logs/canary-guarded" "$build/absl_mutex_canary" guarded >/dev/null 2>&1
TSAN_OPTIONS="$base_opts log_path=$logs/canary-racy" "$build/absl_mutex_canary" racy >/dev/null 2>&1
guarded=$(cat "$logs"/canary-guarded.* 2>/dev/null | grep -c "WARNING: ThreadSanitizer")
racy=$(cat "$logs"/canary-racy.* 2>/dev/null | grep -c "WARNING: ThreadSanitizer")
rm -f "$logs"/canary-*
echo "=== canary: absl::Mutex-guarded counter $guarded reports (want 0), unguarded $racy (want >= 1)"
[[ $guarded == 0 && $racy -ge 1 ]] || { echo "tsan_check: the canary failed"; exit 1; }

if [[ $only == *" unit "* ]]; then
  for t in "${unit_tests[@]}"; do step "$t" "$build/tests/$t"; done
fi
if [[ $only == *" e2e "* ]]; then
  # TSan's shadow memory counts as RSS, and server and clients run slower: loosen those bounds.
  step reliability_e2e env RELIABILITY_RSS_BOUND_MB=256 RELIABILITY_STALL_S=20 \
    RELIABILITY_LAYER_DELAY_MS=300 \
    tests/e2e/reliability_test.sh "$build/mamba-explaind" "$build/tests/grpc_probe"
  step reactor_storm tests/e2e/reactor_storm_test.sh "$build/mamba-explaind" "$build/tests/grpc_probe"
  step server_e2e_batching env E2E_SECTIONS="batching slow" tests/e2e/server_e2e_test.sh \
    "$build/mamba-explaind" "$build/mamba-explain"
  step drain_auth tests/e2e/drain_auth_test.sh "$build/mamba-explaind" "$build/mamba-explain"
fi

reports=$(cat "$logs"/*.[0-9]* 2>/dev/null | grep -c "WARNING: ThreadSanitizer")
echo "=== build ${build_s} s, total $(($(date +%s) - start)) s; TSan reports: $reports"
if [[ $reports != 0 ]]; then
  echo "Distinct reports (SUMMARY lines; full reports in $logs/):"
  cat "$logs"/*.[0-9]* | grep "^SUMMARY: ThreadSanitizer" | sort | uniq -c | sort -rn
  failures+=("$reports TSan reports")
fi
if ((${#failures[@]})); then
  printf 'FAILED: %s\n' "${failures[@]}"
  exit 1
fi
echo "PASSED: no failure, no TSan report"
