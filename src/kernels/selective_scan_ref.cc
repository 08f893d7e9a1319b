#include "kernels/selective_scan_ref.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace mamba_explain {

namespace {

// Scans one (batch, channel) row over all time steps. `state` and `a_row` hold N floats.
void ScanOneChannel(const SelectiveScanParams& p, int64_t b, int64_t c, float* state,
                    float* a_row) {
  const int64_t n_state = p.d_state;
  const int64_t group = c / (p.d_inner / p.n_groups);
  const int64_t length =
      p.lengths == nullptr
          ? p.seq_len
          : SelectiveScanEffectiveLength(p.lengths[b * p.lengths_batch_stride], p.seq_len);
  const float skip = p.D == nullptr ? 0.f : p.D[c * p.D_dim_stride];
  for (int64_t n = 0; n < n_state; ++n) {
    a_row[n] = p.A[c * p.A_dim_stride + n * p.A_state_stride];
    state[n] =
        p.initial_state == nullptr
            ? 0.f
            : p.initial_state[b * p.initial_state_batch_stride + c * p.initial_state_dim_stride +
                              n * p.initial_state_state_stride];
  }
  const float* x = p.x + b * p.x_batch_stride + c * p.x_dim_stride;
  const float* delta = p.delta + b * p.delta_batch_stride + c * p.delta_dim_stride;
  const float* B = p.B + b * p.B_batch_stride + group * p.B_group_stride;
  const float* C = p.C + b * p.C_batch_stride + group * p.C_group_stride;
  float* out = p.out + b * p.out_batch_stride + c * p.out_dim_stride;
  const int64_t bs = p.B_state_stride, cs = p.C_state_stride;

  for (int64_t t = 0; t < length; ++t) {
    const float dt = delta[t * p.delta_seq_stride];
    const float xt = x[t * p.x_seq_stride];
    const float dt_x = dt * xt;
    const float* B_t = B + t * p.B_seq_stride;  // [N]
    const float* C_t = C + t * p.C_seq_stride;  // [N]
    float y = 0.f;
    for (int64_t n = 0; n < n_state; ++n) {
      state[n] = std::exp(dt * a_row[n]) * state[n] + dt_x * B_t[n * bs];
      y += state[n] * C_t[n * cs];
    }
    out[t * p.out_seq_stride] = y + skip * xt;
  }
  for (int64_t t = length; t < p.seq_len; ++t) out[t * p.out_seq_stride] = 0.f;
  if (p.final_state != nullptr) {
    for (int64_t n = 0; n < n_state; ++n) {
      p.final_state[b * p.final_state_batch_stride + c * p.final_state_dim_stride +
                    n * p.final_state_state_stride] = state[n];
    }
  }
}

}  // namespace

void RunSelectiveScanReference(const SelectiveScanParams& p) {
  const int64_t rows = p.batch * p.d_inner;
  // Enough rows per task that each holds ~64k state updates.
  const int64_t work_per_row = std::max<int64_t>(1, p.seq_len * p.d_state);
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / work_per_row);
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> state(p.d_state), a_row(p.d_state);  // [N] each
    for (int64_t row = begin; row < end; ++row) {
      ScanOneChannel(p, row / p.d_inner, row % p.d_inner, state.data(), a_row.data());
    }
  });
}

torch::Tensor SelectiveScanReference(const SelectiveScanInputs& inputs,
                                     const torch::Tensor& initial_state,
                                     torch::Tensor* final_state) {
  absl::Status valid = ValidateSelectiveScanInputs(inputs);
  if (valid.ok()) valid = ValidateSelectiveScanState(inputs, initial_state);
  TORCH_CHECK(valid.ok(), std::string(valid.message()));
  TORCH_CHECK(inputs.x.device().is_cpu(), "SelectiveScanReference: inputs must be on the CPU");
  torch::Tensor lengths;
  if (inputs.lengths.defined() && inputs.lengths.numel() > 0) {
    lengths = inputs.lengths.to(torch::kCPU);
  }
  torch::Tensor out = torch::empty(inputs.x.sizes(), inputs.x.options());  // [Bt, L, E]
  SelectiveScanParams params = MakeSelectiveScanParams(inputs, lengths, out);
  if (final_state != nullptr) {
    *final_state = torch::empty({inputs.x.size(0), inputs.x.size(2), inputs.A.size(1)},
                                inputs.x.options());  // [Bt, E, N]
  }
  SetSelectiveScanState(initial_state, final_state, params);
  RunSelectiveScanReference(params);
  return out;
}

}  // namespace mamba_explain
