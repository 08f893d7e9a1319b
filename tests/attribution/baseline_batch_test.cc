// The batched gradient baselines: Engine::Explain runs Gradient×Input, Integrated Gradients,
// SmoothGrad and MambaLRP over every sequence of a padded batch at once (their items share
// forward/backward passes, packed to a token budget); each sequence's result must equal the one
// of the same request on that sequence alone (fp32 CPU, tight tolerance), for sequences of
// different lengths with their own rows and target tokens, Mamba-1 and Mamba-2.
#include <gtest/gtest.h>

#include <cmath>

#include "common/status_macros.h"
#include "explain/engine.h"
#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"

namespace mamba_explain {
namespace {

using me_testing::FixtureDir;

std::vector<int32_t> Ids(int n, int salt) {
  std::vector<int32_t> ids;
  for (int i = 0; i < n; ++i) ids.push_back((5 * i + 11 * salt + 1) % 96);
  return ids;
}

struct Part {
  std::vector<int32_t> ids;
  std::vector<int64_t> rows;     // empty = last
  std::vector<int64_t> targets;  // empty = the predicted next token
};

absl::StatusOr<ValidatedRequest> ValidatePart(const Engine& engine, ExplainRequest request,
                                              const Part& part) {
  if (part.rows.empty()) {
    request.rows.kind = RowSelection::Kind::kLast;
  } else {
    request.rows.kind = RowSelection::Kind::kList;
    request.rows.rows = part.rows;
  }
  request.target_tokens = part.targets;
  return Validate(request, {part.ids}, engine.shape());
}

class BaselineBatchTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BaselineBatchTest, BatchEqualsSingles) {
  auto loaded = Engine::Load(FixtureDir(GetParam()), EngineOptions());
  ASSERT_OK(loaded.status());
  const Engine& engine = **loaded;
  ExplainRequest request;
  request.methods = {Method::kGradientXInput, Method::kIntegratedGradients, Method::kSmoothGrad,
                     Method::kMambaLrp};
  request.params.ig_steps = 5;
  request.params.smoothgrad_samples = 3;
  request.params.smoothgrad_sigma = 0.1;
  request.params.seed = 9;
  const std::vector<Part> parts = {
      {Ids(17, 1), {0, 6, 16}, {}},
      {Ids(6, 2), {}, {}},
      {Ids(11, 3), {3, 10}, {7, 42}},
  };
  ValidatedRequest batch;
  std::vector<std::vector<AttributionResult>> singles;
  for (const Part& part : parts) {
    ASSERT_OK_AND_ASSIGN(ValidatedRequest one, ValidatePart(engine, request, part));
    ASSERT_OK_AND_ASSIGN(std::vector<AttributionResult> results, engine.Explain(one));
    singles.push_back(std::move(results));
    if (batch.sequences.empty()) {
      batch = one;
    } else {
      batch.sequences.push_back(one.sequences[0]);
    }
  }
  ASSERT_OK_AND_ASSIGN(std::vector<AttributionResult> batched, engine.Explain(batch));
  ASSERT_EQ(batched.size(), request.methods.size() * parts.size());
  for (const AttributionResult& got : batched) {
    ASSERT_GE(got.sequence, 0);
    ASSERT_LT(got.sequence, static_cast<int64_t>(parts.size()));
    const AttributionResult* want = nullptr;
    for (const AttributionResult& r : singles[got.sequence]) {
      if (r.method == got.method) want = &r;
    }
    const std::string what =
        std::string(MethodName(got.method)) + " sequence " + std::to_string(got.sequence);
    ASSERT_NE(want, nullptr) << what;
    EXPECT_EQ(got.rows, want->rows) << what;
    EXPECT_EQ(got.targets, want->targets) << what;
    ASSERT_EQ(got.columns, want->columns) << what;
    ASSERT_EQ(got.matrix.size(), want->matrix.size()) << what;
    for (size_t i = 0; i < got.matrix.size(); ++i) {
      EXPECT_LE(std::abs(got.matrix[i] - want->matrix[i]),
                1e-5f + 1e-4f * std::abs(want->matrix[i]))
          << what << " entry " << i;
    }
    ASSERT_EQ(got.explained_logits.size(), want->explained_logits.size()) << what;
    for (size_t i = 0; i < got.explained_logits.size(); ++i) {
      EXPECT_NEAR(got.explained_logits[i], want->explained_logits[i], 1e-4) << what;
    }
  }
  // The given target tokens of the third sequence are the ones explained.
  for (const AttributionResult& got : batched) {
    if (got.sequence == 2) EXPECT_EQ(got.targets, (std::vector<int64_t>{7, 42}));
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, BaselineBatchTest,
                         ::testing::Values("mamba1_bias_tied", "mamba2_g1"));

}  // namespace
}  // namespace mamba_explain
