// Stop points between the blocks of a forward pass and of its backward (issue 12, defect 2a): a
// long differentiable pass (a packed gradient batch of thousands of padded tokens) takes seconds
// on the CPU, so a cancelled or expired request must be able to stop it between two blocks, not
// only between passes. The forward consults the check before every block; a differentiable
// forward also marks every block's output so that the backward consults the same check before
// that block's gradient is computed. Nothing is stopped mid-block, nothing of the model changes:
// after a stop the model serves the next call as before.
#ifndef MAMBA_EXPLAIN_MAMBA_LAYER_CHECK_H_
#define MAMBA_EXPLAIN_MAMBA_LAYER_CHECK_H_

#include <torch/torch.h>

#include <functional>
#include <optional>
#include <vector>

#include "absl/status/status.h"

namespace mamba_explain {

// OK to go on, or the status to stop with (CANCELLED, DEADLINE_EXCEEDED). Empty: never stops.
// May be called from an autograd worker thread (CUDA backward): it must be thread-safe, and must
// outlive the graph of every tensor marked with it.
using LayerCheck = std::function<absl::Status()>;

// The forward's stop point: OK when `check` is empty.
inline absl::Status CheckLayer(const LayerCheck& check) {
  return check ? check() : absl::OkStatus();
}

// The backward's stop point: when the gradient of `h` (a block's output) has been accumulated and
// before it flows into the block that made h, `check` runs; a failing check throws a c10::Error
// with its message out of torch::autograd::grad / backward (the caller knows from its own
// cancellation state that this was a stop, not a fault). No-op when check is empty or h does not
// require grad.
void CheckInBackward(const torch::Tensor& h, const LayerCheck& check);

// torch::autograd::grad(outputs, inputs) for a graph whose blocks carry a check: nullopt when the
// backward threw and `stopped()` holds (the caller's cancellation state is monotonic, so it tells
// a stop from a fault); any other error is rethrown.
std::optional<std::vector<torch::Tensor>> GradUnlessStopped(
    const std::vector<torch::Tensor>& outputs, const std::vector<torch::Tensor>& inputs,
    const std::function<bool()>& stopped);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_MAMBA_LAYER_CHECK_H_
