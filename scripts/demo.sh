#!/usr/bin/env bash
# The demo: installs dependencies, builds, and asks a committed model for its next-token
# prediction on a text prompt (tokenized with the GPT-NeoX tokenizer from ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
tok=${ME_TOKENIZER:-../shared/data/gpt-neox-20b-tokenizer.json}
model=${ME_MODEL_DIR:-tests/fixtures/mamba1_bias_tied}
prompt=${ME_PROMPT:-Hello my name is}
echo "== tokenize: $prompt"
./build/mamba-explain tokenize --tokenizer "$tok" --text "$prompt"
echo "== forward (last position) on $model"
# The fixture model has a 96-token vocabulary: map the prompt's ids into it for the demo.
ids=$(./build/mamba-explain tokenize --tokenizer "$tok" --text "$prompt" |
  python3 -c 'import json,sys; print(",".join(str(i % 96) for i in json.load(sys.stdin)["ids"]))')
./build/mamba-explain forward --model-dir "$model" --ids "$ids" --last | head -c 300
echo " ..."
