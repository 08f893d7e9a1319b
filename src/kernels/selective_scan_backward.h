// Backward of the selective scan (selective_scan.h). With the adjoint state
//   λ_t[c,n] = dy[b,t,c]·C[b,t,g(c),n] + exp(Δ[b,t+1,c]·A[c,n])·λ_{t+1}[c,n]
// it returns dx = Δ·Σ_n B·λ + D·dy, and in SsmGradMode::kFull also dΔ, dA [E, N], dB, dC
// [Bt, L, G, N] (summed over the channels of a group) and dD [E]. Padded positions (t >=
// lengths[b]) get zero gradient and their dy is ignored. fp32 in and out. Extra memory: CPU
// O(max(threads, Bt·G)·L·N), CUDA O(Bt·E·N·L/32) (L/16 for N = 256); time O(Bt·L·E·N) on both. The
// CPU path is deterministic for a fixed thread count; CUDA dB/dC use float atomics (low bits vary).
#ifndef MAMBA_EXPLAIN_KERNELS_SELECTIVE_SCAN_BACKWARD_H_
#define MAMBA_EXPLAIN_KERNELS_SELECTIVE_SCAN_BACKWARD_H_

#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/selective_scan.h"
#include "kernels/selective_scan_backward_params.h"

namespace mamba_explain {

// Gradients of a scalar loss with respect to SelectiveScanInputs, contiguous fp32 on x's device.
// Undefined where the mode does not compute them (kInputOnly: all but dx) and dD without D.
struct SelectiveScanGrads {
  torch::Tensor dx;      // [Bt, L, E]
  torch::Tensor ddelta;  // [Bt, L, E]
  torch::Tensor dA;      // [E, N]
  torch::Tensor dB;      // [Bt, L, G, N]
  torch::Tensor dC;      // [Bt, L, G, N]
  torch::Tensor dD;      // [E]
};

// ValidateSelectiveScanInputs plus dout: INVALID_ARGUMENT unless float32 [Bt, L, E] on x's device.
absl::Status ValidateSelectiveScanBackwardInputs(const SelectiveScanInputs& inputs,
                                                 const torch::Tensor& dout);

// Buffers of one backward call in the layouts SelectiveScanBackwardParams documents (dA, dD as
// per-sequence partials; chunk_states only when asked for).
struct SelectiveScanBackwardBuffers {
  torch::Tensor dx;            // [Bt, L, E]
  torch::Tensor ddelta;        // [Bt, L, E]
  torch::Tensor dA_parts;      // [Bt, E, N]
  torch::Tensor dD_parts;      // [Bt, E]
  torch::Tensor dB;            // [Bt, L, G, N], zeros
  torch::Tensor dC;            // [Bt, L, G, N], zeros
  torch::Tensor chunk_states;  // [Bt, E, n_chunks, N]
};

// Allocates the buffers on x's device from validated inputs; n_chunks = 0 leaves chunk_states
// undefined. kInputOnly allocates only dx.
SelectiveScanBackwardBuffers AllocateSelectiveScanBackwardBuffers(const SelectiveScanInputs& inputs,
                                                                  SsmGradMode mode,
                                                                  int64_t n_chunks);

// Fills the params from validated inputs; `lengths` must live on the buffers' device (or be
// undefined/empty).
SelectiveScanBackwardParams MakeSelectiveScanBackwardParams(const SelectiveScanInputs& inputs,
                                                            const torch::Tensor& lengths,
                                                            const torch::Tensor& dout,
                                                            SelectiveScanBackwardBuffers& buffers);

// Sums the per-sequence partials (in fp64) into the returned gradients.
SelectiveScanGrads FinishSelectiveScanBackward(const SelectiveScanBackwardBuffers& buffers);

// Validates, then runs the CUDA kernel when the inputs are on CUDA and
// SelectiveScanBackwardCudaSupports(N); otherwise the reference (through the CPU for CUDA
// inputs). INTERNAL (with op and shape) for a failed launch or a LibTorch error. Not itself
// differentiable (see selective_scan_autograd.h).
absl::StatusOr<SelectiveScanGrads> SelectiveScanBackward(const SelectiveScanInputs& inputs,
                                                         const torch::Tensor& dout,
                                                         SsmGradMode mode);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_KERNELS_SELECTIVE_SCAN_BACKWARD_H_
