// libFuzzer target: CSR sparsification of arbitrary small matrices (values from the input bytes,
// NaN and Inf included) under an arbitrary policy. A policy ValidateSparsity accepts must give a
// well-formed CSR (offsets from 0, non-decreasing, ending at nnz; columns increasing within a
// row and < cols; every kept value equal to the dense one and non-zero), ToDense must put the
// kept values back, and SplitCsrRows must tile [0, rows) in order.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "sparse/csr.h"

using mamba_explain::CsrMatrix;
using mamba_explain::SparsityMode;
using mamba_explain::SparsityPolicy;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 12) return 0;
  const int64_t rows = data[0] % 17;
  const int64_t cols = data[1] % 33;
  SparsityPolicy policy;
  policy.mode = static_cast<SparsityMode>(data[2] % 4);
  policy.top_k = static_cast<int8_t>(data[3]);
  std::memcpy(&policy.threshold, data + 4, 4);
  std::memcpy(&policy.mass, data + 8, 4);
  if (!mamba_explain::ValidateSparsity(policy).ok()) return 0;
  std::vector<float> dense(rows * cols, 0.f);
  const size_t available = (size - 12) / 4;
  for (size_t i = 0; i < dense.size() && i < available; ++i) {
    std::memcpy(&dense[i], data + 12 + 4 * i, 4);
  }
  const CsrMatrix csr = mamba_explain::Sparsify(dense.data(), rows, cols, policy);
  if (csr.rows != rows || csr.cols != cols) __builtin_trap();
  if (csr.row_offsets.size() != static_cast<size_t>(rows + 1) || csr.row_offsets[0] != 0 ||
      csr.row_offsets.back() != csr.nnz() || csr.col_indices.size() != csr.values.size()) {
    __builtin_trap();
  }
  for (int64_t r = 0; r < rows; ++r) {
    if (csr.row_offsets[r] > csr.row_offsets[r + 1]) __builtin_trap();
    for (int32_t k = csr.row_offsets[r]; k < csr.row_offsets[r + 1]; ++k) {
      const int32_t c = csr.col_indices[k];
      if (c < 0 || c >= cols) __builtin_trap();
      if (k > csr.row_offsets[r] && csr.col_indices[k - 1] >= c) __builtin_trap();
      const float v = dense[r * cols + c];
      if (std::memcmp(&v, &csr.values[k], 4) != 0 || v == 0.f) __builtin_trap();
    }
  }
  const std::vector<float> back = mamba_explain::ToDense(csr);
  if (back.size() != dense.size()) __builtin_trap();
  int64_t next = 0;
  for (const auto& [begin, end] : mamba_explain::SplitCsrRows(csr, 64 + data[3])) {
    if (begin != next || end <= begin) __builtin_trap();
    next = end;
  }
  if (next != (rows > 0 ? rows : 0)) __builtin_trap();
  return 0;
}
