// The relevance forward mirrors src/mamba/mamba1_mixer.cc and mamba2_mixer.cc line by line (same
// weights, same fp32/bf16 casts) with the detach rules inserted; a test checks that its values
// equal the production forward and that with every rule off its gradient equals plain GI.
#include "attribution/mamba_lrp.h"

#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "attribution/gradient_methods.h"
#include "common/status_macros.h"
#include "kernels/out_of_memory.h"
#include "kernels/selective_scan.h"
#include "kernels/selective_scan_autograd.h"
#include "mamba/checkpointed_forward.h"
#include "mamba/mamba_ops.h"
#include "mamba/ssd_chunked.h"

namespace mamba_explain {
namespace {

// stab(a) = a + 1e-6·(sign(a) + [a = 0]) (MambaLRP code lrp/utils.py::stabilize).
torch::Tensor Stabilize(const torch::Tensor& a) {
  return a + 1e-6 * (torch::sign(a) + (a == 0).to(a.scalar_type()));
}

// SiLU(a) with the identity rule (paper eq. 4): value SiLU(a), gradient SiLU(a)/stab(a).
torch::Tensor Silu(const torch::Tensor& a, bool identity_rule) {
  if (!identity_rule) return torch::silu(a);
  torch::Tensor s = Stabilize(a);
  return s * (torch::silu(a) / s).detach();
}

torch::Tensor SsmActivation(const torch::Tensor& a, const ModelConfig& config, bool identity_rule) {
  return config.ssm_activation == SsmActivation::kIdentity ? a : Silu(a, identity_rule);
}

// x · (mean(x², −1) + ε)^(−½) · w, the statistic constant under the LN-rule.
torch::Tensor Norm(const torch::Tensor& x, const torch::Tensor& w, double eps, bool ln_rule) {
  torch::Tensor rstd = torch::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps);
  if (ln_rule) rstd = rstd.detach();
  return x * rstd * w;
}

torch::Tensor HalfRule(const torch::Tensor& o, bool half_rule) {
  return half_rule ? 0.5 * o + 0.5 * o.detach() : o;
}

absl::StatusOr<torch::Tensor> Mamba1Block(const LayerWeights& w, const ModelConfig& config,
                                          const torch::Tensor& u, const torch::Tensor& lengths,
                                          const LrpRules& rules) {
  const int64_t E = config.d_inner, N = config.d_state, R = config.dt_rank;
  torch::Tensor xz = Project(u, w.in_proj_w, w.in_proj_b);  // [B, L, 2E]
  torch::Tensor z = xz.narrow(-1, E, E);
  torch::Tensor psi = CausalConv1d(xz.narrow(-1, 0, E), w.conv_w, w.conv_b);  // [B, L, E]
  torch::Tensor x = SsmActivation(psi, config, rules.silu_identity);
  torch::Tensor x_dbl = Project(x, w.x_proj_w, torch::Tensor());        // [B, L, R + 2N]
  torch::Tensor Bm = x_dbl.narrow(-1, R, N).unsqueeze(2).contiguous();  // [B, L, 1, N]
  torch::Tensor Cm = x_dbl.narrow(-1, R + N, N).unsqueeze(2).contiguous();
  torch::Tensor delta =
      torch::softplus(Project(x_dbl.narrow(-1, 0, R), w.dt_proj_w, w.dt_bias));  // [B, L, E]
  torch::Tensor A = -torch::exp(w.A_log);                                        // [E, N]
  const SelectiveScanInputs scan_in{x.contiguous(), delta, A, Bm, Cm, w.D, lengths};
  torch::Tensor y;  // [B, L, E], D skip included
  if (torch::GradMode::is_enabled() && x.requires_grad()) {
    // kInputOnly = the SSM rule: Δ, A, B, C, D constant, one adjoint scan in backward.
    ASSIGN_OR_RETURN(
        y, SelectiveScanDifferentiable(
               scan_in, rules.ssm_constant ? SsmGradMode::kInputOnly : SsmGradMode::kFull));
  } else {
    ASSIGN_OR_RETURN(y, SelectiveScan(scan_in));
  }
  torch::Tensor o = HalfRule(y * Silu(z, rules.silu_identity), rules.gate_half);
  return Project(o, w.out_proj_w, w.out_proj_b);
}

torch::Tensor Mamba2Block(const LayerWeights& w, const ModelConfig& config, const torch::Tensor& u,
                          const LrpRules& rules) {
  const int64_t batch = u.size(0), L = u.size(1);
  const int64_t E = config.d_inner, N = config.d_state, H = config.n_heads, P = config.head_dim;
  const int64_t G = config.n_groups, CD = config.conv_dim();
  torch::Tensor zxbcdt = Project(u, w.in_proj_w, w.in_proj_b);  // [B, L, E + CD + H]
  torch::Tensor z = zxbcdt.narrow(-1, 0, E);
  torch::Tensor dt = zxbcdt.narrow(-1, E + CD, H);
  torch::Tensor psi = CausalConv1d(zxbcdt.narrow(-1, E, CD), w.conv_w, w.conv_b);  // [B, L, CD]
  torch::Tensor xbc = SsmActivation(psi, config, rules.silu_identity);
  torch::Tensor x = xbc.narrow(-1, 0, E);
  torch::Tensor Bm = xbc.narrow(-1, E, G * N).reshape({batch, L, G, N});
  torch::Tensor Cm = xbc.narrow(-1, E + G * N, G * N).reshape({batch, L, G, N});
  torch::Tensor delta = torch::softplus(dt + w.dt_bias);  // [B, L, H]
  if (config.time_step_min > 0.0 || std::isfinite(config.time_step_max)) {
    delta = delta.clamp(config.time_step_min, config.time_step_max);
  }
  if (rules.ssm_constant) {  // our transposition of the SSM rule: Δ (hence Ā), B, C constant
    delta = delta.detach();
    Bm = Bm.detach();
    Cm = Cm.detach();
  }
  torch::Tensor A = -torch::exp(w.A_log);  // [H]
  torch::Tensor xh = x.reshape({batch, L, H, P});
  torch::Tensor y = SsdChunkedScan(xh, delta, A, Bm, Cm, config.chunk_size) +
                    w.D.view({H, 1}) * xh;  // [B, L, H, P]
  torch::Tensor gated =
      HalfRule(y.reshape({batch, L, E}) * Silu(z, rules.silu_identity), rules.gate_half);
  const int64_t group = config.norm_group_size();
  torch::Tensor normed =
      Norm(gated.view({batch, L, E / group, group}), torch::ones({1}, gated.options()),
           config.norm_eps, rules.norm_constant)
          .view({batch, L, E}) *
      w.gated_norm;
  return Project(normed, w.out_proj_w, w.out_proj_b);
}

// Block `layer`'s branch of the relevance forward (its norm and mixer): the residual stream after
// the block is h + branch.
absl::StatusOr<torch::Tensor> RelevanceBranch(const MambaModel& model, int64_t layer,
                                              const torch::Tensor& h, const torch::Tensor& lens,
                                              const LrpRules& rules) {
  const ModelConfig& config = model.config();
  const LayerWeights& w = model.weights().layers[layer];
  torch::Tensor u = Norm(h, w.norm, config.norm_eps, rules.norm_constant);
  if (model.weights().precision == Precision::kBf16) {
    u = u.to(torch::kBFloat16).to(torch::kFloat32);
  }
  if (config.arch == Architecture::kMamba1) return Mamba1Block(w, config, u, lens, rules);
  return Mamba2Block(w, config, u, rules);
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
  absl::StatusOr<torch::Tensor> out = RelevanceBranch(model, layer, h, lens, rules);
  TORCH_CHECK(out.ok(), "block ", layer, ": ", std::string(out.status().message()));
  return *std::move(out);
}

// h -> h + branch(h) of the relevance forward, saving only h; the backward rebuilds the block's
// graph, detach rules included, from it (the pattern of mamba/checkpointed_forward.cc). The
// forward runs without a graph, so Mamba-1 scans with the plain kernel there and with the
// differentiable one in the recomputation: equal values (the relevance forward test).
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
                                                   const LrpRules& rules, bool checkpointed) {
  const ModelConfig& config = model.config();
  const ModelWeights& weights = model.weights();
  const int64_t batch = x.size(0), L = x.size(1);
  torch::Tensor lens =
      lengths.defined()
          ? lengths.to(model.device(), torch::kLong)
          : torch::full({batch}, L,
                        torch::TensorOptions().dtype(torch::kLong).device(model.device()));
  torch::Tensor h = x.to(model.device(), torch::kFloat32);
  const int64_t address = reinterpret_cast<int64_t>(&model);
  for (int l = 0; l < config.n_layers; ++l) {
    if (checkpointed) {
      try {
        h = CheckpointedRelevanceBlock::apply(h, lens, l, address, RuleBits(rules));
      } catch (const c10::Error& e) {
        if (IsOutOfMemory(e)) throw;  // for the explain layer's boundary
        return absl::InternalError(
            absl::StrCat("checkpointed relevance forward: ", e.what_without_backtrace()));
      }
      continue;
    }
    ASSIGN_OR_RETURN(torch::Tensor out, RelevanceBranch(model, l, h, lens, rules));
    h = h + out;
  }
  torch::Tensor index = (lens - 1).view({batch, 1, 1}).expand({batch, 1, h.size(2)});
  torch::Tensor last = h.gather(1, index).squeeze(1);  // [B, D]
  // norm_f is per position, so normalising the gathered rows equals gathering normalised rows.
  return Project(Norm(last, weights.norm_f, config.norm_eps, rules.norm_constant), weights.lm_head,
                 torch::Tensor());
}

}  // namespace

absl::StatusOr<torch::Tensor> RelevanceForward(const MambaModel& model, const torch::Tensor& x,
                                               const torch::Tensor& lengths,
                                               const LrpRules& rules) {
  return RelevanceForwardImpl(model, x, lengths, rules, /*checkpointed=*/false);
}

absl::StatusOr<torch::Tensor> CheckpointedRelevanceForward(const MambaModel& model,
                                                           const torch::Tensor& x,
                                                           const torch::Tensor& lengths,
                                                           const LrpRules& rules) {
  return RelevanceForwardImpl(model, x, lengths, rules, /*checkpointed=*/true);
}

absl::Status ExplainMambaLrp(const MambaModel& model, const torch::Tensor& ids,
                             const torch::Tensor& lengths, const MambaLrpOptions& options,
                             const ResultCallback& callback) {
  const LrpRules rules = options.rules;
  EmbeddingLogitFn fn = [&model, rules](const torch::Tensor& x, const torch::Tensor& lens) {
    // Long inputs keep only each block's input and recompute the block in the backward, as the
    // plain gradient methods do (attribution/targets.cc): the same relevances for one more
    // forward pass.
    if (DifferentiableForwardBytes(model.config(), x.size(0) * x.size(1)) > kCheckpointAboveBytes) {
      return CheckpointedRelevanceForward(model, x, lens, rules);
    }
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
