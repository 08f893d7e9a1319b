// MambaModel: a loaded Mamba-1 or Mamba-2 language model (config + weights on one device) and its
// full-sequence forward pass (research/mamba_reference.md §1.3 model level): embedding, pre-norm
// residual blocks with an fp32 residual stream, norm_f, lm_head.
// Batches are right-padded: real positions never see padding (the model is causal), which the
// tests check. Forward is const and thread-compatible (concurrent calls are safe: no state).
// LibTorch exceptions are caught here and returned as statuses.
#ifndef MAMBA_EXPLAIN_MAMBA_MAMBA_MODEL_H_
#define MAMBA_EXPLAIN_MAMBA_MAMBA_MODEL_H_

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mamba/layer_check.h"
#include "mamba/trace.h"
#include "mamba/weights.h"
#include "model/config.h"

namespace mamba_explain {

struct LoadOptions {
  torch::Device device = torch::kCPU;
  Precision precision = Precision::kFp32;
  // Overrides of the config's extension keys (e.g. HF's full-width gated norm for parity runs).
  std::optional<SsmActivation> ssm_activation;
  std::optional<GatedNormMode> gated_norm;
};

struct ForwardOptions {
  enum class TraceLayers { kNone, kAll, kSelected };
  TraceLayers trace = TraceLayers::kNone;
  std::vector<int> trace_layers;    // with kSelected; any order, deduplicated
  bool keep_hidden_states = false;  // residual stream after every block
  bool compute_logits = true;
  bool last_position_logits_only = false;  // logits only at each sequence's last real position
  // Consulted before every block (a failing check is returned as it is) and, when the forward is
  // differentiable, before every block's backward (mamba/layer_check.h).
  LayerCheck layer_check;
};

struct ForwardOutput {
  torch::Tensor logits;                      // [B, L, V] fp32, or [B, V] with last_position_only
  std::vector<torch::Tensor> hidden_states;  // n_layers × [B, L, D] fp32 block outputs
  torch::Tensor final_hidden;                // [B, L, D] norm_f output, fp32
  Trace trace;
};

class MambaModel {
 public:
  // Reads config.json and the safetensors checkpoint of `model_dir`.
  static absl::StatusOr<std::unique_ptr<MambaModel>> Load(const std::string& model_dir,
                                                          const LoadOptions& options);

  // ids: int64 [B, L] (any device; padding ids must be valid ids, e.g. 0);
  // lengths: int64 [B] with 1 ≤ lengths[b] ≤ L, or undefined for "all L".
  absl::StatusOr<ForwardOutput> Forward(const torch::Tensor& ids, const torch::Tensor& lengths,
                                        const ForwardOptions& options) const;

  // Embedding rows for ids [B, L] -> [B, L, D] fp32 (for gradient methods).
  torch::Tensor Embed(const torch::Tensor& ids) const;
  // Runs the blocks and head from embeddings (differentiable through autograd when
  // the caller enables it). Same options and output as Forward.
  absl::StatusOr<ForwardOutput> ForwardFromEmbeddings(const torch::Tensor& embeddings,
                                                      const torch::Tensor& lengths,
                                                      const ForwardOptions& options) const;

  // INVALID_ARGUMENT unless ids is [B, L ≥ 1] with every id in [0, vocab).
  absl::Status CheckIds(const torch::Tensor& ids) const;
  // lengths as Forward takes them -> int64 [B] on the CPU (all L when undefined);
  // INVALID_ARGUMENT for a wrong shape or a value outside [1, L].
  static absl::StatusOr<torch::Tensor> ResolveLengths(const torch::Tensor& lengths, int64_t batch,
                                                      int64_t seq_len);

  // Wraps weights made in memory (the trainer, tests). The caller guarantees that they match
  // `config` (as LoadModelWeights would have checked).
  static std::unique_ptr<MambaModel> FromWeights(ModelConfig config, ModelWeights weights);

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  torch::Device device() const { return weights_.device; }

 private:
  MambaModel(ModelConfig config, ModelWeights weights)
      : config_(std::move(config)), weights_(std::move(weights)) {}
  ModelConfig config_;
  ModelWeights weights_;
};

// Parses "cpu" / "cuda" / "cuda:N"; INVALID_ARGUMENT otherwise, UNAVAILABLE when CUDA is absent.
absl::StatusOr<torch::Device> ParseDevice(const std::string& name);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_MAMBA_MAMBA_MODEL_H_
