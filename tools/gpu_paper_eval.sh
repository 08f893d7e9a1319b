#!/usr/bin/env bash
# GPU host, step 2 of the paper-scale faithfulness run (after tools/gpu_paper_train.sh on the same
# machine): copy accuracy and the faithfulness tables of the paper/ models (docs/faithfulness.md),
# then mamba-explaind on CUDA serving a paper-scale model and a committed model, explained through
# the gRPC client (issue 5's GPU run). Everything small lands in $OUT/paper_results.tgz.
#   source .device/env.sh && bash tools/gpu_paper_eval.sh
set -uo pipefail
# The carried Debian packages live under /opt/deb (.device/env.sh); their .pc files say /usr.
[ -d /opt/deb ] && export PKG_CONFIG_SYSROOT_DIR=/opt/deb
out=${OUT:-/tmp}
B=./build-gpu
t0=$(date +%s)
GRAD_SAMPLES=${GRAD_SAMPLES:-16}  # integrated-gradients and smoothgrad: 16 x 50 rows x 16 passes
evaluate() {  # model-dir name
  local m=$1 n=$2
  $B/mamba-explain-train eval-copy --model-dir "$m" --length 50 --samples 1024 --seed 4242 \
    --device cuda >"paper/acc-$n.json" 2>"paper/acc-$n.err"
  case $n in
    *silu*)
      timeout "${EVAL_TIMEOUT:-300}" $B/mamba-explain-eval copy --model-dir "$m" --length 50 --samples 128 --device cuda \
        --grad-samples "$GRAD_SAMPLES" --ig-steps 16 --sg-samples 16 --json "paper/eval-$n.json" \
        --markdown "paper/eval-$n.md" --heatmap-dir "paper/heat-$n" 2>"paper/eval-$n.err" ;;
    *)
      timeout "${EVAL_TIMEOUT:-300}" $B/mamba-explain-eval copy --model-dir "$m" --length 50 --samples 128 --device cuda \
        --methods latim-l2,latim-alti --json "paper/eval-$n.json" --markdown "paper/eval-$n.md" \
        2>"paper/eval-$n.err" ;;
  esac
  echo "$n done after $(( $(date +%s) - t0 )) s: $(cat "paper/acc-$n.json")"
}
for m in paper/copy-*-paper; do evaluate "$m" "$(basename "$m")" & done
wait

METRICS_PORT=-1 bash tools/gpu_serve_check.sh
tar czf "$out/paper_results.tgz" paper/*.json paper/*.md paper/*.err paper/*.out paper/*.log \
  paper/*.html paper/*.txt paper/heat-* paper/copy-*/train_log.jsonl paper/copy-*/config.json 2>/dev/null
ls -la "$out"; echo "total: $(( $(date +%s) - t0 )) s"
