// Plain result types shared by the attribution methods (no LibTorch): one dense score block per
// (sequence, method, layer), rows = the requested target positions, columns = every source position
// of the sequence (its real length; padding never appears). Layer −1 = a whole-model aggregate.
#ifndef MAMBA_EXPLAIN_ATTRIBUTION_ATTRIBUTION_RESULT_H_
#define MAMBA_EXPLAIN_ATTRIBUTION_ATTRIBUTION_RESULT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mamba_explain {

struct AttributionResult {
  std::string method;            // e.g. "latim-l2"
  int layer = -1;                // 0-based layer, or −1 for a whole-model aggregate
  int64_t sequence = 0;          // index in the request's batch
  std::vector<int64_t> rows;     // target positions t, ascending
  int64_t columns = 0;           // sources s ∈ [0, columns): the sequence's length
  std::vector<float> matrix;     // rows.size() × columns, row-major; 0 where s > t
  double approx_error = 0.0;     // relative decomposition error (docs/methods.md)
  std::vector<int64_t> targets;  // output-dependent methods: the explained token id per row
  std::vector<float> explained_logits;  // per-target methods: the explained raw logit per row
  float at(size_t row, int64_t col) const { return matrix[row * columns + col]; }
};

// Called once per finished result; returning false cancels the computation (CANCELLED).
using ResultCallback = std::function<bool(AttributionResult)>;

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_ATTRIBUTION_ATTRIBUTION_RESULT_H_
