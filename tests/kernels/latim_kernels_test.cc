// The LaTIM CUDA kernels against their plain references (label gpu; skips without CUDA): the
// contribution vectors on random layers of both architectures with random and edge shapes (length
// 1, lengths not a multiple of the tiles, padded batches, row subsets with pad rows, f ∈ {silu,
// identity, relu}, n_groups 2, head_dim 4/8/64, d_state 5/16/64/128, d_conv 1–4, with and without
// conv bias, x_in as a strided view), fp32 and bf16 outputs; the pair scores (ℓ1, ℓ2, ALTI
// distance) on fp32 and bf16 T; the contraction in fp32 (TF32 off even when the global flag allows
// it), tf32 and bf16. References run in fp64 on the CPU. Outputs land on memory first poisoned with
// NaN, so an element the kernel forgets to write fails the comparison.
#include "kernels/latim_kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "tests/tensor_testing.h"

namespace mamba_explain {
namespace {

using me_testing::AllClose;
using me_testing::RelativeError;

struct Shape {
  bool mamba2 = false;
  int64_t batch = 2, L = 37, E = 64, N = 16, G = 1, P = 1, K = 4;
  int activation = kTapSilu;
  bool conv_bias = true;
};

// A random layer on `device` in fp32 (Δ from a softplus, A < 0, x_in a view with row stride > E).
LatimLayerTensors RandomLayer(const Shape& s, torch::Device device) {
  auto o = torch::TensorOptions().dtype(torch::kFloat32);
  const int64_t U = s.mamba2 ? s.E / s.P : s.E;
  LatimLayerTensors in;
  in.mamba2 = s.mamba2;
  in.head_dim = s.mamba2 ? s.P : 1;
  in.activation = s.activation;
  in.delta = torch::softplus(torch::randn({s.batch, s.L, U}, o) - 1.0);
  in.A = s.mamba2 ? -(torch::rand({U}, o) * 8 + 0.5) : -(torch::rand({s.E, s.N}, o) * 8 + 0.5);
  in.B = torch::randn({s.batch, s.L, s.G, s.N}, o);
  in.C = torch::randn({s.batch, s.L, s.G, s.N}, o);
  in.D = torch::randn({U}, o);
  in.x_in = torch::randn({s.batch, s.L, s.E + 7}, o).narrow(2, 0, s.E);
  in.conv_w = torch::randn({s.E, s.K}, o);
  if (s.conv_bias) in.conv_b = torch::randn({s.E}, o);
  in.gain = torch::randn({s.batch, s.L, s.E}, o);
  MakeCumDelta(in);
  MakeTaps(in);
  auto move = [&](torch::Tensor& t) {
    if (t.defined()) t = t.to(device);
  };
  for (torch::Tensor* t : {&in.delta, &in.cum_delta, &in.cum_delta_lo, &in.A, &in.B, &in.C, &in.D,
                           &in.x_in, &in.conv_w, &in.conv_b, &in.gain, &in.taps}) {
    move(*t);
  }
  return in;
}

LatimLayerTensors ToDouble(const LatimLayerTensors& in) {
  LatimLayerTensors d = in;
  for (torch::Tensor* t : {&d.delta, &d.cum_delta, &d.cum_delta_lo, &d.A, &d.B, &d.C, &d.D, &d.x_in,
                           &d.conv_w, &d.conv_b, &d.gain}) {
    if (t->defined()) *t = t->to(torch::kCPU, torch::kFloat64);
  }
  return d;
}

// Row block from per-sequence row lists: tiles of kLatimRowTile (pads last), tiles sorted by their
// last row like the engine does, n_src = the largest row + 1.
LatimRowBlock MakeBlock(const std::vector<std::vector<int64_t>>& rows, torch::Device device) {
  struct Tile {
    int64_t seq, last;
    std::vector<int64_t> rows;
  };
  std::vector<Tile> tiles;
  int64_t n_src = 1;
  for (size_t b = 0; b < rows.size(); ++b) {
    for (size_t k = 0; k < rows[b].size(); k += kLatimRowTile) {
      Tile t{static_cast<int64_t>(b), 0, {}};
      for (size_t j = k; j < std::min(rows[b].size(), k + kLatimRowTile); ++j) {
        t.rows.push_back(rows[b][j]);
      }
      t.last = t.rows.back();
      n_src = std::max(n_src, t.last + 1);
      tiles.push_back(t);
    }
  }
  std::stable_sort(tiles.begin(), tiles.end(),
                   [](const Tile& a, const Tile& b) { return a.last < b.last; });
  std::vector<int64_t> seq, pos;
  for (const Tile& t : tiles) {
    for (int64_t j = 0; j < kLatimRowTile; ++j) {
      seq.push_back(t.seq);
      pos.push_back(j < static_cast<int64_t>(t.rows.size()) ? t.rows[j] : -1);
    }
  }
  LatimRowBlock block;
  block.row_seq = torch::tensor(seq, torch::kLong).to(torch::kInt).to(device);
  block.row_pos = torch::tensor(pos, torch::kLong).to(torch::kInt).to(device);
  block.n_src = n_src;
  return block;
}

std::vector<int64_t> Range(int64_t a, int64_t b) {
  std::vector<int64_t> v;
  for (int64_t i = a; i < b; ++i) v.push_back(i);
  return v;
}

// Fills the caching allocator's free blocks with NaN so that unwritten outputs show.
void PoisonAllocator(torch::Device device) {
  std::vector<torch::Tensor> junk;
  for (int i = 0; i < 4; ++i) {
    junk.push_back(
        torch::full({int64_t{1} << 22}, std::nanf(""), torch::TensorOptions().device(device)));
  }
}

void CheckContributions(const Shape& s, const std::vector<std::vector<int64_t>>& rows) {
  const torch::Device cuda(torch::kCUDA);
  LatimLayerTensors in = RandomLayer(s, cuda);
  LatimRowBlock block = MakeBlock(rows, cuda);
  LatimRowBlock block_cpu{block.row_seq.cpu(), block.row_pos.cpu(), block.n_src};
  torch::Tensor ref_sum;
  torch::Tensor ref = LatimContributionsRef(ToDouble(in), block_cpu, torch::kFloat64, &ref_sum);
  PoisonAllocator(cuda);
  torch::Tensor got_sum;
  torch::Tensor got = LatimContributions(in, block, torch::kFloat32, &got_sum);
  const double scale = ref.abs().max().item<double>();
  EXPECT_TRUE(AllClose(got, ref, 2e-5 * scale, 1e-4)) << "fp32";
  EXPECT_LT(RelativeError(got, ref), 1e-5) << "fp32";
  EXPECT_TRUE(AllClose(got_sum, ref_sum, 1e-4 * ref_sum.abs().max().item<double>(), 1e-4))
      << "Σ_s u";
  PoisonAllocator(cuda);
  torch::Tensor got16 = LatimContributions(in, block, torch::kBFloat16);
  EXPECT_TRUE(AllClose(got16, ref, 1e-3 * scale, 1e-2)) << "bf16";
  // A window of the sources (a long row taken piece by piece): the same values at its columns,
  // and Σ over the window only.
  if (block.n_src >= 3) {
    const int64_t s0 = block.n_src / 3, n = std::max<int64_t>(block.n_src / 2, 1);
    LatimRowBlock window = block, window_cpu = block_cpu;
    window.src_begin = window_cpu.src_begin = s0;
    window.n_src = window_cpu.n_src = n;
    const torch::Tensor want = ref.narrow(1, s0, n);
    torch::Tensor ref_win_sum;
    EXPECT_TRUE(AllClose(
        LatimContributionsRef(ToDouble(in), window_cpu, torch::kFloat64, &ref_win_sum), want, 0, 0))
        << "reference window";
    PoisonAllocator(cuda);
    torch::Tensor win_sum;
    torch::Tensor win = LatimContributions(in, window, torch::kFloat32, &win_sum);
    EXPECT_TRUE(AllClose(win, want, 2e-5 * scale, 1e-4)) << "window " << s0 << "+" << n;
    EXPECT_TRUE(AllClose(win_sum, ref_win_sum, 1e-4 * ref_sum.abs().max().item<double>(), 1e-4))
        << "window Σ_s u";
  }
}

class LatimKernelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA";
    torch::manual_seed(7);
  }
};

TEST_F(LatimKernelsTest, Mamba1AllRowsPaddedBatch) {
  Shape s;
  s.L = 70;  // two lengths, neither a multiple of the 32-source tile
  CheckContributions(s, {Range(0, 70), Range(0, 45)});
}

TEST_F(LatimKernelsTest, Mamba1StateSizesAndActivations) {
  for (int64_t N : {5, 16, 64, 128}) {
    for (int act : {kTapSilu, kTapIdentity, kTapRelu}) {
      Shape s;
      s.N = N;
      s.E = 96;  // a channel tile that is not full
      s.activation = act;
      s.conv_bias = act != kTapRelu;
      SCOPED_TRACE(testing::Message() << "N " << N << " f " << act);
      CheckContributions(s, {{0, 3, 17, 36}, {5, 6, 7, 8, 9, 30}});
    }
  }
}

TEST_F(LatimKernelsTest, Mamba1LengthOneAndShortConv) {
  for (int64_t K : {1, 2, 3, 4}) {
    Shape s;
    s.L = 1;
    s.batch = 1;
    s.K = K;
    CheckContributions(s, {{0}});
    s.L = 9;
    CheckContributions(s, {Range(0, 9)});
  }
}

TEST_F(LatimKernelsTest, Mamba2HeadsGroupsStates) {
  struct Case {
    int64_t E, P, G, N;
  };
  for (const Case& c : {Case{64, 8, 1, 16}, Case{64, 8, 2, 16}, Case{128, 64, 1, 128},
                        Case{192, 64, 3, 64}, Case{32, 4, 2, 5}, Case{96, 16, 2, 128}}) {
    for (int act : {kTapSilu, kTapIdentity, kTapRelu}) {
      Shape s;
      s.mamba2 = true;
      s.E = c.E;
      s.P = c.P;
      s.G = c.G;
      s.N = c.N;
      s.L = 41;
      s.activation = act;
      SCOPED_TRACE(testing::Message()
                   << "E " << c.E << " P " << c.P << " G " << c.G << " N " << c.N << " f " << act);
      CheckContributions(s, {Range(0, 41), {40}});
    }
  }
}

TEST_F(LatimKernelsTest, LongSequenceExponentsStayFinite) {
  // Prefix sums grow to ~10³ while single steps stay ~10⁻³: the hi/lo split keeps the segment
  // sums exact enough that the decays match the fp64 reference.
  Shape s;
  s.batch = 1;
  s.L = 1500;
  s.E = 64;
  CheckContributions(s, {{0, 1, 700, 1499}});
  s.mamba2 = true;
  s.P = 16;
  s.N = 32;
  CheckContributions(s, {{0, 1, 700, 1499}});
}

TEST_F(LatimKernelsTest, PairScores) {
  const torch::Device cuda(torch::kCUDA);
  const int64_t S = 45, D = 100;
  LatimRowBlock block = MakeBlock({Range(0, 45), {3, 20}}, cuda);
  const int64_t Rb = block.row_pos.size(0);
  torch::Tensor T = torch::randn({Rb, S, D}, torch::TensorOptions().device(cuda));
  torch::Tensor y = torch::randn({Rb, D}, T.options()), resid = torch::randn({Rb, D}, T.options());
  for (torch::ScalarType dtype : {torch::kFloat32, torch::kBFloat16}) {
    torch::Tensor Tt = T.to(dtype);
    LatimPairScores ref = ComputeLatimPairScoresRef(
        Tt.cpu().to(torch::kFloat64), block.row_pos.cpu(), y.cpu().to(torch::kFloat64),
        resid.cpu().to(torch::kFloat64), true, true, true);
    PoisonAllocator(cuda);
    LatimPairScores got = ComputeLatimPairScores(Tt, block.row_pos, y, resid, true, true, true);
    EXPECT_TRUE(AllClose(got.l1, ref.l1, 1e-4, 1e-5));
    EXPECT_TRUE(AllClose(got.l2, ref.l2, 1e-4, 1e-5));
    EXPECT_TRUE(AllClose(got.dist, ref.dist, 1e-4, 1e-5));
    // A window of the sources: T's columns are sources s0, s0 + 1, ...
    const int64_t s0 = 17, n = 20;
    LatimPairScores win =
        ComputeLatimPairScores(Tt.narrow(1, s0, n), block.row_pos, y, resid, true, true, true, s0);
    EXPECT_TRUE(AllClose(win.l1, ref.l1.narrow(1, s0, n), 1e-4, 1e-5));
    EXPECT_TRUE(AllClose(win.dist, ref.dist.narrow(1, s0, n), 1e-4, 1e-5));
    LatimPairScores only = ComputeLatimPairScores(Tt, block.row_pos, y, resid, false, true, false);
    EXPECT_FALSE(only.l1.defined());
    EXPECT_FALSE(only.dist.defined());
    EXPECT_TRUE(AllClose(only.l2, ref.l2, 1e-4, 1e-5));
  }
}

TEST_F(LatimKernelsTest, PairScoresIntoResultRows) {
  // With a sink the norms land in rows `slot` of the layer's matrices at columns src_begin + j;
  // every other element keeps its value.
  const torch::Device cuda(torch::kCUDA);
  const int64_t S = 30, D = 64, L = 50, slots = 7;
  LatimRowBlock block = MakeBlock({{2, 9, 29}, {4}}, cuda);
  const int64_t Rb = block.row_pos.size(0);
  torch::Tensor T = torch::randn({Rb, S, D}, torch::TensorOptions().device(cuda));
  std::vector<int64_t> slot_v(Rb, slots - 1);  // the rest into the trash row
  slot_v[0] = 0;
  slot_v[1] = 2;
  slot_v[2] = 4;
  slot_v[kLatimRowTile] = 5;
  torch::Tensor slot = torch::tensor(slot_v, torch::kLong).to(cuda);
  for (int64_t s0 : {int64_t{0}, int64_t{11}}) {
    const int64_t n = s0 == 0 ? S : 15;
    torch::Tensor Tw = T.narrow(1, 0, n);
    LatimPairScores plain =
        ComputeLatimPairScores(Tw, block.row_pos, {}, {}, true, true, false, s0);
    LatimScoreSink sink;
    sink.slot = slot;
    sink.l1 = torch::full({slots, L}, -7.0f, T.options());
    sink.l2 = torch::full({slots, L}, -7.0f, T.options());
    LatimPairScores got =
        ComputeLatimPairScores(Tw, block.row_pos, {}, {}, true, true, false, s0, &sink);
    EXPECT_FALSE(got.l1.defined());
    EXPECT_FALSE(got.l2.defined());
    torch::Tensor want1 = torch::full({slots, L}, -7.0f, T.options());
    torch::Tensor want2 = want1.clone();
    for (int64_t i : {int64_t{0}, int64_t{1}, int64_t{2}, int64_t{kLatimRowTile}}) {
      want1[slot_v[i]].narrow(0, s0, n).copy_(plain.l1[i]);
      want2[slot_v[i]].narrow(0, s0, n).copy_(plain.l2[i]);
    }
    const torch::Tensor kept = torch::arange(slots - 1, torch::TensorOptions().device(cuda));
    EXPECT_TRUE(AllClose(sink.l1.index_select(0, kept), want1.index_select(0, kept), 0, 0));
    EXPECT_TRUE(AllClose(sink.l2.index_select(0, kept), want2.index_select(0, kept), 0, 0));
    // The reference sink gives the same matrices.
    LatimScoreSink ref_sink;
    ref_sink.slot = slot.cpu();
    ref_sink.l1 = torch::full({slots, L}, -7.0f);
    ref_sink.l2 = torch::full({slots, L}, -7.0f);
    ComputeLatimPairScoresRef(Tw.cpu(), block.row_pos.cpu(), {}, {}, true, true, false, s0,
                              &ref_sink);
    EXPECT_TRUE(AllClose(sink.l1.index_select(0, kept).cpu(),
                         ref_sink.l1.index_select(0, kept.cpu()), 1e-4, 1e-5));
    EXPECT_TRUE(AllClose(sink.l2.index_select(0, kept).cpu(),
                         ref_sink.l2.index_select(0, kept.cpu()), 1e-4, 1e-5));
  }
}

// MakeLatimInputs (one launch on CUDA) against its reference on traced tensors of both kinds:
// fp32 and bf16 traces, strided views, Mamba-2's rstd groups, every activation, with and without
// a conv bias, length 1.
TEST_F(LatimKernelsTest, PrepareFromTrace) {
  const torch::Device cuda(torch::kCUDA);
  struct Case {
    bool mamba2;
    int64_t batch, L, E, U, K, norm_groups;
    bool bias;
    int act;
    torch::ScalarType dtype;
  };
  const std::vector<Case> cases = {
      {false, 2, 37, 96, 96, 4, 0, true, kTapSilu, torch::kFloat32},
      {false, 1, 1, 64, 64, 4, 0, false, kTapIdentity, torch::kBFloat16},
      {false, 3, 19, 40, 40, 2, 0, true, kTapRelu, torch::kBFloat16},
      {true, 2, 33, 128, 16, 4, 1, true, kTapSilu, torch::kBFloat16},
      {true, 1, 50, 96, 12, 3, 2, false, kTapIdentity, torch::kFloat32},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message()
                 << "mamba2 " << c.mamba2 << " L " << c.L << " E " << c.E << " act " << c.act
                 << " bf16 " << (c.dtype == torch::kBFloat16));
    auto o = torch::TensorOptions().device(cuda).dtype(c.dtype);
    LatimTraceTensors tr;
    // Views as the trace holds them: x inside the conv input, z inside the projection.
    tr.delta = torch::softplus(torch::randn({c.batch, c.L, c.U + 3}, o)).narrow(2, 1, c.U);
    tr.x_in = torch::randn({c.batch, c.L, c.E + 9}, o).narrow(2, 0, c.E);
    tr.gate = torch::randn({c.batch, c.L, 2 * c.E}, o).narrow(2, c.E, c.E);
    auto f = torch::TensorOptions().device(cuda).dtype(torch::kFloat32);
    tr.conv_w = torch::randn({c.E, c.K}, f);
    if (c.bias) tr.conv_b = torch::randn({c.E}, f);
    if (c.mamba2) {
      tr.norm_rstd = torch::rand({c.batch, c.L, c.norm_groups}, o) + 0.5;
      tr.gated_norm = torch::randn({c.E}, f);
    }
    LatimLayerTensors ref, got;
    ref.activation = got.activation = c.act;
    LatimTraceTensors tr_cpu = tr;
    for (torch::Tensor* t : {&tr_cpu.delta, &tr_cpu.x_in, &tr_cpu.gate, &tr_cpu.conv_w,
                             &tr_cpu.conv_b, &tr_cpu.norm_rstd, &tr_cpu.gated_norm}) {
      if (t->defined()) *t = t->cpu();
    }
    MakeLatimInputsRef(tr_cpu, ref);
    PoisonAllocator(cuda);
    MakeLatimInputs(tr, got);
    EXPECT_TRUE(AllClose(got.delta, ref.delta, 0, 0)) << "delta";
    EXPECT_TRUE(AllClose(got.cum_delta, ref.cum_delta, 0, 1e-6)) << "S hi";
    EXPECT_TRUE(AllClose(got.cum_delta_lo, ref.cum_delta_lo, 1e-12, 0)) << "S lo";
    EXPECT_TRUE(AllClose(got.taps, ref.taps, 1e-6, 1e-5)) << "taps";
    EXPECT_TRUE(AllClose(got.gain, ref.gain, 1e-6, 1e-5)) << "gain";
    EXPECT_TRUE(AllClose(got.conv_w, ref.conv_w, 0, 0));
    EXPECT_EQ(got.conv_b.defined(), c.bias);
  }
}

TEST_F(LatimKernelsTest, RowErrors) {
  const torch::Device cuda(torch::kCUDA);
  const int64_t Bt = 3, L = 20, D = 70;
  for (torch::ScalarType dtype : {torch::kFloat32, torch::kBFloat16}) {
    for (bool bias : {true, false}) {
      auto f = torch::TensorOptions().device(cuda).dtype(torch::kFloat32);
      torch::Tensor y = torch::randn({Bt, L, D + 5}, f.dtype(dtype)).narrow(2, 0, D);
      torch::Tensor b = bias ? torch::randn({D}, f) : torch::Tensor();
      // Slots: rows of the three sequences, unused slots (b = Bt) and a trash slot.
      torch::Tensor slot_b = torch::tensor(std::vector<int64_t>{0, 0, 1, 3, 2, 3}).to(cuda);
      torch::Tensor slot_t = torch::tensor(std::vector<int64_t>{0, 19, 7, 0, 12, 0}).to(cuda);
      torch::Tensor sum_t = torch::randn({6, D}, f);
      torch::Tensor ref = LatimRowErrorsRef(sum_t.cpu(), slot_b.cpu(), slot_t.cpu(), y.cpu(),
                                            bias ? b.cpu() : torch::Tensor());
      PoisonAllocator(cuda);
      torch::Tensor got = LatimRowErrors(sum_t, slot_b, slot_t, y, b);
      EXPECT_TRUE(AllClose(got.cpu(), ref, 1e-4, 1e-5));
      EXPECT_EQ(got[0][3].item<float>(), 0.0f);
      EXPECT_EQ(got[1][5].item<float>(), 0.0f);
    }
  }
}

TEST_F(LatimKernelsTest, GemmPrecisions) {
  const torch::Device cuda(torch::kCUDA);
  torch::Tensor x = torch::randn({1000, 384}, torch::TensorOptions().device(cuda));
  torch::Tensor w = torch::randn({200, 384}, x.options());
  torch::Tensor ref = torch::matmul(x.cpu().to(torch::kFloat64), w.cpu().to(torch::kFloat64).t());
  // fp32 must stay fp32 even when the process allows TF32.
  const bool saved = at::globalContext().allowTF32CuBLAS();
  at::globalContext().setAllowTF32CuBLAS(true);
  const double e32 = RelativeError(LatimGemm(x, w, Precision::kFp32), ref);
  const double etf = RelativeError(LatimGemm(x, w, Precision::kTf32), ref);
  at::globalContext().setAllowTF32CuBLAS(saved);
  const double e16 = RelativeError(LatimGemm(x.to(torch::kBFloat16), w, Precision::kBf16), ref);
  EXPECT_LT(e32, 1e-6);
  EXPECT_LT(etf, 2e-3);
  EXPECT_LT(e16, 1e-2);
  torch::Tensor wide = LatimGemm(x.to(torch::kBFloat16), w, Precision::kBf16, torch::kFloat);
  EXPECT_EQ(wide.scalar_type(), torch::kFloat);
  EXPECT_LT(RelativeError(wide, ref), 1e-2);
  EXPECT_LT(RelativeError(wide, ref), e16);  // no second rounding of the output
  std::printf("gemm rel err fp32 %.2e tf32 %.2e bf16 %.2e\n", e32, etf, e16);
}

}  // namespace
}  // namespace mamba_explain
