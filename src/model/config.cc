// Parses HF (model_type "mamba" / "mamba2") and original mamba_ssm configs into ModelConfig.
// Defaults follow research/mamba_reference.md §1.1 (MambaConfig), §2.1 (Mamba2Config) and the
// mamba_ssm table in §1.2; they differ between the formats (e.g. use_bias, n_groups) on purpose.
#include "model/config.h"

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/file_io.h"
#include "common/status_macros.h"
#include "model/lenient_json.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {
namespace {

using json = nlohmann::json;

// Upper bound for every size field: keeps products such as 2 * expand * d_model far from
// int64 overflow while being orders of magnitude above any real model.
constexpr int64_t kMaxSize = int64_t{1} << 31;

// Reads typed fields of one JSON object; every error names the source file and the field path.
class FieldReader {
 public:
  FieldReader(const json& object, const std::string& source, const std::string& prefix)
      : object_(object), source_(source), prefix_(prefix) {}

  // Null counts as absent, so a config can spell "use the default" as null.
  bool Has(const char* key) const {
    auto it = object_.find(key);
    return it != object_.end() && !it->is_null();
  }

  absl::Status Error(const char* key, const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": field '", prefix_, key, "' ", what));
  }

  std::string Dump(const char* key) const { return object_.at(key).dump(); }

  // An integer (a float with an integral value is accepted, e.g. 2.0).
  absl::StatusOr<int64_t> Int(const char* key) const {
    const json& v = object_.at(key);
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Error(key, absl::StrCat("is out of range: ", v.dump()));
      }
      return static_cast<int64_t>(u);
    }
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) {
        return static_cast<int64_t>(d);
      }
    }
    return Error(key, absl::StrCat("must be an integer, got ", v.dump()));
  }

  // A positive integer ≤ kMaxSize; `fallback` when absent.
  absl::StatusOr<int64_t> Size(const char* key, std::optional<int64_t> fallback) const {
    if (!Has(key)) {
      if (fallback.has_value()) return *fallback;
      return Error(key, "is required but missing");
    }
    ASSIGN_OR_RETURN(const int64_t value, Int(key));
    if (value <= 0 || value > kMaxSize) {
      return Error(key, absl::StrCat("must be in [1, ", kMaxSize, "], got ", value));
    }
    return value;
  }

  // A non-negative integer (0 allowed); `fallback` when absent.
  absl::StatusOr<int64_t> NonNegative(const char* key, int64_t fallback) const {
    if (!Has(key)) return fallback;
    ASSIGN_OR_RETURN(const int64_t value, Int(key));
    if (value < 0 || value > kMaxSize) {
      return Error(key, absl::StrCat("must be in [0, ", kMaxSize, "], got ", value));
    }
    return value;
  }

  absl::StatusOr<bool> Bool(const char* key, bool fallback) const {
    if (!Has(key)) return fallback;
    const json& v = object_.at(key);
    if (!v.is_boolean()) return Error(key, absl::StrCat("must be a boolean, got ", v.dump()));
    return v.get<bool>();
  }

  absl::StatusOr<double> Double(const char* key, double fallback) const {
    if (!Has(key)) return fallback;
    const json& v = object_.at(key);
    if (!v.is_number()) return Error(key, absl::StrCat("must be a number, got ", v.dump()));
    return v.get<double>();
  }

  absl::StatusOr<std::string> String(const char* key, const std::string& fallback) const {
    if (!Has(key)) return fallback;
    const json& v = object_.at(key);
    if (!v.is_string()) return Error(key, absl::StrCat("must be a string, got ", v.dump()));
    return v.get<std::string>();
  }

  const json& object() const { return object_; }

 private:
  const json& object_;
  const std::string& source_;
  std::string prefix_;
};

absl::Status CheckedMul(int64_t a, int64_t b, const std::string& what, const std::string& source,
                        int64_t* out) {
  if (__builtin_mul_overflow(a, b, out) || *out > kMaxSize) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": ", what, " = ", a, " * ", b, " is too large"));
  }
  return absl::OkStatus();
}

// dt_rank: "auto" -> ceil(d_model / 16), else a positive integer.
absl::StatusOr<int64_t> ReadDtRank(const FieldReader& r, const char* key, int64_t d_model) {
  const int64_t auto_rank = (d_model + 15) / 16;
  if (!r.Has(key)) return auto_rank;
  if (r.object().at(key).is_string()) {
    ASSIGN_OR_RETURN(const std::string s, r.String(key, ""));
    if (s == "auto") return auto_rank;
    return r.Error(key, absl::StrCat("must be \"auto\" or a positive integer, got \"", s, "\""));
  }
  return r.Size(key, std::nullopt);
}

// [lo, hi] clamp of Δ; missing -> (0, inf). Either bound may be ±Infinity.
absl::Status ReadTimeStepLimit(const FieldReader& r, const char* key, ModelConfig* config) {
  if (!r.Has(key)) return absl::OkStatus();
  const json& v = r.object().at(key);
  if (!v.is_array() || v.size() != 2 || !v[0].is_number() || !v[1].is_number()) {
    return r.Error(key, absl::StrCat("must be an array of two numbers [lo, hi], got ", v.dump()));
  }
  const double lo = v[0].get<double>();
  const double hi = v[1].get<double>();
  if (std::isnan(lo) || std::isnan(hi) || lo > hi) {
    return r.Error(key, absl::StrCat("must satisfy lo <= hi without NaN, got ", v.dump()));
  }
  config->time_step_min = lo;
  config->time_step_max = hi;
  return absl::OkStatus();
}

// Our extension keys, valid in both formats.
absl::Status ReadExtensions(const FieldReader& r, ModelConfig* config) {
  ASSIGN_OR_RETURN(const std::string activation, r.String("ssm_activation", "silu"));
  if (activation == "silu") {
    config->ssm_activation = SsmActivation::kSilu;
  } else if (activation == "identity") {
    config->ssm_activation = SsmActivation::kIdentity;
  } else {
    return r.Error("ssm_activation",
                   absl::StrCat("must be \"silu\" or \"identity\", got \"", activation, "\""));
  }
  ASSIGN_OR_RETURN(const std::string norm, r.String("gated_norm", "per_group"));
  if (norm == "per_group") {
    config->gated_norm = GatedNormMode::kPerGroup;
  } else if (norm == "full") {
    config->gated_norm = GatedNormMode::kFull;
  } else {
    return r.Error("gated_norm",
                   absl::StrCat("must be \"per_group\" or \"full\", got \"", norm, "\""));
  }
  return absl::OkStatus();
}

absl::Status ReadNormEps(const FieldReader& r, const char* key, ModelConfig* config) {
  ASSIGN_OR_RETURN(config->norm_eps, r.Double(key, 1e-5));
  if (!std::isfinite(config->norm_eps) || config->norm_eps < 0) {
    return r.Error(key, absl::StrCat("must be a finite number >= 0, got ", r.Dump(key)));
  }
  return absl::OkStatus();
}

// Mamba-2 head layout: H * P == E and G | H. `heads_key` may be null (mamba_ssm derives H).
absl::Status FinishMamba2Heads(const FieldReader& r, const char* heads_key, const char* dim_key,
                               const char* groups_key, const std::string& source,
                               ModelConfig* config) {
  if (heads_key != nullptr && r.Has(heads_key)) {
    ASSIGN_OR_RETURN(config->n_heads, r.Size(heads_key, std::nullopt));
    int64_t product = 0;
    RETURN_IF_ERROR(CheckedMul(config->n_heads, config->head_dim,
                               absl::StrCat(heads_key, " * ", dim_key), source, &product));
    if (product != config->d_inner) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": ", heads_key, " (", config->n_heads, ") * ", dim_key, " (", config->head_dim,
          ") = ", product, " must equal d_inner = expand * hidden size = ", config->d_inner));
    }
  } else {
    if (config->d_inner % config->head_dim != 0) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": d_inner (", config->d_inner,
                                                     ") is not divisible by ", dim_key, " (",
                                                     config->head_dim, ")"));
    }
    config->n_heads = config->d_inner / config->head_dim;
  }
  if (config->n_heads % config->n_groups != 0) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": number of heads (", config->n_heads,
                                                   ") is not divisible by ", groups_key, " (",
                                                   config->n_groups, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelConfig> ParseHuggingFace(const FieldReader& r, Architecture arch,
                                             const std::string& source) {
  ModelConfig c;
  c.arch = arch;
  c.format = ConfigFormat::kHuggingFace;
  c.embedding_tensor = "backbone.embeddings.weight";
  const bool m2 = arch == Architecture::kMamba2;
  ASSIGN_OR_RETURN(c.d_model, r.Size("hidden_size", std::nullopt));
  ASSIGN_OR_RETURN(c.n_layers, r.Size("num_hidden_layers", std::nullopt));
  ASSIGN_OR_RETURN(c.vocab_size, r.Size("vocab_size", std::nullopt));
  ASSIGN_OR_RETURN(c.d_state, r.Size("state_size", m2 ? 128 : 16));
  ASSIGN_OR_RETURN(c.expand, r.Size("expand", 2));
  ASSIGN_OR_RETURN(c.d_conv, r.Size("conv_kernel", 4));
  // intermediate_size in the file is ignored: HF recomputes it.
  RETURN_IF_ERROR(
      CheckedMul(c.expand, c.d_model, "d_inner = expand * hidden_size", source, &c.d_inner));
  ASSIGN_OR_RETURN(c.use_bias, r.Bool("use_bias", /*HF MambaConfig: true*/ !m2));
  ASSIGN_OR_RETURN(c.use_conv_bias, r.Bool("use_conv_bias", true));
  RETURN_IF_ERROR(ReadNormEps(r, "layer_norm_epsilon", &c));
  ASSIGN_OR_RETURN(c.residual_in_fp32, r.Bool("residual_in_fp32", true));
  ASSIGN_OR_RETURN(c.tie_word_embeddings, r.Bool("tie_word_embeddings", !m2));
  if (!m2) {
    ASSIGN_OR_RETURN(c.dt_rank, ReadDtRank(r, "time_step_rank", c.d_model));
    c.n_groups = 1;
  } else {
    ASSIGN_OR_RETURN(c.head_dim, r.Size("head_dim", 64));
    ASSIGN_OR_RETURN(c.n_groups, r.Size("n_groups", 8));
    ASSIGN_OR_RETURN(c.chunk_size, r.Size("chunk_size", 256));
    RETURN_IF_ERROR(ReadTimeStepLimit(r, "time_step_limit", &c));
    RETURN_IF_ERROR(FinishMamba2Heads(r, "num_heads", "head_dim", "n_groups", source, &c));
  }
  RETURN_IF_ERROR(ReadExtensions(r, &c));
  return c;
}

absl::StatusOr<ModelConfig> ParseMambaSsm(const FieldReader& top, const std::string& source) {
  ModelConfig c;
  c.format = ConfigFormat::kMambaSsm;
  c.embedding_tensor = "backbone.embedding.weight";

  // Hybrids with MLP or attention layers need blocks we do not implement.
  ASSIGN_OR_RETURN(const int64_t d_intermediate, top.NonNegative("d_intermediate", 0));
  if (d_intermediate > 0) {
    return top.Error("d_intermediate",
                     absl::StrCat("= ", d_intermediate,
                                  ": MLP layers between mixers are not supported (need 0)"));
  }
  if (top.Has("attn_layer_idx")) {
    const json& idx = top.object().at("attn_layer_idx");
    if (!idx.is_array()) {
      return top.Error("attn_layer_idx", absl::StrCat("must be an array, got ", idx.dump()));
    }
    if (!idx.empty()) {
      return top.Error(
          "attn_layer_idx",
          absl::StrCat("= ", idx.dump(), ": attention layers (hybrid models) are not supported"));
    }
  }
  ASSIGN_OR_RETURN(const bool rms_norm, top.Bool("rms_norm", true));
  if (!rms_norm) {
    return top.Error("rms_norm", "= false (LayerNorm blocks) is not supported");
  }

  static const json* const kEmpty = new json(json::object());
  const json* ssm_object = kEmpty;
  if (top.Has("ssm_cfg")) {
    ssm_object = &top.object().at("ssm_cfg");
    if (!ssm_object->is_object()) {
      return top.Error("ssm_cfg", absl::StrCat("must be an object, got ", ssm_object->dump()));
    }
  }
  const FieldReader ssm(*ssm_object, source, "ssm_cfg.");
  ASSIGN_OR_RETURN(const std::string layer, ssm.String("layer", "Mamba1"));
  if (layer == "Mamba1") {
    c.arch = Architecture::kMamba1;
  } else if (layer == "Mamba2") {
    c.arch = Architecture::kMamba2;
  } else {
    return ssm.Error("layer",
                     absl::StrCat("must be \"Mamba1\" or \"Mamba2\", got \"", layer, "\""));
  }
  const bool m2 = c.arch == Architecture::kMamba2;

  ASSIGN_OR_RETURN(c.d_model, top.Size("d_model", std::nullopt));
  ASSIGN_OR_RETURN(c.n_layers, top.Size("n_layer", std::nullopt));
  ASSIGN_OR_RETURN(const int64_t raw_vocab, top.Size("vocab_size", std::nullopt));
  ASSIGN_OR_RETURN(const int64_t multiple, top.Size("pad_vocab_size_multiple", 8));
  c.vocab_size = (raw_vocab + multiple - 1) / multiple * multiple;
  ASSIGN_OR_RETURN(c.tie_word_embeddings, top.Bool("tie_embeddings", true));
  ASSIGN_OR_RETURN(c.residual_in_fp32, top.Bool("residual_in_fp32", true));
  c.norm_eps = 1e-5;  // MixerModel's default; not stored in mamba_ssm configs.

  ASSIGN_OR_RETURN(c.d_state, ssm.Size("d_state", m2 ? 128 : 16));
  ASSIGN_OR_RETURN(c.d_conv, ssm.Size("d_conv", 4));
  ASSIGN_OR_RETURN(c.expand, ssm.Size("expand", 2));
  RETURN_IF_ERROR(
      CheckedMul(c.expand, c.d_model, "d_inner = expand * d_model", source, &c.d_inner));
  ASSIGN_OR_RETURN(c.use_bias, ssm.Bool("bias", false));
  ASSIGN_OR_RETURN(c.use_conv_bias, ssm.Bool("conv_bias", true));
  if (!m2) {
    ASSIGN_OR_RETURN(c.dt_rank, ReadDtRank(ssm, "dt_rank", c.d_model));
    c.n_groups = 1;
  } else {
    // Options of mamba_ssm's Mamba2 that change the computation and that we do not implement.
    if (ssm.Has("d_ssm")) {
      ASSIGN_OR_RETURN(const int64_t d_ssm, ssm.Size("d_ssm", std::nullopt));
      if (d_ssm != c.d_inner) {
        return ssm.Error("d_ssm", absl::StrCat("= ", d_ssm, " differs from d_inner = ", c.d_inner,
                                               ": gated-MLP channels are not supported"));
      }
    }
    ASSIGN_OR_RETURN(const bool rmsnorm, ssm.Bool("rmsnorm", true));
    if (!rmsnorm) return ssm.Error("rmsnorm", "= false is not supported");
    ASSIGN_OR_RETURN(const bool norm_before_gate, ssm.Bool("norm_before_gate", false));
    if (norm_before_gate) return ssm.Error("norm_before_gate", "= true is not supported");
    ASSIGN_OR_RETURN(const bool d_has_hdim, ssm.Bool("D_has_hdim", false));
    if (d_has_hdim) return ssm.Error("D_has_hdim", "= true is not supported");
    ASSIGN_OR_RETURN(c.head_dim, ssm.Size("headdim", 64));
    ASSIGN_OR_RETURN(c.n_groups, ssm.Size("ngroups", 1));
    ASSIGN_OR_RETURN(c.chunk_size, ssm.Size("chunk_size", 256));
    RETURN_IF_ERROR(ReadTimeStepLimit(ssm, "dt_limit", &c));
    RETURN_IF_ERROR(
        FinishMamba2Heads(ssm, nullptr, "ssm_cfg.headdim", "ssm_cfg.ngroups", source, &c));
  }
  RETURN_IF_ERROR(ReadExtensions(top, &c));
  return c;
}

}  // namespace

int64_t ModelConfig::conv_dim() const {
  if (arch == Architecture::kMamba1) return d_inner;
  return d_inner + 2 * n_groups * d_state;
}

int64_t ModelConfig::in_proj_rows() const {
  if (arch == Architecture::kMamba1) return 2 * d_inner;
  return 2 * d_inner + 2 * n_groups * d_state + n_heads;
}

int64_t ModelConfig::norm_group_size() const {
  if (gated_norm == GatedNormMode::kFull || n_groups <= 0) return d_inner;
  return d_inner / n_groups;
}

absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text,
                                             const std::string& source) {
  ASSIGN_OR_RETURN(const json root, ParseLenientJson(json_text, source));
  if (!root.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": config must be a JSON object, got ", root.type_name()));
  }
  const FieldReader top(root, source, "");
  if (top.Has("model_type")) {
    ASSIGN_OR_RETURN(const std::string model_type, top.String("model_type", ""));
    if (model_type == "mamba") return ParseHuggingFace(top, Architecture::kMamba1, source);
    if (model_type == "mamba2") return ParseHuggingFace(top, Architecture::kMamba2, source);
    return absl::InvalidArgumentError(absl::StrCat(source, ": unsupported model_type '", model_type,
                                                   "' (expected 'mamba' or 'mamba2')"));
  }
  if (top.Has("d_model") && top.Has("n_layer")) return ParseMambaSsm(top, source);
  return absl::InvalidArgumentError(
      absl::StrCat(source,
                   ": cannot tell the config format: no 'model_type' (HF) and no 'd_model' + "
                   "'n_layer' (mamba_ssm)"));
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat("config file not found: ", path));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("cannot stat config file ", path, ": ", std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("config path is not a regular file: ", path));
  }
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseModelConfig(text, path);
}

const char* ArchitectureName(Architecture arch) {
  switch (arch) {
    case Architecture::kMamba1:
      return "mamba1";
    case Architecture::kMamba2:
      return "mamba2";
  }
  return "unknown";
}

}  // namespace mamba_explain
