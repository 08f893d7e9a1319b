// Held-out next-token loss of a language model on a token stream, through our own forward pass
// (fp32, no gradients): the mean cross-entropy in nats over every position of the consecutive
// windows of text_batch.h's HeldOutTextBatches, and the argmax next-token accuracy. Used by the
// trainer's `text` task for its validation loss and by the committed text model's quality test.
#ifndef MAMBA_EXPLAIN_TOOLS_TRAIN_TEXT_EVAL_H_
#define MAMBA_EXPLAIN_TOOLS_TRAIN_TEXT_EVAL_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "mamba/mamba_model.h"

namespace mamba_explain {

struct TextEvalResult {
  double loss = 0;            // nats per token
  double token_accuracy = 0;  // argmax = next token
  int64_t tokens = 0;         // positions scored
};

// INVALID_ARGUMENT when `tokens` holds no full window of `length` (+ 1 for the last target) or
// an id is outside the model's vocabulary.
absl::StatusOr<TextEvalResult> EvaluateTextLoss(const MambaModel& model,
                                                const torch::Tensor& tokens, int64_t length,
                                                int64_t max_windows);

// Loads model_dir (config.json, model.safetensors, tokenizer.json) on `device`, tokenizes
// `text_path` with the model's tokenizer and scores it as above.
absl::StatusOr<TextEvalResult> EvaluateTextModel(const std::string& model_dir,
                                                 const std::string& text_path, int64_t length,
                                                 int64_t max_windows, const std::string& device);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_TOOLS_TRAIN_TEXT_EVAL_H_
