// Plain CPU reference of the selective scan (the formula in selective_scan.h): loops over raw
// pointers with the named strides of SelectiveScanParams, fp32 state, parallel over batch×channel.
// It is the spec the CUDA kernel is tested against and also the production CPU path.
// Thread-safe (uses LibTorch's intra-op pool).
#ifndef MAMBA_EXPLAIN_KERNELS_SELECTIVE_SCAN_REF_H_
#define MAMBA_EXPLAIN_KERNELS_SELECTIVE_SCAN_REF_H_

#include <torch/torch.h>

#include "kernels/selective_scan.h"
#include "kernels/selective_scan_params.h"

namespace mamba_explain {

// Inputs must be valid (ValidateSelectiveScanInputs) and on the CPU; throws c10::Error otherwise.
// Returns a new contiguous [Bt, L, E] fp32 CPU tensor. The scan starts from initial_state
// ([Bt, E, N], undefined = zeros; validated by ValidateSelectiveScanState); with `final_state`,
// that receives the state after each sequence's last real step ([Bt, E, N]).
torch::Tensor SelectiveScanReference(const SelectiveScanInputs& inputs,
                                     const torch::Tensor& initial_state = torch::Tensor(),
                                     torch::Tensor* final_state = nullptr);

// The loops themselves, over host pointers; writes every element of params.out.
void RunSelectiveScanReference(const SelectiveScanParams& params);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_KERNELS_SELECTIVE_SCAN_REF_H_
