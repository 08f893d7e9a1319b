// LaTIM implementation. Per (layer, sequence of length n) it prepares O(n·E) per-source inputs
// (the K conv-tap activations f(φ^(k)), the gate gain g_t, W_out in fp32), then walks the target
// rows in blocks of R rows: hidden attention M for R × n × (a block of channels/heads), the
// contribution vectors u_{t←s} = g_t ⊙ v_{t←s} ([R, n, E], eq. 21), and — only when a score needs
// them — T_t(x_s) = W_out u_{t←s} ([R, n, D], eqs. 22/25), reduced to scores at once.
// Peak memory per block ≈ R·n·4·(2E + 3D) bytes (v/u, T, one ALTI temporary) + 3·R·n·U_b·4 (M
// temporaries); R and U_b are chosen so this stays under LatimOptions::memory_budget_bytes (R ≥ 1,
// so a single row of a very long sequence may exceed it: one row needs n·4·(2E + 3D) bytes).
#include "attribution/latim.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "attribution/hidden_attention.h"
#include "attribution/latim_batched.h"
#include "common/status_macros.h"

namespace mamba_explain {
namespace {

using torch::indexing::Slice;

torch::Tensor ApplyAdditive(const torch::Tensor& x, Activation f) {
  switch (f) {
    case Activation::kSilu:
      return torch::silu(x);
    case Activation::kRelu:
      return torch::relu(x);
    case Activation::kIdentity:
      return x;
  }
  return x;
}

// Everything LaTIM reads from one layer for one sequence, cut to its length n, fp32.
struct LayerInputs {
  SsmParams ssm;
  torch::Tensor taps;  // [K, n, E] taps[sh][s, c] = f(W_conv[c, K−1−sh]·x_in[s,c] + β) (eq. 19)
  torch::Tensor gain;         // [n, E] g_t: SiLU(z_t) (M1) or γ_t ⊙ SiLU(z_t) (M2, eqs. 24–25)
  torch::Tensor w_out;        // [D, E]
  torch::Tensor bias_out;     // [D] (zeros when out_proj has no bias)
  torch::Tensor mixer_out;    // [n, D]
  torch::Tensor residual;     // [n, D] block input
  int64_t unit_channels = 1;  // channels per unit of M: 1 (M1) or head_dim P (M2)
};

LayerInputs PrepareLayer(const LayerTrace& tr, const LayerWeights& w, const ModelConfig& cfg,
                         int64_t seq, int64_t n, Activation f) {
  const int64_t E = cfg.d_inner, K = cfg.d_conv;
  auto cut = [&](const torch::Tensor& t) { return t[seq].narrow(0, 0, n).to(torch::kFloat32); };
  LayerInputs in;
  in.ssm = SsmParamsFromTrace(tr, w, cfg, seq, n);
  // Only the x channels of the conv are decomposed (for Mamba-2, B and C belong to M).
  torch::Tensor x_in = cut(tr.conv_in).narrow(1, 0, E);                 // [n, E]
  torch::Tensor conv_w = w.conv_w.narrow(0, 0, E).to(torch::kFloat32);  // [E, K]
  std::vector<torch::Tensor> taps;
  for (int64_t sh = 0; sh < K; ++sh) {
    // φ^(k) with k = K−1−sh: source s feeds conv position r = s + sh. The bias β = b_conv rides
    // on the current-token tap (sh = 0), so each position counts it exactly once (eq. 19).
    torch::Tensor phi = x_in * conv_w.select(1, K - 1 - sh);
    if (sh == 0 && w.conv_b.defined()) phi = phi + w.conv_b.narrow(0, 0, E).to(torch::kFloat32);
    taps.push_back(ApplyAdditive(phi, f));
  }
  in.taps = torch::stack(taps);
  in.gain = torch::silu(cut(tr.gate));
  if (cfg.arch == Architecture::kMamba2) {
    // Gated RMSNorm frozen at the forward's statistics and grouping (rstd per group).
    const int64_t group = E / cut(tr.norm_rstd).size(1);
    torch::Tensor rstd = cut(tr.norm_rstd).repeat_interleave(group, 1);  // [n, E]
    in.gain = in.gain * rstd * w.gated_norm.to(torch::kFloat32);
    in.unit_channels = cfg.head_dim;
  }
  in.w_out = w.out_proj_w.to(torch::kFloat32);
  in.bias_out = w.out_proj_b.defined() ? w.out_proj_b.to(torch::kFloat32)
                                       : torch::zeros({cfg.d_model}, in.w_out.options());
  in.mixer_out = cut(tr.mixer_out);
  in.residual = cut(tr.residual_in);
  return in;
}

// u_{t←s} = g_t ⊙ v_{t←s} for t ∈ [r0, r1): [R, n, E] (eqs. 20–21 with the gate/norm gain).
// v_{t←s}[c] = Σ_sh (M[t, s+sh, c] + δ_{t,s+sh} D[c]) · taps[sh][s, c].
torch::Tensor GatedContributions(const LayerInputs& in, int64_t r0, int64_t r1,
                                 int64_t units_per_block) {
  const int64_t n = in.ssm.length(), U = in.ssm.units(), P = in.unit_channels;
  const int64_t K = in.taps.size(0), E = in.taps.size(2), R = r1 - r0;
  torch::Tensor v = torch::zeros({R, n, E}, in.taps.options());
  for (int64_t u0 = 0; u0 < U; u0 += units_per_block) {
    const int64_t u1 = std::min(U, u0 + units_per_block), ub = u1 - u0;
    torch::Tensor m = HiddenAttention(in.ssm, r0, r1, u0, u1, /*with_skip=*/true);  // [R, n, ub]
    for (int64_t sh = 0; sh < std::min(K, n); ++sh) {
      const int64_t len = n - sh;
      torch::Tensor m_sh = m.narrow(1, sh, len).unsqueeze(-1);  // [R,len,ub,1]
      torch::Tensor tap =
          in.taps[sh].narrow(0, 0, len).narrow(1, u0 * P, ub * P).view({len, ub, P});
      v.narrow(1, 0, len).narrow(2, u0 * P, ub * P).view({R, len, ub, P}).addcmul_(m_sh, tap);
    }
  }
  return v.mul_(in.gain.narrow(0, r0, R).unsqueeze(1));
}

// Contiguous runs of sorted rows, split into blocks of at most max_rows.
std::vector<std::pair<int64_t, int64_t>> RowBlocks(const std::vector<int64_t>& rows,
                                                   int64_t max_rows) {
  std::vector<std::pair<int64_t, int64_t>> blocks;
  for (size_t i = 0; i < rows.size();) {
    size_t j = i + 1;
    while (j < rows.size() && rows[j] == rows[j - 1] + 1 && int64_t(j - i) < max_rows) ++j;
    blocks.emplace_back(rows[i], rows[j - 1] + 1);
    i = j;
  }
  return blocks;
}

struct BlockPlan {
  int64_t rows = 1;   // R
  int64_t units = 1;  // U_b
};

BlockPlan PlanBlocks(int64_t n, int64_t E, int64_t D, int64_t U, int64_t unit_channels,
                     int64_t budget) {
  BlockPlan plan;
  const int64_t per_row = n * 4 * (2 * E + 3 * D);
  plan.rows = std::clamp<int64_t>(budget * 3 / 4 / std::max<int64_t>(per_row, 1), 1, n);
  const int64_t rest = std::max(budget - plan.rows * per_row, budget / 4);
  const int64_t per_unit = plan.rows * n * 4 * (3 + 2 * unit_channels);
  plan.units = std::clamp<int64_t>(rest / std::max<int64_t>(per_unit, 1), 1, U);
  return plan;
}

AttributionResult ToResult(LatimScore score, int layer, int64_t seq,
                           const std::vector<int64_t>& rows, const torch::Tensor& matrix,
                           double approx_error) {
  return LatimResult(score, layer, seq, rows, matrix, matrix.size(1), approx_error);
}

using SequenceState = LatimSequenceState;

absl::Status RunLayer(const MambaModel& model, const LayerTrace& tr, int layer, bool report_layer,
                      bool alti_logit, int64_t seq, SequenceState& st, const LatimOptions& options,
                      const ResultCallback& callback) {
  const ModelConfig& cfg = model.config();
  const int64_t n = st.n, Q = static_cast<int64_t>(st.rows.size());
  LayerInputs in = PrepareLayer(tr, model.weights().layers[layer], cfg, seq, n, options.activation);
  const int64_t E = cfg.d_inner, D = cfg.d_model;
  const auto& scores = options.scores;
  const LatimLayerPlan lp =
      PlanLatimLayer(scores, report_layer, alti_logit, layer, static_cast<int>(cfg.n_layers));
  const bool want_l1 = lp.want_l1, want_l2 = lp.want_l2, want_alti = lp.want_alti;
  const bool need_p = lp.need_p, need_alti = lp.need_alti, need_t = lp.need_t;
  const std::vector<int64_t> compute_rows = LatimComputeRows(st.rows, lp);
  const BlockPlan plan =
      PlanBlocks(n, E, D, in.ssm.units(), in.unit_channels, options.memory_budget_bytes);
  auto f32 = in.taps.options();
  auto i64 = f32.dtype(torch::kLong);
  torch::Tensor l1, l2, alti, logit_delta, rollout_next;
  if (want_l1) l1 = torch::zeros({Q, n}, f32);
  if (want_l2) l2 = torch::zeros({Q, n}, f32);
  if (want_alti) alti = torch::zeros({Q, n}, f32);
  if (alti_logit) logit_delta = torch::zeros({Q, n}, f32);
  if (need_p && st.rollout.defined()) rollout_next = torch::zeros({Q, n}, f32);
  torch::Tensor u_tilde;  // [Q, E] (U_eff W_out)
  if (alti_logit) u_tilde = torch::matmul(st.u_eff, in.w_out);
  double err_num = 0, err_den = 0;
  torch::Tensor sources = torch::arange(n, i64);

  for (auto [r0, r1] : RowBlocks(compute_rows, plan.rows)) {
    const int64_t R = r1 - r0;
    torch::Tensor targets = torch::arange(r0, r1, i64);  // [R]
    torch::Tensor local = targets - r0;
    torch::Tensor causal = sources.unsqueeze(0) <= targets.unsqueeze(1);  // [R, n]
    torch::Tensor u = GatedContributions(in, r0, r1, plan.units);         // [R, n, E]
    torch::Tensor sum_t = torch::matmul(u.sum(1), in.w_out.t());          // [R, D] Σ_s T_t(x_s)
    // Which of this block's rows are reported, and where they go.
    torch::Tensor pos = st.row_index.narrow(0, r0, R);
    torch::Tensor keep = (pos >= 0).nonzero().squeeze(1);
    torch::Tensor out_rows = pos.index_select(0, keep);
    const bool any_reported = keep.numel() > 0;
    if (any_reported) {
      torch::Tensor kt = targets.index_select(0, keep);
      torch::Tensor out = in.mixer_out.index_select(0, kt);
      err_num += (sum_t.index_select(0, keep) - (out - in.bias_out)).pow(2).sum().item<double>();
      err_den += out.pow(2).sum().item<double>();
    }
    if (alti_logit && any_reported) {
      // Δ^(l)_{t,s} = T_t(x_s)ᵀ U_eff,t = u_{t←s} · (W_outᵀ U_eff,t), never forming T (eq. 7).
      torch::Tensor d =
          torch::einsum("rse,re->rs", {u.index_select(0, keep), u_tilde.index_select(0, out_rows)});
      logit_delta.index_copy_(0, out_rows, d);
    }
    if (!need_t) continue;
    torch::Tensor T = torch::matmul(u, in.w_out.t());  // [R, n, D] (eqs. 22/25)
    u = torch::Tensor();
    if (want_l1 && any_reported) {
      l1.index_copy_(0, out_rows, T.index_select(0, keep).abs().sum(-1));
    }
    if (want_l2 && any_reported) {
      l2.index_copy_(0, out_rows, T.index_select(0, keep).norm(2, -1));
    }
    if (need_alti) {
      // ALTI with the residual (eq. 6): y_t = x_t + Σ_s T_t(x_s); T'_t(x_t) = T_t(x_t) + x_t.
      torch::Tensor resid = in.residual.narrow(0, r0, R);
      torch::Tensor y = resid + sum_t;  // [R, D]
      T.index_put_({local, targets}, T.index({local, targets}) + resid);
      torch::Tensor dist = (y.unsqueeze(1) - T).abs().sum(-1);  // [R, n]
      torch::Tensor p = (y.abs().sum(-1, true) - dist).clamp_min(0) * causal;
      torch::Tensor total = p.sum(-1, true);
      // An all-zero row (nothing moves y closer than 0) puts all mass on the token itself.
      torch::Tensor empty = total.squeeze(1) <= 0;
      p = p / torch::where(total > 0, total, torch::ones_like(total));
      p.index_put_({local, targets},
                   torch::where(empty, torch::ones_like(empty, f32), p.index({local, targets})));
      if (want_alti && any_reported) alti.index_copy_(0, out_rows, p.index_select(0, keep));
      if (rollout_next.defined()) {
        // Horner step of eq. 8: c ← c · P^(l) (+ Δ^(l) below), block by block over P's rows.
        rollout_next.add_(torch::matmul(st.rollout.narrow(1, r0, R), p));
      }
    }
  }
  const double err = err_den > 0 ? std::sqrt(err_num / err_den) : 0.0;
  LatimLayerScores mats;
  if (want_l1) mats.l1 = l1;
  if (want_l2) mats.l2 = l2;
  if (want_alti) mats.alti = alti;
  RETURN_IF_ERROR(EmitLatimLayerScores(scores, mats, layer, seq, st.rows, n, err, callback));
  if (alti_logit) {
    st.rollout = rollout_next.defined() ? rollout_next.add_(logit_delta) : logit_delta;
    st.logit_err_num += err_num;
    st.logit_err_den += err_den;
  }
  return absl::OkStatus();
}

// w(t) and U_eff,t = U_{w(t)} ⊙ norm_f ⊙ rstd_f,t: the final RMSNorm frozen at its statistics,
// so that Σ_l Σ_s Δ^(l)_{t,s} is the target logit minus the embedding's and the biases' direct
// terms.
absl::Status PrepareLogitTargets(const MambaModel& model, const LayerTrace& top_layer, int64_t seq,
                                 const LatimOptions& options, SequenceState& st) {
  const ModelConfig& cfg = model.config();
  const LayerTrace* top = &top_layer;
  torch::Tensor rows = torch::tensor(st.rows, torch::kLong).to(top->mixer_out.device());
  torch::Tensor h = (top->residual_in[seq] + top->mixer_out[seq]).index_select(0, rows);  // [Q, D]
  torch::Tensor rstd = torch::rsqrt(h.pow(2).mean(-1, true) + cfg.norm_eps);
  torch::Tensor scale = rstd * model.weights().norm_f.to(torch::kFloat32);  // [Q, D]
  torch::Tensor lm_head = model.weights().lm_head;
  torch::Tensor w;
  if (!options.sequence_targets.empty() && !options.sequence_targets[seq].empty()) {
    const std::vector<int64_t>& t = options.sequence_targets[seq];
    TORCH_INTERNAL_ASSERT_DEBUG_ONLY(t.size() == st.rows.size(), "one target token per row");
    w = torch::tensor(t, torch::kLong).to(rows.device());
  } else if (options.target_token.has_value()) {
    w = torch::full({static_cast<int64_t>(st.rows.size())}, *options.target_token, rows.options());
  } else {
    torch::Tensor logits = torch::matmul((h * scale).to(lm_head.scalar_type()), lm_head.t());
    w = logits.to(torch::kFloat32).argmax(-1);
  }
  st.u_eff = lm_head.index_select(0, w).to(torch::kFloat32) * scale;
  torch::Tensor w_cpu = w.to(torch::kCPU);
  st.targets.assign(w_cpu.data_ptr<int64_t>(), w_cpu.data_ptr<int64_t>() + w_cpu.numel());
  return absl::OkStatus();
}

std::vector<int> SelectedLayers(const MambaModel& model, const LatimOptions& options) {
  std::vector<int> layers = options.layers;
  if (layers.empty()) {
    for (int l = 0; l < model.config().n_layers; ++l) layers.push_back(l);
  }
  std::sort(layers.begin(), layers.end());
  layers.erase(std::unique(layers.begin(), layers.end()), layers.end());
  return layers;
}

// `options` come from the Engine, whose entry check (explain CheckValidated) is the one check of
// layers, rows and targets; debug builds assert what indexing relies on.
absl::Status LatimFromTracesImpl(const MambaModel& model, LayerTraces& traces,
                                 const torch::Tensor& lengths_in, const LatimOptions& options,
                                 const ResultCallback& callback) {
  if (traces.batch() == 0) return absl::InvalidArgumentError("empty trace");
  const int64_t batch = traces.batch(), L = traces.seq_len();
  const torch::Device device = traces.device();
  std::vector<int64_t> lengths(batch, L);
  if (lengths_in.defined()) {
    torch::Tensor l = lengths_in.to(torch::kCPU, torch::kLong);
    for (int64_t b = 0; b < batch; ++b) lengths[b] = l[b].item<int64_t>();
  }
  const bool alti_logit = HasScore(options.scores, LatimScore::kAltiLogit);
  const bool per_layer = HasScore(options.scores, LatimScore::kL1) ||
                         HasScore(options.scores, LatimScore::kL2) ||
                         HasScore(options.scores, LatimScore::kAlti);
  std::vector<int> selected = SelectedLayers(model, options);

  TORCH_INTERNAL_ASSERT_DEBUG_ONLY(
      (options.sequence_rows.empty() || options.sequence_rows.size() == size_t(batch)) &&
          (options.sequence_targets.empty() || options.sequence_targets.size() == size_t(batch)),
      "per-sequence rows/targets do not match the batch size");
  // ALTI-Logit needs the top layer first (its targets); the layer loop then starts with it.
  LayerTrace top;
  if (alti_logit) {
    ASSIGN_OR_RETURN(top, traces.Layer(static_cast<int>(model.config().n_layers) - 1));
  }
  const bool batched = options.backend == LatimOptions::Backend::kKernels ||
                       (options.backend == LatimOptions::Backend::kAuto && device.is_cuda());
  std::vector<SequenceState> states(batch);
  for (int64_t b = 0; b < batch; ++b) {
    SequenceState& st = states[b];
    st.n = lengths[b];
    if (!options.sequence_rows.empty()) {
      st.rows = options.sequence_rows[b];
      for (size_t q = 0; q < st.rows.size(); ++q) {
        TORCH_INTERNAL_ASSERT_DEBUG_ONLY(0 <= st.rows[q] && st.rows[q] < st.n, "row ", st.rows[q]);
      }
    } else {
      ASSIGN_OR_RETURN(st.rows, ResolveRows(options.rows, st.n, b));
    }
    if (!batched) {  // the per-sequence reference's row lookup (the batched path plans its own)
      std::vector<int64_t> index(st.n, -1);
      for (size_t q = 0; q < st.rows.size(); ++q) index[st.rows[q]] = static_cast<int64_t>(q);
      st.row_index = torch::tensor(index, torch::kLong).to(device);
    }
    if (alti_logit) RETURN_IF_ERROR(PrepareLogitTargets(model, top, b, options, st));
  }

  // The batched path launches layer l before it emits layer l − 1 (one layer in flight), so the
  // host's result handling overlaps the device's work.
  std::optional<LatimPendingLayer> in_flight;
  LatimPlanCache plans;
  auto flush = [&]() -> absl::Status {
    if (!in_flight) return absl::OkStatus();
    absl::Status st = EmitLatimLayerBatched(*in_flight, options.scores, states, callback);
    in_flight.reset();
    return st;
  };
  auto run_layer = [&](const LayerTrace& tr, int l, bool report, bool logit) -> absl::Status {
    RETURN_IF_ERROR(options.cancel.CheckAny(batch));
    if (batched) {
      ASSIGN_OR_RETURN(LatimPendingLayer next, LaunchLatimLayerBatched(model, tr, l, report, logit,
                                                                       states, options, plans));
      RETURN_IF_ERROR(flush());
      in_flight = std::move(next);
      return absl::OkStatus();
    }
    for (int64_t b = 0; b < batch; ++b) {
      RETURN_IF_ERROR(RunLayer(model, tr, l, report, logit, b, states[b], options, callback));
    }
    return absl::OkStatus();
  };
  if (!alti_logit) {
    for (int l : selected) {  // ascending: traces recomputed layer by layer, one at a time
      ASSIGN_OR_RETURN(const LayerTrace tr, traces.Layer(l));
      RETURN_IF_ERROR(run_layer(tr, l, true, false));
    }
    return flush();
  }
  // ALTI-Logit: top layer down (Horner form of eq. 8), emitting per-layer scores on the way.
  for (int l = static_cast<int>(model.config().n_layers) - 1; l >= 0; --l) {
    LayerTrace tr;  // the top layer's is already there; the others come one at a time
    if (l == top.layer) {
      tr = std::move(top);
      top = LayerTrace();
    } else {
      ASSIGN_OR_RETURN(tr, traces.Layer(l));
    }
    const bool report = per_layer && std::binary_search(selected.begin(), selected.end(), l);
    RETURN_IF_ERROR(run_layer(tr, l, report, true));
  }
  RETURN_IF_ERROR(flush());
  for (int64_t b = 0; b < batch; ++b) {
    SequenceState& st = states[b];
    const double err = st.logit_err_den > 0 ? std::sqrt(st.logit_err_num / st.logit_err_den) : 0.0;
    AttributionResult r = ToResult(LatimScore::kAltiLogit, -1, b, st.rows, st.rollout, err);
    r.targets = st.targets;
    if (!callback(std::move(r))) return absl::CancelledError("cancelled by the result consumer");
  }
  return absl::OkStatus();
}

}  // namespace

LayerTracesOptions LatimTraceOptions(const LatimOptions& options) {
  LayerTracesOptions traces;
  // Per-layer scores run bottom-up (only the stream is kept); ALTI-Logit runs top-down and keeps
  // every layer's input.
  traces.order = HasScore(options.scores, LatimScore::kAltiLogit)
                     ? LayerTracesOptions::Order::kAny
                     : LayerTracesOptions::Order::kIncreasing;
  traces.memory_budget_bytes = options.memory_budget_bytes;
  return traces;
}

Method LatimScoreMethod(LatimScore score) {
  switch (score) {
    case LatimScore::kL1:
      return Method::kLatimL1;
    case LatimScore::kL2:
      return Method::kLatimL2;
    case LatimScore::kAlti:
      return Method::kLatimAlti;
    case LatimScore::kAltiLogit:
      return Method::kLatimAltiLogit;
  }
  return Method::kLatimL2;
}

absl::StatusOr<LatimScore> LatimScoreOf(Method method) {
  for (LatimScore s :
       {LatimScore::kL1, LatimScore::kL2, LatimScore::kAlti, LatimScore::kAltiLogit}) {
    if (LatimScoreMethod(s) == method) return s;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("method '", MethodName(method), "' is not a LaTIM score"));
}

absl::Status LatimFromTraces(const MambaModel& model, LayerTraces& traces,
                             const torch::Tensor& lengths, const LatimOptions& options,
                             const ResultCallback& callback) {
  torch::NoGradGuard no_grad;
  return LatimFromTracesImpl(model, traces, lengths, options, callback);
}

absl::Status LatimFromTrace(const MambaModel& model, const Trace& trace,
                            const torch::Tensor& lengths, const LatimOptions& options,
                            const ResultCallback& callback) {
  LayerTraces traces = LayerTraces::FromTrace(trace);
  return LatimFromTraces(model, traces, lengths, options, callback);
}

absl::Status ExplainLatim(const MambaModel& model, const torch::Tensor& ids,
                          const torch::Tensor& lengths, const LatimOptions& options,
                          const ResultCallback& callback) {
  ASSIGN_OR_RETURN(LayerTraces traces,
                   LayerTraces::Create(model, ids, lengths, LatimTraceOptions(options)));
  torch::NoGradGuard no_grad;
  return LatimFromTracesImpl(model, traces, lengths, options, callback);
}

absl::StatusOr<std::vector<AttributionResult>> ExplainLatim(const MambaModel& model,
                                                            const torch::Tensor& ids,
                                                            const torch::Tensor& lengths,
                                                            const LatimOptions& options) {
  std::vector<AttributionResult> results;
  RETURN_IF_ERROR(ExplainLatim(model, ids, lengths, options, [&](AttributionResult r) {
    results.push_back(std::move(r));
    return true;
  }));
  return results;
}

}  // namespace mamba_explain
