// EngineBackend on the committed fixture models: advertises every method (the output-dependent
// ones: latim-alti-logit, the gradient methods, mamba-lrp, mamba-attribution), streams every
// (method, layer) of every request to the sink with the rows, columns, targets and approximation
// error of the engine's own results; each baseline of a batch of two sequences (different
// lengths, rows, target tokens, parameters) equals Engine::Explain on that sequence alone, as
// token scores for per-target methods and matrices otherwise; drops the results of a cancelled
// request (and skips its baselines), stops with CANCELLED once every request is cancelled, and
// maps out-of-memory messages to RESOURCE_EXHAUSTED.
#include "serving/engine_backend.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "explain/engine.h"
#include "serving/dynamic_batcher.h"
#include "serving/request_validation.h"
#include "tests/status_matchers.h"

namespace mamba_explain {
namespace {

std::string Fixture(const std::string& name) {
  const char* root = std::getenv("ME_SOURCE_DIR");
  return absl::StrCat(root ? root : ".", "/tests/fixtures/", name);
}

class RecordingSink : public BatchSink {
 public:
  void OnLayer(int item, LayerMatrix m) override { layers.emplace_back(item, std::move(m)); }
  void OnTokenScores(int item, TokenScoreRows s) override {
    ++token_scores;
    scores.emplace_back(item, std::move(s));
  }
  bool IsCancelled(int item) const override {
    return cancelled.count(item) > 0 ||
           (cancel_all_after >= 0 &&
            static_cast<int>(layers.size() + scores.size()) >= cancel_all_after);
  }
  void OnFailed(int item, absl::Status status) override { failed.emplace(item, status); }
  void OnProgress(int item, Method method, int64_t done, int64_t total) override {
    progress.push_back({item, MethodName(method), done, total, scores.size()});
  }
  struct Step {
    int item;
    std::string method;
    int64_t done, total;
    size_t scores_before;  // token-score results delivered before this step
  };
  std::vector<Step> progress;
  std::vector<std::pair<int, LayerMatrix>> layers;
  std::vector<std::pair<int, TokenScoreRows>> scores;
  std::map<int, absl::Status> failed;
  int token_scores = 0;
  std::set<int> cancelled;
  int cancel_all_after = -1;
};

// A batch of requests with equal options.
std::vector<BatchItem> Items(const BatchOptions& options, const std::vector<ExplainInput>& inputs) {
  std::vector<BatchItem> items;
  for (const ExplainInput& in : inputs) items.push_back({options, in});
  return items;
}

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

TEST_P(EngineBackendTest, AdvertisesEveryMethod) {
  const BackendInfo& info = backend_->info();
  EXPECT_EQ(info.backend, "engine");
  EXPECT_EQ(
      MethodNames(info.methods),
      (std::vector<std::string>{"latim-l1", "latim-l2", "latim-alti", "latim-alti-logit",
                                "grad-x-input", "integrated-gradients", "smoothgrad", "mamba-lrp",
                                "mamba-attention", "rollout", "mamba-attribution"}));
  std::vector<std::string> output_methods;
  for (Method m : info.methods) {
    if (GetMethodInfo(m).output_dependent) output_methods.push_back(MethodName(m));
  }
  EXPECT_EQ(output_methods,
            (std::vector<std::string>{"latim-alti-logit", "grad-x-input", "integrated-gradients",
                                      "smoothgrad", "mamba-lrp", "mamba-attribution"}));
  EXPECT_EQ(backend_->DeviceMemory().used, 0);  // CPU
  // The defaults the proto documents for unset parameters.
  EXPECT_EQ(ExplainParameters().ig_steps, 30);
  EXPECT_EQ(ExplainParameters().smoothgrad_samples, 30);
}

TEST_P(EngineBackendTest, StreamsEveryResultOfABatch) {
  BatchOptions options;
  options.methods = {Method::kLatimL2, Method::kLatimAltiLogit};
  options.layers = {0, 2};
  options.activation = Activation::kIdentity;
  std::vector<ExplainInput> inputs(2);
  inputs[0].ids = Ids(10, 0);
  inputs[0].target_rows = {0, 4, 9};
  inputs[1].ids = Ids(6, 1);
  inputs[1].target_rows = {5};
  inputs[1].target_tokens = {42};
  RecordingSink sink;
  ASSERT_TRUE(backend_->ExplainBatch(Items(options, inputs), &sink).ok());
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
  options.methods = {Method::kLatimL1};
  options.layers = {0, 1, 2};
  std::vector<ExplainInput> inputs(2);
  inputs[0].ids = Ids(8, 2);
  inputs[0].target_rows = {7};
  inputs[1].ids = Ids(8, 3);
  inputs[1].target_rows = {1, 2};
  RecordingSink one;
  one.cancelled = {0};
  ASSERT_TRUE(backend_->ExplainBatch(Items(options, inputs), &one).ok());
  ASSERT_EQ(one.layers.size(), 3u);
  for (auto& [item, m] : one.layers) EXPECT_EQ(item, 1);

  RecordingSink all;
  all.cancel_all_after = 1;  // both requests cancelled after the first result
  const absl::Status s = backend_->ExplainBatch(Items(options, inputs), &all);
  EXPECT_TRUE(absl::IsCancelled(s)) << s;
  EXPECT_EQ(all.layers.size(), 1u);

  RecordingSink before;
  before.cancelled = {0, 1};
  EXPECT_TRUE(absl::IsCancelled(backend_->ExplainBatch(Items(options, inputs), &before)));
  EXPECT_TRUE(before.layers.empty());
}

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want,
                const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_LE(std::abs(got[i] - want[i]), 1e-5f + 1e-4f * std::abs(want[i])) << what << " " << i;
  }
}

const std::vector<Method> kBaselines = {Method::kGradientXInput,  Method::kIntegratedGradients,
                                        Method::kSmoothGrad,      Method::kMambaLrp,
                                        Method::kMambaAttention,  Method::kRollout,
                                        Method::kMambaAttribution};

// Two sequences of different lengths and rows, the second with its own target tokens, and
// non-default parameters: every result equals Engine::Explain on that sequence alone.
TEST_P(EngineBackendTest, BaselinesEqualEngineExplain) {
  BatchOptions options;
  options.methods = kBaselines;
  options.methods.insert(options.methods.begin(), Method::kLatimL2);  // LaTIM, then baselines
  options.layers = {0, 2};
  options.params.ig_steps = 3;
  options.params.ig_rule = IgQuadrature::kRiemannMidpoint;
  options.params.smoothgrad_samples = 2;
  options.params.smoothgrad_sigma = 0.3f;
  options.params.smoothgrad_input = SmoothGradInput::kClean;
  options.params.seed = 5;
  options.params.lrp_rules.gate_half = false;
  options.params.attention_norm = AttentionNorm::kAbsMinMax;
  options.params.start_layer = 1;
  std::vector<ExplainInput> inputs(2);
  inputs[0].ids = Ids(10, 0);
  inputs[0].target_rows = {0, 4, 9};
  inputs[1].ids = Ids(6, 1);
  inputs[1].target_rows = {2, 5};
  inputs[1].target_tokens = {42, 7};
  RecordingSink sink;
  ASSERT_TRUE(backend_->ExplainBatch(Items(options, inputs), &sink).ok());

  auto engine = Engine::Load(Fixture(GetParam()), EngineOptions());
  ASSERT_TRUE(engine.ok()) << engine.status();
  for (int item = 0; item < 2; ++item) {
    ExplainRequest want_request;
    want_request.methods = kBaselines;
    want_request.layers = {0, 2};
    want_request.rows.kind = RowSelection::Kind::kList;
    want_request.rows.rows.assign(inputs[item].target_rows.begin(), inputs[item].target_rows.end());
    want_request.target_tokens.assign(inputs[item].target_tokens.begin(),
                                      inputs[item].target_tokens.end());
    want_request.params.ig_steps = 3;
    ASSERT_OK_AND_ASSIGN(want_request.params.ig_rule, ParseIgQuadrature("riemann"));
    want_request.params.smoothgrad_samples = 2;
    want_request.params.smoothgrad_sigma = 0.3f;  // the wire's float
    ASSERT_OK_AND_ASSIGN(want_request.params.smoothgrad_input, ParseSmoothGradInput("clean"));
    want_request.params.seed = 5;
    ASSERT_OK_AND_ASSIGN(want_request.params.lrp_rules, ParseLrpRules("no-gate"));
    ASSERT_OK_AND_ASSIGN(want_request.params.attention_norm, ParseAttentionNorm("abs-minmax"));
    want_request.params.start_layer = 1;
    ASSERT_OK_AND_ASSIGN(ValidatedRequest validated,
                         Validate(want_request, {inputs[item].ids}, (*engine)->shape()));
    auto want = (*engine)->Explain(validated);
    ASSERT_TRUE(want.ok()) << want.status();
    // Per item, in the engine's order: per-target results as token scores, the rest as matrices
    // (the latim-l2 layers came first).
    std::vector<const LayerMatrix*> layers;
    std::vector<const TokenScoreRows*> scores;
    for (const auto& [i, m] : sink.layers) {
      if (i == item && m.method != "latim-l2") layers.push_back(&m);
    }
    for (const auto& [i, s] : sink.scores) {
      if (i == item) scores.push_back(&s);
    }
    size_t next_layer = 0, next_scores = 0;
    for (const AttributionResult& w : *want) {
      const std::string what =
          absl::StrCat("item ", item, " ", MethodName(w.method), " layer ", w.layer);
      const std::vector<int32_t> rows(w.rows.begin(), w.rows.end());
      EXPECT_EQ(rows, inputs[item].target_rows) << what;
      if (w.kind == ResultKind::kTokenScores) {
        ASSERT_LT(next_scores, scores.size()) << what;
        const TokenScoreRows& s = *scores[next_scores++];
        EXPECT_EQ(s.method, MethodName(w.method));
        EXPECT_EQ(s.layer, w.layer) << what;
        EXPECT_EQ(s.rows, rows) << what;
        EXPECT_EQ(s.cols, w.columns) << what;
        EXPECT_EQ(std::vector<int64_t>(s.target_tokens.begin(), s.target_tokens.end()), w.targets)
            << what;
        ExpectNear(s.scores, w.matrix, what);
        ExpectNear(s.explained_logits, w.explained_logits, what + " logits");
        EXPECT_NEAR(s.approx_error, w.approx_error, 1e-5 + 1e-4 * w.approx_error) << what;
        continue;
      }
      ASSERT_LT(next_layer, layers.size()) << what;
      const LayerMatrix& m = *layers[next_layer++];
      EXPECT_EQ(m.method, MethodName(w.method));
      EXPECT_EQ(m.layer, w.layer) << what;
      EXPECT_EQ(m.rows, rows) << what;
      EXPECT_EQ(m.cols, w.columns) << what;
      ExpectNear(m.values, w.matrix, what);
    }
    EXPECT_EQ(next_layer, layers.size()) << item;
    EXPECT_EQ(next_scores, scores.size()) << item;
  }
  // The second item's target tokens reached every per-target method.
  for (const auto& [item, s] : sink.scores) {
    if (item == 1) EXPECT_EQ(s.target_tokens, (std::vector<int32_t>{42, 7})) << s.method;
  }
  // 5 per-target methods x 2 items as token scores; mamba-attention (2 layers) and rollout as
  // matrices, besides latim-l2's.
  EXPECT_EQ(sink.scores.size(), 10u);
  EXPECT_EQ(sink.layers.size(), 2u * (2 + 2 + 1));
  // LaTIM streamed before the baselines.
  EXPECT_EQ(sink.layers.front().second.method, "latim-l2");
}

TEST_P(EngineBackendTest, CancelledItemSkipsItsBaselines) {
  BatchOptions options;
  options.methods = {Method::kGradientXInput, Method::kRollout, Method::kSmoothGrad};
  options.layers = {0, 1, 2};
  options.params.smoothgrad_samples = 2;
  std::vector<ExplainInput> inputs(2);
  inputs[0].ids = Ids(8, 2);
  inputs[0].target_rows = {7};
  inputs[1].ids = Ids(5, 3);
  inputs[1].target_rows = {1, 2};
  RecordingSink one;
  one.cancelled = {0};
  ASSERT_TRUE(backend_->ExplainBatch(Items(options, inputs), &one).ok());
  EXPECT_EQ(one.scores.size(), 2u);  // grad-x-input, smoothgrad of item 1 only
  EXPECT_EQ(one.layers.size(), 1u);  // rollout of item 1
  for (auto& [item, s] : one.scores) EXPECT_EQ(item, 1);
  for (auto& [item, m] : one.layers) EXPECT_EQ(item, 1);

  RecordingSink all;
  all.cancel_all_after = 1;  // both requests cancelled after the first result
  const absl::Status s = backend_->ExplainBatch(Items(options, inputs), &all);
  EXPECT_TRUE(absl::IsCancelled(s)) << s;
  EXPECT_EQ(all.scores.size() + all.layers.size(), 1u);
}

// Progress (issue 14): the gradient methods and MambaLRP tell every live item of their call how
// many of the call's items (rows × IG steps or SmoothGrad samples, both sequences) are done,
// increasing to the total, before the method's results; a cancelled item hears nothing.
TEST_P(EngineBackendTest, ReportsProgressOfTheLongMethodsToLiveItems) {
  BatchOptions options;
  options.methods = {Method::kGradientXInput, Method::kIntegratedGradients, Method::kSmoothGrad,
                     Method::kMambaLrp, Method::kLatimL2};
  options.layers = {0};
  options.params.ig_steps = 6;
  options.params.smoothgrad_samples = 4;
  std::vector<ExplainInput> inputs(3);
  inputs[0].ids = Ids(9, 4);
  inputs[0].target_rows = {3, 8};
  inputs[1].ids = Ids(6, 5);
  inputs[1].target_rows = {5};
  inputs[2].ids = Ids(7, 6);
  inputs[2].target_rows = {6};
  RecordingSink sink;
  sink.cancelled = {2};
  ASSERT_TRUE(backend_->ExplainBatch(Items(options, inputs), &sink).ok());
  // Items of the call: 3 rows of the two live sequences (the cancelled one is not computed).
  const std::map<std::string, int64_t> totals = {{"grad-x-input", 3},
                                                 {"integrated-gradients", 3 * 6},
                                                 {"smoothgrad", 3 * 4},
                                                 {"mamba-lrp", 3}};
  for (int item = 0; item < 2; ++item) {
    for (const auto& [method, total] : totals) {
      int64_t last = 0;
      size_t scores_before = 0;
      int steps = 0;
      for (const RecordingSink::Step& s : sink.progress) {
        if (s.item != item || s.method != method) continue;
        ++steps;
        EXPECT_EQ(s.total, total) << method;
        EXPECT_GT(s.done, last) << method;
        last = s.done;
        scores_before = s.scores_before;
      }
      EXPECT_GE(steps, 1) << item << " " << method;
      EXPECT_EQ(last, total) << item << " " << method;
      // The method's result for this item comes after its last step.
      size_t result_at = sink.scores.size();
      for (size_t i = 0; i < sink.scores.size(); ++i) {
        if (sink.scores[i].first == item && sink.scores[i].second.method == method) {
          result_at = i;
          break;
        }
      }
      ASSERT_LT(result_at, sink.scores.size()) << item << " " << method;
      EXPECT_LE(scores_before, result_at) << item << " " << method;
    }
  }
  for (const RecordingSink::Step& s : sink.progress) {
    EXPECT_NE(s.item, 2);
    EXPECT_NE(s.method, "latim-l2");  // per-layer results are its progress
  }
}

// Collects one job's results as "method layer" -> values (matrix or token scores).
class CollectingJobSink : public JobSink {
 public:
  void OnLayer(LayerMatrix m) override {
    results[absl::StrCat(m.method, " ", m.layer)] = std::move(m.values);
  }
  void OnTokenScores(TokenScoreRows s) override {
    results[absl::StrCat(s.method, " ", s.layer)] = std::move(s.scores);
  }
  bool IsCancelled() const override { return false; }
  void OnFinished(absl::Status s, const JobStats& st) override {
    status = s;
    stats = st;
    done.Notify();
  }
  std::map<std::string, std::vector<float>> results;
  absl::Status status;
  JobStats stats;
  absl::Notification done;
};

// Issue 11 (batching policy): requests asking for different methods, parameters, layers, rows,
// targets and lengths go through the batcher as ONE batch; each gets exactly its own results,
// equal to serving it alone: bit for bit where its family call held only it (its own LaTIM
// layers, its IG steps, MambaLRP, rollout), to the batching tolerance where it shared one with
// another request (latim-l2 at the same layers, grad-x-input).
TEST_P(EngineBackendTest, MixedMethodsShareOneBatchAndEqualServingAlone) {
  std::vector<BatchItem> items(4);
  items[0].options.methods = {Method::kLatimL2};
  items[0].options.layers = {0, 2};
  items[0].input.ids = Ids(10, 0);
  items[0].input.target_rows = {9};
  items[1].options.methods = {Method::kGradientXInput, Method::kIntegratedGradients};
  items[1].options.params.ig_steps = 3;
  items[1].input.ids = Ids(6, 1);
  items[1].input.target_rows = {2, 5};
  items[1].input.target_tokens = {42, 7};
  items[2].options.methods = {Method::kMambaLrp, Method::kLatimL2};
  items[2].options.layers = {0, 2};
  items[2].input.ids = Ids(8, 2);
  items[2].input.target_rows = {3, 7};
  items[3].options.methods = {Method::kIntegratedGradients, Method::kRollout,
                              Method::kGradientXInput, Method::kLatimL1};
  items[3].options.layers = {1};
  items[3].options.params.ig_steps = 4;
  items[3].options.params.ig_rule = IgQuadrature::kRiemannMidpoint;
  items[3].input.ids = Ids(7, 3);
  items[3].input.target_rows = {6};
  const std::set<std::string> shared = {"latim-l2", "grad-x-input"};

  BatcherOptions batcher_options;
  batcher_options.max_batch_size = 4;
  batcher_options.max_queue_delay = absl::Seconds(60);  // only a full batch leaves early
  auto batcher = DynamicBatcher::Create(batcher_options, backend_.get(), nullptr);
  ASSERT_TRUE(batcher.ok()) << batcher.status();
  CollectingJobSink sinks[4];
  for (int i = 0; i < 4; ++i) {
    auto job = std::make_unique<ExplainJob>();
    job->options = items[i].options;
    job->input = items[i].input;
    job->sink = &sinks[i];
    ASSERT_TRUE((*batcher)->Enqueue(std::move(job)).ok());
  }
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(sinks[i].done.WaitForNotificationWithTimeout(absl::Seconds(120)));
    ASSERT_TRUE(sinks[i].status.ok()) << i << " " << sinks[i].status;
    EXPECT_EQ(sinks[i].stats.batch_size, 4) << "request " << i << " did not share the batch";
  }

  for (int i = 0; i < 4; ++i) {
    RecordingSink alone;
    ASSERT_TRUE(backend_->ExplainBatch({items[i]}, &alone).ok());
    std::map<std::string, std::vector<float>> want;
    for (auto& [item, m] : alone.layers) want[absl::StrCat(m.method, " ", m.layer)] = m.values;
    for (auto& [item, s] : alone.scores) want[absl::StrCat(s.method, " ", s.layer)] = s.scores;
    std::set<std::string> want_keys, got_keys;
    for (const auto& [k, v] : want) want_keys.insert(k);
    for (const auto& [k, v] : sinks[i].results) got_keys.insert(k);
    ASSERT_EQ(got_keys, want_keys) << "request " << i << " got other results than alone";
    for (const auto& [key, values] : want) {
      const std::vector<float>& got = sinks[i].results.at(key);
      const std::string what = absl::StrCat("request ", i, " ", key);
      if (shared.count(key.substr(0, key.find(' '))) > 0) {
        ExpectNear(got, values, what);
      } else {
        EXPECT_EQ(got, values) << what << " differs from serving it alone";
      }
    }
  }
}

// A request the device cannot hold fails alone at validation, before it is queued; a short one
// on the same backend passes.
TEST(EngineBackendMemoryTest, RequestOverTheLimitFailsAtValidation) {
  EngineBackendOptions options;
  options.memory_limit_mib = 4;
  auto backend = CreateEngineBackend(Fixture("mamba1_bias_tied"), options);
  ASSERT_TRUE(backend.ok()) << backend.status();
  ServingLimits limits;
  limits.max_tokens = 1 << 20;
  ExplainSpec spec;
  spec.model = "m";
  spec.methods = {"latim-l2"};
  spec.last_row = true;
  spec.params.memory_budget_mib = 1;
  spec.token_ids = Ids(8, 1);
  EXPECT_TRUE(ValidateExplain(spec, **backend, limits).ok());
  spec.token_ids = Ids(20000, 1);
  const absl::StatusOr<ValidatedExplain> big = ValidateExplain(spec, **backend, limits);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted) << big.status();
  EXPECT_NE(std::string(big.status().message()).find("needs about"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, EngineBackendTest,
                         ::testing::Values("mamba1_bias_tied", "mamba2_g1"));

}  // namespace
}  // namespace mamba_explain
