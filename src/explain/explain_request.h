// The typed explanation request, and its one validation (DESIGN §2 step 1). An ExplainRequest says
// what to explain in catalogue terms (methods.h): methods, layers, rows (all / last / a list),
// targets, precision, memory budget and the typed method parameters. Validate checks it once
// against the sequences and the model's shape and resolves every default (all layers, rows per
// sequence, the model's precision), giving a ValidatedRequest that the Engine runs without
// checking anything again. The CLI, the server (through serving/request_validation) and the
// evaluator all call Validate; the Engine checks what it is handed once more with CheckValidated
// (the same rules), and nothing below it re-checks. Torch-free; pure functions.
#ifndef MAMBA_EXPLAIN_EXPLAIN_EXPLAIN_REQUEST_H_
#define MAMBA_EXPLAIN_EXPLAIN_EXPLAIN_REQUEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "attribution/attribution_types.h"
#include "attribution/methods.h"
#include "common/precision.h"

namespace mamba_explain {

// Method parameters, typed. The defaults are the engine's, the CLI's and the server's (an unset
// wire field means the default below).
struct ExplainParameters {
  int ig_steps = 30;                                    // integrated-gradients, ≥ 1
  IgQuadrature ig_rule = IgQuadrature::kGaussLegendre;  // Captum's default
  int smoothgrad_samples = 30;                          // smoothgrad, ≥ 1
  double smoothgrad_sigma = 0.15;                       // absolute, embedding units, finite ≥ 0
  SmoothGradInput smoothgrad_input = SmoothGradInput::kNoisy;
  uint64_t seed = 0;                                      // smoothgrad noise
  LrpRules lrp_rules;                                     // mamba-lrp
  AttentionNorm attention_norm = AttentionNorm::kMinMax;  // mamba-attention
  int start_layer = 0;  // rollout / mamba-attribution: first layer multiplied, < n_layers
};

struct ExplainRequest {
  std::vector<Method> methods = {Method::kLatimL2};  // no repeats
  std::vector<int> layers;  // per-layer methods' layers, any order; empty = all
  // Target rows of every sequence. kLast is each sequence's own last position.
  RowSelection rows;
  // Output-dependent methods: the token explained at every row; unset = the predicted next token.
  std::optional<int64_t> target_token;
  // Or one token per resolved row (ascending row order), overriding target_token; single-sequence
  // requests only (the server's per-row target_tokens).
  std::vector<int64_t> target_tokens;
  Activation activation = Activation::kSilu;
  std::optional<Precision> precision;                // compute precision; unset = the model's own
  int64_t memory_budget_bytes = int64_t{256} << 20;  // LaTIM / mamba-attention blocks, > 0
  ExplainParameters params;
};

// What Validate needs to know about the model.
struct ModelShape {
  int n_layers = 0;
  int64_t vocab_size = 0;
  Precision precision = Precision::kFp32;         // of the stored weights
  std::vector<Method> methods = EngineMethods();  // the methods its backend runs
};

// One validated sequence: rows ascending, unique, < its length; targets empty or one per row.
struct ValidatedSequence {
  std::vector<int32_t> ids;
  std::vector<int64_t> rows;
  std::vector<int64_t> targets;
};

// Made by Validate, or by a batcher from requests validated against the same model that share
// every field but `sequences` (serving/dynamic_batcher.h); the Engine trusts it.
struct ValidatedRequest {
  std::vector<Method> methods;  // request order, unique
  std::vector<int> layers;      // ascending, unique, in [0, n_layers); all when none was given
  std::vector<ValidatedSequence> sequences;
  std::optional<int64_t> target_token;  // in [0, vocab)
  Activation activation = Activation::kSilu;
  Precision precision = Precision::kFp32;  // resolved, supported by the weights
  int64_t memory_budget_bytes = int64_t{256} << 20;
  ExplainParameters params;

  bool HasFamily(MethodFamily family) const;
  bool NeedsTargets() const;  // any output-dependent method
};

// Checks `request` for `sequences` (each non-empty, ids < vocab) on a model of `shape`. Errors are
// INVALID_ARGUMENT naming the field and the value ("layers[1]=3 not in [0, 3)", "methods[0]=
// 'latim-l2' is repeated", "target_rows[0]=5 not in [0, 2) (sequence 1)"; the sequence is named
// when there are several).
absl::StatusOr<ValidatedRequest> Validate(const ExplainRequest& request,
                                          const std::vector<std::vector<int32_t>>& sequences,
                                          const ModelShape& shape);

// Whether `request` keeps the guarantees of a ValidatedRequest on a model of `shape` (the same
// rules as Validate, applied to the resolved form, plus rows and layers ascending and unique).
// The Engine's one entry check, for callers that build or merge a ValidatedRequest themselves
// (tests, benchmarks, the batcher): below it no family re-checks. INVALID_ARGUMENT naming the
// field and the sequence.
absl::Status CheckValidated(const ValidatedRequest& request, const ModelShape& shape);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_EXPLAIN_EXPLAIN_REQUEST_H_
