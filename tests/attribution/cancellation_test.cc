// Cancellation inside the long gradient loops (common/cancellation.h): GradientsOfTargets checks
// before every forward/backward batch and computes nothing after the check that reads
// cancelled; inside a batch, it checks before every block of the forward and of the backward
// (plain and checkpointed forwards, MambaLRP's relevance forward) and stops there, leaving the
// model as it was; IG, SmoothGrad, Gradient×Input and MambaLRP consult the cancellation once
// more per block and pass direction for every block a model has, and a cancel at any of those
// checks stops the pass before it completes; Integrated Gradients with many steps stops with
// CANCELLED a step after the cancel and reports nothing; in an engine batch, a cancelled sequence
// gets no baseline result while the others get exactly the results of the uncancelled batch, and a
// batch whose every sequence is cancelled is CANCELLED. Deterministic: cancellation is driven by
// the number of checks, never by time.
#include "common/cancellation.h"

#include <gtest/gtest.h>

#include <atomic>

#include "attribution/gradient_methods.h"
#include "attribution/mamba_attention.h"
#include "attribution/mamba_lrp.h"
#include "attribution/targets.h"
#include "explain/engine.h"
#include "mamba/checkpointed_forward.h"
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
  EmbeddingLogitFn counting = [&](const torch::Tensor& x, const torch::Tensor& lengths,
                                  const LayerCheck& check) {
    ++forwards;
    return model_fn(x, lengths, check);
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

// The model with only its first `layers` blocks (same weights): the same request on a shallower
// model differs only in the checks its blocks add.
std::unique_ptr<MambaModel> FirstLayers(const MambaModel& model, int layers) {
  ModelConfig config = model.config();
  config.n_layers = layers;
  ModelWeights weights = model.weights();
  weights.layers.erase(weights.layers.begin() + layers, weights.layers.end());
  return MambaModel::FromWeights(config, weights);
}

// One forward/backward batch of 4 items through each forward the gradient methods use: the
// LayerCheck is consulted once before every block of the forward and once before every block's
// backward (2 × layers per batch). A cancel that the k-th of those checks reads stops the batch
// right there (no further check, so no further block), for every k: the sink sees nothing, the
// call is CANCELLED, and the next uncancelled call gives the same gradients bit for bit.
TEST(Cancellation, GradientBatchStopsBetweenBlocksOfForwardAndBackward) {
  auto model = LoadModel();
  ASSERT_NE(model, nullptr);
  const int64_t layers = model->config().n_layers, n = 8;
  ASSERT_GE(layers, 2);
  torch::Tensor e = model->Embed(torch::arange(n, torch::kLong).unsqueeze(0))[0].detach();
  GradientItems items;
  for (int i = 0; i < 4; ++i) {
    items.lengths.push_back(n - i);
    items.tokens.push_back(i + 1);
  }
  items.input = [&](size_t i) { return e.narrow(0, 0, n - static_cast<int64_t>(i)); };
  const LrpRules rules;
  const std::vector<std::pair<std::string, EmbeddingLogitFn>> forwards = {
      {"plain", ModelLogitFn(*model)},
      {"checkpointed",
       [&](const torch::Tensor& x, const torch::Tensor& lengths, const LayerCheck& check) {
         return CheckpointedLogits(*model, x, lengths, /*last_position_logits_only=*/true, check);
       }},
      {"relevance",
       [&](const torch::Tensor& x, const torch::Tensor& lengths, const LayerCheck& check) {
         return RelevanceForward(*model, x, lengths, rules, check);
       }},
      {"checkpointed relevance",
       [&](const torch::Tensor& x, const torch::Tensor& lengths, const LayerCheck& check) {
         return CheckpointedRelevanceForward(*model, x, lengths, rules, check);
       }},
  };
  for (const auto& [name, fn] : forwards) {
    SCOPED_TRACE(name);
    int layer_checks = 0;
    const EmbeddingLogitFn counting = [&, fn = fn](const torch::Tensor& x,
                                                   const torch::Tensor& lengths,
                                                   const LayerCheck& check) {
      return fn(x, lengths, [&layer_checks, check]() {
        ++layer_checks;
        return check();
      });
    };
    std::vector<torch::Tensor> want(items.lengths.size());
    ASSERT_OK(
        GradientsOfTargets(counting, items, /*max_batch_tokens=*/1 << 20,
                           [&](size_t i, const torch::Tensor& g, float) { want[i] = g.clone(); }));
    EXPECT_EQ(layer_checks, 2 * layers);
    for (int k = 1; k <= 2 * layers; ++k) {
      SCOPED_TRACE(k <= layers ? "stopped in the forward" : "stopped in the backward");
      layer_checks = 0;
      int seen = 0;
      const absl::Status status = GradientsOfTargets(
          counting, items, 1 << 20, [&](size_t, const torch::Tensor&, float) { ++seen; },
          Cancellation([&](int64_t) { return layer_checks >= k; }));
      EXPECT_STATUS(status, absl::StatusCode::kCancelled, "cancelled");
      EXPECT_EQ(layer_checks, k);
      EXPECT_EQ(seen, 0);
    }
    layer_checks = 0;
    std::vector<torch::Tensor> again(items.lengths.size());
    ASSERT_OK(
        GradientsOfTargets(counting, items, 1 << 20,
                           [&](size_t i, const torch::Tensor& g, float) { again[i] = g.clone(); }));
    for (size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(torch::equal(again[i], want[i])) << i;
  }
}

// What one method's run does when the cancel comes at its N-th consultation of the cancellation.
struct TripRun {
  absl::Status status;
  int results = 0;
  bool pass_completed = false;  // a forward/backward batch reported progress
  std::vector<std::vector<float>> matrices;
};

// IG, SmoothGrad and Gradient×Input (ExplainGradients) and MambaLRP (ExplainMambaLrp) on one
// sequence, every item in one forward/backward pass. `trip_after` < 0: never cancelled.
TripRun RunTripping(const MambaModel& model, Method method, int64_t trip_after, int64_t* calls) {
  std::vector<int32_t> ids32 = Ids(9, 4);
  torch::Tensor ids = torch::tensor(std::vector<int64_t>(ids32.begin(), ids32.end())).view({1, 9});
  *calls = 0;
  const Cancellation cancel(
      [calls, trip_after](int64_t) { return ++*calls > trip_after && trip_after >= 0; });
  TripRun run;
  const ResultCallback collect = [&](AttributionResult r) {
    ++run.results;
    run.matrices.push_back(r.matrix);
    return true;
  };
  RowSelection rows;
  rows.kind = RowSelection::Kind::kAll;
  if (method == Method::kMambaLrp) {
    MambaLrpOptions o;
    o.rows = rows;
    o.cancel = cancel;
    o.progress = [&](Method, int64_t done, int64_t) { run.pass_completed |= done > 0; };
    run.status = ExplainMambaLrp(model, ids, torch::Tensor(), o, collect);
    return run;
  }
  GradientMethodOptions o;
  o.methods = {*GradientMethodOf(method)};
  o.rows = rows;
  o.ig_steps = 6;
  o.smoothgrad_samples = 4;
  o.cancel = cancel;
  o.progress = [&](Method, int64_t done, int64_t) { run.pass_completed |= done > 0; };
  run.status = ExplainGradients(model, ids, torch::Tensor(), o, collect);
  return run;
}

// A cancel at any consultation of the cancellation, from the first: the trip points after which
// the method reports nothing, and those after which its one pass never completes. The model with
// all its blocks has exactly 2 × (layers − 1) more of each than the same model cut to one block:
// the checks before every block of the forward and of the backward, each of which stops the pass
// mid-way. (Before those checks existed the counts were equal: a pass, once begun, ran to its
// end.) Afterwards the model gives the uncancelled results again.
TEST(Cancellation, EveryGradientMethodStopsItsPassBetweenBlocks) {
  auto deep = LoadModel();
  ASSERT_NE(deep, nullptr);
  const int layers = static_cast<int>(deep->config().n_layers);
  ASSERT_GE(layers, 2);
  std::unique_ptr<MambaModel> shallow = FirstLayers(*deep, 1);
  for (Method method : {Method::kIntegratedGradients, Method::kSmoothGrad, Method::kGradientXInput,
                        Method::kMambaLrp}) {
    SCOPED_TRACE(MethodName(method));
    int no_result[2] = {0, 0}, pass_stopped[2] = {0, 0};
    const MambaModel* models[2] = {shallow.get(), deep.get()};
    for (int m = 0; m < 2; ++m) {
      int64_t total = 0;
      const TripRun full = RunTripping(*models[m], method, -1, &total);
      ASSERT_OK(full.status);
      ASSERT_EQ(full.results, 1);
      for (int64_t trip = 0; trip < total; ++trip) {
        int64_t calls = 0;
        const TripRun run = RunTripping(*models[m], method, trip, &calls);
        if (run.results == 0) {
          SCOPED_TRACE(trip);
          EXPECT_STATUS(run.status, absl::StatusCode::kCancelled, "cancelled");
          ++no_result[m];
        }
        if (!run.pass_completed) ++pass_stopped[m];
      }
      const TripRun again = RunTripping(*models[m], method, -1, &total);
      ASSERT_OK(again.status);
      EXPECT_EQ(again.matrices, full.matrices);
    }
    EXPECT_EQ(no_result[1] - no_result[0], 2 * (layers - 1));
    EXPECT_EQ(pass_stopped[1] - pass_stopped[0], 2 * (layers - 1));
  }
}

// Mamba-Attribution's gradient pass (the ŝ scores of every row in one forward/backward batch)
// stops between blocks too: a cancel at any consultation gives no result and CANCELLED, and the
// model with all its blocks has 4 × (layers − 1) more such trip points than the same model cut to
// one block: the statistics pass's two per layer (before the layer, and for the sequence) and the
// gradient pass's two (before every block of its forward and of its backward). Before the
// in-pass checks the difference was 2 × (layers − 1): the pass, once begun, ran to its end.
TEST(Cancellation, MambaAttributionStopsItsGradientPassBetweenBlocks) {
  auto deep = LoadModel();
  ASSERT_NE(deep, nullptr);
  const int layers = static_cast<int>(deep->config().n_layers);
  ASSERT_GE(layers, 2);
  std::unique_ptr<MambaModel> shallow = FirstLayers(*deep, 1);
  std::vector<int32_t> ids32 = Ids(9, 5);
  torch::Tensor ids = torch::tensor(std::vector<int64_t>(ids32.begin(), ids32.end())).view({1, 9});
  auto run = [&](const MambaModel& model, int64_t trip_after, int64_t* calls,
                 std::vector<std::vector<float>>* matrices) {
    *calls = 0;
    MambaAttentionOptions o;
    o.methods = {HiddenAttentionMethod::kMambaAttribution};
    o.rows.kind = RowSelection::Kind::kAll;
    o.cancel = Cancellation(
        [calls, trip_after](int64_t) { return ++*calls > trip_after && trip_after >= 0; });
    return ExplainHiddenAttention(model, ids, torch::Tensor(), o, [&](AttributionResult r) {
      matrices->push_back(r.matrix);
      return true;
    });
  };
  int no_result[2] = {0, 0};
  const MambaModel* models[2] = {shallow.get(), deep.get()};
  for (int m = 0; m < 2; ++m) {
    int64_t total = 0;
    std::vector<std::vector<float>> full;
    ASSERT_OK(run(*models[m], -1, &total, &full));
    ASSERT_EQ(full.size(), 1u);
    for (int64_t trip = 0; trip < total; ++trip) {
      int64_t calls = 0;
      std::vector<std::vector<float>> got;
      const absl::Status status = run(*models[m], trip, &calls, &got);
      if (got.empty()) {
        SCOPED_TRACE(trip);
        EXPECT_STATUS(status, absl::StatusCode::kCancelled, "cancelled");
        ++no_result[m];
      }
    }
    std::vector<std::vector<float>> again;
    ASSERT_OK(run(*models[m], -1, &total, &again));
    EXPECT_EQ(again, full);
  }
  EXPECT_EQ(no_result[1] - no_result[0], 4 * (layers - 1));
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
    // The same computation on a smaller batch: equal up to the BLAS's blocking, which may depend
    // on the batch's size (OpenBLAS's does; netlib's reference gave equal bits).
    ASSERT_EQ(kept[i].matrix.size(), want[i].matrix.size());
    EXPECT_LE(
        me_testing::RelativeError(torch::tensor(kept[i].matrix), torch::tensor(want[i].matrix)),
        1e-5)
        << i;
  }
  EXPECT_STATUS((*engine)->Explain(
                    batch, [](AttributionResult) { return true; },
                    Cancellation([](int64_t) { return true; })),
                absl::StatusCode::kCancelled, "cancelled");
}

}  // namespace
}  // namespace mamba_explain
