// Fused CUDA versions of the element-wise parts of a Mamba block's inference forward: the block's
// RMSNorm (with the bf16 rounding of bf16 checkpoints), the depthwise causal conv with its SiLU,
// and Mamba-2's gated RMSNorm. Each replaces a chain of LibTorch ops of mamba/mamba_ops.cc (the
// plain reference, which CPU builds and gradient passes keep using) with one launch; the forward
// of a small model is bound by those launches. Results match the reference to fp32 rounding (the
// conv's pre-activation bit for bit). Contract violations throw c10::Error like the LibTorch ops
// they stand in for; they run on the current CUDA stream.
#ifndef MAMBA_EXPLAIN_KERNELS_MIXER_OPS_H_
#define MAMBA_EXPLAIN_KERNELS_MIXER_OPS_H_

#include <torch/torch.h>

namespace mamba_explain {

// True when the fused ops may replace the reference for activations `x`: built with CUDA, `x` is
// a CUDA tensor, and no gradient flows through it (the fused ops have no backward).
bool FusedMixerOpsApply(const torch::Tensor& x);

// x [Bt, L, D] fp32 (unit stride along D), w [D] fp32 → x·rsqrt(mean(x²)+eps)·w, contiguous fp32,
// rounded through bf16 when round_bf16.
torch::Tensor FusedRmsNorm(const torch::Tensor& x, const torch::Tensor& w, double eps,
                           bool round_bf16);

struct FusedConvOutputs {
  torch::Tensor pre;  // conv + bias, [Bt, L, C]
  torch::Tensor act;  // silu(pre) when asked, else the same tensor as pre
};
// x [Bt, L, C] fp32 (unit stride along C), w [C, K] fp32, bias [C] fp32 or undefined, history
// [Bt, K−1, C] (the inputs before x; undefined = zeros).
FusedConvOutputs FusedCausalConv(const torch::Tensor& x, const torch::Tensor& w,
                                 const torch::Tensor& bias, const torch::Tensor& history,
                                 bool silu);

struct FusedGatedNormOutputs {
  torch::Tensor out;   // [Bt, L, E]
  torch::Tensor rstd;  // [Bt, L, E / group]
};
// y [Bt, L, E] fp32, z [Bt, L, E] fp32 (unit stride along E), w [E] fp32; group divides E.
FusedGatedNormOutputs FusedGatedRmsNorm(const torch::Tensor& y, const torch::Tensor& z,
                                        const torch::Tensor& w, int64_t group, double eps);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_KERNELS_MIXER_OPS_H_
