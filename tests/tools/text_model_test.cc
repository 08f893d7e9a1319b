// The committed text demo model (models/text-mamba1) has learned English beyond word
// frequencies: on a held-out WordNet sample it never saw in training (tests/fixtures/text/), its
// next-token loss from our forward pass is well below the sample's own unigram entropy — the
// lowest loss any model that ignores context can reach on it. Also: its tokenizer fits its
// vocabulary and round-trips the sample.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iostream>

#include "mamba/mamba_model.h"
#include "model/tokenizer.h"
#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"
#include "tools/train/text_batch.h"
#include "tools/train/text_eval.h"

namespace mamba_explain {
namespace {

const std::string kModel = "/models/text-mamba1";
const std::string kSample = "/tests/fixtures/text/wordnet_heldout.txt";

// The entropy in nats of the sample's own token frequencies.
double EmpiricalUnigramEntropy(const torch::Tensor& tokens) {
  torch::Tensor counts = torch::bincount(tokens).to(torch::kFloat64);
  torch::Tensor p = counts.index({counts > 0}) / tokens.numel();
  return -(p * p.log()).sum().item<double>();
}

TEST(TextModelTest, TokenizerFitsTheModelAndRoundTrips) {
  const std::string root = me_testing::SourceDir();
  ASSERT_OK_AND_ASSIGN(auto model, MambaModel::Load(root + kModel, LoadOptions()));
  ASSERT_OK_AND_ASSIGN(auto tokenizer, Tokenizer::FromFile(root + kModel + "/tokenizer.json"));
  EXPECT_EQ(tokenizer->vocab_size(), model->config().vocab_size);
  ASSERT_OK_AND_ASSIGN(torch::Tensor tokens, TokenizeTextFile(*tokenizer, root + kSample));
  std::vector<int32_t> ids(tokens.data_ptr<int64_t>(), tokens.data_ptr<int64_t>() + tokens.numel());
  ASSERT_OK_AND_ASSIGN(std::string text, tokenizer->Decode(ids));
  std::ifstream in(root + kSample);
  EXPECT_EQ(text, std::string((std::istreambuf_iterator<char>(in)), {}));
  // BPE compresses English: well under one token per byte.
  EXPECT_LT(static_cast<double>(tokens.numel()) / text.size(), 0.4);
}

TEST(TextModelTest, HeldOutLossIsFarBelowTheUnigramEntropy) {
  const std::string root = me_testing::SourceDir();
  ASSERT_OK_AND_ASSIGN(auto model, MambaModel::Load(root + kModel, LoadOptions()));
  ASSERT_OK_AND_ASSIGN(auto tokenizer, Tokenizer::FromFile(root + kModel + "/tokenizer.json"));
  ASSERT_OK_AND_ASSIGN(torch::Tensor tokens, TokenizeTextFile(*tokenizer, root + kSample));
  ASSERT_OK_AND_ASSIGN(TextEvalResult r, EvaluateTextLoss(*model, tokens, 128, 1 << 30));
  const double unigram = EmpiricalUnigramEntropy(tokens);
  std::cout << "held-out sample: " << r.tokens << " tokens, loss " << r.loss
            << " nats/token, accuracy " << r.token_accuracy << "; unigram entropy " << unigram
            << "\n";
  EXPECT_GT(r.tokens, 4000);
  EXPECT_TRUE(std::isfinite(r.loss));
  // A context-free model cannot go below `unigram`; the committed model is ≥ 1.5 nats under it
  // (models/text-mamba1/README.md records both numbers).
  EXPECT_LT(r.loss, unigram - 1.5) << "loss " << r.loss << " vs unigram entropy " << unigram;
  EXPECT_GT(r.token_accuracy, 0.25);
}

}  // namespace
}  // namespace mamba_explain
