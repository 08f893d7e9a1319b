#include "serving/engine_backend.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "explain/engine.h"

namespace mamba_explain {

namespace {

class EngineBackend : public ExplainBackend {
 public:
  EngineBackend(std::unique_ptr<Engine> engine, const EngineBackendOptions& options)
      : engine_(std::move(engine)) {
    const ModelConfig& config = engine_->config();
    const ModelShape shape = engine_->shape();
    info_.backend = "engine";
    info_.architecture = ArchitectureName(config.arch);
    info_.n_layers = static_cast<int32_t>(config.n_layers);
    info_.d_model = static_cast<int32_t>(config.d_model);
    info_.vocab_size = static_cast<int32_t>(config.vocab_size);
    info_.has_tokenizer = engine_->has_tokenizer();
    info_.device = options.device;
    info_.precision = shape.precision;
    info_.methods = shape.methods;
    info_.memory_budget_mib = options.memory_budget_mib;
  }

  const BackendInfo& info() const override { return info_; }
  absl::StatusOr<std::vector<int32_t>> Tokenize(const std::string& text) const override {
    return engine_->Tokenize(text);
  }
  absl::StatusOr<EncodedPrefix> TokenizeAtMost(const std::string& text,
                                               size_t max_ids) const override {
    return engine_->TokenizeAtMost(text, max_ids);
  }
  std::string TokenText(int32_t id) const override { return engine_->TokenText(id); }

  absl::Status Warmup() override {
    // Every method on a tiny input (LaTIM on a batch of two, padding included; the baselines
    // with one IG step and one SmoothGrad sample), so the first request pays no start-up cost.
    std::vector<int32_t> first, second = {static_cast<int32_t>(5 % info_.vocab_size)};
    for (int32_t i = 0; i < 4; ++i) first.push_back(i % info_.vocab_size);
    ExplainRequest request;
    request.rows.kind = RowSelection::Kind::kLast;
    request.params.ig_steps = 1;
    request.params.smoothgrad_samples = 1;
    request.methods = MethodsOf(MethodFamily::kLatim);
    auto ignore = [](AttributionResult) { return true; };
    ASSIGN_OR_RETURN(ValidatedRequest latim, Validate(request, {first, second}, engine_->shape()));
    RETURN_IF_ERROR(engine_->Explain(latim, ignore));
    request.methods.clear();
    for (Method m : info_.methods) {
      if (GetMethodInfo(m).family != MethodFamily::kLatim) request.methods.push_back(m);
    }
    ASSIGN_OR_RETURN(ValidatedRequest baselines, Validate(request, {first}, engine_->shape()));
    return engine_->Explain(baselines, ignore);
  }

  absl::Status CheckMemory(const BatchOptions& options, const ExplainInput& input) const override {
    return engine_->CheckMemory(ToRequest(options, {input}));
  }

  absl::Status ExplainBatch(const BatchOptions& options, const std::vector<ExplainInput>& inputs,
                            BatchSink* sink) override {
    const int n = static_cast<int>(inputs.size());
    if (sink->AllCancelled(n)) return AllCancelled();
    const ValidatedRequest request = ToRequest(options, inputs);
    // Streams each result as it arrives; results of a cancelled request are dropped and its
    // baselines skipped; the whole batch stops (between results) once every request is cancelled.
    const absl::Status status = engine_->Explain(
        request,
        [&](AttributionResult r) {
          const int item = static_cast<int>(r.sequence);
          if (item >= 0 && item < n && !sink->IsCancelled(item)) Deliver(item, std::move(r), sink);
          return !sink->AllCancelled(n);
        },
        Cancellation([&](int64_t item) { return sink->IsCancelled(static_cast<int>(item)); }));
    if (absl::IsCancelled(status) && sink->AllCancelled(n)) return AllCancelled();
    return status;
  }

  DeviceMemoryStats DeviceMemory() const override {
    const mamba_explain::DeviceMemory m = engine_->DeviceMemoryBytes();
    return {m.used, m.reserved};
  }

 private:
  // Each request was validated against this model (request_validation.h) and the batch shares
  // its options, so the batch is a validated request as it stands.
  static ValidatedRequest ToRequest(const BatchOptions& options,
                                    const std::vector<ExplainInput>& inputs) {
    ValidatedRequest request;
    request.methods = options.methods;
    request.layers.assign(options.layers.begin(), options.layers.end());
    request.activation = options.activation;
    request.precision = options.precision;
    request.memory_budget_bytes = options.memory_budget_bytes;
    request.params = options.params;
    for (const ExplainInput& in : inputs) {
      ValidatedSequence seq;
      seq.ids = in.ids;
      seq.rows.assign(in.target_rows.begin(), in.target_rows.end());
      seq.targets.assign(in.target_tokens.begin(), in.target_tokens.end());
      request.sequences.push_back(std::move(seq));
    }
    return request;
  }

  static absl::Status AllCancelled() {
    return absl::CancelledError("all requests of the batch cancelled");
  }

  // Token-score results (the catalogue's ResultKind) go out as TokenScores, as offline mode writes
  // them; the rest as matrices.
  static void Deliver(int item, AttributionResult r, BatchSink* sink) {
    if (r.kind == ResultKind::kTokenScores) {
      TokenScoreRows s;
      s.method = MethodName(r.method);
      s.layer = r.layer;
      s.rows.assign(r.rows.begin(), r.rows.end());
      s.target_tokens.assign(r.targets.begin(), r.targets.end());
      s.cols = r.columns;
      s.scores = std::move(r.matrix);
      s.explained_logits = std::move(r.explained_logits);
      s.approx_error = static_cast<float>(r.approx_error);
      sink->OnTokenScores(item, std::move(s));
      return;
    }
    LayerMatrix m;
    m.method = MethodName(r.method);
    m.layer = r.layer;
    m.rows.assign(r.rows.begin(), r.rows.end());
    m.cols = r.columns;
    m.values = std::move(r.matrix);
    m.approx_error = static_cast<float>(r.approx_error);
    m.target_tokens.assign(r.targets.begin(), r.targets.end());
    sink->OnLayer(item, std::move(m));
  }

  std::unique_ptr<Engine> engine_;
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
  ASSIGN_OR_RETURN(engine_options.precision, ParsePrecision(options.precision));
  engine_options.memory_limit_bytes = options.memory_limit_mib << 20;
  ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Load(model_dir, engine_options));
  return std::unique_ptr<ExplainBackend>(new EngineBackend(std::move(engine), options));
}

}  // namespace mamba_explain
