// Engine: the LibTorch-free door into a loaded model, for the CLI and (later) the serving layer.
// It owns a MambaModel and its tokenizer and speaks plain C++ types; every LibTorch exception is
// caught inside and returned as a status. Thread-compatible: const methods may run concurrently.
#ifndef MAMBA_EXPLAIN_MAMBA_ENGINE_H_
#define MAMBA_EXPLAIN_MAMBA_ENGINE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "attribution/attribution_result.h"
#include "model/config.h"
#include "model/tokenizer.h"

namespace mamba_explain {

class MambaModel;

// RESOURCE_EXHAUSTED (and an emptied CUDA cache) for a status whose message says a device (CUDA
// or CPU) ran out of memory; other statuses unchanged. Both Explain entry points apply it.
absl::Status MapOutOfMemory(const absl::Status& status);

struct EngineOptions {
  std::string device = "cpu";      // cpu | cuda | cuda:N
  std::string precision = "fp32";  // fp32 | bf16
  // Tokenizer file; empty means <model_dir>/tokenizer.json when it exists, else none.
  std::string tokenizer_path;
};

// What to explain (LaTIM and the baselines, docs/methods.md). Names are validated by Explain.
struct ExplainOptions {
  // latim-l1|latim-l2|latim-alti|latim-alti-logit, grad-x-input|integrated-gradients|smoothgrad|
  // mamba-lrp, mamba-attention|rollout|mamba-attribution
  std::vector<std::string> methods = {"latim-l2"};
  std::vector<int> layers;  // empty = all (LaTIM, mamba-attention)
  enum class Rows { kAll, kLast, kList };
  Rows rows = Rows::kAll;
  std::vector<int64_t> row_list;    // with Rows::kList
  std::string activation = "silu";  // silu | identity | relu
  int64_t target_token = -1;        // output-dependent methods' target; −1 = predicted next token
  // Optional: one target token per resolved row (ascending row order), overriding target_token
  // (the server's per-row target_tokens). INVALID_ARGUMENT when the count differs from the rows.
  std::vector<int64_t> target_tokens;
  int64_t memory_budget_bytes = int64_t{256} << 20;
  // Baselines.
  int ig_steps = 30;
  std::string ig_rule = "gauss-legendre";  // riemann (midpoint) | gauss-legendre
  int sg_samples = 30;
  double sg_sigma = 0.15;          // absolute, embedding units
  std::string sg_input = "noisy";  // noisy (Captum NoiseTunnel) | clean
  uint64_t seed = 0;
  std::string lrp_rules = "all";          // all|none|no-silu|no-ssm|no-gate|no-norm, comma list
  std::string attention_norm = "minmax";  // raw | minmax | abs-minmax (mamba-attention)
  int start_layer = 0;                    // rollout / mamba-attribution
};

// One sequence of Engine::ExplainBatch.
struct BatchSequence {
  std::vector<int32_t> ids;      // length >= 1
  std::vector<int64_t> rows;     // ascending target rows; empty = ExplainOptions::rows
  std::vector<int64_t> targets;  // latim-alti-logit token per row of `rows`; empty = target_token
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
  bool has_tokenizer() const { return tokenizer_ != nullptr; }
  // FAILED_PRECONDITION when no tokenizer was loaded.
  absl::StatusOr<std::vector<int32_t>> Tokenize(const std::string& text) const;
  std::string TokenText(int32_t id) const;

  // Logits of a single sequence: every position, or only the last one.
  absl::StatusOr<LogitRows> Logits(const std::vector<int32_t>& ids, bool last_only) const;

  // LaTIM and baseline scores of a single sequence, method family by family (LaTIM, gradient
  // methods, MambaLRP, hidden attention); results stream through `callback` (false cancels).
  // Device or host out-of-memory is RESOURCE_EXHAUSTED (MapOutOfMemory below); other LibTorch
  // errors are INTERNAL with the LibTorch message.
  absl::Status Explain(const std::vector<int32_t>& ids, const ExplainOptions& options,
                       const ResultCallback& callback) const;
  absl::StatusOr<std::vector<AttributionResult>> Explain(const std::vector<int32_t>& ids,
                                                         const ExplainOptions& options) const;

  // LaTIM methods only: the serving backend runs the baselines through Explain, one sequence at a
  // time (their gradients batch rows and IG steps / SmoothGrad samples instead of sequences).
  // Explains several sequences in one padded batch (right-padded to the longest; padded
  // positions never appear). Results stream through `callback` with AttributionResult::sequence =
  // the index in `sequences`, in the order of the single-sequence Explain (per layer, every
  // sequence); each equals the result of Explain on that sequence alone. Returning false cancels
  // the whole batch (CANCELLED); callers that drop one sequence just ignore its results.
  // RESOURCE_EXHAUSTED when the device (CUDA or CPU) runs out of memory.
  absl::Status ExplainBatch(const std::vector<BatchSequence>& sequences,
                            const ExplainOptions& options, const ResultCallback& callback) const;

  // Allocator statistics of the model's device; zeros on CPU or without CUDA.
  DeviceMemory DeviceMemoryBytes() const;

  MambaModel& model() const { return *model_; }

 private:
  Engine() = default;
  std::unique_ptr<MambaModel> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_MAMBA_ENGINE_H_
