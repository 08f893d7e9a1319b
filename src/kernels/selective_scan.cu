// CUDA selective scan (formula in selective_scan.h), fp32 throughout, expf (not __expf) so that it
// matches the reference to fp32 rounding. One block of 128 threads scans kChannelsPerBlock
// channels of one (batch, group); each channel's N states are split over kLanesPerChannel adjacent
// lanes (kStatesPerThread registers each) and y is reduced with warp shuffles. Per chunk of
// kChunk time steps the block stages the group's B/C rows (shared by all its channels) and its
// x/Δ columns in shared memory, scans them, and writes y (zeros past the sequence length). The
// state starts from params.initial_state when given and is stored to params.final_state when asked.
// With params.n_splits > 1 (few channel blocks, long sequences: batch 1 at long context) the time
// axis is also cut into pieces, scanned in two passes (selective_scan_params.h).
// Includes no LibTorch header. Supported d_state: SelectiveScanCudaSupports (params header).
#include <cuda_runtime.h>

#include <algorithm>

#include "kernels/selective_scan_params.h"

namespace mamba_explain {
namespace {

constexpr int ClampInt(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

template <int kNState>
struct SelectiveScanTraits {
  static constexpr int kThreads = 128;
  static constexpr int kStatesPerThread = ClampInt(kNState / 8, 4, 16);
  static constexpr int kLanesPerChannel = kNState / kStatesPerThread;
  static constexpr int kChannelsPerBlock = kThreads / kLanesPerChannel;
  static constexpr int kChunk = ClampInt(4096 / kNState, 16, 64);  // time steps per stage
  static_assert(kStatesPerThread * kLanesPerChannel == kNState, "states must split evenly");
  static_assert(kLanesPerChannel <= 32 && 32 % kLanesPerChannel == 0,
                "a channel's lanes must sit inside one warp");
  static_assert((2 * kChunk * kNState + 3 * kChunk * kChannelsPerBlock) * sizeof(float) <=
                    48 * 1024,
                "static shared memory limit");
};

// kPassOutput scans a piece from its incoming state and writes y (and the final state);
// kPassLocalState scans a piece from zero and keeps only its final state and ΣΔ (no C, no y).
enum ScanPass : int { kPassOutput = 0, kPassLocalState = 1 };

// kScalarA: A is constant over the states of a channel (Mamba-2's per-head A, passed as a
// stride-0 view), so one exp per step serves all of a thread's states.
template <int kNState, int kPass, bool kScalarA>
__global__ void __launch_bounds__(SelectiveScanTraits<kNState>::kThreads)
    SelectiveScanKernel(const SelectiveScanParams p) {
  using Traits = SelectiveScanTraits<kNState>;
  constexpr int kThreads = Traits::kThreads;
  constexpr int kStates = Traits::kStatesPerThread;
  constexpr int kLanes = Traits::kLanesPerChannel;
  constexpr int kChannels = Traits::kChannelsPerBlock;
  constexpr int kChunk = Traits::kChunk;
  constexpr bool kOutput = kPass == kPassOutput;

  __shared__ float B_chunk[kChunk][kNState];        // [T, N] of this (batch, group)
  __shared__ float C_chunk[kChunk][kNState];        // [T, N]
  __shared__ float x_chunk[kChunk][kChannels];      // [T, channels of the block]
  __shared__ float delta_chunk[kChunk][kChannels];  // [T, channels of the block]
  __shared__ float y_chunk[kChunk][kChannels];      // [T, channels of the block]

  const int64_t batch = blockIdx.z % p.batch;
  const int64_t split = blockIdx.z / p.batch;
  const int64_t split_len = p.n_splits > 1 ? p.split_len : p.seq_len;
  const int64_t begin = split * split_len;
  const int64_t end = min(p.seq_len, begin + split_len);
  const int64_t group = blockIdx.y;
  const int64_t channels_per_group = p.d_inner / p.n_groups;
  const int64_t first_in_group = static_cast<int64_t>(blockIdx.x) * kChannels;
  const int64_t first_channel = group * channels_per_group + first_in_group;
  const int block_channels =
      static_cast<int>(min(static_cast<int64_t>(kChannels), channels_per_group - first_in_group));

  const int tid = threadIdx.x;
  const int local_channel = tid / kLanes;  // j in [0, kChannels)
  const int lane = tid % kLanes;           // this thread owns states n = lane + k·kLanes
  const bool active = local_channel < block_channels;
  const int64_t channel = first_channel + local_channel;

  float A_regs[kStates];  // A[channel, n]
  float state[kStates];   // h[channel, n]
#pragma unroll
  for (int k = 0; k < kStates; ++k) {
    const int n = lane + k * kLanes;
    A_regs[k] = active ? p.A[channel * p.A_dim_stride + n * p.A_state_stride] : 0.f;
    state[k] = (kOutput && active && p.initial_state != nullptr)
                   ? p.initial_state[batch * p.initial_state_batch_stride +
                                     channel * p.initial_state_dim_stride +
                                     n * p.initial_state_state_stride]
                   : 0.f;
  }
  if (kOutput && active) {
    // The state the pieces before this one hand on (their local states and Δ sums).
    for (int64_t j = 0; j < split; ++j) {
      const int64_t at = j * p.batch + batch;
      const float delta_sum = p.split_delta[at * p.d_inner + channel];
      const float* local = p.split_state + (at * p.d_inner + channel) * kNState;
      const float shared_decay = kScalarA ? expf(delta_sum * A_regs[0]) : 0.f;
#pragma unroll
      for (int k = 0; k < kStates; ++k) {
        const float decay = kScalarA ? shared_decay : expf(delta_sum * A_regs[k]);
        state[k] = decay * state[k] + local[lane + k * kLanes];
      }
    }
  }
  const float skip = (active && p.D != nullptr) ? p.D[channel * p.D_dim_stride] : 0.f;
  const int64_t length =
      p.lengths == nullptr
          ? p.seq_len
          : SelectiveScanEffectiveLength(p.lengths[batch * p.lengths_batch_stride], p.seq_len);

  const float* B_rows = p.B + batch * p.B_batch_stride + group * p.B_group_stride;
  const float* C_rows = p.C + batch * p.C_batch_stride + group * p.C_group_stride;
  const float* x_cols = p.x + batch * p.x_batch_stride + first_channel * p.x_dim_stride;
  const float* delta_cols =
      p.delta + batch * p.delta_batch_stride + first_channel * p.delta_dim_stride;
  float* out_cols = p.out + batch * p.out_batch_stride + first_channel * p.out_dim_stride;

  float delta_sum = 0.f;  // ΣΔ over this piece's real steps (kPassLocalState)
  for (int64_t t0 = begin; t0 < end; t0 += kChunk) {
    const int steps = static_cast<int>(min(static_cast<int64_t>(kChunk), end - t0));
    // Steps of this chunk inside the sequence; the same for the whole block, so the barriers
    // below are uniform.
    const int live =
        static_cast<int>(max(int64_t{0}, min(static_cast<int64_t>(steps), length - t0)));
    if (live > 0) {
      for (int i = tid; i < live * kNState; i += kThreads) {
        const int64_t t = t0 + i / kNState;
        const int n = i % kNState;
        B_chunk[i / kNState][n] = B_rows[t * p.B_seq_stride + n * p.B_state_stride];
        if (kOutput) C_chunk[i / kNState][n] = C_rows[t * p.C_seq_stride + n * p.C_state_stride];
      }
      for (int i = tid; i < live * kChannels; i += kThreads) {
        const int64_t t = t0 + i / kChannels;
        const int j = i % kChannels;
        const bool in_block = j < block_channels;
        x_chunk[i / kChannels][j] =
            in_block ? x_cols[t * p.x_seq_stride + j * p.x_dim_stride] : 0.f;
        delta_chunk[i / kChannels][j] =
            in_block ? delta_cols[t * p.delta_seq_stride + j * p.delta_dim_stride] : 0.f;
      }
      __syncthreads();
      for (int t = 0; t < live; ++t) {
        const float dt = delta_chunk[t][local_channel];
        const float xt = x_chunk[t][local_channel];
        const float dt_x = dt * xt;
        if (!kOutput) delta_sum += dt;
        const float shared_decay = kScalarA ? expf(dt * A_regs[0]) : 0.f;
        float partial = 0.f;
#pragma unroll
        for (int k = 0; k < kStates; ++k) {
          const int n = lane + k * kLanes;
          const float decay = kScalarA ? shared_decay : expf(dt * A_regs[k]);
          state[k] = decay * state[k] + dt_x * B_chunk[t][n];
          if (kOutput) partial += state[k] * C_chunk[t][n];
        }
        if (kOutput) {
#pragma unroll
          for (int offset = kLanes / 2; offset > 0; offset /= 2) {
            partial += __shfl_xor_sync(0xffffffffu, partial, offset, kLanes);
          }
          if (lane == 0) y_chunk[t][local_channel] = partial + skip * xt;
        }
      }
      // Orders the y_chunk writes before the store below; the next chunk's loads only overwrite
      // buffers last read above this barrier, and its compute writes y_chunk only after its own.
      __syncthreads();
    }
    if (kOutput) {
      for (int i = tid; i < steps * kChannels; i += kThreads) {
        const int t = i / kChannels;
        const int j = i % kChannels;
        if (j < block_channels) {
          out_cols[(t0 + t) * p.out_seq_stride + j * p.out_dim_stride] =
              t < live ? y_chunk[t][j] : 0.f;
        }
      }
    }
  }
  if (!kOutput) {
    if (active) {
      const int64_t at = split * p.batch + batch;
      float* local = p.split_state + (at * p.d_inner + channel) * kNState;
#pragma unroll
      for (int k = 0; k < kStates; ++k) local[lane + k * kLanes] = state[k];
      if (lane == 0) p.split_delta[at * p.d_inner + channel] = delta_sum;
    }
    return;
  }
  // The state after the last real step (steps past the length never touch it), kept by the piece
  // that holds that step (the first piece for an empty sequence).
  const int64_t last_piece = length > 0 ? (length - 1) / split_len : 0;
  if (active && p.final_state != nullptr && split == last_piece) {
#pragma unroll
    for (int k = 0; k < kStates; ++k) {
      const int n = lane + k * kLanes;
      p.final_state[batch * p.final_state_batch_stride + channel * p.final_state_dim_stride +
                    n * p.final_state_state_stride] = state[k];
    }
  }
}

template <int kNState, bool kScalarA>
cudaError_t LaunchPasses(const SelectiveScanParams& p, cudaStream_t stream) {
  using Traits = SelectiveScanTraits<kNState>;
  const int64_t channels_per_group = p.d_inner / p.n_groups;
  const unsigned blocks_x = static_cast<unsigned>(
      (channels_per_group + Traits::kChannelsPerBlock - 1) / Traits::kChannelsPerBlock);
  if (p.n_splits > 1) {
    const dim3 grid(blocks_x, static_cast<unsigned>(p.n_groups),
                    static_cast<unsigned>(p.batch * (p.n_splits - 1)));
    SelectiveScanKernel<kNState, kPassLocalState, kScalarA>
        <<<grid, Traits::kThreads, 0, stream>>>(p);
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
  }
  const dim3 grid(blocks_x, static_cast<unsigned>(p.n_groups),
                  static_cast<unsigned>(p.batch * p.n_splits));
  SelectiveScanKernel<kNState, kPassOutput, kScalarA><<<grid, Traits::kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

template <int kNState>
cudaError_t LaunchForState(const SelectiveScanParams& p, cudaStream_t stream) {
  return p.A_state_stride == 0 ? LaunchPasses<kNState, true>(p, stream)
                               : LaunchPasses<kNState, false>(p, stream);
}

int ChannelsPerBlock(int64_t d_state) {
  switch (d_state) {
    case 16:
      return SelectiveScanTraits<16>::kChannelsPerBlock;
    case 32:
      return SelectiveScanTraits<32>::kChannelsPerBlock;
    case 64:
      return SelectiveScanTraits<64>::kChannelsPerBlock;
    case 128:
      return SelectiveScanTraits<128>::kChannelsPerBlock;
    default:
      return SelectiveScanTraits<256>::kChannelsPerBlock;
  }
}

static_assert(SelectiveScanCudaSupports(16) && SelectiveScanCudaSupports(32) &&
                  SelectiveScanCudaSupports(64) && SelectiveScanCudaSupports(128) &&
                  SelectiveScanCudaSupports(256) && !SelectiveScanCudaSupports(12),
              "keep the predicate and the switch below in step");

}  // namespace

int64_t SelectiveScanSplits(const SelectiveScanParams& p) {
  // Pieces shorter than this spend more on the hand-over than they gain.
  constexpr int64_t kMinSplitLen = 128;
  if (p.batch <= 0 || p.n_groups <= 0 || p.d_inner % p.n_groups != 0 ||
      !SelectiveScanCudaSupports(p.d_state) || p.seq_len < 2 * kMinSplitLen) {
    return 1;
  }
  int device = 0, sms = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
    return 1;
  }
  const int64_t per_block = ChannelsPerBlock(p.d_state);
  const int64_t blocks =
      (p.d_inner / p.n_groups + per_block - 1) / per_block * p.n_groups * p.batch;
  // Each piece is a sequential chain of steps; many short pieces (several blocks per SM) keep the
  // chains short, and the hand-over costs one read of the earlier pieces' states.
  const int64_t target = 16 * static_cast<int64_t>(sms);
  if (2 * blocks >= target) return 1;
  int64_t splits = std::min((target + blocks - 1) / blocks, p.seq_len / kMinSplitLen);
  splits = std::min(splits, 65535 / p.batch);
  return std::max<int64_t>(splits, 1);
}

cudaError_t LaunchSelectiveScan(const SelectiveScanParams& p, cudaStream_t stream) {
  // Preconditions (checked by the host wrapper; grid y and z are limited to 65535).
  if (p.batch <= 0 || p.seq_len <= 0 || p.d_inner <= 0 || p.n_groups <= 0 ||
      p.d_inner % p.n_groups != 0 || p.batch > 65535 || p.n_groups > 65535 || p.x == nullptr ||
      p.delta == nullptr || p.A == nullptr || p.B == nullptr || p.C == nullptr ||
      p.out == nullptr || p.n_splits < 1 || p.batch * p.n_splits > 65535 ||
      (p.n_splits > 1 && (p.split_len <= 0 || (p.n_splits - 1) * p.split_len >= p.seq_len ||
                          p.split_state == nullptr || p.split_delta == nullptr))) {
    return cudaErrorInvalidValue;
  }
  switch (p.d_state) {
    case 16:
      return LaunchForState<16>(p, stream);
    case 32:
      return LaunchForState<32>(p, stream);
    case 64:
      return LaunchForState<64>(p, stream);
    case 128:
      return LaunchForState<128>(p, stream);
    case 256:
      return LaunchForState<256>(p, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace mamba_explain
