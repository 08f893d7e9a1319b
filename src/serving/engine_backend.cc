#include "serving/engine_backend.h"

#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "mamba/engine.h"

namespace mamba_explain {

absl::Status MapOutOfMemory(const absl::Status& status) {
  if (status.ok() || absl::IsResourceExhausted(status)) return status;
  const absl::string_view m = status.message();
  if (absl::StrContains(m, "out of memory") || absl::StrContains(m, "can't allocate memory") ||
      absl::StrContains(m, "not enough memory")) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the device ran out of memory for this batch: ", m));
  }
  return status;
}

namespace {

// The LaTIM scores (docs/methods.md); latim-alti-logit explains a token's logit, so it is the one
// output-dependent method (layer -1, one matrix for the whole model).
const std::vector<std::string>& LatimMethods() {
  static const auto* methods = new std::vector<std::string>{"latim-l1", "latim-l2", "latim-alti",
                                                            "latim-alti-logit"};
  return *methods;
}

class EngineBackend : public ExplainBackend {
 public:
  EngineBackend(std::unique_ptr<Engine> engine, const EngineBackendOptions& options)
      : engine_(std::move(engine)), options_(options) {
    const ModelConfig& config = engine_->config();
    info_.backend = "engine";
    info_.architecture = ArchitectureName(config.arch);
    info_.n_layers = static_cast<int32_t>(config.n_layers);
    info_.d_model = static_cast<int32_t>(config.d_model);
    info_.vocab_size = static_cast<int32_t>(config.vocab_size);
    info_.has_tokenizer = engine_->has_tokenizer();
    info_.device = options.device;
    info_.precision = options.precision == "bf16" ? Precision::kBf16 : Precision::kFp32;
    info_.methods = LatimMethods();
    info_.output_methods = {"latim-alti-logit"};
  }

  const BackendInfo& info() const override { return info_; }
  absl::StatusOr<std::vector<int32_t>> Tokenize(const std::string& text) const override {
    return engine_->Tokenize(text);
  }
  std::string TokenText(int32_t id) const override { return engine_->TokenText(id); }

  absl::Status Warmup() override {
    // Every method on a tiny batch of two (padding included), so the first request pays no
    // start-up cost.
    std::vector<BatchSequence> batch(2);
    for (int32_t i = 0; i < 4; ++i) batch[0].ids.push_back(i % info_.vocab_size);
    batch[1].ids = {static_cast<int32_t>(5 % info_.vocab_size)};
    ExplainOptions options;
    options.methods = LatimMethods();
    options.rows = ExplainOptions::Rows::kLast;
    return engine_->ExplainBatch(batch, options, [](AttributionResult) { return true; });
  }

  absl::Status ExplainBatch(const BatchOptions& options, const std::vector<ExplainInput>& inputs,
                            BatchSink* sink) override {
    const int n = static_cast<int>(inputs.size());
    if (sink->AllCancelled(n)) return absl::CancelledError("all requests of the batch cancelled");
    ExplainOptions explain;
    explain.methods = options.methods;
    explain.layers.assign(options.layers.begin(), options.layers.end());
    explain.activation = ActivationName(options.activation);
    const int64_t budget_mib = options.params.memory_budget_mib > 0
                                   ? options.params.memory_budget_mib
                                   : options_.memory_budget_mib;
    explain.memory_budget_bytes = budget_mib << 20;
    std::vector<BatchSequence> batch(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      batch[i].ids = inputs[i].ids;
      batch[i].rows.assign(inputs[i].target_rows.begin(), inputs[i].target_rows.end());
      batch[i].targets.assign(inputs[i].target_tokens.begin(), inputs[i].target_tokens.end());
    }
    // Streams each result as it arrives; the whole batch stops (between layers) once every
    // request is cancelled. Results of a request that alone was cancelled are dropped.
    absl::Status status =
        engine_->ExplainBatch(batch, explain, [&](AttributionResult r) {
          const int item = static_cast<int>(r.sequence);
          if (item >= 0 && item < n && !sink->IsCancelled(item)) {
            sink->OnLayer(item, ToLayerMatrix(std::move(r)));
          }
          return !sink->AllCancelled(n);
        });
    if (absl::IsCancelled(status) && sink->AllCancelled(n)) {
      return absl::CancelledError("all requests of the batch cancelled");
    }
    return MapOutOfMemory(status);
  }

  DeviceMemoryStats DeviceMemory() const override {
    const mamba_explain::DeviceMemory m = engine_->DeviceMemoryBytes();
    return {m.used, m.reserved};
  }

 private:
  static LayerMatrix ToLayerMatrix(AttributionResult r) {
    LayerMatrix m;
    m.method = std::move(r.method);
    m.layer = r.layer;
    m.rows.assign(r.rows.begin(), r.rows.end());
    m.cols = r.columns;
    m.values = std::move(r.matrix);
    m.approx_error = static_cast<float>(r.approx_error);
    m.target_tokens.assign(r.targets.begin(), r.targets.end());
    return m;
  }

  std::unique_ptr<Engine> engine_;
  const EngineBackendOptions options_;
  BackendInfo info_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ExplainBackend>> CreateEngineBackend(
    const std::string& model_dir, const EngineBackendOptions& options) {
  if (options.memory_budget_mib < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory budget ", options.memory_budget_mib, " MiB must be >= 1"));
  }
  EngineOptions engine_options;
  engine_options.device = options.device;
  engine_options.precision = options.precision;
  ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Load(model_dir, engine_options));
  return std::unique_ptr<ExplainBackend>(new EngineBackend(std::move(engine), options));
}

}  // namespace mamba_explain
