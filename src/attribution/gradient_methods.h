// Gradient baselines at the input embeddings e (baselines.md §3, MambaLRP App. C.3), explaining
// the raw logit f = logits[t, w(t)] of each requested target row t (targets.h):
//   Gradient×Input        R_s = Σ_k e[s,k] ∂f/∂e[s,k]
//   Integrated Gradients  R_s = Σ_k e[s,k] Σ_i w_i ∂f/∂e[s,k](α_i e), zero-embedding baseline,
//                         nodes α_i, weights w_i: Riemann midpoint or Gauss–Legendre on [0, 1]
//   SmoothGrad            R_s = mean_i Σ_k m_i[s,k] ∂f/∂e[s,k](e + ε_i), ε_i ~ N(0, σ²) absolute
//                         (m_i = e + ε_i: Captum NoiseTunnel over InputXGradient; or m_i = e)
// One graph per row; the rows, IG steps and SmoothGrad samples of every sequence of the batch are
// batch elements of shared forward/backward passes (packed to a token budget). Entries s > t are
// exactly 0. approx_error = max over rows of the completeness gap |Σ_s R_s − (f(x) − f(baseline))|
// / |f(x)| (baseline 0 for IG, none for the others). Equations and choices: docs/methods.md. The
// same driver runs MambaLRP (mamba_lrp.h).
#ifndef MAMBA_EXPLAIN_ATTRIBUTION_GRADIENT_METHODS_H_
#define MAMBA_EXPLAIN_ATTRIBUTION_GRADIENT_METHODS_H_

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "attribution/attribution_types.h"
#include "attribution/methods.h"
#include "attribution/targets.h"
#include "common/cancellation.h"
#include "mamba/mamba_model.h"

namespace mamba_explain {

enum class GradientMethod { kGradientXInput, kIntegratedGradients, kSmoothGrad };
// The gradient methods of the catalogue (methods.h), as this family enumerates them.
Method GradientMethodMethod(GradientMethod method);
// INVALID_ARGUMENT for a method of another family.
absl::StatusOr<GradientMethod> GradientMethodOf(Method method);

struct GradientMethodOptions {
  std::vector<GradientMethod> methods = {GradientMethod::kGradientXInput};
  RowSelection rows;
  // When not empty: one selection per sequence of the batch (replaces `rows`).
  std::vector<RowSelection> sequence_rows;
  std::optional<int64_t> target_token;  // unset = the predicted next token at each row
  int ig_steps = 30;
  IgQuadrature ig_quadrature = IgQuadrature::kGaussLegendre;  // Captum's default
  int smoothgrad_samples = 30;
  double smoothgrad_sigma = 0.15;  // absolute, in embedding units
  SmoothGradInput smoothgrad_input = SmoothGradInput::kNoisy;
  uint64_t seed = 0;
  // Padded positions per forward/backward batch: items (sequence, row, step or sample) of every
  // sequence are packed together, an item costing its length t + 1.
  int64_t max_batch_tokens = 8192;
  // Checked before each forward/backward batch: a cancelled sequence's remaining items are not
  // computed and it gets no result; and before every block of a batch's forward and backward: a
  // batch whose every sequence is cancelled stops there. CANCELLED when every sequence is
  // cancelled.
  Cancellation cancel;
  // Optional: after each forward/backward batch, the method and its items (rows × IG steps or
  // SmoothGrad samples, over every sequence) done of the total.
  MethodProgress progress;
};

// Nodes α_i ∈ (0, 1) and weights (Σ w_i = 1) of the m-point rule.
void QuadratureRule(IgQuadrature rule, int m, std::vector<double>* nodes,
                    std::vector<double>* weights);

// ids: int64 [B, L] right-padded, lengths [B] or undefined. One result per (sequence, method),
// layer −1, in the order of options.methods; `targets` and `explained_logits` per row.
// The options are trusted: the Engine's entry check (explain CheckValidated) is the one check of
// rows, targets, steps, samples and σ (debug builds assert them). CANCELLED; LibTorch errors are
// thrown (the Engine, explain/error_boundary.h, is the one boundary).
absl::Status ExplainGradients(const MambaModel& model, const torch::Tensor& ids,
                              const torch::Tensor& lengths, const GradientMethodOptions& options,
                              const ResultCallback& callback);
absl::StatusOr<std::vector<AttributionResult>> ExplainGradients(
    const MambaModel& model, const torch::Tensor& ids, const torch::Tensor& lengths,
    const GradientMethodOptions& options);

// `sequence_rows` when given (one per sequence), else `rows` for every sequence.
inline std::vector<RowSelection> SequenceRows(const RowSelection& rows,
                                              const std::vector<RowSelection>& sequence_rows) {
  return sequence_rows.empty() ? std::vector<RowSelection>{rows} : sequence_rows;
}

// Gradient×Input of `fn` (any EmbeddingLogitFn, e.g. MambaLRP's modified forward), reported as
// `method`; `rows` has one selection per sequence, or one for all.
absl::Status GradientTimesInput(const MambaModel& model, const EmbeddingLogitFn& fn, Method method,
                                const torch::Tensor& ids, const torch::Tensor& lengths,
                                const std::vector<RowSelection>& rows,
                                std::optional<int64_t> target_token, int64_t max_batch_tokens,
                                const ResultCallback& callback,
                                const Cancellation& cancel = Cancellation(),
                                const MethodProgress& progress = MethodProgress());

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_ATTRIBUTION_GRADIENT_METHODS_H_
