#!/usr/bin/env bash
# GPU host, step 2 of the paper-scale faithfulness run (after tools/gpu_paper_train.sh on the same
# machine): copy accuracy and the faithfulness tables of the paper/ models (docs/faithfulness.md),
# then mamba-explaind on CUDA serving a paper-scale model and a committed model, explained through
# the gRPC client (issue 5's GPU run). Everything small lands in $OUT/paper_results.tgz.
#   source .device/env.sh && bash tools/gpu_paper_eval.sh
set -uo pipefail
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

# The service on the GPU: a paper-scale model and the committed demo model.
repo=$(mktemp -d)
ln -s "$PWD/paper/copy-mamba2-silu-paper" "$repo/copy-mamba2-paper"
ln -s "$PWD/models/copy-mamba1-silu" "$repo/copy-mamba1-silu"
$B/mamba-explaind --model_repository "$repo" --device cuda --host 127.0.0.1 --port 0 \
  --metrics_port 0 --metrics_address 127.0.0.1 --plaintext 2>paper/server.log &
spid=$!
port=
for _ in $(seq 1 900); do
  port=$(sed -n 's/.*grpc_port=\([0-9]*\).*/\1/p' paper/server.log); [ -n "$port" ] && break
  kill -0 $spid 2>/dev/null || break; sleep 0.1
done
echo "server port: ${port:-none}"; cat paper/server.log
S=127.0.0.1:$port
$B/mamba-explain health --server $S
$B/mamba-explain models --server $S | tee paper/models.json | head -c 600; echo
ids16=$(python3 -c 'import random; r = random.Random(3); s = [r.randint(2, 15) for _ in range(16)]
print(",".join(map(str, [0] + s + [1] + s[:15])))')
ids50=$(python3 -c 'import random; r = random.Random(5); s = [r.randint(2, 31) for _ in range(50)]
print(",".join(map(str, [0] + s + [1] + s[:49])))')
for i in 1 2 3; do
  /usr/bin/time -f "client wall %e s" $B/mamba-explain explain --server $S --model copy-mamba1-silu \
    --ids "$ids16" --method latim-l2,latim-alti,latim-alti-logit --json paper/serve-small.json \
    --html paper/serve-small.html
done
for i in 1 2 3; do
  /usr/bin/time -f "client wall %e s" $B/mamba-explain explain --server $S --model copy-mamba2-paper \
    --ids "$ids50" --method latim-l2,latim-alti,latim-alti-logit --json paper/serve-paper.json \
    --html paper/serve-paper.html
done
python3 -c 'import json; d=json.load(open("paper/serve-paper.json")); print("summary:", d.get("summary"))'
kill -TERM $spid; wait $spid
tar czf "$out/paper_results.tgz" paper/*.json paper/*.md paper/*.err paper/*.out paper/*.log \
  paper/*.html paper/heat-* paper/copy-*/train_log.jsonl paper/copy-*/config.json 2>/dev/null
ls -la "$out"; echo "total: $(( $(date +%s) - t0 )) s"
