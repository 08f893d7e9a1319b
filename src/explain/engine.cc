#include "explain/engine.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "attribution/gradient_methods.h"
#include "attribution/latim.h"
#include "attribution/mamba_attention.h"
#include "attribution/mamba_lrp.h"
#include "common/status_macros.h"
#include "explain/error_boundary.h"
#include "explain/memory_estimate.h"
#include "mamba/mamba_model.h"

#ifdef ME_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>
#endif

namespace mamba_explain {
namespace {

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

torch::Tensor IdsTensor(const std::vector<int32_t>& ids) {
  return torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()),
                       torch::TensorOptions().dtype(torch::kInt64))
      .view({1, static_cast<int64_t>(ids.size())});
}

// The request's sequences as one right-padded batch: ids [B, L_max] (pad id 0, a valid id whose
// positions never reach a real one: Mamba is causal) and lengths [B].
std::pair<torch::Tensor, torch::Tensor> PaddedBatch(const ValidatedRequest& request) {
  const int64_t batch = static_cast<int64_t>(request.sequences.size());
  int64_t longest = 0;
  for (const ValidatedSequence& s : request.sequences) {
    longest = std::max<int64_t>(longest, static_cast<int64_t>(s.ids.size()));
  }
  std::vector<int64_t> flat(static_cast<size_t>(batch * longest), 0);
  std::vector<int64_t> lengths;
  for (int64_t b = 0; b < batch; ++b) {
    const std::vector<int32_t>& ids = request.sequences[b].ids;
    std::copy(ids.begin(), ids.end(), flat.begin() + b * longest);
    lengths.push_back(static_cast<int64_t>(ids.size()));
  }
  return {torch::tensor(flat, torch::TensorOptions().dtype(torch::kInt64)).view({batch, longest}),
          torch::tensor(lengths, torch::TensorOptions().dtype(torch::kInt64))};
}

// The LaTIM scores of every sequence in one right-padded batch (padding never reaches a real
// position: Mamba is causal).
absl::Status RunLatim(const MambaModel& model, const ValidatedRequest& request,
                      const Cancellation& cancel, const ResultCallback& callback) {
  LatimOptions latim;
  latim.cancel = cancel;
  latim.scores.clear();
  for (Method m : request.methods) {
    if (GetMethodInfo(m).family != MethodFamily::kLatim) continue;
    ASSIGN_OR_RETURN(LatimScore score, LatimScoreOf(m));
    latim.scores.push_back(score);
  }
  if (latim.scores.empty()) return absl::OkStatus();
  latim.layers = request.layers;
  latim.activation = request.activation;
  latim.precision = request.precision;
  latim.target_token = request.target_token;
  latim.memory_budget_bytes = request.memory_budget_bytes;
  bool any_targets = false;
  for (const ValidatedSequence& s : request.sequences) {
    latim.sequence_rows.push_back(s.rows);
    any_targets |= !s.targets.empty();
  }
  if (any_targets) {
    for (const ValidatedSequence& s : request.sequences)
      latim.sequence_targets.push_back(s.targets);
  }
  if (request.sequences.size() == 1) {
    return ExplainLatim(model, IdsTensor(request.sequences[0].ids), torch::Tensor(), latim,
                        callback);
  }
  const auto [ids, lengths] = PaddedBatch(request);
  return ExplainLatim(model, ids, lengths, latim, callback);
}

// Rows and target tokens of sequence b, as the families take them.
RowSelection SequenceRowSelection(const ValidatedSequence& seq) {
  RowSelection rows;
  rows.kind = RowSelection::Kind::kList;
  rows.rows = seq.rows;
  rows.tokens = seq.targets;
  return rows;
}

// The gradient methods and MambaLRP of every sequence: each method is one run over the padded
// batch, all (sequence, row, step or sample) items sharing forward/backward passes; each
// sequence keeps its own rows and target tokens, and a cancelled one stops costing compute at the
// next pass.
absl::Status RunGradientBaselines(const MambaModel& model, const ValidatedRequest& request,
                                  const Cancellation& cancel, const ResultCallback& callback,
                                  const MethodProgress& progress) {
  const ExplainParameters& p = request.params;
  GradientMethodOptions gradients;
  gradients.methods.clear();
  bool lrp = false;
  for (Method m : request.methods) {
    const MethodFamily family = GetMethodInfo(m).family;
    if (family == MethodFamily::kGradient) {
      ASSIGN_OR_RETURN(GradientMethod g, GradientMethodOf(m));
      gradients.methods.push_back(g);
    } else if (family == MethodFamily::kMambaLrp) {
      lrp = true;
    }
  }
  if (gradients.methods.empty() && !lrp) return absl::OkStatus();
  std::vector<RowSelection> rows;
  for (const ValidatedSequence& seq : request.sequences) rows.push_back(SequenceRowSelection(seq));
  const auto [ids, lengths] = PaddedBatch(request);
  if (!gradients.methods.empty()) {
    gradients.sequence_rows = rows;
    gradients.target_token = request.target_token;
    gradients.ig_steps = p.ig_steps;
    gradients.ig_quadrature = p.ig_rule;
    gradients.smoothgrad_samples = p.smoothgrad_samples;
    gradients.smoothgrad_sigma = p.smoothgrad_sigma;
    gradients.smoothgrad_input = p.smoothgrad_input;
    gradients.seed = p.seed;
    gradients.cancel = cancel;
    gradients.progress = progress;
    RETURN_IF_ERROR(ExplainGradients(model, ids, lengths, gradients, callback));
  }
  if (lrp) {
    MambaLrpOptions options;
    options.rules = p.lrp_rules;
    options.sequence_rows = rows;
    options.target_token = request.target_token;
    options.cancel = cancel;
    options.progress = progress;
    RETURN_IF_ERROR(ExplainMambaLrp(model, ids, lengths, options, callback));
  }
  return absl::OkStatus();
}

// The hidden-attention methods of sequence `b` (one sequence at a time; `cancel` is renumbered
// to it).
absl::Status RunHiddenAttention(const MambaModel& model, const ValidatedRequest& request, int64_t b,
                                const Cancellation& cancel, const ResultCallback& callback) {
  MambaAttentionOptions attention;
  attention.methods.clear();
  for (Method m : request.methods) {
    if (GetMethodInfo(m).family != MethodFamily::kHiddenAttention) continue;
    ASSIGN_OR_RETURN(HiddenAttentionMethod h, HiddenAttentionMethodOf(m));
    attention.methods.push_back(h);
  }
  if (attention.methods.empty()) return absl::OkStatus();
  // The family numbers its one sequence 0; report it as `b`.
  auto relabel = [&](AttributionResult r) {
    r.sequence = b;
    return callback(std::move(r));
  };
  const ExplainParameters& p = request.params;
  attention.layers = request.layers;
  attention.rows = SequenceRowSelection(request.sequences[b]);
  attention.attention_norm = p.attention_norm;
  attention.start_layer = p.start_layer;
  attention.target_token = request.target_token;
  attention.memory_budget_bytes = request.memory_budget_bytes;
  attention.cancel = cancel;
  return ExplainHiddenAttention(model, IdsTensor(request.sequences[b].ids), torch::Tensor(),
                                attention, relabel);
}

// Sequence b of `request` as a request of its own.
ValidatedRequest OneSequence(const ValidatedRequest& request, size_t b) {
  ValidatedRequest one = request;
  one.sequences = {request.sequences[b]};
  return one;
}

// 90% of the device's memory less the weights: what one explanation may use when it runs alone.
int64_t DeviceLimitBytes(const MambaModel& model) {
  int64_t total = 0;
  const torch::Device device = model.device();
  if (device.is_cuda()) {
#ifdef ME_WITH_CUDA
    size_t free_bytes = 0, total_bytes = 0;
    const c10::cuda::CUDAGuard guard(device);
    if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) {
      total = static_cast<int64_t>(total_bytes);
    }
#endif
  } else {
    total = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGE_SIZE);
  }
  if (total <= 0) return -1;  // unknown: no limit
  const ModelWeights& w = model.weights();
  auto bytes = [](const torch::Tensor& t) -> int64_t { return t.defined() ? t.nbytes() : 0; };
  int64_t weights = bytes(w.embedding) + (w.lm_head_tied ? 0 : bytes(w.lm_head));
  for (const LayerWeights& l : w.layers) {  // the projections; the rest is a rounding error
    weights += bytes(l.in_proj_w) + bytes(l.x_proj_w) + bytes(l.dt_proj_w) + bytes(l.out_proj_w);
  }
  return std::max<int64_t>(1, total / 10 * 9 - weights);
}

bool HasBaselines(const ValidatedRequest& request) {
  for (Method m : request.methods) {
    if (GetMethodInfo(m).family != MethodFamily::kLatim) return true;
  }
  return false;
}

}  // namespace

Engine::~Engine() = default;

absl::StatusOr<std::unique_ptr<Engine>> Engine::Load(const std::string& model_dir,
                                                     const EngineOptions& options) {
  LoadOptions load;
  ASSIGN_OR_RETURN(load.device, ParseDevice(options.device));
  if (options.precision == Precision::kTf32) {
    return absl::InvalidArgumentError(
        "tf32 is a compute precision: load the weights in fp32 and ask for tf32 per request");
  }
  load.precision = options.precision;
  std::unique_ptr<Engine> engine(new Engine());
  ASSIGN_OR_RETURN(engine->model_, MambaModel::Load(model_dir, load));
  std::string tokenizer_path = options.tokenizer_path;
  if (tokenizer_path.empty() && FileExists(model_dir + "/tokenizer.json")) {
    tokenizer_path = model_dir + "/tokenizer.json";
  }
  if (!tokenizer_path.empty()) {
    ASSIGN_OR_RETURN(engine->tokenizer_, Tokenizer::FromFile(tokenizer_path));
  }
  engine->memory_limit_bytes_ = options.memory_limit_bytes != 0 ? options.memory_limit_bytes
                                                                : DeviceLimitBytes(*engine->model_);
  return engine;
}

const ModelConfig& Engine::config() const { return model_->config(); }

ModelShape Engine::shape() const {
  ModelShape shape;
  shape.n_layers = static_cast<int>(config().n_layers);
  shape.vocab_size = config().vocab_size;
  shape.precision = model_->weights().precision;
  shape.methods = EngineMethods();
  return shape;
}

absl::StatusOr<std::vector<int32_t>> Engine::Tokenize(const std::string& text) const {
  if (tokenizer_ == nullptr) {
    return absl::FailedPreconditionError(
        "the model directory has no tokenizer.json; pass token ids or a tokenizer file");
  }
  return tokenizer_->Encode(text);
}

absl::StatusOr<EncodedPrefix> Engine::TokenizeAtMost(const std::string& text,
                                                     size_t max_ids) const {
  if (tokenizer_ == nullptr) {
    return absl::FailedPreconditionError(
        "the model directory has no tokenizer.json; pass token ids or a tokenizer file");
  }
  return tokenizer_->EncodeAtMost(text, max_ids);
}

std::string Engine::TokenText(int32_t id) const {
  return tokenizer_ != nullptr ? tokenizer_->TokenText(id) : absl::StrCat("<", id, ">");
}

absl::StatusOr<LogitRows> Engine::Logits(const std::vector<int32_t>& ids, bool last_only) const {
  if (ids.empty()) return absl::InvalidArgumentError("no token ids");
  LogitRows rows;
  RETURN_IF_ERROR(GuardTorch([&]() -> absl::Status {
    ForwardOptions options;
    options.last_position_logits_only = last_only;
    ASSIGN_OR_RETURN(ForwardOutput out, model_->Forward(IdsTensor(ids), torch::Tensor(), options));
    torch::Tensor logits =
        out.logits.reshape({-1, out.logits.size(-1)}).to(torch::kCPU).contiguous();
    rows.rows = logits.size(0);
    rows.vocab = logits.size(1);
    rows.values.assign(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());
    return absl::OkStatus();
  }));
  return rows;
}

absl::Status Engine::CheckMemory(const ValidatedRequest& request) const {
  const absl::Status whole =
      CheckMemoryEstimate(EstimateExplainMemory(config(), request), memory_limit_bytes_);
  if (whole.ok() || request.sequences.size() <= 1) return whole;
  for (size_t b = 0; b < request.sequences.size(); ++b) {
    const absl::Status alone = CheckMemoryEstimate(
        EstimateExplainMemory(config(), OneSequence(request, b)), memory_limit_bytes_);
    if (!alone.ok()) {
      return absl::Status(alone.code(), absl::StrCat("sequence ", b, ": ", alone.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status Engine::Explain(const ValidatedRequest& request, const ResultCallback& callback,
                             const Cancellation& cancel, const MethodProgress& progress) const {
  // The one check below Validate, for callers that build or merge the request themselves; the
  // families check nothing of it again.
  RETURN_IF_ERROR(CheckValidated(request, shape()));
  RETURN_IF_ERROR(CheckMemory(request));
  // A batch that fits only one sequence at a time runs its LaTIM pass so (same results).
  const bool one_by_one =
      request.sequences.size() > 1 &&
      !CheckMemoryEstimate(EstimateExplainMemory(config(), request), memory_limit_bytes_).ok();
  return GuardTorch([&]() -> absl::Status {
    const int64_t n = static_cast<int64_t>(request.sequences.size());
    if (!one_by_one) {
      RETURN_IF_ERROR(RunLatim(*model_, request, cancel, callback));
    } else {
      for (int64_t b = 0; b < n; ++b) {
        if (cancel.IsCancelled(b)) continue;
        RETURN_IF_ERROR(RunLatim(*model_, OneSequence(request, b), cancel.ForSequence(b),
                                 [&](AttributionResult r) {
                                   r.sequence = b;
                                   return callback(std::move(r));
                                 }));
      }
    }
    if (!HasBaselines(request)) return absl::OkStatus();
    const absl::Status gradients =
        RunGradientBaselines(*model_, request, cancel, callback, progress);
    if (!(absl::IsCancelled(gradients) && !cancel.CheckAny(n).ok())) RETURN_IF_ERROR(gradients);
    for (int64_t b = 0; b < n; ++b) {
      if (cancel.IsCancelled(b)) continue;
      const absl::Status status =
          RunHiddenAttention(*model_, request, b, cancel.ForSequence(b), callback);
      if (absl::IsCancelled(status) && cancel.IsCancelled(b)) continue;
      RETURN_IF_ERROR(status);
    }
    return cancel.CheckAny(n);
  });
}

absl::StatusOr<std::vector<AttributionResult>> Engine::Explain(
    const ValidatedRequest& request) const {
  std::vector<AttributionResult> results;
  RETURN_IF_ERROR(Explain(request, [&](AttributionResult r) {
    results.push_back(std::move(r));
    return true;
  }));
  return results;
}

DeviceMemory Engine::DeviceMemoryBytes() const {
  DeviceMemory m;
#ifdef ME_WITH_CUDA
  try {
    const torch::Device device = model_->device();
    if (device.is_cuda()) {
      const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(
          device.has_index() ? device.index() : c10::DeviceIndex{0});
      // Entry 0 of every stat array is the aggregate over pools (StatType::AGGREGATE).
      m.used = stats.allocated_bytes[0].current;
      m.reserved = stats.reserved_bytes[0].current;
    }
  } catch (const c10::Error&) {
  }
#endif
  return m;
}

}  // namespace mamba_explain
