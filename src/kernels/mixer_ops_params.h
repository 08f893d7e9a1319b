// Plain parameters of the fused element-wise parts of a Mamba block's inference forward, shared by
// the CUDA kernels (mixer_ops.cu) and their launchers (mixer_ops.cc). Each fused op stands in for
// a chain of 5–25 LibTorch ops of src/mamba/mamba_ops.cc, which stays the reference; on a 24-layer
// model at 1 k tokens the forward is bound by that chain's launch cost, not by the GPU's work.
// Activations are fp32 with unit stride along the last (channel) axis; weights are contiguous fp32.
// Pointers are device pointers and not owned. No LibTorch include.
#ifndef MAMBA_EXPLAIN_KERNELS_MIXER_OPS_PARAMS_H_
#define MAMBA_EXPLAIN_KERNELS_MIXER_OPS_PARAMS_H_

#include <cstdint>

#ifdef ME_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace mamba_explain {

// out[r, :] = x[r, :] · rsqrt(mean(x[r, :]²) + eps) · w, rounded through bf16 when round_bf16
// (mamba_reference.md §1.3 step 1; the bf16 rounding is block_forward's "the normalised input
// feeds bf16 projections"). Rows r = (b, t) of [Bt, L, D].
struct RmsNormParams {
  int64_t batch = 0, seq_len = 0, dim = 0;
  int64_t x_batch_stride = 0, x_seq_stride = 0;
  const float* x = nullptr;  // [Bt, L, D]
  const float* w = nullptr;  // [D]
  float eps = 0.f;
  bool round_bf16 = false;
  float* out = nullptr;  // [Bt, L, D] contiguous
};

// Depthwise causal conv (mamba_reference.md §1.3 step 3), summed in mamba_ops' order so that `pre`
// equals the reference bit for bit: pre[t] = ((x[t]·w[K−1] + x[t−K+1]·w[0]) + … + x[t−1]·w[K−2])
// + bias, where x[t−j] for t−j < 0 comes from `history` ([Bt, K−1, C]: the K−1 inputs before the
// chunk) or is 0 without it. act = silu(pre) when silu, else act is not written.
struct CausalConvParams {
  int64_t batch = 0, seq_len = 0, channels = 0, width = 0;  // Bt, L, C, K
  int64_t x_batch_stride = 0, x_seq_stride = 0;
  const float* x = nullptr;        // [Bt, L, C]
  const float* w = nullptr;        // [C, K]
  const float* bias = nullptr;     // [C] or null
  const float* history = nullptr;  // [Bt, K−1, C] contiguous, or null
  bool silu = false;
  float* pre = nullptr;  // [Bt, L, C] contiguous
  float* act = nullptr;  // [Bt, L, C] contiguous, or null when !silu
};

// Mamba-2's gated RMSNorm, gate first (norm_before_gate = False, mamba_reference.md §2.3):
// g = y ⊙ silu(z); per group of `group` channels rstd = rsqrt(mean(g²) + eps); out = g·rstd·w.
struct GatedRmsNormParams {
  int64_t batch = 0, seq_len = 0, dim = 0, group = 0;  // Bt, L, E, group size (divides E)
  int64_t z_batch_stride = 0, z_seq_stride = 0;
  const float* y = nullptr;  // [Bt, L, E] contiguous
  const float* z = nullptr;  // [Bt, L, E]
  const float* w = nullptr;  // [E]
  float eps = 0.f;
  float* out = nullptr;   // [Bt, L, E] contiguous
  float* rstd = nullptr;  // [Bt, L, E / group] contiguous
};

#ifdef ME_WITH_CUDA
// cudaErrorInvalidValue for sizes the kernels cannot take (non-positive sizes, null pointers, a
// group that does not divide the dim); otherwise the launch status.
cudaError_t LaunchRmsNorm(const RmsNormParams& p, cudaStream_t stream);
cudaError_t LaunchCausalConv(const CausalConvParams& p, cudaStream_t stream);
cudaError_t LaunchGatedRmsNorm(const GatedRmsNormParams& p, cudaStream_t stream);
#endif

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_KERNELS_MIXER_OPS_PARAMS_H_
