// Engine: the LibTorch-free door into a loaded model, for the CLI, the serving backend and the
// evaluator. It owns a MambaModel and its tokenizer and speaks plain C++ types. Explain runs a
// ValidatedRequest (explain_request.h) for one or many sequences and decides what runs batched:
// the LaTIM scores run as one right-padded batch over every sequence; so do the gradient methods
// and MambaLRP, whose (sequence, row, step or sample) items share forward/backward passes packed
// to a token budget; the hidden-attention methods run one sequence at a time. It is the one
// error boundary of the attribution code: LibTorch exceptions become statuses here and nowhere
// below. Thread-compatible: const methods may run concurrently.
#ifndef MAMBA_EXPLAIN_EXPLAIN_ENGINE_H_
#define MAMBA_EXPLAIN_EXPLAIN_ENGINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "attribution/attribution_types.h"
#include "common/cancellation.h"
#include "common/precision.h"
#include "explain/explain_request.h"
#include "model/config.h"
#include "model/tokenizer.h"

namespace mamba_explain {

class MambaModel;

struct EngineOptions {
  std::string device = "cpu";              // cpu | cuda | cuda:N
  Precision precision = Precision::kFp32;  // weight storage: kFp32 or kBf16
  // Tokenizer file; empty means <model_dir>/tokenizer.json when it exists, else none.
  std::string tokenizer_path;
  // Memory one explanation may use on the device (memory_estimate.h); 0 = 90% of what the device
  // holds (CUDA: its total memory; CPU: the host's RAM) less the weights; < 0 = no limit.
  int64_t memory_limit_bytes = 0;
};

// Memory of the model's device held by LibTorch's caching allocator (0 on CPU).
struct DeviceMemory {
  int64_t used = 0;      // bytes in live tensors
  int64_t reserved = 0;  // bytes reserved by the allocator
};

// Row-major logits of some positions.
struct LogitRows {
  int64_t rows = 0;
  int64_t vocab = 0;
  std::vector<float> values;  // rows × vocab
};

class Engine {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> Load(const std::string& model_dir,
                                                      const EngineOptions& options);
  ~Engine();

  const ModelConfig& config() const;
  // What Validate checks a request against.
  ModelShape shape() const;
  bool has_tokenizer() const { return tokenizer_ != nullptr; }
  // FAILED_PRECONDITION when no tokenizer was loaded.
  absl::StatusOr<std::vector<int32_t>> Tokenize(const std::string& text) const;
  // The first ids, at most max_ids, and whether there are more (Tokenizer::EncodeAtMost).
  absl::StatusOr<EncodedPrefix> TokenizeAtMost(const std::string& text, size_t max_ids) const;
  std::string TokenText(int32_t id) const;

  // Logits of a single sequence: every position, or only the last one.
  absl::StatusOr<LogitRows> Logits(const std::vector<int32_t>& ids, bool last_only) const;

  // Bytes an explanation may use (EngineOptions::memory_limit_bytes resolved; ≤ 0: no limit).
  int64_t memory_limit_bytes() const { return memory_limit_bytes_; }
  // OK when `request`'s memory estimate (memory_estimate.h) fits memory_limit_bytes(), each of
  // its sequences alone when the batch as a whole does not; else RESOURCE_EXHAUSTED.
  absl::Status CheckMemory(const ValidatedRequest& request) const;

  // Runs `request` (validated against shape(); a request that breaks CheckValidated is
  // INVALID_ARGUMENT before any work, the one check for callers that build it themselves). Results
  // stream through `callback` with AttributionResult::sequence = the index in request.sequences:
  // first the LaTIM scores (per layer, every sequence; top layer first, then ALTI-Logit at layer
  // −1, when ALTI-Logit is asked), then each gradient method and MambaLRP for every sequence, then
  // per sequence the hidden-attention methods. Each result equals the one of the same request on
  // that sequence alone. Returning false from the callback cancels the whole request (CANCELLED);
  // `cancel` (checked between the steps of the long loops, common/cancellation.h) stops one
  // sequence's remaining work, and the whole request (CANCELLED) once every sequence is cancelled;
  // results of a cancelled sequence that shared a batch may still arrive and should be dropped.
  // Before any work the memory estimate is checked: RESOURCE_EXHAUSTED when a sequence alone does
  // not fit; a batch that fits only sequence by sequence runs its LaTIM pass so. Device or host
  // out-of-memory is RESOURCE_EXHAUSTED (CUDA cache emptied); other LibTorch errors are INTERNAL
  // with the LibTorch message. `progress`, when set, hears the steps of the gradient methods and
  // MambaLRP (MethodProgress: the offline CLI's bar, the server's Progress messages).
  absl::Status Explain(const ValidatedRequest& request, const ResultCallback& callback,
                       const Cancellation& cancel = Cancellation(),
                       const MethodProgress& progress = MethodProgress()) const;
  // Same, collecting every result.
  absl::StatusOr<std::vector<AttributionResult>> Explain(const ValidatedRequest& request) const;

  // Allocator statistics of the model's device; zeros on CPU or without CUDA.
  DeviceMemory DeviceMemoryBytes() const;

  MambaModel& model() const { return *model_; }

 private:
  Engine() = default;
  std::unique_ptr<MambaModel> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  int64_t memory_limit_bytes_ = 0;
};

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_EXPLAIN_ENGINE_H_
