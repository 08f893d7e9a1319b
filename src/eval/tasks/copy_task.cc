#include "eval/tasks/copy_task.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

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

absl::StatusOr<std::vector<std::vector<int32_t>>> MakeCopySamples(int samples, int64_t length,
                                                                  int64_t vocab, uint64_t seed) {
  try {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    std::vector<std::vector<int32_t>> out;
    while (static_cast<int>(out.size()) < samples) {
      const int n = std::min(256, samples - static_cast<int>(out.size()));
      torch::Tensor ids = MakeCopyBatch(n, length, vocab, gen).ids.contiguous();  // [n, T]
      const int64_t* p = ids.data_ptr<int64_t>();
      for (int b = 0; b < n; ++b) {
        out.emplace_back(p + b * ids.size(1), p + (b + 1) * ids.size(1));
      }
    }
    return out;
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("copy samples: ", e.what_without_backtrace()));
  }
}

}  // namespace mamba_explain
