// MixerState: what a Mamba-1/Mamba-2 mixer carries from one chunk of a sequence to the next, so
// that running a layer over [0, t) and then [t, L) gives the positions of one full-length run:
// the causal conv's last K−1 inputs and the SSM state after the chunk's last position. An
// undefined tensor means "sequence start" (zeros). Forward only (no autograd through the state).
#ifndef MAMBA_EXPLAIN_MAMBA_MIXER_STATE_H_
#define MAMBA_EXPLAIN_MAMBA_MIXER_STATE_H_

#include <torch/torch.h>

namespace mamba_explain {

struct MixerState {
  torch::Tensor conv_tail;  // [B, K−1, CD] conv inputs of the K−1 positions before the chunk
  torch::Tensor ssm;        // [B, E, N] (Mamba-1) or [B, H, P, N] (Mamba-2)
};

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_MAMBA_MIXER_STATE_H_
