// LaTIM on CUDA equals LaTIM on CPU (label gpu) for every score, layer and fixture, with all rows,
// the last row only and a tiny memory budget (one row, one unit per block). Skips without CUDA.
#include <gtest/gtest.h>

#include <map>
#include <tuple>

#include "attribution/latim.h"
#include "tests/mamba/fixture_reference.h"
#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"

namespace mamba_explain {
namespace {

using me_testing::AllClose;

class LatimGpuTest : public ::testing::TestWithParam<std::string> {};

TEST_P(LatimGpuTest, CudaEqualsCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA";
  ASSERT_OK_AND_ASSIGN(auto ref, me_testing::LoadHfReference(GetParam()));
  const std::string dir = me_testing::FixtureDir(GetParam());
  LoadOptions cuda;
  cuda.device = torch::Device(torch::kCUDA);
  ASSERT_OK_AND_ASSIGN(auto cpu_model, MambaModel::Load(dir, LoadOptions()));
  ASSERT_OK_AND_ASSIGN(auto gpu_model, MambaModel::Load(dir, cuda));
  torch::Tensor lengths = torch::tensor({21, 13}, torch::kLong);
  for (auto kind : {RowSelection::Kind::kAll, RowSelection::Kind::kLast}) {
    for (int64_t budget : {int64_t{256} << 20, int64_t{1}}) {
      LatimOptions o;
      o.scores = {LatimScore::kL1, LatimScore::kL2, LatimScore::kAlti, LatimScore::kAltiLogit};
      o.rows.kind = kind;
      o.memory_budget_bytes = budget;
      ASSERT_OK_AND_ASSIGN(auto a, ExplainLatim(*cpu_model, ref.input_ids, lengths, o));
      ASSERT_OK_AND_ASSIGN(auto b,
                           ExplainLatim(*gpu_model, ref.input_ids.to(torch::kCUDA), lengths, o));
      ASSERT_EQ(a.size(), b.size());
      for (size_t i = 0; i < a.size(); ++i) {
        ASSERT_EQ(a[i].method, b[i].method);
        ASSERT_EQ(a[i].layer, b[i].layer);
        ASSERT_EQ(a[i].rows, b[i].rows);
        EXPECT_EQ(a[i].targets, b[i].targets);
        torch::Tensor x = torch::tensor(a[i].matrix), y = torch::tensor(b[i].matrix);
        EXPECT_TRUE(AllClose(y, x, 1e-4, 1e-3))
            << MethodName(a[i].method) << " layer " << a[i].layer;
        EXPECT_NEAR(a[i].approx_error, b[i].approx_error, 1e-4 + 1e-3 * a[i].approx_error);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LatimGpuTest,
                         ::testing::Values("mamba1_bias_tied", "mamba1_nobias_untied", "mamba2_g1",
                                           "mamba2_g2_bias", "mamba2_bf16"));

}  // namespace
}  // namespace mamba_explain
