// EngineBackend on the committed fixture models: advertises the LaTIM methods (latim-alti-logit
// as the output-dependent one), streams every (method, layer) of every request to the sink with
// the rows, columns, targets and approximation error of the engine's own results, drops the
// results of a cancelled request, stops with CANCELLED once every request is cancelled, and maps
// out-of-memory messages to RESOURCE_EXHAUSTED.
#include "serving/engine_backend.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace mamba_explain {
namespace {

std::string Fixture(const std::string& name) {
  const char* root = std::getenv("ME_SOURCE_DIR");
  return absl::StrCat(root ? root : ".", "/tests/fixtures/", name);
}

class RecordingSink : public BatchSink {
 public:
  void OnLayer(int item, LayerMatrix m) override { layers.emplace_back(item, std::move(m)); }
  void OnTokenScores(int, TokenScoreRows) override { ++token_scores; }
  bool IsCancelled(int item) const override {
    return cancelled.count(item) > 0 || (cancel_all_after >= 0 &&
                                         static_cast<int>(layers.size()) >= cancel_all_after);
  }
  std::vector<std::pair<int, LayerMatrix>> layers;
  int token_scores = 0;
  std::set<int> cancelled;
  int cancel_all_after = -1;
};

std::vector<int32_t> Ids(int n, int salt) {
  std::vector<int32_t> ids;
  for (int i = 0; i < n; ++i) ids.push_back((5 * i + 11 * salt + 1) % 96);
  return ids;
}

class EngineBackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto backend = CreateEngineBackend(Fixture(GetParam()), EngineBackendOptions());
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = std::move(backend).value();
    ASSERT_TRUE(backend_->Warmup().ok());
  }
  std::unique_ptr<ExplainBackend> backend_;
};

TEST_P(EngineBackendTest, AdvertisesLatim) {
  const BackendInfo& info = backend_->info();
  EXPECT_EQ(info.backend, "engine");
  EXPECT_EQ(info.methods,
            (std::vector<std::string>{"latim-l1", "latim-l2", "latim-alti", "latim-alti-logit"}));
  EXPECT_EQ(info.output_methods, std::vector<std::string>{"latim-alti-logit"});
  EXPECT_EQ(backend_->DeviceMemory().used, 0);  // CPU
}

TEST_P(EngineBackendTest, StreamsEveryResultOfABatch) {
  BatchOptions options;
  options.methods = {"latim-l2", "latim-alti-logit"};
  options.layers = {0, 2};
  options.activation = Activation::kIdentity;
  std::vector<ExplainInput> inputs(2);
  inputs[0].ids = Ids(10, 0);
  inputs[0].target_rows = {0, 4, 9};
  inputs[1].ids = Ids(6, 1);
  inputs[1].target_rows = {5};
  inputs[1].target_tokens = {42};
  RecordingSink sink;
  ASSERT_TRUE(backend_->ExplainBatch(options, inputs, &sink).ok());
  // Per item: latim-l2 at layers 2 and 0 (top-down with ALTI-Logit), then latim-alti-logit (-1).
  std::map<std::tuple<int, std::string, int>, LayerMatrix> got;
  for (auto& [item, m] : sink.layers) got[{item, m.method, m.layer}] = m;
  ASSERT_EQ(got.size(), 6u);
  for (int item = 0; item < 2; ++item) {
    for (const auto& key : {std::make_tuple(item, std::string("latim-l2"), 0),
                            std::make_tuple(item, std::string("latim-l2"), 2),
                            std::make_tuple(item, std::string("latim-alti-logit"), -1)}) {
      ASSERT_EQ(got.count(key), 1u) << item;
      const LayerMatrix& m = got.at(key);
      EXPECT_EQ(m.rows, inputs[item].target_rows);
      EXPECT_EQ(m.cols, static_cast<int64_t>(inputs[item].ids.size()));
      EXPECT_EQ(m.values.size(), m.rows.size() * m.cols);
      EXPECT_TRUE(std::isfinite(m.approx_error) && m.approx_error >= 0.f) << std::get<1>(key);
    }
  }
  EXPECT_EQ(got.at({1, "latim-alti-logit", -1}).target_tokens, std::vector<int32_t>{42});
  EXPECT_EQ(got.at({0, "latim-alti-logit", -1}).target_tokens.size(), 3u);  // predicted tokens
  EXPECT_TRUE(got.at({0, "latim-l2", 0}).target_tokens.empty());
  EXPECT_EQ(sink.token_scores, 0);
  // Top-down order with ALTI-Logit: layer 2 before layer 0, the aggregate last.
  EXPECT_EQ(sink.layers.front().second.layer, 2);
  EXPECT_EQ(sink.layers.back().second.layer, -1);
}

TEST_P(EngineBackendTest, CancellationDropsAndStops) {
  BatchOptions options;
  options.methods = {"latim-l1"};
  options.layers = {0, 1, 2};
  std::vector<ExplainInput> inputs(2);
  inputs[0].ids = Ids(8, 2);
  inputs[0].target_rows = {7};
  inputs[1].ids = Ids(8, 3);
  inputs[1].target_rows = {1, 2};
  RecordingSink one;
  one.cancelled = {0};
  ASSERT_TRUE(backend_->ExplainBatch(options, inputs, &one).ok());
  ASSERT_EQ(one.layers.size(), 3u);
  for (auto& [item, m] : one.layers) EXPECT_EQ(item, 1);

  RecordingSink all;
  all.cancel_all_after = 1;  // both requests cancelled after the first result
  const absl::Status s = backend_->ExplainBatch(options, inputs, &all);
  EXPECT_TRUE(absl::IsCancelled(s)) << s;
  EXPECT_EQ(all.layers.size(), 1u);

  RecordingSink before;
  before.cancelled = {0, 1};
  EXPECT_TRUE(absl::IsCancelled(backend_->ExplainBatch(options, inputs, &before)));
  EXPECT_TRUE(before.layers.empty());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, EngineBackendTest,
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
