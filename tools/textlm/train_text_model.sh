#!/usr/bin/env bash
# Rebuilds the committed text demo model (models/text-mamba1/README.md) from Debian's
# wordnet-base: corpus extraction, BPE tokenizer, training on one CPU core.
#   bash tools/textlm/train_text_model.sh [OUT (default models/text-mamba1)] [WORK (default /tmp/textlm)]
# Needs: apt-get install wordnet-base (python3-regex optional: the corpus is ASCII) and
# ./build/mamba-explain-train. Debian's LibTorch calls the system BLAS; the reference libblas3 is
# ~5x slower for training than OpenBLAS, so when OPENBLAS_DIR holds an OpenBLAS libblas.so.3
# (e.g. `apt-get download libopenblas0-serial && dpkg -x libopenblas0-serial_*.deb ob`, then
# OPENBLAS_DIR=ob/usr/lib/x86_64-linux-gnu/openblas-serial) the trainer runs with it, without
# changing the system's BLAS. MINUTES (default 40) bounds the training wall time (a checkpoint is
# written when it is reached; RESUME=1 continues); CORE (default 1) is the CPU it is pinned to.
set -euo pipefail
out=${1:-models/text-mamba1}
work=${2:-/tmp/textlm}
bin=${TRAIN_BIN:-./build/mamba-explain-train}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
python3 "$here/make_corpus.py" "$work/corpus"
python3 "$here/learn_bpe.py" "$work/corpus/train.txt" "$work/tokenizer.json" --vocab 2048
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
if [ -n "${OPENBLAS_DIR:-}" ]; then
  export LD_LIBRARY_PATH=$OPENBLAS_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
rc=0
taskset -c "${CORE:-1}" nice "$bin" text --out "$out" --corpus "$work/corpus" \
  --tokenizer "$work/tokenizer.json" --arch mamba1 --layers 4 --d-model 128 --d-state 16 \
  --length 128 --batch 16 --steps "${STEPS:-3000}" --lr 3e-3 --warmup 200 --weight-decay 0.1 \
  --seed 11 --log-every 100 --eval-samples 100000 --max-minutes "${MINUTES:-40}" \
  ${RESUME:+--resume} || rc=$?
if [ "$rc" -eq 3 ]; then
  echo "stopped at the time limit: $out holds the model so far (RESUME=1 continues;" \
    "delete $out/optimizer.pt and $out/train_state.json before committing it)" >&2
elif [ "$rc" -eq 0 ]; then
  rm -f "$out/optimizer.pt" "$out/train_state.json"  # resumable state, not part of the model
else
  exit "$rc"
fi
