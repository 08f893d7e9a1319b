// Activation checkpointing per block, for gradients at long N (issue 18): the forward runs each
// block without an autograd graph and keeps only its input (the residual stream [B, L, D] fp32);
// the backward recomputes one block at a time with a graph from that input and back-propagates
// through it. Gradients with respect to the embeddings equal those of
// MambaModel::ForwardFromEmbeddings (same operations, recomputed), at the price of one more
// forward; memory O(layers·B·L·D) plus one block's activations instead of every block's.
// Gradients reach the embeddings only (the weights are constants here).
#ifndef MAMBA_EXPLAIN_MAMBA_CHECKPOINTED_FORWARD_H_
#define MAMBA_EXPLAIN_MAMBA_CHECKPOINTED_FORWARD_H_

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "mamba/layer_check.h"
#include "mamba/mamba_model.h"

namespace mamba_explain {

// embeddings [B, L, D] fp32 (requires_grad for gradients), lengths [B] int64 or undefined ->
// logits [B, V] fp32 at each sequence's last real position (last_position_logits_only), or
// [B, L, V]. Errors as ForwardFromEmbeddings. `check` as ForwardOptions::layer_check: before every
// block of the forward and before every block's recomputation in the backward.
absl::StatusOr<torch::Tensor> CheckpointedLogits(const MambaModel& model,
                                                 const torch::Tensor& embeddings,
                                                 const torch::Tensor& lengths,
                                                 bool last_position_logits_only,
                                                 const LayerCheck& check = LayerCheck());

// Bytes of autograd activations a plain (not checkpointed) differentiable forward keeps for
// `positions` = batch × padded length (an estimate: every block's trace-sized tensors), and with
// checkpointing (every block's input plus one block's activations).
int64_t DifferentiableForwardBytes(const ModelConfig& config, int64_t positions);
int64_t CheckpointedForwardBytes(const ModelConfig& config, int64_t positions);
// Above this many plain activation bytes the gradient methods checkpoint (attribution/targets.cc).
constexpr int64_t kCheckpointAboveBytes = int64_t{1} << 30;

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_MAMBA_CHECKPOINTED_FORWARD_H_
