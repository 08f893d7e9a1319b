#include "sparse/csr.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace mamba_explain {

absl::Status ValidateSparsity(const SparsityPolicy& policy) {
  switch (policy.mode) {
    case SparsityMode::kDense:
      return absl::OkStatus();
    case SparsityMode::kTopK:
      if (policy.top_k < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("sparsity.top_k=", policy.top_k, " must be >= 1"));
      }
      return absl::OkStatus();
    case SparsityMode::kThreshold:
      if (!(policy.threshold >= 0.f && policy.threshold <= 1.f)) {
        return absl::InvalidArgumentError(
            absl::StrCat("sparsity.threshold=", policy.threshold, " not in [0, 1]"));
      }
      return absl::OkStatus();
    case SparsityMode::kMass:
      if (!(policy.mass > 0.f && policy.mass <= 1.f)) {
        return absl::InvalidArgumentError(
            absl::StrCat("sparsity.mass=", policy.mass, " not in (0, 1]"));
      }
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError("sparsity.mode is unknown");
}

CsrMatrix Sparsify(const float* dense, int64_t rows, int64_t cols, const SparsityPolicy& policy) {
  CsrMatrix out;
  out.rows = rows;
  out.cols = cols;
  out.row_offsets.reserve(rows + 1);
  out.row_offsets.push_back(0);
  std::vector<int32_t> order(cols);
  std::vector<char> keep(cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = dense + r * cols;
    double row_mass = 0.0;
    float row_max = 0.f;
    for (int64_t c = 0; c < cols; ++c) {
      const float a = std::fabs(row[c]);
      row_mass += a;
      row_max = std::max(row_max, a);
    }
    out.total_mass += row_mass;
    std::fill(keep.begin(), keep.end(), 0);
    switch (policy.mode) {
      case SparsityMode::kDense:
        std::fill(keep.begin(), keep.end(), 1);
        break;
      case SparsityMode::kThreshold: {
        const float cut = policy.threshold * row_max;
        for (int64_t c = 0; c < cols; ++c) keep[c] = std::fabs(row[c]) >= cut;
        break;
      }
      case SparsityMode::kTopK:
      case SparsityMode::kMass: {
        // Largest |v| first; ties go to the lower column (stable order).
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [row](int32_t a, int32_t b) {
          return std::fabs(row[a]) > std::fabs(row[b]);
        });
        if (policy.mode == SparsityMode::kTopK) {
          const int64_t k = std::min<int64_t>(policy.top_k, cols);
          for (int64_t i = 0; i < k; ++i) keep[order[i]] = 1;
        } else {
          const double goal = static_cast<double>(policy.mass) * row_mass;
          double acc = 0.0;
          for (int64_t i = 0; i < cols && acc < goal; ++i) {
            keep[order[i]] = 1;
            acc += std::fabs(row[order[i]]);
          }
        }
        break;
      }
    }
    for (int64_t c = 0; c < cols; ++c) {
      if (keep[c] && row[c] != 0.f) {
        out.col_indices.push_back(static_cast<int32_t>(c));
        out.values.push_back(row[c]);
        out.kept_mass += std::fabs(row[c]);
      }
    }
    out.row_offsets.push_back(static_cast<int32_t>(out.values.size()));
  }
  return out;
}

std::vector<float> ToDense(const CsrMatrix& csr) {
  std::vector<float> out(csr.rows * csr.cols, 0.f);
  for (int64_t r = 0; r < csr.rows; ++r) {
    for (int32_t e = csr.row_offsets[r]; e < csr.row_offsets[r + 1]; ++e) {
      out[r * csr.cols + csr.col_indices[e]] = csr.values[e];
    }
  }
  return out;
}

std::vector<std::pair<int64_t, int64_t>> SplitCsrRows(const CsrMatrix& csr, size_t max_bytes) {
  std::vector<std::pair<int64_t, int64_t>> blocks;
  int64_t begin = 0;
  size_t bytes = 4;  // the leading row offset
  for (int64_t r = 0; r < csr.rows; ++r) {
    const size_t row_bytes =
        4 + 8 * static_cast<size_t>(csr.row_offsets[r + 1] - csr.row_offsets[r]);
    if (r > begin && bytes + row_bytes > max_bytes) {
      blocks.emplace_back(begin, r);
      begin = r;
      bytes = 4;
    }
    bytes += row_bytes;
  }
  if (csr.rows > begin) blocks.emplace_back(begin, csr.rows);
  return blocks;
}

std::vector<std::pair<int64_t, int64_t>> SplitDenseRows(int64_t rows, int64_t cols,
                                                        size_t max_bytes) {
  std::vector<std::pair<int64_t, int64_t>> blocks;
  const int64_t row_bytes = std::max<int64_t>(4 * cols, 1);
  const int64_t per_block = std::max<int64_t>(1, static_cast<int64_t>(max_bytes) / row_bytes);
  for (int64_t begin = 0; begin < rows; begin += per_block) {
    blocks.emplace_back(begin, std::min(rows, begin + per_block));
  }
  return blocks;
}

}  // namespace mamba_explain
