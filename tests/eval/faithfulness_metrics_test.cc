// Hand-computed cases for AUC, AP and R@K (faithfulness_metrics.h), plus the two examples of the
// scikit-learn documentation (roc_auc_score, average_precision_score) as independent references.
#include "eval/faithfulness_metrics.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tests/status_matchers.h"

namespace mamba_explain {
namespace {

TEST(FaithfulnessMetricsTest, PerfectScoresGiveOne) {
  const std::vector<uint8_t> gold = {0, 1, 1, 0, 0, 1, 0};
  std::vector<float> scores(gold.begin(), gold.end());
  ASSERT_OK_AND_ASSIGN(InstanceMetrics m, ComputeInstanceMetrics(scores, gold));
  EXPECT_DOUBLE_EQ(m.auc, 1.0);
  EXPECT_DOUBLE_EQ(m.ap, 1.0);
  EXPECT_DOUBLE_EQ(m.recall_at_k, 1.0);
}

TEST(FaithfulnessMetricsTest, InvertedScoresGiveZeroAucAndBaseRateAp) {
  const std::vector<uint8_t> gold = {0, 1, 1, 0, 0, 1, 0};
  std::vector<float> scores;
  for (uint8_t g : gold) scores.push_back(1.0f - g);
  ASSERT_OK_AND_ASSIGN(InstanceMetrics m, ComputeInstanceMetrics(scores, gold));
  EXPECT_DOUBLE_EQ(m.auc, 0.0);
  // First threshold admits only negatives (recall 0); the second admits all: precision 3/7.
  EXPECT_DOUBLE_EQ(m.ap, 3.0 / 7.0);
  EXPECT_DOUBLE_EQ(m.recall_at_k, 0.0);
}

TEST(FaithfulnessMetricsTest, AllTiedScoresGiveChance) {
  const std::vector<uint8_t> gold = {0, 1, 1, 0, 0, 1, 0, 0};
  const std::vector<float> scores(gold.size(), 0.25f);
  ASSERT_OK_AND_ASSIGN(InstanceMetrics m, ComputeInstanceMetrics(scores, gold));
  EXPECT_DOUBLE_EQ(m.auc, 0.5);
  EXPECT_DOUBLE_EQ(m.ap, 3.0 / 8.0);
  EXPECT_DOUBLE_EQ(m.recall_at_k, 3.0 / 8.0);  // expected hits over random tie breaks
}

TEST(FaithfulnessMetricsTest, SmallCaseWithTiesByHand) {
  // Positives 0.9 and 0.5; negatives 0.5 and 0.1.
  const std::vector<float> scores = {0.9f, 0.5f, 0.5f, 0.1f};
  const std::vector<uint8_t> gold = {1, 0, 1, 0};
  // AUC: pairs (0.9,0.5)=1, (0.9,0.1)=1, (0.5,0.5)=½, (0.5,0.1)=1 → 3.5/4.
  EXPECT_DOUBLE_EQ(RocAuc(scores, gold), 0.875);
  // AP: threshold 0.9: R=½, P=1; threshold 0.5: R=1, P=⅔; threshold 0.1 adds no recall.
  EXPECT_NEAR(AveragePrecision(scores, gold), 0.5 * 1.0 + 0.5 * 2.0 / 3.0, 1e-12);
  // R@K, K=2: 0.9 is a hit; the tied pair {0.5+, 0.5−} fills one place: ½ expected hit.
  EXPECT_DOUBLE_EQ(RecallAtTopK(scores, gold), 0.75);
}

TEST(FaithfulnessMetricsTest, MatchesScikitLearnDocumentationExamples) {
  // sklearn.metrics.roc_auc_score / average_precision_score docstrings:
  // y_true = [0, 0, 1, 1], y_scores = [0.1, 0.4, 0.35, 0.8] → AUC 0.75, AP 0.8333….
  const std::vector<float> scores = {0.1f, 0.4f, 0.35f, 0.8f};
  const std::vector<uint8_t> gold = {0, 0, 1, 1};
  EXPECT_DOUBLE_EQ(RocAuc(scores, gold), 0.75);
  EXPECT_NEAR(AveragePrecision(scores, gold), 0.8333333333, 1e-9);
  EXPECT_DOUBLE_EQ(RecallAtTopK(scores, gold), 0.5);  // top 2: 0.8 (hit), 0.4 (miss)
}

TEST(FaithfulnessMetricsTest, InputOrderDoesNotMatter) {
  const std::vector<float> scores = {0.3f, 0.7f, 0.7f, 0.1f, 0.7f, 0.2f, 0.3f};
  const std::vector<uint8_t> gold = {1, 0, 1, 0, 1, 0, 0};
  std::vector<float> reversed_scores(scores.rbegin(), scores.rend());
  std::vector<uint8_t> reversed_gold(gold.rbegin(), gold.rend());
  EXPECT_DOUBLE_EQ(RocAuc(scores, gold), RocAuc(reversed_scores, reversed_gold));
  EXPECT_DOUBLE_EQ(AveragePrecision(scores, gold),
                   AveragePrecision(reversed_scores, reversed_gold));
  EXPECT_DOUBLE_EQ(RecallAtTopK(scores, gold), RecallAtTopK(reversed_scores, reversed_gold));
}

TEST(FaithfulnessMetricsTest, UndefinedCasesAreNaN) {
  const std::vector<float> scores = {0.1f, 0.2f, 0.3f};
  const std::vector<uint8_t> none = {0, 0, 0}, all = {1, 1, 1};
  ASSERT_OK_AND_ASSIGN(InstanceMetrics no_positives, ComputeInstanceMetrics(scores, none));
  EXPECT_TRUE(std::isnan(no_positives.auc));
  EXPECT_TRUE(std::isnan(no_positives.ap));
  EXPECT_TRUE(std::isnan(no_positives.recall_at_k));
  ASSERT_OK_AND_ASSIGN(InstanceMetrics no_negatives, ComputeInstanceMetrics(scores, all));
  EXPECT_TRUE(std::isnan(no_negatives.auc));
  EXPECT_DOUBLE_EQ(no_negatives.ap, 1.0);
  EXPECT_DOUBLE_EQ(no_negatives.recall_at_k, 1.0);
}

TEST(FaithfulnessMetricsTest, RejectsBadInput) {
  EXPECT_EQ(ComputeInstanceMetrics({0.1f, 0.2f}, {1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ComputeInstanceMetrics({}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ComputeInstanceMetrics({0.1f, NAN}, {1, 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ComputeInstanceMetrics({0.1f, 0.2f}, {1, 2}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mamba_explain
