// Selective scan (mamba_reference.md §1.3 step 8–9, §2.3 step 6), fp32, state starting at zero
// (or at `initial_state`, so that a long sequence can be scanned in chunks):
//   h_t[c,n] = exp(Δ[b,t,c]·A[c,n])·h_{t-1}[c,n] + Δ[b,t,c]·B[b,t,g(c),n]·x[b,t,c]
//   y[b,t,c] = Σ_n h_t[c,n]·C[b,t,g(c),n] + D[c]·x[b,t,c],   g(c) = c / (E/G).
// Mamba-1 passes G = 1; Mamba-2 passes channel c = h·P + p with Δ and A expanded per channel
// (any strides, including 0, are honoured). Optional `lengths` right-pads: y[b,t,:] = 0 for
// t >= lengths[b]; real positions do not depend on padded ones (causal). Returns a new contiguous
// [Bt, L, E] tensor on the inputs' device. Thread-safe; on CUDA it runs on the current stream.
#ifndef MAMBA_EXPLAIN_KERNELS_SELECTIVE_SCAN_H_
#define MAMBA_EXPLAIN_KERNELS_SELECTIVE_SCAN_H_

#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/selective_scan_params.h"

namespace mamba_explain {

struct SelectiveScanInputs {
  torch::Tensor x;        // [Bt, L, E] fp32
  torch::Tensor delta;    // [Bt, L, E] fp32, after softplus
  torch::Tensor A;        // [E, N] fp32, negative
  torch::Tensor B;        // [Bt, L, G, N] fp32
  torch::Tensor C;        // [Bt, L, G, N] fp32
  torch::Tensor D;        // [E] fp32, or undefined/empty for no skip term
  torch::Tensor lengths;  // [Bt] int64 (CPU or the inputs' device), or undefined/empty
};

// INVALID_ARGUMENT naming the tensor and its shape when dtypes, devices or shapes disagree, when
// G does not divide E, or when CPU-resident lengths lie outside [0, L]. Device-resident lengths
// are not read here; the scan clamps them to [0, L].
absl::Status ValidateSelectiveScanInputs(const SelectiveScanInputs& inputs);

// Fills sizes, strides and pointers from validated inputs and an output [Bt, L, E] tensor on the
// same device; `lengths` must already live on that device (or be undefined/empty).
SelectiveScanParams MakeSelectiveScanParams(const SelectiveScanInputs& inputs,
                                            const torch::Tensor& lengths, torch::Tensor& out);
// INVALID_ARGUMENT unless initial_state is undefined/empty or float32 [Bt, E, N] on x's device.
absl::Status ValidateSelectiveScanState(const SelectiveScanInputs& inputs,
                                        const torch::Tensor& initial_state);
// Points params at the (validated) initial state and, when given, the [Bt, E, N] fp32 final-state
// output on the params' device.
void SetSelectiveScanState(const torch::Tensor& initial_state, torch::Tensor* final_state,
                           SelectiveScanParams& params);

// Validates, then runs the CUDA kernel when the inputs are on CUDA and
// SelectiveScanCudaSupports(N); otherwise the reference (through the CPU for CUDA inputs).
// INTERNAL (with op and shape) for a failed launch or a LibTorch error.
absl::StatusOr<torch::Tensor> SelectiveScan(const SelectiveScanInputs& inputs);
// Same from h_{-1} = initial_state ([Bt, E, N] fp32 on x's device, or undefined: zeros), and, when
// final_state is not null, sets it to the state after each sequence's last real step (after step
// lengths[b] − 1; the initial state when that length is 0): a new [Bt, E, N] fp32 tensor on x's
// device. Scanning [0, L) equals scanning [0, t) and then [t, L) from that final state, exactly.
// Forward only (the chunked recomputation of mamba/layer_traces.h); no autograd.
absl::StatusOr<torch::Tensor> SelectiveScan(const SelectiveScanInputs& inputs,
                                            const torch::Tensor& initial_state,
                                            torch::Tensor* final_state);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_KERNELS_SELECTIVE_SCAN_H_
