// Per (layer, sequence) the unit statistics of α are accumulated block by block (rows × units,
// under the memory budget), so [n, n, U] is never stored: Σ_u α, Σ_u |α|, Σ_u max(α, 0) and the
// min/max of α and |α| over causal entries. Min-max is affine, so mean_u minmax(α_u) =
// (mean_u α − min) / (max − min) with the layer-wide min/max. Rollouts run row vectors top-down
// (v ← v·M̂_ℓ), O(Q·n²) per layer.
#include "attribution/mamba_attention.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "attribution/hidden_attention.h"
#include "attribution/targets.h"
#include "common/status_macros.h"
#include "mamba/layer_check.h"
#include "mamba/layer_traces.h"

namespace mamba_explain {
namespace {

struct LayerStats {
  torch::Tensor mean, abs_mean, relu_mean;  // [n, n] unit means, 0 above the diagonal
  double min = 0, max = 0, abs_min = 0, abs_max = 0;
};

LayerStats Accumulate(const SsmParams& p, int64_t budget) {
  const int64_t n = p.length(), U = p.units();
  auto f32 = p.delta.options();
  LayerStats st;
  st.mean = torch::zeros({n, n}, f32);
  st.abs_mean = torch::zeros({n, n}, f32);
  st.relu_mean = torch::zeros({n, n}, f32);
  // Three [R, n, U_b] temporaries inside HiddenAttention plus ours.
  const int64_t per_unit_row = 5 * 4 * n;
  const int64_t rows = std::clamp<int64_t>(budget / std::max<int64_t>(per_unit_row, 1), 1, n);
  const int64_t units =
      std::clamp<int64_t>(budget / std::max<int64_t>(per_unit_row * rows, 1), 1, U);
  const double inf = std::numeric_limits<double>::infinity();
  double mn = inf, mx = -inf, amn = inf, amx = -inf;
  torch::Tensor src = torch::arange(n, f32.dtype(torch::kLong));
  for (int64_t r0 = 0; r0 < n; r0 += rows) {
    const int64_t r1 = std::min(n, r0 + rows);
    torch::Tensor causal =
        (src.unsqueeze(0) <= torch::arange(r0, r1, src.options()).unsqueeze(1)).unsqueeze(-1);
    for (int64_t u0 = 0; u0 < U; u0 += units) {
      const int64_t u1 = std::min(U, u0 + units);
      torch::Tensor a = HiddenAttention(p, r0, r1, u0, u1, /*with_skip=*/false);  // [R, n, Ub]
      torch::Tensor abs = a.abs();
      st.mean.narrow(0, r0, r1 - r0).add_(a.sum(-1));
      st.abs_mean.narrow(0, r0, r1 - r0).add_(abs.sum(-1));
      st.relu_mean.narrow(0, r0, r1 - r0).add_(a.clamp_min(0).sum(-1));
      mn = std::min(mn, a.masked_fill(~causal, inf).min().item<double>());
      mx = std::max(mx, a.masked_fill(~causal, -inf).max().item<double>());
      amn = std::min(amn, abs.masked_fill(~causal, inf).min().item<double>());
      amx = std::max(amx, abs.max().item<double>());
    }
  }
  st.mean.div_(U);
  st.abs_mean.div_(U);
  st.relu_mean.div_(U);
  st.min = mn;
  st.max = mx;
  st.abs_min = amn;
  st.abs_max = amx;
  return st;
}

// (m − lo) / (hi − lo) on causal entries, 0 above the diagonal; all 0 when hi = lo.
torch::Tensor MinMax(const torch::Tensor& m, double lo, double hi) {
  if (!(hi > lo)) return torch::zeros_like(m);
  return ((m - lo) / (hi - lo)).tril();
}

torch::Tensor Normalised(const LayerStats& st, AttentionNorm norm) {
  switch (norm) {
    case AttentionNorm::kRaw:
      return st.mean;
    case AttentionNorm::kMinMax:
      return MinMax(st.mean, st.min, st.max);
    case AttentionNorm::kAbsMinMax:
      return MinMax(st.abs_mean, st.abs_min, st.abs_max);
  }
  return st.mean;
}

// rownorm(m + I); rows whose sum is not positive become identity rows.
torch::Tensor RolloutFactor(const torch::Tensor& m) {
  torch::Tensor eye = torch::eye(m.size(0), m.options());
  torch::Tensor with_residual = m + eye;
  torch::Tensor sums = with_residual.sum(-1, /*keepdim=*/true);
  torch::Tensor ok = sums > 0;
  return torch::where(ok, with_residual / torch::where(ok, sums, torch::ones_like(sums)), eye);
}

// Row t of a rollout, clamped ≥ 0 and renormalised (e_t when nothing positive remains).
torch::Tensor ClampToDistribution(const torch::Tensor& v, const torch::Tensor& rows) {
  torch::Tensor c = v.clamp_min(0);
  torch::Tensor sums = c.sum(-1, /*keepdim=*/true);
  torch::Tensor fallback = torch::zeros_like(c);
  fallback.scatter_(1, rows.unsqueeze(1), 1.0);
  torch::Tensor ok = sums > 0;
  return torch::where(ok, c / torch::where(ok, sums, torch::ones_like(sums)), fallback);
}

AttributionResult ToResult(Method method, int layer, int64_t seq, const std::vector<int64_t>& rows,
                           const torch::Tensor& matrix) {
  AttributionResult r = NewResult(method, layer, seq);
  r.rows = rows;
  r.columns = matrix.size(1);
  torch::Tensor cpu = matrix.to(torch::kCPU, torch::kFloat32).contiguous();
  r.matrix.assign(cpu.data_ptr<float>(), cpu.data_ptr<float>() + cpu.numel());
  return r;
}

bool Has(const std::vector<HiddenAttentionMethod>& v, HiddenAttentionMethod m) {
  return std::find(v.begin(), v.end(), m) != v.end();
}

// Gradient scores ŝ_ℓ per row for layers [start, L): out[q] is [L − start, n] (0 beyond t_q).
// `cancelled` (the sequence's state) is consulted before each batch of rows and, inside a
// batch's forward and backward, before every block (mamba/layer_check.h): CANCELLED once it
// holds, with no scores.
absl::StatusOr<std::vector<torch::Tensor>> GradientScores(const MambaModel& model,
                                                          const torch::Tensor& e,
                                                          const SequenceTargets& st, int start,
                                                          int64_t max_batch_tokens,
                                                          const std::function<bool()>& cancelled) {
  const int L = static_cast<int>(model.config().n_layers);
  const int64_t n = st.length, Q = static_cast<int64_t>(st.rows.size());
  std::vector<torch::Tensor> scores(Q);
  torch::AutoGradMode grad_mode(true);
  const absl::Status stop = absl::CancelledError("the request was cancelled");
  const LayerCheck check = [&]() { return cancelled() ? stop : absl::OkStatus(); };
  for (int64_t q0 = 0; q0 < Q;) {
    if (cancelled()) return stop;
    // Rows q0..q1−1 as separate batch elements of length up to t_{q1−1} + 1 (rows ascend).
    int64_t q1 = q0 + 1;
    while (q1 < Q && (q1 - q0 + 1) * (st.rows[q1] + 1) <= max_batch_tokens) ++q1;
    const int64_t count = q1 - q0, len = st.rows[q1 - 1] + 1;
    torch::Tensor x = e.narrow(0, 0, len).unsqueeze(0).repeat({count, 1, 1}).requires_grad_(true);
    std::vector<int64_t> lens;
    for (int64_t q = q0; q < q1; ++q) lens.push_back(st.rows[q] + 1);
    ForwardOptions fwd;
    fwd.keep_hidden_states = true;
    fwd.last_position_logits_only = true;
    fwd.layer_check = check;
    ASSIGN_OR_RETURN(ForwardOutput out,
                     model.ForwardFromEmbeddings(x, torch::tensor(lens, torch::kLong), fwd));
    std::vector<torch::Tensor> streams;  // r_ℓ, the input of block ℓ
    for (int l = start; l < L; ++l) streams.push_back(l == 0 ? x : out.hidden_states[l - 1]);
    torch::Tensor tokens =
        torch::tensor(std::vector<int64_t>(st.tokens.begin() + q0, st.tokens.begin() + q1),
                      torch::kLong)
            .to(out.logits.device())
            .unsqueeze(1);
    torch::Tensor f = out.logits.gather(1, tokens).sum();
    std::optional<std::vector<torch::Tensor>> grads = GradUnlessStopped({f}, streams, cancelled);
    if (!grads.has_value()) return stop;
    // s_ℓ[j] = max_k max(G_ℓ[j, k], 0): [count, L − start, len].
    torch::Tensor s = torch::stack(*grads, 1).clamp_min(0).amax(-1).detach();
    for (int64_t k = 0; k < count; ++k) {
      const int64_t t = st.rows[q0 + k];
      torch::Tensor sk = s[k].narrow(-1, 0, t + 1);  // causal prefix j ≤ t
      torch::Tensor lo = std::get<0>(sk.min(-1, true)), hi = std::get<0>(sk.max(-1, true));
      torch::Tensor range = hi - lo;
      // Min-max over j ≤ t; a constant vector (e.g. t = 0) gives ŝ = 1 (no weighting).
      torch::Tensor norm = torch::where(
          range > 0, (sk - lo) / torch::where(range > 0, range, torch::ones_like(range)),
          torch::ones_like(sk));
      scores[q0 + k] = torch::zeros({L - start, n}, e.options());
      scores[q0 + k].narrow(1, 0, t + 1).copy_(norm);
    }
    q0 = q1;
  }
  return scores;
}

// What the Engine's entry check (explain CheckValidated) guarantees; asserted in debug builds only.
void AssertValid(const MambaModel& model, const torch::Tensor& ids,
                 const MambaAttentionOptions& o) {
  const int L = static_cast<int>(model.config().n_layers);
  TORCH_INTERNAL_ASSERT_DEBUG_ONLY(!o.methods.empty(), "no hidden-attention method requested");
  for (int l : o.layers) TORCH_INTERNAL_ASSERT_DEBUG_ONLY(0 <= l && l < L, "layer ", l);
  TORCH_INTERNAL_ASSERT_DEBUG_ONLY(0 <= o.start_layer && o.start_layer < L, "start layer");
  TORCH_INTERNAL_ASSERT_DEBUG_ONLY(o.max_batch_tokens >= 1, "max_batch_tokens must be >= 1");
  TORCH_INTERNAL_ASSERT_DEBUG_ONLY(ids.dim() == 2 && ids.size(1) > 0, "ids must be [B, L], L >= 1");
}

absl::Status ExplainImpl(const MambaModel& model, const torch::Tensor& ids,
                         const torch::Tensor& lengths, const MambaAttentionOptions& o,
                         const ResultCallback& callback) {
  AssertValid(model, ids, o);
  const ModelConfig& cfg = model.config();
  const int L = static_cast<int>(cfg.n_layers);
  const bool want_attention = Has(o.methods, HiddenAttentionMethod::kMambaAttention);
  const bool want_rollout = Has(o.methods, HiddenAttentionMethod::kRollout);
  const bool want_attribution = Has(o.methods, HiddenAttentionMethod::kMambaAttribution);
  std::vector<int> attention_layers = o.layers;
  if (attention_layers.empty()) {
    for (int l = 0; l < L; ++l) attention_layers.push_back(l);
  }
  std::sort(attention_layers.begin(), attention_layers.end());
  attention_layers.erase(std::unique(attention_layers.begin(), attention_layers.end()),
                         attention_layers.end());
  std::vector<bool> needed(L, false);
  if (want_attention) {
    for (int l : attention_layers) needed[l] = true;
  }
  if (want_rollout || want_attribution) {
    for (int l = o.start_layer; l < L; ++l) needed[l] = true;
  }
  std::vector<SequenceTargets> targets;
  if (want_attribution) {
    ASSIGN_OR_RETURN(targets, ResolveTargets(model, ids, lengths, o.rows, o.target_token));
  } else {  // rows only: no extra forward pass
    const int64_t batch = ids.size(0);
    torch::Tensor lens = lengths.defined() ? lengths.to(torch::kCPU, torch::kLong)
                                           : torch::full({batch}, ids.size(1), torch::kLong);
    targets.resize(batch);
    for (int64_t b = 0; b < batch; ++b) {
      targets[b].length = lens[b].item<int64_t>();
      ASSIGN_OR_RETURN(targets[b].rows, ResolveRows(o.rows, targets[b].length, b));
    }
  }
  // Layer statistics of every sequence, one recomputed layer trace at a time (bottom-up).
  std::vector<std::vector<LayerStats>> all_stats(targets.size(), std::vector<LayerStats>(L));
  {
    torch::NoGradGuard no_grad;
    LayerTracesOptions trace_options;
    trace_options.memory_budget_bytes = o.memory_budget_bytes;
    ASSIGN_OR_RETURN(LayerTraces traces, LayerTraces::Create(model, ids, lengths, trace_options));
    for (int l = 0; l < L; ++l) {
      if (!needed[l]) continue;
      RETURN_IF_ERROR(o.cancel.CheckAny(static_cast<int64_t>(targets.size())));
      ASSIGN_OR_RETURN(const LayerTrace trace, traces.Layer(l));
      for (size_t b = 0; b < targets.size(); ++b) {
        if (o.cancel.IsCancelled(static_cast<int64_t>(b))) continue;
        SsmParams p = SsmParamsFromTrace(trace, model.weights().layers[l], cfg,
                                         static_cast<int64_t>(b), targets[b].length);
        all_stats[b][l] = Accumulate(p, o.memory_budget_bytes);
      }
    }
  }
  torch::Tensor ids_cpu = ids.to(torch::kCPU);
  for (size_t b = 0; b < targets.size(); ++b) {
    const SequenceTargets& st = targets[b];
    const int64_t n = st.length, Q = static_cast<int64_t>(st.rows.size());
    torch::NoGradGuard no_grad;
    const std::vector<LayerStats>& stats = all_stats[b];
    if (o.cancel.IsCancelled(static_cast<int64_t>(b)))
      continue;  // no result from partial statistics
    torch::Tensor rows = torch::tensor(st.rows, torch::kLong).to(model.device());
    auto emit = [&](AttributionResult r) -> absl::Status {
      if (!callback(std::move(r))) return absl::CancelledError("cancelled by the result consumer");
      return absl::OkStatus();
    };
    if (want_attention) {
      for (int l : attention_layers) {
        RETURN_IF_ERROR(
            emit(ToResult(Method::kMambaAttention, l, b, st.rows,
                          Normalised(stats[l], o.attention_norm).index_select(0, rows))));
      }
    }
    if (want_rollout) {
      torch::Tensor v = torch::zeros({Q, n}, stats[L - 1].mean.options());
      v.scatter_(1, rows.unsqueeze(1), 1.0);
      for (int l = L - 1; l >= o.start_layer; --l)
        v = torch::matmul(v, RolloutFactor(stats[l].mean));
      RETURN_IF_ERROR(
          emit(ToResult(Method::kRollout, -1, b, st.rows, ClampToDistribution(v, rows))));
    }
    if (want_attribution) {
      torch::Tensor e = model.Embed(ids_cpu[b].narrow(0, 0, n).unsqueeze(0))[0];
      const auto cancelled = [&o, b] { return o.cancel.IsCancelled(static_cast<int64_t>(b)); };
      absl::StatusOr<std::vector<torch::Tensor>> gradient_scores =
          GradientScores(model, e, st, o.start_layer, o.max_batch_tokens, cancelled);
      if (!gradient_scores.ok() && cancelled()) continue;  // stopped: no result for b
      ASSIGN_OR_RETURN(std::vector<torch::Tensor> scores, std::move(gradient_scores));
      std::vector<torch::Tensor> attention(L);
      for (int l = o.start_layer; l < L; ++l) {
        attention[l] =
            MinMax(stats[l].relu_mean, std::max(stats[l].min, 0.0), std::max(stats[l].max, 0.0));
      }
      torch::Tensor result = torch::zeros({Q, n}, e.options());
      for (int64_t q = 0; q < Q; ++q) {
        const int64_t t = st.rows[q], len = t + 1;  // row t only involves positions ≤ t
        torch::Tensor v = torch::zeros({1, len}, e.options());
        v[0][t] = 1.0;
        for (int l = L - 1; l >= o.start_layer; --l) {
          torch::Tensor weighted = attention[l].narrow(0, 0, len).narrow(1, 0, len) *
                                   scores[q][l - o.start_layer].narrow(0, 0, len).unsqueeze(0);
          v = torch::matmul(v, RolloutFactor(weighted));
        }
        result[q].narrow(0, 0, len).copy_(v[0].clamp_min(0));
      }
      AttributionResult r = ToResult(Method::kMambaAttribution, -1, b, st.rows, result);
      r.targets = st.tokens;
      r.explained_logits = st.logits;
      RETURN_IF_ERROR(emit(std::move(r)));
    }
  }
  return o.cancel.CheckAny(static_cast<int64_t>(targets.size()));
}

}  // namespace

Method HiddenAttentionMethodMethod(HiddenAttentionMethod method) {
  switch (method) {
    case HiddenAttentionMethod::kMambaAttention:
      return Method::kMambaAttention;
    case HiddenAttentionMethod::kRollout:
      return Method::kRollout;
    case HiddenAttentionMethod::kMambaAttribution:
      return Method::kMambaAttribution;
  }
  return Method::kMambaAttention;
}

absl::StatusOr<HiddenAttentionMethod> HiddenAttentionMethodOf(Method method) {
  for (HiddenAttentionMethod m :
       {HiddenAttentionMethod::kMambaAttention, HiddenAttentionMethod::kRollout,
        HiddenAttentionMethod::kMambaAttribution}) {
    if (HiddenAttentionMethodMethod(m) == method) return m;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("method '", MethodName(method), "' is not a hidden-attention method"));
}

absl::Status ExplainHiddenAttention(const MambaModel& model, const torch::Tensor& ids,
                                    const torch::Tensor& lengths,
                                    const MambaAttentionOptions& options,
                                    const ResultCallback& callback) {
  return ExplainImpl(model, ids, lengths, options, callback);
}

absl::StatusOr<std::vector<AttributionResult>> ExplainHiddenAttention(
    const MambaModel& model, const torch::Tensor& ids, const torch::Tensor& lengths,
    const MambaAttentionOptions& options) {
  std::vector<AttributionResult> results;
  RETURN_IF_ERROR(ExplainHiddenAttention(model, ids, lengths, options, [&](AttributionResult r) {
    results.push_back(std::move(r));
    return true;
  }));
  return results;
}

}  // namespace mamba_explain
