// Validation of an Explain request before it is queued (DESIGN §2 step 1). The transport's fields
// (text or ids, sparsity, priority) and the server limits are checked here; the wire's strings are
// parsed into the catalogue's types (attribution/methods.h); everything about the explanation
// itself goes through the one explain-layer Validate (explain/explain_request.h). The first
// problem is INVALID_ARGUMENT naming the field and value ("layers[2]=31 not in [0, 24)"),
// RESOURCE_EXHAUSTED for requests over a limit (including the backend's memory estimate,
// ExplainBackend::CheckMemory), or FAILED_PRECONDITION for text without a tokenizer. Pure
// functions; nothing is queued here.
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
  std::vector<std::string> methods;  // catalogue names
  std::vector<int32_t> layers;
  std::vector<int32_t> target_rows;  // empty = all rows, or the last one with last_row
  bool last_row = false;             // the input's last position (wire: ROW_SELECTION_LAST)
  std::vector<int32_t> target_tokens;
  std::optional<int32_t> target_token;  // one token for every row (not with target_tokens)
  Activation activation = Activation::kSilu;
  std::optional<Precision> precision;  // compute precision; unset = the model's
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
  // The same counts weighted by length, so a long input costs more than a short one: target row t
  // costs t + 1 (its causal columns; the positions its backward pass carries). Matrix cells:
  // sum over target rows of t + 1, x layers for per-layer methods, summed over the methods.
  // Gradient tokens: sum over target rows of t + 1, x the passes per row, summed over them.
  int64_t max_matrix_cells = int64_t{1} << 28;
  int64_t max_gradient_tokens = int64_t{1} << 22;
  int32_t max_ig_steps = 256;
  int32_t max_smoothgrad_samples = 128;
  float max_smoothgrad_sigma = 1e3f;  // absolute, in embedding units
  int32_t max_priority = 9;
  int32_t max_memory_budget_mib = 4096;  // parameters.memory_budget_mib
  // Longest dense row (one row of floats goes in one message; rows are not split by columns):
  // DENSE matrices and every token-score method. 245 000 floats (≈ 957 KiB) leave room for the
  // message's other fields under the server's 960 KiB payload bound (the proto promises 1 MiB per
  // message). Longer inputs stream their rows as TOP_K, THRESHOLD or MASS.
  int64_t max_dense_row = 245000;
};

// A request ready for the queue: the batch-compatible options and this request's sequence.
struct ValidatedExplain {
  BatchOptions options;
  ExplainInput input;
  SparsityPolicy sparsity;
  int32_t priority = 0;
};

absl::StatusOr<ValidatedExplain> ValidateExplain(const ExplainSpec& spec,
                                                 const ExplainBackend& backend,
                                                 const ServingLimits& limits);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVING_REQUEST_VALIDATION_H_
