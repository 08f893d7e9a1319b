// Chunked, recomputed layer traces (mamba/layer_traces.h) against the full forward's Trace: every
// field of every layer, for Mamba-1 and Mamba-2 fixtures, right-padded batches, chunk lengths that
// divide nothing (1, 5, 7, 13) and one chunk for the whole sequence, both orders; the logits from
// the top layer's trace equal Forward's. Below them the pieces that make chunking exact: the scan
// and the SSD from an initial state, and the conv with its history.
#include "mamba/layer_traces.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/selective_scan.h"
#include "mamba/mamba_model.h"
#include "mamba/mamba_ops.h"
#include "mamba/ssd_chunked.h"
#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"

namespace mamba_explain {
namespace {

using me_testing::AllClose;
using me_testing::FixtureDir;
using torch::indexing::Slice;

SelectiveScanInputs RandomScan(int64_t batch, int64_t L, int64_t E, int64_t G, int64_t N) {
  SelectiveScanInputs in;
  in.x = torch::randn({batch, L, E});
  in.delta = torch::softplus(torch::randn({batch, L, E}) - 2.0);
  in.A = -torch::exp(torch::randn({E, N}));
  in.B = torch::randn({batch, L, G, N});
  in.C = torch::randn({batch, L, G, N});
  in.D = torch::randn({E});
  return in;
}

SelectiveScanInputs Slice1(const SelectiveScanInputs& in, int64_t t0, int64_t len) {
  SelectiveScanInputs out = in;
  out.x = in.x.narrow(1, t0, len);
  out.delta = in.delta.narrow(1, t0, len);
  out.B = in.B.narrow(1, t0, len);
  out.C = in.C.narrow(1, t0, len);
  if (in.lengths.defined()) out.lengths = (in.lengths - t0).clamp(0, len);
  return out;
}

TEST(ChunkedScanTest, SelectiveScanFromAStateEqualsOneScan) {
  torch::manual_seed(3);
  SelectiveScanInputs in = RandomScan(3, 23, 6, 2, 5);
  in.lengths = torch::tensor({23, 9, 1}, torch::kInt64);
  torch::Tensor final_full;
  ASSERT_OK_AND_ASSIGN(torch::Tensor want, SelectiveScan(in, torch::Tensor(), &final_full));
  for (int64_t chunk : {1, 4, 7, 23}) {
    torch::Tensor state, got = torch::empty_like(want);
    for (int64_t t0 = 0; t0 < 23; t0 += chunk) {
      const int64_t len = std::min<int64_t>(chunk, 23 - t0);
      const torch::Tensor initial = state;
      ASSERT_OK_AND_ASSIGN(torch::Tensor y, SelectiveScan(Slice1(in, t0, len), initial, &state));
      got.narrow(1, t0, len).copy_(y);
    }
    // The same operations in the same order: exactly equal.
    EXPECT_TRUE(AllClose(got, want, 0, 0)) << "chunk " << chunk;
    EXPECT_TRUE(AllClose(state, final_full, 0, 0)) << "chunk " << chunk;
  }
  // The final state really is the state after the last real step: one more step with x = 0 and
  // Δ → 0 reads it back through C (y = Σ_n h[c, n] C[n]).
  SelectiveScanInputs one = RandomScan(3, 1, 6, 2, 5);
  one.x.zero_();
  one.delta.fill_(1e-30f);
  ASSERT_OK_AND_ASSIGN(torch::Tensor y1, SelectiveScan(one, final_full, nullptr));
  torch::Tensor read =
      torch::einsum("ben,ben->be", {final_full, one.C.select(1, 0).repeat_interleave(3, 1)});
  EXPECT_TRUE(AllClose(y1.select(1, 0), read, 1e-5, 1e-5));
  // Validation names the state.
  EXPECT_STATUS(SelectiveScan(in, torch::zeros({3, 6, 4}), nullptr),
                absl::StatusCode::kInvalidArgument, "initial_state");
}

TEST(ChunkedScanTest, SsdFromAStateEqualsOneScan) {
  torch::manual_seed(4);
  const int64_t b = 2, L = 29, H = 4, P = 3, N = 5, G = 2;
  torch::Tensor x = torch::randn({b, L, H, P});
  torch::Tensor delta = torch::softplus(torch::randn({b, L, H}) - 1);
  torch::Tensor A = -torch::exp(torch::randn({H}));
  torch::Tensor Bm = torch::randn({b, L, G, N}), Cm = torch::randn({b, L, G, N});
  torch::Tensor final_full;
  torch::Tensor want = SsdChunkedScan(x, delta, A, Bm, Cm, 8, torch::Tensor(), &final_full);
  EXPECT_TRUE(AllClose(want, SsdChunkedScan(x, delta, A, Bm, Cm, 8), 0, 0));
  for (int64_t chunk : {1, 6, 13}) {
    torch::Tensor state, got = torch::empty_like(want);
    for (int64_t t0 = 0; t0 < L; t0 += chunk) {
      const int64_t len = std::min(chunk, L - t0);
      auto cut = [&](const torch::Tensor& t) { return t.narrow(1, t0, len); };
      got.narrow(1, t0, len)
          .copy_(SsdChunkedScan(cut(x), cut(delta), A, cut(Bm), cut(Cm), 8, state, &state));
    }
    EXPECT_TRUE(AllClose(got, want, 1e-5, 1e-4)) << "chunk " << chunk;
    EXPECT_TRUE(AllClose(state, final_full, 1e-5, 1e-4)) << "chunk " << chunk;
  }
}

TEST(ChunkedScanTest, ConvWithHistoryEqualsOneConv) {
  torch::manual_seed(5);
  torch::Tensor x = torch::randn({2, 17, 5}), w = torch::randn({5, 4}), bias = torch::randn({5});
  torch::Tensor want = CausalConv1d(x, w, bias);
  for (int64_t chunk : {1, 2, 5, 17}) {
    torch::Tensor history, got = torch::empty_like(want);
    for (int64_t t0 = 0; t0 < 17; t0 += chunk) {
      const int64_t len = std::min<int64_t>(chunk, 17 - t0);
      got.narrow(1, t0, len)
          .copy_(CausalConv1dContinued(x.narrow(1, t0, len), w, bias, history, &history));
    }
    EXPECT_TRUE(AllClose(got, want, 0, 0)) << "chunk " << chunk;
  }
}

// Every field of the recomputed trace against the full forward's.
void ExpectSameTrace(const LayerTrace& got, const LayerTrace& want, double tol) {
  EXPECT_EQ(got.layer, want.layer);
  const std::vector<std::pair<const char*, torch::Tensor LayerTrace::*>> fields = {
      {"residual_in", &LayerTrace::residual_in},
      {"normed", &LayerTrace::normed},
      {"conv_in", &LayerTrace::conv_in},
      {"conv_pre", &LayerTrace::conv_pre},
      {"x", &LayerTrace::x},
      {"delta", &LayerTrace::delta},
      {"B", &LayerTrace::B},
      {"C", &LayerTrace::C},
      {"gate", &LayerTrace::gate},
      {"y", &LayerTrace::y},
      {"norm_rstd", &LayerTrace::norm_rstd},
      {"mixer_out", &LayerTrace::mixer_out}};
  for (const auto& [name, field] : fields) {
    ASSERT_EQ((got.*field).defined(), (want.*field).defined()) << name;
    if (!(want.*field).defined()) continue;
    EXPECT_TRUE(AllClose(got.*field, want.*field, tol, tol)) << name << " layer " << want.layer;
  }
}

struct Case {
  std::string fixture;
  int64_t chunk_len;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.fixture << " chunk " << c.chunk_len; }

class LayerTracesTest : public ::testing::TestWithParam<Case> {};

TEST_P(LayerTracesTest, RecomputedLayersEqualTheFullTrace) {
  const Case& c = GetParam();
  ASSERT_OK_AND_ASSIGN(auto model, MambaModel::Load(FixtureDir(c.fixture), LoadOptions()));
  const ModelConfig& cfg = model->config();
  torch::manual_seed(6);
  const int64_t L = 45;
  torch::Tensor ids = torch::randint(0, cfg.vocab_size, {3, L}, torch::kInt64);
  torch::Tensor lengths =
      torch::tensor({L, int64_t{17}, int64_t{1}}, torch::kInt64);  // right-padded batch
  ForwardOptions all;
  all.trace = ForwardOptions::TraceLayers::kAll;
  ASSERT_OK_AND_ASSIGN(ForwardOutput full, model->Forward(ids, lengths, all));
  const int n_layers = static_cast<int>(cfg.n_layers);
  for (auto order : {LayerTracesOptions::Order::kIncreasing, LayerTracesOptions::Order::kAny}) {
    LayerTracesOptions options;
    options.order = order;
    options.chunk_len = c.chunk_len;
    ASSERT_OK_AND_ASSIGN(LayerTraces traces, LayerTraces::Create(*model, ids, lengths, options));
    EXPECT_EQ(traces.chunk_len(), std::min<int64_t>(c.chunk_len, L));
    std::vector<int> layers;
    if (order == LayerTracesOptions::Order::kAny) {
      layers = {n_layers - 1, 0, n_layers - 1, 1};  // any order, repeatedly
    } else {
      layers = {0, 2};  // layer 1 is run untraced in between
    }
    LayerTrace first;
    torch::Tensor first_residual;
    for (int l : layers) {
      ASSERT_OK_AND_ASSIGN(LayerTrace t, traces.Layer(l));
      ExpectSameTrace(t, *full.trace.Find(l), 2e-5);
      if (!first.residual_in.defined()) {
        first = t;
        first_residual = t.residual_in.clone();
      }
      if (l == n_layers - 1) {
        // The logits from the top layer's trace: norm_f and lm_head of residual_in + mixer_out.
        torch::Tensor h =
            RmsNorm(t.residual_in + t.mixer_out, model->weights().norm_f, cfg.norm_eps);
        EXPECT_TRUE(AllClose(Project(h, model->weights().lm_head, torch::Tensor()), full.logits,
                             1e-4, 1e-4));
      }
    }
    // What was handed out is never modified by later layers.
    EXPECT_TRUE(AllClose(first.residual_in, first_residual, 0, 0));
    if (order == LayerTracesOptions::Order::kIncreasing) {
      EXPECT_STATUS(traces.Layer(2), absl::StatusCode::kFailedPrecondition, "increasing");
      EXPECT_STATUS(traces.Layer(1), absl::StatusCode::kFailedPrecondition, "increasing");
      EXPECT_EQ(traces.HeldBytes(), 3 * L * cfg.d_model * 4);
    } else {
      EXPECT_EQ(traces.HeldBytes(), n_layers * 3 * L * cfg.d_model * 4);
    }
    EXPECT_STATUS(traces.Layer(n_layers), absl::StatusCode::kInvalidArgument, "not in");
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LayerTracesTest,
                         ::testing::Values(Case{"mamba1_bias_tied", 1}, Case{"mamba1_bias_tied", 7},
                                           Case{"mamba1_nobias_untied", 13},
                                           Case{"mamba1_bias_tied", 64}, Case{"mamba2_g2_bias", 1},
                                           Case{"mamba2_g2_bias", 5}, Case{"mamba2_g1", 13},
                                           Case{"mamba2_g2_bias", 64}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.fixture + "_chunk" +
                                  std::to_string(info.param.chunk_len);
                         });

TEST(LayerTracesBudgetTest, BudgetDecidesTheChunkLength) {
  ASSERT_OK_AND_ASSIGN(auto m1, MambaModel::Load(FixtureDir("mamba1_bias_tied"), LoadOptions()));
  ASSERT_OK_AND_ASSIGN(auto m2, MambaModel::Load(FixtureDir("mamba2_g2_bias"), LoadOptions()));
  const int64_t per1 = BlockTemporaryBytesPerPosition(m1->config());
  EXPECT_EQ(RecomputeChunkLength(m1->config(), 2, 1000, 2 * per1 * 37), 37);
  EXPECT_EQ(RecomputeChunkLength(m1->config(), 2, 1000, 1), 1);
  EXPECT_EQ(RecomputeChunkLength(m1->config(), 1, 30, int64_t{1} << 40), 30);
  // Mamba-2: a multiple of the SSD chunk (8 here) once at least one fits.
  const int64_t per2 = BlockTemporaryBytesPerPosition(m2->config());
  EXPECT_EQ(RecomputeChunkLength(m2->config(), 1, 1000, per2 * 37), 32);
  EXPECT_EQ(RecomputeChunkLength(m2->config(), 1, 1000, per2 * 5), 5);
  // The budget path gives the same trace as a fixed chunk.
  torch::Tensor ids = torch::randint(0, 96, {1, 40}, torch::kInt64);
  LayerTracesOptions small;
  small.memory_budget_bytes = per2 * 11;
  ASSERT_OK_AND_ASSIGN(LayerTraces t, LayerTraces::Create(*m2, ids, torch::Tensor(), small));
  EXPECT_EQ(t.chunk_len(), 8);
  ForwardOptions all;
  all.trace = ForwardOptions::TraceLayers::kAll;
  ASSERT_OK_AND_ASSIGN(ForwardOutput full, m2->Forward(ids, torch::Tensor(), all));
  ASSERT_OK_AND_ASSIGN(LayerTrace l1, t.Layer(1));
  ExpectSameTrace(l1, *full.trace.Find(1), 2e-5);
  EXPECT_EQ(LayerTraceBytesPerPosition(m1->config()), 4 * (3 * 32 + 7 * 64 + 2 * 8));
}

TEST(LayerTracesFromTraceTest, HandsOutTheTracedLayers) {
  ASSERT_OK_AND_ASSIGN(auto model, MambaModel::Load(FixtureDir("mamba1_bias_tied"), LoadOptions()));
  ForwardOptions some;
  some.trace = ForwardOptions::TraceLayers::kSelected;
  some.trace_layers = {1};
  ASSERT_OK_AND_ASSIGN(ForwardOutput out,
                       model->Forward(torch::tensor({{1, 2, 3}}, torch::kInt64), {}, some));
  LayerTraces t = LayerTraces::FromTrace(out.trace);
  EXPECT_EQ(t.batch(), 1);
  EXPECT_EQ(t.seq_len(), 3);
  ASSERT_OK_AND_ASSIGN(LayerTrace l1, t.Layer(1));
  EXPECT_TRUE(AllClose(l1.mixer_out, out.trace.layers[0].mixer_out, 0, 0));
  EXPECT_STATUS(t.Layer(0), absl::StatusCode::kNotFound, "not traced");
}

}  // namespace
}  // namespace mamba_explain
