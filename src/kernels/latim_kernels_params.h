// Plain parameters of the LaTIM decomposition kernels (LaTIM §3, eqs. 15 and 19–25;
// docs/methods.md), shared by the CUDA kernels and their launchers. No LibTorch include, so
// latim_kernels.cu compiles without it. Dims: Bt batch, L padded length, E d_inner, U units of the
// hidden attention (E channels for Mamba-1, H heads for Mamba-2), P channels per unit (1 or
// head_dim), G n_groups, N d_state, K d_conv, D d_model. Every tensor is contiguous fp32 unless
// said otherwise; pointers are device pointers and not owned.
//
// A "row block" is a flat list of Rb target rows (sequence, position); rows come in tiles of
// kLatimRowTile consecutive entries that all belong to one sequence and ascend (pads = −1). Every
// row of a block sees the same source range [src_begin, src_begin + n_src) (a window of the sources
// when a long row is cut into pieces); entries with s > t are written as 0.
#ifndef MAMBA_EXPLAIN_KERNELS_LATIM_KERNELS_PARAMS_H_
#define MAMBA_EXPLAIN_KERNELS_LATIM_KERNELS_PARAMS_H_

#include <cstdint>

#ifdef ME_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace mamba_explain {

// Rows per tile of a row block (one sequence per tile).
constexpr int kLatimRowTile = 16;

// The additive f of LaTIM eq. 19 applied to each conv tap (codes fixed: the CUDA side switches on
// them). attribution/latim.cc maps its AdditiveActivation onto these.
enum LatimTapActivation : int { kTapSilu = 0, kTapIdentity = 1, kTapRelu = 2 };

// Output element type of the contribution vectors u.
enum LatimOutType : int { kLatimOutF32 = 0, kLatimOutBf16 = 1 };

struct LatimContribParams {
  bool mamba2 = false;
  int64_t batch = 0, seq_len = 0;  // Bt, L (padded)
  int64_t d_inner = 0;             // E
  int64_t units = 0;               // U: E (Mamba-1) or H (Mamba-2)
  int64_t head_dim = 1;            // P: 1 (Mamba-1) or channels per head (Mamba-2)
  int64_t n_groups = 1;            // G (Mamba-2; 1 for Mamba-1)
  int64_t d_state = 0;             // N
  int64_t d_conv = 0;              // K
  int activation = kTapSilu;       // LatimTapActivation

  const float* delta = nullptr;  // [Bt, L, U] Δ after softplus
  // Inclusive prefix sum of Δ over positions as an unevaluated sum hi + lo of two floats (from an
  // fp64 sum), so that S_t − S_r = (hi_t − hi_r) + (lo_t − lo_r) keeps fp32 accuracy at any length.
  const float* cum_delta = nullptr;     // [Bt, L, U] hi
  const float* cum_delta_lo = nullptr;  // [Bt, L, U] lo
  const float* A = nullptr;             // [E, N] (Mamba-1) or [H] (Mamba-2), negative
  const float* B = nullptr;             // [Bt, L, G, N]
  const float* C = nullptr;             // [Bt, L, G, N]
  const float* D = nullptr;             // [U] skip
  const float* x_in = nullptr;    // [Bt, L] rows of x_in_row_stride floats; the first E = x_in
  int64_t x_in_row_stride = 0;    // elements between consecutive positions (E or conv dim)
  const float* conv_w = nullptr;  // [E, K] depthwise conv weight of the x channels
  const float* conv_b = nullptr;  // [E] or nullptr
  const float* gain = nullptr;    // [Bt, L, E] g_t (SiLU gate, × γ ⊙ rstd for Mamba-2)
  const float* taps = nullptr;    // [Bt, L, K, E] f(φ^(k)) of eq. 19 (MakeTaps)

  // The row block.
  int64_t rows = 0;       // Rb, a multiple of kLatimRowTile
  int64_t src_begin = 0;  // sources [src_begin, src_begin + n_src) of every row
  int64_t n_src = 0;
  const int32_t* row_seq = nullptr;  // [Rb] sequence of each row
  const int32_t* row_pos = nullptr;  // [Rb] position t of each row, −1 for a pad
  void* out = nullptr;               // [Rb, n_src, E] u_{t←s} at s − src_begin, out_type
  int out_type = kLatimOutF32;
  float* u_sum = nullptr;  // [Rb, E] zeroed; Σ_s u_{t←s} is added (fp32), or nullptr
};

// The per-pair norms of T_t(x_s) = W_out u_{t←s} (eqs. 22/25) and the ALTI distance (eq. 6).
struct LatimPairScoreParams {
  int64_t rows = 0, n_src = 0, d_model = 0;  // Rb, S, D
  int64_t src_begin = 0;                     // T[:, j] is source src_begin + j
  const void* T = nullptr;                   // [Rb, S, D], t_type
  int t_type = kLatimOutF32;
  const int32_t* row_pos = nullptr;  // [Rb] position t of each row, −1 for a pad
  const float* y = nullptr;          // [Rb, D] y_t = x_t + Σ_s T_t(x_s), or nullptr: no ALTI
  const float* resid = nullptr;      // [Rb, D] x_t (added to T_t(x_t) on the diagonal)
  float* l1 = nullptr;               // [Rb, S] ‖T‖₁, or nullptr
  float* l2 = nullptr;               // [Rb, S] ‖T‖₂, or nullptr
  float* dist = nullptr;             // [Rb, S] ‖y_t − T'_t(x_s)‖₁, or nullptr
};

// Shapes the contribution kernel takes (Mamba-1 d_state ≤ 64, Mamba-2 d_state ≤ 256; d_conv ≤ 4);
// others run on the reference.
constexpr bool LatimContribCudaSupports(bool mamba2, int64_t d_state, int64_t d_conv) {
  return d_state >= 1 && d_state <= (mamba2 ? 256 : 64) && d_conv >= 1 && d_conv <= 4;
}

#ifdef ME_WITH_CUDA
// Enqueue on `stream`; return the launch error (cudaErrorInvalidValue for unsupported shapes).
cudaError_t LaunchLatimContributions(const LatimContribParams& p, cudaStream_t stream);
cudaError_t LaunchLatimPairScores(const LatimPairScoreParams& p, cudaStream_t stream);
#endif

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_KERNELS_LATIM_KERNELS_PARAMS_H_
