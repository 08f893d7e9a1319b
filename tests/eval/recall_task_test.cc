// The synthetic recall task's generator (eval/tasks/recall_task.h): layout, the known evidence,
// distinct keys and values, the id ranges, determinism, and the gold pair's uniform place.
#include "eval/tasks/recall_task.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "tests/status_matchers.h"

namespace mamba_explain {
namespace {

TEST(RecallVocabTest, ThreeDisjointRanges) {
  ASSERT_OK_AND_ASSIGN(RecallVocab v, MakeRecallVocab({64, 4, 32}));
  EXPECT_EQ(v.key_first, 2);
  EXPECT_EQ(v.key_count, 10);
  EXPECT_EQ(v.value_first, 12);
  EXPECT_EQ(v.value_count, 10);
  EXPECT_EQ(v.filler_first, 22);
  EXPECT_EQ(v.filler_count, 10);
  EXPECT_FALSE(MakeRecallVocab({64, 4, 12}).ok());  // 3 key ids for 4 keys
  EXPECT_FALSE(MakeRecallVocab({7, 4, 32}).ok());   // 4 pairs need 8 places
  EXPECT_FALSE(MakeRecallVocab({64, 0, 32}).ok());
}

class RecallSamplesTest : public ::testing::TestWithParam<int> {};

TEST_P(RecallSamplesTest, LayoutAndEvidence) {
  const int k = GetParam();
  const RecallSpec spec{48, k, 32};
  ASSERT_OK_AND_ASSIGN(RecallVocab v, MakeRecallVocab(spec));
  ASSERT_OK_AND_ASSIGN(std::vector<RecallSample> samples, MakeRecallSamples(spec, 400, 11));
  ASSERT_EQ(samples.size(), 400u);
  int first = 0;
  for (const RecallSample& s : samples) {
    ASSERT_EQ(s.ids.size(), 52u);
    EXPECT_EQ(s.ids[0], kRecallBos);
    EXPECT_EQ(s.ids[49], kRecallSep);
    EXPECT_EQ(s.query_pos, 50);
    ASSERT_EQ(s.key_pos.size(), static_cast<size_t>(k));
    std::set<int32_t> keys, values;
    std::set<int64_t> pair_places;
    for (size_t i = 0; i < s.key_pos.size(); ++i) {
      const int64_t p = s.key_pos[i];
      if (i > 0) EXPECT_GE(p, s.key_pos[i - 1] + 2);  // ascending, non-overlapping
      EXPECT_GE(p, 1);
      EXPECT_LE(p + 1, 48);
      keys.insert(s.ids[p]);
      values.insert(s.ids[p + 1]);
      pair_places.insert(p);
      pair_places.insert(p + 1);
      EXPECT_GE(s.ids[p], v.key_first);
      EXPECT_LT(s.ids[p], v.key_first + v.key_count);
      EXPECT_GE(s.ids[p + 1], v.value_first);
      EXPECT_LT(s.ids[p + 1], v.value_first + v.value_count);
    }
    EXPECT_EQ(keys.size(), static_cast<size_t>(k));
    EXPECT_EQ(values.size(), static_cast<size_t>(k));
    for (int64_t p = 1; p <= 48; ++p) {
      if (pair_places.count(p)) continue;
      EXPECT_GE(s.ids[p], v.filler_first) << p;
    }
    // The query is the gold key; the answer its value.
    EXPECT_EQ(s.gold_key_pos, s.key_pos[s.gold]);
    EXPECT_EQ(s.gold_value_pos, s.gold_key_pos + 1);
    EXPECT_EQ(s.ids[50], s.ids[s.gold_key_pos]);
    EXPECT_EQ(s.ids[51], s.ids[s.gold_value_pos]);
    EXPECT_EQ(s.gold_first, s.gold == 0);
    first += s.gold_first ? 1 : 0;
  }
  // The gold pair is uniform among the k: first with probability 1/k (±4 binomial std).
  const double p = 1.0 / k, sd = std::sqrt(400 * p * (1 - p));
  EXPECT_NEAR(first, 400 * p, 4 * sd + 1e-9);
}

INSTANTIATE_TEST_SUITE_P(Keys, RecallSamplesTest, ::testing::Values(1, 2, 4));

TEST(RecallSamplesTest, DeterministicPerSeed) {
  const RecallSpec spec{64, 2, 32};
  ASSERT_OK_AND_ASSIGN(std::vector<RecallSample> a, MakeRecallSamples(spec, 8, 3));
  ASSERT_OK_AND_ASSIGN(std::vector<RecallSample> b, MakeRecallSamples(spec, 8, 3));
  ASSERT_OK_AND_ASSIGN(std::vector<RecallSample> c, MakeRecallSamples(spec, 8, 4));
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].ids, b[i].ids);
  bool differs = false;
  for (size_t i = 0; i < a.size(); ++i) differs |= a[i].ids != c[i].ids;
  EXPECT_TRUE(differs);
}

TEST(RecallSamplesTest, LongContexts) {
  ASSERT_OK_AND_ASSIGN(std::vector<RecallSample> s, MakeRecallSamples({4096, 4, 64}, 2, 5));
  EXPECT_EQ(s[0].ids.size(), 4100u);
}

}  // namespace
}  // namespace mamba_explain
