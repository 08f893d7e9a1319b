#!/usr/bin/env bash
# Input-flipping tables and SVG curves (docs/faithfulness.md, "Input flipping") for a set of copy
# models: one JSON + Markdown per model under OUT_DIR, SVGs under PLOT_DIR.
#   bash tools/eval/flip_models.sh BUILD_DIR OUT_DIR PLOT_DIR LENGTH DEVICE MODEL_DIR...
# The committed models (CPU, as in the docs):
#   bash tools/eval/flip_models.sh build docs/faithfulness docs/img/faithfulness 16 cpu \
#     models/copy-mamba{1,2}-{silu,identity}
# The paper-scale models on the GPU host (after tools/gpu_paper_train.sh; L = 50):
#   bash tools/eval/flip_models.sh build-gpu "$OUT/flip" "$OUT/flip" 50 cuda paper/copy-*-paper
# Env: SAMPLES (64), STEPS (16), IG_STEPS / SG_SAMPLES (30), METHODS (all).
set -euo pipefail
build=$1 out=$2 plots=$3 length=$4 device=$5
shift 5
mkdir -p "$out" "$plots"
for m in "$@"; do
  n=$(basename "$m")
  "$build/mamba-explain-eval" flip --model-dir "$m" --task copy --length "$length" \
    --samples "${SAMPLES:-64}" --steps "${STEPS:-16}" --ig-steps "${IG_STEPS:-30}" \
    --sg-samples "${SG_SAMPLES:-30}" --methods "${METHODS:-all}" --device "$device" \
    --json "$out/flip-$n.json" --markdown "$out/flip-$n.md" --plot-dir "$plots" > /dev/null
  echo "$n: $out/flip-$n.md"
done
