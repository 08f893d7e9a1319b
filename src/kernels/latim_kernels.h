// LaTIM decomposition kernels for a padded batch (LaTIM §3; docs/methods.md "Kernels"): the
// contribution vectors u_{t←s} of a block of target rows (eqs. 15, 19–21), the contraction
// T = W_out u on tensor cores (eqs. 22/25), and the per-pair norms and ALTI distances of T.
// Each op runs its CUDA kernel on CUDA tensors and the plain LibTorch reference (…Ref, the spec
// the kernel is tested against) on the CPU or for shapes the kernel does not take; both give the
// same numbers to fp32 rounding. Rows of a block may come from different sequences (see
// latim_kernels_params.h for the tiling contract), so one launch covers a whole batch.
#ifndef MAMBA_EXPLAIN_KERNELS_LATIM_KERNELS_H_
#define MAMBA_EXPLAIN_KERNELS_LATIM_KERNELS_H_

#include <torch/torch.h>

#include <cstdint>

#include "common/precision.h"
#include "kernels/latim_kernels_params.h"

namespace mamba_explain {

// One traced layer of a padded batch, everything on one device. Shapes as in the params header.
struct LatimLayerTensors {
  bool mamba2 = false;
  int64_t head_dim = 1;       // P (1 for Mamba-1)
  int activation = kTapSilu;  // LatimTapActivation
  torch::Tensor delta;        // [Bt, L, U] fp32
  // Inclusive prefix sum of Δ over L, split hi + lo (MakeCumDelta) for exact differences.
  torch::Tensor cum_delta, cum_delta_lo;  // [Bt, L, U] fp32
  torch::Tensor A;                        // [E, N] or [H] fp32, negative
  torch::Tensor B, C;                     // [Bt, L, G, N] fp32
  torch::Tensor D;                        // [U] fp32
  torch::Tensor x_in;                     // [Bt, L, E] fp32 (may be a view with row stride ≥ E)
  torch::Tensor conv_w;                   // [E, K] fp32
  torch::Tensor conv_b;                   // [E] fp32 or undefined
  torch::Tensor gain;                     // [Bt, L, E] fp32
  torch::Tensor taps;  // [Bt, L, K, E] fp32 f(φ^(k)) from MakeTaps (what the kernels read)
};

// The traced tensors of one layer that the kernel inputs are made from, fp32 or bf16, views with
// unit channel stride allowed: Δ [Bt, L, U], the x channels of the conv input x_in [Bt, L, E], the
// gate z [Bt, L, E], and for Mamba-2 the gated RMSNorm's rstd [Bt, L, G_norm] with its weight γ
// [E].
struct LatimTraceTensors {
  torch::Tensor delta, x_in, gate;
  torch::Tensor norm_rstd, gated_norm;  // Mamba-2, else undefined
  torch::Tensor conv_w;                 // [E, K] fp32
  torch::Tensor conv_b;                 // [E] fp32 or undefined
};

// Fills layer.delta (fp32), cum_delta / cum_delta_lo, x_in, conv_w, conv_b, taps and gain
// (g_t = silu(z_t), ⊙ rstd_t ⊙ γ for Mamba-2, eqs. 20/24–25) from `trace`; layer.activation must
// be set. On CUDA one fp64 prefix sum and one launch; elsewhere the reference
// (MakeLatimInputsRef: MakeCumDelta, MakeTaps and the gain as LibTorch ops). Same numbers to fp32
// rounding.
void MakeLatimInputs(const LatimTraceTensors& trace, LatimLayerTensors& layer);
void MakeLatimInputsRef(const LatimTraceTensors& trace, LatimLayerTensors& layer);

// Fills layer.cum_delta / cum_delta_lo from layer.delta (fp64 prefix sum split into two floats).
void MakeCumDelta(LatimLayerTensors& layer);

// Fills layer.taps from x_in, conv_w, conv_b and the activation: tap_k[s, c] =
// f(w[c, K−1−k]·x_in[s, c] (+ β[c] on k = 0)), the conv split of LaTIM eq. 19.
void MakeTaps(LatimLayerTensors& layer);

// A block of target rows: row_seq/row_pos int32 [Rb] (Rb a multiple of kLatimRowTile; each tile of
// kLatimRowTile rows belongs to one sequence, ascending, pads = −1 last), sources
// [src_begin, src_begin + n_src): the whole causal range from 0, or a window of it when a long
// row is computed piece by piece (the memory of u and T then scales with the window, not N).
struct LatimRowBlock {
  torch::Tensor row_seq;
  torch::Tensor row_pos;
  int64_t n_src = 0;
  int64_t src_begin = 0;
};

// u [Rb, n_src, E] in `dtype` (kFloat or kBFloat16), u[:, j] for source src_begin + j; zero where
// s > t and on pad rows. When u_sum is given it receives Σ_s u_{t←s} [Rb, E] over the window in
// fp32 (summed before any bf16 rounding).
torch::Tensor LatimContributions(const LatimLayerTensors& layer, const LatimRowBlock& block,
                                 torch::ScalarType dtype, torch::Tensor* u_sum = nullptr);
torch::Tensor LatimContributionsRef(const LatimLayerTensors& layer, const LatimRowBlock& block,
                                    torch::ScalarType dtype, torch::Tensor* u_sum = nullptr);

// x [M, K] · wᵀ with w [N, K] -> [M, N], fp32 accumulation, in out_dtype (default: x's dtype;
// bf16 inputs may write fp32). kFp32 forbids TF32 whatever the process-wide flag says; kTf32
// allows it. bf16 inputs run on bf16 tensor cores.
torch::Tensor LatimGemm(const torch::Tensor& x, const torch::Tensor& w, Precision precision,
                        c10::optional<torch::ScalarType> out_dtype = c10::nullopt);

// Per-pair scores of T [Rb, S, D] (T[:, j] for source src_begin + j): ‖T‖₁, ‖T‖₂ and
// ‖y_t − T'_t(x_s)‖₁ with T' adding resid on the diagonal s = t (eq. 6). Each output [Rb, S] fp32
// is computed only when asked for (else undefined); zero where s > t and on pad rows. y/resid:
// [Rb, D] fp32, needed for dist.
struct LatimPairScores {
  torch::Tensor l1, l2, dist;
};
// With a sink, ℓ1/ℓ2 are not returned but written straight into the layer's result matrices:
// row i of the block into row slot[i] (int64 [Rb]) of sink.l1 / sink.l2 (fp32, contiguous,
// [slots, ≥ src_begin + S]) at columns src_begin + j; rows sharing a slot (the discarded "trash"
// row of unreported rows) leave one of their values there.
struct LatimScoreSink {
  torch::Tensor slot, l1, l2;
};
LatimPairScores ComputeLatimPairScores(const torch::Tensor& T, const torch::Tensor& row_pos,
                                       const torch::Tensor& y, const torch::Tensor& resid,
                                       bool want_l1, bool want_l2, bool want_dist,
                                       int64_t src_begin = 0, const LatimScoreSink* sink = nullptr);
LatimPairScores ComputeLatimPairScoresRef(const torch::Tensor& T, const torch::Tensor& row_pos,
                                          const torch::Tensor& y, const torch::Tensor& resid,
                                          bool want_l1, bool want_l2, bool want_dist,
                                          int64_t src_begin = 0,
                                          const LatimScoreSink* sink = nullptr);

// The decomposition error terms of a layer's reported rows (slots): [2, slots] fp32 with
// Σ_d (sum_t − (y − bias))² and Σ_d y² per slot, where sum_t [slots, D] fp32 = Σ_s T_t(x_s),
// y [Bt, L, D] the mixer output (fp32 or bf16) at (slot_b, slot_t) (int64 [slots] each) and bias
// [D] fp32 or undefined. A slot with slot_b outside [0, Bt) gives 0, 0.
torch::Tensor LatimRowErrors(const torch::Tensor& sum_t, const torch::Tensor& slot_b,
                             const torch::Tensor& slot_t, const torch::Tensor& y,
                             const torch::Tensor& bias);
torch::Tensor LatimRowErrorsRef(const torch::Tensor& sum_t, const torch::Tensor& slot_b,
                                const torch::Tensor& slot_t, const torch::Tensor& y,
                                const torch::Tensor& bias);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_KERNELS_LATIM_KERNELS_H_
