#include "eval/tasks/copy_task.h"

namespace mamba_explain {

CopyBatch MakeCopyBatch(int64_t batch, int64_t length, int64_t vocab, torch::Generator& gen) {
  const int64_t T = 2 * length + 2;
  torch::Tensor source = torch::randint(kCopyFirstContent, vocab, {batch, length}, gen,
                                        torch::TensorOptions().dtype(torch::kInt64));
  torch::Tensor bos = torch::full({batch, 1}, kCopyBos, torch::kInt64);
  torch::Tensor sep = torch::full({batch, 1}, kCopySep, torch::kInt64);
  CopyBatch b;
  b.ids = torch::cat({bos, source, sep, source}, 1);  // [B, T]
  b.targets = torch::full({batch, T}, -100, torch::kInt64);
  // Positions SEP .. T-2 predict the copy s_0 .. s_{n-1}.
  const int64_t sep_pos = CopySeparatorPosition(length);
  b.targets.narrow(1, sep_pos, length).copy_(source);
  return b;
}

}  // namespace mamba_explain
