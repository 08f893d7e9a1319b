// The trainer's text task: batches are next-token windows of the id stream, held-out windows are
// consecutive and complete, the unigram baseline is the smoothed cross-entropy it promises, the
// corpus loads through the tokenizer, and a short run on a tiny repetitive corpus learns (held-
// out loss far below its unigram baseline) and writes a model directory with its tokenizer.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "model/tokenizer.h"
#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"
#include "tools/train/copy_trainer.h"
#include "tools/train/text_batch.h"
#include "tools/train/text_eval.h"

namespace mamba_explain {
namespace {

using torch::indexing::Slice;

std::string TextTokenizer() {
  return me_testing::SourceDir() + "/models/text-mamba1/tokenizer.json";
}

TEST(TextBatchTest, WindowsOfTheStreamWithNextTokenTargets) {
  torch::Tensor stream = torch::arange(100, 150, torch::kInt64);  // ids = 100 + position
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  ASSERT_OK_AND_ASSIGN(CopyBatch b, MakeTextBatch(stream, 64, 10, gen));
  ASSERT_EQ(b.ids.sizes(), torch::IntArrayRef({64, 10}));
  ASSERT_EQ(b.targets.sizes(), torch::IntArrayRef({64, 10}));
  EXPECT_TRUE(b.targets.equal(b.ids + 1));  // the next token at every position
  torch::Tensor starts = (b.ids.select(1, 0) - 100).contiguous();
  EXPECT_TRUE((b.ids - b.ids.select(1, 0).unsqueeze(1))
                  .equal(torch::arange(10, torch::kInt64).expand({64, 10})));
  EXPECT_GE(starts.min().item<int64_t>(), 0);
  EXPECT_LE(starts.max().item<int64_t>(), 50 - 10 - 1);  // the last target is the last id
  const int64_t* start = starts.data_ptr<int64_t>();
  EXPECT_GT(std::set<int64_t>(start, start + 64).size(), 20u);  // random starts
  auto gen_again = at::make_generator<at::CPUGeneratorImpl>(3);
  ASSERT_OK_AND_ASSIGN(CopyBatch again, MakeTextBatch(stream, 64, 10, gen_again));
  EXPECT_TRUE(again.ids.equal(b.ids));
  EXPECT_FALSE(MakeTextBatch(stream, 4, 50, gen).ok());  // no room for the last target
  EXPECT_TRUE(MakeTextBatch(stream, 4, 49, gen).ok());
}

TEST(TextBatchTest, HeldOutWindowsAreConsecutive) {
  torch::Tensor stream = torch::arange(0, 23, torch::kInt64);
  std::vector<CopyBatch> batches = HeldOutTextBatches(stream, 5, 3, 100);  // ⌊22 / 5⌋ = 4
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].ids.size(0), 3);
  EXPECT_EQ(batches[1].ids.size(0), 1);
  EXPECT_TRUE(batches[0].ids.reshape({-1}).equal(torch::arange(0, 15, torch::kInt64)));
  EXPECT_TRUE(batches[1].ids.reshape({-1}).equal(torch::arange(15, 20, torch::kInt64)));
  EXPECT_TRUE(batches[1].targets.equal(batches[1].ids + 1));
  EXPECT_EQ(HeldOutTextBatches(stream, 5, 3, 2).size(), 1u);
  EXPECT_TRUE(HeldOutTextBatches(stream, 23, 3, 100).empty());
}

TEST(TextBatchTest, UnigramCrossEntropyIsSmoothedTrainFrequencies) {
  // Train counts over V = 4: id 0 ×3, id 1 ×1, ids 2, 3 ×0 → +1 each: 4, 2, 1, 1 of 8.
  torch::Tensor train = torch::tensor({0, 0, 0, 1}, torch::kInt64);
  torch::Tensor eval = torch::tensor({0, 1, 3}, torch::kInt64);
  const double want = -(std::log(4.0 / 8) + std::log(2.0 / 8) + std::log(1.0 / 8)) / 3;
  EXPECT_NEAR(UnigramCrossEntropy(train, eval, 4), want, 1e-12);
}

// A tiny corpus directory of repeated sentences: a model must learn it well beyond unigrams.
std::string WriteTinyCorpus(const std::string& dir) {
  std::filesystem::create_directories(dir);
  const char* lines[] = {"cat: a small domesticated feline; \"the cat sat on the mat\"\n",
                         "dog: a domesticated canine; \"the dog ran to the gate\"\n",
                         "bird: a warm-blooded egg-laying vertebrate; \"the bird sang\"\n"};
  std::ofstream train(dir + "/train.txt"), valid(dir + "/valid.txt");
  for (int i = 0; i < 60; ++i) train << lines[i % 3];
  for (int i = 0; i < 6; ++i) valid << lines[(i * 2) % 3];
  return dir;
}

TEST(TextCorpusTest, LoadsBothSplitsThroughTheTokenizer) {
  const std::string dir = WriteTinyCorpus(::testing::TempDir() + "/text_corpus_load");
  ASSERT_OK_AND_ASSIGN(TextCorpus c, LoadTextCorpus(dir, TextTokenizer()));
  ASSERT_OK_AND_ASSIGN(auto tokenizer, Tokenizer::FromFile(TextTokenizer()));
  EXPECT_EQ(c.vocab_size, tokenizer->vocab_size());
  std::vector<int32_t> ids(c.valid.data_ptr<int64_t>(),
                           c.valid.data_ptr<int64_t>() + c.valid.numel());
  ASSERT_OK_AND_ASSIGN(std::string text, tokenizer->Decode(ids));
  std::ifstream in(dir + "/valid.txt");
  std::string want((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, want);
  EXPECT_FALSE(LoadTextCorpus(::testing::TempDir() + "/no_such_corpus", TextTokenizer()).ok());
}

TEST(TextTrainerTest, ShortRunBeatsTheUnigramBaseline) {
  CopyTrainOptions o;
  o.task = "text";
  o.corpus_dir = WriteTinyCorpus(::testing::TempDir() + "/text_corpus_train");
  o.tokenizer = TextTokenizer();
  o.arch = Architecture::kMamba1;
  o.n_layers = 1;
  o.d_model = 32;
  o.d_state = 8;
  o.length = 24;
  o.steps = 150;
  o.batch = 8;
  o.lr = 1e-2;
  o.warmup = 20;
  o.seed = 2;
  o.log_every = 50;
  o.out_dir = ::testing::TempDir() + "/text_model";
  std::filesystem::remove_all(o.out_dir);
  ASSERT_OK_AND_ASSIGN(CopyEvalResult r, TrainCopyModel(o));
  ASSERT_TRUE(std::isfinite(r.baseline_loss));
  EXPECT_LT(r.loss, r.baseline_loss - 1.0)
      << "held-out loss " << r.loss << " vs unigram " << r.baseline_loss;
  EXPECT_TRUE(std::filesystem::exists(o.out_dir + "/tokenizer.json"));
  ASSERT_OK_AND_ASSIGN(
      TextEvalResult again,
      EvaluateTextModel(o.out_dir, o.corpus_dir + "/valid.txt", o.length, 1 << 30, "cpu"));
  EXPECT_NEAR(again.loss, r.loss, 1e-5);
}

}  // namespace
}  // namespace mamba_explain
