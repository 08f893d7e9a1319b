#include "attribution/hidden_attention.h"

#include "mamba/segment_sum.h"

namespace mamba_explain {

using torch::indexing::Slice;

SsmParams SsmParamsFromTrace(const LayerTrace& trace, const LayerWeights& weights,
                             const ModelConfig& config, int64_t seq, int64_t length) {
  auto cut = [&](const torch::Tensor& t) { return t[seq].narrow(0, 0, length); };
  SsmParams p;
  p.arch = config.arch;
  p.delta = cut(trace.delta).to(torch::kFloat32);
  p.A = -torch::exp(weights.A_log.to(torch::kFloat32));
  p.B = cut(trace.B).to(torch::kFloat32);
  p.C = cut(trace.C).to(torch::kFloat32);
  p.D = weights.D.to(torch::kFloat32);
  return p;
}

namespace {

// Mamba-1: channels [c0, c1).
torch::Tensor Mamba1Block(const SsmParams& p, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  const int64_t N = p.A.size(1);
  torch::Tensor delta = p.delta.narrow(1, c0, c1 - c0);  // [n, Cb]
  // S[t,s,c] = −Σ_{k=s+1..t} Δ[k,c] (≤ 0, −inf above the diagonal); exponent = |A[c,n]| · S.
  torch::Tensor seg =
      SegmentSumRows(-delta.t(), r0, r1).permute({1, 2, 0}).contiguous();  // [R,n,Cb]
  torch::Tensor neg_a = -p.A.narrow(0, c0, c1 - c0);                       // [Cb, N]
  torch::Tensor c_rows = p.C.index({Slice(r0, r1), 0});                    // [R, N]
  torch::Tensor b_all = p.B.select(1, 0);                                  // [n, N]
  torch::Tensor m = torch::zeros_like(seg);
  torch::Tensor decay = torch::empty_like(seg);
  for (int64_t k = 0; k < N; ++k) {
    // (C_t[k] · B_s[k]) · exp(A[c,k] · Σ Δ): one state at a time keeps memory at [R, n, Cb].
    torch::Tensor cb = torch::outer(c_rows.select(1, k), b_all.select(1, k)).unsqueeze(-1);
    torch::mul_out(decay, seg, neg_a.select(1, k));
    decay.exp_();
    m.addcmul_(cb, decay);
  }
  return m.mul_(delta.unsqueeze(0));  // · Δ[s, c]
}

// Mamba-2: heads [h0, h1).
torch::Tensor Mamba2Block(const SsmParams& p, int64_t r0, int64_t r1, int64_t h0, int64_t h1) {
  const int64_t H = p.units(), G = p.B.size(1), Hb = h1 - h0;
  torch::Tensor delta = p.delta.narrow(1, h0, Hb);  // [n, Hb]
  torch::Tensor a = delta * p.A.narrow(0, h0, Hb);  // [n, Hb] Δ·A ≤ 0
  torch::Tensor decay = SegmentSumRows(a.t(), r0, r1).exp_().permute({1, 2, 0});  // [R, n, Hb]
  // CB[t,s,g] = C_t[g] · B_s[g], then each head takes its group g(h) = h / (H/G).
  torch::Tensor cb = torch::einsum("rgk,sgk->rsg", {p.C.narrow(0, r0, r1 - r0), p.B});  // [R,n,G]
  torch::Tensor group =
      torch::arange(h0, h1, torch::TensorOptions().dtype(torch::kLong).device(p.delta.device()))
          .div(H / G, "floor");
  torch::Tensor m = cb.index_select(2, group) * decay;  // [R, n, Hb]
  return m.mul_(delta.unsqueeze(0));
}

}  // namespace

torch::Tensor HiddenAttention(const SsmParams& p, int64_t row_begin, int64_t row_end,
                              int64_t unit_begin, int64_t unit_end, bool with_skip) {
  TORCH_CHECK(0 <= row_begin && row_begin < row_end && row_end <= p.length(),
              "HiddenAttention: bad row range");
  TORCH_CHECK(0 <= unit_begin && unit_begin < unit_end && unit_end <= p.units(),
              "HiddenAttention: bad unit range");
  torch::Tensor m = p.arch == Architecture::kMamba1
                        ? Mamba1Block(p, row_begin, row_end, unit_begin, unit_end)
                        : Mamba2Block(p, row_begin, row_end, unit_begin, unit_end);
  if (with_skip) {
    // + δ_{t,s} D[u] on the diagonal (t = s) of the block's rows.
    torch::Tensor rows = torch::arange(
        row_begin, row_end, torch::TensorOptions().dtype(torch::kLong).device(m.device()));
    torch::Tensor local = rows - row_begin;
    torch::Tensor d = p.D.narrow(0, unit_begin, unit_end - unit_begin);
    m.index_put_({local, rows}, m.index({local, rows}) + d, /*accumulate=*/false);
  }
  return m;
}

}  // namespace mamba_explain
