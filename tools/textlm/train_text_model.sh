#!/usr/bin/env bash
# Rebuilds the committed text demo model (models/text-mamba1/README.md) from Debian's
# wordnet-base: corpus extraction, BPE tokenizer, training on one CPU core.
#   bash tools/textlm/train_text_model.sh [OUT (default models/text-mamba1)] [WORK (default /tmp/textlm)]
# Needs: apt-get install wordnet-base python3-regex; ./build/mamba-explain-train built.
# MINUTES (default 40) bounds the training wall time; CORE (default 1) is the CPU it is pinned to.
# STEPS, BATCH, LENGTH override the recipe (for a quick trial).
set -euo pipefail
out=${1:-models/text-mamba1}
work=${2:-/tmp/textlm}
bin=${TRAIN_BIN:-./build/mamba-explain-train}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
python3 "$here/make_corpus.py" "$work/corpus"
python3 "$here/learn_bpe.py" "$work/corpus/train.txt" "$work/tokenizer.json" --vocab 2048
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
taskset -c "${CORE:-1}" nice "$bin" text --out "$out" --corpus "$work/corpus" \
  --tokenizer "$work/tokenizer.json" --arch mamba1 --layers 4 --d-model 128 --d-state 16 \
  --length "${LENGTH:-128}" --batch "${BATCH:-16}" --steps "${STEPS:-6000}" --lr 3e-3 \
  --warmup 200 --weight-decay 0.1 --seed 11 --log-every 100 --eval-samples 100000 \
  --max-minutes "${MINUTES:-40}" ${RESUME:+--resume}
