// Properties of the forward pass that hold for any weights: stable segment sums, chunked SSD equal
// to the sequential scan for every chunk size, padding invariance, trace consistency, layer
// selection, and the config switches (activation, gated-norm grouping) really switching.
#include <gtest/gtest.h>

#include <limits>

#include "kernels/selective_scan.h"
#include "mamba/mamba_model.h"
#include "mamba/mamba_ops.h"
#include "mamba/segment_sum.h"
#include "mamba/ssd_chunked.h"
#include "tests/mamba/fixture_reference.h"
#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"

namespace mamba_explain {
namespace {

using me_testing::AllClose;
using me_testing::FixtureDir;

TEST(SegmentSumTest, MatchesNaiveAndIsMinusInfinityAboveDiagonal) {
  torch::manual_seed(0);
  torch::Tensor a = -torch::rand({3, 11}, torch::kFloat64);
  torch::Tensor stable = SegmentSum(a), naive = SegmentSumNaive(a);
  torch::Tensor lower = torch::ones({11, 11}, torch::kBool).tril();
  EXPECT_TRUE(AllClose(stable.masked_select(lower.expand_as(stable)),
                       naive.masked_select(lower.expand_as(naive)), 1e-12, 1e-12));
  EXPECT_TRUE(torch::isneginf(stable.masked_select(lower.logical_not().expand_as(stable)))
                  .all()
                  .item<bool>());
  EXPECT_EQ(stable[1][4][4].item<double>(), 0.0);
  EXPECT_NEAR(stable[2][7][3].item<double>(),
              (a[2][4] + a[2][5] + a[2][6] + a[2][7]).item<double>(), 1e-12);
}

TEST(SegmentSumTest, StableWhereNaiveCancels) {
  // Large cumulative sums: the difference form loses the small segment entirely in fp32.
  torch::Tensor a = torch::full({4096}, -1000.0f);
  a[4094] = -1e-3f;
  a[4095] = -1e-3f;
  torch::Tensor stable = SegmentSum(a);
  EXPECT_NEAR(stable[4095][4094].item<float>(), -1e-3f, 1e-7);
}

// Sequential reference for Mamba-2 through the selective-scan op: Δ and A broadcast per head.
torch::Tensor SequentialSsd(const torch::Tensor& x, const torch::Tensor& delta,
                            const torch::Tensor& A, const torch::Tensor& Bm,
                            const torch::Tensor& Cm) {
  const int64_t b = x.size(0), L = x.size(1), H = x.size(2), P = x.size(3), N = Bm.size(3);
  SelectiveScanInputs in;
  in.x = x.reshape({b, L, H * P});
  in.delta = delta.unsqueeze(-1).expand({b, L, H, P}).reshape({b, L, H * P});
  in.A = A.view({H, 1, 1}).expand({H, P, N}).reshape({H * P, N});
  in.B = Bm;
  in.C = Cm;
  in.D = torch::zeros({H * P});
  auto y = SelectiveScan(in);
  EXPECT_TRUE(y.ok()) << y.status();
  return y->view({b, L, H, P});
}

TEST(SsdChunkedTest, EqualsSequentialScanForEveryChunkSize) {
  torch::manual_seed(1);
  const int64_t b = 2, L = 19, H = 4, P = 3, N = 5;
  for (int64_t G : {1, 2}) {
    torch::Tensor x = torch::randn({b, L, H, P});
    torch::Tensor delta = torch::softplus(torch::randn({b, L, H}) - 1);
    torch::Tensor A = -torch::exp(torch::randn({H}));
    torch::Tensor Bm = torch::randn({b, L, G, N}), Cm = torch::randn({b, L, G, N});
    torch::Tensor want = SequentialSsd(x, delta, A, Bm, Cm);
    for (int64_t chunk : {1, 4, 8, 19, 64}) {
      EXPECT_TRUE(AllClose(SsdChunkedScan(x, delta, A, Bm, Cm, chunk), want, 1e-5, 1e-4))
          << "G=" << G << " chunk=" << chunk;
    }
  }
}

TEST(MambaOpsTest, CausalConvEqualsTorchConv1d) {
  torch::manual_seed(2);
  torch::Tensor x = torch::randn({2, 6, 5}), w = torch::randn({5, 4}), bias = torch::randn({5});
  torch::Tensor want = torch::conv1d(x.transpose(1, 2), w.unsqueeze(1), bias, 1, 3, 1, 5)
                           .narrow(-1, 0, 6)
                           .transpose(1, 2);
  EXPECT_TRUE(AllClose(CausalConv1d(x, w, bias), want, 1e-6, 1e-5));
  // Shorter than the kernel: the missing history is zero.
  EXPECT_TRUE(AllClose(CausalConv1d(x.narrow(1, 0, 2), w, bias), want.narrow(1, 0, 2), 1e-6, 1e-5));
}

class ForwardPropertyTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ForwardPropertyTest, TraceIsConsistentWithHiddenStates) {
  ASSERT_OK_AND_ASSIGN(auto ref, me_testing::LoadHfReference(GetParam()));
  ASSERT_OK_AND_ASSIGN(auto model, MambaModel::Load(FixtureDir(GetParam()), LoadOptions()));
  ForwardOptions options;
  options.trace = ForwardOptions::TraceLayers::kSelected;
  options.trace_layers = {2, 0};
  options.keep_hidden_states = true;
  ASSERT_OK_AND_ASSIGN(ForwardOutput out, model->Forward(ref.input_ids, torch::Tensor(), options));
  ASSERT_EQ(out.trace.layers.size(), 2u);
  EXPECT_EQ(out.trace.layers[0].layer, 0);
  EXPECT_EQ(out.trace.layers[1].layer, 2);
  EXPECT_EQ(out.trace.Find(1), nullptr);
  const ModelConfig& c = model->config();
  for (const LayerTrace& t : out.trace.layers) {
    EXPECT_TRUE(AllClose(t.residual_in + t.mixer_out, out.hidden_states[t.layer], 1e-6, 1e-6));
    EXPECT_EQ(t.conv_in.size(2), c.conv_dim());
    EXPECT_EQ(t.B.size(2), c.arch == Architecture::kMamba1 ? 1 : c.n_groups);
    EXPECT_EQ(t.y.size(2), c.d_inner);
    // conv_pre is the conv of conv_in: an identity between two traced tensors.
    const LayerWeights& w = model->weights().layers[t.layer];
    EXPECT_TRUE(AllClose(CausalConv1d(t.conv_in, w.conv_w, w.conv_b), t.conv_pre, 1e-6, 1e-6));
  }
}

TEST_P(ForwardPropertyTest, PaddingIdsDoNotMatter) {
  ASSERT_OK_AND_ASSIGN(auto ref, me_testing::LoadHfReference(GetParam()));
  ASSERT_OK_AND_ASSIGN(auto model, MambaModel::Load(FixtureDir(GetParam()), LoadOptions()));
  torch::Tensor lengths = torch::tensor({21, 6}, torch::kInt64);
  torch::Tensor a = ref.input_ids.clone(), b = ref.input_ids.clone();
  using torch::indexing::Slice;
  a.index_put_({1, Slice(6, 21)}, 0);
  b.index_put_({1, Slice(6, 21)}, 77);
  ASSERT_OK_AND_ASSIGN(ForwardOutput oa, model->Forward(a, lengths, ForwardOptions()));
  ASSERT_OK_AND_ASSIGN(ForwardOutput ob, model->Forward(b, lengths, ForwardOptions()));
  EXPECT_TRUE(AllClose(oa.logits.index({1, Slice(0, 6)}), ob.logits.index({1, Slice(0, 6)}), 0, 0));
  // A single sequence alone gives the same real positions as inside the batch.
  ASSERT_OK_AND_ASSIGN(ForwardOutput single, model->Forward(a.index({Slice(1, 2), Slice(0, 6)}),
                                                            torch::Tensor(), ForwardOptions()));
  EXPECT_TRUE(AllClose(oa.logits.index({1, Slice(0, 6)}), single.logits[0], 1e-5, 1e-5));
  // Last-position logits pick each sequence's own last real token.
  ForwardOptions last;
  last.last_position_logits_only = true;
  ASSERT_OK_AND_ASSIGN(ForwardOutput ol, model->Forward(a, lengths, last));
  EXPECT_TRUE(AllClose(ol.logits[1], oa.logits[1][5], 1e-6, 1e-6));
  EXPECT_TRUE(AllClose(ol.logits[0], oa.logits[0][20], 1e-6, 1e-6));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ForwardPropertyTest,
                         ::testing::Values("mamba1_bias_tied", "mamba2_g2_bias"));

TEST(ForwardSwitchTest, ActivationAndGatedNormOverridesChangeTheModel) {
  ASSERT_OK_AND_ASSIGN(auto ref, me_testing::LoadHfReference("mamba2_g2_bias"));
  const std::string dir = FixtureDir("mamba2_g2_bias");
  ASSERT_OK_AND_ASSIGN(auto base, MambaModel::Load(dir, LoadOptions()));
  LoadOptions grouped;
  grouped.gated_norm = GatedNormMode::kPerGroup;
  ASSERT_OK_AND_ASSIGN(auto per_group, MambaModel::Load(dir, grouped));
  LoadOptions identity;
  identity.ssm_activation = SsmActivation::kIdentity;
  ASSERT_OK_AND_ASSIGN(auto ident, MambaModel::Load(dir, identity));
  ASSERT_OK_AND_ASSIGN(auto o1, base->Forward(ref.input_ids, torch::Tensor(), ForwardOptions()));
  ASSERT_OK_AND_ASSIGN(auto o2,
                       per_group->Forward(ref.input_ids, torch::Tensor(), ForwardOptions()));
  ASSERT_OK_AND_ASSIGN(auto o3, ident->Forward(ref.input_ids, torch::Tensor(), ForwardOptions()));
  EXPECT_GT((o1.logits - o2.logits).abs().max().item<float>(), 1e-3);
  EXPECT_GT((o1.logits - o3.logits).abs().max().item<float>(), 1e-3);
  // With one group, the two norm modes are the same function.
  ASSERT_OK_AND_ASSIGN(auto g1_ref, me_testing::LoadHfReference("mamba2_g1"));
  LoadOptions full;
  full.gated_norm = GatedNormMode::kFull;
  ASSERT_OK_AND_ASSIGN(auto g1_full, MambaModel::Load(FixtureDir("mamba2_g1"), full));
  ASSERT_OK_AND_ASSIGN(auto g1_out,
                       g1_full->Forward(g1_ref.input_ids, torch::Tensor(), ForwardOptions()));
  EXPECT_TRUE(AllClose(g1_out.logits, g1_ref.logits, 1e-4, 1e-4));
}

TEST(ForwardErrorTest, RejectsBadInputs) {
  ASSERT_OK_AND_ASSIGN(auto model, MambaModel::Load(FixtureDir("mamba1_bias_tied"), LoadOptions()));
  EXPECT_STATUS(
      model->Forward(torch::tensor({{1, 96}}, torch::kInt64), torch::Tensor(), ForwardOptions()),
      absl::StatusCode::kInvalidArgument, "token id 96");
  EXPECT_STATUS(model->Forward(torch::tensor({{1, 2}}, torch::kInt64),
                               torch::tensor({3}, torch::kInt64), ForwardOptions()),
                absl::StatusCode::kInvalidArgument, "lengths");
  ForwardOptions bad_layer;
  bad_layer.trace = ForwardOptions::TraceLayers::kSelected;
  bad_layer.trace_layers = {3};
  EXPECT_STATUS(model->Forward(torch::tensor({{1, 2}}, torch::kInt64), torch::Tensor(), bad_layer),
                absl::StatusCode::kInvalidArgument, "trace layer 3");
  EXPECT_STATUS(MambaModel::Load(FixtureDir("does_not_exist"), LoadOptions()),
                absl::StatusCode::kNotFound, "config.json");
  EXPECT_STATUS(ParseDevice("tpu"), absl::StatusCode::kInvalidArgument, "tpu");
}

}  // namespace
}  // namespace mamba_explain
