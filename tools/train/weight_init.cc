#include "tools/train/weight_init.h"

#include <cmath>

namespace mamba_explain {
namespace {

torch::Tensor Leaf(torch::Tensor t) { return t.contiguous().set_requires_grad(true); }

torch::Tensor Normal(std::vector<int64_t> shape, double std, torch::Device device) {
  return torch::randn(shape, torch::TensorOptions().device(device)) * std;
}

torch::Tensor Uniform(std::vector<int64_t> shape, double lo, double hi, torch::Device device) {
  return torch::rand(shape, torch::TensorOptions().device(device)) * (hi - lo) + lo;
}

// softplus⁻¹ of Δ drawn log-uniformly in [1e-3, 1e-1] (floored at 1e-4), as mamba_ssm does.
torch::Tensor DtBias(int64_t n, torch::Device device) {
  torch::Tensor dt =
      torch::exp(Uniform({n}, std::log(1e-3), std::log(1e-1), device)).clamp_min(1e-4);
  return dt + torch::log(-torch::expm1(-dt));
}

}  // namespace

ModelWeights InitModelWeights(const ModelConfig& c, const InitOptions& options,
                              torch::Device device) {
  torch::manual_seed(options.seed);
  const int64_t D = c.d_model, E = c.d_inner, N = c.d_state, K = c.d_conv, V = c.vocab_size;
  const double out_std = options.init_std / std::sqrt(static_cast<double>(c.n_layers));
  ModelWeights w;
  w.device = device;
  w.precision = Precision::kFp32;
  w.embedding = Normal({V, D}, options.init_std, device);
  w.norm_f = torch::ones({D}, torch::TensorOptions().device(device));
  w.lm_head = w.embedding;
  w.lm_head_tied = true;
  const double conv_bound = 1.0 / std::sqrt(static_cast<double>(K));  // PyTorch Conv1d default
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights lw;
    lw.norm = torch::ones({D}, torch::TensorOptions().device(device));
    lw.in_proj_w = Normal({c.in_proj_rows(), D}, options.init_std, device);
    lw.conv_w = Uniform({c.conv_dim(), K}, -conv_bound, conv_bound, device);
    if (c.use_conv_bias) lw.conv_b = Uniform({c.conv_dim()}, -conv_bound, conv_bound, device);
    lw.out_proj_w = Normal({D, E}, out_std, device);
    if (c.arch == Architecture::kMamba1) {
      const int64_t R = c.dt_rank;
      lw.x_proj_w = Normal({R + 2 * N, E}, options.init_std, device);
      const double dt_bound = 1.0 / std::sqrt(static_cast<double>(R));
      lw.dt_proj_w = Uniform({E, R}, -dt_bound, dt_bound, device);
      lw.dt_bias = DtBias(E, device);
      lw.A_log =
          torch::log(
              torch::arange(1, N + 1, torch::TensorOptions().device(device)).to(torch::kFloat32))
              .repeat({E, 1});
      lw.D = torch::ones({E}, torch::TensorOptions().device(device));
    } else {
      const int64_t H = c.n_heads;
      lw.dt_bias = DtBias(H, device);
      lw.A_log = torch::log(Uniform({H}, 1.0, 16.0, device));
      lw.D = torch::ones({H}, torch::TensorOptions().device(device));
      lw.gated_norm = torch::ones({E}, torch::TensorOptions().device(device));
    }
    if (l == options.mimetic_layer) ApplyMimeticInit(c, lw);
    w.layers.push_back(std::move(lw));
  }
  // Make every tensor a leaf that trains; the head shares the embedding's storage and grad.
  w.embedding = Leaf(w.embedding);
  w.lm_head = w.embedding;
  w.norm_f = Leaf(w.norm_f);
  for (LayerWeights& lw : w.layers) {
    for (torch::Tensor* t :
         {&lw.norm, &lw.in_proj_w, &lw.conv_w, &lw.conv_b, &lw.x_proj_w, &lw.dt_proj_w, &lw.dt_bias,
          &lw.A_log, &lw.D, &lw.gated_norm, &lw.out_proj_w}) {
      if (t->defined()) *t = Leaf(*t);
    }
  }
  return w;
}

void ApplyMimeticInit(const ModelConfig& c, LayerWeights& lw) {
  torch::NoGradGuard no_grad;
  const int64_t N = c.d_state, E = c.d_inner;
  lw.A_log.fill_(-4.0);
  if (c.arch == Architecture::kMamba1) {
    const int64_t R = c.dt_rank;
    lw.x_proj_w.narrow(0, R + N, N).copy_(lw.x_proj_w.narrow(0, R, N));
  } else {
    const int64_t GN = c.n_groups * N;
    // xBC occupies in_proj rows [E, E + CD); B at [E + E, +GN), C right after.
    lw.in_proj_w.narrow(0, 2 * E + GN, GN).copy_(lw.in_proj_w.narrow(0, 2 * E, GN));
    lw.conv_w.narrow(0, E + GN, GN).copy_(lw.conv_w.narrow(0, E, GN));
    if (lw.conv_b.defined()) lw.conv_b.narrow(0, E + GN, GN).copy_(lw.conv_b.narrow(0, E, GN));
  }
}

std::vector<torch::Tensor> TrainableParameters(ModelWeights& w) {
  std::vector<torch::Tensor> params = {w.embedding, w.norm_f};
  for (LayerWeights& lw : w.layers) {
    for (const torch::Tensor& t :
         {lw.norm, lw.in_proj_w, lw.in_proj_b, lw.conv_w, lw.conv_b, lw.x_proj_w, lw.dt_proj_w,
          lw.dt_bias, lw.A_log, lw.D, lw.gated_norm, lw.out_proj_w, lw.out_proj_b}) {
      if (t.defined()) params.push_back(t);
    }
  }
  return params;
}

}  // namespace mamba_explain
