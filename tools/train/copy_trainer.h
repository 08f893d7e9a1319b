// Trains a Mamba-1 or Mamba-2 model on the copying task (copy_task.h) through our own forward
// pass with LibTorch autograd: AdamW, linear warmup then inverse-square-root decay, gradient
// clipping at 1, optional mimetic initialisation of one layer. Writes the model directory
// (HF format), a JSON-lines training log, and a resumable checkpoint (optimizer state + step).
// Runs are deterministic for a given seed and device.
#ifndef MAMBA_EXPLAIN_TOOLS_TRAIN_COPY_TRAINER_H_
#define MAMBA_EXPLAIN_TOOLS_TRAIN_COPY_TRAINER_H_

#include <string>

#include "absl/status/status.h"
#include "model/config.h"

namespace mamba_explain {

struct CopyTrainOptions {
  Architecture arch = Architecture::kMamba1;
  int n_layers = 2;
  int d_model = 64;
  int d_state = 16;
  int head_dim = 16;  // Mamba-2
  int vocab = 32;
  int length = 20;  // source string length
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
  int eval_samples = 1024;
  double clip_norm = 1.0;  // global gradient-norm clipping; 0 = none (the LaTIM paper's setup)
  bool tf32 = false;       // TF32 tensor cores for training matmuls (CUDA; speed over bit-exactness)
};

struct CopyEvalResult {
  double token_accuracy = 0;     // over every copied token
  double sequence_accuracy = 0;  // whole copy correct
  double loss = 0;
};

// Trains (or resumes) and writes out_dir. Returns the held-out evaluation of the final model.
absl::StatusOr<CopyEvalResult> TrainCopyModel(const CopyTrainOptions& options);

// Greedy-free teacher-forced evaluation of a saved model on `samples` fresh copy samples drawn
// with `seed` (held out from training, which uses other seeds).
absl::StatusOr<CopyEvalResult> EvaluateCopyModel(const std::string& model_dir, int length,
                                                 int samples, uint64_t seed,
                                                 const std::string& device);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_TOOLS_TRAIN_COPY_TRAINER_H_
