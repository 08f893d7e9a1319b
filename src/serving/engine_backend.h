// EngineBackend: ExplainBackend over the LibTorch Engine (src/mamba/engine.h). This header is
// LibTorch-free; the .cc talks to the engine only through engine.h. Methods come from
// src/attribution when it is built in; until then the model serves ListModels/GetModel/Tokenize
// and reports no explanation methods. One batch at a time (the batcher guarantees it).
#ifndef MAMBA_EXPLAIN_SERVING_ENGINE_BACKEND_H_
#define MAMBA_EXPLAIN_SERVING_ENGINE_BACKEND_H_

#include <memory>
#include <string>

#include "serving/explain_backend.h"

namespace mamba_explain {

struct EngineBackendOptions {
  std::string device = "cpu";      // cpu | cuda | cuda:N
  std::string precision = "fp32";  // fp32 | bf16
};

absl::StatusOr<std::unique_ptr<ExplainBackend>> CreateEngineBackend(
    const std::string& model_dir, const EngineBackendOptions& options);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVING_ENGINE_BACKEND_H_
