// SyntheticBackend: a model-shaped backend without weights, for testing the transport (batcher,
// streaming, sparsification, cancellation, drain) on any machine. It reads config.json (layers,
// vocabulary, architecture) and tokenizer.json when present, and answers the methods
// "synthetic-decay" (matrices) and "synthetic-logit" (token scores) with values that depend only
// on the ids, positions, layer and method, so results never depend on batch composition.
// Optionally sleeps layer_delay_ms per layer (checking cancellation) to model slow compute.
#ifndef MAMBA_EXPLAIN_SERVING_SYNTHETIC_BACKEND_H_
#define MAMBA_EXPLAIN_SERVING_SYNTHETIC_BACKEND_H_

#include <memory>
#include <string>

#include "model/tokenizer.h"
#include "serving/explain_backend.h"

namespace mamba_explain {

struct SyntheticBackendOptions {
  int layer_delay_ms = 0;
};

class SyntheticBackend : public ExplainBackend {
 public:
  static absl::StatusOr<std::unique_ptr<ExplainBackend>> Create(
      const std::string& model_dir, const SyntheticBackendOptions& options);

  // The value of matrix entry (row i, column j <= i); 0 above the diagonal. Public for tests.
  static float Value(const std::string& method, int32_t layer, const std::vector<int32_t>& ids,
                     int32_t i, int32_t j);

  const BackendInfo& info() const override { return info_; }
  absl::StatusOr<std::vector<int32_t>> Tokenize(const std::string& text) const override;
  absl::StatusOr<EncodedPrefix> TokenizeAtMost(const std::string& text,
                                               size_t max_ids) const override;
  std::string TokenText(int32_t id) const override;
  absl::Status Warmup() override { return absl::OkStatus(); }
  // Items share every option (BatchOptions::Key keeps every field for the synthetic methods):
  // the batch runs with the first item's options.
  absl::Status ExplainBatch(const std::vector<BatchItem>& items, BatchSink* sink) override;

 private:
  SyntheticBackend() = default;
  BackendInfo info_;
  SyntheticBackendOptions options_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVING_SYNTHETIC_BACKEND_H_
