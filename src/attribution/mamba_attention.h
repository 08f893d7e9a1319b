// The hidden-attention baselines of Ali, Zimerman & Wolf (baselines.md §2) on full token×token
// matrices (not their CLS-row shortcut), for Mamba-1 (channel mean) and Mamba-2 (head mean), from
// the exact hidden attention α of hidden_attention.h (no D skip, conv, SiLU or gate):
//   mamba-attention    per layer ℓ: A_ℓ = mean_u norm(α_u) (raw | min-max | |·| min-max, §2.4)
//   rollout            P = M̂_{L−1}···M̂_s, M̂ = rownorm(mean_u α_u + I); row t of P, clamped ≥ 0 and
//                      renormalised (rows are distributions)
//   mamba-attribution  as rollout on f_ℓ[i,j] = minmax(mean_u max(α_u, 0))[i,j] · ŝ_ℓ[j], ŝ_ℓ[j] =
//                      min-max over j ≤ t of max_k max(∂f/∂r_ℓ[j,k], 0), r_ℓ the block input, f
//                      the target logit of row t (one backward per row, unmodified model)
// Min/max run over the causal entries (s ≤ t) of every unit; entries s > t stay 0. Non-positive
// row sums fall back to the identity row. Choices: docs/methods.md.
#ifndef MAMBA_EXPLAIN_ATTRIBUTION_MAMBA_ATTENTION_H_
#define MAMBA_EXPLAIN_ATTRIBUTION_MAMBA_ATTENTION_H_

#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "attribution/attribution_types.h"
#include "attribution/methods.h"
#include "common/cancellation.h"
#include "mamba/mamba_model.h"

namespace mamba_explain {

enum class HiddenAttentionMethod { kMambaAttention, kRollout, kMambaAttribution };

// The hidden-attention methods of the catalogue (methods.h), as this family enumerates them.
Method HiddenAttentionMethodMethod(HiddenAttentionMethod method);
// INVALID_ARGUMENT for a method of another family.
absl::StatusOr<HiddenAttentionMethod> HiddenAttentionMethodOf(Method method);

struct MambaAttentionOptions {
  std::vector<HiddenAttentionMethod> methods = {HiddenAttentionMethod::kMambaAttention};
  std::vector<int> layers;  // mamba-attention layers; empty = all
  RowSelection rows;
  AttentionNorm attention_norm = AttentionNorm::kMinMax;  // mamba-attention
  int start_layer = 0;  // rollout / mamba-attribution multiply layers start_layer..L−1
  std::optional<int64_t> target_token;  // mamba-attribution; unset = predicted next token
  int64_t memory_budget_bytes = int64_t{256} << 20;  // α blocks
  int64_t max_batch_tokens = 8192;                   // mamba-attribution backward batches
  // Checked before each layer's α blocks of a sequence: a cancelled sequence stops there and
  // gets no further result; CANCELLED when every sequence is cancelled.
  Cancellation cancel;
};

// ids [B, L] right-padded, lengths [B] or undefined. Per sequence: mamba-attention results per
// layer (increasing), then rollout and mamba-attribution (layer −1; attribution with targets and
// explained logits). The options are trusted: the Engine's entry check (explain CheckValidated) is
// the one check of layers, start layer, rows and target (debug builds assert them). CANCELLED;
// LibTorch errors are thrown (explain/error_boundary.h).
absl::Status ExplainHiddenAttention(const MambaModel& model, const torch::Tensor& ids,
                                    const torch::Tensor& lengths,
                                    const MambaAttentionOptions& options,
                                    const ResultCallback& callback);
absl::StatusOr<std::vector<AttributionResult>> ExplainHiddenAttention(
    const MambaModel& model, const torch::Tensor& ids, const torch::Tensor& lengths,
    const MambaAttentionOptions& options);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_ATTRIBUTION_MAMBA_ATTENTION_H_
