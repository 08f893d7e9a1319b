// Plain LibTorch references of the LaTIM kernels (latim_kernels.h): one row at a time, written
// straight from the equations so that they read as the spec. Memory O(n·E·N) per row; meant for
// tests, CPU runs and shapes the CUDA kernel does not take.
#include <algorithm>

#include "kernels/latim_kernels.h"

namespace mamba_explain {
namespace {

torch::Tensor ApplyTap(const torch::Tensor& x, int activation) {
  switch (activation) {
    case kTapSilu:
      return torch::silu(x);
    case kTapRelu:
      return torch::relu(x);
    default:
      return x;
  }
}

// M[r, c] for r ∈ [0, t] of row t of sequence b, with D on r = t: [t+1, E].
torch::Tensor HiddenAttentionRow(const LatimLayerTensors& in, int64_t b, int64_t t) {
  using torch::indexing::Slice;
  const int64_t n = t + 1;
  // Σ_{k=r+1..t} Δ[k] = (hi_t − hi_r) + (lo_t − lo_r), ≥ 0.
  torch::Tensor seg = (in.cum_delta[b][t].unsqueeze(0) - in.cum_delta[b].narrow(0, 0, n)) +
                      (in.cum_delta_lo[b][t].unsqueeze(0) - in.cum_delta_lo[b].narrow(0, 0, n));
  torch::Tensor delta = in.delta[b].narrow(0, 0, n);  // [n,U]
  torch::Tensor m;
  if (!in.mamba2) {
    // LaTIM eq. 15 / research §6.1: Σ_n C[t,n]·exp(A[c,n]·Σ_{k=r+1..t} Δ[k,c])·B[r,n]·Δ[r,c].
    torch::Tensor decay = torch::exp(seg.unsqueeze(-1) * in.A.unsqueeze(0));  // [n, E, N]
    torch::Tensor c_t = in.C[b][t][0];                                        // [N]
    torch::Tensor b_r = in.B[b].narrow(0, 0, n).select(1, 0);                 // [n, N]
    m = torch::einsum("k,rck,rk->rc", {c_t, decay, b_r}) * delta;
  } else {
    // Research §6.2: (C[t,g]·B[r,g])·exp(A[h]·Σ Δ[k,h])·Δ[r,h], heads of group g = h / (H/G).
    const int64_t H = in.delta.size(2), G = in.B.size(2);
    torch::Tensor cb = (in.B[b].narrow(0, 0, n) * in.C[b][t].unsqueeze(0)).sum(-1);  // [n, G]
    torch::Tensor group =
        torch::arange(H, torch::TensorOptions().dtype(torch::kLong).device(cb.device()))
            .div(H / G, "floor");
    m = cb.index_select(1, group) * torch::exp(seg * in.A.unsqueeze(0)) * delta;  // [n, H]
  }
  m[t] += in.D;
  if (in.mamba2) m = m.repeat_interleave(in.head_dim, 1);  // heads -> channels
  return m;
}

}  // namespace

void MakeCumDelta(LatimLayerTensors& layer) {
  torch::Tensor cum = layer.delta.to(torch::kFloat64).cumsum(1);
  layer.cum_delta = cum.to(torch::kFloat32);
  layer.cum_delta_lo = (cum - layer.cum_delta.to(torch::kFloat64)).to(torch::kFloat32);
}

void MakeTaps(LatimLayerTensors& layer) {
  const int64_t K = layer.conv_w.size(1);
  std::vector<torch::Tensor> taps;
  for (int64_t k = 0; k < K; ++k) {
    torch::Tensor phi = layer.x_in * layer.conv_w.select(1, K - 1 - k);
    if (k == 0 && layer.conv_b.defined()) phi = phi + layer.conv_b;
    taps.push_back(ApplyTap(phi, layer.activation));
  }
  layer.taps = torch::stack(taps, 2).contiguous();  // [Bt, L, K, E]
}

void MakeLatimInputsRef(const LatimTraceTensors& tr, LatimLayerTensors& layer) {
  auto f32 = [](const torch::Tensor& t) { return t.to(torch::kFloat32); };
  const int64_t E = tr.gate.size(2);
  layer.delta = f32(tr.delta).contiguous();
  MakeCumDelta(layer);
  layer.x_in = f32(tr.x_in);
  layer.conv_w = f32(tr.conv_w).contiguous();
  layer.conv_b = tr.conv_b.defined() ? f32(tr.conv_b).contiguous() : torch::Tensor();
  torch::Tensor gain = torch::silu(f32(tr.gate));
  if (tr.norm_rstd.defined()) {
    // Gated RMSNorm frozen at the forward's statistics and grouping (eqs. 24–25).
    torch::Tensor rstd = f32(tr.norm_rstd);
    gain = gain * rstd.repeat_interleave(E / rstd.size(2), 2) * f32(tr.gated_norm);
  }
  layer.gain = gain.contiguous();
  MakeTaps(layer);
}

torch::Tensor LatimRowErrorsRef(const torch::Tensor& sum_t, const torch::Tensor& slot_b,
                                const torch::Tensor& slot_t, const torch::Tensor& y,
                                const torch::Tensor& bias) {
  const int64_t Bt = y.size(0);
  torch::Tensor b = slot_b.to(y.device(), torch::kLong), t = slot_t.to(y.device(), torch::kLong);
  torch::Tensor real = ((b >= 0) & (b < Bt)).to(torch::kFloat32);
  torch::Tensor rows = y.index({b.clamp(0, Bt - 1), t.clamp(0, y.size(1) - 1)}).to(torch::kFloat32);
  torch::Tensor out = bias.defined() ? rows - bias.to(torch::kFloat32) : rows;
  torch::Tensor num = (sum_t.to(torch::kFloat32) - out).pow(2).sum(-1) * real;
  torch::Tensor den = rows.pow(2).sum(-1) * real;
  return torch::stack({num, den});
}

torch::Tensor LatimContributionsRef(const LatimLayerTensors& in, const LatimRowBlock& block,
                                    torch::ScalarType dtype, torch::Tensor* u_sum) {
  const int64_t Rb = block.row_pos.size(0), S = block.n_src, E = in.gain.size(2);
  const int64_t K = in.conv_w.size(1), s0 = block.src_begin;
  torch::Tensor rows = block.row_pos.to(torch::kCPU, torch::kLong);
  torch::Tensor seqs = block.row_seq.to(torch::kCPU, torch::kLong);
  torch::Tensor out = torch::zeros({Rb, S, E}, in.gain.options());
  for (int64_t i = 0; i < Rb; ++i) {
    const int64_t t = rows[i].item<int64_t>();
    if (t < s0) continue;  // pads, and rows whose sources all lie past the window
    TORCH_CHECK(s0 >= 0 && t < in.gain.size(1), "LatimContributionsRef: row ", t,
                " or window start ", s0, " outside the sequence");
    const int64_t b = seqs[i].item<int64_t>(), n = t + 1;
    torch::Tensor m = HiddenAttentionRow(in, b, t);                    // [n, E]
    torch::Tensor x = in.x_in[b].narrow(0, 0, n).to(torch::kFloat32);  // [n, E]
    torch::Tensor v = torch::zeros({n, E}, m.options());
    for (int64_t k = 0; k < std::min(K, n); ++k) {
      // tap_k[s] = f(w[c, K−1−k]·x[s,c] (+ β on the current-token tap)) feeds position s + k.
      torch::Tensor phi = x * in.conv_w.select(1, K - 1 - k);
      if (k == 0 && in.conv_b.defined()) phi = phi + in.conv_b;
      const int64_t len = n - k;
      v.narrow(0, 0, len).add_(m.narrow(0, k, len) *
                               ApplyTap(phi, in.activation).narrow(0, 0, len));
    }
    // The window's part of the row: sources [s0, min(t + 1, s0 + S)).
    const int64_t width = std::min(n, s0 + S) - s0;
    out[i].narrow(0, 0, width).copy_((v * in.gain[b][t].unsqueeze(0)).narrow(0, s0, width));
  }
  if (u_sum != nullptr) *u_sum = out.sum(1);
  return out.to(dtype);
}

LatimPairScores ComputeLatimPairScoresRef(const torch::Tensor& T_in, const torch::Tensor& row_pos,
                                          const torch::Tensor& y, const torch::Tensor& resid,
                                          bool want_l1, bool want_l2, bool want_dist,
                                          int64_t src_begin, const LatimScoreSink* sink) {
  torch::Tensor T = T_in.to(torch::kFloat32);
  const int64_t S = T.size(1);
  torch::Tensor t = row_pos.to(T.device(), torch::kLong).unsqueeze(1);                  // [Rb, 1]
  torch::Tensor s = torch::arange(src_begin, src_begin + S, t.options()).unsqueeze(0);  // [1, S]
  torch::Tensor mask = ((s <= t) & (t >= 0)).to(torch::kFloat32);                       // [Rb, S]
  LatimPairScores out;
  if (want_l1) out.l1 = T.abs().sum(-1) * mask;
  if (want_l2) out.l2 = T.norm(2, -1) * mask;
  if (want_dist) {
    torch::Tensor diag = (s == t).to(torch::kFloat32).unsqueeze(-1);  // [Rb, S, 1]
    torch::Tensor t_prime = T + diag * resid.unsqueeze(1);            // eq. 6: T' adds x_t
    out.dist = (y.unsqueeze(1) - t_prime).abs().sum(-1) * mask;
  }
  if (sink != nullptr) {
    torch::Tensor slot = sink->slot.to(T.device(), torch::kLong);
    if (want_l1) sink->l1.narrow(1, src_begin, S).index_copy_(0, slot, out.l1);
    if (want_l2) sink->l2.narrow(1, src_begin, S).index_copy_(0, slot, out.l2);
    out.l1 = out.l2 = torch::Tensor();
  }
  return out;
}

}  // namespace mamba_explain
