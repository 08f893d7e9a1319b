#include "mamba/segment_sum.h"

#include <limits>

namespace mamba_explain {

torch::Tensor SegmentSum(const torch::Tensor& a) {
  const int64_t T = a.size(-1);
  auto bool_opts = torch::TensorOptions().dtype(torch::kBool).device(a.device());
  torch::Tensor strictly_lower = torch::ones({T, T}, bool_opts).tril(-1);
  torch::Tensor lower = torch::ones({T, T}, bool_opts).tril(0);
  // x[..., i, j] = a[i] where i > j, else 0; the cumsum over i then sums a[j+1..i].
  std::vector<int64_t> shape = a.sizes().vec();
  shape.push_back(T);
  torch::Tensor rows = a.unsqueeze(-1).expand(shape);
  torch::Tensor masked = rows.masked_fill(strictly_lower.logical_not(), 0);
  torch::Tensor seg = masked.cumsum(-2);
  return seg.masked_fill(lower.logical_not(), -std::numeric_limits<float>::infinity());
}

torch::Tensor SegmentSumNaive(const torch::Tensor& a) {
  const int64_t T = a.size(-1);
  torch::Tensor cs = a.cumsum(-1);
  torch::Tensor seg = cs.unsqueeze(-1) - cs.unsqueeze(-2);
  torch::Tensor lower =
      torch::ones({T, T}, torch::TensorOptions().dtype(torch::kBool).device(a.device())).tril(0);
  return seg.masked_fill(lower.logical_not(), -std::numeric_limits<float>::infinity());
}

}  // namespace mamba_explain
