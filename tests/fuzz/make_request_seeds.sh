#!/usr/bin/env bash
# Writes the seed corpus of request_fuzz (tests/fuzz/corpus/request_fuzz/): ExplainRequests in
# protobuf text format, one per seed, encoded with protoc. The seeds cover every field: text and
# ids, each method family with its parameters, layers, rows (list and LAST), target tokens, every
# sparsity mode, priority, request_id, and a few refusals (both text and ids, unknown enum).
# usage: tests/fuzz/make_request_seeds.sh   (needs protoc; rerun after changing explain.proto)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
out=$src/tests/fuzz/corpus/request_fuzz
mkdir -p "$out"
seed() {  # NAME TEXTPROTO
  printf '%s\n' "$2" | protoc --proto_path="$src/proto" \
    --encode=mamba_explain.v1.ExplainRequest mamba_explain/v1/explain.proto >"$out/$1.pb"
}
seed ids_latim 'model: "m" token_ids: [1, 2, 3, 4] methods: ["latim-l2"]'
seed text_latim_all 'model: "m" text: "ab ab abc" methods: ["latim-l1", "latim-l2", "latim-alti"] layers: [0, 5]'
seed alti_logit_targets 'model: "m" token_ids: [5, 6, 7] methods: ["latim-alti-logit"] target_rows: [0, 2] target_tokens: [9, 10]'
seed ig 'model: "m" token_ids: [1, 2, 3] methods: ["integrated-gradients"] row_selection: ROW_SELECTION_LAST parameters { ig_steps: 16 ig_rule: "riemann" }'
seed smoothgrad 'model: "m" text: "a b" methods: ["smoothgrad"] target_token: 7 parameters { smoothgrad_samples: 4 smoothgrad_sigma: 0.5 seed: 3 smoothgrad_input: "clean" }'
seed lrp 'model: "m" token_ids: [3, 3, 3] methods: ["mamba-lrp", "grad-x-input"] parameters { lrp_rules: "no-silu,no-gate" }'
seed attention 'model: "m" token_ids: [1, 2, 3, 4, 5] methods: ["mamba-attention", "rollout", "mamba-attribution"] parameters { attention_norm: "raw" start_layer: 2 memory_budget_mib: 8 }'
seed topk 'model: "m" token_ids: [1, 2, 3, 4, 5, 6] methods: ["synthetic-decay"] sparsity { mode: TOP_K top_k: 2 }'
seed threshold 'model: "m" token_ids: [1, 2, 3, 4, 5, 6] methods: ["synthetic-decay"] sparsity { mode: THRESHOLD threshold: 0.25 } priority: 3 request_id: "r-1"'
seed mass 'model: "m" token_ids: [1, 2, 3, 4, 5, 6] methods: ["synthetic-decay", "synthetic-logit"] sparsity { mode: MASS mass: 0.9 } activation: ACTIVATION_IDENTITY precision: PRECISION_FP32'
seed refused_both 'model: "m" text: "x" token_ids: [1] methods: ["latim-l2"]'
seed refused_enum 'model: "m" token_ids: [1] methods: ["latim-l2"] activation: 77'
