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

torch::Tensor SegmentSumRows(const torch::Tensor& a, int64_t row_begin, int64_t row_end) {
  using torch::indexing::Slice;
  const int64_t T = a.size(-1), R = row_end - row_begin;
  TORCH_CHECK(0 <= row_begin && row_begin < row_end && row_end <= T, "SegmentSumRows: rows [",
              row_begin, ", ", row_end, ") outside [0, ", T, ")");
  std::vector<int64_t> shape = a.sizes().vec();
  shape.push_back(T);
  shape[shape.size() - 2] = R;
  torch::Tensor out =
      torch::full(shape, -std::numeric_limits<double>::infinity(), a.options());  // [..., R, T]
  // Inside the block: the stable T_b×T_b segment sum of the block's own entries.
  torch::Tensor block = a.index({"...", Slice(row_begin, row_end)});
  out.index_put_({"...", Slice(), Slice(row_begin, row_end)}, SegmentSum(block));
  if (row_begin > 0) {
    // tail[j] = Σ_{k=j+1..row_begin} a[k] for j < row_begin (reverse cumulative sum).
    torch::Tensor tail = a.index({"...", Slice(1, row_begin + 1)}).flip(-1).cumsum(-1).flip(-1);
    // head[i] = Σ_{k=row_begin+1..i} a[k] for i in the block (0 at i = row_begin).
    torch::Tensor head = torch::cat({torch::zeros_like(block.index({"...", Slice(0, 1)})),
                       block.index({"...", Slice(1, torch::indexing::None)}).cumsum(-1)},
                      -1);
    out.index_put_({"...", Slice(), Slice(0, row_begin)}, head.unsqueeze(-1) + tail.unsqueeze(-2));
  }
  return out;
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
