// Plain C++ types of one explanation request as the serving layer sees it: the batch-compatible
// options, one input sequence, and the per-(method, layer) results a backend produces. No gRPC,
// protobuf or LibTorch types, so the batcher and backends are testable without either.
// Value types; thread-compatible.
#ifndef MAMBA_EXPLAIN_SERVING_EXPLAIN_TYPES_H_
#define MAMBA_EXPLAIN_SERVING_EXPLAIN_TYPES_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "attribution/methods.h"
#include "common/precision.h"
#include "explain/explain_request.h"

namespace mamba_explain {

// Method parameters as the wire carries them (proto MethodParameters): zero / empty = the
// default, so an unset field means "default" (σ = 0 is a valid value, hence optional). Choices are
// spelled as in the catalogue (attribution/methods.h); request_validation parses them into
// ExplainParameters, naming the field on error.
struct MethodParameters {
  int32_t ig_steps = 0;                   // integrated-gradients; 0 = default
  int32_t smoothgrad_samples = 0;         // smoothgrad; 0 = default
  std::optional<float> smoothgrad_sigma;  // smoothgrad, absolute; unset = default
  uint64_t seed = 0;                      // smoothgrad noise
  int32_t memory_budget_mib = 0;  // LaTIM / mamba-attention block budget; 0 = backend default
  std::string ig_rule;            // IgQuadratureChoices(); empty = default
  std::string smoothgrad_input;   // SmoothGradInputChoices(); empty = default
  std::string lrp_rules;          // comma list of LrpRuleChoices(); empty = default
  std::string attention_norm;     // AttentionNormChoices(); empty = default
  int32_t start_layer = 0;        // rollout / mamba-attribution: first layer multiplied
};

// The typed options of one validated request (everything but its sequence). Requests with
// different options share a batch: the engine backend runs each method family over the requests
// that asked for it, in calls whose own keys hold that family's parameters (batch_plan.h).
struct BatchOptions {
  std::vector<Method> methods;  // in request order, no duplicates
  std::vector<int32_t> layers;  // increasing, in [0, n_layers)
  Activation activation = Activation::kSilu;
  Precision precision = Precision::kFp32;            // resolved compute precision
  int64_t memory_budget_bytes = int64_t{256} << 20;  // blocking only: never changes a result
  ExplainParameters params;

  // Equal keys <=> two requests may share a batch. Engine methods: always (the key is empty); a
  // batch is split into family calls inside the backend (batch_plan.h). Synthetic methods: every
  // field, since their backend runs a batch as one call with the first request's options.
  std::string Key() const;
};

// One sequence of a batch.
struct ExplainInput {
  std::vector<int32_t> ids;            // length L >= 1, each < vocab
  std::vector<int32_t> target_rows;    // increasing positions in [0, L)
  std::vector<int32_t> target_tokens;  // empty, or one token id per target row
};

// One request of a batch as a backend sees it: its options and its sequence.
struct BatchItem {
  BatchOptions options;
  ExplainInput input;
};

// One (method, layer) token-to-token matrix of one sequence: rows are the input's target rows,
// columns are all L source positions; row-major rows.size() x cols.
struct LayerMatrix {
  std::string method;
  int32_t layer = 0;  // -1 for whole-model aggregates
  std::vector<int32_t> rows;
  int64_t cols = 0;
  std::vector<float> values;
  float approx_error = std::numeric_limits<float>::quiet_NaN();
  std::vector<int32_t> target_tokens;  // output-dependent methods: the explained token per row
};

// Per-target source relevance vectors (output-dependent methods without a token-to-token
// matrix: the gradient methods, mamba-lrp, mamba-attribution).
struct TokenScoreRows {
  std::string method;
  int32_t layer = -1;
  std::vector<int32_t> rows;
  std::vector<int32_t> target_tokens;
  int64_t cols = 0;
  std::vector<float> scores;            // rows.size() x cols
  std::vector<float> explained_logits;  // the explained raw logit per row (may be empty)
  float approx_error = std::numeric_limits<float>::quiet_NaN();  // completeness gap, if any
};

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVING_EXPLAIN_TYPES_H_
