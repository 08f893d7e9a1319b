// Dense rows -> CSR, with the per-row sparsification policies of the wire contract (top-k,
// relative threshold, cumulative |mass|, dense). Kept entries are copied exactly, never rescaled;
// exact zeros are never stored. Pure C++ (no LibTorch, no protobuf); functions are pure and
// thread-safe. Also splits a CSR matrix by rows into blocks that fit a byte budget, which is how
// the server keeps every streamed message under 1 MiB.
#ifndef MAMBA_EXPLAIN_SPARSE_CSR_H_
#define MAMBA_EXPLAIN_SPARSE_CSR_H_

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace mamba_explain {

enum class SparsityMode { kDense, kTopK, kThreshold, kMass };

struct SparsityPolicy {
  SparsityMode mode = SparsityMode::kDense;
  int32_t top_k = 0;      // kTopK: >= 1
  float threshold = 0.f;  // kThreshold: keep |v| >= threshold * max|row|, threshold in [0, 1]
  float mass = 1.f;       // kMass: keep the fewest largest |v| whose sum >= mass * sum|row|
};

// INVALID_ARGUMENT naming the field ("sparsity.top_k=0 must be >= 1") when out of range.
absl::Status ValidateSparsity(const SparsityPolicy& policy);

struct CsrMatrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<int32_t> row_offsets;  // rows + 1, starts at 0
  std::vector<int32_t> col_indices;  // nnz, increasing within a row
  std::vector<float> values;         // nnz
  double total_mass = 0.0;           // sum |v| over the dense input
  double kept_mass = 0.0;            // sum |v| over the kept entries

  int64_t nnz() const { return static_cast<int64_t>(values.size()); }
  // kept_mass / total_mass, 1 when the input is all zeros.
  double kept_fraction() const { return total_mass > 0 ? kept_mass / total_mass : 1.0; }
};

// Sparsifies `rows` x `cols` row-major `dense` row by row. kDense keeps every non-zero entry.
// The policy must be valid (ValidateSparsity).
CsrMatrix Sparsify(const float* dense, int64_t rows, int64_t cols, const SparsityPolicy& policy);

// Row-major rows x cols with the kept entries and zeros elsewhere.
std::vector<float> ToDense(const CsrMatrix& csr);

// Splits rows [0, rows) into consecutive [begin, end) blocks whose payload (4 bytes per row
// offset, 8 per entry) stays within max_bytes; a single row larger than the budget gets a block
// of its own. Empty matrices give no blocks.
std::vector<std::pair<int64_t, int64_t>> SplitCsrRows(const CsrMatrix& csr, size_t max_bytes);

// The same for dense rows of `cols` floats.
std::vector<std::pair<int64_t, int64_t>> SplitDenseRows(int64_t rows, int64_t cols,
                                                        size_t max_bytes);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SPARSE_CSR_H_
