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

# The service: start mamba-explaind on the model, explain one prompt through the client and
# render the HTML report. The engine backend serves the methods built into this binary; when it
# reports none (LaTIM not built in yet), the demo falls back to the synthetic transport backend
# and says so.
if [ -x build/mamba-explaind ]; then
  out=${ME_DEMO_OUT:-demo_out}
  mkdir -p "$out"
  repo=$(mktemp -d)
  trap 'kill "$spid" 2>/dev/null; rm -rf "$repo"' EXIT
  ln -s "$(cd "$model" && pwd)" "$repo/demo"
  start() {
    ./build/mamba-explaind --model_repository "$repo" --host 127.0.0.1 --port 0 --metrics_port 0 \
      --metrics_address 127.0.0.1 --plaintext "$@" 2>"$out/server.log" &
    spid=$!
    for _ in $(seq 1 600); do grep -q grpc_port= "$out/server.log" && break; sleep 0.1; done
    port=$(sed -n 's/.*grpc_port=\([0-9]*\).*/\1/p' "$out/server.log")
  }
  start
  methods=$(./build/mamba-explain models --server 127.0.0.1:$port --model demo |
    python3 -c 'import json,sys; print(",".join(json.load(sys.stdin)["methods"]))')
  if [ -z "$methods" ]; then
    echo "== the engine serves no explanation methods yet: using --backend synthetic"
    kill "$spid"; wait "$spid" 2>/dev/null || true
    start --backend synthetic
    methods=synthetic-decay,synthetic-logit
  fi
  echo "== mamba-explaind on 127.0.0.1:$port: explain '$prompt' with $methods"
  ./build/mamba-explain explain --server 127.0.0.1:$port --model demo --ids "$ids" \
    --methods "$methods" --top-k 8 --json "$out/explanation.json" --html "$out/explanation.html"
  echo "== wrote $out/explanation.json and $out/explanation.html"
fi
