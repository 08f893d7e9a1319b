// Mamba-2 state-space dual (SSD) scan in chunked matrix form, research/mamba_reference.md §2.5
// (mamba_ssm ssd_minimal; Mamba-2 paper §6): four numbered steps over chunks of `chunk_size`
// positions, all fp32, matmul-heavy so it runs well on both CPU and GPU.
// Computes y[b,t,h,:] = Σ_{s≤t} (C_t·B_s) exp(Σ_{k=s+1..t} Δ_k A_h) Δ_s x_s  (no D skip).
// Shapes: x [B, L, H, P], delta [B, L, H], A [H], Bm/Cm [B, L, G, N] with H % G == 0 -> [B, L, H,
// P]. Equal to the sequential recurrence up to rounding; chunk_size changes only rounding.
// The overload with a state starts from h_{-1} = initial_state ([B, H, P, N], undefined = zeros)
// and returns the state after position L − 1, so a long sequence can be scanned piece by piece.
#ifndef MAMBA_EXPLAIN_MAMBA_SSD_CHUNKED_H_
#define MAMBA_EXPLAIN_MAMBA_SSD_CHUNKED_H_

#include <torch/torch.h>

namespace mamba_explain {

torch::Tensor SsdChunkedScan(const torch::Tensor& x, const torch::Tensor& delta,
                             const torch::Tensor& A, const torch::Tensor& Bm,
                             const torch::Tensor& Cm, int64_t chunk_size);
torch::Tensor SsdChunkedScan(const torch::Tensor& x, const torch::Tensor& delta,
                             const torch::Tensor& A, const torch::Tensor& Bm,
                             const torch::Tensor& Cm, int64_t chunk_size,
                             const torch::Tensor& initial_state, torch::Tensor* final_state);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_MAMBA_SSD_CHUNKED_H_
