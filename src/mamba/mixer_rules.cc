#include "mamba/mixer_rules.h"

namespace mamba_explain {

torch::Tensor SiluIdentityRule(const torch::Tensor& a, const torch::Tensor& value) {
  // stab(a) (MambaLRP code lrp/utils.py::stabilize).
  torch::Tensor s = a + 1e-6 * (torch::sign(a) + (a == 0).to(a.scalar_type()));
  return s * (value / s).detach();
}

torch::Tensor GateWithRules(const torch::Tensor& y, const torch::Tensor& z,
                            const MixerRules& rules) {
  torch::Tensor g = torch::silu(z);
  if (rules.silu_identity) g = SiluIdentityRule(z, g);
  torch::Tensor o = y * g;
  return rules.gate_half ? 0.5 * o + 0.5 * o.detach() : o;
}

torch::Tensor RmsNormConstantStatistic(const torch::Tensor& x, const torch::Tensor& weight,
                                       double eps) {
  torch::Tensor rstd = torch::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps).detach();
  return x * rstd * weight;
}

}  // namespace mamba_explain
