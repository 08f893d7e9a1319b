// CSR sparsification: each policy equals an independent entry-wise definition applied to the
// dense matrix (threshold: |v| >= t*max; top-k: rank < k; mass: smallest prefix reaching the
// goal), round trips, and row splitting respects the byte budget without losing rows.
#include "sparse/csr.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace mamba_explain {
namespace {

std::vector<float> RandomCausal(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal;
  std::vector<float> m(rows * cols, 0.f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c <= std::min(r, cols - 1); ++c) m[r * cols + c] = normal(gen);
  return m;
}

TEST(CsrTest, ThresholdEqualsThresholdedDense) {
  const int64_t rows = 17, cols = 17;
  const std::vector<float> m = RandomCausal(rows, cols, 1);
  for (float t : {0.f, 0.1f, 0.5f, 1.f}) {
    CsrMatrix csr = Sparsify(m.data(), rows, cols, {SparsityMode::kThreshold, 0, t, 1.f});
    const std::vector<float> back = ToDense(csr);
    for (int64_t r = 0; r < rows; ++r) {
      float mx = 0.f;
      for (int64_t c = 0; c < cols; ++c) mx = std::max(mx, std::fabs(m[r * cols + c]));
      for (int64_t c = 0; c < cols; ++c) {
        const float v = m[r * cols + c];
        EXPECT_EQ(back[r * cols + c], std::fabs(v) >= t * mx ? v : 0.f) << r << "," << c;
      }
    }
  }
}

TEST(CsrTest, DenseRoundTripsExactly) {
  const std::vector<float> m = RandomCausal(9, 9, 2);
  CsrMatrix csr = Sparsify(m.data(), 9, 9, {});
  EXPECT_EQ(ToDense(csr), m);
  EXPECT_EQ(csr.nnz(), 45);  // causal lower triangle, no stored zeros
  EXPECT_DOUBLE_EQ(csr.kept_fraction(), 1.0);
}

TEST(CsrTest, TopKKeepsTheKLargestPerRow) {
  const int64_t rows = 12, cols = 12;
  const std::vector<float> m = RandomCausal(rows, cols, 3);
  for (int k : {1, 3, 20}) {
    CsrMatrix csr = Sparsify(m.data(), rows, cols, {SparsityMode::kTopK, k, 0.f, 1.f});
    const std::vector<float> back = ToDense(csr);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        const float v = m[r * cols + c];
        int rank = 0;  // entries ahead of (r, c) in |v| order, ties to lower column
        for (int64_t o = 0; o < cols; ++o) {
          const float w = std::fabs(m[r * cols + o]);
          if (w > std::fabs(v) || (w == std::fabs(v) && o < c)) ++rank;
        }
        EXPECT_EQ(back[r * cols + c], rank < k ? v : 0.f) << r << "," << c << " k=" << k;
      }
    }
  }
}

TEST(CsrTest, MassKeepsTheSmallestSufficientPrefix) {
  const int64_t rows = 10, cols = 10;
  const std::vector<float> m = RandomCausal(rows, cols, 4);
  const float goal = 0.8f;
  CsrMatrix csr = Sparsify(m.data(), rows, cols, {SparsityMode::kMass, 0, 0.f, goal});
  for (int64_t r = 0; r < rows; ++r) {
    double total = 0, kept = 0, smallest_kept = 1e30;
    for (int64_t c = 0; c < cols; ++c) total += std::fabs(m[r * cols + c]);
    for (int32_t e = csr.row_offsets[r]; e < csr.row_offsets[r + 1]; ++e) {
      kept += std::fabs(csr.values[e]);
      smallest_kept = std::min<double>(smallest_kept, std::fabs(csr.values[e]));
    }
    EXPECT_GE(kept, goal * total - 1e-6) << r;
    EXPECT_LT(kept - smallest_kept, goal * total) << "row " << r << " keeps one too many";
  }
  EXPECT_GE(csr.kept_fraction(), goal - 1e-6);
  EXPECT_LT(csr.kept_fraction(), 1.0);
}

TEST(CsrTest, ValidationNamesTheField) {
  EXPECT_NE(ValidateSparsity({SparsityMode::kTopK, 0, 0, 1}).message().find("sparsity.top_k=0"),
            std::string::npos);
  EXPECT_FALSE(ValidateSparsity({SparsityMode::kThreshold, 0, 1.5f, 1}).ok());
  EXPECT_FALSE(ValidateSparsity({SparsityMode::kMass, 0, 0, 0.f}).ok());
  EXPECT_TRUE(ValidateSparsity({SparsityMode::kMass, 0, 0, 1.f}).ok());
}

TEST(CsrTest, SplitRowsRespectsTheBudgetAndCoversEveryRow) {
  const int64_t n = 300;
  const std::vector<float> m = RandomCausal(n, n, 5);
  CsrMatrix csr = Sparsify(m.data(), n, n, {});
  const size_t budget = 16 * 1024;
  auto blocks = SplitCsrRows(csr, budget);
  ASSERT_GT(blocks.size(), 1u);
  int64_t next = 0;
  for (auto [b, e] : blocks) {
    EXPECT_EQ(b, next);
    EXPECT_GT(e, b);
    const size_t bytes = 4 * (e - b + 1) + 8 * (csr.row_offsets[e] - csr.row_offsets[b]);
    EXPECT_LE(bytes, budget);
    next = e;
  }
  EXPECT_EQ(next, n);
  auto dense_blocks = SplitDenseRows(n, n, budget);
  EXPECT_EQ(dense_blocks.back().second, n);
  for (auto [b, e] : dense_blocks) EXPECT_LE(4 * n * (e - b), static_cast<int64_t>(budget));
}

}  // namespace
}  // namespace mamba_explain
