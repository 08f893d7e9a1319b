// The relevance forward is the model's own block forward (mamba/block_forward.h) with the rules
// switched on in the mixers (mamba/mixer_rules.h); a test checks that its values equal the
// production forward and that with every rule off its gradient equals plain GI. Long inputs
// recompute each block in the backward instead of keeping its graph (as the gradient methods do).
#include "attribution/mamba_lrp.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "attribution/gradient_methods.h"
#include "common/status_macros.h"
#include "kernels/out_of_memory.h"
#include "mamba/block_forward.h"
#include "mamba/checkpointed_forward.h"
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

// LrpRules through an autograd context's saved data (IValues hold integers, not structs).
int64_t RuleBits(const LrpRules& r) {
  return (r.silu_identity ? 1 : 0) | (r.ssm_constant ? 2 : 0) | (r.gate_half ? 4 : 0) |
         (r.norm_constant ? 8 : 0);
}
LrpRules RulesFromBits(int64_t bits) {
  LrpRules r;
  r.silu_identity = (bits & 1) != 0;
  r.ssm_constant = (bits & 2) != 0;
  r.gate_half = (bits & 4) != 0;
  r.norm_constant = (bits & 8) != 0;
  return r;
}

torch::Tensor BranchOrThrow(const MambaModel& model, int64_t layer, const torch::Tensor& h,
                            const torch::Tensor& lens, const LrpRules& rules) {
  absl::StatusOr<torch::Tensor> out =
      BlockBranchForward(model.weights(), model.config(), static_cast<int>(layer), h, lens, nullptr,
                         nullptr, MixerRulesOf(rules));
  TORCH_CHECK(out.ok(), "block ", layer, ": ", std::string(out.status().message()));
  return *std::move(out);
}

// h -> h + branch(h) of the relevance forward, saving only h; the backward rebuilds the block's
// graph, detach rules included, from it (the pattern of mamba/checkpointed_forward.cc). The
// forward runs without a graph (on CUDA through the fused inference ops and kernels), the
// recomputation with one: equal values to fp32 rounding (the relevance forward test).
class CheckpointedRelevanceBlock : public torch::autograd::Function<CheckpointedRelevanceBlock> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor h,
                               torch::Tensor lens, int64_t layer, int64_t model_address,
                               int64_t rule_bits) {
    ctx->save_for_backward({h, lens});
    ctx->saved_data["layer"] = layer;
    ctx->saved_data["model"] = model_address;  // the model outlives the graph (caller's contract)
    ctx->saved_data["rules"] = rule_bits;
    torch::NoGradGuard no_grad;
    const auto* model = reinterpret_cast<const MambaModel*>(model_address);
    return h + BranchOrThrow(*model, layer, h, lens, RulesFromBits(rule_bits));
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const torch::autograd::variable_list saved = ctx->get_saved_variables();
    const int64_t layer = ctx->saved_data["layer"].toInt();
    const auto* model = reinterpret_cast<const MambaModel*>(ctx->saved_data["model"].toInt());
    const LrpRules rules = RulesFromBits(ctx->saved_data["rules"].toInt());
    torch::Tensor h = saved[0].detach().requires_grad_(true);
    torch::Tensor out;
    {
      torch::AutoGradMode grad_mode(true);
      out = h + BranchOrThrow(*model, layer, h, saved[1], rules);
    }
    torch::Tensor dh = torch::autograd::grad({out}, {h}, {grad_out[0]})[0];
    return {dh, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

absl::StatusOr<torch::Tensor> RelevanceForwardImpl(const MambaModel& model, const torch::Tensor& x,
                                                   const torch::Tensor& lengths,
                                                   const LrpRules& rules, bool checkpointed,
                                                   const LayerCheck& check) {
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
  const int64_t address = reinterpret_cast<int64_t>(&model);
  for (int l = 0; l < config.n_layers; ++l) {
    RETURN_IF_ERROR(CheckLayer(check));
    if (checkpointed) {
      try {
        h = CheckpointedRelevanceBlock::apply(h, lens, l, address, RuleBits(rules));
      } catch (const c10::Error& e) {
        if (IsOutOfMemory(e)) throw;  // for the explain layer's boundary
        return absl::InternalError(
            absl::StrCat("checkpointed relevance forward: ", e.what_without_backtrace()));
      }
    } else {
      ASSIGN_OR_RETURN(torch::Tensor out, BlockBranchForward(weights, config, l, h, lens, nullptr,
                                                             nullptr, mixer_rules));
      h = h + out;
    }
    CheckInBackward(h, check);
  }
  torch::Tensor index = (lens - 1).view({batch, 1, 1}).expand({batch, 1, h.size(2)});
  torch::Tensor last = h.gather(1, index).squeeze(1);  // [B, D]
  // norm_f is per position, so normalising the gathered rows equals gathering normalised rows.
  torch::Tensor normed = rules.norm_constant
                             ? RmsNormConstantStatistic(last, weights.norm_f, config.norm_eps)
                             : RmsNorm(last, weights.norm_f, config.norm_eps);
  return Project(normed, weights.lm_head, torch::Tensor());
}

}  // namespace

absl::StatusOr<torch::Tensor> RelevanceForward(const MambaModel& model, const torch::Tensor& x,
                                               const torch::Tensor& lengths, const LrpRules& rules,
                                               const LayerCheck& check) {
  return RelevanceForwardImpl(model, x, lengths, rules, /*checkpointed=*/false, check);
}

absl::StatusOr<torch::Tensor> CheckpointedRelevanceForward(const MambaModel& model,
                                                           const torch::Tensor& x,
                                                           const torch::Tensor& lengths,
                                                           const LrpRules& rules,
                                                           const LayerCheck& check) {
  return RelevanceForwardImpl(model, x, lengths, rules, /*checkpointed=*/true, check);
}

absl::Status ExplainMambaLrp(const MambaModel& model, const torch::Tensor& ids,
                             const torch::Tensor& lengths, const MambaLrpOptions& options,
                             const ResultCallback& callback) {
  const LrpRules rules = options.rules;
  EmbeddingLogitFn fn = [&model, rules](const torch::Tensor& x, const torch::Tensor& lens,
                                        const LayerCheck& check) {
    // Long inputs keep only each block's input and recompute the block in the backward, as the
    // plain gradient methods do (attribution/targets.cc): the same relevances for one more
    // forward pass.
    if (DifferentiableForwardBytes(model.config(), x.size(0) * x.size(1)) > kCheckpointAboveBytes) {
      return CheckpointedRelevanceForward(model, x, lens, rules, check);
    }
    return RelevanceForward(model, x, lens, rules, check);
  };
  return GradientTimesInput(model, fn, Method::kMambaLrp, ids, lengths,
                            SequenceRows(options.rows, options.sequence_rows), options.target_token,
                            options.max_batch_tokens, callback, options.cancel, options.progress);
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
