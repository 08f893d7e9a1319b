#include "kernels/selective_scan_autograd.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "kernels/out_of_memory.h"
#include "kernels/selective_scan_backward.h"

namespace mamba_explain {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Forward arguments in this order; the tensor ones are also the autograd edge indices.
enum Input : size_t { kX = 0, kDelta, kA, kB, kC, kD, kLengths, kMode, kNumInputs };

class SelectiveScanFunction : public torch::autograd::Function<SelectiveScanFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& delta, const torch::Tensor& A,
                               const torch::Tensor& B, const torch::Tensor& C,
                               const torch::Tensor& D, const torch::Tensor& lengths, int64_t mode) {
    absl::StatusOr<torch::Tensor> y = SelectiveScan({x, delta, A, B, C, D, lengths});
    TORCH_CHECK(y.ok(), std::string(y.status().message()));
    // Inputs only (views, so no copies): the backward recomputes the states.
    ctx->save_for_backward({x, delta, A, B, C, D, lengths});
    ctx->saved_data["mode"] = mode;
    return *std::move(y);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const variable_list saved = ctx->get_saved_variables();
    const SelectiveScanInputs inputs{saved[kX], saved[kDelta], saved[kA],      saved[kB],
                                     saved[kC], saved[kD],     saved[kLengths]};
    SsmGradMode mode = static_cast<SsmGradMode>(ctx->saved_data["mode"].toInt());
    variable_list grads(kNumInputs);
    const torch::Tensor& dout = grad_outputs[0];  // [Bt, L, E]
    if (!dout.defined()) return grads;
    bool needs_params = false;
    for (size_t i : {kDelta, kA, kB, kC, kD}) needs_params |= ctx->needs_input_grad(i);
    if (!needs_params) mode = SsmGradMode::kInputOnly;  // half the work, same dx
    absl::StatusOr<SelectiveScanGrads> computed =
        SelectiveScanBackward(inputs, dout.to(torch::kFloat), mode);
    TORCH_CHECK(computed.ok(), std::string(computed.status().message()));
    const auto wanted = [&](size_t i, torch::Tensor& grad) {
      return ctx->needs_input_grad(i) ? grad : torch::Tensor();
    };
    grads[kX] = wanted(kX, computed->dx);
    if (mode == SsmGradMode::kFull) {
      grads[kDelta] = wanted(kDelta, computed->ddelta);
      grads[kA] = wanted(kA, computed->dA);
      grads[kB] = wanted(kB, computed->dB);
      grads[kC] = wanted(kC, computed->dC);
      if (computed->dD.defined()) grads[kD] = wanted(kD, computed->dD);
    }
    return grads;
  }
};

torch::Tensor DetachIfDefined(const torch::Tensor& t) { return t.defined() ? t.detach() : t; }

// Function::apply needs every tensor argument defined (LibTorch 1.13 reads their devices); an
// empty tensor means "absent" to the scan as an undefined one does.
torch::Tensor EmptyIfUndefined(const torch::Tensor& t, const torch::TensorOptions& options) {
  return t.defined() ? t : torch::empty({0}, options);
}

}  // namespace

absl::StatusOr<torch::Tensor> SelectiveScanDifferentiable(const SelectiveScanInputs& inputs,
                                                          SsmGradMode mode) {
  RETURN_IF_ERROR(ValidateSelectiveScanInputs(inputs));
  SelectiveScanInputs in = inputs;
  if (mode == SsmGradMode::kInputOnly) {
    // MambaLRP holds Δ, A, B, C, D constant: no edges to them at all.
    in.delta = DetachIfDefined(in.delta);
    in.A = DetachIfDefined(in.A);
    in.B = DetachIfDefined(in.B);
    in.C = DetachIfDefined(in.C);
    in.D = DetachIfDefined(in.D);
  }
  try {
    in.D = EmptyIfUndefined(in.D, in.x.options());
    in.lengths = EmptyIfUndefined(in.lengths, in.x.options().dtype(torch::kLong));
    return SelectiveScanFunction::apply(in.x, in.delta, in.A, in.B, in.C, in.D, in.lengths,
                                        static_cast<int64_t>(mode));
  } catch (const c10::Error& e) {
    if (IsOutOfMemory(e)) throw;  // for the explain layer's boundary
    return absl::InternalError(absl::StrCat("SelectiveScanDifferentiable failed for x [",
                                            absl::StrJoin(inputs.x.sizes(), ", "),
                                            "]: ", e.what_without_backtrace()));
  }
}

}  // namespace mamba_explain
