// CUDA forward equals CPU forward (label gpu): logits, hidden states and every traced tensor, for
// each fixture, in fp32 (1e-4) — covers the CUDA scan kernel, the chunked SSD and the ops on GPU.
// Skips cleanly without CUDA.
#include <gtest/gtest.h>

#include "mamba/mamba_model.h"
#include "tests/mamba/fixture_reference.h"
#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"

namespace mamba_explain {
namespace {

using me_testing::AllClose;

class ForwardGpuTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ForwardGpuTest, CudaEqualsCpuIncludingTrace) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA";
  ASSERT_OK_AND_ASSIGN(auto ref, me_testing::LoadHfReference(GetParam()));
  const std::string dir = me_testing::FixtureDir(GetParam());
  LoadOptions cuda;
  cuda.device = torch::Device(torch::kCUDA);
  ASSERT_OK_AND_ASSIGN(auto cpu_model, MambaModel::Load(dir, LoadOptions()));
  ASSERT_OK_AND_ASSIGN(auto gpu_model, MambaModel::Load(dir, cuda));
  ForwardOptions options;
  options.trace = ForwardOptions::TraceLayers::kAll;
  options.keep_hidden_states = true;
  torch::Tensor lengths = torch::tensor({21, 13}, torch::kInt64);
  ASSERT_OK_AND_ASSIGN(auto a, cpu_model->Forward(ref.input_ids, lengths, options));
  ASSERT_OK_AND_ASSIGN(auto b, gpu_model->Forward(ref.input_ids, lengths, options));
  EXPECT_TRUE(b.logits.is_cuda());
  using torch::indexing::Slice;
  auto real = [](const torch::Tensor& t) { return t.index({1, Slice(0, 13)}); };
  EXPECT_TRUE(AllClose(b.logits[0], a.logits[0], 1e-4, 1e-4));
  EXPECT_TRUE(AllClose(real(b.logits), real(a.logits), 1e-4, 1e-4));
  for (size_t l = 0; l < a.trace.layers.size(); ++l) {
    const LayerTrace &x = a.trace.layers[l], &y = b.trace.layers[l];
    EXPECT_TRUE(AllClose(y.delta[0], x.delta[0], 1e-5, 1e-4)) << l;
    EXPECT_TRUE(AllClose(y.y[0], x.y[0], 1e-4, 1e-4)) << l;
    EXPECT_TRUE(AllClose(real(y.y), real(x.y), 1e-4, 1e-4)) << l;
    EXPECT_TRUE(AllClose(y.mixer_out[0], x.mixer_out[0], 1e-4, 1e-4)) << l;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ForwardGpuTest, ::testing::ValuesIn(me_testing::Fp32Fixtures()));

}  // namespace
}  // namespace mamba_explain
