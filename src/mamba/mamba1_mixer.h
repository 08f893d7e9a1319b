// Mamba-1 mixer forward (research/mamba_reference.md §1.3, HF MambaMixer.slow_forward math):
// in_proj -> causal conv -> activation -> x_proj -> Δ = softplus(dt_proj) -> selective scan (+D)
// -> SiLU(z) gate -> out_proj. Projections run in the weights' dtype; conv, Δ, scan, gate are fp32.
// u: [B, L, D] fp32, lengths: int64 [B] (right padding) -> [B, L, D] fp32. Fills `trace` if given.
// With `state`, u is a chunk that continues the sequence: the conv and the scan start from *state
// (lengths count this chunk's real positions) and *state is advanced to the chunk's end; then
// gradients must be off (FAILED_PRECONDITION otherwise). `rules` (mixer_rules.h) change only the
// gradients: MambaLRP's relevance forward is this forward with its rules on.
#ifndef MAMBA_EXPLAIN_MAMBA_MAMBA1_MIXER_H_
#define MAMBA_EXPLAIN_MAMBA_MAMBA1_MIXER_H_

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "mamba/mixer_rules.h"
#include "mamba/mixer_state.h"
#include "mamba/trace.h"
#include "model/config.h"
#include "mamba/weights.h"

namespace mamba_explain {

absl::StatusOr<torch::Tensor> Mamba1MixerForward(const LayerWeights& w, const ModelConfig& config,
                                                 const torch::Tensor& u,
                                                 const torch::Tensor& lengths, LayerTrace* trace,
                                                 MixerState* state = nullptr,
                                                 const MixerRules& rules = MixerRules());

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_MAMBA_MAMBA1_MIXER_H_
