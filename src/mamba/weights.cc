#include "mamba/weights.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace mamba_explain {
namespace {

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// Reads tensors by name from a checkpoint, checking shapes, and converts them.
class TensorReader {
 public:
  TensorReader(const Checkpoint& checkpoint, torch::Device device)
      : checkpoint_(checkpoint), device_(device) {}

  bool Has(const std::string& name) const { return checkpoint_.Find(name) != nullptr; }

  absl::StatusOr<torch::Tensor> Read(const std::string& name, const std::vector<int64_t>& shape,
                                     torch::ScalarType dtype) const {
    const TensorView* view = checkpoint_.Find(name);
    if (view == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("checkpoint in '", checkpoint_.dir(),
                                                     "' lacks tensor '", name, "' (expected shape ",
                                                     ShapeString(shape), ")"));
    }
    if (view->shape != shape) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' has shape ",
                                                     ShapeString(view->shape), ", expected ",
                                                     ShapeString(shape)));
    }
    if (view->dtype != DType::kF32 && view->dtype != DType::kF16 && view->dtype != DType::kBF16) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' has dtype ",
                                                     DTypeName(view->dtype),
                                                     "; weights must be F32, F16 or BF16"));
    }
    ASSIGN_OR_RETURN(torch::Tensor host, TensorFromView(*view));
    return host.to(device_, dtype);
  }

  // Reads an optional tensor: undefined when absent.
  absl::StatusOr<torch::Tensor> ReadOptional(const std::string& name,
                                             const std::vector<int64_t>& shape,
                                             torch::ScalarType dtype) const {
    if (!Has(name)) return torch::Tensor();
    return Read(name, shape, dtype);
  }

 private:
  const Checkpoint& checkpoint_;
  torch::Device device_;
};

absl::StatusOr<LayerWeights> LoadLayer(const TensorReader& reader, const ModelConfig& c, int layer,
                                       torch::ScalarType compute) {
  const std::string prefix = absl::StrCat("backbone.layers.", layer, ".");
  const std::string mixer = prefix + "mixer.";
  const int64_t D = c.d_model, E = c.d_inner, N = c.d_state, K = c.d_conv;
  const int64_t CD = c.conv_dim(), PJ = c.in_proj_rows();
  LayerWeights w;
  ASSIGN_OR_RETURN(w.norm, reader.Read(prefix + "norm.weight", {D}, torch::kFloat32));
  ASSIGN_OR_RETURN(w.in_proj_w, reader.Read(mixer + "in_proj.weight", {PJ, D}, compute));
  ASSIGN_OR_RETURN(w.in_proj_b, reader.ReadOptional(mixer + "in_proj.bias", {PJ}, torch::kFloat32));
  ASSIGN_OR_RETURN(torch::Tensor conv_w,
                   reader.Read(mixer + "conv1d.weight", {CD, 1, K}, torch::kFloat32));
  w.conv_w = conv_w.squeeze(1).contiguous();
  ASSIGN_OR_RETURN(w.conv_b, reader.ReadOptional(mixer + "conv1d.bias", {CD}, torch::kFloat32));
  ASSIGN_OR_RETURN(w.out_proj_w, reader.Read(mixer + "out_proj.weight", {D, E}, compute));
  ASSIGN_OR_RETURN(w.out_proj_b,
                   reader.ReadOptional(mixer + "out_proj.bias", {D}, torch::kFloat32));
  if (c.arch == Architecture::kMamba1) {
    const int64_t R = c.dt_rank;
    ASSIGN_OR_RETURN(w.x_proj_w, reader.Read(mixer + "x_proj.weight", {R + 2 * N, E}, compute));
    ASSIGN_OR_RETURN(w.dt_proj_w, reader.Read(mixer + "dt_proj.weight", {E, R}, compute));
    ASSIGN_OR_RETURN(w.dt_bias, reader.Read(mixer + "dt_proj.bias", {E}, torch::kFloat32));
    ASSIGN_OR_RETURN(w.A_log, reader.Read(mixer + "A_log", {E, N}, torch::kFloat32));
    ASSIGN_OR_RETURN(w.D, reader.Read(mixer + "D", {E}, torch::kFloat32));
  } else {
    const int64_t H = c.n_heads;
    ASSIGN_OR_RETURN(w.dt_bias, reader.Read(mixer + "dt_bias", {H}, torch::kFloat32));
    ASSIGN_OR_RETURN(w.A_log, reader.Read(mixer + "A_log", {H}, torch::kFloat32));
    ASSIGN_OR_RETURN(w.D, reader.Read(mixer + "D", {H}, torch::kFloat32));
    ASSIGN_OR_RETURN(w.gated_norm, reader.Read(mixer + "norm.weight", {E}, torch::kFloat32));
  }
  return w;
}

}  // namespace

absl::StatusOr<torch::Tensor> TensorFromView(const TensorView& view) {
  torch::ScalarType dtype;
  switch (view.dtype) {
    case DType::kF32:
      dtype = torch::kFloat32;
      break;
    case DType::kF16:
      dtype = torch::kFloat16;
      break;
    case DType::kBF16:
      dtype = torch::kBFloat16;
      break;
    case DType::kF64:
      dtype = torch::kFloat64;
      break;
    case DType::kI64:
      dtype = torch::kInt64;
      break;
    case DType::kI32:
      dtype = torch::kInt32;
      break;
    case DType::kU8:
      dtype = torch::kUInt8;
      break;
    case DType::kBool:
      dtype = torch::kBool;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("tensor '", view.name, "' has dtype ",
                                                     DTypeName(view.dtype),
                                                     " which has no torch equivalent here"));
  }
  if (view.numel() == 0) return torch::empty(view.shape, torch::TensorOptions().dtype(dtype));
  // from_blob views the mapping; clone() makes the tensor own its bytes.
  return torch::from_blob(const_cast<uint8_t*>(view.data), view.shape,
                          torch::TensorOptions().dtype(dtype))
      .clone();
}

torch::ScalarType ComputeDtype(Precision precision) {
  return precision == Precision::kBf16 ? torch::kBFloat16 : torch::kFloat32;
}

absl::StatusOr<ModelWeights> LoadModelWeights(const Checkpoint& checkpoint, ModelConfig& config,
                                              torch::Device device, Precision precision) {
  try {
    TensorReader reader(checkpoint, device);
    const torch::ScalarType compute = ComputeDtype(precision);
    // Bias presence comes from the tensors: HF's MambaConfig defaults use_bias to true while the
    // released checkpoints have none (mamba_reference.md §1.1). Layer 0 decides; every other layer
    // must agree, which the per-layer reads below check through the shapes.
    const std::string l0 = "backbone.layers.0.mixer.";
    config.use_bias = reader.Has(l0 + "in_proj.bias");
    config.use_conv_bias = reader.Has(l0 + "conv1d.bias");
    if (config.use_bias != reader.Has(l0 + "out_proj.bias")) {
      return absl::InvalidArgumentError(
          "layer 0 has only one of in_proj.bias and out_proj.bias; both or neither expected");
    }
    ModelWeights w;
    w.device = device;
    w.precision = precision;
    const int64_t V = config.vocab_size, D = config.d_model;
    std::string embedding_name = config.embedding_tensor;
    if (!reader.Has(embedding_name)) {
      // Accept both spellings: HF renames mamba_ssm's "embedding" on load (HF-M1 load hook).
      const std::string other = embedding_name == "backbone.embeddings.weight"
                                    ? "backbone.embedding.weight"
                                    : "backbone.embeddings.weight";
      if (reader.Has(other)) embedding_name = other;
    }
    ASSIGN_OR_RETURN(w.embedding, reader.Read(embedding_name, {V, D}, compute));
    ASSIGN_OR_RETURN(w.norm_f, reader.Read("backbone.norm_f.weight", {D}, torch::kFloat32));
    if (reader.Has("lm_head.weight")) {
      ASSIGN_OR_RETURN(w.lm_head, reader.Read("lm_head.weight", {V, D}, compute));
      w.lm_head_tied = false;
    } else if (config.tie_word_embeddings) {
      w.lm_head = w.embedding;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("config sets tie_word_embeddings=false but the checkpoint in '",
                       checkpoint.dir(), "' lacks 'lm_head.weight'"));
    }
    for (int layer = 0; layer < config.n_layers; ++layer) {
      ASSIGN_OR_RETURN(LayerWeights lw, LoadLayer(reader, config, layer, compute));
      if (lw.in_proj_b.defined() != config.use_bias || lw.out_proj_b.defined() != config.use_bias ||
          lw.conv_b.defined() != config.use_conv_bias) {
        return absl::InvalidArgumentError(absl::StrCat(
            "layer ", layer, " disagrees with layer 0 about which bias tensors exist"));
      }
      w.layers.push_back(std::move(lw));
    }
    const std::string beyond = absl::StrCat("backbone.layers.", config.n_layers, ".norm.weight");
    if (reader.Has(beyond)) {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint has tensor '", beyond,
                       "' but the config says num_hidden_layers=", config.n_layers));
    }
    return w;
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("loading weights: ", e.what_without_backtrace()));
  }
}

}  // namespace mamba_explain
