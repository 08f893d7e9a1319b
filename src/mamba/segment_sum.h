// Stable segment sums, the one place where decay exponents between two positions are formed.
// SegmentSum(a)[..., i, j] = Σ_{k=j+1..i} a[..., k] for j ≤ i (0 on the diagonal), -inf for j > i,
// computed as a masked cumulative sum (mamba_ssm ssd_minimal "segsum"), never as cs[i] - cs[j],
// so long sequences neither cancel catastrophically nor overflow in exp (DESIGN §3).
// The naive difference form is kept beside it for tests.
#ifndef MAMBA_EXPLAIN_MAMBA_SEGMENT_SUM_H_
#define MAMBA_EXPLAIN_MAMBA_SEGMENT_SUM_H_

#include <torch/torch.h>

namespace mamba_explain {

// a: [..., T] -> [..., T, T].
torch::Tensor SegmentSum(const torch::Tensor& a);

// Rows [row_begin, row_end) of SegmentSum(a) without forming the T×T matrix: a: [..., T] ->
// [..., R, T], R = row_end - row_begin. Still no difference of cumulative sums: for j < row_begin the
// entry is (Σ_{k=j+1..row_begin} a[k], a reverse cumulative sum) + (Σ_{k=row_begin+1..i} a[k]), two
// partial sums over exactly the segment's terms; inside the block it is SegmentSum of the block.
// O(R·T) memory, O(T + R·T) work: explaining one row of a long sequence stays linear in T.
torch::Tensor SegmentSumRows(const torch::Tensor& a, int64_t row_begin, int64_t row_end);

// Same values via cumulative-sum differences; unstable for long T, tests only.
torch::Tensor SegmentSumNaive(const torch::Tensor& a);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_MAMBA_SEGMENT_SUM_H_
