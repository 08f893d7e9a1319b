#include "kernels/mixer_ops.h"

#include "kernels/mixer_ops_params.h"

#ifdef ME_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#endif

namespace mamba_explain {
namespace {

// Activations with unit stride along the last axis, as the kernels index them.
torch::Tensor UnitLastStride(const torch::Tensor& t) {
  return t.stride(-1) == 1 ? t : t.contiguous();
}

void CheckActivation(const char* name, const torch::Tensor& t) {
  TORCH_CHECK(t.defined() && t.dim() == 3 && t.scalar_type() == torch::kFloat && t.is_cuda(),
              "fused mixer op: ", name, " must be a float32 [Bt, L, C] CUDA tensor");
}

torch::Tensor CheckWeight(const char* name, const torch::Tensor& w, const torch::Tensor& x,
                          at::IntArrayRef shape) {
  TORCH_CHECK(w.defined() && w.scalar_type() == torch::kFloat && w.device() == x.device() &&
                  w.sizes() == shape,
              "fused mixer op: ", name, " must be float32 ", shape, " on ", x.device());
  return w.contiguous();
}

#ifdef ME_WITH_CUDA
void CheckLaunch(const char* op, cudaError_t launched) {
  const cudaError_t last = cudaGetLastError();
  const cudaError_t err = launched != cudaSuccess ? launched : last;
  TORCH_CHECK(err == cudaSuccess, op, " CUDA launch failed: ", cudaGetErrorString(err));
}
#endif

}  // namespace

bool FusedMixerOpsApply(const torch::Tensor& x) {
#ifdef ME_WITH_CUDA
  return x.defined() && x.is_cuda() && !(torch::GradMode::is_enabled() && x.requires_grad());
#else
  (void)x;
  return false;
#endif
}

torch::Tensor FusedRmsNorm(const torch::Tensor& x_in, const torch::Tensor& w_in, double eps,
                           bool round_bf16) {
  CheckActivation("x", x_in);
  const torch::Tensor x = UnitLastStride(x_in);
  const torch::Tensor w = CheckWeight("weight", w_in, x, {x.size(2)});
  torch::Tensor out = torch::empty(x.sizes(), x.options());
#ifdef ME_WITH_CUDA
  const c10::cuda::CUDAGuard guard(x.device());
  RmsNormParams p;
  p.batch = x.size(0), p.seq_len = x.size(1), p.dim = x.size(2);
  p.x_batch_stride = x.stride(0), p.x_seq_stride = x.stride(1);
  p.x = x.data_ptr<float>(), p.w = w.data_ptr<float>(), p.out = out.data_ptr<float>();
  p.eps = static_cast<float>(eps), p.round_bf16 = round_bf16;
  if (out.numel() > 0) CheckLaunch("RmsNorm", LaunchRmsNorm(p, c10::cuda::getCurrentCUDAStream()));
  return out;
#else
  (void)eps, (void)round_bf16;
  TORCH_CHECK(false, "fused mixer ops need a CUDA build");
#endif
}

FusedConvOutputs FusedCausalConv(const torch::Tensor& x_in, const torch::Tensor& w_in,
                                 const torch::Tensor& bias_in, const torch::Tensor& history_in,
                                 bool silu) {
  CheckActivation("x", x_in);
  const torch::Tensor x = UnitLastStride(x_in);
  const int64_t batch = x.size(0), C = x.size(2);
  TORCH_CHECK(w_in.defined() && w_in.dim() == 2 && w_in.size(0) == C && w_in.size(1) >= 1,
              "fused mixer op: conv weight must be [C, K] with C = ", C);
  const int64_t K = w_in.size(1);
  const torch::Tensor w = CheckWeight("conv weight", w_in, x, {C, K});
  torch::Tensor bias, history;
  if (bias_in.defined()) bias = CheckWeight("conv bias", bias_in, x, {C});
  if (history_in.defined() && K > 1) {
    TORCH_CHECK(history_in.sizes() == at::IntArrayRef({batch, K - 1, C}) &&
                    history_in.device() == x.device(),
                "fused mixer op: conv history must be [", batch, ", ", K - 1, ", ", C, "] on ",
                x.device());
    history = history_in.to(torch::kFloat).contiguous();
  }
  FusedConvOutputs outs;
  outs.pre = torch::empty(x.sizes(), x.options());
  outs.act = silu ? torch::empty_like(outs.pre) : outs.pre;
#ifdef ME_WITH_CUDA
  const c10::cuda::CUDAGuard guard(x.device());
  CausalConvParams p;
  p.batch = batch, p.seq_len = x.size(1), p.channels = C, p.width = K;
  p.x_batch_stride = x.stride(0), p.x_seq_stride = x.stride(1);
  p.x = x.data_ptr<float>(), p.w = w.data_ptr<float>();
  p.bias = bias.defined() ? bias.data_ptr<float>() : nullptr;
  p.history = history.defined() ? history.data_ptr<float>() : nullptr;
  p.silu = silu;
  p.pre = outs.pre.data_ptr<float>();
  p.act = silu ? outs.act.data_ptr<float>() : nullptr;
  if (outs.pre.numel() > 0) {
    CheckLaunch("CausalConv", LaunchCausalConv(p, c10::cuda::getCurrentCUDAStream()));
  }
  return outs;
#else
  TORCH_CHECK(false, "fused mixer ops need a CUDA build");
#endif
}

FusedGatedNormOutputs FusedGatedRmsNorm(const torch::Tensor& y_in, const torch::Tensor& z_in,
                                        const torch::Tensor& w_in, int64_t group, double eps) {
  CheckActivation("y", y_in);
  CheckActivation("z", z_in);
  TORCH_CHECK(y_in.sizes() == z_in.sizes() && y_in.device() == z_in.device(),
              "fused mixer op: y and z must have one shape and device");
  const torch::Tensor y = y_in.contiguous();
  const torch::Tensor z = UnitLastStride(z_in);
  const int64_t E = y.size(2);
  TORCH_CHECK(group > 0 && E % group == 0, "fused mixer op: group ", group, " must divide ", E);
  const torch::Tensor w = CheckWeight("norm weight", w_in, y, {E});
  FusedGatedNormOutputs outs;
  outs.out = torch::empty_like(y);
  outs.rstd = torch::empty({y.size(0), y.size(1), E / group}, y.options());
#ifdef ME_WITH_CUDA
  const c10::cuda::CUDAGuard guard(y.device());
  GatedRmsNormParams p;
  p.batch = y.size(0), p.seq_len = y.size(1), p.dim = E, p.group = group;
  p.z_batch_stride = z.stride(0), p.z_seq_stride = z.stride(1);
  p.y = y.data_ptr<float>(), p.z = z.data_ptr<float>(), p.w = w.data_ptr<float>();
  p.eps = static_cast<float>(eps);
  p.out = outs.out.data_ptr<float>(), p.rstd = outs.rstd.data_ptr<float>();
  if (outs.out.numel() > 0) {
    CheckLaunch("GatedRmsNorm", LaunchGatedRmsNorm(p, c10::cuda::getCurrentCUDAStream()));
  }
  return outs;
#else
  (void)eps;
  TORCH_CHECK(false, "fused mixer ops need a CUDA build");
#endif
}

}  // namespace mamba_explain
