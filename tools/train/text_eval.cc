#include "tools/train/text_eval.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "model/tokenizer.h"
#include "tools/train/text_batch.h"

namespace mamba_explain {

absl::StatusOr<TextEvalResult> EvaluateTextLoss(const MambaModel& model,
                                                const torch::Tensor& tokens, int64_t length,
                                                int64_t max_windows) {
  const int64_t V = model.config().vocab_size;
  if (tokens.numel() > 0 &&
      (tokens.min().item<int64_t>() < 0 || tokens.max().item<int64_t>() >= V)) {
    return absl::InvalidArgumentError(absl::StrCat("text eval: token ids outside [0, ", V, ")"));
  }
  const std::vector<CopyBatch> batches = HeldOutTextBatches(tokens, length, 32, max_windows);
  if (batches.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("text eval: ", tokens.numel(),
                                                   " tokens hold no window of length ", length,
                                                   " (+1 target)"));
  }
  try {
    torch::NoGradGuard no_grad;
    double loss_sum = 0, correct = 0;
    TextEvalResult r;
    for (const CopyBatch& b : batches) {
      ForwardOptions options;
      ASSIGN_OR_RETURN(ForwardOutput out,
                       model.ForwardFromEmbeddings(model.Embed(b.ids.to(model.device())),
                                                   torch::Tensor(), options));
      torch::Tensor logits = out.logits.reshape({-1, out.logits.size(-1)});  // [B·L, V]
      torch::Tensor targets = b.targets.to(model.device()).reshape({-1});
      loss_sum += torch::nn::functional::cross_entropy(
                      logits, targets,
                      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                      .item<double>();
      correct += (logits.argmax(-1) == targets).sum().item<double>();
      r.tokens += targets.numel();
    }
    r.loss = loss_sum / r.tokens;
    r.token_accuracy = correct / r.tokens;
    return r;
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("text eval: ", e.what_without_backtrace()));
  }
}

absl::StatusOr<TextEvalResult> EvaluateTextModel(const std::string& model_dir,
                                                 const std::string& text_path, int64_t length,
                                                 int64_t max_windows, const std::string& device) {
  LoadOptions load;
  ASSIGN_OR_RETURN(load.device, ParseDevice(device));
  ASSIGN_OR_RETURN(auto model, MambaModel::Load(model_dir, load));
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer,
                   Tokenizer::FromFile(model_dir + "/tokenizer.json"));
  ASSIGN_OR_RETURN(torch::Tensor tokens, TokenizeTextFile(*tokenizer, text_path));
  return EvaluateTextLoss(*model, tokens, length, max_windows);
}

}  // namespace mamba_explain
