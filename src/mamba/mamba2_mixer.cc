#include "mamba/mamba2_mixer.h"

#include <cmath>

#include "mamba/mamba_ops.h"
#include "mamba/ssd_chunked.h"

namespace mamba_explain {

absl::StatusOr<torch::Tensor> Mamba2MixerForward(const LayerWeights& w, const ModelConfig& config,
                                                 const torch::Tensor& u, LayerTrace* trace,
                                                 MixerState* state, const MixerRules& rules) {
  const int64_t batch = u.size(0), L = u.size(1);
  const int64_t E = config.d_inner, N = config.d_state, H = config.n_heads, P = config.head_dim;
  const int64_t G = config.n_groups, CD = config.conv_dim();
  torch::Tensor zxbcdt = Project(u, w.in_proj_w, w.in_proj_b);  // [B, L, E + CD + H]
  torch::Tensor z = zxbcdt.narrow(-1, 0, E);
  torch::Tensor xbc_in = zxbcdt.narrow(-1, E, CD);
  torch::Tensor dt = zxbcdt.narrow(-1, E + CD, H);
  torch::Tensor psi = state == nullptr
                          ? CausalConv1d(xbc_in, w.conv_w, w.conv_b)
                          : CausalConv1dContinued(xbc_in, w.conv_w, w.conv_b, state->conv_tail,
                                                  &state->conv_tail);  // [B, L, CD]
  torch::Tensor xbc = ApplySsmActivation(psi, config.ssm_activation);
  if (rules.silu_identity && config.ssm_activation == SsmActivation::kSilu) {
    xbc = SiluIdentityRule(psi, xbc);
  }
  torch::Tensor x = xbc.narrow(-1, 0, E);
  torch::Tensor Bm = xbc.narrow(-1, E, G * N).reshape({batch, L, G, N});
  torch::Tensor Cm = xbc.narrow(-1, E + G * N, G * N).reshape({batch, L, G, N});
  torch::Tensor delta = torch::softplus(dt + w.dt_bias);  // [B, L, H]
  if (config.time_step_min > 0.0 || std::isfinite(config.time_step_max)) {
    delta = delta.clamp(config.time_step_min, config.time_step_max);
  }
  if (rules.ssm_constant) {  // Δ (hence Ā), B, C constant
    delta = delta.detach();
    Bm = Bm.detach();
    Cm = Cm.detach();
  }
  torch::Tensor A = -torch::exp(w.A_log);  // [H]
  torch::Tensor xh = x.reshape({batch, L, H, P});
  torch::Tensor ssd = state == nullptr
                          ? SsdChunkedScan(xh, delta, A, Bm, Cm, config.chunk_size)
                          : SsdChunkedScan(xh, delta, A, Bm, Cm, config.chunk_size, state->ssm,
                                           &state->ssm);  // [B, L, H, P]
  torch::Tensor y = ssd + w.D.view({H, 1}) * xh;          // [B, L, H, P]
  y = y.reshape({batch, L, E});
  // Gated RMSNorm, gate first then normalise (norm_before_gate = False, mamba_reference §2.3).
  torch::Tensor gated = GateWithRules(y, z, rules);
  const int64_t group = config.norm_group_size();
  torch::Tensor grouped = gated.view({batch, L, E / group, group});
  torch::Tensor rstd = torch::rsqrt(grouped.pow(2).mean(-1) + config.norm_eps);  // [B, L, E/group]
  if (rules.norm_constant) rstd = rstd.detach();
  torch::Tensor normed = (grouped * rstd.unsqueeze(-1)).view({batch, L, E}) * w.gated_norm;
  torch::Tensor out = Project(normed, w.out_proj_w, w.out_proj_b);
  if (trace != nullptr) {
    trace->conv_in = xbc_in;
    trace->conv_pre = psi;
    trace->x = x;
    trace->delta = delta;
    trace->B = Bm;
    trace->C = Cm;
    trace->gate = z;
    trace->y = y;
    trace->norm_rstd = rstd;
    trace->mixer_out = out;
  }
  return out;
}

}  // namespace mamba_explain
