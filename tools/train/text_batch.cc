#include "tools/train/text_batch.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/file_io.h"
#include "common/status_macros.h"

namespace mamba_explain {

absl::StatusOr<torch::Tensor> TokenizeTextFile(const Tokenizer& tokenizer,
                                               const std::string& path) {
  ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  ASSIGN_OR_RETURN(std::vector<int32_t> ids, tokenizer.Encode(text));
  torch::Tensor out = torch::empty({static_cast<int64_t>(ids.size())}, torch::kInt64);
  int64_t* p = out.data_ptr<int64_t>();
  for (size_t i = 0; i < ids.size(); ++i) p[i] = ids[i];
  return out;
}

absl::StatusOr<TextCorpus> LoadTextCorpus(const std::string& corpus_dir,
                                          const std::string& tokenizer_path) {
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, Tokenizer::FromFile(tokenizer_path));
  TextCorpus corpus;
  corpus.vocab_size = tokenizer->vocab_size();
  ASSIGN_OR_RETURN(corpus.train, TokenizeTextFile(*tokenizer, corpus_dir + "/train.txt"));
  ASSIGN_OR_RETURN(corpus.valid, TokenizeTextFile(*tokenizer, corpus_dir + "/valid.txt"));
  for (const auto& [name, t] : {std::pair{"train", &corpus.train}, {"valid", &corpus.valid}}) {
    if (t->numel() < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(corpus_dir, "/", name, ".txt: ", t->numel(), " tokens, at least 2 needed"));
    }
  }
  return corpus;
}

absl::StatusOr<CopyBatch> MakeTextBatch(const torch::Tensor& tokens, int64_t batch, int64_t length,
                                        torch::Generator& gen) {
  const int64_t n = tokens.numel();
  if (batch < 1 || length < 1 || n <= length) {
    return absl::InvalidArgumentError(absl::StrCat("text batch: batch=", batch, " length=", length,
                                                   " over ", n, " tokens (need n > length ≥ 1)"));
  }
  // Starts in [0, n − length − 1]: the last window's target is tokens[n − 1].
  torch::Tensor starts = torch::randint(n - length, {batch, 1}, gen, torch::kInt64);
  torch::Tensor offsets = torch::arange(length, torch::kInt64).unsqueeze(0);  // [1, length]
  torch::Tensor index = starts + offsets;                                     // [B, length]
  return CopyBatch{tokens.index({index}), tokens.index({index + 1})};
}

std::vector<CopyBatch> HeldOutTextBatches(const torch::Tensor& tokens, int64_t length,
                                          int64_t batch, int64_t max_windows) {
  std::vector<CopyBatch> batches;
  if (length < 1 || batch < 1) return batches;
  const int64_t windows = std::min(max_windows, (tokens.numel() - 1) / length);
  for (int64_t w0 = 0; w0 < windows; w0 += batch) {
    const int64_t count = std::min(batch, windows - w0);
    torch::Tensor index = (torch::arange(w0, w0 + count, torch::kInt64) * length).unsqueeze(1) +
                          torch::arange(length, torch::kInt64).unsqueeze(0);  // [count, length]
    batches.push_back(CopyBatch{tokens.index({index}), tokens.index({index + 1})});
  }
  return batches;
}

double UnigramCrossEntropy(const torch::Tensor& train, const torch::Tensor& eval, int64_t vocab) {
  torch::Tensor counts = torch::bincount(train, {}, vocab).to(torch::kFloat64) + 1.0;  // [V]
  torch::Tensor log_p = (counts / counts.sum()).log();
  return -log_p.index({eval}).mean().item<double>();
}

}  // namespace mamba_explain
