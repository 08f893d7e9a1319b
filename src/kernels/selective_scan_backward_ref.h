// Plain CPU reference of the selective-scan backward (the formulas in selective_scan_backward.h):
// loops over raw pointers with the named strides of SelectiveScanBackwardParams. kFull recomputes
// each channel's forward states into a local (L+1)·N float buffer, then walks time backwards with
// an fp32 adjoint state; per-step sums and the dA/dB/dC/dD reductions accumulate in fp64 (dB/dC in
// 2·L·N doubles per task of (batch, group, slice of channels)). It is the spec the CUDA kernel is
// tested against and the production CPU path. Thread-safe (LibTorch's intra-op pool); bitwise
// deterministic for a fixed at::get_num_threads().
#ifndef MAMBA_EXPLAIN_KERNELS_SELECTIVE_SCAN_BACKWARD_REF_H_
#define MAMBA_EXPLAIN_KERNELS_SELECTIVE_SCAN_BACKWARD_REF_H_

#include <torch/torch.h>

#include "kernels/selective_scan.h"
#include "kernels/selective_scan_backward.h"
#include "kernels/selective_scan_backward_params.h"

namespace mamba_explain {

// Inputs must be valid (ValidateSelectiveScanBackwardInputs) and on the CPU; throws c10::Error
// otherwise. Returns new contiguous fp32 CPU gradients (SelectiveScanGrads documents which).
SelectiveScanGrads SelectiveScanBackwardReference(const SelectiveScanInputs& inputs,
                                                  const torch::Tensor& dout, SsmGradMode mode);

// The loops themselves, over host pointers; writes the buffers as the params header documents.
void RunSelectiveScanBackwardReference(const SelectiveScanBackwardParams& params, SsmGradMode mode);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_KERNELS_SELECTIVE_SCAN_BACKWARD_REF_H_
