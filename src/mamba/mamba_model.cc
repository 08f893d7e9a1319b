#include "mamba/mamba_model.h"

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/out_of_memory.h"
#include "mamba/block_forward.h"
#include "mamba/mamba_ops.h"
#include "model/checkpoint.h"

namespace mamba_explain {
namespace {

// Reference numerics (DESIGN §4): no TF32 anywhere.
void DisableTf32() {
  at::globalContext().setAllowTF32CuBLAS(false);
  at::globalContext().setAllowTF32CuDNN(false);
}

}  // namespace

absl::StatusOr<torch::Device> ParseDevice(const std::string& name) {
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name == "cuda" || absl::StartsWith(name, "cuda:")) {
    if (!torch::cuda::is_available()) {
      return absl::UnavailableError(
          absl::StrCat("device '", name, "' requested but CUDA is not available"));
    }
    int index = 0;
    if (name.size() > 5 && (!absl::SimpleAtoi(name.substr(5), &index) || index < 0 ||
                            index >= static_cast<int>(torch::cuda::device_count()))) {
      return absl::InvalidArgumentError(absl::StrCat("no CUDA device '", name, "'"));
    }
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown device '", name, "' (cpu, cuda, cuda:N)"));
}

absl::StatusOr<std::unique_ptr<MambaModel>> MambaModel::Load(const std::string& model_dir,
                                                             const LoadOptions& options) {
  DisableTf32();
  ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(model_dir + "/config.json"));
  if (options.ssm_activation) config.ssm_activation = *options.ssm_activation;
  if (options.gated_norm) config.gated_norm = *options.gated_norm;
  ASSIGN_OR_RETURN(std::unique_ptr<Checkpoint> checkpoint, Checkpoint::Open(model_dir));
  ASSIGN_OR_RETURN(ModelWeights weights,
                   LoadModelWeights(*checkpoint, config, options.device, options.precision));
  return std::unique_ptr<MambaModel>(new MambaModel(std::move(config), std::move(weights)));
}

std::unique_ptr<MambaModel> MambaModel::FromWeights(ModelConfig config, ModelWeights weights) {
  DisableTf32();
  return std::unique_ptr<MambaModel>(new MambaModel(std::move(config), std::move(weights)));
}

torch::Tensor MambaModel::Embed(const torch::Tensor& ids) const {
  return torch::embedding(weights_.embedding, ids.to(device(), torch::kInt64)).to(torch::kFloat32);
}

absl::Status MambaModel::CheckIds(const torch::Tensor& ids) const {
  if (!ids.defined() || ids.dim() != 2 || ids.size(1) == 0 || ids.size(0) == 0) {
    return absl::InvalidArgumentError("ids must be [batch, seq_len] with seq_len ≥ 1");
  }
  torch::Tensor ids64 = ids.to(torch::kInt64);
  const int64_t lo = ids64.min().item<int64_t>(), hi = ids64.max().item<int64_t>();
  if (lo < 0 || hi >= config_.vocab_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("token id ", lo < 0 ? lo : hi, " outside [0, ", config_.vocab_size, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<torch::Tensor> MambaModel::ResolveLengths(const torch::Tensor& lengths,
                                                         int64_t batch, int64_t seq_len) {
  torch::Tensor lens = lengths.defined() ? lengths.to(torch::kCPU, torch::kInt64)
                                         : torch::full({batch}, seq_len,
                                                       torch::TensorOptions().dtype(torch::kInt64));
  if (lens.dim() != 1 || lens.size(0) != batch || lens.min().item<int64_t>() < 1 ||
      lens.max().item<int64_t>() > seq_len) {
    return absl::InvalidArgumentError(
        absl::StrCat("lengths must be [", batch, "] with values in [1, ", seq_len, "]"));
  }
  return lens;
}

absl::StatusOr<ForwardOutput> MambaModel::Forward(const torch::Tensor& ids,
                                                  const torch::Tensor& lengths,
                                                  const ForwardOptions& options) const {
  try {
    RETURN_IF_ERROR(CheckIds(ids));
    torch::NoGradGuard no_grad;
    return ForwardFromEmbeddings(Embed(ids), lengths, options);
  } catch (const c10::Error& e) {
    if (IsOutOfMemory(e)) throw;  // for the explain layer's boundary
    return absl::InternalError(absl::StrCat("forward: ", e.what_without_backtrace()));
  }
}

absl::StatusOr<ForwardOutput> MambaModel::ForwardFromEmbeddings(
    const torch::Tensor& embeddings, const torch::Tensor& lengths,
    const ForwardOptions& options) const {
  try {
    const int64_t batch = embeddings.size(0), L = embeddings.size(1);
    ASSIGN_OR_RETURN(torch::Tensor lens, ResolveLengths(lengths, batch, L));
    std::set<int> traced;
    if (options.trace == ForwardOptions::TraceLayers::kAll) {
      for (int l = 0; l < config_.n_layers; ++l) traced.insert(l);
    } else if (options.trace == ForwardOptions::TraceLayers::kSelected) {
      for (int l : options.trace_layers) {
        if (l < 0 || l >= config_.n_layers) {
          return absl::InvalidArgumentError(
              absl::StrCat("trace layer ", l, " not in [0, ", config_.n_layers, ")"));
        }
        traced.insert(l);
      }
    }
    ForwardOutput out;
    torch::Tensor h = embeddings.to(device(), torch::kFloat32);
    torch::Tensor lens_device = lens.to(device());
    for (int l = 0; l < config_.n_layers; ++l) {
      RETURN_IF_ERROR(CheckLayer(options.layer_check));
      LayerTrace layer_trace;
      LayerTrace* trace = traced.count(l) ? &layer_trace : nullptr;
      ASSIGN_OR_RETURN(torch::Tensor mixer_out,
                       BlockBranchForward(weights_, config_, l, h, lens_device, trace, nullptr));
      if (trace != nullptr) out.trace.layers.push_back(std::move(layer_trace));
      h = h + mixer_out;
      CheckInBackward(h, options.layer_check);
      if (options.keep_hidden_states) out.hidden_states.push_back(h);
    }
    out.final_hidden = BlockRmsNorm(h, weights_.norm_f, config_.norm_eps, /*round_bf16=*/false);
    if (options.compute_logits) {
      torch::Tensor head_in = out.final_hidden;
      if (options.last_position_logits_only) {
        torch::Tensor index = (lens_device - 1).view({batch, 1, 1}).expand({batch, 1, h.size(2)});
        head_in = head_in.gather(1, index).squeeze(1);  // [B, D]
      }
      out.logits = Project(head_in, weights_.lm_head, torch::Tensor());
    }
    return out;
  } catch (const c10::Error& e) {
    if (IsOutOfMemory(e)) throw;  // for the explain layer's boundary
    return absl::InternalError(absl::StrCat("forward: ", e.what_without_backtrace()));
  }
}

}  // namespace mamba_explain
