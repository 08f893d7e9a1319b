// CUDA selective-scan backward (formulas in selective_scan_backward.h), fp32 throughout, expf as
// the forward kernel. The block layout is the forward's: 128 threads over kChannelsPerBlock
// channels of one (batch, group), a channel's N states split over kLanesPerChannel adjacent lanes.
// kInputOnly walks time backwards with the adjoint state in registers. kFull first runs the
// forward, saving the state at every chunk start (chunk_states, O(Bt·E·N·L/kChunk) floats), then
// walks the chunks backwards: recompute the chunk's states into a per-thread array, walk it
// backwards, reduce dx/dΔ over lanes with shuffles and dB/dC over the group's channels with
// shuffles, shared-memory atomics and, per chunk, float atomicAdd into global memory (summation
// order varies run to run). dA/dD are written as per-sequence partials (no atomics). Includes no
// LibTorch.
#include <cuda_runtime.h>

#include "kernels/selective_scan_backward_params.h"

namespace mamba_explain {
namespace {

constexpr int ClampInt(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

template <int kNState>
struct SelectiveScanBackwardTraits {
  static constexpr int kThreads = 128;
  static constexpr int kStatesPerThread = ClampInt(kNState / 8, 4, 16);
  static constexpr int kLanesPerChannel = kNState / kStatesPerThread;
  static constexpr int kChannelsPerBlock = kThreads / kLanesPerChannel;
  static constexpr int kChunk = static_cast<int>(SelectiveScanBackwardCudaChunk(kNState));
  static_assert(kStatesPerThread * kLanesPerChannel == kNState, "states must split evenly");
  static_assert(kLanesPerChannel < 32 && 32 % kLanesPerChannel == 0,
                "a channel's lanes must sit inside one warp, with >= 2 channels per warp");
  static_assert(2 * kChunk * kNState * sizeof(float) <= 48 * 1024, "static shared memory limit");
};

// Sum over the kLanes lanes of one channel; every lane gets the sum.
template <int kLanes>
__device__ __forceinline__ float SumOverChannelLanes(float v) {
#pragma unroll
  for (int offset = kLanes / 2; offset > 0; offset /= 2) {
    v += __shfl_xor_sync(0xffffffffu, v, offset, kLanes);
  }
  return v;
}

// Sum over the channels of one warp (lanes with the same index within their channel).
template <int kLanes>
__device__ __forceinline__ float SumOverWarpChannels(float v) {
#pragma unroll
  for (int offset = kLanes; offset < 32; offset *= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

template <int kNState, SsmGradMode kMode>
__global__ void __launch_bounds__(SelectiveScanBackwardTraits<kNState>::kThreads)
    SelectiveScanBackwardKernel(const SelectiveScanBackwardParams p) {
  using Traits = SelectiveScanBackwardTraits<kNState>;
  constexpr int kThreads = Traits::kThreads;
  constexpr int kStates = Traits::kStatesPerThread;
  constexpr int kLanes = Traits::kLanesPerChannel;
  constexpr int kChannels = Traits::kChannelsPerBlock;
  constexpr int kChunk = Traits::kChunk;

  const int64_t batch = blockIdx.z;
  const int64_t group = blockIdx.y;
  const int64_t seq_len = p.fwd.seq_len;
  const int64_t channels_per_group = p.fwd.d_inner / p.fwd.n_groups;
  const int64_t first_in_group = static_cast<int64_t>(blockIdx.x) * kChannels;
  const int64_t first_channel = group * channels_per_group + first_in_group;
  const int block_channels =
      static_cast<int>(min(static_cast<int64_t>(kChannels), channels_per_group - first_in_group));

  const int tid = threadIdx.x;
  const int local_channel = tid / kLanes;
  const int lane = tid % kLanes;  // this thread owns states n = lane + k·kLanes
  const bool active = local_channel < block_channels;
  // Inactive threads read channel first_channel (valid) and contribute zeros.
  const int64_t channel = first_channel + (active ? local_channel : 0);

  float A_regs[kStates];  // A[channel, n]
#pragma unroll
  for (int k = 0; k < kStates; ++k) {
    const int n = lane + k * kLanes;
    A_regs[k] = active ? p.fwd.A[channel * p.fwd.A_dim_stride + n * p.fwd.A_state_stride] : 0.f;
  }
  const float skip = (active && p.fwd.D != nullptr) ? p.fwd.D[channel * p.fwd.D_dim_stride] : 0.f;
  const int64_t length = p.fwd.lengths == nullptr
                             ? seq_len
                             : SelectiveScanEffectiveLength(
                                   p.fwd.lengths[batch * p.fwd.lengths_batch_stride], seq_len);

  const float* B_rows = p.fwd.B + batch * p.fwd.B_batch_stride + group * p.fwd.B_group_stride;
  const float* C_rows = p.fwd.C + batch * p.fwd.C_batch_stride + group * p.fwd.C_group_stride;
  const float* x_row = p.fwd.x + batch * p.fwd.x_batch_stride + channel * p.fwd.x_dim_stride;
  const float* delta_row =
      p.fwd.delta + batch * p.fwd.delta_batch_stride + channel * p.fwd.delta_dim_stride;
  const float* dout_row = p.dout + batch * p.dout_batch_stride + channel * p.dout_dim_stride;
  float* dx_row = p.dx + batch * p.dx_batch_stride + channel * p.dx_dim_stride;
  const int64_t B_seq = p.fwd.B_seq_stride, B_state = p.fwd.B_state_stride;
  const int64_t C_seq = p.fwd.C_seq_stride, C_state = p.fwd.C_state_stride;

  // Loads of one step; zeros for inactive threads, so they add nothing anywhere.
  const auto load_delta = [&](int64_t t) {
    return active ? delta_row[t * p.fwd.delta_seq_stride] : 0.f;
  };
  const auto load_x = [&](int64_t t) { return active ? x_row[t * p.fwd.x_seq_stride] : 0.f; };
  const auto load_dout = [&](int64_t t) { return active ? dout_row[t * p.dout_seq_stride] : 0.f; };

  float lambda[kStates];  // exp(Δ_{t+1}·A)·λ_{t+1}
#pragma unroll
  for (int k = 0; k < kStates; ++k) lambda[k] = 0.f;

  if constexpr (kMode == SsmGradMode::kInputOnly) {
    for (int64_t t = length - 1; t >= 0; --t) {
      const float dt = load_delta(t);
      const float dy = load_dout(t);
      float dx_partial = 0.f;  // Σ_n B·λ over this lane's states
#pragma unroll
      for (int k = 0; k < kStates; ++k) {
        const int n = lane + k * kLanes;
        const float lam = lambda[k] + dy * C_rows[t * C_seq + n * C_state];
        dx_partial += lam * B_rows[t * B_seq + n * B_state];
        lambda[k] = expf(dt * A_regs[k]) * lam;
      }
      const float dx_sum = SumOverChannelLanes<kLanes>(dx_partial);
      if (active && lane == 0) dx_row[t * p.dx_seq_stride] = dt * dx_sum + skip * dy;
    }
    for (int64_t t = length + lane; t < seq_len; t += kLanes) {
      if (active) dx_row[t * p.dx_seq_stride] = 0.f;
    }
    return;
  } else {
    __shared__ float dB_chunk[kChunk][kNState];  // [T, N] of this (batch, group), block's sum
    __shared__ float dC_chunk[kChunk][kNState];  // [T, N]
    for (int i = tid; i < kChunk * kNState; i += kThreads) {
      dB_chunk[i / kNState][i % kNState] = 0.f;
      dC_chunk[i / kNState][i % kNState] = 0.f;
    }
    float* ddelta_row = p.ddelta + batch * p.ddelta_batch_stride + channel * p.ddelta_dim_stride;
    const int64_t n_chunks = (seq_len + kChunk - 1) / kChunk;
    // [n_chunks, N] of [Bt, E, n_chunks, N]; row chunk holds h_{chunk·kChunk − 1}.
    float* chunk_states = p.chunk_states + (batch * p.fwd.d_inner + channel) * n_chunks * kNState;

    // Pass 1: the forward, saving the state before each chunk.
    float state[kStates];
#pragma unroll
    for (int k = 0; k < kStates; ++k) state[k] = 0.f;
    for (int64_t t = 0; t < length; ++t) {
      if (t % kChunk == 0 && active) {
#pragma unroll
        for (int k = 0; k < kStates; ++k) {
          chunk_states[(t / kChunk) * kNState + lane + k * kLanes] = state[k];
        }
      }
      const float dt = load_delta(t);
      const float dt_x = dt * load_x(t);
#pragma unroll
      for (int k = 0; k < kStates; ++k) {
        const int n = lane + k * kLanes;
        state[k] = expf(dt * A_regs[k]) * state[k] + dt_x * B_rows[t * B_seq + n * B_state];
      }
    }

    // Pass 2: chunks backwards.
    float dA_acc[kStates];
#pragma unroll
    for (int k = 0; k < kStates; ++k) dA_acc[k] = 0.f;
    float dD_acc = 0.f;
    float history[kChunk][kStates];  // h_{t0 + i}
    __syncthreads();                 // the zeroed dB_chunk/dC_chunk
    for (int64_t chunk = (length + kChunk - 1) / kChunk - 1; chunk >= 0; --chunk) {
      const int64_t t0 = chunk * kChunk;
      const int steps = static_cast<int>(min(static_cast<int64_t>(kChunk), length - t0));
      float chunk_start[kStates];  // h_{t0 − 1}
#pragma unroll
      for (int k = 0; k < kStates; ++k) {
        chunk_start[k] = active ? chunk_states[chunk * kNState + lane + k * kLanes] : 0.f;
        state[k] = chunk_start[k];
      }
      for (int i = 0; i < steps; ++i) {
        const float dt = load_delta(t0 + i);
        const float dt_x = dt * load_x(t0 + i);
#pragma unroll
        for (int k = 0; k < kStates; ++k) {
          const int n = lane + k * kLanes;
          state[k] =
              expf(dt * A_regs[k]) * state[k] + dt_x * B_rows[(t0 + i) * B_seq + n * B_state];
          history[i][k] = state[k];
        }
      }
      for (int i = steps - 1; i >= 0; --i) {
        const int64_t t = t0 + i;
        const float dt = load_delta(t);
        const float xt = load_x(t);
        const float dy = load_dout(t);
        float dx_partial = 0.f;      // Σ_n B·λ
        float ddelta_partial = 0.f;  // Σ_n λ·(A·exp(Δ·A)·h_{t-1} + B·x)
        float dB_vals[kStates], dC_vals[kStates];
#pragma unroll
        for (int k = 0; k < kStates; ++k) {
          const int n = lane + k * kLanes;
          const float b_tn = B_rows[t * B_seq + n * B_state];
          const float lam = lambda[k] + dy * C_rows[t * C_seq + n * C_state];
          const float h_prev = i > 0 ? history[i - 1][k] : chunk_start[k];
          const float decay = expf(dt * A_regs[k]);
          const float decayed = lam * decay * h_prev;
          dC_vals[k] = dy * history[i][k];
          dB_vals[k] = lam * dt * xt;
          dx_partial += lam * b_tn;
          ddelta_partial += decayed * A_regs[k] + lam * b_tn * xt;
          dA_acc[k] += decayed * dt;
          lambda[k] = decay * lam;
        }
        const float dx_sum = SumOverChannelLanes<kLanes>(dx_partial);
        const float ddelta_sum = SumOverChannelLanes<kLanes>(ddelta_partial);
        if (active && lane == 0) {
          dx_row[t * p.dx_seq_stride] = dt * dx_sum + skip * dy;
          ddelta_row[t * p.ddelta_seq_stride] = ddelta_sum;
        }
        dD_acc += dy * xt;
#pragma unroll
        for (int k = 0; k < kStates; ++k) {
          const float dB_warp = SumOverWarpChannels<kLanes>(dB_vals[k]);
          const float dC_warp = SumOverWarpChannels<kLanes>(dC_vals[k]);
          if ((tid & 31) < kLanes) {  // the warp's first channel holds the warp's sums
            atomicAdd(&dB_chunk[i][lane + k * kLanes], dB_warp);
            atomicAdd(&dC_chunk[i][lane + k * kLanes], dC_warp);
          }
        }
      }
      __syncthreads();  // the chunk's shared sums are complete
      float* dB_out = p.dB + ((batch * seq_len + t0) * p.fwd.n_groups + group) * kNState;
      float* dC_out = p.dC + ((batch * seq_len + t0) * p.fwd.n_groups + group) * kNState;
      const int64_t seq_step = p.fwd.n_groups * kNState;  // [Bt, L, G, N] contiguous
      for (int j = tid; j < steps * kNState; j += kThreads) {
        const int i = j / kNState, n = j % kNState;
        atomicAdd(dB_out + i * seq_step + n, dB_chunk[i][n]);
        atomicAdd(dC_out + i * seq_step + n, dC_chunk[i][n]);
        dB_chunk[i][n] = 0.f;
        dC_chunk[i][n] = 0.f;
      }
      __syncthreads();  // zeroed before the next chunk adds
    }

    for (int64_t t = length + lane; t < seq_len; t += kLanes) {
      if (active) {
        dx_row[t * p.dx_seq_stride] = 0.f;
        ddelta_row[t * p.ddelta_seq_stride] = 0.f;
      }
    }
    if (active) {
      float* dA_row = p.dA + (batch * p.fwd.d_inner + channel) * kNState;  // of [Bt, E, N]
#pragma unroll
      for (int k = 0; k < kStates; ++k) dA_row[lane + k * kLanes] = dA_acc[k];
      if (p.dD != nullptr && lane == 0) p.dD[batch * p.fwd.d_inner + channel] = dD_acc;
    }
  }
}

template <int kNState, SsmGradMode kMode>
cudaError_t LaunchForState(const SelectiveScanBackwardParams& p, cudaStream_t stream) {
  using Traits = SelectiveScanBackwardTraits<kNState>;
  const int64_t channels_per_group = p.fwd.d_inner / p.fwd.n_groups;
  const dim3 grid(static_cast<unsigned>((channels_per_group + Traits::kChannelsPerBlock - 1) /
                                        Traits::kChannelsPerBlock),
                  static_cast<unsigned>(p.fwd.n_groups), static_cast<unsigned>(p.fwd.batch));
  SelectiveScanBackwardKernel<kNState, kMode><<<grid, Traits::kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

template <SsmGradMode kMode>
cudaError_t LaunchForMode(const SelectiveScanBackwardParams& p, cudaStream_t stream) {
  switch (p.fwd.d_state) {
    case 16:
      return LaunchForState<16, kMode>(p, stream);
    case 32:
      return LaunchForState<32, kMode>(p, stream);
    case 64:
      return LaunchForState<64, kMode>(p, stream);
    case 128:
      return LaunchForState<128, kMode>(p, stream);
    case 256:
      return LaunchForState<256, kMode>(p, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

static_assert(SelectiveScanBackwardCudaSupports(16) && SelectiveScanBackwardCudaSupports(32) &&
                  SelectiveScanBackwardCudaSupports(64) && SelectiveScanBackwardCudaSupports(128) &&
                  SelectiveScanBackwardCudaSupports(256) && !SelectiveScanBackwardCudaSupports(12),
              "keep the predicate and the switch above in step");

}  // namespace

cudaError_t LaunchSelectiveScanBackward(const SelectiveScanBackwardParams& p, SsmGradMode mode,
                                        cudaStream_t stream) {
  const SelectiveScanParams& f = p.fwd;
  // Preconditions (checked by the host wrapper; grid y and z are limited to 65535).
  if (f.batch <= 0 || f.seq_len <= 0 || f.d_inner <= 0 || f.n_groups <= 0 ||
      f.d_inner % f.n_groups != 0 || f.batch > 65535 || f.n_groups > 65535 || f.x == nullptr ||
      f.delta == nullptr || f.A == nullptr || f.B == nullptr || f.C == nullptr ||
      p.dout == nullptr || p.dx == nullptr) {
    return cudaErrorInvalidValue;
  }
  if (mode == SsmGradMode::kInputOnly) return LaunchForMode<SsmGradMode::kInputOnly>(p, stream);
  if (p.ddelta == nullptr || p.dA == nullptr || p.dB == nullptr || p.dC == nullptr ||
      p.chunk_states == nullptr || (p.dD == nullptr) != (f.D == nullptr)) {
    return cudaErrorInvalidValue;
  }
  return LaunchForMode<SsmGradMode::kFull>(p, stream);
}

}  // namespace mamba_explain
