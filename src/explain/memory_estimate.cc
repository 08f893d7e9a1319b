#include "explain/memory_estimate.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "mamba/checkpointed_forward.h"
#include "mamba/layer_traces.h"

namespace mamba_explain {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kF32 = 4;
// Positions per forward/backward batch of the gradient methods (GradientMethodOptions default).
constexpr int64_t kGradientBatchTokens = 8192;

MemoryEstimate Max(const MemoryEstimate& a, const MemoryEstimate& b) {
  return a.total_bytes() >= b.total_bytes() ? a : b;
}

// Stream/checkpoints + one layer trace + the recompute chunk for `batch` sequences of length L.
MemoryEstimate Traces(const ModelConfig& c, int64_t batch, int64_t L, bool every_layer,
                      int64_t budget) {
  MemoryEstimate e;
  const int64_t stream = batch * L * c.d_model * kF32;
  // Every layer's input, or the stream and the next one while a traced layer is added to it.
  e.checkpoint_bytes = every_layer ? c.n_layers * stream : 2 * stream;
  const int64_t chunk =
      batch * RecomputeChunkLength(c, batch, L, budget) * BlockTemporaryBytesPerPosition(c);
  e.layer_trace_bytes = batch * L * LayerTraceBytesPerPosition(c) + chunk;
  return e;
}

MemoryEstimate Latim(const ModelConfig& c, const ValidatedRequest& r) {
  int64_t L = 0, rows = 0, latim_scores = 0;
  for (const ValidatedSequence& s : r.sequences) {
    L = std::max<int64_t>(L, static_cast<int64_t>(s.ids.size()));
    rows = std::max<int64_t>(rows, static_cast<int64_t>(s.rows.size()));
  }
  bool alti_logit = false;
  for (Method m : r.methods) {
    if (GetMethodInfo(m).family != MethodFamily::kLatim) continue;
    ++latim_scores;
    alti_logit |= m == Method::kLatimAltiLogit;
  }
  if (latim_scores == 0 || L == 0) return {};
  const int64_t B = static_cast<int64_t>(r.sequences.size());
  MemoryEstimate e = Traces(c, B, L, alti_logit, r.memory_budget_bytes);
  const int64_t E = c.d_inner, D = c.d_model, K = c.d_conv;
  const int64_t U = c.arch == Architecture::kMamba1 ? E : c.n_heads;
  // Per layer: conv-tap activations, gate gains, Δ prefix sums, cut copies (latim.cc,
  // latim_batched.cc); the row blocks (at least one row of every source: u and T); the score
  // matrices (and ALTI-Logit's rollout) of every sequence.
  const int64_t per_layer = B * L * kF32 * ((K + 4) * E + U + 3 * D);
  const int64_t blocks = std::max(r.memory_budget_bytes, L * kF32 * (2 * E + 3 * D));
  const int64_t results = B * rows * L * kF32 * (latim_scores + (alti_logit ? 2 : 0));
  e.method_bytes = per_layer + blocks + results;
  return e;
}

// One sequence through the baselines (run one family after another).
MemoryEstimate Baselines(const ModelConfig& c, const ValidatedRequest& r,
                         const ValidatedSequence& s) {
  const int64_t n = static_cast<int64_t>(s.ids.size());
  const int64_t rows = std::max<int64_t>(1, static_cast<int64_t>(s.rows.size()));
  int64_t items = rows;  // forward/backward items: rows × IG steps or SmoothGrad samples
  for (Method m : r.methods) {
    if (m == Method::kIntegratedGradients) items = std::max(items, rows * r.params.ig_steps);
    if (m == Method::kSmoothGrad) items = std::max(items, rows * r.params.smoothgrad_samples);
  }
  MemoryEstimate e;
  bool gradients = false, full_graph = false, attention = false;
  for (Method m : r.methods) {
    const MethodFamily f = GetMethodInfo(m).family;
    // MambaLRP's rule forward checkpoints like the gradient methods (attribution/mamba_lrp.cc);
    // Mamba-Attribution's layer gradients keep the whole graph.
    gradients |= f == MethodFamily::kGradient || f == MethodFamily::kMambaLrp;
    full_graph |= m == Method::kMambaAttribution;
    attention |= f == MethodFamily::kHiddenAttention;
  }
  // Autograd keeps every layer's activations of one forward/backward batch, or — for the
  // gradient methods past kCheckpointAboveBytes — every block's input plus one block's.
  const int64_t positions = std::min(items * n, std::max(n, kGradientBatchTokens));
  const int64_t plain = DifferentiableForwardBytes(c, positions);
  if (full_graph || gradients) {
    MemoryEstimate g;
    g.method_bytes = full_graph || plain <= kCheckpointAboveBytes
                         ? plain
                         : CheckpointedForwardBytes(c, positions);
    e = Max(e, g);
  }
  if (attention) {
    // Bottom-up traces, then three [n, n] statistics per layer kept for the rollouts.
    MemoryEstimate a = Traces(c, 1, n, false, r.memory_budget_bytes);
    a.method_bytes = c.n_layers * 3 * n * n * kF32 + r.memory_budget_bytes;
    e = Max(e, a);
  }
  return e;
}

}  // namespace

std::string MemoryEstimate::DebugString() const {
  return absl::StrCat((total_bytes() + kMiB - 1) / kMiB, " MiB (residual checkpoints ",
                      checkpoint_bytes / kMiB, " MiB, one layer's trace ", layer_trace_bytes / kMiB,
                      " MiB, methods ", method_bytes / kMiB, " MiB)");
}

MemoryEstimate EstimateExplainMemory(const ModelConfig& config, const ValidatedRequest& request) {
  MemoryEstimate e = Latim(config, request);
  for (const ValidatedSequence& s : request.sequences) {
    e = Max(e, Baselines(config, request, s));
  }
  return e;
}

absl::Status CheckMemoryEstimate(const MemoryEstimate& estimate, int64_t available_bytes) {
  if (available_bytes <= 0 || estimate.total_bytes() <= available_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "this explanation needs about ", estimate.DebugString(), "; the device can give ",
      available_bytes / kMiB, " MiB: use fewer tokens, rows or methods"));
}

}  // namespace mamba_explain
