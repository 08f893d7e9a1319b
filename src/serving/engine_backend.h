// EngineBackend: ExplainBackend over the LibTorch Engine (src/explain/engine.h). This header is
// LibTorch-free; the .cc talks to the engine only through engine.h. Serves every engine method of
// the catalogue. A batch mixes requests with any methods and parameters: it runs as one engine
// call per family call of batch_plan.h (LaTIM as one padded decomposition pass over the requests
// that asked for the same LaTIM scores, layers, f and precision; each gradient method as one
// packed run over the requests with its parameters; MambaLRP likewise; the hidden-attention
// methods per sequence), and each request gets the results it gets alone. Results stream to the
// sink as they finish (ResultKind::kTokenScores as token scores, the rest as matrices); a
// cancelled request's results are dropped and its remaining calls skipped; the batch stops once
// every request is cancelled; a call that fails (device out-of-memory -> RESOURCE_EXHAUSTED)
// fails only its requests (BatchSink::OnFailed); a request whose last call ran before the batch's
// last one is reported done (BatchSink::OnDone). One batch at a time (the batcher guarantees it).
#ifndef MAMBA_EXPLAIN_SERVING_ENGINE_BACKEND_H_
#define MAMBA_EXPLAIN_SERVING_ENGINE_BACKEND_H_

#include <cstdint>
#include <memory>
#include <string>

#include "serving/explain_backend.h"

namespace mamba_explain {

struct EngineBackendOptions {
  std::string device = "cpu";       // cpu | cuda | cuda:N
  std::string precision = "fp32";   // weight storage: fp32 | bf16 (ParsePrecision)
  int64_t memory_budget_mib = 256;  // LaTIM block budget unless a request asks for another
  // Memory one request may use (EngineOptions::memory_limit_bytes): 0 = 90% of the device less
  // the weights; < 0 = no limit. Requests over it fail with RESOURCE_EXHAUSTED before queueing.
  int64_t memory_limit_mib = 0;
};

absl::StatusOr<std::unique_ptr<ExplainBackend>> CreateEngineBackend(
    const std::string& model_dir, const EngineBackendOptions& options);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVING_ENGINE_BACKEND_H_
