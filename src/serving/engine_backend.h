// EngineBackend: ExplainBackend over the LibTorch Engine (src/explain/engine.h). This header is
// LibTorch-free; the .cc talks to the engine only through engine.h. Serves every engine method of
// the catalogue: a batch (validated requests sharing BatchOptions) is one explain ValidatedRequest,
// and the Engine decides what runs batched (LaTIM as one padded forward, the baselines per
// sequence with that request's rows and target tokens). Results stream to the sink as they
// finish (ResultKind::kTokenScores as token scores, the rest as matrices); a cancelled request's
// results are dropped and its baselines skipped; the batch stops between results once every
// request is cancelled; device out-of-memory -> RESOURCE_EXHAUSTED for that batch only. One batch
// at a time (the batcher guarantees it).
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
