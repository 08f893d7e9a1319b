// LaTIM (Pitorro & Treviso 2025, §3 and Table 1): token-to-token contribution vectors T_t(x_s) of
// every Mamba-1/Mamba-2 layer and the scores built on them — ℓ1, ℓ2, ALTI (with the residual) and
// ALTI-Logit (rolled out through the residual stream). Equations and every choice the paper leaves
// open: docs/methods.md. Guarantees: entries with s > t are exactly 0; ALTI rows sum to 1; selected
// rows equal the same rows of the full computation; rows = {last} costs O(n·E) memory and O(n·E·N)
// work per layer for ℓ/ALTI (ALTI-Logit needs the rows ≤ t of every layer's ALTI matrix, O(n²)).
// Peak memory beyond one layer's trace and the checkpoints: ≈ max(budget, n·4·(2E + 3D) bytes) +
// n·4·(K + 2)·E per layer.
#ifndef MAMBA_EXPLAIN_ATTRIBUTION_LATIM_H_
#define MAMBA_EXPLAIN_ATTRIBUTION_LATIM_H_

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "attribution/attribution_types.h"
#include "attribution/methods.h"
#include "common/cancellation.h"
#include "common/precision.h"
#include "kernels/latim_kernels.h"
#include "mamba/layer_traces.h"
#include "mamba/mamba_model.h"

namespace mamba_explain {

// The LaTIM methods of the catalogue (methods.h), as this family enumerates them.
enum class LatimScore { kL1, kL2, kAlti, kAltiLogit };
Method LatimScoreMethod(LatimScore score);
// INVALID_ARGUMENT for a method of another family.
absl::StatusOr<LatimScore> LatimScoreOf(Method method);

struct LatimOptions {
  std::vector<LatimScore> scores = {LatimScore::kL2};
  std::vector<int> layers;  // per-layer scores; empty = all layers (ALTI-Logit always uses all)
  RowSelection rows;
  Activation activation = Activation::kSilu;
  // Numeric mode of the W_out contraction on the batched path (DESIGN §4, docs/methods.md §5b);
  // the per-sequence reference path is always fp32. The explain layer only passes a mode the
  // model's weights support (ComputePrecisionSupported).
  Precision precision = Precision::kFp32;
  // ALTI-Logit target token; unset = the predicted next token (argmax of the logits) at each row.
  std::optional<int64_t> target_token;
  int64_t memory_budget_bytes = int64_t{256} << 20;  // for the row/channel blocks
  // Batched serving: per-sequence overrides, one entry per batch sequence when non-empty.
  // sequence_rows[b]: the target rows of sequence b (ascending, unique, < its length; replaces
  // `rows`). sequence_targets[b]: ALTI-Logit token per row of sequence_rows[b], or empty for
  // `target_token` / the predicted next token.
  std::vector<std::vector<int64_t>> sequence_rows;
  std::vector<std::vector<int64_t>> sequence_targets;
  // How the per-layer terms are computed. kAuto: the batched decomposition kernels
  // (latim_batched.h) when the model is on CUDA, else the per-sequence LibTorch reference.
  // kKernels: the batched path anywhere (on the CPU its ops are the kernels' references, which is
  // how tests check the path itself); kReference: the per-sequence reference anywhere.
  enum class Backend { kAuto, kKernels, kReference };
  Backend backend = Backend::kAuto;
  // Checked before every layer (and every row block of the batched path): CANCELLED once no
  // sequence of the batch is wanted any more.
  Cancellation cancel;
};

// Runs the forward pass and computes every requested score, recomputing one layer's trace at a
// time (mamba/layer_traces.h): memory O(B·L·D) plus one layer's trace for ℓ1/ℓ2/ALTI, and
// O(layers·B·L·D) plus one layer's trace with ALTI-Logit.
// ids: int64 [B, L] right-padded; lengths: int64 [B] or undefined (all L). Results stream through
// `callback` as each (layer, sequence, method) finishes: per-layer scores in increasing layer
// order, or — when ALTI-Logit is requested — in decreasing order followed by ALTI-Logit (layer −1).
// The options are trusted: the Engine's entry check (explain CheckValidated) is the one check of
// layers, rows and targets (debug builds assert them). Errors: CANCELLED when the callback returns
// false; LibTorch errors are thrown (explain/error_boundary.h catches them).
absl::Status ExplainLatim(const MambaModel& model, const torch::Tensor& ids,
                          const torch::Tensor& lengths, const LatimOptions& options,
                          const ResultCallback& callback);

// Same, collecting every result.
absl::StatusOr<std::vector<AttributionResult>> ExplainLatim(const MambaModel& model,
                                                            const torch::Tensor& ids,
                                                            const torch::Tensor& lengths,
                                                            const LatimOptions& options);

// From layer traces that can give the needed layers: ascending selected layers, or — with
// ALTI-Logit — every layer top-down (LatimTraceOptions says which order ExplainLatim asks for).
absl::Status LatimFromTraces(const MambaModel& model, LayerTraces& traces,
                             const torch::Tensor& lengths, const LatimOptions& options,
                             const ResultCallback& callback);
// From an existing forward pass whose trace covers the needed layers (all layers for ALTI-Logit).
absl::Status LatimFromTrace(const MambaModel& model, const Trace& trace,
                            const torch::Tensor& lengths, const LatimOptions& options,
                            const ResultCallback& callback);

// How ExplainLatim recomputes traces: bottom-up keeping only the residual stream, or (ALTI-Logit)
// keeping every layer's input; chunked under options.memory_budget_bytes.
LayerTracesOptions LatimTraceOptions(const LatimOptions& options);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_ATTRIBUTION_LATIM_H_
