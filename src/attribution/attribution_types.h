// Plain types shared by every attribution family (no LibTorch): which target rows to explain, and
// the result blocks the families stream. One result per (sequence, method, layer): rows = the
// requested target positions, columns = every source position of the sequence (its real length;
// padding never appears). Layer −1 = a whole-model result (MethodScope::kWholeModel).
#ifndef MAMBA_EXPLAIN_ATTRIBUTION_ATTRIBUTION_TYPES_H_
#define MAMBA_EXPLAIN_ATTRIBUTION_ATTRIBUTION_TYPES_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "attribution/methods.h"

namespace mamba_explain {

// Target rows. The explain layer checks and resolves them once (explain/explain_request.h) and
// hands the families kList selections that are already valid; the families' direct API (tests,
// benchmarks) resolves kAll / kLast (and lists) with ResolveRows and checks nothing more.
struct RowSelection {
  enum class Kind { kAll, kLast, kList };
  Kind kind = Kind::kAll;
  std::vector<int64_t> rows;  // kList: target positions (any order, deduplicated)
  // Optional, single-sequence callers: the target token of each resolved row (ascending row
  // order) for the output-dependent baselines (targets.h); overrides their target_token.
  // LaTIM's ALTI-Logit takes per-row tokens through LatimOptions::sequence_targets instead.
  std::vector<int64_t> tokens;
};

// The rule for the rows of a sequence of length n, stated once: a kList selection is not empty
// and every row is in [0, n). INVALID_ARGUMENT "target_rows is empty" or "target_rows[<i>]=<t>
// not in [0, <n>)" (the index in selection.rows). The explain layer's Validate and CheckValidated
// apply it.
absl::Status CheckRowSelection(const RowSelection& selection, int64_t n);

// The rows of `selection` for sequence `seq` of length n: ascending and unique. The one row
// resolution of the project (Validate and the families' direct API): CheckRowSelection's error,
// with " (sequence <seq>)" appended, when the selection breaks its rule.
absl::StatusOr<std::vector<int64_t>> ResolveRows(const RowSelection& selection, int64_t n,
                                                 int64_t seq);

struct AttributionResult {
  Method method = Method::kLatimL2;
  // kTokenScores: per-target relevance vectors with `targets` and `explained_logits` per row.
  ResultKind kind = ResultKind::kMatrix;
  int layer = -1;                       // 0-based layer, or −1 for a whole-model result
  int64_t sequence = 0;                 // index in the request's batch
  std::vector<int64_t> rows;            // target positions t, ascending
  int64_t columns = 0;                  // sources s ∈ [0, columns): the sequence's length
  std::vector<float> matrix;            // rows.size() × columns, row-major; 0 where s > t
  double approx_error = 0.0;            // relative decomposition error (docs/methods.md)
  std::vector<int64_t> targets;         // output-dependent methods: the explained token id per row
  std::vector<float> explained_logits;  // kTokenScores: the explained raw logit per row
  float at(size_t row, int64_t col) const { return matrix[row * columns + col]; }
};

// A result of `method` with its catalogue result kind.
inline AttributionResult NewResult(Method method, int layer, int64_t sequence) {
  AttributionResult r;
  r.method = method;
  r.kind = GetMethodInfo(method).result_kind;
  r.layer = layer;
  r.sequence = sequence;
  return r;
}

// Called once per finished result; returning false cancels the computation (CANCELLED).
using ResultCallback = std::function<bool(AttributionResult)>;

// Progress inside a long method: its items (target rows × IG steps or SmoothGrad samples, over
// every sequence) done of the total, told after each forward/backward batch.
using MethodProgress = std::function<void(Method method, int64_t done, int64_t total)>;

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_ATTRIBUTION_ATTRIBUTION_TYPES_H_
