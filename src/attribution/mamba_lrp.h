// MambaLRP (Rezaei Jafari et al. 2024, §4, Algs. 1–2; baselines.md §1): Gradient×Input at the
// embeddings of a "relevance forward" — the model's blocks re-implemented over the same weights
// with the paper's detach rules, so that Σ_s R_s equals the explained logit up to the biases:
//   SiLU identity rule  x′ = stab(a)·[SiLU(a)/stab(a)]_const, stab(a) = a + 1e-6·(sign(a) + [a=0])
//   SSM rule            Δ, Ā, B̄, C constant (Mamba-1: SelectiveScanDifferentiable kInputOnly, one
//                       adjoint scan, no per-step states stored; Mamba-2: detached in the chunked
//                       SSD)
//   half rule           o = ½·(y ⊙ g) + ½·[y ⊙ g]_const, y including the D skip (paper eq. 9)
//   LN-rule             every RMSNorm's (mean r² + ε)^(−½) constant, norm_f and (Mamba-2) the
//                       gated norm included.
// Forward values equal the production forward's. Mamba-2 is our extension (§1.8), not the paper's.
#ifndef MAMBA_EXPLAIN_ATTRIBUTION_MAMBA_LRP_H_
#define MAMBA_EXPLAIN_ATTRIBUTION_MAMBA_LRP_H_

#include <torch/torch.h>

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "attribution/attribution_types.h"
#include "attribution/methods.h"
#include "common/cancellation.h"
#include "mamba/layer_check.h"
#include "mamba/mamba_model.h"

namespace mamba_explain {

// LrpRules and ParseLrpRules / LrpRulesName: attribution/methods.h.

// The relevance forward: embeddings [B, L, D] fp32, lengths [B] (or undefined) -> logits [B, V]
// at each sequence's last real position. Differentiable when the embeddings require grad.
// `check` as ForwardOptions::layer_check (before every block of the forward and of the backward).
absl::StatusOr<torch::Tensor> RelevanceForward(const MambaModel& model, const torch::Tensor& x,
                                               const torch::Tensor& lengths, const LrpRules& rules,
                                               const LayerCheck& check = LayerCheck());
// The same logits with activation checkpointing per block (mamba/checkpointed_forward.h): each
// block runs without a graph and keeps only its input; the backward recomputes one block's
// relevance graph at a time. Same values and gradients, memory O(layers·B·L·D) plus one block's
// activations instead of every block's. ExplainMambaLrp uses it past kCheckpointAboveBytes of
// plain activations. `model` must outlive the graph.
absl::StatusOr<torch::Tensor> CheckpointedRelevanceForward(const MambaModel& model,
                                                           const torch::Tensor& x,
                                                           const torch::Tensor& lengths,
                                                           const LrpRules& rules,
                                                           const LayerCheck& check = LayerCheck());

struct MambaLrpOptions {
  LrpRules rules;
  RowSelection rows;
  std::vector<RowSelection> sequence_rows;  // when not empty: one per sequence (replaces rows)
  std::optional<int64_t> target_token;      // unset = the predicted next token at each row
  int64_t max_batch_tokens = 8192;
  Cancellation cancel;  // as GradientMethodOptions::cancel
  // Optional: "mamba-lrp" and its rows done of the total after each forward/backward batch.
  MethodProgress progress;
};

// One "mamba-lrp" result per sequence (layer −1; rows, targets, explained logits; approx_error =
// max over rows of |Σ_s R_s − f| / |f|, the bias share). Errors as ExplainGradients.
absl::Status ExplainMambaLrp(const MambaModel& model, const torch::Tensor& ids,
                             const torch::Tensor& lengths, const MambaLrpOptions& options,
                             const ResultCallback& callback);
absl::StatusOr<std::vector<AttributionResult>> ExplainMambaLrp(const MambaModel& model,
                                                               const torch::Tensor& ids,
                                                               const torch::Tensor& lengths,
                                                               const MambaLrpOptions& options);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_ATTRIBUTION_MAMBA_LRP_H_
