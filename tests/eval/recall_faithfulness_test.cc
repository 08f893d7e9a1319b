// The retrieval evaluation (recall task) and the decomposition error at scale (issue 16 items 2
// and 4): ScoreRecallRow on hand-made rows (gold value / pair metrics, first-key shares), the
// layer bins, and end-to-end runs on a committed model (CPU, a few samples): the report holds every
// key count and method, and LaTIM with f = identity is exact on an identity-trained model.
#include "eval/recall_faithfulness.h"

#include <gtest/gtest.h>

#include <cmath>

#include "eval/decomposition_error.h"
#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"

namespace mamba_explain {
namespace {

// n = 8 context tokens (positions 1..8), T = 12: pairs at (2,3), (5,6), (7,8); gold = pair 1.
RecallSample HandSample(int gold) {
  RecallSample s;
  s.ids = {0, 20, 2, 8, 21, 3, 9, 4, 10, 1, 0, 0};
  s.key_pos = {2, 5, 7};
  s.gold = gold;
  s.gold_key_pos = s.key_pos[gold];
  s.gold_value_pos = s.gold_key_pos + 1;
  s.gold_first = gold == 0;
  s.query_pos = 10;
  s.ids[10] = s.ids[s.gold_key_pos];
  s.ids[11] = s.ids[s.gold_value_pos];
  return s;
}

TEST(ScoreRecallRowTest, PerfectRowAndShares) {
  const RecallSample s = HandSample(1);
  //                        0    1    2    3    4    5    6    7    8    9   10   11
  std::vector<float> row = {9, 0.0, 1.0, 1.0, 0.0, 2.0, 4.0, 0.5, 0.5, 9, 9, 0};
  ASSERT_OK_AND_ASSIGN(RecallRowScores r, ScoreRecallRow(row, s));
  EXPECT_DOUBLE_EQ(r.auc, 1.0);  // value (6) above all 7 others; BOS/SEP/query not candidates
  EXPECT_DOUBLE_EQ(r.ap, 1.0);
  EXPECT_DOUBLE_EQ(r.recall_at_k, 1.0);
  EXPECT_DOUBLE_EQ(r.pair_ap, 1.0);  // key 5 (2.0) second
  const double total = 9.0;          // Σ|s| over positions 1..8
  EXPECT_DOUBLE_EQ(r.gold_share, 6.0 / total);
  EXPECT_DOUBLE_EQ(r.first_share, 2.0 / total);
  EXPECT_DOUBLE_EQ(r.other_share, 1.0 / total);  // pair (7,8) only
  EXPECT_DOUBLE_EQ(r.first_over_gold, 0.0);
}

TEST(ScoreRecallRowTest, FirstKeyBiasedRow) {
  const RecallSample s = HandSample(2);
  std::vector<float> row = {0, 0.0, 3.0, 3.0, 0.0, 1.0, 0.0, 0.0, 2.0, 0, 0, 0};
  ASSERT_OK_AND_ASSIGN(RecallRowScores r, ScoreRecallRow(row, s));
  // Gold value at 8 (2.0) is ranked third of 8: AP = 1/3, R@1 = 0, AUC = 5/7.
  EXPECT_NEAR(r.ap, 1.0 / 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(r.recall_at_k, 0.0);
  EXPECT_NEAR(r.auc, 5.0 / 7.0, 1e-12);
  EXPECT_DOUBLE_EQ(r.first_over_gold, 1.0);
  EXPECT_DOUBLE_EQ(r.first_share, 6.0 / 9.0);
  EXPECT_DOUBLE_EQ(r.gold_share, 2.0 / 9.0);
  EXPECT_DOUBLE_EQ(r.other_share, 1.0 / 9.0);  // pair (5,6)
}

TEST(ScoreRecallRowTest, GoldFirstHasNoBiasNumbersAndSizesAreChecked) {
  const RecallSample s = HandSample(0);
  std::vector<float> row(12, 1.0f);
  ASSERT_OK_AND_ASSIGN(RecallRowScores r, ScoreRecallRow(row, s));
  EXPECT_DOUBLE_EQ(r.auc, 0.5);  // all tied
  EXPECT_TRUE(std::isnan(r.gold_share));
  EXPECT_TRUE(std::isnan(r.first_over_gold));
  EXPECT_FALSE(ScoreRecallRow(std::vector<float>(11, 0.0f), s).ok());
  row[3] = std::nanf("");
  ASSERT_OK_AND_ASSIGN(RecallRowScores bad, ScoreRecallRow(row, s));
  EXPECT_TRUE(std::isnan(bad.ap));
}

TEST(LayerBinsTest, EqualContiguousRanges) {
  using Bins = std::vector<std::pair<int, int>>;
  EXPECT_EQ(LayerBins(24, 4), (Bins{{0, 5}, {6, 11}, {12, 17}, {18, 23}}));
  EXPECT_EQ(LayerBins(8, 3), (Bins{{0, 1}, {2, 4}, {5, 7}}));
  EXPECT_EQ(LayerBins(2, 4), (Bins{{0, 0}, {1, 1}}));
  EXPECT_EQ(LayerBins(5, 0), (Bins{{0, 4}}));
}

std::unique_ptr<Engine> LoadModel(const std::string& name) {
  auto engine = Engine::Load(me_testing::SourceDir() + "/models/" + name, EngineOptions{});
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? std::move(engine).value() : nullptr;
}

TEST(RecallFaithfulnessTest, ReportHoldsEveryKeyCountAndMethod) {
  std::unique_ptr<Engine> engine = LoadModel("copy-mamba1-silu");  // vocab 16: 4 key ids
  ASSERT_NE(engine, nullptr);
  RecallFaithfulnessOptions o;
  o.length = 12;
  o.keys = {1, 2, 4};
  o.samples = 6;
  o.methods = {"latim-l2", "grad-x-input"};
  o.model_name = "copy-mamba1-silu";
  ASSERT_OK_AND_ASSIGN(RecallFaithfulnessReport r, EvaluateRecallFaithfulness(*engine, o));
  ASSERT_EQ(r.by_keys.size(), 3u);
  for (const RecallKeysReport& k : r.by_keys) {
    EXPECT_EQ(k.samples, 6);
    EXPECT_EQ(k.gold_first_samples + k.other_samples, 6);
    EXPECT_GE(k.accuracy, 0.0);
    EXPECT_LE(k.accuracy, 1.0);
    EXPECT_GE(k.wrong_not_first, k.wrong_first_value + k.wrong_other_value);
    ASSERT_EQ(k.methods.size(), 2u);
    EXPECT_EQ(k.methods[0].method, "latim-l2");
    EXPECT_EQ(k.methods[0].layers.size(), 2u);  // layers 0 and 1
    EXPECT_EQ(k.methods[1].layers.size(), 1u);  // whole model
    EXPECT_EQ(k.methods[1].layers[0].layer, -1);
    for (const RecallMethodFaithfulness& m : k.methods) {
      EXPECT_EQ(m.samples, 6);
      const RecallLayerFaithfulness& best = m.layers[m.best];
      EXPECT_EQ(best.ap.count, 6);
      EXPECT_GE(best.auc.mean, 0.0);
      EXPECT_LE(best.auc.mean, 1.0);
      // Bias numbers only where the gold pair is not first (never for one key).
      EXPECT_EQ(best.first_over_gold.count, k.keys == 1 ? 0 : k.other_samples);
      if (k.keys < 4) {
        EXPECT_EQ(best.other_share.count, 0);
      }
    }
  }
  nlohmann::json j = RecallReportToJson(r);
  EXPECT_EQ(j["task"], "recall");
  EXPECT_EQ(j["by_keys"].size(), 3u);
  EXPECT_TRUE(j["by_keys"][0]["methods"][0]["best"].contains("pair_ap"));
  const std::string md = RecallReportToMarkdown(r);
  EXPECT_NE(md.find("| latim-l2 |"), std::string::npos);
  EXPECT_NE(md.find("### 4 keys"), std::string::npos);
  o.keys = {5};
  EXPECT_FALSE(EvaluateRecallFaithfulness(*engine, o).ok());
  o.keys = {2};
  o.methods = {"latim-l9"};
  EXPECT_FALSE(EvaluateRecallFaithfulness(*engine, o).ok());
}

TEST(DecompositionErrorTest, IdentityIsExactOnTheIdentityModelAndBinsAverageLayers) {
  std::unique_ptr<Engine> engine = LoadModel("copy-mamba2-identity");
  ASSERT_NE(engine, nullptr);
  DecompositionErrorOptions o;
  o.task = "random";
  o.length = 20;
  o.samples = 2;
  o.bins = 1;
  ASSERT_OK_AND_ASSIGN(DecompositionErrorReport r, EvaluateDecompositionError(*engine, o));
  EXPECT_EQ(r.n_layers, 2);
  EXPECT_EQ(r.tokens, 20);
  ASSERT_EQ(r.bins.size(), 1u);
  for (int l = 0; l < 2; ++l) {
    EXPECT_EQ(r.per_layer["identity"][l].count, 2);
    EXPECT_LT(r.per_layer["identity"][l].mean, 1e-5) << l;
    EXPECT_GT(r.per_layer["silu"][l].mean, 1e-3) << l;
    EXPECT_GT(r.per_layer["relu"][l].mean, 1e-3) << l;
  }
  EXPECT_NEAR(r.binned["silu"][0], (r.per_layer["silu"][0].mean + r.per_layer["silu"][1].mean) / 2,
              1e-12);
  nlohmann::json j = DecompositionReportToJson(r);
  EXPECT_EQ(j["per_layer"]["relu"].size(), 2u);
  EXPECT_NE(DecompositionReportToMarkdown(r).find("| layers 0–1 |"), std::string::npos);
  o.task = "recall";
  o.length = 12;
  o.keys = 2;
  o.activations = {"identity"};
  ASSERT_OK_AND_ASSIGN(DecompositionErrorReport recall, EvaluateDecompositionError(*engine, o));
  EXPECT_EQ(recall.tokens, 16);
  o.task = "sort";
  EXPECT_FALSE(EvaluateDecompositionError(*engine, o).ok());
  o.task = "random";
  o.activations = {"tanh"};
  EXPECT_FALSE(EvaluateDecompositionError(*engine, o).ok());
}

}  // namespace
}  // namespace mamba_explain
