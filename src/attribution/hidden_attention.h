// Hidden attention M of one Mamba layer (LaTIM eq. 15 / App. A; research/mamba_reference.md
// §6.1–6.2): the lower-triangular matrices with y[t] = Σ_{s≤t} (M[t,s] + δ_{t,s} D) x[s], per
// channel (Mamba-1) or per head (Mamba-2), for a block of target rows × every source × a block of
// channels or heads. Decay exponents come from SegmentSumRows (stable; never
// exp(A·S_t)·exp(−A·S_s)), so entries above the diagonal are exactly 0. Memory: the [R, n, U]
// result plus two temporaries of that size. Shared by LaTIM and the Mamba-Attention baselines.
#ifndef MAMBA_EXPLAIN_ATTRIBUTION_HIDDEN_ATTENTION_H_
#define MAMBA_EXPLAIN_ATTRIBUTION_HIDDEN_ATTENTION_H_

#include <torch/torch.h>

#include "mamba/trace.h"
#include "model/config.h"
#include "mamba/weights.h"

namespace mamba_explain {

// The SSM parameters of one layer for ONE sequence cut to its real length n, fp32, one device.
// "Units" are what M is shared over: channels (Mamba-1, U = E) or heads (Mamba-2, U = H).
struct SsmParams {
  Architecture arch = Architecture::kMamba1;
  torch::Tensor delta;  // [n, U] Δ after softplus (and clamp)
  torch::Tensor A;      // [E, N] (Mamba-1) or [H] (Mamba-2), negative
  torch::Tensor B;      // [n, G, N] (G = 1 for Mamba-1)
  torch::Tensor C;      // [n, G, N]
  torch::Tensor D;      // [U] skip
  int64_t length() const { return delta.size(0); }
  int64_t units() const { return delta.size(1); }
};

// Cuts sequence `seq` (positions [0, length)) of a traced layer. The trace must hold delta, B, C.
SsmParams SsmParamsFromTrace(const LayerTrace& trace, const LayerWeights& weights,
                             const ModelConfig& config, int64_t seq, int64_t length);

// M[t, s, u] for t ∈ [row_begin, row_end), s ∈ [0, n), u ∈ [unit_begin, unit_end) -> [R, n, U_b];
// 0 for s > t. with_skip adds D[u] at s == t.
//   Mamba-1: M[t,s,c] = Σ_n C[t,n] · exp(A[c,n] · Σ_{k=s+1..t} Δ[k,c]) · Δ[s,c] · B[s,n]
//   Mamba-2: M[t,s,h] = (C[t,g(h)] · B[s,g(h)]) · exp(A[h] · Σ_{k=s+1..t} Δ[k,h]) · Δ[s,h]
torch::Tensor HiddenAttention(const SsmParams& p, int64_t row_begin, int64_t row_end,
                              int64_t unit_begin, int64_t unit_end, bool with_skip);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_ATTRIBUTION_HIDDEN_ATTENTION_H_
