// The baselines on CUDA equal the baselines on CPU (label gpu): Gradient×Input, Integrated
// Gradients (both rules), SmoothGrad (noise drawn on the CPU from the seed), MambaLRP (all rules
// and each one off), Mamba-Attention (every normalisation), rollout and Mamba-Attribution, on
// every fixture with a padded batch. Skips without CUDA.
#include <gtest/gtest.h>

#include "attribution/gradient_methods.h"
#include "attribution/mamba_attention.h"
#include "attribution/mamba_lrp.h"
#include "tests/mamba/fixture_reference.h"
#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"

namespace mamba_explain {
namespace {

using me_testing::AllClose;

void ExpectSame(const std::vector<AttributionResult>& a, const std::vector<AttributionResult>& b,
                double atol, double rtol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].method, b[i].method);
    ASSERT_EQ(a[i].layer, b[i].layer);
    ASSERT_EQ(a[i].rows, b[i].rows);
    EXPECT_EQ(a[i].targets, b[i].targets) << MethodName(a[i].method);
    EXPECT_TRUE(AllClose(torch::tensor(b[i].matrix), torch::tensor(a[i].matrix), atol, rtol))
        << MethodName(a[i].method) << " layer " << a[i].layer << " seq " << a[i].sequence;
    if (!a[i].explained_logits.empty()) {
      EXPECT_TRUE(AllClose(torch::tensor(b[i].explained_logits),
                           torch::tensor(a[i].explained_logits), 1e-4, 1e-4));
    }
  }
}

class BaselinesGpuTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BaselinesGpuTest, CudaEqualsCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA";
  ASSERT_OK_AND_ASSIGN(auto ref, me_testing::LoadHfReference(GetParam()));
  const std::string dir = me_testing::FixtureDir(GetParam());
  LoadOptions cuda;
  cuda.device = torch::Device(torch::kCUDA);
  ASSERT_OK_AND_ASSIGN(auto cpu_model, MambaModel::Load(dir, LoadOptions()));
  ASSERT_OK_AND_ASSIGN(auto gpu_model, MambaModel::Load(dir, cuda));
  torch::Tensor ids = ref.input_ids, gpu_ids = ref.input_ids.to(torch::kCUDA);
  torch::Tensor lengths = torch::tensor({21, 13}, torch::kLong);

  for (IgQuadrature rule : {IgQuadrature::kRiemannMidpoint, IgQuadrature::kGaussLegendre}) {
    GradientMethodOptions g;
    g.methods = {GradientMethod::kGradientXInput, GradientMethod::kIntegratedGradients,
                 GradientMethod::kSmoothGrad};
    g.ig_steps = 8;
    g.ig_quadrature = rule;
    g.smoothgrad_samples = 4;
    ASSERT_OK_AND_ASSIGN(auto a, ExplainGradients(*cpu_model, ids, lengths, g));
    ASSERT_OK_AND_ASSIGN(auto b, ExplainGradients(*gpu_model, gpu_ids, lengths, g));
    ExpectSame(a, b, 1e-4, 1e-3);
  }
  for (const char* rules : {"all", "no-silu", "no-ssm", "no-gate", "no-norm"}) {
    MambaLrpOptions o;
    ASSERT_OK_AND_ASSIGN(o.rules, ParseLrpRules(rules));
    ASSERT_OK_AND_ASSIGN(auto a, ExplainMambaLrp(*cpu_model, ids, lengths, o));
    ASSERT_OK_AND_ASSIGN(auto b, ExplainMambaLrp(*gpu_model, gpu_ids, lengths, o));
    ExpectSame(a, b, 1e-4, 1e-3);
  }
  for (AttentionNorm norm :
       {AttentionNorm::kRaw, AttentionNorm::kMinMax, AttentionNorm::kAbsMinMax}) {
    MambaAttentionOptions o;
    o.methods = {HiddenAttentionMethod::kMambaAttention, HiddenAttentionMethod::kRollout,
                 HiddenAttentionMethod::kMambaAttribution};
    o.attention_norm = norm;
    ASSERT_OK_AND_ASSIGN(auto a, ExplainHiddenAttention(*cpu_model, ids, lengths, o));
    ASSERT_OK_AND_ASSIGN(auto b, ExplainHiddenAttention(*gpu_model, gpu_ids, lengths, o));
    ExpectSame(a, b, 1e-4, 1e-3);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, BaselinesGpuTest,
                         ::testing::Values("mamba1_bias_tied", "mamba1_nobias_untied", "mamba2_g1",
                                           "mamba2_g2_bias", "mamba2_bf16"));

}  // namespace
}  // namespace mamba_explain
