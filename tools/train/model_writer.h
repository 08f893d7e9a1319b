// Writes a model directory in HF format (config.json with model_type mamba/mamba2 and our
// ssm_activation key + model.safetensors, fp32) that MambaModel::Load reads back bit-exactly.
// The tied head is not written (HF drops tied duplicates too).
#ifndef MAMBA_EXPLAIN_TOOLS_TRAIN_MODEL_WRITER_H_
#define MAMBA_EXPLAIN_TOOLS_TRAIN_MODEL_WRITER_H_

#include <string>

#include "absl/status/status.h"
#include "model/config.h"
#include "mamba/weights.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {

// HF config.json content for `config` (plus `extra` keys, e.g. training provenance).
nlohmann::json HfConfigJson(const ModelConfig& config, const nlohmann::json& extra = {});

// Creates `dir` if needed and writes config.json + model.safetensors.
absl::Status WriteModelDirectory(const std::string& dir, const ModelConfig& config,
                                 const ModelWeights& weights, const nlohmann::json& extra = {});

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_TOOLS_TRAIN_MODEL_WRITER_H_
