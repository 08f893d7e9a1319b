// ExplainBackend: the serving layer's only door into a model. One backend instance owns one
// loaded model; the registry creates it through a BackendFactory and the model's batcher is its
// only caller of ExplainBatch (one batch at a time). Tokenize/TokenText/info are thread-safe.
// Implementations: EngineBackend (LibTorch Engine + src/attribution) and SyntheticBackend
// (deterministic matrices from token ids, for transport tests). Backends never throw: every
// failure is a status; GPU out-of-memory is RESOURCE_EXHAUSTED and fails only that batch.
#ifndef MAMBA_EXPLAIN_SERVING_EXPLAIN_BACKEND_H_
#define MAMBA_EXPLAIN_SERVING_EXPLAIN_BACKEND_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model/tokenizer.h"
#include "serving/explain_types.h"

namespace mamba_explain {

struct BackendInfo {
  std::string backend;       // "engine" | "synthetic"
  std::string architecture;  // "mamba1" | "mamba2"
  int32_t n_layers = 0;
  int32_t d_model = 0;
  int32_t vocab_size = 0;
  bool has_tokenizer = false;
  // Supported methods; what each is (output-dependent, whole-model, its cost) is in the catalogue
  // (attribution/methods.h).
  std::vector<Method> methods;
  int64_t memory_budget_mib = 256;  // block budget of requests that do not ask for one
  std::string device = "cpu";
  Precision precision = Precision::kFp32;  // of the stored weights
};

// Device memory held by a backend's allocator (zeros on CPU); the batcher publishes it as the
// mamba_explain_gpu_memory_bytes gauge after each batch.
struct DeviceMemoryStats {
  int64_t used = 0;
  int64_t reserved = 0;
};

// Receives a batch's results on the backend's thread, in increasing layer order (except that a
// batch asking for latim-alti-logit gets its per-layer results top layer first, then the
// whole-model layer -1 result: the rollout runs top-down).
class BatchSink {
 public:
  virtual ~BatchSink() = default;
  virtual void OnLayer(int item, LayerMatrix matrix) = 0;
  virtual void OnTokenScores(int item, TokenScoreRows scores) = 0;
  // True when `item` no longer wants results (client cancelled or deadline passed).
  virtual bool IsCancelled(int item) const = 0;
  // `item` failed alone (its family call ran out of memory, say): it ends with `status` and the
  // backend will not mention it again, while the batch's other items go on.
  virtual void OnFailed(int item, absl::Status status) = 0;
  // `item` has all its results and the backend will not mention it again: the batcher may finish
  // it before the rest of the batch is computed. Backends may skip it (the batch's end finishes
  // every item).
  virtual void OnDone(int item) {}
  // Inside a long method of `item`'s family call: `done` of `total` items (MethodProgress;
  // the call's count, shared by its items). Advice only: a sink may drop it.
  virtual void OnProgress(int item, Method method, int64_t done, int64_t total) {}
  // True when every item is cancelled; backends check it between layers and then stop.
  bool AllCancelled(int n_items) const {
    for (int i = 0; i < n_items; ++i) {
      if (!IsCancelled(i)) return false;
    }
    return true;
  }
};

class ExplainBackend {
 public:
  virtual ~ExplainBackend() = default;
  virtual const BackendInfo& info() const = 0;
  // FAILED_PRECONDITION when the model has no tokenizer.
  virtual absl::StatusOr<std::vector<int32_t>> Tokenize(const std::string& text) const = 0;
  // The first ids of Tokenize(text), at most max_ids, and whether the text has more: Explain's
  // validation asks for max_tokens ids, so that an over-long text costs at most max_tokens + 1
  // ids of tokenizer work (Tokenizer::EncodeAtMost). The default tokenizes everything and cuts
  // (for test backends); the engine and synthetic backends stop early.
  virtual absl::StatusOr<EncodedPrefix> TokenizeAtMost(const std::string& text,
                                                       size_t max_ids) const {
    absl::StatusOr<std::vector<int32_t>> ids = Tokenize(text);
    if (!ids.ok()) return ids.status();
    EncodedPrefix out;
    out.truncated = ids->size() > max_ids;
    if (out.truncated) ids->resize(max_ids);
    out.ids = *std::move(ids);
    return out;
  }
  virtual std::string TokenText(int32_t id) const = 0;
  // Runs a tiny batch through every supported method so the first request pays no start-up cost.
  virtual absl::Status Warmup() = 0;
  // RESOURCE_EXHAUSTED when one validated request, alone, needs more memory than the device can
  // give (checked before queueing, so it fails alone); default: no limit.
  virtual absl::Status CheckMemory(const BatchOptions& options, const ExplainInput& input) const {
    return absl::OkStatus();
  }
  // Explains each item (validated: ids < vocab, rows in range, methods supported) with its own
  // options (items share BatchOptions::Key()), delivering every (method, layer) result of every
  // non-cancelled item to `sink`, or OnFailed for an item that failed alone. Returns CANCELLED
  // when it stopped early because AllCancelled() became true; another error fails every item
  // not already failed.
  virtual absl::Status ExplainBatch(const std::vector<BatchItem>& items, BatchSink* sink) = 0;
  // Called by the batcher after each batch; default: no device memory to report.
  virtual DeviceMemoryStats DeviceMemory() const { return {}; }
};

// Makes the backend of the model in `model_dir` (named `name` in the repository).
using BackendFactory = std::function<absl::StatusOr<std::unique_ptr<ExplainBackend>>(
    const std::string& name, const std::string& model_dir)>;

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVING_EXPLAIN_BACKEND_H_
