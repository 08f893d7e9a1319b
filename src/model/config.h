// ModelConfig: the architecture hyper-parameters of a Mamba-1 or Mamba-2 checkpoint.
// Parsed from HF config.json (model_type "mamba" / "mamba2") or an original mamba_ssm config
// (d_model, n_layer, ssm_cfg, pad_vocab_size_multiple); see research/mamba_reference.md §1.1, §1.2,
// §2.1. Derived fields (d_inner, dt_rank, padded vocab) are always recomputed, never trusted.
// Accepts the non-strict JSON that real configs contain (Infinity, {"__float__": "Infinity"}).
// Our extensions: "ssm_activation" ("silu" | "identity"), "gated_norm" ("per_group" | "full").
#ifndef MAMBA_EXPLAIN_MODEL_CONFIG_H_
#define MAMBA_EXPLAIN_MODEL_CONFIG_H_

#include <cstdint>
#include <limits>
#include <string>

#include "absl/status/statusor.h"

namespace mamba_explain {

enum class Architecture { kMamba1, kMamba2 };

// Activation applied to the conv output before the SSM. kIdentity is LaTIM's exact variant.
enum class SsmActivation { kSilu, kIdentity };

// How Mamba-2's gated RMSNorm groups channels: kPerGroup normalises each of the n_groups blocks of
// d_inner/n_groups channels (mamba_ssm, the training code); kFull normalises all d_inner channels
// (HF transformers). Identical when n_groups == 1.
enum class GatedNormMode { kPerGroup, kFull };

enum class ConfigFormat { kHuggingFace, kMambaSsm };

struct ModelConfig {
  Architecture arch = Architecture::kMamba1;
  ConfigFormat format = ConfigFormat::kHuggingFace;
  int64_t d_model = 0;     // D
  int64_t n_layers = 0;
  int64_t vocab_size = 0;  // padded (rows of the embedding)
  int64_t d_state = 0;     // N
  int64_t d_conv = 4;      // K
  int64_t expand = 2;
  int64_t d_inner = 0;     // E = expand * d_model (recomputed)
  // Mamba-1 only.
  int64_t dt_rank = 0;     // R ("auto" -> ceil(d_model / 16))
  // Mamba-2 only.
  int64_t n_heads = 0;     // H, H * head_dim == d_inner
  int64_t head_dim = 0;    // P
  int64_t n_groups = 1;    // G, divides n_heads
  int64_t chunk_size = 256;
  double time_step_min = 0.0;  // time_step_limit clamp of Δ after softplus
  double time_step_max = std::numeric_limits<double>::infinity();
  GatedNormMode gated_norm = GatedNormMode::kPerGroup;
  // Both.
  bool use_bias = false;       // in_proj / out_proj bias; the loader overrides it from the tensors
  bool use_conv_bias = true;   // likewise
  bool tie_word_embeddings = true;
  bool residual_in_fp32 = true;
  double norm_eps = 1e-5;
  SsmActivation ssm_activation = SsmActivation::kSilu;
  // Name of the embedding tensor: "backbone.embeddings.weight" (HF) or "backbone.embedding.weight".
  std::string embedding_tensor = "backbone.embeddings.weight";

  int64_t conv_dim() const;         // channels that pass through the conv: E (M1), E + 2GN (M2)
  int64_t in_proj_rows() const;     // 2E (M1), 2E + 2GN + H (M2)
  int64_t norm_group_size() const;  // channels per gated-norm group (M2)
};

// Parses config.json text. `source` names the file in error messages.
// Errors: INVALID_ARGUMENT naming the field (missing, wrong type, non-positive, inconsistent
// heads × head_dim, n_groups not dividing heads), or the unknown model_type.
absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text,
                                             const std::string& source);

// Reads and parses `path`. NOT_FOUND when the file is missing.
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path);

const char* ArchitectureName(Architecture arch);  // "mamba1" / "mamba2"

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_MODEL_CONFIG_H_
