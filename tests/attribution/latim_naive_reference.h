// The naive LaTIM: written straight from the paper's equations with loops and materialised fp64
// tensors (M as [n, n, U] from explicit products Π exp(Δ_k A), T as [n, n, D], R as explicit matrix
// products), over a forward pass's Trace and the weights only. It shares no code with
// src/attribution/ so that agreement means something. Tiny sizes only (O(n²·D) memory, slow loops).
#ifndef MAMBA_EXPLAIN_TESTS_ATTRIBUTION_LATIM_NAIVE_REFERENCE_H_
#define MAMBA_EXPLAIN_TESTS_ATTRIBUTION_LATIM_NAIVE_REFERENCE_H_

#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "mamba/mamba_model.h"

namespace me_testing {

enum class NaiveF { kSilu, kIdentity, kRelu };

inline torch::Tensor NaiveApply(const torch::Tensor& x, NaiveF f) {
  if (f == NaiveF::kSilu) return x * torch::sigmoid(x);
  if (f == NaiveF::kRelu) return x.clamp_min(0);
  return x;
}

// M[t, s, u] (u = channel for Mamba-1, head for Mamba-2) of sequence `seq`, length n; D not added.
inline torch::Tensor NaiveHiddenAttention(const mamba_explain::LayerTrace& tr,
                                          const mamba_explain::LayerWeights& w,
                                          const mamba_explain::ModelConfig& cfg, int64_t seq,
                                          int64_t n) {
  const auto f64 = torch::kFloat64;
  torch::Tensor delta = tr.delta[seq].to(f64);                   // [L, U]
  torch::Tensor Bm = tr.B[seq].to(f64), Cm = tr.C[seq].to(f64);  // [L, G, N]
  torch::Tensor A = -torch::exp(w.A_log.to(f64));
  const int64_t U = delta.size(1);
  torch::Tensor M = torch::zeros({n, n, U}, f64);
  const bool m1 = cfg.arch == mamba_explain::Architecture::kMamba1;
  for (int64_t s = 0; s < n; ++s) {
    // prod = Π_{k=s+1..t} exp(Δ_k A), grown one step at a time (LaTIM eq. 15: ⊙ of the A_k).
    torch::Tensor prod = m1 ? torch::ones_like(A) : torch::ones({U}, f64);
    for (int64_t t = s; t < n; ++t) {
      if (t > s)
        prod = prod * (m1 ? torch::exp(delta[t].unsqueeze(1) * A) : torch::exp(delta[t] * A));
      if (m1) {
        // Σ_n C[t,n] · prod[c,n] · Δ[s,c] · B[s,n]
        M[t][s] = (prod * (Bm[s][0] * Cm[t][0]).unsqueeze(0)).sum(1) * delta[s];
      } else {
        const int64_t G = Bm.size(1), per = U / G;
        for (int64_t h = 0; h < U; ++h) {
          const int64_t g = h / per;
          M[t][s][h] = (Cm[t][g] * Bm[s][g]).sum() * prod[h] * delta[s][h];
        }
      }
    }
  }
  return M;
}

struct NaiveLayer {
  torch::Tensor T;          // [n, n, D] T_t(x_s), fp64
  torch::Tensor residual;   // [n, D]
  torch::Tensor target;     // [n, D] mixer_out − out_proj bias
  torch::Tensor mixer_out;  // [n, D]
};

// LaTIM eqs. 19–25 literally: taps, v_{t←s}, gate (and frozen gated norm), W_out.
inline NaiveLayer NaiveContributions(const mamba_explain::LayerTrace& tr,
                                     const mamba_explain::LayerWeights& w,
                                     const mamba_explain::ModelConfig& cfg, int64_t seq, int64_t n,
                                     NaiveF f) {
  const auto f64 = torch::kFloat64;
  const int64_t E = cfg.d_inner, K = cfg.d_conv, D = cfg.d_model;
  const bool m1 = cfg.arch == mamba_explain::Architecture::kMamba1;
  torch::Tensor M = NaiveHiddenAttention(tr, w, cfg, seq, n);
  // Expand per-head M and D to channels.
  const int64_t per = m1 ? 1 : cfg.head_dim;
  torch::Tensor Mc = M.repeat_interleave(per, 2);                // [n, n, E]
  torch::Tensor Dc = w.D.to(f64).repeat_interleave(per, 0);      // [E]
  torch::Tensor x_in = tr.conv_in[seq].to(f64).narrow(1, 0, E);  // [L, E]
  torch::Tensor W = w.conv_w.to(f64).narrow(0, 0, E);            // [E, K]
  torch::Tensor bias =
      w.conv_b.defined() ? w.conv_b.to(f64).narrow(0, 0, E) : torch::zeros({E}, f64);
  torch::Tensor z = tr.gate[seq].to(f64);
  torch::Tensor Wo = w.out_proj_w.to(f64);
  NaiveLayer out;
  out.T = torch::zeros({n, n, D}, f64);
  for (int64_t t = 0; t < n; ++t) {
    torch::Tensor gain = z[t] * torch::sigmoid(z[t]);
    if (!m1) {
      const int64_t groups = tr.norm_rstd.size(2), gs = E / groups;
      torch::Tensor rstd = tr.norm_rstd[seq][t].to(f64);
      for (int64_t c = 0; c < E; ++c) {
        gain[c] = gain[c] * rstd[c / gs] * w.gated_norm[c].item<double>();
      }
    }
    for (int64_t s = 0; s <= t; ++s) {
      torch::Tensor v = torch::zeros({E}, f64);
      for (int64_t k = 0; k < K; ++k) {
        const int64_t r = s + (K - 1) - k;  // conv position that token s reaches through tap k
        if (r > t) continue;
        torch::Tensor phi =
            W.select(1, k) * x_in[s] + (k == K - 1 ? bias : torch::zeros_like(bias));
        torch::Tensor coef = Mc[t][r] + (r == t ? Dc : torch::zeros_like(Dc));
        v = v + coef * NaiveApply(phi, f);
      }
      out.T[t][s] = torch::matmul(Wo, gain * v);
    }
  }
  out.residual = tr.residual_in[seq].narrow(0, 0, n).to(f64);
  out.mixer_out = tr.mixer_out[seq].narrow(0, 0, n).to(f64);
  torch::Tensor b = w.out_proj_b.defined() ? w.out_proj_b.to(f64) : torch::zeros({D}, f64);
  out.target = out.mixer_out - b;
  return out;
}

inline torch::Tensor NaiveNorm(const NaiveLayer& l, double p) {
  const int64_t n = l.T.size(0);
  torch::Tensor C = torch::zeros({n, n}, torch::kFloat64);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t s = 0; s <= t; ++s) C[t][s] = l.T[t][s].abs().pow(p).sum().pow(1.0 / p);
  return C;
}

// ALTI (eq. 6) with the residual term δ_{t,s} x_t (eq. 4).
inline torch::Tensor NaiveAlti(const NaiveLayer& l) {
  const int64_t n = l.T.size(0);
  torch::Tensor C = torch::zeros({n, n}, torch::kFloat64);
  for (int64_t t = 0; t < n; ++t) {
    torch::Tensor y = l.residual[t] + l.T[t].narrow(0, 0, t + 1).sum(0);
    double total = 0;
    for (int64_t s = 0; s <= t; ++s) {
      torch::Tensor Tp = l.T[t][s] + (s == t ? l.residual[t] : torch::zeros_like(y));
      double c = y.abs().sum().item<double>() - (y - Tp).abs().sum().item<double>();
      C[t][s] = std::max(c, 0.0);
      total += std::max(c, 0.0);
    }
    if (total > 0) {
      C[t] = C[t] / total;
    } else {
      C[t][t] = 1.0;
    }
  }
  return C;
}

inline double NaiveApproxError(const NaiveLayer& l, const std::vector<int64_t>& rows) {
  double num = 0, den = 0;
  for (int64_t t : rows) {
    num += (l.T[t].sum(0) - l.target[t]).pow(2).sum().item<double>();
    den += l.mixer_out[t].pow(2).sum().item<double>();
  }
  return std::sqrt(num / den);
}

// ALTI-Logit (eqs. 7–8): C = Σ_l Δ^(l) R^(l−1), R^(l) = P^(l) ··· P^(0), R^(−1) = I, with
// U_eff,t = U_{w(t)} ⊙ norm_f ⊙ rstd_f,t (final RMSNorm frozen) and w(t) = argmax logits[t].
inline torch::Tensor NaiveAltiLogit(const std::vector<NaiveLayer>& layers,
                                    const mamba_explain::MambaModel& model,
                                    const mamba_explain::ForwardOutput& fwd, int64_t seq, int64_t n,
                                    std::vector<int64_t>* targets) {
  const auto f64 = torch::kFloat64;
  torch::Tensor h = fwd.hidden_states.back()[seq].narrow(0, 0, n).to(f64);  // [n, D]
  torch::Tensor rstd = 1.0 / torch::sqrt(h.pow(2).mean(-1) + model.config().norm_eps);
  torch::Tensor U = model.weights().lm_head.to(f64);
  torch::Tensor nf = model.weights().norm_f.to(f64);
  torch::Tensor C = torch::zeros({n, n}, f64);
  torch::Tensor R = torch::eye(n, f64);
  targets->clear();
  std::vector<torch::Tensor> u_eff;
  for (int64_t t = 0; t < n; ++t) {
    const int64_t w = fwd.logits[seq][t].argmax().item<int64_t>();
    targets->push_back(w);
    u_eff.push_back(U[w] * nf * rstd[t]);
  }
  for (const NaiveLayer& l : layers) {
    torch::Tensor delta = torch::zeros({n, n}, f64);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t s = 0; s <= t; ++s) delta[t][s] = (l.T[t][s] * u_eff[t]).sum();
    C = C + torch::matmul(delta, R);
    R = torch::matmul(NaiveAlti(l), R);
  }
  return C;
}

}  // namespace me_testing

#endif  // MAMBA_EXPLAIN_TESTS_ATTRIBUTION_LATIM_NAIVE_REFERENCE_H_
