#!/usr/bin/env bash
# CPU matrix products on netlib's reference BLAS against OpenBLAS, in one run on one machine: the
# sgemm rate of each (Debian's numpy in /usr/bin/python3, on the same libblas.so.3, 1024^3), three
# offline explanations of the English demo model (256 tokens, every row) and 20 steps of the
# recall trainer. Needs both libblas3 and libopenblas0-openmp installed (Debian); the library is
# picked per command through LD_LIBRARY_PATH, so the alternatives stay as they are. Prints a
# markdown table (docs/benchmarks.md, "CPU BLAS").
#
# usage: tools/cpu_blas_bench.sh [BUILD_DIR (default build)]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
arch=$(gcc -dumpmachine)
ref=/usr/lib/$arch/blas
opt=/usr/lib/$arch/openblas-openmp
for d in "$ref" "$opt"; do
  [ -e "$d/libblas.so.3" ] || { echo "cpu_blas_bench: $d/libblas.so.3 missing" >&2; exit 2; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ids=$(python3 -c 'print(",".join(str((37 * i + 11) % 2000) for i in range(256)))')
secs() {  # secs LIBDIR CMD...: wall seconds of CMD on that BLAS
  local lib=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  LD_LIBRARY_PATH=$lib "$@" >/dev/null 2>&1
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}
gflops() {
  LD_LIBRARY_PATH=$1 /usr/bin/python3 -c '
import time, numpy as np
a = np.random.rand(1024, 1024).astype(np.float32); a @ a
t = time.perf_counter(); n = 5
for _ in range(n): a @ a
print(f"{2 * 1024**3 * n / (time.perf_counter() - t) / 1e9:.1f}")'
}
echo "| workload | reference BLAS | OpenBLAS | speed-up |"
echo "|---|---|---|---|"
r=$(gflops "$ref"); o=$(gflops "$opt")
echo "| sgemm 1024³ (numpy, same libblas.so.3) | $r GFLOP/s | $o GFLOP/s | $(python3 -c "print(f'{$o / $r:.1f}×')") |"
for m in latim-l2 grad-x-input mamba-lrp; do
  cmd=("$build/mamba-explain" explain --model-dir models/text-mamba1 --ids "$ids" --method "$m"
    --rows all --quiet --json "$tmp/out.json")
  r=$(secs "$ref" "${cmd[@]}"); o=$(secs "$opt" "${cmd[@]}")
  echo "| explain $m, text-mamba1, 256 tokens, all rows | $r s | $o s | $(python3 -c "print(f'{$r / $o:.2f}×')") |"
done
cmd=("$build/mamba-explain-train" recall --arch mamba1 --d-state 16 --vocab 64 --length 64
  --keys 1,2,4 --layers 2 --d-model 128 --steps 20 --batch 128 --seed 7 --device cpu
  --eval-samples 16 --out "$tmp/train")
r=$(secs "$ref" "${cmd[@]}"); o=$(secs "$opt" "${cmd[@]}")
echo "| train recall Mamba-1 (2 × d128), 20 steps × 128 | $r s | $o s | $(python3 -c "print(f'{$r / $o:.2f}×')") |"
