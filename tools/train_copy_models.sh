#!/usr/bin/env bash
# Trains the committed copy models (models/README.md) with fixed seeds. One command per model;
# run on the GPU host (`--device cuda`) or here (`DEVICE=cpu`, slower).
#   bash tools/train_copy_models.sh [OUT_ROOT (default models)] [small|paper]
# Paper scale takes STEPS/BATCH/WARMUP from the environment when set (shorter device budgets),
# ARCHS/ACTS choose the models, MAX_MINUTES/RESUME checkpoint and continue.
set -euo pipefail
root=${1:-models}
scale=${2:-small}
device=${DEVICE:-cuda}
bin=${TRAIN_BIN:-./build/mamba-explain-train}
for arch in ${ARCHS:-mamba1 mamba2}; do
  for act in ${ACTS:-silu identity}; do
    if [ "$scale" = small ]; then
      # Small enough to commit (< 1 MB): 2 layers, d_model 64, strings of 16 over 14 symbols.
      if [ $arch = mamba1 ]; then dstate=16; lr=5e-3; steps=10000; else dstate=32; lr=3e-3; steps=3000; fi
      args="--layers 2 --d-model 64 --d-state $dstate --head-dim 16 --vocab 16 --length 16
            --steps $steps --batch 64 --lr $lr --warmup 200 --mimetic-layer 1 --seed 7"
    else
      # The LaTIM paper's setup (App. B.1): 8 layers, d_model 512, vocab 32, 50-token strings,
      # d_state 16 (Mamba-1) / 128 (Mamba-2), 5000 steps x 256 samples, lr 7e-4, 500 warmup.
      if [ $arch = mamba1 ]; then dstate=16; else dstate=128; fi
      args="--layers 8 --d-model 512 --d-state $dstate --head-dim 64 --vocab 32 --length 50
            --steps ${STEPS:-5000} --batch ${BATCH:-256} --lr 7e-4 --warmup ${WARMUP:-500}
            --mimetic-layer 4 --seed 7 --clip-norm 0 --tf32"
    fi
    out=$root/copy-$arch-$act${scale/small/}
    [ "$scale" = paper ] && out=$root/copy-$arch-$act-paper
    echo "== $out" >&2
    # shellcheck disable=SC2086
    "$bin" copy --arch $arch --activation $act --device "$device" --out "$out" $args \
      --max-minutes "${MAX_MINUTES:-0}" ${RESUME:+--resume} --log-every "${LOG_EVERY:-500}"
  done
done
