#include "mamba/block_forward.h"

#include "common/status_macros.h"
#include "mamba/mamba1_mixer.h"
#include "mamba/mamba2_mixer.h"
#include "mamba/mamba_ops.h"

namespace mamba_explain {

absl::StatusOr<torch::Tensor> BlockBranchForward(const ModelWeights& weights,
                                                 const ModelConfig& config, int layer,
                                                 const torch::Tensor& h,
                                                 const torch::Tensor& lengths, LayerTrace* trace,
                                                 MixerState* state, const MixerRules& rules) {
  const LayerWeights& w = weights.layers[layer];
  // The normalised input feeds bf16 projections in bf16 checkpoints; round it once, as the model
  // does.
  const bool round_bf16 = weights.precision == Precision::kBf16;
  torch::Tensor u;  // [B, L, D]
  if (rules.norm_constant) {
    u = RmsNormConstantStatistic(h, w.norm, config.norm_eps);
    if (round_bf16) u = u.to(torch::kBFloat16).to(torch::kFloat32);
  } else {
    u = BlockRmsNorm(h, w.norm, config.norm_eps, round_bf16);
  }
  torch::Tensor mixer_out;
  if (config.arch == Architecture::kMamba1) {
    ASSIGN_OR_RETURN(mixer_out, Mamba1MixerForward(w, config, u, lengths, trace, state, rules));
  } else {
    ASSIGN_OR_RETURN(mixer_out, Mamba2MixerForward(w, config, u, trace, state, rules));
  }
  if (trace != nullptr) {
    trace->layer = layer;
    trace->residual_in = h;
    trace->normed = u;
  }
  return mixer_out;
}

}  // namespace mamba_explain
