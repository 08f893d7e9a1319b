#include "serving/synthetic_backend.h"

#include <cmath>
#include <filesystem>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "model/config.h"

namespace mamba_explain {

absl::StatusOr<std::unique_ptr<ExplainBackend>> SyntheticBackend::Create(
    const std::string& model_dir, const SyntheticBackendOptions& options) {
  ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(model_dir + "/config.json"));
  std::unique_ptr<SyntheticBackend> backend(new SyntheticBackend());
  backend->options_ = options;
  BackendInfo& info = backend->info_;
  info.backend = "synthetic";
  info.architecture = ArchitectureName(config.arch);
  info.n_layers = static_cast<int32_t>(config.n_layers);
  info.d_model = static_cast<int32_t>(config.d_model);
  info.vocab_size = static_cast<int32_t>(config.vocab_size);
  info.methods = MethodsOf(MethodFamily::kSynthetic);
  const std::string tokenizer_path = model_dir + "/tokenizer.json";
  if (std::filesystem::exists(tokenizer_path)) {
    ASSIGN_OR_RETURN(backend->tokenizer_, Tokenizer::FromFile(tokenizer_path));
    info.has_tokenizer = true;
  }
  return std::unique_ptr<ExplainBackend>(std::move(backend));
}

float SyntheticBackend::Value(const std::string& method, int32_t layer,
                              const std::vector<int32_t>& ids, int32_t i, int32_t j) {
  if (j > i) return 0.f;
  const double phase = static_cast<double>(std::hash<std::string>{}(method) % 1000) * 0.001;
  return static_cast<float>(std::cos(0.1 * ids[i] + 0.37 * ids[j] + 0.5 * layer + phase + j) /
                            (1.0 + i - j));
}

absl::StatusOr<std::vector<int32_t>> SyntheticBackend::Tokenize(const std::string& text) const {
  if (!tokenizer_) return absl::FailedPreconditionError("model has no tokenizer.json");
  return tokenizer_->Encode(text);
}

absl::StatusOr<EncodedPrefix> SyntheticBackend::TokenizeAtMost(const std::string& text,
                                                               size_t max_ids) const {
  if (!tokenizer_) return absl::FailedPreconditionError("model has no tokenizer.json");
  return tokenizer_->EncodeAtMost(text, max_ids);
}

std::string SyntheticBackend::TokenText(int32_t id) const {
  return tokenizer_ ? tokenizer_->TokenText(id) : absl::StrCat("<", id, ">");
}

absl::Status SyntheticBackend::ExplainBatch(const std::vector<BatchItem>& items, BatchSink* sink) {
  const int n = static_cast<int>(items.size());
  if (n == 0) return absl::OkStatus();
  const BatchOptions& options = items.front().options;
  for (int32_t layer : options.layers) {
    if (sink->AllCancelled(n)) return absl::CancelledError("all requests of the batch cancelled");
    if (options_.layer_delay_ms > 0) absl::SleepFor(absl::Milliseconds(options_.layer_delay_ms));
    for (Method id : options.methods) {
      const std::string method = MethodName(id);
      for (int item = 0; item < n; ++item) {
        if (sink->IsCancelled(item)) continue;
        const ExplainInput& in = items[item].input;
        const int64_t cols = static_cast<int64_t>(in.ids.size());
        if (GetMethodInfo(id).result_kind == ResultKind::kTokenScores) {
          TokenScoreRows s;
          s.method = method;
          s.layer = layer;
          s.rows = in.target_rows;
          s.cols = cols;
          for (size_t r = 0; r < in.target_rows.size(); ++r) {
            s.target_tokens.push_back(in.target_tokens.empty() ? in.ids[in.target_rows[r]]
                                                               : in.target_tokens[r]);
            for (int64_t j = 0; j < cols; ++j) {
              s.scores.push_back(Value(method, layer + s.target_tokens.back(), in.ids,
                                       in.target_rows[r], static_cast<int32_t>(j)));
            }
          }
          sink->OnTokenScores(item, std::move(s));
          continue;
        }
        LayerMatrix m;
        m.method = method;
        m.layer = layer;
        m.rows = in.target_rows;
        m.cols = cols;
        m.values.reserve(m.rows.size() * cols);
        for (int32_t i : in.target_rows) {
          for (int64_t j = 0; j < cols; ++j) {
            m.values.push_back(Value(method, layer, in.ids, i, static_cast<int32_t>(j)));
          }
        }
        m.approx_error = 0.f;
        sink->OnLayer(item, std::move(m));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace mamba_explain
