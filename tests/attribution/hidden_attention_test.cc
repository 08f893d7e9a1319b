// Hidden attention M: with D on the diagonal it reproduces the traced scan output of every fixture
// layer (fp32 ≤ 1e-5 relative) and an fp64 sequential scan (≤ 1e-12); row and unit blocks equal
// the full matrix; above the diagonal it is exactly 0; it matches the naive product form; the
// row-block segment sum equals the full one and stays stable where differences cancel.
#include "attribution/hidden_attention.h"

#include <gtest/gtest.h>

#include "mamba/mamba_model.h"
#include "mamba/segment_sum.h"
#include "tests/attribution/latim_naive_reference.h"
#include "tests/mamba/fixture_reference.h"
#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"

namespace mamba_explain {
namespace {

using me_testing::AllClose;
using torch::indexing::Slice;

TEST(SegmentSumRowsTest, EqualsRowsOfSegmentSum) {
  torch::manual_seed(0);
  torch::Tensor a = torch::randn({3, 17}, torch::kFloat64);
  torch::Tensor full = SegmentSum(a);
  for (auto [r0, r1] :
       std::vector<std::pair<int64_t, int64_t>>{{0, 17}, {0, 1}, {5, 9}, {16, 17}, {3, 4}}) {
    torch::Tensor rows = SegmentSumRows(a, r0, r1);
    torch::Tensor want = full.index({Slice(), Slice(r0, r1)});
    torch::Tensor finite = torch::isfinite(want);
    EXPECT_TRUE(torch::equal(finite, torch::isfinite(rows))) << r0 << " " << r1;
    EXPECT_TRUE(AllClose(rows.masked_select(finite), want.masked_select(finite), 1e-12, 1e-12));
  }
}

TEST(SegmentSumRowsTest, StableWhereNaiveCancels) {
  torch::Tensor a = torch::full({4096}, -1000.0f);
  a[4094] = -1e-3f;
  a[4095] = -1e-3f;
  torch::Tensor last = SegmentSumRows(a, 4095, 4096);
  EXPECT_NEAR(last[0][4094].item<float>(), -1e-3f, 1e-7);
  torch::Tensor block = SegmentSumRows(a, 4000, 4096);
  EXPECT_NEAR(block[95][4094].item<float>(), -1e-3f, 1e-7);
}

class HiddenAttentionFixtureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(HiddenAttentionFixtureTest, ReproducesTheScanAndBlocksAgree) {
  ASSERT_OK_AND_ASSIGN(auto ref, me_testing::LoadHfReference(GetParam()));
  ASSERT_OK_AND_ASSIGN(auto model,
                       MambaModel::Load(me_testing::FixtureDir(GetParam()), LoadOptions()));
  ForwardOptions fo;
  fo.trace = ForwardOptions::TraceLayers::kAll;
  ASSERT_OK_AND_ASSIGN(auto fwd, model->Forward(ref.input_ids, torch::Tensor(), fo));
  const ModelConfig& cfg = model->config();
  const int64_t n = ref.input_ids.size(1);
  for (const LayerTrace& tr : fwd.trace.layers) {
    const LayerWeights& w = model->weights().layers[tr.layer];
    for (int64_t seq = 0; seq < ref.input_ids.size(0); ++seq) {
      SsmParams p = SsmParamsFromTrace(tr, w, cfg, seq, n);
      const int64_t U = p.units();
      torch::Tensor M = HiddenAttention(p, 0, n, 0, U, /*with_skip=*/true);  // [n, n, U]
      // Exactly zero above the diagonal.
      torch::Tensor upper = torch::ones({n, n}, torch::kBool).triu(1);
      EXPECT_EQ(M.index({upper}).abs().max().item<float>(), 0.0f);
      // y[t] = Σ_s (M[t,s] + δ D) x[s].
      torch::Tensor x = tr.x[seq];  // [n, E]
      const int64_t P = cfg.arch == Architecture::kMamba1 ? 1 : cfg.head_dim;
      torch::Tensor Mc = M.repeat_interleave(P, 2);  // [n, n, E]
      torch::Tensor y = (Mc * x.unsqueeze(0)).sum(1);
      EXPECT_LE(me_testing::RelativeError(y, tr.y[seq]), 1e-5) << "layer " << tr.layer;
      EXPECT_TRUE(AllClose(y, tr.y[seq], 1e-5, 1e-4)) << "layer " << tr.layer;
      // Row blocks × unit blocks equal the full matrix (up to fp32 rounding: the products'
      // blocking depends on their shapes).
      for (auto [r0, r1] : std::vector<std::pair<int64_t, int64_t>>{{0, 1}, {3, 11}, {n - 1, n}}) {
        for (int64_t ub : {int64_t{1}, U / 2 + 1}) {
          for (int64_t u0 = 0; u0 < U; u0 += ub) {
            const int64_t u1 = std::min(U, u0 + ub);
            torch::Tensor part = HiddenAttention(p, r0, r1, u0, u1, true);
            EXPECT_TRUE(
                AllClose(part, M.index({Slice(r0, r1), Slice(), Slice(u0, u1)}), 1e-6, 1e-5));
          }
        }
      }
      // The naive product form (fp64) agrees.
      torch::Tensor naive = me_testing::NaiveHiddenAttention(tr, w, cfg, seq, n);
      torch::Tensor no_skip = HiddenAttention(p, 0, n, 0, U, false);
      EXPECT_TRUE(AllClose(no_skip, naive, 1e-6, 1e-5)) << "layer " << tr.layer;
    }
  }
}

TEST_P(HiddenAttentionFixtureTest, Fp64AgainstSequentialScan) {
  ASSERT_OK_AND_ASSIGN(auto ref, me_testing::LoadHfReference(GetParam()));
  ASSERT_OK_AND_ASSIGN(auto model,
                       MambaModel::Load(me_testing::FixtureDir(GetParam()), LoadOptions()));
  ForwardOptions fo;
  fo.trace = ForwardOptions::TraceLayers::kAll;
  ASSERT_OK_AND_ASSIGN(auto fwd, model->Forward(ref.input_ids, torch::Tensor(), fo));
  const ModelConfig& cfg = model->config();
  const int64_t n = ref.input_ids.size(1);
  const LayerTrace& tr = fwd.trace.layers[1];
  SsmParams p = SsmParamsFromTrace(tr, model->weights().layers[1], cfg, 0, n);
  p.delta = p.delta.to(torch::kFloat64);
  p.A = p.A.to(torch::kFloat64);
  p.B = p.B.to(torch::kFloat64);
  p.C = p.C.to(torch::kFloat64);
  p.D = p.D.to(torch::kFloat64);
  torch::Tensor x = tr.x[0].to(torch::kFloat64);  // [n, E]
  const bool m1 = cfg.arch == Architecture::kMamba1;
  const int64_t E = x.size(1), P = m1 ? 1 : cfg.head_dim, N = p.B.size(2);
  const int64_t H = p.units(), G = p.B.size(1);
  // Sequential recurrence in fp64, per channel c and state k.
  torch::Tensor h = torch::zeros({E, N}, torch::kFloat64);
  torch::Tensor y = torch::zeros({n, E}, torch::kFloat64);
  torch::Tensor unit = torch::arange(E).div(P, "floor");  // unit of each channel
  torch::Tensor group = m1 ? torch::zeros({E}, torch::kLong) : unit.div(H / G, "floor");
  torch::Tensor A = m1 ? p.A : p.A.index_select(0, unit).unsqueeze(1).expand({E, N});
  for (int64_t t = 0; t < n; ++t) {
    torch::Tensor dt = p.delta[t].index_select(0, unit).unsqueeze(1);                      // [E, 1]
    torch::Tensor Bt = p.B[t].index_select(0, group), Ct = p.C[t].index_select(0, group);  // [E, N]
    h = torch::exp(dt * A) * h + dt * Bt * x[t].unsqueeze(1);
    y[t] = (h * Ct).sum(1) + p.D.index_select(0, unit) * x[t];
  }
  torch::Tensor M = HiddenAttention(p, 0, n, 0, H, true).repeat_interleave(P, 2);
  torch::Tensor ym = (M * x.unsqueeze(0)).sum(1);
  EXPECT_LE(me_testing::RelativeError(ym, y), 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HiddenAttentionFixtureTest,
                         ::testing::Values("mamba1_bias_tied", "mamba1_nobias_untied", "mamba2_g1",
                                           "mamba2_g2_bias"));

}  // namespace
}  // namespace mamba_explain
