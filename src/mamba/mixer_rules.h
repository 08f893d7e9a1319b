// MixerRules: the gradient rules a relevance method switches on in the one model forward
// (MambaLRP, Rezaei Jafari et al. 2024 §4; attribution/mamba_lrp.h). Each rule changes only how
// gradients flow, never a forward value, so a forward with rules equals the plain forward to
// rounding. All off (the default) is the plain forward.
//   silu_identity  SiLU(a) -> stab(a)·[SiLU(a)/stab(a)]_const, stab(a) = a + 1e-6·(sign(a) + [a=0]):
//                  the SSM input activation (when it is SiLU) and the gate
//   ssm_constant   Δ (hence Ā), B, C constant: Mamba-1 differentiates the scan w.r.t. x only
//                  (SsmGradMode::kInputOnly), Mamba-2 detaches Δ, B, C before the chunked SSD
//   gate_half      o = ½·(y ⊙ g) + ½·[y ⊙ g]_const, y including the D skip
//   norm_constant  every RMSNorm's (mean x² + ε)^(−½) constant (block norm, Mamba-2's gated norm)
#ifndef MAMBA_EXPLAIN_MAMBA_MIXER_RULES_H_
#define MAMBA_EXPLAIN_MAMBA_MIXER_RULES_H_

#include <torch/torch.h>

namespace mamba_explain {

struct MixerRules {
  bool silu_identity = false;
  bool ssm_constant = false;
  bool gate_half = false;
  bool norm_constant = false;
};

// `value` = SiLU(a) with the identity rule's gradient SiLU(a)/stab(a) w.r.t. a.
torch::Tensor SiluIdentityRule(const torch::Tensor& a, const torch::Tensor& value);

// The gate product y ⊙ SiLU(z) under `rules` (silu_identity on SiLU(z), then gate_half).
torch::Tensor GateWithRules(const torch::Tensor& y, const torch::Tensor& z, const MixerRules& rules);

// RmsNorm (mamba_ops.h) with the statistic constant: x · [rsqrt(mean(x², −1) + eps)]_const · w.
torch::Tensor RmsNormConstantStatistic(const torch::Tensor& x, const torch::Tensor& weight,
                                       double eps);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_MAMBA_MIXER_RULES_H_
