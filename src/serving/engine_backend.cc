#include "serving/engine_backend.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "mamba/engine.h"

namespace mamba_explain {
namespace {

class EngineBackend : public ExplainBackend {
 public:
  EngineBackend(std::unique_ptr<Engine> engine, const EngineBackendOptions& options)
      : engine_(std::move(engine)) {
    const ModelConfig& config = engine_->config();
    info_.backend = "engine";
    info_.architecture = ArchitectureName(config.arch);
    info_.n_layers = static_cast<int32_t>(config.n_layers);
    info_.d_model = static_cast<int32_t>(config.d_model);
    info_.vocab_size = static_cast<int32_t>(config.vocab_size);
    info_.has_tokenizer = engine_->has_tokenizer();
    info_.device = options.device;
    info_.precision = options.precision == "bf16" ? Precision::kBf16 : Precision::kFp32;
  }

  const BackendInfo& info() const override { return info_; }
  absl::StatusOr<std::vector<int32_t>> Tokenize(const std::string& text) const override {
    return engine_->Tokenize(text);
  }
  std::string TokenText(int32_t id) const override { return engine_->TokenText(id); }

  absl::Status Warmup() override {
    std::vector<int32_t> ids = {0, 1, 2, 3};
    for (int32_t& id : ids) id %= info_.vocab_size;
    return engine_->Logits(ids, /*last_only=*/true).status();
  }

  absl::Status ExplainBatch(const BatchOptions& options, const std::vector<ExplainInput>& inputs,
                            BatchSink* sink) override {
    return absl::UnimplementedError(
        "the LaTIM methods (src/attribution) are not built into this server yet");
  }

 private:
  std::unique_ptr<Engine> engine_;
  BackendInfo info_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ExplainBackend>> CreateEngineBackend(
    const std::string& model_dir, const EngineBackendOptions& options) {
  EngineOptions engine_options;
  engine_options.device = options.device;
  engine_options.precision = options.precision;
  ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Load(model_dir, engine_options));
  return std::unique_ptr<ExplainBackend>(new EngineBackend(std::move(engine), options));
}

}  // namespace mamba_explain
