// Small fp32 building blocks shared by the Mamba-1 and Mamba-2 mixers and the attribution code:
// RMSNorm (HF MambaRMSNorm in fp32), the causal depthwise conv written as a sum of its taps
// (research/mamba_reference.md §1.3 step 2; the tap form is what LaTIM decomposes, §6.3), the SSM
// input activation, and a projection that runs in the weights' dtype and returns fp32.
#ifndef MAMBA_EXPLAIN_MAMBA_MAMBA_OPS_H_
#define MAMBA_EXPLAIN_MAMBA_MAMBA_OPS_H_

#include <torch/torch.h>

#include "model/config.h"

namespace mamba_explain {

// x: [..., D] fp32, weight: [D] fp32 -> x * rsqrt(mean(x², -1) + eps) * weight.
torch::Tensor RmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// Tap k of the causal depthwise conv: w[:, k] * x shifted right by (K-1-k) positions (zeros
// enter from the left). x: [B, L, C], w: [C, K] -> [B, L, C]. Σ_k taps + bias = conv output.
torch::Tensor ConvTap(const torch::Tensor& x, const torch::Tensor& w, int64_t k);

// Causal depthwise conv: x [B, L, C], w [C, K], bias [C] or undefined -> ψ [B, L, C].
torch::Tensor CausalConv1d(const torch::Tensor& x, const torch::Tensor& w,
                           const torch::Tensor& bias);

// The same conv for a chunk that continues a sequence: `history` [B, K−1, C] holds the inputs of
// the K−1 positions before x (undefined = sequence start: zeros). Equal, element for element, to
// the rows of one CausalConv1d over the whole sequence. *next_history (if given) receives the last
// K−1 inputs of history ++ x, for the chunk after this one.
torch::Tensor CausalConv1dContinued(const torch::Tensor& x, const torch::Tensor& w,
                                    const torch::Tensor& bias, const torch::Tensor& history,
                                    torch::Tensor* next_history);

torch::Tensor ApplySsmActivation(const torch::Tensor& x, SsmActivation activation);

// The inference forward's entry points: the same results through one fused CUDA launch
// (kernels/mixer_ops.h) where FusedMixerOpsApply, else through the reference ops above.
//
// RMSNorm of a block input, rounded through bf16 when round_bf16 (bf16 checkpoints feed their
// projections in bf16).
torch::Tensor BlockRmsNorm(const torch::Tensor& h, const torch::Tensor& weight, double eps,
                           bool round_bf16);
struct ConvActivation {
  torch::Tensor pre;  // ψ = conv(x) + bias
  torch::Tensor act;  // f(ψ)
};
// The mixer's causal conv and SSM activation. conv_tail null: x starts its sequence and no tail
// is kept. Otherwise *conv_tail holds the K−1 inputs before x (undefined = zeros) on entry and
// the last K−1 inputs of that history ++ x on return (CausalConv1dContinued's next_history).
ConvActivation CausalConvActivated(const torch::Tensor& x, const torch::Tensor& w,
                                   const torch::Tensor& bias, SsmActivation activation,
                                   torch::Tensor* conv_tail);

// y = x Wᵀ (+ bias) with x cast to W's dtype; the result is fp32. bias may be undefined.
torch::Tensor Project(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_MAMBA_MAMBA_OPS_H_
