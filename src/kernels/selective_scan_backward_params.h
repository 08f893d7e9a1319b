// Plain parameters of the selective-scan backward (the adjoint of selective_scan.h's formula),
// shared by the CPU reference and the CUDA kernel: the forward's SelectiveScanParams plus the
// upstream gradient dout and the gradient buffers, each with strides named for tensor and axis.
// SsmGradMode picks all six gradients or only dx (MambaLRP: Δ, A, B, C, D held constant).
// No LibTorch include, so selective_scan_backward.cu compiles without it. The kernel, its
// support predicate and SelectiveScanBackwardCudaChunk below must change together.
#ifndef MAMBA_EXPLAIN_KERNELS_SELECTIVE_SCAN_BACKWARD_PARAMS_H_
#define MAMBA_EXPLAIN_KERNELS_SELECTIVE_SCAN_BACKWARD_PARAMS_H_

#include <cstdint>

#include "kernels/selective_scan_params.h"

namespace mamba_explain {

// Which gradients the backward computes.
enum class SsmGradMode {
  kFull,       // dx, dΔ, dA, dB, dC, dD: the true gradient of the scan
  kInputOnly,  // dx only, with Δ, A, B, C, D constant (one adjoint scan, no state recompute)
};

struct SelectiveScanBackwardParams {
  // The forward's inputs (fwd.out and its strides are unused).
  SelectiveScanParams fwd;

  int64_t dout_batch_stride = 0, dout_seq_stride = 0, dout_dim_stride = 0;
  // dx and ddelta are written in full (0 at padded positions), contiguous [Bt, L, E].
  int64_t dx_batch_stride = 0, dx_seq_stride = 0, dx_dim_stride = 0;
  int64_t ddelta_batch_stride = 0, ddelta_seq_stride = 0, ddelta_dim_stride = 0;

  const float* dout = nullptr;  // [Bt, L, E], any strides (0 included)
  float* dx = nullptr;          // [Bt, L, E]
  // kFull only (may be nullptr in kInputOnly). Contiguous buffers.
  float* ddelta = nullptr;  // [Bt, L, E]
  float* dA = nullptr;      // [Bt, E, N] per-sequence partials, written in full; caller sums Bt
  float* dD = nullptr;      // [Bt, E] per-sequence partials, written in full; nullptr iff fwd.D is
  float* dB = nullptr;      // [Bt, L, G, N], accumulated (+=): must be zero on entry
  float* dC = nullptr;      // [Bt, L, G, N], accumulated (+=): must be zero on entry
  // CUDA kFull only: [Bt, E, ceil(L / SelectiveScanBackwardCudaChunk(N)), N] contiguous
  // workspace for the states at chunk starts.
  float* chunk_states = nullptr;
};

// Time steps between the states the CUDA backward keeps (the rest are recomputed per chunk); the
// kernel's traits static_assert that they agree.
constexpr int64_t SelectiveScanBackwardCudaChunk(int64_t d_state) {
  return d_state >= 256 ? 16 : 32;
}

// d_state values the CUDA backward is instantiated for (the switch in
// selective_scan_backward.cu); any other d_state runs on the reference.
constexpr bool SelectiveScanBackwardCudaSupports(int64_t d_state) {
  return d_state == 16 || d_state == 32 || d_state == 64 || d_state == 128 || d_state == 256;
}

#ifdef ME_WITH_CUDA
// Enqueues the backward on `stream`; all pointers are device pointers. Returns the launch error
// (cudaErrorInvalidValue for an unsupported d_state, an E not divisible by G or a missing
// buffer). dB/dC are reduced with float atomicAdd over channels: their low bits vary run to run.
cudaError_t LaunchSelectiveScanBackward(const SelectiveScanBackwardParams& params, SsmGradMode mode,
                                        cudaStream_t stream);
#endif

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_KERNELS_SELECTIVE_SCAN_BACKWARD_PARAMS_H_
