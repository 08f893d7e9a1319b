// The relevance forward is the model's own block forward (mamba/block_forward.h) with the rules
// switched on in the mixers (mamba/mixer_rules.h); a test checks that its values equal the
// production forward and that with every rule off its gradient equals plain GI.
#include "attribution/mamba_lrp.h"

#include "attribution/gradient_methods.h"
#include "common/status_macros.h"
#include "mamba/block_forward.h"
#include "mamba/mamba_ops.h"
#include "mamba/mixer_rules.h"

namespace mamba_explain {
namespace {

MixerRules MixerRulesOf(const LrpRules& rules) {
  MixerRules m;
  m.silu_identity = rules.silu_identity;
  m.ssm_constant = rules.ssm_constant;
  m.gate_half = rules.gate_half;
  m.norm_constant = rules.norm_constant;
  return m;
}

}  // namespace

absl::StatusOr<torch::Tensor> RelevanceForward(const MambaModel& model, const torch::Tensor& x,
                                               const torch::Tensor& lengths,
                                               const LrpRules& rules) {
  const ModelConfig& config = model.config();
  const ModelWeights& weights = model.weights();
  const int64_t batch = x.size(0), L = x.size(1);
  torch::Tensor lens =
      lengths.defined()
          ? lengths.to(model.device(), torch::kLong)
          : torch::full({batch}, L,
                        torch::TensorOptions().dtype(torch::kLong).device(model.device()));
  torch::Tensor h = x.to(model.device(), torch::kFloat32);
  const MixerRules mixer_rules = MixerRulesOf(rules);
  for (int l = 0; l < config.n_layers; ++l) {
    ASSIGN_OR_RETURN(torch::Tensor out, BlockBranchForward(weights, config, l, h, lens, nullptr,
                                                           nullptr, mixer_rules));
    h = h + out;
  }
  torch::Tensor index = (lens - 1).view({batch, 1, 1}).expand({batch, 1, h.size(2)});
  torch::Tensor last = h.gather(1, index).squeeze(1);  // [B, D]
  // norm_f is per position, so normalising the gathered rows equals gathering normalised rows.
  torch::Tensor normed = rules.norm_constant
                             ? RmsNormConstantStatistic(last, weights.norm_f, config.norm_eps)
                             : RmsNorm(last, weights.norm_f, config.norm_eps);
  return Project(normed, weights.lm_head, torch::Tensor());
}

absl::Status ExplainMambaLrp(const MambaModel& model, const torch::Tensor& ids,
                             const torch::Tensor& lengths, const MambaLrpOptions& options,
                             const ResultCallback& callback) {
  const LrpRules rules = options.rules;
  EmbeddingLogitFn fn = [&model, rules](const torch::Tensor& x, const torch::Tensor& lens) {
    return RelevanceForward(model, x, lens, rules);
  };
  return GradientTimesInput(model, fn, Method::kMambaLrp, ids, lengths,
                            SequenceRows(options.rows, options.sequence_rows), options.target_token,
                            options.max_batch_tokens, callback, options.cancel);
}

absl::StatusOr<std::vector<AttributionResult>> ExplainMambaLrp(const MambaModel& model,
                                                               const torch::Tensor& ids,
                                                               const torch::Tensor& lengths,
                                                               const MambaLrpOptions& options) {
  std::vector<AttributionResult> results;
  RETURN_IF_ERROR(ExplainMambaLrp(model, ids, lengths, options, [&](AttributionResult r) {
    results.push_back(std::move(r));
    return true;
  }));
  return results;
}

}  // namespace mamba_explain
