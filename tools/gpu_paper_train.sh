#!/usr/bin/env bash
# GPU host, step 1 of the paper-scale faithfulness run (docs/faithfulness.md): builds the trainer,
# evaluator, server and client, then trains the four paper-architecture copy models concurrently
# (LaTIM App. B.1: 8 layers, d_model 512, vocab 32, 50-token strings, d_state 16 / 128) for
# TRAIN_MINUTES of wall time into paper/ (ignored by git; stays on the machine for step 2,
# tools/gpu_paper_eval.sh). Device budgets here are short, so BATCH/STEPS default below the
# paper's 5 000 x 256 and each run stops at TRAIN_MINUTES with a loadable checkpoint.
#   source .device/env.sh && bash tools/gpu_paper_train.sh
set -uo pipefail
# The carried Debian packages live under /opt/deb (.device/env.sh); their .pc files say /usr.
[ -d /opt/deb ] && export PKG_CONFIG_SYSROOT_DIR=/opt/deb
out=${OUT:-/tmp}
t0=$(date +%s)
cmake -S . -B build-gpu -G Ninja $DEVICE_CMAKE_ARGS -DME_BUILD_TESTS=OFF >"$out/cmake.log" 2>&1 ||
  { tail -30 "$out/cmake.log"; exit 1; }
cmake --build build-gpu -j16 --target mamba-explain-train mamba-explain-eval mamba-explain \
  mamba-explaind >"$out/build.log" 2>&1 || { grep -E "error" -A3 "$out/build.log" | head -60; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
mkdir -p paper
export LOG_EVERY=100 MAX_MINUTES=${TRAIN_MINUTES:-7} STEPS=${STEPS:-5000} BATCH=${BATCH:-128} WARMUP=${WARMUP:-250}
export TRAIN_BIN=./build-gpu/mamba-explain-train
for arch in mamba1 mamba2; do
  for act in silu identity; do
    ARCHS=$arch ACTS=$act bash tools/train_copy_models.sh paper paper >"paper/train-$arch-$act.out" 2>&1 &
  done
done
sleep 60; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
wait
for f in paper/train-*.out; do echo "== $f"; tail -n 2 "$f"; done
echo "total: $(( $(date +%s) - t0 )) s"
