// Gradient×Input, Integrated Gradients and SmoothGrad: GI equals a plain per-row autograd
// computation on the full sequence (no batching, no padding), sources after the target are 0,
// selected rows equal full rows, IG's completeness gap shrinks with the steps (both rules),
// SmoothGrad with σ = 0 equals GI, the seed fixes the noise, the quadrature rules are exact where
// they must be, and unknown choices are INVALID_ARGUMENT.
#include "attribution/gradient_methods.h"

#include <gtest/gtest.h>

#include "tests/mamba/fixture_reference.h"
#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"

namespace mamba_explain {
namespace {

using me_testing::AllClose;
using me_testing::FixtureDir;

torch::Tensor Matrix(const AttributionResult& r) {
  return torch::tensor(r.matrix, torch::kFloat32)
      .view({static_cast<int64_t>(r.rows.size()), r.columns});
}

std::unique_ptr<MambaModel> Load(const std::string& name) {
  auto model = MambaModel::Load(FixtureDir(name), LoadOptions());
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? std::move(model).value() : nullptr;
}

torch::Tensor Ids(const std::string& name) {
  auto ref = me_testing::LoadHfReference(name);
  EXPECT_TRUE(ref.ok()) << ref.status();
  return ref->input_ids;  // [2, 21]
}

// Independent GI: one full-length forward per row, backward of logits[t, w] only.
torch::Tensor NaiveGradientXInput(const MambaModel& model, const torch::Tensor& ids, int64_t n,
                                  const std::vector<int64_t>& targets) {
  torch::Tensor e = model.Embed(ids.narrow(0, 0, n).unsqueeze(0)).detach();
  torch::Tensor out = torch::zeros({n, n});
  for (int64_t t = 0; t < n; ++t) {
    torch::Tensor leaf = e.clone().requires_grad_(true);
    auto fwd = model.ForwardFromEmbeddings(leaf, torch::Tensor(), ForwardOptions());
    EXPECT_TRUE(fwd.ok()) << fwd.status();
    fwd->logits[0][t][targets[t]].backward();
    out[t] = (leaf.grad() * e).sum(-1)[0];
  }
  return out;
}

class GradientFixtureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GradientFixtureTest, GradientXInputEqualsNaiveAutograd) {
  auto model = Load(GetParam());
  ASSERT_NE(model, nullptr);
  torch::Tensor ids = Ids(GetParam());
  torch::Tensor lengths = torch::tensor({21, 13}, torch::kLong);
  GradientMethodOptions o;
  o.max_batch_tokens = 40;  // several batches with padding
  ASSERT_OK_AND_ASSIGN(auto results, ExplainGradients(*model, ids, lengths, o));
  ASSERT_EQ(results.size(), 2u);
  for (int64_t b = 0; b < 2; ++b) {
    const AttributionResult& r = results[b];
    const int64_t n = lengths[b].item<int64_t>();
    EXPECT_EQ(r.method, Method::kGradientXInput);
    EXPECT_EQ(r.layer, -1);
    EXPECT_EQ(r.columns, n);
    ASSERT_EQ(r.rows.size(), static_cast<size_t>(n));
    ASSERT_EQ(r.targets.size(), r.rows.size());
    ASSERT_EQ(r.explained_logits.size(), r.rows.size());
    torch::Tensor m = Matrix(r);
    EXPECT_TRUE(AllClose(m, NaiveGradientXInput(*model, ids[b], n, r.targets), 1e-5, 1e-4));
    EXPECT_TRUE(torch::equal(m.triu(1), torch::zeros_like(m)));
    // Targets are the predicted next tokens of the plain forward.
    auto fwd =
        model->Forward(ids[b].narrow(0, 0, n).unsqueeze(0), torch::Tensor(), ForwardOptions());
    ASSERT_TRUE(fwd.ok());
    for (int64_t t = 0; t < n; ++t) {
      EXPECT_EQ(r.targets[t], fwd->logits[0][t].argmax().item<int64_t>());
      EXPECT_NEAR(r.explained_logits[t], fwd->logits[0][t].max().item<float>(), 1e-5);
    }
  }
}

// The fixtures' embeddings have unit variance, so the first RMSNorm turns f(α·e) into a step near
// α ≈ sqrt(ε / mean e²) ≈ 0.003 that few quadrature nodes resolve (docs/methods.md). Scaling the
// embeddings by 0.01 moves it to α ≈ 0.3, where the path integral is smooth.
std::unique_ptr<MambaModel> WithSmallEmbeddings(const MambaModel& model) {
  ModelWeights w = model.weights();
  w.embedding = w.embedding * 0.01;
  return MambaModel::FromWeights(model.config(), std::move(w));
}

TEST_P(GradientFixtureTest, IntegratedGradientsGapShrinksWithSteps) {
  auto loaded = Load(GetParam());
  ASSERT_NE(loaded, nullptr);
  auto model = WithSmallEmbeddings(*loaded);
  torch::Tensor ids = Ids(GetParam()).narrow(0, 0, 1);
  for (IgQuadrature rule : {IgQuadrature::kRiemannMidpoint, IgQuadrature::kGaussLegendre}) {
    std::vector<double> gaps;
    for (int steps : {8, 32, 512}) {
      GradientMethodOptions o;
      o.methods = {GradientMethod::kIntegratedGradients};
      o.ig_steps = steps;
      o.ig_quadrature = rule;
      o.rows.kind = RowSelection::Kind::kLast;
      ASSERT_OK_AND_ASSIGN(auto results, ExplainGradients(*model, ids, torch::Tensor(), o));
      gaps.push_back(results[0].approx_error);
    }
    std::cout << GetParam() << " rule " << static_cast<int>(rule)
              << " gaps (8, 32, 512 steps): " << gaps[0] << " " << gaps[1] << " " << gaps[2]
              << "\n";
    EXPECT_GT(gaps[0], gaps[1]) << static_cast<int>(rule);
    EXPECT_GT(gaps[1], gaps[2]) << static_cast<int>(rule);
    EXPECT_LT(gaps[2], 1e-3) << static_cast<int>(rule);
  }
}

TEST_P(GradientFixtureTest, SmoothGradWithZeroSigmaEqualsGradientXInput) {
  auto model = Load(GetParam());
  ASSERT_NE(model, nullptr);
  torch::Tensor ids = Ids(GetParam());
  GradientMethodOptions o;
  o.methods = {GradientMethod::kGradientXInput, GradientMethod::kSmoothGrad};
  o.smoothgrad_sigma = 0.0;
  o.smoothgrad_samples = 3;
  for (SmoothGradInput in : {SmoothGradInput::kNoisy, SmoothGradInput::kClean}) {
    o.smoothgrad_input = in;
    ASSERT_OK_AND_ASSIGN(auto results, ExplainGradients(*model, ids, torch::Tensor(), o));
    ASSERT_EQ(results.size(), 4u);  // per method, per sequence
    EXPECT_EQ(results[0].method, Method::kGradientXInput);
    EXPECT_EQ(results[2].method, Method::kSmoothGrad);
    // Equal up to fp32 rounding: the noise samples run as one larger batch, and the BLAS's
    // blocking (so its summation order) may depend on the batch's size.
    EXPECT_LE(me_testing::RelativeError(Matrix(results[2]), Matrix(results[0])), 1e-5);
    EXPECT_LE(me_testing::RelativeError(Matrix(results[3]), Matrix(results[1])), 1e-5);
  }
}

TEST_P(GradientFixtureTest, SelectedRowsEqualFullRows) {
  auto model = Load(GetParam());
  ASSERT_NE(model, nullptr);
  torch::Tensor ids = Ids(GetParam());
  GradientMethodOptions o;
  o.methods = {GradientMethod::kGradientXInput, GradientMethod::kIntegratedGradients,
               GradientMethod::kSmoothGrad};
  o.ig_steps = 4;
  o.smoothgrad_samples = 2;
  ASSERT_OK_AND_ASSIGN(auto full, ExplainGradients(*model, ids, torch::Tensor(), o));
  o.rows.kind = RowSelection::Kind::kList;
  o.rows.rows = {17, 3, 20};
  ASSERT_OK_AND_ASSIGN(auto some, ExplainGradients(*model, ids, torch::Tensor(), o));
  ASSERT_EQ(full.size(), some.size());
  torch::Tensor index = torch::tensor({3, 17, 20}, torch::kLong);
  for (size_t i = 0; i < full.size(); ++i) {
    EXPECT_EQ(some[i].rows, (std::vector<int64_t>{3, 17, 20}));
    EXPECT_TRUE(AllClose(Matrix(some[i]), Matrix(full[i]).index_select(0, index), 1e-5, 1e-4))
        << MethodName(full[i].method);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GradientFixtureTest,
                         ::testing::Values("mamba1_bias_tied", "mamba2_g2_bias"));

TEST(GradientMethodsTest, SmoothGradSeedFixesTheNoise) {
  auto model = Load("mamba1_nobias_untied");
  ASSERT_NE(model, nullptr);
  torch::Tensor ids = Ids("mamba1_nobias_untied").narrow(0, 0, 1);
  GradientMethodOptions o;
  o.methods = {GradientMethod::kSmoothGrad};
  o.smoothgrad_samples = 4;
  o.smoothgrad_sigma = 0.5;
  o.rows.kind = RowSelection::Kind::kLast;
  ASSERT_OK_AND_ASSIGN(auto a, ExplainGradients(*model, ids, torch::Tensor(), o));
  ASSERT_OK_AND_ASSIGN(auto b, ExplainGradients(*model, ids, torch::Tensor(), o));
  o.seed = 7;
  ASSERT_OK_AND_ASSIGN(auto c, ExplainGradients(*model, ids, torch::Tensor(), o));
  EXPECT_EQ(a[0].matrix, b[0].matrix);
  EXPECT_FALSE(torch::allclose(Matrix(a[0]), Matrix(c[0])));
}

TEST(GradientMethodsTest, GivenTargetTokenIsExplained) {
  auto model = Load("mamba1_nobias_untied");
  ASSERT_NE(model, nullptr);
  torch::Tensor ids = Ids("mamba1_nobias_untied").narrow(0, 0, 1);
  GradientMethodOptions o;
  o.target_token = 5;
  ASSERT_OK_AND_ASSIGN(auto r, ExplainGradients(*model, ids, torch::Tensor(), o));
  EXPECT_EQ(r[0].targets, std::vector<int64_t>(21, 5));
  auto fwd = model->Forward(ids, torch::Tensor(), ForwardOptions());
  ASSERT_TRUE(fwd.ok());
  EXPECT_NEAR(r[0].explained_logits[9], fwd->logits[0][9][5].item<float>(), 1e-5);
}

TEST(GradientMethodsTest, QuadratureRules) {
  std::vector<double> x, w;
  QuadratureRule(IgQuadrature::kRiemannMidpoint, 4, &x, &w);
  EXPECT_EQ(x, (std::vector<double>{0.125, 0.375, 0.625, 0.875}));
  EXPECT_EQ(w, std::vector<double>(4, 0.25));
  for (int m : {1, 2, 5, 30}) {
    QuadratureRule(IgQuadrature::kGaussLegendre, m, &x, &w);
    // Exact for polynomials of degree ≤ 2m − 1: ∫₀¹ α^k dα = 1 / (k + 1).
    for (int k = 0; k <= 2 * m - 1; ++k) {
      double sum = 0;
      for (int i = 0; i < m; ++i) sum += w[i] * std::pow(x[i], k);
      EXPECT_NEAR(sum, 1.0 / (k + 1), 1e-12) << "m " << m << " k " << k;
    }
    for (int i = 0; i + 1 < m; ++i) EXPECT_LT(x[i], x[i + 1]);
  }
}

// Steps, samples, σ, rows and targets are checked once, at the Engine's entry
// (engine_batch_test, explain_request_test); the family only parses its choices.
TEST(GradientMethodsTest, UnknownChoices) {
  EXPECT_STATUS(ParseMethod("gradcam").status(), absl::StatusCode::kInvalidArgument,
                "unknown method 'gradcam'");
  EXPECT_STATUS(ParseIgQuadrature("trapezoid").status(), absl::StatusCode::kInvalidArgument,
                "unknown ig rule 'trapezoid'");
}

}  // namespace
}  // namespace mamba_explain
