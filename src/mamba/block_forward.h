// One pre-norm residual block of the Mamba-1/Mamba-2 model (research/mamba_reference.md §1.3):
// the branch RMSNorm → (bf16 weights: the normalised input rounded once, as the model does) →
// mixer, whose output the caller adds to the residual stream. The one place the block is written:
// the full forward (MambaModel) and the chunked recomputation (LayerTraces) both call it.
#ifndef MAMBA_EXPLAIN_MAMBA_BLOCK_FORWARD_H_
#define MAMBA_EXPLAIN_MAMBA_BLOCK_FORWARD_H_

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "mamba/mixer_rules.h"
#include "mamba/mixer_state.h"
#include "mamba/trace.h"
#include "model/config.h"
#include "mamba/weights.h"

namespace mamba_explain {

// h: [B, L, D] fp32 block input; lengths: int64 [B] on h's device (real positions of these L;
// Mamba-1 zeroes the scan beyond them). Returns the mixer output [B, L, D] fp32. `trace` (may be
// null) receives layer, residual_in = h, normed and the mixer's tensors; `state` (may be null)
// makes this a chunk that continues the sequence (mixer_state.h); `rules` switch on MambaLRP's
// gradient rules in the norm and the mixer (mixer_rules.h).
absl::StatusOr<torch::Tensor> BlockBranchForward(const ModelWeights& weights,
                                                 const ModelConfig& config, int layer,
                                                 const torch::Tensor& h,
                                                 const torch::Tensor& lengths, LayerTrace* trace,
                                                 MixerState* state,
                                                 const MixerRules& rules = MixerRules());

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_MAMBA_BLOCK_FORWARD_H_
