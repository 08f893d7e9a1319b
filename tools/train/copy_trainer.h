// Trains a Mamba-1 or Mamba-2 model on the copying task (copy_task.h), the recall task
// (recall_task.h: key–value pairs among distractors, the query's value is the one target;
// recall_batch.h) or the text task (next-token prediction on a tokenized English corpus;
// text_batch.h, text_eval.h) through our own forward pass with LibTorch autograd: AdamW, linear
// warmup then inverse-square-root decay, gradient clipping at 1, optional mimetic initialisation of
// one layer. Writes the model directory (HF format), a JSON-lines training log, and a resumable
// checkpoint (optimizer state + step). Runs are deterministic for a given seed and device.
#ifndef MAMBA_EXPLAIN_TOOLS_TRAIN_COPY_TRAINER_H_
#define MAMBA_EXPLAIN_TOOLS_TRAIN_COPY_TRAINER_H_

#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "model/config.h"

namespace mamba_explain {

struct CopyTrainOptions {
  std::string task = "copy";  // copy | recall | text
  Architecture arch = Architecture::kMamba1;
  int n_layers = 2;
  int d_model = 64;
  int d_state = 16;
  int head_dim = 16;  // Mamba-2
  int vocab = 32;     // text: taken from the tokenizer
  int length = 20;    // copy: source string length; recall: context tokens between BOS and SEP;
                      // text: window length in tokens
  std::vector<int> keys = {1, 2, 4};  // recall: key counts, mixed within every batch
  int steps = 1000;
  int batch = 64;
  double lr = 7e-4;
  int warmup = 100;
  double weight_decay = 0.1;
  uint64_t seed = 0;
  SsmActivation activation = SsmActivation::kSilu;
  int mimetic_layer = -1;
  std::string device = "cpu";
  std::string out_dir;
  bool resume = false;
  double max_minutes = 0;  // > 0: checkpoint and stop after this long (resume later)
  int log_every = 50;
  int eval_samples = 1024;  // text: held-out windows of `length` tokens
  double clip_norm = 1.0;   // global gradient-norm clipping; 0 = none (the LaTIM paper's setup)
  bool tf32 = false;  // TF32 tensor cores for training matmuls (CUDA; speed over bit-exactness)
  std::string corpus_dir;  // text: train.txt + valid.txt (tools/textlm/make_corpus.py)
  std::string tokenizer;   // text: tokenizer.json, copied into out_dir
};

// Recall accuracy (argmax at the query position = the gold value) for one key count, split by
// whether the queried pair is the first in the context (LaTIM Table 4's first-key split).
struct RecallKeysAccuracy {
  int keys = 0;
  int samples = 0;
  double accuracy = 0;
  int gold_first_samples = 0;
  double gold_first_accuracy = 0;  // NaN when no sample has the gold pair first
  int other_samples = 0;
  double other_accuracy = 0;  // gold pair not first; NaN when none
  double loss = 0;
};

struct CopyEvalResult {
  double token_accuracy = 0;     // over every copied token (recall: every answer)
  double sequence_accuracy = 0;  // whole copy correct (recall: = token_accuracy)
  double loss = 0;
  std::vector<RecallKeysAccuracy> recall;  // recall task: one entry per key count
  // Text task: the unigram cross-entropy of the held-out split (train counts, add-one smoothing),
  // the baseline `loss` is to beat; NaN for the other tasks.
  double baseline_loss = std::numeric_limits<double>::quiet_NaN();
};

// Trains (or resumes) and writes out_dir. Returns the held-out evaluation of the final model.
absl::StatusOr<CopyEvalResult> TrainCopyModel(const CopyTrainOptions& options);

// Greedy-free teacher-forced evaluation of a saved model on `samples` fresh copy samples drawn
// with `seed` (held out from training, which uses other seeds).
absl::StatusOr<CopyEvalResult> EvaluateCopyModel(const std::string& model_dir, int length,
                                                 int samples, uint64_t seed,
                                                 const std::string& device);

// The recall model's accuracy per key count on `samples` samples per count, drawn with
// MakeRecallSamples(RecallSpec{context, k, vocab}, samples, seed) — the stream of
// `mamba-explain-eval recall` for the same seed.
absl::StatusOr<CopyEvalResult> EvaluateRecallModel(const std::string& model_dir, int context,
                                                   const std::vector<int>& keys, int samples,
                                                   uint64_t seed, const std::string& device);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_TOOLS_TRAIN_COPY_TRAINER_H_
