// Cancellation inside the long gradient loops (common/cancellation.h): GradientsOfTargets checks
// before every forward/backward batch and computes nothing after the check that reads
// cancelled; Integrated Gradients with many steps stops with CANCELLED a step after the cancel and
// reports nothing; in an engine batch, a cancelled sequence gets no baseline result while the
// others get exactly the results of the uncancelled batch, and a batch whose every sequence is
// cancelled is CANCELLED. Deterministic: cancellation is driven by the number of checks, never by
// time.
#include "common/cancellation.h"

#include <gtest/gtest.h>

#include <atomic>

#include "attribution/gradient_methods.h"
#include "attribution/targets.h"
#include "explain/engine.h"
#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"

namespace mamba_explain {
namespace {

using me_testing::FixtureDir;

std::vector<int32_t> Ids(int n, int salt) {
  std::vector<int32_t> ids;
  for (int i = 0; i < n; ++i) ids.push_back((7 * i + 13 * salt + 3) % 96);
  return ids;
}

std::unique_ptr<MambaModel> LoadModel() {
  auto model = MambaModel::Load(FixtureDir("mamba1_bias_tied"), LoadOptions());
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? std::move(model).value() : nullptr;
}

TEST(Cancellation, DefaultNeverCancelsAndForSequenceRenumbers) {
  Cancellation none;
  EXPECT_FALSE(none.IsCancelled(0));
  EXPECT_OK(none.CheckAny(3));
  Cancellation odd([](int64_t s) { return s % 2 == 1; });
  EXPECT_OK(odd.CheckAny(2));
  EXPECT_TRUE(odd.ForSequence(3).IsCancelled(0));
  EXPECT_FALSE(odd.ForSequence(2).IsCancelled(0));
  Cancellation all([](int64_t) { return true; });
  EXPECT_STATUS(all.CheckAny(2), absl::StatusCode::kCancelled, "cancelled");
}

// 40 items, one per forward/backward batch; the cancel comes after the first batch's check.
TEST(Cancellation, GradientsOfTargetsStopsAfterTheCancellingCheck) {
  auto model = LoadModel();
  ASSERT_NE(model, nullptr);
  const int64_t n = 8;
  torch::Tensor e = model->Embed(torch::arange(n, torch::kLong).unsqueeze(0))[0].detach();
  GradientItems items;
  for (int i = 0; i < 40; ++i) {
    items.lengths.push_back(n);
    items.tokens.push_back(i % 5);
  }
  items.input = [&](size_t i) { return e * (static_cast<double>(i + 1) / 40.0); };
  const EmbeddingLogitFn model_fn = ModelLogitFn(*model);
  int forwards = 0;
  EmbeddingLogitFn counting = [&](const torch::Tensor& x, const torch::Tensor& lengths) {
    ++forwards;
    return model_fn(x, lengths);
  };
  std::vector<size_t> seen;
  int checks = 0;
  bool cancelled = false;
  Cancellation cancel([&](int64_t) { return cancelled; });
  const absl::Status status = GradientsOfTargets(
      counting, items, /*max_batch_tokens=*/n,
      [&](size_t item, const torch::Tensor&, float) {
        seen.push_back(item);
        cancelled = ++checks >= 1;  // the client cancels while the first batch computes
      },
      cancel);
  EXPECT_STATUS(status, absl::StatusCode::kCancelled, "cancelled");
  EXPECT_EQ(forwards, 1);
  EXPECT_EQ(seen, std::vector<size_t>{0});
  // Uncancelled, the same call computes every item.
  seen.clear();
  forwards = 0;
  ASSERT_OK(GradientsOfTargets(
      counting, items, n, [&](size_t item, const torch::Tensor&, float) { seen.push_back(item); }));
  EXPECT_EQ(forwards, 40);
  EXPECT_EQ(seen.size(), 40u);
}

// IG with 128 steps over every row: the cancel comes at the fifth item check (inside the loop,
// a batch or two in); the call returns CANCELLED and reports nothing (GradientsOfTargets above
// shows that nothing is computed after the cancelling check).
TEST(Cancellation, IntegratedGradientsStopsInsideTheStepLoop) {
  auto model = LoadModel();
  ASSERT_NE(model, nullptr);
  std::vector<int32_t> ids32 = Ids(21, 1);
  torch::Tensor ids = torch::tensor(std::vector<int64_t>(ids32.begin(), ids32.end())).view({1, 21});
  GradientMethodOptions o;
  o.methods = {GradientMethod::kIntegratedGradients};
  o.ig_steps = 128;
  o.max_batch_tokens = 64;  // ~3 items per batch: 21 rows x 128 steps = ~900 batches uncancelled
  std::atomic<int> checks{0};
  o.cancel = Cancellation([&](int64_t) { return ++checks > 4; });
  int results = 0;
  EXPECT_STATUS(ExplainGradients(*model, ids, torch::Tensor(), o,
                                 [&](AttributionResult) {
                                   ++results;
                                   return true;
                                 }),
                absl::StatusCode::kCancelled, "cancelled");
  EXPECT_EQ(results, 0);
}

// An engine batch of three sequences: cancelling sequence 1 drops only its baselines (gradient,
// MambaLRP and hidden-attention families).
TEST(Cancellation, EngineBatchDropsOnlyTheCancelledSequence) {
  auto engine = Engine::Load(FixtureDir("mamba1_bias_tied"), EngineOptions());
  ASSERT_OK(engine.status());
  ExplainRequest request;
  request.methods = {Method::kIntegratedGradients, Method::kMambaLrp, Method::kMambaAttention,
                     Method::kRollout};
  request.rows.kind = RowSelection::Kind::kLast;
  request.params.ig_steps = 8;
  ASSERT_OK_AND_ASSIGN(ValidatedRequest batch,
                       Validate(request, {Ids(9, 1), Ids(13, 2), Ids(6, 3)}, (*engine)->shape()));
  ASSERT_OK_AND_ASSIGN(std::vector<AttributionResult> all, (*engine)->Explain(batch));
  std::vector<AttributionResult> kept;
  ASSERT_OK((*engine)->Explain(
      batch,
      [&](AttributionResult r) {
        kept.push_back(std::move(r));
        return true;
      },
      Cancellation([](int64_t s) { return s == 1; })));
  std::vector<AttributionResult> want;
  for (const AttributionResult& r : all) {
    if (r.sequence != 1) want.push_back(r);
  }
  ASSERT_EQ(kept.size(), want.size());
  for (size_t i = 0; i < kept.size(); ++i) {
    EXPECT_EQ(kept[i].sequence, want[i].sequence);
    EXPECT_EQ(kept[i].method, want[i].method);
    EXPECT_EQ(kept[i].matrix, want[i].matrix);  // the same computation, bit for bit
  }
  EXPECT_STATUS((*engine)->Explain(
                    batch, [](AttributionResult) { return true; },
                    Cancellation([](int64_t) { return true; })),
                absl::StatusCode::kCancelled, "cancelled");
}

}  // namespace
}  // namespace mamba_explain
