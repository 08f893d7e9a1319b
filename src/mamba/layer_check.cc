#include "mamba/layer_check.h"

#include <string>

namespace mamba_explain {

void CheckInBackward(const torch::Tensor& h, const LayerCheck& check) {
  if (!check || !h.requires_grad()) return;
  // A tensor hook on a non-leaf runs before its grad_fn, i.e. before the block's backward; a
  // hook that returns nothing passes the gradient on unchanged.
  h.register_hook([check](const torch::Tensor&) {
    const absl::Status status = check();
    TORCH_CHECK(status.ok(), "stopped in the backward: ", std::string(status.message()));
  });
}

std::optional<std::vector<torch::Tensor>> GradUnlessStopped(
    const std::vector<torch::Tensor>& outputs, const std::vector<torch::Tensor>& inputs,
    const std::function<bool()>& stopped) {
  try {
    return torch::autograd::grad(outputs, inputs);
  } catch (const c10::Error&) {
    if (stopped()) return std::nullopt;
    throw;
  }
}

}  // namespace mamba_explain
