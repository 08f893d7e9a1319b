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

// One layer's kernel inputs made from its trace in one pass (MakeLatimInputs): Δ in fp32, its
// prefix sums S as hi + lo floats (split from an fp64 prefix sum made beforehand), the conv taps
// tap_k[s, c] = f(w[c, K−1−k]·x[s, c] (+ β[c] on k = 0)) of eq. 19 and the gains g_t = silu(z_t)
// (⊙ rstd_t ⊙ γ: Mamba-2's gated RMSNorm frozen at the forward's statistics, eqs. 24–25). Inputs
// are fp32 or bf16 (`*_type`, LatimOutType codes) with unit channel stride and the given batch /
// position strides in elements; outputs are contiguous fp32.
struct LatimPrepareParams {
  int64_t batch = 0, seq_len = 0;  // Bt, L
  int64_t d_inner = 0;             // E
  int64_t units = 0;               // U
  int64_t d_conv = 0;              // K
  int activation = kTapSilu;
  const void* delta = nullptr;  // [Bt, L, U]
  int delta_type = kLatimOutF32;
  int64_t delta_sb = 0, delta_sl = 0;
  const double* cum = nullptr;  // [Bt, L, U] contiguous fp64 inclusive prefix sums of Δ
  const void* x_in = nullptr;   // [Bt, L, E] the x channels of the conv input
  int x_type = kLatimOutF32;
  int64_t x_sb = 0, x_sl = 0;
  const void* gate = nullptr;  // [Bt, L, E] z
  int gate_type = kLatimOutF32;
  int64_t gate_sb = 0, gate_sl = 0;
  const void* rstd = nullptr;  // [Bt, L, E / norm_group] (Mamba-2) or nullptr
  int rstd_type = kLatimOutF32;
  int64_t rstd_sb = 0, rstd_sl = 0;
  int64_t norm_group = 1;         // channels per rstd entry
  const float* gamma = nullptr;   // [E] gated RMSNorm weight (with rstd)
  const float* conv_w = nullptr;  // [E, K] contiguous
  const float* conv_b = nullptr;  // [E] or nullptr
  float* delta_out = nullptr;     // [Bt, L, U]
  float* cum_hi = nullptr;        // [Bt, L, U]
  float* cum_lo = nullptr;        // [Bt, L, U]
  float* taps = nullptr;          // [Bt, L, K, E]
  float* gain = nullptr;          // [Bt, L, E]
};

// The decomposition error terms of reported rows: for each slot i with row (b_i, t_i),
// err[i] = Σ_d (sum_t[i, d] − (y[b_i, t_i, d] − bias[d]))² and err[slots + i] = Σ_d y[b_i, t_i,
// d]², where sum_t = Σ_s T_t(x_s) and y the mixer output (fp32 or bf16, rows of `y_sl` elements,
// batches of `y_sb`). Slots whose b_i is outside [0, batch) get 0 (the trash slot of the layer's
// outputs).
struct LatimRowErrorParams {
  int64_t slots = 0, batch = 0, d_model = 0;
  const float* sum_t = nullptr;     // [slots, D]
  const int64_t* slot_b = nullptr;  // [slots]
  const int64_t* slot_t = nullptr;  // [slots]
  const void* y = nullptr;
  int y_type = kLatimOutF32;
  int64_t y_sb = 0, y_sl = 0;
  const float* bias = nullptr;  // [D] or nullptr
  float* err = nullptr;         // [2, slots]
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
  // With out_slot, ℓ1/ℓ2 of row i land at l1/l2[out_slot[i]·out_ld + src_begin + j] (rows of the
  // layer's result matrices) instead of [i·S + j]; several rows may share a (discarded) slot.
  const int64_t* out_slot = nullptr;
  int64_t out_ld = 0;
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
cudaError_t LaunchLatimPrepare(const LatimPrepareParams& p, cudaStream_t stream);
cudaError_t LaunchLatimRowErrors(const LatimRowErrorParams& p, cudaStream_t stream);
#endif

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_KERNELS_LATIM_KERNELS_PARAMS_H_
