// Targets of the output-dependent attribution methods (DESIGN §3): per sequence, the requested
// target rows t (RowSelection, validated against the sequence length) and, per row, the token w(t)
// whose raw logit is explained — the predicted next token argmax_v logits[t, v] unless a token id
// is given — with that logit's value f(x) from one plain no-grad forward pass.
// Also the batching helper every gradient method shares: one graph per target row, several rows
// stacked as batch elements of one forward/backward (rows never interact: separate elements).
#ifndef MAMBA_EXPLAIN_ATTRIBUTION_TARGETS_H_
#define MAMBA_EXPLAIN_ATTRIBUTION_TARGETS_H_

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "attribution/attribution_types.h"
#include "common/cancellation.h"
#include "mamba/layer_check.h"
#include "mamba/mamba_model.h"

namespace mamba_explain {

struct SequenceTargets {
  int64_t length = 0;           // n, the sequence's real length
  std::vector<int64_t> rows;    // target positions t, ascending, deduplicated, in [0, n)
  std::vector<int64_t> tokens;  // w(t) per row
  std::vector<float> logits;    // f(x) = logits[t, w(t)] of the unmodified model, per row
};

// For every sequence of ids [B, L] (lengths [B] or undefined): rows, tokens and logits. Tokens:
// selection.tokens (one per resolved row) when given, else target_token, else the prediction.
// Rows and tokens are trusted (the Engine's entry check, explain CheckValidated, is their one
// check); a listed row outside the sequence is ResolveRows' INVALID_ARGUMENT.
absl::StatusOr<std::vector<SequenceTargets>> ResolveTargets(const MambaModel& model,
                                                            const torch::Tensor& ids,
                                                            const torch::Tensor& lengths,
                                                            const RowSelection& selection,
                                                            std::optional<int64_t> target_token);
// The same with a selection per sequence (`selections` has B entries, or 1 for all).
absl::StatusOr<std::vector<SequenceTargets>> ResolveTargets(
    const MambaModel& model, const torch::Tensor& ids, const torch::Tensor& lengths,
    const std::vector<RowSelection>& selections, std::optional<int64_t> target_token);

// The explained scalar as a function of the embeddings: inputs [Bb, Lb, D] (requires grad) and
// lengths [Bb] -> logits [Bb, V] at each element's last real position (lengths − 1). The forward
// consults the LayerCheck before every block and returns its failure as it is, and marks every
// block's output with it for the backward (ForwardOptions::layer_check), so that a pass whose
// every item is cancelled stops within one block, forward or backward.
using EmbeddingLogitFn = std::function<absl::StatusOr<torch::Tensor>(
    const torch::Tensor&, const torch::Tensor&, const LayerCheck&)>;

// Work items of a gradient method: item i is an input [lengths[i], D] (made on demand by
// `input`, so IG steps and SmoothGrad samples are never all in memory), the token whose logit
// it explains and the sequence it belongs to (for cancellation; empty = all sequence 0).
struct GradientItems {
  std::vector<int64_t> lengths;
  std::vector<int64_t> tokens;
  std::vector<int64_t> sequences;
  std::function<torch::Tensor(size_t)> input;
};
// Receives item i's gradient ∂logits[i, tokens[i]]/∂input_i ([len_i, D]) and that logit.
using GradientSink = std::function<void(size_t, const torch::Tensor&, float)>;
// Told after each forward/backward batch: items computed so far, of all items (progress of a
// long run, e.g. IG's rows × steps; items of cancelled sequences are not counted as done).
using GradientProgress = std::function<void(int64_t done, int64_t total)>;

// One backward per item, batched: items are evaluated alone (separate batch elements, padded to
// the batch's longest), packed in order so that a batch holds at most max_batch_tokens padded
// positions (at least one item). `cancel` is checked before each batch: items of cancelled
// sequences are never computed (the sink does not see them); and inside each batch, before every
// block of its forward and of its backward: once every sequence of the batch's items is
// cancelled, the batch stops there and none of its items reaches the sink. CANCELLED when every
// sequence of the items is cancelled at the end. Other errors from `fn` are returned as they are.
// `progress`, when set, is told after each completed batch.
absl::Status GradientsOfTargets(const EmbeddingLogitFn& fn, const GradientItems& items,
                                int64_t max_batch_tokens, const GradientSink& sink,
                                const Cancellation& cancel = Cancellation(),
                                const GradientProgress& progress = GradientProgress());

// The unmodified model as an EmbeddingLogitFn (Gradient×Input, IG, SmoothGrad).
EmbeddingLogitFn ModelLogitFn(const MambaModel& model);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_ATTRIBUTION_TARGETS_H_
