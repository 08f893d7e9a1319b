// The selective scan as a differentiable LibTorch op: a torch::autograd::Function whose forward is
// SelectiveScan and whose backward is SelectiveScanBackward. It saves only the inputs (memory
// O(inputs); states are recomputed in backward), accepts any strides (expanded Δ/A included:
// autograd sums the returned gradients back into the broadcast source) and is once-differentiable
// (no double backward). SsmGradMode::kInputOnly detaches Δ, A, B, C, D (MambaLRP's rule): the
// output depends on the graph only through x. Gradient determinism follows
// selective_scan_backward.h.
#ifndef MAMBA_EXPLAIN_KERNELS_SELECTIVE_SCAN_AUTOGRAD_H_
#define MAMBA_EXPLAIN_KERNELS_SELECTIVE_SCAN_AUTOGRAD_H_

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "kernels/selective_scan.h"
#include "kernels/selective_scan_backward_params.h"

namespace mamba_explain {

// y [Bt, L, E] fp32 as SelectiveScan(inputs), recorded for autograd when any input requires grad
// (kFull) or x does (kInputOnly). INVALID_ARGUMENT as ValidateSelectiveScanInputs; INTERNAL for a
// LibTorch error. Errors inside the later backward pass surface as c10::Error from backward().
absl::StatusOr<torch::Tensor> SelectiveScanDifferentiable(const SelectiveScanInputs& inputs,
                                                          SsmGradMode mode);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_KERNELS_SELECTIVE_SCAN_AUTOGRAD_H_
