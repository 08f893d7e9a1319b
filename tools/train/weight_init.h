// Random initialisation of Mamba-1 / Mamba-2 weights as mamba_ssm and HF transformers do it
// (Linear normal(0, 0.02-style scale), dt bias = softplus⁻¹ of a log-uniform Δ in [1e-3, 1e-1],
// A_log = log(1..N) (M1) or log U(1, 16) (M2), D = 1, norms = 1, out_proj rescaled by
// 1/sqrt(n_layers)), optionally with mimetic initialisation (Trockman et al. 2024) of one layer.
// Every tensor is a fp32 leaf on `device` with requires_grad set, ready for an optimizer.
#ifndef MAMBA_EXPLAIN_TOOLS_TRAIN_WEIGHT_INIT_H_
#define MAMBA_EXPLAIN_TOOLS_TRAIN_WEIGHT_INIT_H_

#include <torch/torch.h>

#include <vector>

#include "model/config.h"
#include "mamba/weights.h"

namespace mamba_explain {

struct InitOptions {
  uint64_t seed = 0;
  double init_std = 0.02;  // std of Linear and embedding weights
  int mimetic_layer = -1;  // -1: none
};

ModelWeights InitModelWeights(const ModelConfig& config, const InitOptions& options,
                              torch::Device device);

// Applies mimetic initialisation to one layer in place (no grad): the SSM starts close to a
// linear-attention layer whose query and key projections coincide:
//  - no forgetting: A = -exp(A_log) ≈ -0.018, so exp(Δ·A) ≥ 0.99 for Δ ≤ 0.5;
//  - C_t·B_s ≈ x_tᵀ W Wᵀ x_s: the C rows of the projection are a copy of the B rows
//    (x_proj for M1, the conv channels and in_proj rows of B and C for M2), so each token's
//    query matches its own key best, as a self-attention head starts out.
void ApplyMimeticInit(const ModelConfig& config, LayerWeights& layer);

// All trainable tensors (each once; the tied head is not listed twice).
std::vector<torch::Tensor> TrainableParameters(ModelWeights& weights);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_TOOLS_TRAIN_WEIGHT_INIT_H_
