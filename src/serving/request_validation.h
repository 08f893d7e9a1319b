// Validation of an Explain request before it is queued (DESIGN §2 step 1): every field is checked
// against the model and the server limits, defaults are resolved (all layers, all rows), and the
// first problem is returned as INVALID_ARGUMENT naming the field and value ("layers[2]=31 not in
// [0, 24)"), RESOURCE_EXHAUSTED for requests over a limit, or FAILED_PRECONDITION for text
// without a tokenizer. Pure functions; nothing is queued here.
#ifndef MAMBA_EXPLAIN_SERVING_REQUEST_VALIDATION_H_
#define MAMBA_EXPLAIN_SERVING_REQUEST_VALIDATION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "serving/explain_backend.h"
#include "serving/explain_types.h"
#include "sparse/csr.h"

namespace mamba_explain {

// An Explain request in plain C++ (the transport converts its wire form into this).
struct ExplainSpec {
  std::string model;
  std::optional<std::string> text;
  std::vector<int32_t> token_ids;
  std::vector<std::string> methods;
  std::vector<int32_t> layers;
  std::vector<int32_t> target_rows;
  std::vector<int32_t> target_tokens;
  Activation activation = Activation::kSilu;
  Precision precision = Precision::kDefault;
  SparsityPolicy sparsity;
  MethodParameters params;
  int32_t priority = 0;
};

struct ServingLimits {
  int32_t max_tokens = 2048;  // longest sequence
  // Matrix rows per request: target rows x (layers for per-layer methods, 1 for whole-model
  // methods), summed over the methods.
  int64_t max_matrix_rows = 1 << 16;
  // Backward passes per request: target rows x (ig_steps for integrated-gradients,
  // smoothgrad_samples for smoothgrad, 1 for the other gradient methods), summed over them.
  int64_t max_gradient_rows = 1 << 16;
  int32_t max_ig_steps = 256;
  int32_t max_smoothgrad_samples = 128;
  float max_smoothgrad_sigma = 1e3f;  // absolute, in embedding units
  int32_t max_priority = 9;
  int32_t max_memory_budget_mib = 4096;  // parameters.memory_budget_mib
};

struct ValidatedRequest {
  BatchOptions options;
  ExplainInput input;
  SparsityPolicy sparsity;
  int32_t priority = 0;
};

absl::StatusOr<ValidatedRequest> ValidateExplain(const ExplainSpec& spec,
                                                 const ExplainBackend& backend,
                                                 const ServingLimits& limits);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVING_REQUEST_VALIDATION_H_
