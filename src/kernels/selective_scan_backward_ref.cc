#include "kernels/selective_scan_backward_ref.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace mamba_explain {

namespace {

int64_t LengthOf(const SelectiveScanParams& p, int64_t b) {
  return p.lengths == nullptr
             ? p.seq_len
             : SelectiveScanEffectiveLength(p.lengths[b * p.lengths_batch_stride], p.seq_len);
}

// Views of one (batch, channel) row: x, Δ, dy and the group's B, C rows, base-offset.
struct ChannelRow {
  const float* x;
  const float* delta;
  const float* dout;
  const float* B;
  const float* C;
  float* dx;
  float* ddelta;  // nullptr in kInputOnly
};

ChannelRow RowOf(const SelectiveScanBackwardParams& p, int64_t b, int64_t c) {
  const SelectiveScanParams& f = p.fwd;
  const int64_t group = c / (f.d_inner / f.n_groups);
  ChannelRow row;
  row.x = f.x + b * f.x_batch_stride + c * f.x_dim_stride;
  row.delta = f.delta + b * f.delta_batch_stride + c * f.delta_dim_stride;
  row.dout = p.dout + b * p.dout_batch_stride + c * p.dout_dim_stride;
  row.B = f.B + b * f.B_batch_stride + group * f.B_group_stride;
  row.C = f.C + b * f.C_batch_stride + group * f.C_group_stride;
  row.dx = p.dx + b * p.dx_batch_stride + c * p.dx_dim_stride;
  row.ddelta = p.ddelta == nullptr ? nullptr
                                   : p.ddelta + b * p.ddelta_batch_stride + c * p.ddelta_dim_stride;
  return row;
}

// kInputOnly: the adjoint scan alone. `lambda` and `a_row` hold N floats.
void AdjointOneChannel(const SelectiveScanBackwardParams& p, int64_t b, int64_t c, float* lambda,
                       float* a_row) {
  const SelectiveScanParams& f = p.fwd;
  const int64_t n_state = f.d_state;
  const int64_t length = LengthOf(f, b);
  const float skip = f.D == nullptr ? 0.f : f.D[c * f.D_dim_stride];
  for (int64_t n = 0; n < n_state; ++n) {
    a_row[n] = f.A[c * f.A_dim_stride + n * f.A_state_stride];
    lambda[n] = 0.f;  // holds exp(Δ_{t+1}·A)·λ_{t+1}
  }
  const ChannelRow row = RowOf(p, b, c);
  const int64_t bs = f.B_state_stride, cs = f.C_state_stride;
  for (int64_t t = length - 1; t >= 0; --t) {
    const float dt = row.delta[t * f.delta_seq_stride];
    const float dy = row.dout[t * p.dout_seq_stride];
    const float* B_t = row.B + t * f.B_seq_stride;  // [N]
    const float* C_t = row.C + t * f.C_seq_stride;  // [N]
    double dx_sum = 0;                              // Σ_n B·λ
    for (int64_t n = 0; n < n_state; ++n) {
      const float lam = lambda[n] + dy * C_t[n * cs];
      dx_sum += static_cast<double>(lam) * B_t[n * bs];
      lambda[n] = std::exp(dt * a_row[n]) * lam;
    }
    row.dx[t * p.dx_seq_stride] = static_cast<float>(dt * dx_sum + static_cast<double>(skip) * dy);
  }
  for (int64_t t = length; t < f.seq_len; ++t) row.dx[t * p.dx_seq_stride] = 0.f;
}

// Per-task scratch of kFull.
struct FullScratch {
  std::vector<float> states;  // [(L+1), N]: h_{-1} = 0, then h_t at row t + 1
  std::vector<float> lambda;  // [N]
  std::vector<float> a_row;   // [N]
  std::vector<double> dA;     // [N]
};

// kFull for one (batch, channel) row: writes dx, dΔ and the row's dA/dD partials, and adds the
// row's dB/dC contributions to dB_acc/dC_acc ([L, N] each, the task's group-local sums).
void GradOneChannel(const SelectiveScanBackwardParams& p, int64_t b, int64_t c,
                    FullScratch& scratch, double* dB_acc, double* dC_acc) {
  const SelectiveScanParams& f = p.fwd;
  const int64_t n_state = f.d_state;
  const int64_t length = LengthOf(f, b);
  const float skip = f.D == nullptr ? 0.f : f.D[c * f.D_dim_stride];
  float* states = scratch.states.data();
  float* lambda = scratch.lambda.data();
  float* a_row = scratch.a_row.data();
  double* dA = scratch.dA.data();
  for (int64_t n = 0; n < n_state; ++n) {
    a_row[n] = f.A[c * f.A_dim_stride + n * f.A_state_stride];
    states[n] = 0.f;
    lambda[n] = 0.f;  // holds exp(Δ_{t+1}·A)·λ_{t+1}
    dA[n] = 0;
  }
  const ChannelRow row = RowOf(p, b, c);
  const int64_t bs = f.B_state_stride, cs = f.C_state_stride;

  // Forward states, exactly as the forward reference computes them.
  for (int64_t t = 0; t < length; ++t) {
    const float dt = row.delta[t * f.delta_seq_stride];
    const float dt_x = dt * row.x[t * f.x_seq_stride];
    const float* B_t = row.B + t * f.B_seq_stride;
    const float* h_prev = states + t * n_state;
    float* h = states + (t + 1) * n_state;
    for (int64_t n = 0; n < n_state; ++n) {
      h[n] = std::exp(dt * a_row[n]) * h_prev[n] + dt_x * B_t[n * bs];
    }
  }

  double dD = 0;
  for (int64_t t = length - 1; t >= 0; --t) {
    const float dt = row.delta[t * f.delta_seq_stride];
    const float xt = row.x[t * f.x_seq_stride];
    const float dy = row.dout[t * p.dout_seq_stride];
    const float* B_t = row.B + t * f.B_seq_stride;  // [N]
    const float* C_t = row.C + t * f.C_seq_stride;  // [N]
    const float* h_prev = states + t * n_state;     // h_{t-1}
    const float* h = states + (t + 1) * n_state;    // h_t
    double* dB_t = dB_acc + t * n_state;
    double* dC_t = dC_acc + t * n_state;
    double dx_sum = 0;      // Σ_n B·λ
    double ddelta_sum = 0;  // Σ_n λ·(A·exp(Δ·A)·h_{t-1} + B·x)
    for (int64_t n = 0; n < n_state; ++n) {
      const float lam = lambda[n] + dy * C_t[n * cs];
      const double b_tn = B_t[n * bs];
      const float decay = std::exp(dt * a_row[n]);
      const double decayed = static_cast<double>(lam) * decay * h_prev[n];  // λ·∂h_t/∂(Δ·A)
      dC_t[n] += static_cast<double>(dy) * h[n];
      dB_t[n] += static_cast<double>(lam) * dt * xt;
      dx_sum += lam * b_tn;
      ddelta_sum += decayed * a_row[n] + lam * b_tn * xt;
      dA[n] += decayed * dt;
      lambda[n] = decay * lam;
    }
    row.dx[t * p.dx_seq_stride] = static_cast<float>(dt * dx_sum + static_cast<double>(skip) * dy);
    row.ddelta[t * p.ddelta_seq_stride] = static_cast<float>(ddelta_sum);
    dD += static_cast<double>(dy) * xt;
  }
  for (int64_t t = length; t < f.seq_len; ++t) {
    row.dx[t * p.dx_seq_stride] = 0.f;
    row.ddelta[t * p.ddelta_seq_stride] = 0.f;
  }
  float* dA_row = p.dA + (b * f.d_inner + c) * n_state;  // [N] of [Bt, E, N]
  for (int64_t n = 0; n < n_state; ++n) dA_row[n] = static_cast<float>(dA[n]);
  if (p.dD != nullptr) p.dD[b * f.d_inner + c] = static_cast<float>(dD);
}

void RunInputOnly(const SelectiveScanBackwardParams& p) {
  const SelectiveScanParams& f = p.fwd;
  const int64_t rows = f.batch * f.d_inner;
  const int64_t grain =
      std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, f.seq_len * f.d_state));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> lambda(f.d_state), a_row(f.d_state);  // [N] each
    for (int64_t row = begin; row < end; ++row) {
      AdjointOneChannel(p, row / f.d_inner, row % f.d_inner, lambda.data(), a_row.data());
    }
  });
}

// Tasks are (batch, group, part): each part is a fixed slice of the group's channels whose dB/dC
// contributions it sums (in fp64) into its own [L, N] buffers; the parts are then added in order,
// so the result depends on the part count (set by the thread count) but not on scheduling.
void RunFull(const SelectiveScanBackwardParams& p) {
  const SelectiveScanParams& f = p.fwd;
  const int64_t seq_len = f.seq_len, n_state = f.d_state, n_groups = f.n_groups;
  const int64_t channels_per_group = f.d_inner / n_groups;
  const int64_t groups = f.batch * n_groups;
  const int64_t n_parts = std::min<int64_t>(
      channels_per_group, std::max<int64_t>(1, (at::get_num_threads() + groups - 1) / groups));
  const int64_t slab = seq_len * n_state;                      // one [L, N] buffer
  std::vector<double> dB_parts(groups * n_parts * slab, 0.0);  // [Bt·G, parts, L, N]
  std::vector<double> dC_parts(groups * n_parts * slab, 0.0);  // [Bt·G, parts, L, N]

  at::parallel_for(0, groups * n_parts, 1, [&](int64_t begin, int64_t end) {
    FullScratch scratch;
    scratch.states.resize((seq_len + 1) * n_state);
    scratch.lambda.resize(n_state);
    scratch.a_row.resize(n_state);
    scratch.dA.resize(n_state);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t batch_group = task / n_parts, part = task % n_parts;
      const int64_t b = batch_group / n_groups, g = batch_group % n_groups;
      const int64_t first = g * channels_per_group + part * channels_per_group / n_parts;
      const int64_t last = g * channels_per_group + (part + 1) * channels_per_group / n_parts;
      for (int64_t c = first; c < last; ++c) {
        GradOneChannel(p, b, c, scratch, dB_parts.data() + task * slab,
                       dC_parts.data() + task * slab);
      }
    }
  });

  // dB[b, t, g, n] += Σ_part, in part order.
  at::parallel_for(0, groups, 1, [&](int64_t begin, int64_t end) {
    for (int64_t batch_group = begin; batch_group < end; ++batch_group) {
      const int64_t b = batch_group / n_groups, g = batch_group % n_groups;
      const double* dB_src = dB_parts.data() + batch_group * n_parts * slab;
      const double* dC_src = dC_parts.data() + batch_group * n_parts * slab;
      for (int64_t i = 0; i < slab; ++i) {
        double dB_sum = 0, dC_sum = 0;
        for (int64_t part = 0; part < n_parts; ++part) {
          dB_sum += dB_src[part * slab + i];
          dC_sum += dC_src[part * slab + i];
        }
        const int64_t t = i / n_state, n = i % n_state;
        const int64_t out = ((b * seq_len + t) * n_groups + g) * n_state + n;  // [Bt, L, G, N]
        p.dB[out] += static_cast<float>(dB_sum);
        p.dC[out] += static_cast<float>(dC_sum);
      }
    }
  });
}

}  // namespace

void RunSelectiveScanBackwardReference(const SelectiveScanBackwardParams& p, SsmGradMode mode) {
  if (mode == SsmGradMode::kInputOnly) {
    RunInputOnly(p);
  } else {
    RunFull(p);
  }
}

SelectiveScanGrads SelectiveScanBackwardReference(const SelectiveScanInputs& inputs,
                                                  const torch::Tensor& dout, SsmGradMode mode) {
  const absl::Status valid = ValidateSelectiveScanBackwardInputs(inputs, dout);
  TORCH_CHECK(valid.ok(), std::string(valid.message()));
  TORCH_CHECK(inputs.x.device().is_cpu(),
              "SelectiveScanBackwardReference: inputs must be on the CPU");
  torch::Tensor lengths;
  if (inputs.lengths.defined() && inputs.lengths.numel() > 0) {
    lengths = inputs.lengths.to(torch::kCPU);
  }
  SelectiveScanBackwardBuffers buffers =
      AllocateSelectiveScanBackwardBuffers(inputs, mode, /*n_chunks=*/0);
  if (inputs.x.numel() > 0) {
    RunSelectiveScanBackwardReference(
        MakeSelectiveScanBackwardParams(inputs, lengths, dout, buffers), mode);
  }
  return FinishSelectiveScanBackward(buffers);
}

}  // namespace mamba_explain
