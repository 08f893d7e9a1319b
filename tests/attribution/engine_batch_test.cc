// Engine::Explain on a batch: a padded batch of sequences of different lengths, each with its own
// target rows and ALTI-Logit target tokens, gives exactly the results of explaining each sequence
// alone (every LaTIM method, Mamba-1 and Mamba-2 fixtures); padding never shows; results stream in
// layer order; returning false cancels; bad input is INVALID_ARGUMENT from Validate. Also per-row
// target tokens, and the error boundary's out-of-memory mapping.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "explain/engine.h"
#include "explain/error_boundary.h"
#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"

namespace mamba_explain {
namespace {

using me_testing::FixtureDir;

const std::vector<Method> kMethods = {Method::kLatimL1, Method::kLatimL2, Method::kLatimAlti,
                                      Method::kLatimAltiLogit};

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

// One sequence with its own rows and per-row targets, validated alone (as the server validates
// each request).
struct Part {
  std::vector<int32_t> ids;
  std::vector<int64_t> rows;     // empty = all
  std::vector<int64_t> targets;  // empty = the predicted next token
};

absl::StatusOr<ValidatedRequest> ValidatePart(const Engine& engine, ExplainRequest request,
                                              const Part& part) {
  if (!part.rows.empty()) {
    request.rows.kind = RowSelection::Kind::kList;
    request.rows.rows = part.rows;
  }
  request.target_tokens = part.targets;
  return Validate(request, {part.ids}, engine.shape());
}

// The parts as one batch: what the serving batcher hands the engine (requests that share every
// option but their sequence).
absl::StatusOr<ValidatedRequest> ValidateBatch(const Engine& engine, const ExplainRequest& request,
                                               const std::vector<Part>& parts) {
  ValidatedRequest batch;
  for (const Part& part : parts) {
    ASSIGN_OR_RETURN(ValidatedRequest one, ValidatePart(engine, request, part));
    if (batch.sequences.empty()) {
      batch = std::move(one);
    } else {
      batch.sequences.push_back(std::move(one.sequences[0]));
    }
  }
  return batch;
}

class EngineBatchTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EngineBatchTest, BatchEqualsSingles) {
  auto engine = LoadEngine(GetParam());
  ASSERT_NE(engine, nullptr);
  // Lengths 21, 9, 14: the shorter two are padded; rows: all / a list / the last position.
  std::vector<Part> parts(3);
  parts[0].ids = Ids(21, 0);
  parts[1].ids = Ids(9, 1);
  parts[1].rows = {3, 8};
  parts[1].targets = {5, 11};  // a different ALTI-Logit token per row
  parts[2].ids = Ids(14, 2);
  parts[2].rows = {13};
  parts[2].targets = {7};
  ExplainRequest options;
  options.methods = kMethods;
  options.layers = {0, 2};
  ASSERT_OK_AND_ASSIGN(ValidatedRequest batch, ValidateBatch(*engine, options, parts));

  std::map<std::tuple<int64_t, Method, int>, AttributionResult> got;
  ASSERT_OK(engine->Explain(batch, [&](AttributionResult r) {
    auto key = std::make_tuple(r.sequence, r.method, r.layer);
    EXPECT_EQ(got.count(key), 0u);
    got[key] = std::move(r);
    return true;
  }));
  // 3 sequences x (3 per-layer methods x 2 layers + ALTI-Logit).
  ASSERT_EQ(got.size(), 3u * (3 * 2 + 1));

  for (int64_t b = 0; b < 3; ++b) {
    const Part& seq = parts[b];
    const int64_t n = static_cast<int64_t>(seq.ids.size());
    std::vector<int64_t> rows = seq.rows;
    if (rows.empty()) {
      for (int64_t t = 0; t < n; ++t) rows.push_back(t);
    }
    // The reference: each row of this sequence explained alone, with that row's target.
    for (size_t q = 0; q < rows.size(); ++q) {
      ExplainRequest single = options;
      single.rows.kind = RowSelection::Kind::kList;
      single.rows.rows = {rows[q]};
      if (!seq.targets.empty()) single.target_token = seq.targets[q];
      ASSERT_OK_AND_ASSIGN(ValidatedRequest v, Validate(single, {seq.ids}, engine->shape()));
      ASSERT_OK_AND_ASSIGN(std::vector<AttributionResult> want, engine->Explain(v));
      ASSERT_EQ(want.size(), 3u * 2 + 1);
      for (const AttributionResult& w : want) {
        auto it = got.find({b, w.method, w.layer});
        ASSERT_NE(it, got.end()) << b << " " << MethodName(w.method) << " " << w.layer;
        const AttributionResult& r = it->second;
        const std::string what = absl::StrCat(GetParam(), " seq ", b, " ", MethodName(w.method),
                                              " layer ", w.layer, " row ", rows[q]);
        EXPECT_EQ(r.columns, n) << what << ": padding must not appear";
        ASSERT_EQ(r.rows, rows) << what;
        ASSERT_EQ(r.matrix.size(), rows.size() * n) << what;
        ExpectRowNear(r, q, w, 0, what);
        if (w.method == Method::kLatimAltiLogit) {
          ASSERT_EQ(r.targets.size(), rows.size()) << what;
          EXPECT_EQ(r.targets[q], w.targets[0]) << what;
          if (!seq.targets.empty()) EXPECT_EQ(r.targets[q], seq.targets[q]) << what;
        }
      }
    }
  }
  // The whole-sequence approximation error of sequence 0 equals the single run's.
  ASSERT_OK_AND_ASSIGN(ValidatedRequest whole, Validate(options, {parts[0].ids}, engine->shape()));
  ASSERT_OK_AND_ASSIGN(std::vector<AttributionResult> single0, engine->Explain(whole));
  for (const AttributionResult& w : single0) {
    const AttributionResult& r = got.at({0, w.method, w.layer});
    EXPECT_NEAR(r.approx_error, w.approx_error, 1e-4 + 1e-3 * w.approx_error)
        << MethodName(w.method);
  }
}

TEST_P(EngineBatchTest, StreamsInLayerOrderAndCancels) {
  auto engine = LoadEngine(GetParam());
  ASSERT_NE(engine, nullptr);
  ExplainRequest options;
  options.methods = {Method::kLatimL2, Method::kLatimAlti};
  ASSERT_OK_AND_ASSIGN(ValidatedRequest batch,
                       Validate(options, {Ids(12, 3), Ids(5, 4)}, engine->shape()));
  std::vector<std::tuple<int, int64_t, Method>> order;
  ASSERT_OK(engine->Explain(batch, [&](AttributionResult r) {
    order.emplace_back(r.layer, r.sequence, r.method);
    return true;
  }));
  const int layers = static_cast<int>(engine->config().n_layers);
  ASSERT_EQ(order.size(), static_cast<size_t>(layers * 2 * 2));
  for (size_t i = 1; i < order.size(); ++i) {
    EXPECT_LE(std::get<0>(order[i - 1]), std::get<0>(order[i])) << "layer order";
  }
  int calls = 0;
  EXPECT_STATUS(engine->Explain(batch,
                                [&](AttributionResult) {
                                  ++calls;
                                  return false;
                                }),
                absl::StatusCode::kCancelled, "cancelled");
  EXPECT_EQ(calls, 1);
}

// Bad input never reaches the engine: the one Validate rejects it, naming the field.
TEST_P(EngineBatchTest, ValidateRejectsBadInput) {
  auto engine = LoadEngine(GetParam());
  ASSERT_NE(engine, nullptr);
  ExplainRequest options;
  EXPECT_STATUS(Validate(options, {}, engine->shape()).status(), absl::StatusCode::kInvalidArgument,
                "no sequences");
  std::vector<Part> parts(2);
  parts[0].ids = Ids(6, 0);
  parts[1].ids = Ids(3, 1);
  parts[1].rows = {5};  // beyond its length 3 (but inside the padded width 6)
  EXPECT_STATUS(ValidateBatch(*engine, options, parts).status(), absl::StatusCode::kInvalidArgument,
                "target_rows[0]=5 not in [0, 3)");
  parts[1].rows = {1};
  parts[1].targets = {96};
  options.methods = {Method::kLatimAltiLogit};
  EXPECT_STATUS(ValidateBatch(*engine, options, parts).status(), absl::StatusCode::kInvalidArgument,
                "target_tokens[0]=96 not in [0, 96)");
  parts[1].targets = {};
  parts[0].ids.clear();
  EXPECT_STATUS(ValidateBatch(*engine, options, parts).status(), absl::StatusCode::kInvalidArgument,
                "no token ids");
}

// Tests and benchmarks may hand the engine a ValidatedRequest they built or edited themselves: the
// engine's one entry check (CheckValidated) refuses a broken one before any work, for every
// family (no family re-checks), and runs the unbroken one.
TEST_P(EngineBatchTest, EntryCheckRefusesAHandMadeRequest) {
  auto engine = LoadEngine(GetParam());
  ASSERT_NE(engine, nullptr);
  const int n_layers = engine->shape().n_layers;
  ExplainRequest options;
  options.methods = {Method::kLatimAltiLogit, Method::kGradientXInput, Method::kRollout};
  ASSERT_OK_AND_ASSIGN(const ValidatedRequest good,
                       Validate(options, {Ids(5, 0)}, engine->shape()));
  int calls = 0;
  auto count = [&](AttributionResult) { return ++calls > 0; };
  using C = absl::StatusCode;
  ValidatedRequest v = good;
  v.layers = {n_layers};
  EXPECT_STATUS(engine->Explain(v, count), C::kInvalidArgument,
                absl::StrCat("layers[0]=", n_layers, " not in [0, ", n_layers, ")"));
  v = good;
  v.sequences[0].rows = {0, 5};
  EXPECT_STATUS(engine->Explain(v, count), C::kInvalidArgument,
                "target_rows[1]=5 not in [0, 5) (sequence 0)");
  v = good;
  v.sequences[0].targets = std::vector<int64_t>(v.sequences[0].rows.size(), 96);
  EXPECT_STATUS(engine->Explain(v, count), C::kInvalidArgument,
                "target_tokens[0]=96 not in [0, 96) (sequence 0)");
  v = good;
  v.params.start_layer = n_layers;
  EXPECT_STATUS(engine->Explain(v, count), C::kInvalidArgument, "parameters.start_layer=");
  EXPECT_EQ(calls, 0);
  ASSERT_OK(engine->Explain(good, count));
  EXPECT_GT(calls, 0);
}

// One target token per row (ExplainRequest::target_tokens, what the server passes): each row
// equals that row explained alone with --target = its token, for every output-dependent method;
// a token count that differs from the row count is INVALID_ARGUMENT.
TEST_P(EngineBatchTest, PerRowTargetTokensEqualSingleTargets) {
  auto engine = LoadEngine(GetParam());
  ASSERT_NE(engine, nullptr);
  const std::vector<int32_t> ids = Ids(11, 4);
  ExplainRequest options;
  options.methods = {Method::kLatimAltiLogit, Method::kGradientXInput, Method::kIntegratedGradients,
                     Method::kSmoothGrad,     Method::kMambaLrp,       Method::kMambaAttribution};
  options.params.ig_steps = 4;
  options.params.smoothgrad_samples = 3;
  options.rows.kind = RowSelection::Kind::kList;
  options.rows.rows = {9, 2, 6};  // resolved ascending: 2, 6, 9
  options.target_tokens = {17, 4, 60};
  ASSERT_OK_AND_ASSIGN(ValidatedRequest v, Validate(options, {ids}, engine->shape()));
  ASSERT_OK_AND_ASSIGN(std::vector<AttributionResult> all, engine->Explain(v));
  ASSERT_EQ(all.size(), options.methods.size());
  const std::vector<int64_t> rows = {2, 6, 9};
  for (size_t k = 0; k < rows.size(); ++k) {
    ExplainRequest one = options;
    one.rows.rows = {rows[k]};
    one.target_tokens.clear();
    one.target_token = options.target_tokens[k];
    ASSERT_OK_AND_ASSIGN(ValidatedRequest v1, Validate(one, {ids}, engine->shape()));
    ASSERT_OK_AND_ASSIGN(std::vector<AttributionResult> single, engine->Explain(v1));
    ASSERT_EQ(single.size(), all.size());
    for (size_t m = 0; m < all.size(); ++m) {
      const std::string what = absl::StrCat(MethodName(all[m].method), " row ", rows[k]);
      ASSERT_EQ(all[m].method, single[m].method);
      EXPECT_EQ(all[m].rows, rows) << what;
      ASSERT_EQ(all[m].targets.size(), rows.size()) << what;
      EXPECT_EQ(all[m].targets[k], options.target_tokens[k]) << what;
      ExpectRowNear(all[m], k, single[m], 0, what);
    }
  }
  options.target_tokens = {1, 2};
  EXPECT_STATUS(Validate(options, {ids}, engine->shape()).status(),
                absl::StatusCode::kInvalidArgument, "target_tokens has 2 entries but there are 3");
  options.methods = {Method::kGradientXInput};
  options.target_tokens = {1, 2, 96};
  EXPECT_STATUS(Validate(options, {ids}, engine->shape()).status(),
                absl::StatusCode::kInvalidArgument, "target_tokens[2]=96 not in [0, 96)");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, EngineBatchTest,
                         ::testing::Values("mamba1_bias_tied", "mamba2_g1"));

// The one error boundary: out-of-memory by exception type (CUDA) or by the host allocator's
// message, everything else INTERNAL.
TEST(ErrorBoundary, MapsOnlyOutOfMemory) {
  const c10::SourceLocation here{__func__, __FILE__, __LINE__};
  EXPECT_TRUE(absl::IsResourceExhausted(StatusOfTorchError(
      c10::OutOfMemoryError(here, "CUDA out of memory. Tried to allocate 2 GiB"))));
  EXPECT_TRUE(absl::IsResourceExhausted(StatusOfTorchError(c10::Error(
      here,
      "DefaultCPUAllocator: can't allocate memory: you tried to allocate 1099511627776 bytes"))));
  EXPECT_TRUE(absl::IsInternal(StatusOfTorchError(c10::Error(here, "shape mismatch"))));
  EXPECT_TRUE(GuardTorch([] { return absl::OkStatus(); }).ok());
  EXPECT_TRUE(
      absl::IsInvalidArgument(GuardTorch([] { return absl::InvalidArgumentError("row 9"); })));
  EXPECT_TRUE(absl::IsResourceExhausted(GuardTorch(
      [&]() -> absl::Status { throw c10::OutOfMemoryError(here, "CUDA out of memory"); })));
  EXPECT_TRUE(absl::IsInternal(
      GuardTorch([&]() -> absl::Status { throw c10::Error(here, "index out of range"); })));
}

}  // namespace
}  // namespace mamba_explain
