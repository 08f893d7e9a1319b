#include "serving/engine_backend.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "mamba/engine.h"

namespace mamba_explain {

namespace {

// The LaTIM scores (docs/methods.md): one padded batch through Engine::ExplainBatch.
const std::vector<std::string>& LatimMethods() {
  static const auto* methods =
      new std::vector<std::string>{"latim-l1", "latim-l2", "latim-alti", "latim-alti-logit"};
  return *methods;
}

// The baselines: per sequence through Engine::Explain (the gradient methods batch rows, IG steps
// and SmoothGrad samples instead of sequences).
const std::vector<std::string>& BaselineMethods() {
  static const auto* methods = new std::vector<std::string>{
      "grad-x-input", "integrated-gradients", "smoothgrad", "mamba-lrp", "mamba-attention",
      "rollout",      "mamba-attribution"};
  return *methods;
}

bool IsLatim(const std::string& method) {
  const std::vector<std::string>& latim = LatimMethods();
  return std::find(latim.begin(), latim.end(), method) != latim.end();
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
    info_.methods.insert(info_.methods.end(), BaselineMethods().begin(), BaselineMethods().end());
    // Engine::Explain resolves a target token per row (targets.h) for exactly these.
    info_.output_methods = {"latim-alti-logit", "grad-x-input", "integrated-gradients",
                            "smoothgrad",       "mamba-lrp",    "mamba-attribution"};
    // latim-alti-logit is layer -1 too, but it computes every layer's ALTI rows: it stays
    // counted per layer by the budget.
    info_.whole_model_methods = {"grad-x-input", "integrated-gradients", "smoothgrad", "mamba-lrp",
                                 "rollout",      "mamba-attribution"};
    info_.gradient_methods = {"grad-x-input", "integrated-gradients", "smoothgrad", "mamba-lrp",
                              "mamba-attribution"};
  }

  const BackendInfo& info() const override { return info_; }
  absl::StatusOr<std::vector<int32_t>> Tokenize(const std::string& text) const override {
    return engine_->Tokenize(text);
  }
  std::string TokenText(int32_t id) const override { return engine_->TokenText(id); }

  absl::Status Warmup() override {
    // Every method family on a tiny input (LaTIM on a batch of two, padding included; each
    // baseline once, with one IG step and one SmoothGrad sample), so the first request pays no
    // start-up cost.
    std::vector<BatchSequence> batch(2);
    for (int32_t i = 0; i < 4; ++i) batch[0].ids.push_back(i % info_.vocab_size);
    batch[1].ids = {static_cast<int32_t>(5 % info_.vocab_size)};
    ExplainOptions options;
    options.methods = LatimMethods();
    options.rows = ExplainOptions::Rows::kLast;
    auto ignore = [](AttributionResult) { return true; };
    RETURN_IF_ERROR(engine_->ExplainBatch(batch, options, ignore));
    options.methods = BaselineMethods();
    options.ig_steps = 1;
    options.sg_samples = 1;
    return engine_->Explain(batch[0].ids, options, ignore);
  }

  absl::Status ExplainBatch(const BatchOptions& options, const std::vector<ExplainInput>& inputs,
                            BatchSink* sink) override {
    const int n = static_cast<int>(inputs.size());
    if (sink->AllCancelled(n)) return AllCancelled();
    ExplainOptions explain = ToExplainOptions(options);
    std::vector<std::string> baselines;
    explain.methods.clear();
    for (const std::string& m : options.methods) {
      (IsLatim(m) ? explain.methods : baselines).push_back(m);
    }
    // LaTIM first, as Engine::Explain runs it first: one padded batch.
    if (!explain.methods.empty()) {
      std::vector<BatchSequence> batch(inputs.size());
      for (size_t i = 0; i < inputs.size(); ++i) {
        batch[i].ids = inputs[i].ids;
        batch[i].rows.assign(inputs[i].target_rows.begin(), inputs[i].target_rows.end());
        batch[i].targets.assign(inputs[i].target_tokens.begin(), inputs[i].target_tokens.end());
      }
      // Streams each result as it arrives; the whole batch stops (between layers) once every
      // request is cancelled. Results of a request that alone was cancelled are dropped.
      absl::Status status = engine_->ExplainBatch(batch, explain, [&](AttributionResult r) {
        const int item = static_cast<int>(r.sequence);
        if (item >= 0 && item < n && !sink->IsCancelled(item)) Deliver(item, std::move(r), sink);
        return !sink->AllCancelled(n);
      });
      if (absl::IsCancelled(status) && sink->AllCancelled(n)) return AllCancelled();
      RETURN_IF_ERROR(status);
    }
    if (baselines.empty()) return absl::OkStatus();
    // The baselines, sequence by sequence with that request's rows and target tokens, so each
    // result is what Engine::Explain gives offline for the same sequence and flags. A cancelled
    // request is skipped, or stopped between results (its CANCELLED is not the batch's).
    explain.methods = baselines;
    explain.rows = ExplainOptions::Rows::kList;
    for (int item = 0; item < n; ++item) {
      if (sink->AllCancelled(n)) return AllCancelled();
      if (sink->IsCancelled(item)) continue;
      const ExplainInput& in = inputs[item];
      explain.row_list.assign(in.target_rows.begin(), in.target_rows.end());
      explain.target_tokens.assign(in.target_tokens.begin(), in.target_tokens.end());
      absl::Status status = engine_->Explain(in.ids, explain, [&](AttributionResult r) {
        if (sink->IsCancelled(item)) return false;
        Deliver(item, std::move(r), sink);
        return true;
      });
      if (absl::IsCancelled(status) && sink->IsCancelled(item)) continue;
      RETURN_IF_ERROR(status);
    }
    return absl::OkStatus();
  }

  DeviceMemoryStats DeviceMemory() const override {
    const mamba_explain::DeviceMemory m = engine_->DeviceMemoryBytes();
    return {m.used, m.reserved};
  }

 private:
  static absl::Status AllCancelled() {
    return absl::CancelledError("all requests of the batch cancelled");
  }

  // The batch's options as the engine spells them; unset parameters keep ExplainOptions'
  // defaults, which are the offline CLI's.
  ExplainOptions ToExplainOptions(const BatchOptions& options) const {
    ExplainOptions explain;
    explain.layers.assign(options.layers.begin(), options.layers.end());
    explain.activation = ActivationName(options.activation);
    const MethodParameters& p = options.params;
    const int64_t budget_mib =
        p.memory_budget_mib > 0 ? p.memory_budget_mib : options_.memory_budget_mib;
    explain.memory_budget_bytes = budget_mib << 20;
    if (p.ig_steps > 0) explain.ig_steps = p.ig_steps;
    if (!p.ig_rule.empty()) explain.ig_rule = p.ig_rule;
    if (p.smoothgrad_samples > 0) explain.sg_samples = p.smoothgrad_samples;
    if (p.smoothgrad_sigma.has_value()) explain.sg_sigma = *p.smoothgrad_sigma;
    if (!p.smoothgrad_input.empty()) explain.sg_input = p.smoothgrad_input;
    explain.seed = p.seed;
    if (!p.lrp_rules.empty()) explain.lrp_rules = p.lrp_rules;
    if (!p.attention_norm.empty()) explain.attention_norm = p.attention_norm;
    explain.start_layer = p.start_layer;
    return explain;
  }

  // Per-target results (explained logits: the gradient methods, mamba-lrp, mamba-attribution)
  // go out as token scores, as offline mode writes them; the rest as matrices.
  static void Deliver(int item, AttributionResult r, BatchSink* sink) {
    if (!r.explained_logits.empty()) {
      TokenScoreRows s;
      s.method = std::move(r.method);
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
    sink->OnLayer(item, ToLayerMatrix(std::move(r)));
  }

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
