#include "mamba/engine.h"

#include <sys/stat.h>

#include <algorithm>
#include <new>

#include "absl/strings/str_cat.h"
#include "attribution/gradient_methods.h"
#include "attribution/latim.h"
#include "attribution/mamba_attention.h"
#include "attribution/mamba_lrp.h"
#include "common/status_macros.h"
#include "mamba/mamba_model.h"

#ifdef ME_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace mamba_explain {
namespace {

bool IsOutOfMemory(const std::string& message) {
  return message.find("out of memory") != std::string::npos ||
         message.find("can't allocate memory") != std::string::npos ||
         message.find("not enough memory") != std::string::npos;
}

absl::Status OutOfMemory(const std::string& what) {
#ifdef ME_WITH_CUDA
  try {
    c10::cuda::CUDACachingAllocator::emptyCache();  // give the next batch a clean pool
  } catch (...) {
  }
#endif
  return absl::ResourceExhaustedError(absl::StrCat("out of memory: ", what));
}

// Runs one explanation body: LibTorch exceptions become statuses, and device out-of-memory —
// thrown here, or already turned into an INTERNAL status by a method family — becomes
// RESOURCE_EXHAUSTED (cache emptied), so every Explain entry point reports it the same way.
template <typename Body>
absl::Status GuardExplain(Body&& body) {
  absl::Status status;
  try {
    status = body();
  } catch (const c10::Error& e) {
    const std::string message = e.what_without_backtrace();
    if (IsOutOfMemory(message)) return OutOfMemory(message);
    return absl::InternalError(absl::StrCat("explain: ", message));
  } catch (const std::bad_alloc&) {
    return OutOfMemory("host allocation failed");
  }
  return MapOutOfMemory(status);
}

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

absl::Status MapOutOfMemory(const absl::Status& status) {
  if (status.ok() || absl::IsResourceExhausted(status)) return status;
  const std::string message(status.message());
  return IsOutOfMemory(message) ? OutOfMemory(message) : status;
}

Engine::~Engine() = default;

absl::StatusOr<std::unique_ptr<Engine>> Engine::Load(const std::string& model_dir,
                                                     const EngineOptions& options) {
  LoadOptions load;
  ASSIGN_OR_RETURN(load.device, ParseDevice(options.device));
  if (options.precision == "fp32") {
    load.precision = Precision::kFp32;
  } else if (options.precision == "bf16") {
    load.precision = Precision::kBf16;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown precision '", options.precision, "' (fp32, bf16)"));
  }
  std::unique_ptr<Engine> engine(new Engine());
  ASSIGN_OR_RETURN(engine->model_, MambaModel::Load(model_dir, load));
  std::string tokenizer_path = options.tokenizer_path;
  if (tokenizer_path.empty() && FileExists(model_dir + "/tokenizer.json")) {
    tokenizer_path = model_dir + "/tokenizer.json";
  }
  if (!tokenizer_path.empty()) {
    ASSIGN_OR_RETURN(engine->tokenizer_, Tokenizer::FromFile(tokenizer_path));
  }
  return engine;
}

const ModelConfig& Engine::config() const { return model_->config(); }

absl::StatusOr<std::vector<int32_t>> Engine::Tokenize(const std::string& text) const {
  if (tokenizer_ == nullptr) {
    return absl::FailedPreconditionError(
        "the model directory has no tokenizer.json; pass token ids or a tokenizer file");
  }
  return tokenizer_->Encode(text);
}

std::string Engine::TokenText(int32_t id) const {
  return tokenizer_ != nullptr ? tokenizer_->TokenText(id) : absl::StrCat("<", id, ">");
}

absl::StatusOr<LogitRows> Engine::Logits(const std::vector<int32_t>& ids, bool last_only) const {
  if (ids.empty()) return absl::InvalidArgumentError("no token ids");
  try {
    torch::Tensor t = torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()),
                                    torch::TensorOptions().dtype(torch::kInt64))
                          .view({1, static_cast<int64_t>(ids.size())});
    ForwardOptions options;
    options.last_position_logits_only = last_only;
    ASSIGN_OR_RETURN(ForwardOutput out, model_->Forward(t, torch::Tensor(), options));
    torch::Tensor logits =
        out.logits.reshape({-1, out.logits.size(-1)}).to(torch::kCPU).contiguous();
    LogitRows rows;
    rows.rows = logits.size(0);
    rows.vocab = logits.size(1);
    rows.values.assign(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());
    return rows;
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("logits: ", e.what_without_backtrace()));
  }
}

absl::Status Engine::Explain(const std::vector<int32_t>& ids, const ExplainOptions& options,
                             const ResultCallback& callback) const {
  if (ids.empty()) return absl::InvalidArgumentError("no token ids");
  // Split the method names by family; the first unknown name is an error.
  LatimOptions latim;
  latim.scores.clear();
  GradientMethodOptions gradients;
  gradients.methods.clear();
  MambaAttentionOptions attention;
  attention.methods.clear();
  bool lrp = false;
  for (const std::string& m : options.methods) {
    if (m == "mamba-lrp") {
      lrp = true;
    } else if (auto s = ParseLatimScore(m); s.ok()) {
      if (std::find(latim.scores.begin(), latim.scores.end(), *s) == latim.scores.end()) {
        latim.scores.push_back(*s);
      }
    } else if (auto g = ParseGradientMethod(m); g.ok()) {
      if (std::find(gradients.methods.begin(), gradients.methods.end(), *g) ==
          gradients.methods.end()) {
        gradients.methods.push_back(*g);
      }
    } else if (auto h = ParseHiddenAttentionMethod(m); h.ok()) {
      if (std::find(attention.methods.begin(), attention.methods.end(), *h) ==
          attention.methods.end()) {
        attention.methods.push_back(*h);
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown method '", m,
                       "' (latim-l1, latim-l2, latim-alti, latim-alti-logit, grad-x-input, "
                       "integrated-gradients, smoothgrad, mamba-lrp, mamba-attention, rollout, "
                       "mamba-attribution)"));
    }
  }
  if (options.methods.empty()) return absl::InvalidArgumentError("no method requested");
  RowSelection rows;
  switch (options.rows) {
    case ExplainOptions::Rows::kAll:
      rows.kind = RowSelection::Kind::kAll;
      break;
    case ExplainOptions::Rows::kLast:
      rows.kind = RowSelection::Kind::kLast;
      break;
    case ExplainOptions::Rows::kList:
      rows.kind = RowSelection::Kind::kList;
      rows.rows = options.row_list;
      break;
  }
  rows.tokens = options.target_tokens;
  std::optional<int64_t> target;
  if (options.target_token >= 0) target = options.target_token;
  latim.layers = options.layers;
  latim.rows = rows;
  ASSIGN_OR_RETURN(latim.activation, ParseAdditiveActivation(options.activation));
  latim.target_token = target;
  if (!options.target_tokens.empty()) latim.sequence_targets = {options.target_tokens};
  latim.memory_budget_bytes = options.memory_budget_bytes;
  gradients.rows = rows;
  gradients.target_token = target;
  gradients.ig_steps = options.ig_steps;
  ASSIGN_OR_RETURN(gradients.ig_quadrature, ParseIgQuadrature(options.ig_rule));
  gradients.smoothgrad_samples = options.sg_samples;
  gradients.smoothgrad_sigma = options.sg_sigma;
  if (options.sg_input == "noisy" || options.sg_input == "clean") {
    gradients.smoothgrad_input =
        options.sg_input == "noisy" ? SmoothGradInput::kNoisy : SmoothGradInput::kClean;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown smoothgrad input '", options.sg_input, "' (noisy, clean)"));
  }
  gradients.seed = options.seed;
  MambaLrpOptions lrp_options;
  ASSIGN_OR_RETURN(lrp_options.rules, ParseLrpRules(options.lrp_rules));
  lrp_options.rows = rows;
  lrp_options.target_token = target;
  attention.layers = options.layers;
  attention.rows = rows;
  ASSIGN_OR_RETURN(attention.attention_norm, ParseAttentionNorm(options.attention_norm));
  attention.start_layer = options.start_layer;
  attention.target_token = target;
  attention.memory_budget_bytes = options.memory_budget_bytes;
  return GuardExplain([&]() -> absl::Status {
    torch::Tensor t = torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()),
                                    torch::TensorOptions().dtype(torch::kInt64))
                          .view({1, static_cast<int64_t>(ids.size())});
    if (!latim.scores.empty()) {
      RETURN_IF_ERROR(ExplainLatim(*model_, t, torch::Tensor(), latim, callback));
    }
    if (!gradients.methods.empty()) {
      RETURN_IF_ERROR(ExplainGradients(*model_, t, torch::Tensor(), gradients, callback));
    }
    if (lrp) RETURN_IF_ERROR(ExplainMambaLrp(*model_, t, torch::Tensor(), lrp_options, callback));
    if (!attention.methods.empty()) {
      RETURN_IF_ERROR(ExplainHiddenAttention(*model_, t, torch::Tensor(), attention, callback));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<AttributionResult>> Engine::Explain(
    const std::vector<int32_t>& ids, const ExplainOptions& options) const {
  std::vector<AttributionResult> results;
  RETURN_IF_ERROR(Explain(ids, options, [&](AttributionResult r) {
    results.push_back(std::move(r));
    return true;
  }));
  return results;
}

absl::Status Engine::ExplainBatch(const std::vector<BatchSequence>& sequences,
                                  const ExplainOptions& options,
                                  const ResultCallback& callback) const {
  if (sequences.empty()) return absl::InvalidArgumentError("no sequences");
  LatimOptions latim;
  latim.scores.clear();
  for (const std::string& m : options.methods) {
    ASSIGN_OR_RETURN(LatimScore s, ParseLatimScore(m));
    if (std::find(latim.scores.begin(), latim.scores.end(), s) == latim.scores.end()) {
      latim.scores.push_back(s);
    }
  }
  latim.layers = options.layers;
  switch (options.rows) {
    case ExplainOptions::Rows::kAll:
      latim.rows.kind = RowSelection::Kind::kAll;
      break;
    case ExplainOptions::Rows::kLast:
      latim.rows.kind = RowSelection::Kind::kLast;
      break;
    case ExplainOptions::Rows::kList:
      latim.rows.kind = RowSelection::Kind::kList;
      latim.rows.rows = options.row_list;
      break;
  }
  ASSIGN_OR_RETURN(latim.activation, ParseAdditiveActivation(options.activation));
  if (options.target_token >= 0) latim.target_token = options.target_token;
  latim.memory_budget_bytes = options.memory_budget_bytes;

  const int64_t batch = static_cast<int64_t>(sequences.size());
  int64_t longest = 0;
  bool any_rows = false, any_targets = false;
  for (const BatchSequence& s : sequences) {
    if (s.ids.empty()) return absl::InvalidArgumentError("a sequence of the batch has no ids");
    longest = std::max<int64_t>(longest, static_cast<int64_t>(s.ids.size()));
    any_rows |= !s.rows.empty();
    any_targets |= !s.targets.empty();
  }
  // Per-sequence rows: sequences without their own rows resolve options.rows here.
  if (any_rows) {
    for (const BatchSequence& s : sequences) {
      const int64_t n = static_cast<int64_t>(s.ids.size());
      std::vector<int64_t> rows = s.rows;
      if (rows.empty()) {
        if (options.rows == ExplainOptions::Rows::kAll) {
          for (int64_t t = 0; t < n; ++t) rows.push_back(t);
        } else if (options.rows == ExplainOptions::Rows::kLast) {
          rows.push_back(n - 1);
        } else {
          rows = options.row_list;
          std::sort(rows.begin(), rows.end());
          rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
        }
      }
      latim.sequence_rows.push_back(std::move(rows));
    }
  }
  if (any_targets) {
    for (const BatchSequence& s : sequences) latim.sequence_targets.push_back(s.targets);
  }
  std::vector<int64_t> flat(static_cast<size_t>(batch * longest), 0);  // pad id 0 (valid)
  std::vector<int64_t> lengths;
  for (int64_t b = 0; b < batch; ++b) {
    const std::vector<int32_t>& ids = sequences[b].ids;
    std::copy(ids.begin(), ids.end(), flat.begin() + b * longest);
    lengths.push_back(static_cast<int64_t>(ids.size()));
  }
  return GuardExplain([&]() -> absl::Status {
    torch::Tensor t =
        torch::tensor(flat, torch::TensorOptions().dtype(torch::kInt64)).view({batch, longest});
    torch::Tensor l = torch::tensor(lengths, torch::TensorOptions().dtype(torch::kInt64));
    return ExplainLatim(*model_, t, l, latim, callback);
  });
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
