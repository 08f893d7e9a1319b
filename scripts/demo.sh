#!/usr/bin/env bash
# The demo: installs dependencies, builds, asks a committed model for its next-token prediction on
# a copy-task input (models/copy-mamba1-silu; without models/, a test fixture on a text prompt
# tokenized with the repository's GPT-NeoX tokenizer, data/), then serves the model
# with mamba-explaind, explains the prompt with LaTIM through the gRPC client and writes the HTML
# report. With the text demo model (models/text-mamba1, trained on WordNet glosses) the same
# server also explains an English prompt (ME_TEXT_PROMPT), tokenized by the server with the
# model's own tokenizer.json; the report paths are printed last. ME_MODEL_DIR, ME_PROMPT,
# ME_METHODS, ME_DEMO_OUT override.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
tok=${ME_TOKENIZER:-data/gpt-neox-20b-tokenizer.json}
# The committed copy model when present (models/README.md), else a committed test fixture.
default_model=tests/fixtures/mamba1_bias_tied
[ -d models/copy-mamba1-silu ] && default_model=models/copy-mamba1-silu
model=${ME_MODEL_DIR:-$default_model}
prompt=${ME_PROMPT:-Hello my name is}
case "$(basename "$model")" in
  copy-*)
    # The copy task: [BOS]=0 s_0..s_15 [SEP]=1 s_0..s_7 (symbols 2-15); the model continues with s_8.
    prompt="copy task: [BOS] s_0..s_15 [SEP] s_0..s_7"
    ids=$(python3 -c 'import random; r = random.Random(3); s = [r.randint(2, 15) for _ in range(16)]
print(",".join(map(str, [0] + s + [1] + s[:8])))')
    ;;
  *)
    echo "== tokenize: $prompt"
    ./build/mamba-explain tokenize --tokenizer "$tok" --text "$prompt"
    # Map the prompt's GPT-NeoX ids into the model's (small) vocabulary for the demo.
    vocab=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1] + "/config.json"))["vocab_size"])' "$model")
    ids=$(./build/mamba-explain tokenize --tokenizer "$tok" --text "$prompt" |
      python3 -c 'import json,sys; print(",".join(str(i % int(sys.argv[1])) for i in json.load(sys.stdin)["ids"]))' "$vocab")
    ;;
esac
echo "== forward (last position) on $model, ids $ids"
./build/mamba-explain forward --model-dir "$model" --ids "$ids" --top-k 3

# The service: start mamba-explaind on the model (LibTorch engine), explain the prompt with LaTIM
# through the gRPC client and write the HTML report.
[ -x build/mamba-explaind ] || { echo "build/mamba-explaind was not built (needs gRPC)" >&2; exit 1; }
out=${ME_DEMO_OUT:-demo_out}
mkdir -p "$out"
repo=$(mktemp -d)
spid=
trap '[ -n "$spid" ] && kill "$spid" 2>/dev/null; rm -rf "$repo"' EXIT
cp -r "$model" "$repo/demo"  # a copy: the server refuses symlinks out of its repository
text_model=models/text-mamba1
[ -d "$text_model" ] && cp -r "$text_model" "$repo/text"
./build/mamba-explaind --model_repository "$repo" --host 127.0.0.1 --port 0 --metrics_port 0 \
  --metrics_address 127.0.0.1 --plaintext 2>"$out/server.log" &
spid=$!
port=
for _ in $(seq 1 600); do
  port=$(sed -n 's/.*grpc_port=\([0-9]*\).*/\1/p' "$out/server.log")
  [ -n "$port" ] && break
  kill -0 "$spid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$port" ] || { echo "mamba-explaind did not start:" >&2; cat "$out/server.log" >&2; exit 1; }
methods=${ME_METHODS:-latim-l2,latim-alti,latim-alti-logit}
echo "== mamba-explaind on 127.0.0.1:$port serves: $(./build/mamba-explain models --server 127.0.0.1:$port --model demo |
  python3 -c 'import json,sys; print(",".join(json.load(sys.stdin)["methods"]))')"
echo "== explain '$prompt' with $methods"
./build/mamba-explain explain --server 127.0.0.1:$port --model demo --ids "$ids" \
  --method "$methods" --json "$out/explanation.json" --html "$out/explanation.html"
text_prompt=${ME_TEXT_PROMPT:-'kitten: young domestic cat; "the kitten played with the ball'}
if [ -d "$repo/text" ]; then
  echo "== explain English text with the text demo model ($text_model): $text_prompt"
  ./build/mamba-explain explain --server 127.0.0.1:$port --model text --text "$text_prompt" \
    --method "$methods" --json "$out/text_explanation.json" --html "$out/text_explanation.html"
fi
kill -TERM "$spid"
wait "$spid" || true
spid=
echo "== wrote $out/explanation.json"
echo "== HTML report: $(cd "$out" && pwd)/explanation.html"
if [ -d "$repo/text" ]; then
  echo "== text HTML report: $(cd "$out" && pwd)/text_explanation.html"
fi
