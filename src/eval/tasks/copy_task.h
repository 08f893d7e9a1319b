// The copying task of Jelassi et al. 2024 as used by LaTIM §4.1 / App. B.1: a random source
// string of `length` content tokens, a separator, then the same string again. The model is
// trained (and evaluated) to predict every token of the copy; the true interaction is known:
// copy token i looks at source token i (gold matrix with ones on three main diagonals, §4.1).
// Layout of one sample (T = 2·length + 2 positions):
//   [BOS] s_0 … s_{n-1} [SEP] s_0 … s_{n-1}
// Ids: 0 = BOS, 1 = SEP, 2..vocab-1 = content. Position p predicts token p+1.
// Shared by the trainer (tools/train) and the evaluator (src/eval), so it lives below both. It
// draws from a torch::Generator: the committed models' evaluation samples depend on that stream.
#ifndef MAMBA_EXPLAIN_EVAL_TASKS_COPY_TASK_H_
#define MAMBA_EXPLAIN_EVAL_TASKS_COPY_TASK_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace mamba_explain {

constexpr int64_t kCopyBos = 0;
constexpr int64_t kCopySep = 1;
constexpr int64_t kCopyFirstContent = 2;

struct CopyBatch {
  torch::Tensor ids;      // [B, T] int64
  torch::Tensor targets;  // [B, T] int64: the next token at positions that predict the copy,
                          // -100 elsewhere (ignored by the loss)
};

// Seeded and device-independent: the same generator state gives the same batch.
CopyBatch MakeCopyBatch(int64_t batch, int64_t length, int64_t vocab, torch::Generator& gen);

// `samples` whole samples as token ids, drawn in chunks of 256 from one CPU generator seeded with
// `seed`: the stream of the trainer's EvaluateCopyModel, so for equal seeds both see the same
// samples (the evaluators' held-out sets). LibTorch errors become INTERNAL.
absl::StatusOr<std::vector<std::vector<int32_t>>> MakeCopySamples(int samples, int64_t length,
                                                                  int64_t vocab, uint64_t seed);

// Index of the first copy position (the SEP token) and helpers for the gold interactions.
inline int64_t CopySeparatorPosition(int64_t length) { return length + 1; }

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_EVAL_TASKS_COPY_TASK_H_
