// Trace: the per-layer intermediates of one forward pass that the attribution methods read
// (DESIGN §2.4). Everything is fp32 and laid out [batch B, seq L, ...]; positions at or beyond a
// sequence's length are padding and hold unspecified values. Undefined tensors mean "not traced".
#ifndef MAMBA_EXPLAIN_MAMBA_TRACE_H_
#define MAMBA_EXPLAIN_MAMBA_TRACE_H_

#include <torch/torch.h>

#include <vector>

namespace mamba_explain {

struct LayerTrace {
  int layer = -1;
  torch::Tensor residual_in;  // [B, L, D] block input (the residual stream before this layer)
  torch::Tensor normed;       // [B, L, D] RMSNorm(residual_in), the mixer input
  torch::Tensor conv_in;      // [B, L, CD] conv input: x_in (M1, CD = E) or xBC (M2)
  torch::Tensor conv_pre;     // [B, L, CD] conv output before the activation, bias included (ψ)
  torch::Tensor x;            // [B, L, E] SSM input: activation(ψ) on the x channels
  torch::Tensor delta;        // [B, L, E] (M1) or [B, L, H] (M2), after softplus (and clamp)
  torch::Tensor B;            // [B, L, G, N] input matrix (G = 1 for M1)
  torch::Tensor C;            // [B, L, G, N] output matrix
  torch::Tensor gate;         // [B, L, E] z, before SiLU
  torch::Tensor y;            // [B, L, E] scan output including the D skip, before the gate
  torch::Tensor norm_rstd;    // M2: [B, L, E / group_size] rstd of the gated RMSNorm per group
  torch::Tensor mixer_out;    // [B, L, D] mixer output (out_proj, bias included)
};

struct Trace {
  std::vector<LayerTrace> layers;  // in increasing layer order; only the traced layers
  const LayerTrace* Find(int layer) const {
    for (const auto& t : layers)
      if (t.layer == layer) return &t;
    return nullptr;
  }
};

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_MAMBA_TRACE_H_
