// Training and evaluation batches of the recall task (eval/tasks/recall_task.h: k key–value pairs
// among distractors, then the queried key; the query position predicts the gold value) for the
// trainer. One batch mixes the key counts of `keys` (sample b has keys[b mod |keys|]); every
// sample has T = context + 4 positions, and only the query position carries a target (the gold
// value id), the rest is −100 (ignored by the loss). Seeded: the same seed gives the same batch.
#ifndef MAMBA_EXPLAIN_TOOLS_TRAIN_RECALL_BATCH_H_
#define MAMBA_EXPLAIN_TOOLS_TRAIN_RECALL_BATCH_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "eval/tasks/copy_task.h"
#include "eval/tasks/recall_task.h"

namespace mamba_explain {

// The training seed of key group `group` at `step` (a splitmix64 mix, so training streams never
// coincide with the small evaluation seeds such as 4242 or seed + 1000003).
uint64_t RecallTrainSeed(uint64_t seed, int64_t step, int group);

// ids [B, T] int64 and targets [B, T] (the gold value at each sample's query position). Errors of
// MakeRecallVocab (keys that do not fit the vocabulary or the context); INVALID_ARGUMENT for an
// empty `keys` or batch < 1.
absl::StatusOr<CopyBatch> MakeRecallBatch(int64_t batch, int context, const std::vector<int>& keys,
                                          int64_t vocab, int64_t step, uint64_t seed);

// The same layout from given samples (equal lengths), for evaluation.
CopyBatch RecallSamplesToBatch(const std::vector<RecallSample>& samples);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_TOOLS_TRAIN_RECALL_BATCH_H_
