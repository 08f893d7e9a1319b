#!/usr/bin/env bash
# GPU host, one call (issue 16 items 2 and 4; docs/faithfulness.md "Retrieval" and "Decomposition
# error at scale"): builds the trainer and the evaluator (build-gpu, reused when present), then
#   1. trains a small Mamba-1 and a small Mamba-2 on the recall task (k ∈ {1, 2, 4} key–value
#      pairs among distractors, 64 context tokens, vocab 64) concurrently, each stopped at
#      TRAIN_MINUTES at the latest (a loadable checkpoint either way);
#   2. their accuracy per key count split by gold-first (eval-recall, 1 024 samples per count, at
#      the training context and at 4× it) and the retrieval faithfulness of every method
#      (`mamba-explain-eval recall`);
#   3. LaTIM's decomposition error for f ∈ {silu, relu, identity}, per layer and binned, on random
#      130m-shaped Mamba-1 and Mamba-2 (24 layers, d_model 768, HF's own initialisation, made with
#      HF transformers as tools/gpu_perf_check.sh does), on the two recall models, and on
#      paper/copy-*-paper when tools/gpu_paper_train.sh left them on this machine.
# Every step runs under its own timeout, so one that fails or runs long leaves the others'
# results. Everything (JSON, Markdown, logs, the recall checkpoints without optimizer state, ≈ 1 MB
# each) lands in ONE file, $OUT/recall_check.tgz, written even when a step fails; progress on
# stdout. About 5–6 minutes with a cold build-gpu, ≈ 4.5 with a warm one.
#   source .device/env.sh && bash tools/gpu_recall_check.sh
# Environment: TRAIN_MINUTES (1.75), STEPS (4000), BATCH (128), SAMPLES (64, per key count, for
# the method evaluation), GRAD_SAMPLES (16), DECOMP_LENGTH (512), DECOMP_SAMPLES (8).
set -euo pipefail
# The carried Debian packages live under /opt/deb (.device/env.sh); their .pc files say /usr.
[ -d /opt/deb ] && export PKG_CONFIG_SYSROOT_DIR=/opt/deb
out=${OUT:-/tmp}
mkdir -p "$out"
work=$(mktemp -d /tmp/recall_check.XXXXXX)
B=./build-gpu
t0=$(date +%s)
stamp() { echo "[$(($(date +%s) - t0)) s] $*" | tee -a "$work/steps.log"; }
archive() {
  # The optimizer state (2× the weights) stays behind; everything else comes back.
  (cd "$work" && tar czf "$out/recall_check.tgz" --exclude='optimizer.pt' --exclude='*-130m' . ) ||
    echo "archive failed"
  ls -la "$out/recall_check.tgz" 2>/dev/null || true
}
trap archive EXIT
# step NAME LIMIT_S CMD...: runs CMD under a timeout with its output in $work/NAME.log; never
# aborts the script (its exit status is logged).
step() {
  local name=$1 limit=$2
  shift 2
  local rc=0
  timeout "$limit" "$@" >"$work/$name.log" 2>&1 || rc=$?
  stamp "$name: rc $rc$([ $rc = 124 ] && echo " (timed out after ${limit} s)")"
  return 0
}

{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  git rev-parse HEAD 2>/dev/null || echo "commit unknown"
  git status --porcelain 2>/dev/null | head -20 || true
  date -u
} | tee "$work/device.txt"

# Random 130m-shaped models on the CPU while the build runs (HF transformers, seed 0).
rand=$work/random-130m
mkdir -p "$rand"
(timeout 240 python3 - "$rand" >"$work/make_random_models.log" 2>&1 <<'PY' || echo "random models failed: rc $?" >>"$work/make_random_models.log") &
import sys, torch
from transformers import Mamba2Config, Mamba2ForCausalLM, MambaConfig, MambaForCausalLM
repo = sys.argv[1]
torch.manual_seed(0)
m1 = MambaForCausalLM(MambaConfig(vocab_size=50280, hidden_size=768, num_hidden_layers=24,
                                  state_size=16, expand=2, conv_kernel=4))
m1.save_pretrained(f"{repo}/m1-130m", safe_serialization=True)
m2 = Mamba2ForCausalLM(Mamba2Config(vocab_size=50288, hidden_size=768, num_hidden_layers=24,
                                    state_size=128, expand=2, head_dim=64, num_heads=24,
                                    n_groups=1, conv_kernel=4, chunk_size=256))
m2.save_pretrained(f"{repo}/m2-130m", safe_serialization=True)
print("models:", repo)
PY
make_pid=$!

if [ -f build-gpu/CMakeCache.txt ]; then
  stamp "build-gpu present: reusing it"
else
  timeout 120 cmake -S . -B build-gpu -G Ninja $DEVICE_CMAKE_ARGS -DME_BUILD_TESTS=OFF \
    >"$work/cmake.log" 2>&1 || { tail -30 "$work/cmake.log"; exit 1; }
fi
timeout 300 cmake --build build-gpu -j16 --target mamba-explain-train mamba-explain-eval \
  >"$work/build.log" 2>&1 || { grep -E "error" -A3 "$work/build.log" | head -60; exit 1; }
stamp "built"

# 1. Training: both at once on the one GPU. vocab 64 = 20 key ids, 20 value ids, 22 fillers.
ctx=64
minutes=${TRAIN_MINUTES:-1.75}
steps=${STEPS:-4000}
batch=${BATCH:-128}
common="--task recall --vocab 64 --length $ctx --keys 1,2,4 --layers 2 --d-model 128
        --steps $steps --batch $batch --warmup 200 --mimetic-layer 1 --seed 7 --device cuda
        --log-every 250 --eval-samples 1024 --max-minutes $minutes"
limit=$(awk -v m="$minutes" 'BEGIN { print int(m * 60 + 45) }')
# shellcheck disable=SC2086
step train-recall-mamba1 "$limit" $B/mamba-explain-train recall --arch mamba1 --d-state 16 \
  --lr 3e-3 --out "$work/recall-mamba1" $common &
p1=$!
# shellcheck disable=SC2086
step train-recall-mamba2 "$limit" $B/mamba-explain-train recall --arch mamba2 --d-state 64 \
  --head-dim 32 --lr 2e-3 --out "$work/recall-mamba2" $common &
p2=$!
wait $p1 $p2 || true
for a in mamba1 mamba2; do tail -n 3 "$work/train-recall-$a.log" || true; done

# 2. Accuracy (1 024 samples per key count, held-out seed 4242) and retrieval faithfulness.
evaluate() {  # arch
  local a=$1 m=$work/recall-$1
  [ -f "$m/model.safetensors" ] || { stamp "recall-$a: no checkpoint"; return 0; }
  step acc-recall-$a 40 $B/mamba-explain-train eval-recall --model-dir "$m" --length $ctx \
    --keys 1,2,4 --samples 1024 --seed 4242 --device cuda
  step acc-recall-$a-ctx$((4 * ctx)) 40 $B/mamba-explain-train eval-recall --model-dir "$m" \
    --length $((4 * ctx)) --keys 1,2,4 --samples 1024 --seed 4242 --device cuda
  for k in 1 2 4; do  # one run per key count: a timeout loses one table, not all
    step eval-recall-$a-k$k "${EVAL_LIMIT:-50}" $B/mamba-explain-eval recall --model-dir "$m" \
      --length $ctx --keys $k --samples "${SAMPLES:-64}" --grad-samples "${GRAD_SAMPLES:-16}" \
      --ig-steps 16 --sg-samples 16 --device cuda --json "$work/eval-recall-$a-k$k.json" \
      --markdown "$work/eval-recall-$a-k$k.md"
  done
}
evaluate mamba1 &
evaluate mamba2 &

# 3. Decomposition error at scale, meanwhile (the GPU is shared; each run is small).
wait "$make_pid" || true
tail -n 2 "$work/make_random_models.log" || true
dl=${DECOMP_LENGTH:-512}
ds=${DECOMP_SAMPLES:-8}
for m in m1-130m m2-130m; do
  [ -f "$rand/$m/config.json" ] || { stamp "decomp-$m: no model"; continue; }
  step decomp-random-$m 90 $B/mamba-explain-eval decomposition --model-dir "$rand/$m" \
    --task random --length "$dl" --samples "$ds" --bins 4 --device cuda \
    --json "$work/decomp-random-$m.json" --markdown "$work/decomp-random-$m.md"
done
wait
for a in mamba1 mamba2; do
  m=$work/recall-$a
  [ -f "$m/model.safetensors" ] || continue
  step decomp-recall-$a 40 $B/mamba-explain-eval decomposition --model-dir "$m" --task recall \
    --length $ctx --keys 4 --samples 32 --bins 2 --device cuda \
    --json "$work/decomp-recall-$a.json" --markdown "$work/decomp-recall-$a.md"
done
for m in paper/copy-*-paper; do
  [ -f "$m/model.safetensors" ] || continue
  n=$(basename "$m")
  step decomp-$n 40 $B/mamba-explain-eval decomposition --model-dir "$m" --task copy \
    --length 50 --samples 32 --bins 4 --device cuda --json "$work/decomp-$n.json" \
    --markdown "$work/decomp-$n.md"
done

# Summary on stdout (the full tables are in the archive).
for f in "$work"/acc-recall-*.log; do echo "== $(basename "$f")"; tail -n 1 "$f" || true; done
for f in "$work"/eval-recall-*.md "$work"/decomp-*.md; do
  [ -f "$f" ] || continue
  echo "== $(basename "$f")"
  head -n 12 "$f"
done
stamp "done"
