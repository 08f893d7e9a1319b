#include "mamba/engine.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "mamba/mamba_model.h"

namespace mamba_explain {
namespace {

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

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

}  // namespace mamba_explain
