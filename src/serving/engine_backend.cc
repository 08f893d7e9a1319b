#include "serving/engine_backend.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "explain/engine.h"
#include "serving/batch_plan.h"

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
    return engine_->CheckMemory(ToRequest(options, {&input}));
  }

  // One engine call per family call of the plan (batch_plan.h), over the items that asked for
  // it and are still wanted; each call is what the engine runs for a batch of equal requests, so
  // an item's results are the ones it gets alone. A call that fails (out of memory, say) fails
  // its items alone; the batch's other calls go on.
  absl::Status ExplainBatch(const std::vector<BatchItem>& items, BatchSink* sink) override {
    const int n = static_cast<int>(items.size());
    const std::vector<FamilyCall> calls = PlanFamilyCalls(items);
    // An item is done after its last call: the batcher may finish it then (OnDone) instead of
    // after the whole batch. Items of the batch's last call finish with the batch (after its
    // metrics are recorded).
    std::vector<size_t> last_call(n, 0);
    for (size_t c = 0; c < calls.size(); ++c) {
      for (int item : calls[c].items) last_call[item] = c;
    }
    std::vector<bool> failed(n, false), done(n, false);
    for (size_t c = 0; c < calls.size(); ++c) {
      const FamilyCall& call = calls[c];
      if (sink->AllCancelled(n)) return AllCancelled();
      RunCall(call, items, sink, &failed);
      for (int item : call.items) {
        if (last_call[item] == c && !failed[item] && !sink->IsCancelled(item)) {
          done[item] = true;
          if (c + 1 < calls.size()) sink->OnDone(item);
        }
      }
    }
    // Every item is now done, failed or cancelled: CANCELLED when all were cancelled.
    for (int item = 0; item < n; ++item) {
      if (done[item] || failed[item]) return absl::OkStatus();
    }
    return AllCancelled();
  }

  DeviceMemoryStats DeviceMemory() const override {
    const mamba_explain::DeviceMemory m = engine_->DeviceMemoryBytes();
    return {m.used, m.reserved};
  }

 private:
  // One family call over its items that are still wanted; a failure fails those items alone
  // (OnFailed, marked in *failed).
  void RunCall(const FamilyCall& call, const std::vector<BatchItem>& items, BatchSink* sink,
               std::vector<bool>* failed) {
    std::vector<int> live;  // call sequence -> batch item
    for (int item : call.items) {
      if (!(*failed)[item] && !sink->IsCancelled(item)) live.push_back(item);
    }
    if (live.empty()) return;
    std::vector<const ExplainInput*> inputs;
    for (int item : live) inputs.push_back(&items[item].input);
    const ValidatedRequest request = ToRequest(call.options, inputs);
    auto all_cancelled = [&] {
      for (int item : live) {
        if (!sink->IsCancelled(item)) return false;
      }
      return true;
    };
    // Streams each result as it arrives; results of a cancelled item are dropped and its
    // remaining work skipped; the call stops (between results) once all its items are.
    const absl::Status status = engine_->Explain(
        request,
        [&](AttributionResult r) {
          const int64_t seq = r.sequence;
          if (seq >= 0 && seq < static_cast<int64_t>(live.size()) &&
              !sink->IsCancelled(live[seq])) {
            Deliver(live[seq], std::move(r), sink);
          }
          return !all_cancelled();
        },
        Cancellation([&](int64_t seq) {
          return seq < 0 || seq >= static_cast<int64_t>(live.size()) ||
                 sink->IsCancelled(live[seq]);
        }),
        [&](Method method, int64_t done, int64_t total) {
          for (int item : live) {
            if (!sink->IsCancelled(item)) sink->OnProgress(item, method, done, total);
          }
        });
    if (status.ok() || (absl::IsCancelled(status) && all_cancelled())) return;
    for (int item : live) {
      (*failed)[item] = true;
      sink->OnFailed(item, status);
    }
  }

  // Each request was validated against this model (request_validation.h) and a family call's
  // requests share what changes its results (batch_plan.h), so a call is a validated request as
  // it stands.
  static ValidatedRequest ToRequest(const BatchOptions& options,
                                    const std::vector<const ExplainInput*>& inputs) {
    ValidatedRequest request;
    request.methods = options.methods;
    request.layers.assign(options.layers.begin(), options.layers.end());
    request.activation = options.activation;
    request.precision = options.precision;
    request.memory_budget_bytes = options.memory_budget_bytes;
    request.params = options.params;
    for (const ExplainInput* in : inputs) {
      ValidatedSequence seq;
      seq.ids = in->ids;
      seq.rows.assign(in->target_rows.begin(), in->target_rows.end());
      seq.targets.assign(in->target_tokens.begin(), in->target_tokens.end());
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
