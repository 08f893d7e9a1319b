// The fused inference-forward ops (kernels/mixer_ops.h) against their LibTorch references in
// mamba/mamba_ops.h on random and edge inputs (length 1, lengths shorter than the conv, K = 1,
// strided activations, conv history, bf16 rounding, norm groups), and the fused model paths
// end to end on CUDA: a chunked recomputation (conv history and Mamba-2's scan state through the
// fused path) equals the one-pass forward. Label gpu; skips cleanly without CUDA.
#include "kernels/mixer_ops.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "mamba/layer_traces.h"
#include "mamba/mamba_model.h"
#include "mamba/mamba_ops.h"
#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"

namespace mamba_explain {
namespace {

using me_testing::AllClose;

class MixerOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA";
  }
  static torch::Tensor Cuda(const torch::Tensor& t) { return t.to(torch::kCUDA); }
};

TEST_F(MixerOpsTest, AppliesOnlyToCudaTensorsWithoutGradient) {
  EXPECT_FALSE(FusedMixerOpsApply(torch::zeros({1, 2, 3})));
  torch::Tensor x = Cuda(torch::zeros({1, 2, 3}));
  EXPECT_TRUE(FusedMixerOpsApply(x));
  x.requires_grad_(true);
  EXPECT_FALSE(FusedMixerOpsApply(x));
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(FusedMixerOpsApply(x));
}

TEST_F(MixerOpsTest, RmsNormEqualsReference) {
  torch::manual_seed(1);
  for (int64_t D : {1, 5, 768, 2560}) {
    for (int64_t L : {1, 37}) {
      // A strided view: every other row of a wider buffer, as the kernels may be handed.
      torch::Tensor wide = Cuda(3.0 * torch::randn({2, L, 2 * D}));
      torch::Tensor x = wide.narrow(2, D / 2, D);
      torch::Tensor w = Cuda(torch::randn({D}));
      const torch::Tensor ref = RmsNorm(x, w, 1e-5);
      EXPECT_TRUE(AllClose(FusedRmsNorm(x, w, 1e-5, false), ref, 1e-6, 2e-6)) << D << " " << L;
      // Rounded through bf16: the fp32 results may sit on either side of a rounding boundary, so
      // allow one bf16 step (2^-8 relative).
      const torch::Tensor ref_bf16 = ref.to(torch::kBFloat16).to(torch::kFloat32);
      EXPECT_TRUE(AllClose(FusedRmsNorm(x, w, 1e-5, true), ref_bf16, 1e-30, 1.0 / 128)) << D;
      const torch::Tensor fused = FusedRmsNorm(x, w, 1e-5, true);
      EXPECT_TRUE(torch::equal(fused, fused.to(torch::kBFloat16).to(torch::kFloat32)));
    }
  }
}

TEST_F(MixerOpsTest, CausalConvEqualsReferenceBitForBit) {
  torch::manual_seed(2);
  for (int64_t K : {1, 2, 4}) {
    for (int64_t L : {1, 3, 50}) {
      for (bool bias_on : {false, true}) {
        const int64_t B = 2, C = 67;
        torch::Tensor wide = Cuda(torch::randn({B, L, 3 * C}));
        torch::Tensor x = wide.narrow(2, C, C);  // row stride 3C, as in_proj's split hands it
        torch::Tensor w = Cuda(torch::randn({C, K}));
        torch::Tensor bias = bias_on ? Cuda(torch::randn({C})) : torch::Tensor();
        const std::string at = "K " + std::to_string(K) + " L " + std::to_string(L);
        const torch::Tensor pre = CausalConv1d(x, w, bias);
        FusedConvOutputs silu = FusedCausalConv(x, w, bias, torch::Tensor(), true);
        EXPECT_TRUE(AllClose(silu.pre, pre, 0, 0)) << at;
        EXPECT_TRUE(AllClose(silu.act, torch::silu(pre), 1e-7, 1e-6)) << at;
        FusedConvOutputs identity = FusedCausalConv(x, w, bias, torch::Tensor(), false);
        EXPECT_TRUE(AllClose(identity.act, pre, 0, 0)) << at;
        // With the history of the K−1 inputs before x.
        torch::Tensor history = K > 1 ? Cuda(torch::randn({B, K - 1, C})) : torch::Tensor();
        torch::Tensor next_ref;
        const torch::Tensor continued = CausalConv1dContinued(x, w, bias, history, &next_ref);
        EXPECT_TRUE(AllClose(FusedCausalConv(x, w, bias, history, false).pre, continued, 0, 0))
            << at;
        // The dispatching entry point keeps the tail as the reference does.
        torch::Tensor tail = history;
        const ConvActivation both = CausalConvActivated(x, w, bias, SsmActivation::kSilu, &tail);
        EXPECT_TRUE(AllClose(both.pre, continued, 0, 0)) << at;
        if (K > 1) EXPECT_TRUE(AllClose(tail, next_ref, 0, 0)) << at;
      }
    }
  }
}

TEST_F(MixerOpsTest, GatedRmsNormEqualsReference) {
  torch::manual_seed(3);
  const int64_t B = 2, L = 19, E = 192;
  for (int64_t group : {E, E / 2, int64_t{48}, int64_t{1}}) {
    torch::Tensor y = Cuda(torch::randn({B, L, E}));
    torch::Tensor z = Cuda(torch::randn({B, L, 2 * E})).narrow(2, E, E);
    torch::Tensor w = Cuda(torch::randn({E}));
    torch::Tensor grouped = (y * torch::silu(z)).view({B, L, E / group, group});
    torch::Tensor rstd = torch::rsqrt(grouped.pow(2).mean(-1) + 1e-5);
    torch::Tensor out = (grouped * rstd.unsqueeze(-1)).view({B, L, E}) * w;
    FusedGatedNormOutputs fused = FusedGatedRmsNorm(y, z, w, group, 1e-5);
    EXPECT_TRUE(AllClose(fused.rstd, rstd, 1e-6, 2e-6)) << group;
    EXPECT_TRUE(AllClose(fused.out, out, 1e-6, 4e-6)) << group;
  }
}

TEST_F(MixerOpsTest, RejectsWhatTheKernelsCannotTake) {
  torch::Tensor x = Cuda(torch::randn({1, 4, 8}));
  EXPECT_THROW(FusedRmsNorm(x, Cuda(torch::randn({7})), 1e-5, false), c10::Error);
  EXPECT_THROW(FusedRmsNorm(x.to(torch::kDouble), Cuda(torch::randn({8})), 1e-5, false),
               c10::Error);
  EXPECT_THROW(
      FusedCausalConv(x, Cuda(torch::randn({7, 4})), torch::Tensor(), torch::Tensor(), true),
      c10::Error);
  EXPECT_THROW(FusedCausalConv(x, Cuda(torch::randn({8, 4})), torch::Tensor(),
                               Cuda(torch::randn({1, 2, 8})), true),
               c10::Error);
  EXPECT_THROW(FusedGatedRmsNorm(x, x, Cuda(torch::randn({8})), 3, 1e-5), c10::Error);
}

// The model on CUDA runs the fused ops; a chunked recomputation carries the conv history and the
// SSM state between chunks through them and must give the one-pass forward's trace.
class FusedForwardTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FusedForwardTest, ChunkedRecomputationEqualsOnePass) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA";
  LoadOptions cuda;
  cuda.device = torch::Device(torch::kCUDA);
  ASSERT_OK_AND_ASSIGN(auto model, MambaModel::Load(me_testing::FixtureDir(GetParam()), cuda));
  torch::manual_seed(4);
  const int64_t L = 45;
  torch::Tensor ids = torch::randint(0, model->config().vocab_size, {2, L}, torch::kInt64);
  torch::Tensor lengths = torch::tensor({L, int64_t{17}}, torch::kInt64);
  ForwardOptions all;
  all.trace = ForwardOptions::TraceLayers::kAll;
  ASSERT_OK_AND_ASSIGN(ForwardOutput full, model->Forward(ids, lengths, all));
  for (int64_t chunk : {1, 7, 64}) {
    LayerTracesOptions options;
    options.chunk_len = chunk;
    ASSERT_OK_AND_ASSIGN(LayerTraces traces, LayerTraces::Create(*model, ids, lengths, options));
    for (int l = 0; l < model->config().n_layers; ++l) {
      ASSERT_OK_AND_ASSIGN(LayerTrace t, traces.Layer(l));
      const LayerTrace& f = *full.trace.Find(l);
      using torch::indexing::Slice;
      auto real = [](const torch::Tensor& v) { return v.index({1, Slice(0, 17)}); };
      for (auto [name, a, b] : {std::make_tuple("conv_pre", t.conv_pre, f.conv_pre),
                                std::make_tuple("x", t.x, f.x), std::make_tuple("y", t.y, f.y),
                                std::make_tuple("mixer_out", t.mixer_out, f.mixer_out)}) {
        EXPECT_TRUE(AllClose(a[0], b[0], 2e-5, 2e-5))
            << name << " layer " << l << " chunk " << chunk;
        EXPECT_TRUE(AllClose(real(a), real(b), 2e-5, 2e-5)) << name << " layer " << l;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FusedForwardTest,
                         ::testing::Values("mamba1_bias_tied", "mamba2_g2_bias", "mamba2_g1"));

}  // namespace
}  // namespace mamba_explain
