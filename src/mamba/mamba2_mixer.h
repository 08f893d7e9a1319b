// Mamba-2 mixer forward (research/mamba_reference.md §2.3): in_proj -> [z | xBC | dt] ->
// causal conv on xBC -> activation -> split x, B, C -> Δ = clamp(softplus(dt + dt_bias)) ->
// chunked SSD scan + D skip -> gated RMSNorm (per group of d_inner / n_groups channels as
// mamba_ssm trains it, or full width as HF does; config.gated_norm) -> out_proj.
// u: [B, L, D] fp32 -> [B, L, D] fp32. Fills `trace` if given. With `state`, u is a chunk that
// continues the sequence: the conv and the SSD start from *state, which is advanced to the chunk's
// end (padding positions of a right-padded batch advance it too; they only reach padding).
// `rules` (mixer_rules.h) change only the gradients: MambaLRP's relevance forward is this forward
// with its rules on (Mamba-2's SSM rule is ours: Δ, B, C detached before the chunked SSD).
#ifndef MAMBA_EXPLAIN_MAMBA_MAMBA2_MIXER_H_
#define MAMBA_EXPLAIN_MAMBA_MAMBA2_MIXER_H_

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "mamba/mixer_rules.h"
#include "mamba/mixer_state.h"
#include "mamba/trace.h"
#include "model/config.h"
#include "mamba/weights.h"

namespace mamba_explain {

absl::StatusOr<torch::Tensor> Mamba2MixerForward(const LayerWeights& w, const ModelConfig& config,
                                                 const torch::Tensor& u, LayerTrace* trace,
                                                 MixerState* state = nullptr,
                                                 const MixerRules& rules = MixerRules());

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_MAMBA_MAMBA2_MIXER_H_
