// The engine's memory estimate (explain/memory_estimate.h) and what the engine does with it: the
// estimate grows with the tokens and with ALTI-Logit's every-layer checkpoints; a request over the
// engine's limit fails with RESOURCE_EXHAUSTED before any result; a batch that fits only one
// sequence at a time runs that way and gives the results of the unlimited engine.
#include "explain/memory_estimate.h"

#include <gtest/gtest.h>

#include "explain/engine.h"
#include "mamba/layer_traces.h"
#include "model/config.h"
#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"

namespace mamba_explain {
namespace {

std::vector<int32_t> Ids(int n, int salt) {
  std::vector<int32_t> ids;
  for (int i = 0; i < n; ++i) ids.push_back((7 * i + 13 * salt + 3) % 96);
  return ids;
}

absl::StatusOr<ValidatedRequest> LastRow(const Engine& engine, std::vector<Method> methods,
                                         const std::vector<std::vector<int32_t>>& sequences) {
  ExplainRequest request;
  request.methods = std::move(methods);
  request.rows.kind = RowSelection::Kind::kLast;
  request.memory_budget_bytes = int64_t{1} << 20;
  return Validate(request, sequences, engine.shape());
}

std::unique_ptr<Engine> LoadEngine(int64_t limit_bytes) {
  EngineOptions options;
  options.memory_limit_bytes = limit_bytes;
  auto engine = Engine::Load(me_testing::FixtureDir("mamba1_bias_tied"), options);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? std::move(engine).value() : nullptr;
}

TEST(MemoryEstimateTest, GrowsWithTokensAndAltiLogitKeepsEveryLayer) {
  std::unique_ptr<Engine> engine = LoadEngine(-1);
  ASSERT_NE(engine, nullptr);
  const ModelConfig& c = engine->config();
  ASSERT_OK_AND_ASSIGN(ValidatedRequest n1, LastRow(*engine, {Method::kLatimL2}, {Ids(1000, 0)}));
  ASSERT_OK_AND_ASSIGN(ValidatedRequest n4, LastRow(*engine, {Method::kLatimL2}, {Ids(4000, 0)}));
  const MemoryEstimate e1 = EstimateExplainMemory(c, n1), e4 = EstimateExplainMemory(c, n4);
  EXPECT_EQ(e1.checkpoint_bytes, 2 * 1000 * c.d_model * 4);  // the stream and the next one
  EXPECT_GE(e1.layer_trace_bytes, 1000 * LayerTraceBytesPerPosition(c));
  EXPECT_GT(e4.total_bytes(), e1.total_bytes());
  EXPECT_LE(e4.total_bytes() - e1.total_bytes(), 4 * e1.total_bytes());
  ASSERT_OK_AND_ASSIGN(ValidatedRequest logit,
                       LastRow(*engine, {Method::kLatimAltiLogit}, {Ids(1000, 0)}));
  EXPECT_EQ(EstimateExplainMemory(c, logit).checkpoint_bytes, c.n_layers * 1000 * c.d_model * 4);
  // Hidden attention keeps [n, n] statistics per layer: quadratic.
  ASSERT_OK_AND_ASSIGN(ValidatedRequest att,
                       LastRow(*engine, {Method::kMambaAttention}, {Ids(1000, 0)}));
  EXPECT_GE(EstimateExplainMemory(c, att).method_bytes, c.n_layers * 3 * 1000 * 1000 * 4);
  EXPECT_OK(CheckMemoryEstimate(e4, -1));
  EXPECT_OK(CheckMemoryEstimate(e4, e4.total_bytes()));
  EXPECT_STATUS(CheckMemoryEstimate(e4, e4.total_bytes() - 1), absl::StatusCode::kResourceExhausted,
                "needs about");
}

TEST(MemoryEstimateTest, RequestOverTheLimitFailsBeforeAnyWork) {
  std::unique_ptr<Engine> engine = LoadEngine(int64_t{3} << 20);
  ASSERT_NE(engine, nullptr);
  ASSERT_OK_AND_ASSIGN(ValidatedRequest small, LastRow(*engine, {Method::kLatimL2}, {Ids(20, 0)}));
  EXPECT_OK(engine->CheckMemory(small));
  ASSERT_OK_AND_ASSIGN(ValidatedRequest big, LastRow(*engine, {Method::kLatimL2}, {Ids(20000, 0)}));
  int results = 0;
  const absl::Status s = engine->Explain(big, [&](AttributionResult) {
    ++results;
    return true;
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(std::string(s.message()).find("the device can give 3 MiB"), std::string::npos) << s;
  EXPECT_EQ(results, 0);
}

TEST(MemoryEstimateTest, BatchThatFitsOnlyOneByOneGivesTheSameResults) {
  std::unique_ptr<Engine> unlimited = LoadEngine(-1);
  ASSERT_NE(unlimited, nullptr);
  const std::vector<std::vector<int32_t>> seqs = {Ids(3000, 1), Ids(2000, 2)};
  ASSERT_OK_AND_ASSIGN(ValidatedRequest batch,
                       LastRow(*unlimited, {Method::kLatimL2, Method::kLatimAlti}, seqs));
  ASSERT_OK_AND_ASSIGN(ValidatedRequest first,
                       LastRow(*unlimited, {Method::kLatimL2, Method::kLatimAlti}, {seqs[0]}));
  const int64_t whole = EstimateExplainMemory(unlimited->config(), batch).total_bytes();
  const int64_t alone = EstimateExplainMemory(unlimited->config(), first).total_bytes();
  ASSERT_LT(alone, whole);
  std::unique_ptr<Engine> limited = LoadEngine((alone + whole) / 2);
  ASSERT_NE(limited, nullptr);
  EXPECT_OK(limited->CheckMemory(batch));
  ASSERT_OK_AND_ASSIGN(std::vector<AttributionResult> want, unlimited->Explain(batch));
  ASSERT_OK_AND_ASSIGN(std::vector<AttributionResult> got, limited->Explain(batch));
  ASSERT_EQ(got.size(), want.size());
  // Same (sequence, method, layer) results, in a per-sequence order.
  for (const AttributionResult& g : got) {
    bool found = false;
    for (const AttributionResult& w : want) {
      if (w.sequence != g.sequence || w.method != g.method || w.layer != g.layer) continue;
      found = true;
      ASSERT_EQ(g.matrix.size(), w.matrix.size());
      for (size_t i = 0; i < g.matrix.size(); ++i) {
        EXPECT_NEAR(g.matrix[i], w.matrix[i], 1e-5 + 1e-4 * std::abs(w.matrix[i]));
      }
    }
    EXPECT_TRUE(found) << "sequence " << g.sequence << " layer " << g.layer;
  }
  // A limit below one sequence alone names that sequence.
  std::unique_ptr<Engine> tiny = LoadEngine(alone / 2);
  ASSERT_NE(tiny, nullptr);
  EXPECT_STATUS(tiny->CheckMemory(batch), absl::StatusCode::kResourceExhausted, "sequence 0");
}

}  // namespace
}  // namespace mamba_explain
