#include "mamba/mamba_ops.h"

#include <vector>

#include "kernels/mixer_ops.h"

namespace mamba_explain {

torch::Tensor RmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  torch::Tensor rstd = torch::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return x * rstd * weight;
}

torch::Tensor ConvTap(const torch::Tensor& x, const torch::Tensor& w, int64_t k) {
  const int64_t K = w.size(1), L = x.size(1);
  const int64_t shift = K - 1 - k;
  torch::Tensor tap_w = w.select(1, k);  // [C]
  if (shift == 0) return x * tap_w;
  if (shift >= L) return torch::zeros_like(x);
  using torch::indexing::Slice;
  torch::Tensor shifted = torch::zeros_like(x);
  shifted.index_put_({Slice(), Slice(shift, torch::indexing::None)},
                     x.index({Slice(), Slice(0, L - shift)}));
  return shifted * tap_w;
}

torch::Tensor CausalConv1d(const torch::Tensor& x, const torch::Tensor& w,
                           const torch::Tensor& bias) {
  torch::Tensor out = ConvTap(x, w, w.size(1) - 1);
  for (int64_t k = 0; k + 1 < w.size(1); ++k) out = out + ConvTap(x, w, k);
  if (bias.defined()) out = out + bias;
  return out;
}

torch::Tensor CausalConv1dContinued(const torch::Tensor& x, const torch::Tensor& w,
                                    const torch::Tensor& bias, const torch::Tensor& history,
                                    torch::Tensor* next_history) {
  const int64_t K = w.size(1), L = x.size(1);
  torch::Tensor past = history;
  if (!past.defined()) {
    std::vector<int64_t> shape = x.sizes().vec();
    shape[1] = K - 1;
    past = torch::zeros(shape, x.options());
  }
  torch::Tensor extended = torch::cat({past.to(x.scalar_type()), x}, 1);  // [B, K−1+L, C]
  if (next_history != nullptr) *next_history = extended.narrow(1, L, K - 1).contiguous();
  // Zero history and no history give the same sums (the taps of zeros add exact zeros).
  if (!history.defined()) return CausalConv1d(x, w, bias);
  return CausalConv1d(extended, w, bias).narrow(1, K - 1, L);
}

torch::Tensor ApplySsmActivation(const torch::Tensor& x, SsmActivation activation) {
  switch (activation) {
    case SsmActivation::kSilu:
      return torch::silu(x);
    case SsmActivation::kIdentity:
      return x;
  }
  return x;
}

torch::Tensor BlockRmsNorm(const torch::Tensor& h, const torch::Tensor& weight, double eps,
                           bool round_bf16) {
  if (FusedMixerOpsApply(h)) return FusedRmsNorm(h, weight, eps, round_bf16);
  torch::Tensor u = RmsNorm(h, weight, eps);
  return round_bf16 ? u.to(torch::kBFloat16).to(torch::kFloat32) : u;
}

ConvActivation CausalConvActivated(const torch::Tensor& x, const torch::Tensor& w,
                                   const torch::Tensor& bias, SsmActivation activation,
                                   torch::Tensor* conv_tail) {
  ConvActivation out;
  if (!FusedMixerOpsApply(x)) {
    out.pre = conv_tail == nullptr ? CausalConv1d(x, w, bias)
                                   : CausalConv1dContinued(x, w, bias, *conv_tail, conv_tail);
    out.act = ApplySsmActivation(out.pre, activation);
    return out;
  }
  const bool silu = activation == SsmActivation::kSilu;
  const torch::Tensor history = conv_tail == nullptr ? torch::Tensor() : *conv_tail;
  FusedConvOutputs fused = FusedCausalConv(x, w, bias, history, silu);
  if (conv_tail != nullptr) {
    const int64_t K = w.size(1), L = x.size(1);
    if (L >= K - 1) {
      *conv_tail = x.narrow(1, L - (K - 1), K - 1).contiguous();
    } else {
      std::vector<int64_t> shape = x.sizes().vec();
      shape[1] = K - 1;
      const torch::Tensor past =
          history.defined() ? history.to(x.scalar_type()) : torch::zeros(shape, x.options());
      *conv_tail = torch::cat({past, x}, 1).narrow(1, L, K - 1).contiguous();
    }
  }
  out.pre = fused.pre;
  out.act = fused.act;
  return out;
}

torch::Tensor Project(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias) {
  torch::Tensor y = torch::matmul(x.to(w.scalar_type()), w.t()).to(torch::kFloat32);
  if (bias.defined()) y = y + bias;
  return y;
}

}  // namespace mamba_explain
