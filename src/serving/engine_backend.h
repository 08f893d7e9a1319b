// EngineBackend: ExplainBackend over the LibTorch Engine (src/mamba/engine.h). This header is
// LibTorch-free; the .cc talks to the engine only through engine.h. Serves the LaTIM methods
// (latim-l1, latim-l2, latim-alti per layer; latim-alti-logit as one layer -1 matrix, the only
// output-dependent method) through Engine::ExplainBatch: one padded forward per batch, results
// streamed to the sink as each (layer, sequence, method) finishes, the batch stopped between
// results once every request is cancelled, device out-of-memory -> RESOURCE_EXHAUSTED for that
// batch only. One batch at a time (the batcher guarantees it).
#ifndef MAMBA_EXPLAIN_SERVING_ENGINE_BACKEND_H_
#define MAMBA_EXPLAIN_SERVING_ENGINE_BACKEND_H_

#include <cstdint>
#include <memory>
#include <string>

#include "serving/explain_backend.h"

namespace mamba_explain {

struct EngineBackendOptions {
  std::string device = "cpu";      // cpu | cuda | cuda:N
  std::string precision = "fp32";  // fp32 | bf16
  int64_t memory_budget_mib = 256;  // LaTIM block budget unless a request asks for another
};

// RESOURCE_EXHAUSTED for a status whose message says a device (CUDA or CPU) ran out of memory;
// other statuses unchanged.
absl::Status MapOutOfMemory(const absl::Status& status);

absl::StatusOr<std::unique_ptr<ExplainBackend>> CreateEngineBackend(
    const std::string& model_dir, const EngineBackendOptions& options);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVING_ENGINE_BACKEND_H_
