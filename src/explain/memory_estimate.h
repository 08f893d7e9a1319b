// The memory an explanation needs on the model's device, estimated before any work from the
// request alone (sequence lengths, batch, layers, methods, precision) and the model's shape, so a
// request the device cannot hold fails at once with RESOURCE_EXHAUSTED instead of after minutes of
// work or by taking the memory of the requests beside it (issue 18). The terms follow the code:
// the residual-stream checkpoints and one recomputed layer trace (mamba/layer_traces.h), the
// recomputation chunk and the methods' block budget (memory_budget_bytes), the methods' own
// per-layer tensors and results. An estimate, deliberately on the high side; weights excluded.
#ifndef MAMBA_EXPLAIN_EXPLAIN_MEMORY_ESTIMATE_H_
#define MAMBA_EXPLAIN_EXPLAIN_MEMORY_ESTIMATE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "explain/explain_request.h"
#include "model/config.h"

namespace mamba_explain {

struct MemoryEstimate {
  int64_t checkpoint_bytes = 0;   // residual stream / every layer's input (ALTI-Logit)
  int64_t layer_trace_bytes = 0;  // one layer's recomputed trace + the chunk's temporaries
  int64_t method_bytes = 0;       // the methods' per-layer tensors, blocks and results
  int64_t total_bytes() const { return checkpoint_bytes + layer_trace_bytes + method_bytes; }
  std::string DebugString() const;
};

// The peak of the LaTIM pass (one padded batch of every sequence) and of each sequence's
// baselines (run one after another), whichever is larger.
MemoryEstimate EstimateExplainMemory(const ModelConfig& config, const ValidatedRequest& request);

// OK when `estimate` fits `available_bytes` (≤ 0: no limit); else RESOURCE_EXHAUSTED naming both.
absl::Status CheckMemoryEstimate(const MemoryEstimate& estimate, int64_t available_bytes);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_EXPLAIN_MEMORY_ESTIMATE_H_
