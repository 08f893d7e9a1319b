#include "mamba/mamba2_mixer.h"

#include <cmath>

#include "common/status_macros.h"
#include "kernels/mixer_ops.h"
#include "kernels/selective_scan.h"
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
  const ConvActivation conv = CausalConvActivated(xbc_in, w.conv_w, w.conv_b, config.ssm_activation,
                                                  state == nullptr ? nullptr : &state->conv_tail);
  const torch::Tensor& psi = conv.pre;  // [B, L, CD]
  torch::Tensor xbc = conv.act;
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
  torch::Tensor y;                         // [B, L, E]
  if (FusedMixerOpsApply(x) && SelectiveScanCudaSupports(N)) {
    // Inference on CUDA: the SSD is the selective scan with A and Δ constant over a head's P
    // channels (mamba_reference §2.3), one kernel instead of the chunked form's ~40 LibTorch ops.
    const SelectiveScanInputs scan_in{x,
                                      delta.repeat_interleave(P, -1),  // [B, L, E]
                                      A.repeat_interleave(P).unsqueeze(1).expand({E, N}),  // [E, N]
                                      Bm,
                                      Cm,
                                      w.D.repeat_interleave(P),  // [E]
                                      torch::Tensor()};
    if (state == nullptr) {
      ASSIGN_OR_RETURN(y, SelectiveScan(scan_in));
    } else {
      const torch::Tensor initial =
          state->ssm.defined() ? state->ssm.reshape({batch, E, N}) : torch::Tensor();
      torch::Tensor final_state;
      ASSIGN_OR_RETURN(y, SelectiveScan(scan_in, initial, &final_state));
      state->ssm = final_state.view({batch, H, P, N});
    }
  } else {
    torch::Tensor xh = x.reshape({batch, L, H, P});
    torch::Tensor ssd = state == nullptr
                            ? SsdChunkedScan(xh, delta, A, Bm, Cm, config.chunk_size)
                            : SsdChunkedScan(xh, delta, A, Bm, Cm, config.chunk_size, state->ssm,
                                             &state->ssm);  // [B, L, H, P]
    y = (ssd + w.D.view({H, 1}) * xh).reshape({batch, L, E});
  }
  // Gated RMSNorm, gate first then normalise (norm_before_gate = False, mamba_reference §2.3).
  const int64_t group = config.norm_group_size();
  torch::Tensor normed, rstd;  // [B, L, E], [B, L, E/group]
  if (FusedMixerOpsApply(y)) {
    // No gradient flows: the rules (which change gradients only) have nothing to do.
    FusedGatedNormOutputs norm = FusedGatedRmsNorm(y, z, w.gated_norm, group, config.norm_eps);
    normed = norm.out;
    rstd = norm.rstd;
  } else {
    torch::Tensor grouped = GateWithRules(y, z, rules).view({batch, L, E / group, group});
    rstd = torch::rsqrt(grouped.pow(2).mean(-1) + config.norm_eps);
    if (rules.norm_constant) rstd = rstd.detach();
    normed = (grouped * rstd.unsqueeze(-1)).view({batch, L, E}) * w.gated_norm;
  }
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
