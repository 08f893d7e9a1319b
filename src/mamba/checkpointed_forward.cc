#include "mamba/checkpointed_forward.h"

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/out_of_memory.h"
#include "mamba/block_forward.h"
#include "mamba/layer_traces.h"
#include "mamba/mamba_ops.h"

namespace mamba_explain {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The branch of block `layer`, throwing (inside autograd) when the mixer reports an error.
torch::Tensor Branch(const MambaModel& model, int64_t layer, const torch::Tensor& h,
                     const torch::Tensor& lengths) {
  absl::StatusOr<torch::Tensor> out = BlockBranchForward(
      model.weights(), model.config(), static_cast<int>(layer), h, lengths, nullptr, nullptr);
  TORCH_CHECK(out.ok(), "block ", layer, ": ", std::string(out.status().message()));
  return *out;
}

// h -> h + branch(h), saving only h; the backward rebuilds the block's graph from it.
class CheckpointedBlock : public torch::autograd::Function<CheckpointedBlock> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor h, torch::Tensor lengths,
                               int64_t layer, int64_t model_address) {
    ctx->save_for_backward({h, lengths});
    ctx->saved_data["layer"] = layer;
    ctx->saved_data["model"] = model_address;  // the model outlives the graph (caller's contract)
    torch::NoGradGuard no_grad;
    const auto* model = reinterpret_cast<const MambaModel*>(model_address);
    return h + Branch(*model, layer, h, lengths);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const variable_list saved = ctx->get_saved_variables();
    const int64_t layer = ctx->saved_data["layer"].toInt();
    const auto* model = reinterpret_cast<const MambaModel*>(ctx->saved_data["model"].toInt());
    torch::Tensor h = saved[0].detach().requires_grad_(true);
    torch::Tensor out;
    {
      torch::AutoGradMode grad_mode(true);
      out = h + Branch(*model, layer, h, saved[1]);
    }
    torch::Tensor dh = torch::autograd::grad({out}, {h}, {grad_out[0]})[0];
    return {dh, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

int64_t DifferentiableForwardBytes(const ModelConfig& config, int64_t positions) {
  return positions * config.n_layers *
         (LayerTraceBytesPerPosition(config) + BlockTemporaryBytesPerPosition(config));
}

int64_t CheckpointedForwardBytes(const ModelConfig& config, int64_t positions) {
  return positions * (config.n_layers * config.d_model * 4 + LayerTraceBytesPerPosition(config) +
                      BlockTemporaryBytesPerPosition(config));
}

absl::StatusOr<torch::Tensor> CheckpointedLogits(const MambaModel& model,
                                                 const torch::Tensor& embeddings,
                                                 const torch::Tensor& lengths,
                                                 bool last_position_logits_only,
                                                 const LayerCheck& check) {
  try {
    if (embeddings.dim() != 3 || embeddings.size(2) != model.config().d_model) {
      return absl::InvalidArgumentError("embeddings must be [batch, seq_len, d_model]");
    }
    const int64_t batch = embeddings.size(0), L = embeddings.size(1);
    ASSIGN_OR_RETURN(torch::Tensor lens, MambaModel::ResolveLengths(lengths, batch, L));
    torch::Tensor lens_device = lens.to(model.device());
    torch::Tensor h = embeddings.to(model.device(), torch::kFloat32);
    const int64_t address = reinterpret_cast<int64_t>(&model);
    for (int64_t l = 0; l < model.config().n_layers; ++l) {
      RETURN_IF_ERROR(CheckLayer(check));
      h = CheckpointedBlock::apply(h, lens_device, l, address);
      CheckInBackward(h, check);
    }
    torch::Tensor head_in = RmsNorm(h, model.weights().norm_f, model.config().norm_eps);
    if (last_position_logits_only) {
      torch::Tensor index =
          (lens_device - 1).view({batch, 1, 1}).expand({batch, 1, head_in.size(2)});
      head_in = head_in.gather(1, index).squeeze(1);  // [B, D]
    }
    return Project(head_in, model.weights().lm_head, torch::Tensor());
  } catch (const c10::Error& e) {
    if (IsOutOfMemory(e)) throw;  // for the explain layer's boundary
    return absl::InternalError(absl::StrCat("checkpointed forward: ", e.what_without_backtrace()));
  }
}

}  // namespace mamba_explain
