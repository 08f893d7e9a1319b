#include "attribution/gradient_methods.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "mamba/mamba_ops.h"

namespace mamba_explain {
namespace {

// Per-sequence accumulator of R [Q, n] and the result around it.
struct RowScores {
  const SequenceTargets* targets = nullptr;
  torch::Tensor scores;  // [Q, n] fp32 on the model's device
};

// Logits of the rows' targets with every embedding zeroed (IG's baseline value f(0)).
std::vector<float> BaselineLogits(const MambaModel& model, const SequenceTargets& st) {
  torch::NoGradGuard no_grad;
  torch::Tensor zeros = torch::zeros({1, st.length, model.config().d_model},
                                     torch::TensorOptions().device(model.device()));
  ForwardOptions fwd;
  fwd.compute_logits = false;
  auto out = model.ForwardFromEmbeddings(zeros, torch::Tensor(), fwd);
  TORCH_CHECK(out.ok(), out.status().ToString());
  torch::Tensor index = torch::tensor(st.rows, torch::kLong).to(model.device());
  torch::Tensor logits = Project(out->final_hidden[0].index_select(0, index),
                                 model.weights().lm_head, torch::Tensor());
  torch::Tensor tokens = torch::tensor(st.tokens, torch::kLong).to(model.device()).unsqueeze(1);
  torch::Tensor v = logits.gather(1, tokens).squeeze(1).to(torch::kCPU);
  return std::vector<float>(v.data_ptr<float>(), v.data_ptr<float>() + v.numel());
}

// One method over every (sequence, target row, step or sample) item of the batch: the items of
// all sequences go through one GradientsOfTargets, packed into forward/backward batches of at
// most max_batch_tokens padded positions (the cost of an item is its length t + 1, so long
// sequences take smaller batches). Each item is its own batch element, so a sequence's result is
// the one it gets alone.
absl::Status RunMethod(const MambaModel& model, const EmbeddingLogitFn& fn, Method name,
                       GradientMethod method, const GradientMethodOptions& options,
                       const torch::Tensor& ids, const std::vector<SequenceTargets>& targets,
                       const ResultCallback& callback) {
  const int64_t d_model = model.config().d_model;
  const int64_t batch = static_cast<int64_t>(targets.size());
  // Samples per row: α nodes (IG), noise draws (SmoothGrad), or the input itself (GI).
  std::vector<double> nodes = {1.0}, weights = {1.0};
  if (method == GradientMethod::kIntegratedGradients) {
    QuadratureRule(options.ig_quadrature, options.ig_steps, &nodes, &weights);
  } else if (method == GradientMethod::kSmoothGrad) {
    nodes.assign(options.smoothgrad_samples, 1.0);
    weights.assign(options.smoothgrad_samples, 1.0 / options.smoothgrad_samples);
  }
  const int64_t S = static_cast<int64_t>(nodes.size());
  std::vector<torch::Tensor> e(batch);                   // [n_b, D] per sequence
  std::vector<std::vector<torch::Tensor>> noise(batch);  // SmoothGrad: S × [n_b, D], host
  std::vector<torch::Tensor> scores(batch);              // [Q_b, n_b]
  struct Item {
    int64_t b, q, i;
  };
  std::vector<Item> where;
  GradientItems items;
  for (int64_t b = 0; b < batch; ++b) {
    if (options.cancel.IsCancelled(b)) continue;
    const SequenceTargets& st = targets[b];
    const int64_t n = st.length, Q = static_cast<int64_t>(st.rows.size());
    {
      torch::NoGradGuard no_grad;
      e[b] = model.Embed(ids[b].narrow(0, 0, n).unsqueeze(0))[0];
    }
    if (method == GradientMethod::kSmoothGrad) {
      // Drawn on the CPU from the seed, per sequence, so every device and every batch
      // composition sees the noise of the sequence's solo run.
      at::Generator gen = at::detail::createCPUGenerator(options.seed);
      for (int64_t i = 0; i < S; ++i) {
        // Kept on the host (every sample of every sequence); each item copies its own.
        noise[b].push_back(torch::randn({n, d_model}, gen, torch::TensorOptions()) *
                           options.smoothgrad_sigma);
      }
    }
    scores[b] = torch::zeros({Q, n}, e[b].options());
    for (int64_t q = 0; q < Q; ++q) {
      for (int64_t i = 0; i < S; ++i) {
        items.lengths.push_back(st.rows[q] + 1);
        items.tokens.push_back(st.tokens[q]);
        items.sequences.push_back(b);
        where.push_back({b, q, i});
      }
    }
  }
  auto input = [&](size_t item) {
    const Item& w = where[item];
    const int64_t len = targets[w.b].rows[w.q] + 1;
    torch::Tensor x = e[w.b].narrow(0, 0, len);
    if (method == GradientMethod::kIntegratedGradients) return x * nodes[w.i];
    if (method == GradientMethod::kSmoothGrad) {
      return x + noise[w.b][w.i].narrow(0, 0, len).to(x.device());
    }
    return x;
  };
  items.input = input;
  const absl::Status computed = GradientsOfTargets(
      fn, items, options.max_batch_tokens,
      [&](size_t item, const torch::Tensor& grad, float) {
        const Item& w = where[item];
        const int64_t len = targets[w.b].rows[w.q] + 1;
        torch::Tensor multiplier = e[w.b].narrow(0, 0, len);  // e − 0 (IG), e (GI, clean SG)
        if (method == GradientMethod::kSmoothGrad &&
            options.smoothgrad_input == SmoothGradInput::kNoisy) {
          multiplier = input(item);
        }
        scores[w.b][w.q].narrow(0, 0, len).add_((multiplier * grad).sum(-1) * weights[w.i]);
      },
      options.cancel,
      [&](int64_t done, int64_t total) {
        if (options.progress) options.progress(name, done, total);
      });
  if (!absl::IsCancelled(computed)) RETURN_IF_ERROR(computed);
  for (int64_t b = 0; b < batch; ++b) {
    // Partial scores of a cancelled sequence are never reported.
    if (!scores[b].defined() || options.cancel.IsCancelled(b)) continue;
    const SequenceTargets& st = targets[b];
    const int64_t n = st.length, Q = static_cast<int64_t>(st.rows.size());
    std::vector<float> base(Q, 0.0f);
    if (method == GradientMethod::kIntegratedGradients) base = BaselineLogits(model, st);
    torch::Tensor cpu = scores[b].to(torch::kCPU).contiguous();
    torch::Tensor sums = cpu.to(torch::kFloat64).sum(1);
    double gap = 0.0;
    for (int64_t q = 0; q < Q; ++q) {
      const double f = st.logits[q];
      const double g =
          std::abs(sums[q].item<double>() - (f - base[q])) / std::max(std::abs(f), 1e-12);
      gap = std::max(gap, g);
    }
    AttributionResult r = NewResult(name, -1, b);
    r.rows = st.rows;
    r.columns = n;
    r.matrix.assign(cpu.data_ptr<float>(), cpu.data_ptr<float>() + cpu.numel());
    r.approx_error = gap;
    r.targets = st.tokens;
    r.explained_logits = st.logits;
    if (!callback(std::move(r))) return absl::CancelledError("cancelled by the result consumer");
  }
  return options.cancel.CheckAny(batch);
}

// What the Engine's entry check (explain CheckValidated) guarantees; asserted in debug builds only.
void AssertValid(const GradientMethodOptions& o) {
  TORCH_INTERNAL_ASSERT_DEBUG_ONLY(!o.methods.empty(), "no gradient method requested");
  TORCH_INTERNAL_ASSERT_DEBUG_ONLY(o.ig_steps >= 1 && o.smoothgrad_samples >= 1,
                                   "ig steps and smoothgrad samples must be >= 1");
  TORCH_INTERNAL_ASSERT_DEBUG_ONLY(o.smoothgrad_sigma >= 0 && std::isfinite(o.smoothgrad_sigma),
                                   "smoothgrad sigma must be finite and >= 0");
  TORCH_INTERNAL_ASSERT_DEBUG_ONLY(o.max_batch_tokens >= 1, "max_batch_tokens must be >= 1");
}

}  // namespace

Method GradientMethodMethod(GradientMethod method) {
  switch (method) {
    case GradientMethod::kGradientXInput:
      return Method::kGradientXInput;
    case GradientMethod::kIntegratedGradients:
      return Method::kIntegratedGradients;
    case GradientMethod::kSmoothGrad:
      return Method::kSmoothGrad;
  }
  return Method::kGradientXInput;
}

absl::StatusOr<GradientMethod> GradientMethodOf(Method method) {
  for (GradientMethod m : {GradientMethod::kGradientXInput, GradientMethod::kIntegratedGradients,
                           GradientMethod::kSmoothGrad}) {
    if (GradientMethodMethod(m) == method) return m;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("method '", MethodName(method), "' is not a gradient method"));
}

void QuadratureRule(IgQuadrature rule, int m, std::vector<double>* nodes,
                    std::vector<double>* weights) {
  nodes->assign(m, 0.0);
  weights->assign(m, 1.0 / m);
  if (rule == IgQuadrature::kRiemannMidpoint) {
    for (int i = 0; i < m; ++i) (*nodes)[i] = (i + 0.5) / m;
    return;
  }
  // Gauss–Legendre on [−1, 1]: Newton on P_m from the usual initial guesses (the i-th largest
  // root), P_m and P_{m−1} by the three-term recurrence; weights 2 / ((1 − z²) P'_m(z)²).
  for (int i = 0; i < m; ++i) {
    double z = std::cos(M_PI * (i + 0.75) / (m + 0.5)), dp = 1.0;
    for (int iter = 0; iter < 100; ++iter) {
      double p1 = 1.0, p2 = 0.0;
      for (int j = 1; j <= m; ++j) {
        const double p3 = p2;
        p2 = p1;
        p1 = ((2.0 * j - 1.0) * z * p2 - (j - 1.0) * p3) / j;
      }
      dp = m * (z * p1 - p2) / (z * z - 1.0);
      const double step = p1 / dp;
      z -= step;
      if (std::abs(step) < 1e-15) break;
    }
    (*nodes)[m - 1 - i] = 0.5 * (z + 1.0);
    (*weights)[m - 1 - i] = 1.0 / ((1.0 - z * z) * dp * dp);  // ½ · 2/((1 − z²)P'²)
  }
}

absl::Status GradientTimesInput(const MambaModel& model, const EmbeddingLogitFn& fn, Method name,
                                const torch::Tensor& ids, const torch::Tensor& lengths,
                                const std::vector<RowSelection>& rows,
                                std::optional<int64_t> target_token, int64_t max_batch_tokens,
                                const ResultCallback& callback, const Cancellation& cancel,
                                const MethodProgress& progress) {
  TORCH_INTERNAL_ASSERT_DEBUG_ONLY(max_batch_tokens >= 1, "max_batch_tokens must be >= 1");
  ASSIGN_OR_RETURN(std::vector<SequenceTargets> targets,
                   ResolveTargets(model, ids, lengths, rows, target_token));
  GradientMethodOptions o;
  o.max_batch_tokens = max_batch_tokens;
  o.cancel = cancel;
  o.progress = progress;
  return RunMethod(model, fn, name, GradientMethod::kGradientXInput, o, ids.to(torch::kCPU),
                   targets, callback);
}

absl::Status ExplainGradients(const MambaModel& model, const torch::Tensor& ids,
                              const torch::Tensor& lengths, const GradientMethodOptions& options,
                              const ResultCallback& callback) {
  AssertValid(options);
  ASSIGN_OR_RETURN(
      std::vector<SequenceTargets> targets,
      ResolveTargets(model, ids, lengths, SequenceRows(options.rows, options.sequence_rows),
                     options.target_token));
  const EmbeddingLogitFn fn = ModelLogitFn(model);
  torch::Tensor ids_cpu = ids.to(torch::kCPU);
  for (GradientMethod m : options.methods) {
    RETURN_IF_ERROR(
        RunMethod(model, fn, GradientMethodMethod(m), m, options, ids_cpu, targets, callback));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AttributionResult>> ExplainGradients(
    const MambaModel& model, const torch::Tensor& ids, const torch::Tensor& lengths,
    const GradientMethodOptions& options) {
  std::vector<AttributionResult> results;
  RETURN_IF_ERROR(ExplainGradients(model, ids, lengths, options, [&](AttributionResult r) {
    results.push_back(std::move(r));
    return true;
  }));
  return results;
}

}  // namespace mamba_explain
