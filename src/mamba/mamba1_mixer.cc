#include "mamba/mamba1_mixer.h"

#include "common/status_macros.h"
#include "kernels/selective_scan.h"
#include "kernels/selective_scan_autograd.h"
#include "mamba/mamba_ops.h"

namespace mamba_explain {

absl::StatusOr<torch::Tensor> Mamba1MixerForward(const LayerWeights& w, const ModelConfig& config,
                                                 const torch::Tensor& u,
                                                 const torch::Tensor& lengths, LayerTrace* trace,
                                                 MixerState* state, const MixerRules& rules) {
  const int64_t E = config.d_inner, N = config.d_state, R = config.dt_rank;
  torch::Tensor xz = Project(u, w.in_proj_w, w.in_proj_b);  // [B, L, 2E]
  torch::Tensor x_in = xz.narrow(-1, 0, E);
  torch::Tensor z = xz.narrow(-1, E, E);
  const ConvActivation conv = CausalConvActivated(x_in, w.conv_w, w.conv_b, config.ssm_activation,
                                                  state == nullptr ? nullptr : &state->conv_tail);
  const torch::Tensor& psi = conv.pre;  // [B, L, E]
  torch::Tensor x = conv.act;
  if (rules.silu_identity && config.ssm_activation == SsmActivation::kSilu) {
    x = SiluIdentityRule(psi, x);
  }
  torch::Tensor x_dbl = Project(x, w.x_proj_w, torch::Tensor());  // [B, L, R + 2N]
  torch::Tensor dt_low = x_dbl.narrow(-1, 0, R);
  torch::Tensor Bm = x_dbl.narrow(-1, R, N).unsqueeze(2).contiguous();             // [B, L, 1, N]
  torch::Tensor Cm = x_dbl.narrow(-1, R + N, N).unsqueeze(2).contiguous();         // [B, L, 1, N]
  torch::Tensor delta = torch::softplus(Project(dt_low, w.dt_proj_w, w.dt_bias));  // [B, L, E]
  torch::Tensor A = -torch::exp(w.A_log);                                          // [E, N]
  const SelectiveScanInputs scan_in{x.contiguous(), delta, A, Bm, Cm, w.D, lengths};
  // With gradients on, the autograd op (adjoint-scan backward, no per-step states kept).
  const bool needs_grad = torch::GradMode::is_enabled() &&
                          (x.requires_grad() || delta.requires_grad() || A.requires_grad() ||
                           Bm.requires_grad() || w.D.requires_grad());
  torch::Tensor y;  // [B, L, E]
  if (state != nullptr) {
    if (needs_grad) {
      return absl::FailedPreconditionError("a chunked (stateful) mixer runs without gradients");
    }
    const torch::Tensor initial = state->ssm;
    ASSIGN_OR_RETURN(y, SelectiveScan(scan_in, initial, &state->ssm));
  } else {
    // The SSM rule: Δ, A, B, C, D constant, one adjoint scan for x only.
    const SsmGradMode mode = rules.ssm_constant ? SsmGradMode::kInputOnly : SsmGradMode::kFull;
    ASSIGN_OR_RETURN(
        y, needs_grad ? SelectiveScanDifferentiable(scan_in, mode) : SelectiveScan(scan_in));
  }
  torch::Tensor out = Project(GateWithRules(y, z, rules), w.out_proj_w, w.out_proj_b);
  if (trace != nullptr) {
    trace->conv_in = x_in;
    trace->conv_pre = psi;
    trace->x = x;
    trace->delta = delta;
    trace->B = Bm;
    trace->C = Cm;
    trace->gate = z;
    trace->y = y;
    trace->mixer_out = out;
  }
  return out;
}

}  // namespace mamba_explain
