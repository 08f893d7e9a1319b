// Data of the trainer's `text` task (next-token prediction on English text): a corpus directory
// holding train.txt and valid.txt (tools/textlm/make_corpus.py) is tokenized once with the
// model's tokenizer.json into two int64 id streams. Training batches are windows at uniform
// random starts of the train stream; held-out batches are the consecutive non-overlapping
// windows of the valid stream, in order. Every position of a window has a target (the next id),
// so the loss is the mean next-token cross-entropy in nats. Seeded: the same generator state
// gives the same batch.
#ifndef MAMBA_EXPLAIN_TOOLS_TRAIN_TEXT_BATCH_H_
#define MAMBA_EXPLAIN_TOOLS_TRAIN_TEXT_BATCH_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "eval/tasks/copy_task.h"
#include "model/tokenizer.h"

namespace mamba_explain {

struct TextCorpus {
  torch::Tensor train;  // [n_train] int64 token ids
  torch::Tensor valid;  // [n_valid] int64 token ids
  int64_t vocab_size = 0;
};

// The ids of a UTF-8 text file. NOT_FOUND for a missing file; the tokenizer's errors otherwise.
absl::StatusOr<torch::Tensor> TokenizeTextFile(const Tokenizer& tokenizer,
                                               const std::string& path);  // [n] int64

// Tokenizes corpus_dir/train.txt and corpus_dir/valid.txt. INVALID_ARGUMENT when a split has
// fewer than 2 tokens.
absl::StatusOr<TextCorpus> LoadTextCorpus(const std::string& corpus_dir,
                                          const std::string& tokenizer_path);

// ids [batch, length] = tokens[s : s + length] and targets = tokens[s + 1 : s + length + 1] for
// starts s drawn uniformly from [0, n − length − 1]. INVALID_ARGUMENT when the stream is not
// longer than `length` or batch/length < 1.
absl::StatusOr<CopyBatch> MakeTextBatch(const torch::Tensor& tokens, int64_t batch, int64_t length,
                                        torch::Generator& gen);

// The first min(max_windows, ⌊(n − 1) / length⌋) consecutive windows of `tokens` (window w
// starts at w·length), grouped into batches of at most `batch` windows. Empty when the stream is
// too short for one window.
std::vector<CopyBatch> HeldOutTextBatches(const torch::Tensor& tokens, int64_t length,
                                          int64_t batch, int64_t max_windows);

// Cross-entropy in nats per token of `eval` under the unigram distribution of `train` with
// add-one smoothing over `vocab` ids: the baseline a language model has to beat.
double UnigramCrossEntropy(const torch::Tensor& train, const torch::Tensor& eval, int64_t vocab);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_TOOLS_TRAIN_TEXT_BATCH_H_
