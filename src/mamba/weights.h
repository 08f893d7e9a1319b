// ModelWeights: the tensors of a Mamba-1/Mamba-2 checkpoint, validated against its ModelConfig and
// placed on one device in the layout the forward pass wants.
// Guarantees: every tensor required by the config exists with the exact shape of
// research/mamba_reference.md §1.2 / §2.2 (else INVALID_ARGUMENT naming tensor and shapes);
// bias presence is decided from the tensors (config.use_bias / use_conv_bias are overwritten);
// A_log, D, dt biases, norm and conv weights are fp32 in every precision; projection and embedding
// weights are fp32 (Precision::kFp32) or bf16 (Precision::kBf16). Checkpoint dtypes F32/F16/BF16.
#ifndef MAMBA_EXPLAIN_MAMBA_WEIGHTS_H_
#define MAMBA_EXPLAIN_MAMBA_WEIGHTS_H_

#include <torch/torch.h>

#include <vector>

#include "absl/status/statusor.h"
#include "common/precision.h"
#include "model/checkpoint.h"
#include "model/config.h"

namespace mamba_explain {

struct LayerWeights {
  torch::Tensor norm;        // [D] fp32, pre-mixer RMSNorm
  torch::Tensor in_proj_w;   // [PJ, D] compute dtype (PJ = config.in_proj_rows())
  torch::Tensor in_proj_b;   // [PJ] fp32 or undefined
  torch::Tensor conv_w;      // [CD, K] fp32 (the checkpoint's [CD, 1, K] squeezed)
  torch::Tensor conv_b;      // [CD] fp32 or undefined
  torch::Tensor x_proj_w;    // M1: [R + 2N, E] compute dtype
  torch::Tensor dt_proj_w;   // M1: [E, R] compute dtype
  torch::Tensor dt_bias;     // [E] (M1 dt_proj.bias) or [H] (M2 dt_bias), fp32
  torch::Tensor A_log;       // [E, N] (M1) or [H] (M2), fp32
  torch::Tensor D;           // [E] (M1) or [H] (M2), fp32
  torch::Tensor gated_norm;  // M2: [E] fp32
  torch::Tensor out_proj_w;  // [D, E] compute dtype
  torch::Tensor out_proj_b;  // [D] fp32 or undefined
};

struct ModelWeights {
  torch::Tensor embedding;  // [V, D] compute dtype
  torch::Tensor norm_f;     // [D] fp32
  torch::Tensor lm_head;    // [V, D] compute dtype (the embedding itself when tied)
  bool lm_head_tied = true;
  std::vector<LayerWeights> layers;
  torch::Device device = torch::kCPU;
  Precision precision = Precision::kFp32;  // storage: kFp32 or kBf16 (kTf32 stores fp32)
};

// Reads and validates all tensors. `config` is updated with the bias presence found in the files.
absl::StatusOr<ModelWeights> LoadModelWeights(const Checkpoint& checkpoint, ModelConfig& config,
                                              torch::Device device, Precision precision);

// Copies one safetensors tensor into a CPU tensor of its own dtype (F32, F16, BF16, F64, I64, I32,
// U8, BOOL); INVALID_ARGUMENT naming the tensor for other dtypes.
absl::StatusOr<torch::Tensor> TensorFromView(const TensorView& view);

// torch dtype of the projections in `precision` (fp32 for kFp32 and kTf32).
torch::ScalarType ComputeDtype(Precision precision);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_MAMBA_WEIGHTS_H_
