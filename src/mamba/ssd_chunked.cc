#include "mamba/ssd_chunked.h"

#include <algorithm>
#include <vector>

#include "mamba/segment_sum.h"

namespace mamba_explain {

torch::Tensor SsdChunkedScan(const torch::Tensor& x, const torch::Tensor& delta,
                             const torch::Tensor& A, const torch::Tensor& Bm,
                             const torch::Tensor& Cm, int64_t chunk_size) {
  return SsdChunkedScan(x, delta, A, Bm, Cm, chunk_size, torch::Tensor(), nullptr);
}

torch::Tensor SsdChunkedScan(const torch::Tensor& x, const torch::Tensor& delta,
                             const torch::Tensor& A, const torch::Tensor& Bm,
                             const torch::Tensor& Cm, int64_t chunk_size,
                             const torch::Tensor& initial_state, torch::Tensor* final_state) {
  namespace F = torch::nn::functional;
  const int64_t batch = x.size(0), L = x.size(1), H = x.size(2), P = x.size(3);
  const int64_t G = Bm.size(2), N = Bm.size(3);
  const int64_t Q = std::max<int64_t>(1, std::min(chunk_size, L));
  const int64_t pad = (Q - L % Q) % Q;
  const int64_t T = L + pad, nc = T / Q;
  // Zero padding at the end cannot reach real positions (causal), it only fills the last chunk.
  auto pad_seq = [&](const torch::Tensor& t) {
    if (pad == 0) return t;
    std::vector<int64_t> shape = t.sizes().vec();
    shape[1] = pad;
    return torch::cat({t, torch::zeros(shape, t.options())}, 1);
  };
  torch::Tensor X = pad_seq(x * delta.unsqueeze(-1)).view({batch, nc, Q, H, P});       // Δ_s x_s
  torch::Tensor a = pad_seq(delta * A).view({batch, nc, Q, H}).permute({0, 3, 1, 2});  // [b,h,c,l]
  torch::Tensor Bh = pad_seq(Bm.repeat_interleave(H / G, 2)).view({batch, nc, Q, H, N});
  torch::Tensor Ch = pad_seq(Cm.repeat_interleave(H / G, 2)).view({batch, nc, Q, H, N});
  torch::Tensor a_cumsum = a.cumsum(-1);  // [b,h,c,l]

  // 1. Intra-chunk (diagonal blocks): Y_diag[l] = Σ_{s≤l} (C_l·B_s) exp(segsum(a))[l,s] X_s.
  torch::Tensor decay = torch::exp(SegmentSum(a)).permute({0, 2, 1, 3, 4});  // [b,c,h,l,s]
  torch::Tensor scores = torch::einsum("bclhn,bcshn->bchls", {Ch, Bh}) * decay;
  torch::Tensor y_diag = torch::einsum("bchls,bcshp->bclhp", {scores, X});

  // 2. Chunk states: this chunk's inputs decayed to its last position.
  torch::Tensor decay_to_end = torch::exp(a_cumsum.narrow(-1, Q - 1, 1) - a_cumsum);  // [b,h,c,l]
  torch::Tensor states =
      torch::einsum("bclhn,bhcl,bclhp->bchpn", {Bh, decay_to_end, X});  // [b,c,h,p,n]

  // 3. Inter-chunk recurrence: state entering chunk c, from the initial state (zero by default).
  //    Row nc is the state after the last position (the zero padding leaves it unchanged: Δ = 0).
  torch::Tensor chunk_totals = F::pad(a_cumsum.select(-1, Q - 1), F::PadFuncOptions({1, 0}));
  torch::Tensor chunk_decay = torch::exp(SegmentSum(chunk_totals));  // [b,h,c+1,c+1]
  torch::Tensor start = initial_state.defined()
                            ? initial_state.to(states.scalar_type()).unsqueeze(1)
                            : torch::zeros_like(states.narrow(1, 0, 1));  // [b,1,h,p,n]
  states = torch::cat({start, states}, 1);
  torch::Tensor all_states =
      torch::einsum("bhzc,bchpn->bzhpn", {chunk_decay, states});  // [b,c+1,h,p,n]
  if (final_state != nullptr) *final_state = all_states.select(1, nc).contiguous();
  torch::Tensor entering = all_states.narrow(1, 0, nc);  // [b,c,h,p,n]

  // 4. State -> output (off-diagonal blocks).
  torch::Tensor y_off =
      torch::einsum("bclhn,bchpn,bhcl->bclhp", {Ch, entering, torch::exp(a_cumsum)});
  return (y_diag + y_off).reshape({batch, T, H, P}).narrow(1, 0, L);
}

}  // namespace mamba_explain
