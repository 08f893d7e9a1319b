// Engine::ExplainBatch: a padded batch of sequences of different lengths, each with its own target
// rows and ALTI-Logit target tokens, gives exactly the results of explaining each sequence alone
// (every LaTIM method, Mamba-1 and Mamba-2 fixtures); padding never shows; results stream in layer
// order; returning false cancels; bad input is INVALID_ARGUMENT. Also Engine::Explain's per-row
// target tokens.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "mamba/engine.h"
#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"

namespace mamba_explain {
namespace {

using me_testing::FixtureDir;

const std::vector<std::string> kMethods = {"latim-l1", "latim-l2", "latim-alti",
                                           "latim-alti-logit"};

std::vector<int32_t> Ids(int n, int salt) {
  std::vector<int32_t> ids;
  for (int i = 0; i < n; ++i) ids.push_back((7 * i + 13 * salt + 3) % 96);
  return ids;
}

std::unique_ptr<Engine> LoadEngine(const std::string& fixture) {
  auto engine = Engine::Load(FixtureDir(fixture), EngineOptions());
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? std::move(engine).value() : nullptr;
}

void ExpectRowNear(const AttributionResult& got, size_t got_row, const AttributionResult& want,
                   size_t want_row, const std::string& what) {
  ASSERT_EQ(got.columns, want.columns) << what;
  for (int64_t c = 0; c < got.columns; ++c) {
    const float a = got.at(got_row, c), b = want.at(want_row, c);
    EXPECT_LE(std::abs(a - b), 1e-5f + 1e-4f * std::abs(b)) << what << " column " << c;
  }
}

class EngineBatchTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EngineBatchTest, BatchEqualsSingles) {
  auto engine = LoadEngine(GetParam());
  ASSERT_NE(engine, nullptr);
  // Lengths 21, 9, 14: the shorter two are padded; rows: all / a list / the last position.
  std::vector<BatchSequence> batch(3);
  batch[0].ids = Ids(21, 0);
  batch[1].ids = Ids(9, 1);
  batch[1].rows = {3, 8};
  batch[1].targets = {5, 11};  // a different ALTI-Logit token per row
  batch[2].ids = Ids(14, 2);
  batch[2].rows = {13};
  batch[2].targets = {7};
  ExplainOptions options;
  options.methods = kMethods;
  options.layers = {0, 2};
  options.rows = ExplainOptions::Rows::kAll;  // sequence 0, which has no rows of its own

  std::map<std::tuple<int64_t, std::string, int>, AttributionResult> got;
  ASSERT_OK(engine->ExplainBatch(batch, options, [&](AttributionResult r) {
    auto key = std::make_tuple(r.sequence, r.method, r.layer);
    EXPECT_EQ(got.count(key), 0u);
    got[key] = std::move(r);
    return true;
  }));
  // 3 sequences x (3 per-layer methods x 2 layers + ALTI-Logit).
  ASSERT_EQ(got.size(), 3u * (3 * 2 + 1));

  for (int64_t b = 0; b < 3; ++b) {
    const BatchSequence& seq = batch[b];
    const int64_t n = static_cast<int64_t>(seq.ids.size());
    std::vector<int64_t> rows = seq.rows;
    if (rows.empty()) {
      for (int64_t t = 0; t < n; ++t) rows.push_back(t);
    }
    // The reference: each row of this sequence explained alone, with that row's target.
    for (size_t q = 0; q < rows.size(); ++q) {
      ExplainOptions single = options;
      single.rows = ExplainOptions::Rows::kList;
      single.row_list = {rows[q]};
      single.target_token = seq.targets.empty() ? -1 : seq.targets[q];
      ASSERT_OK_AND_ASSIGN(std::vector<AttributionResult> want, engine->Explain(seq.ids, single));
      ASSERT_EQ(want.size(), 3u * 2 + 1);
      for (const AttributionResult& w : want) {
        auto it = got.find({b, w.method, w.layer});
        ASSERT_NE(it, got.end()) << b << " " << w.method << " " << w.layer;
        const AttributionResult& r = it->second;
        const std::string what = absl::StrCat(GetParam(), " seq ", b, " ", w.method, " layer ",
                                              w.layer, " row ", rows[q]);
        EXPECT_EQ(r.columns, n) << what << ": padding must not appear";
        ASSERT_EQ(r.rows, rows) << what;
        ASSERT_EQ(r.matrix.size(), rows.size() * n) << what;
        ExpectRowNear(r, q, w, 0, what);
        if (w.method == "latim-alti-logit") {
          ASSERT_EQ(r.targets.size(), rows.size()) << what;
          EXPECT_EQ(r.targets[q], w.targets[0]) << what;
          if (!seq.targets.empty()) EXPECT_EQ(r.targets[q], seq.targets[q]) << what;
        }
      }
    }
  }
  // The whole-sequence approximation error of sequence 0 equals the single run's.
  ExplainOptions whole = options;
  ASSERT_OK_AND_ASSIGN(std::vector<AttributionResult> single0,
                       engine->Explain(batch[0].ids, whole));
  for (const AttributionResult& w : single0) {
    const AttributionResult& r = got.at({0, w.method, w.layer});
    EXPECT_NEAR(r.approx_error, w.approx_error, 1e-4 + 1e-3 * w.approx_error) << w.method;
  }
}

TEST_P(EngineBatchTest, StreamsInLayerOrderAndCancels) {
  auto engine = LoadEngine(GetParam());
  ASSERT_NE(engine, nullptr);
  std::vector<BatchSequence> batch(2);
  batch[0].ids = Ids(12, 3);
  batch[1].ids = Ids(5, 4);
  ExplainOptions options;
  options.methods = {"latim-l2", "latim-alti"};
  std::vector<std::tuple<int, int64_t, std::string>> order;
  ASSERT_OK(engine->ExplainBatch(batch, options, [&](AttributionResult r) {
    order.emplace_back(r.layer, r.sequence, r.method);
    return true;
  }));
  const int layers = static_cast<int>(engine->config().n_layers);
  ASSERT_EQ(order.size(), static_cast<size_t>(layers * 2 * 2));
  for (size_t i = 1; i < order.size(); ++i) {
    EXPECT_LE(std::get<0>(order[i - 1]), std::get<0>(order[i])) << "layer order";
  }
  int calls = 0;
  EXPECT_STATUS(engine->ExplainBatch(batch, options,
                                     [&](AttributionResult) {
                                       ++calls;
                                       return false;
                                     }),
                absl::StatusCode::kCancelled, "cancelled");
  EXPECT_EQ(calls, 1);
}

TEST_P(EngineBatchTest, RejectsBadInput) {
  auto engine = LoadEngine(GetParam());
  ASSERT_NE(engine, nullptr);
  ExplainOptions options;
  auto ignore = [](AttributionResult) { return true; };
  EXPECT_STATUS(engine->ExplainBatch({}, options, ignore), absl::StatusCode::kInvalidArgument,
                "no sequences");
  std::vector<BatchSequence> batch(2);
  batch[0].ids = Ids(6, 0);
  batch[1].ids = Ids(3, 1);
  batch[1].rows = {5};  // beyond its length 3 (but inside the padded width 6)
  EXPECT_STATUS(engine->ExplainBatch(batch, options, ignore), absl::StatusCode::kInvalidArgument,
                "length");
  batch[1].rows = {1};
  batch[1].targets = {96};
  options.methods = {"latim-alti-logit"};
  EXPECT_STATUS(engine->ExplainBatch(batch, options, ignore), absl::StatusCode::kInvalidArgument,
                "target token 96");
  batch[1].targets = {};
  batch[0].ids.clear();
  EXPECT_STATUS(engine->ExplainBatch(batch, options, ignore), absl::StatusCode::kInvalidArgument,
                "no ids");
}

// Engine::Explain with one target token per row (ExplainOptions::target_tokens, what the server
// passes): each row equals that row explained alone with --target = its token, for every
// output-dependent method; a token count that differs from the row count is INVALID_ARGUMENT.
TEST_P(EngineBatchTest, PerRowTargetTokensEqualSingleTargets) {
  auto engine = LoadEngine(GetParam());
  ASSERT_NE(engine, nullptr);
  const std::vector<int32_t> ids = Ids(11, 4);
  ExplainOptions options;
  options.methods = {"latim-alti-logit", "grad-x-input", "integrated-gradients",
                     "smoothgrad",       "mamba-lrp",    "mamba-attribution"};
  options.ig_steps = 4;
  options.sg_samples = 3;
  options.rows = ExplainOptions::Rows::kList;
  options.row_list = {9, 2, 6};  // resolved ascending: 2, 6, 9
  options.target_tokens = {17, 4, 60};
  ASSERT_OK_AND_ASSIGN(std::vector<AttributionResult> all, engine->Explain(ids, options));
  ASSERT_EQ(all.size(), options.methods.size());
  const std::vector<int64_t> rows = {2, 6, 9};
  for (size_t k = 0; k < rows.size(); ++k) {
    ExplainOptions one = options;
    one.row_list = {rows[k]};
    one.target_tokens.clear();
    one.target_token = options.target_tokens[k];
    ASSERT_OK_AND_ASSIGN(std::vector<AttributionResult> single, engine->Explain(ids, one));
    ASSERT_EQ(single.size(), all.size());
    for (size_t m = 0; m < all.size(); ++m) {
      const std::string what = absl::StrCat(all[m].method, " row ", rows[k]);
      ASSERT_EQ(all[m].method, single[m].method);
      EXPECT_EQ(all[m].rows, rows) << what;
      ASSERT_EQ(all[m].targets.size(), rows.size()) << what;
      EXPECT_EQ(all[m].targets[k], options.target_tokens[k]) << what;
      ExpectRowNear(all[m], k, single[m], 0, what);
    }
  }
  options.target_tokens = {1, 2};
  EXPECT_STATUS(engine->Explain(ids, options).status(), absl::StatusCode::kInvalidArgument,
                "2 target tokens for 3 rows");
  options.methods = {"grad-x-input"};
  options.target_tokens = {1, 2, 96};
  EXPECT_STATUS(engine->Explain(ids, options).status(), absl::StatusCode::kInvalidArgument,
                "target token 96");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, EngineBatchTest,
                         ::testing::Values("mamba1_bias_tied", "mamba2_g1"));

TEST(MapOutOfMemory, MapsOnlyOutOfMemory) {
  EXPECT_TRUE(absl::IsResourceExhausted(MapOutOfMemory(
      absl::InternalError("latim: CUDA out of memory. Tried to allocate 2.00 GiB"))));
  EXPECT_TRUE(absl::IsResourceExhausted(MapOutOfMemory(absl::InternalError(
      "DefaultCPUAllocator: can't allocate memory: you tried to allocate 1099511627776 bytes"))));
  EXPECT_TRUE(absl::IsInternal(MapOutOfMemory(absl::InternalError("shape mismatch"))));
  EXPECT_TRUE(MapOutOfMemory(absl::OkStatus()).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(MapOutOfMemory(absl::InvalidArgumentError("row 9"))));
}

}  // namespace
}  // namespace mamba_explain
