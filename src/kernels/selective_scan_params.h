// Plain parameters of the selective scan (mamba_reference.md §1.3 step 8, §2.3 step 6), shared by
// the CPU reference and the CUDA kernel: sizes, strides in elements named for tensor and axis, and
// raw fp32 pointers. An optional initial state h_{-1} and an optional final-state output (the state
// after each sequence's last real step) let a long sequence be scanned chunk by chunk. Dims: Bt
// batch, L seq_len, E d_inner, G n_groups, N d_state; channel c reads group g(c) = c / (E / G).
// Strides may be 0 (broadcast views) or negative; pointers are not owned. No LibTorch include, so
// selective_scan.cu compiles without it. The kernel and its support predicate below must change
// together.
#ifndef MAMBA_EXPLAIN_KERNELS_SELECTIVE_SCAN_PARAMS_H_
#define MAMBA_EXPLAIN_KERNELS_SELECTIVE_SCAN_PARAMS_H_

#include <cstdint>

#ifdef ME_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

#ifdef __CUDACC__
#define ME_SCAN_HOST_DEVICE __host__ __device__
#else
#define ME_SCAN_HOST_DEVICE
#endif

namespace mamba_explain {

struct SelectiveScanParams {
  int64_t batch = 0;     // Bt
  int64_t seq_len = 0;   // L
  int64_t d_inner = 0;   // E
  int64_t n_groups = 0;  // G, divides E
  int64_t d_state = 0;   // N

  int64_t x_batch_stride = 0, x_seq_stride = 0, x_dim_stride = 0;
  int64_t delta_batch_stride = 0, delta_seq_stride = 0, delta_dim_stride = 0;
  int64_t A_dim_stride = 0, A_state_stride = 0;
  int64_t B_batch_stride = 0, B_seq_stride = 0, B_group_stride = 0, B_state_stride = 0;
  int64_t C_batch_stride = 0, C_seq_stride = 0, C_group_stride = 0, C_state_stride = 0;
  int64_t D_dim_stride = 0;
  int64_t lengths_batch_stride = 0;
  int64_t initial_state_batch_stride = 0, initial_state_dim_stride = 0,
          initial_state_state_stride = 0;
  int64_t final_state_batch_stride = 0, final_state_dim_stride = 0, final_state_state_stride = 0;
  int64_t out_batch_stride = 0, out_seq_stride = 0, out_dim_stride = 0;

  const float* x = nullptr;              // [Bt, L, E]
  const float* delta = nullptr;          // [Bt, L, E]
  const float* A = nullptr;              // [E, N]
  const float* B = nullptr;              // [Bt, L, G, N]
  const float* C = nullptr;              // [Bt, L, G, N]
  const float* D = nullptr;              // [E], or nullptr: no skip term
  const int64_t* lengths = nullptr;      // [Bt], or nullptr: every sequence has length L
  const float* initial_state = nullptr;  // [Bt, E, N] h before step 0, or nullptr: zeros
  float* out = nullptr;                  // [Bt, L, E]
  float* final_state = nullptr;          // [Bt, E, N] h after the last real step, or nullptr

  // Time splits (CUDA only; set by the launcher's caller from SelectiveScanSplits): with
  // n_splits > 1 the sequence is cut into pieces of split_len steps scanned in parallel. A first
  // pass scans each piece but the last from a zero state into split_state and sums its Δ into
  // split_delta; the second pass starts piece k from the state the pieces before it hand on,
  // h = exp(A·ΣΔ_j)·h + h_j for j < k (exact, since the scan is linear in h), and writes y. This
  // fills the GPU when batch × channel blocks alone would leave most SMs idle (batch 1, long L).
  int64_t n_splits = 1;
  int64_t split_len = 0;
  float* split_state = nullptr;  // [n_splits − 1, Bt, E, N] scratch
  float* split_delta = nullptr;  // [n_splits − 1, Bt, E] scratch
};

// Effective length of sequence b: lengths[b] clamped to [0, L]; positions t >= it are written 0.
inline ME_SCAN_HOST_DEVICE int64_t SelectiveScanEffectiveLength(int64_t length, int64_t seq_len) {
  return length < 0 ? 0 : (length > seq_len ? seq_len : length);
}

// d_state values the CUDA kernel is instantiated for (the switch in selective_scan.cu); any other
// d_state runs on the reference.
constexpr bool SelectiveScanCudaSupports(int64_t d_state) {
  return d_state == 16 || d_state == 32 || d_state == 64 || d_state == 128 || d_state == 256;
}

#ifdef ME_WITH_CUDA
// How many time splits the launch of `params` (sizes filled in) should use on the current device:
// 1 unless its channel blocks leave most SMs idle and the sequence is long enough to cut.
int64_t SelectiveScanSplits(const SelectiveScanParams& params);
// Enqueues the scan on `stream`; all pointers are device pointers. Returns the launch error
// (cudaErrorInvalidValue for an unsupported d_state, an E not divisible by G, or splits without
// their scratch).
cudaError_t LaunchSelectiveScan(const SelectiveScanParams& params, cudaStream_t stream);
#endif

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_KERNELS_SELECTIVE_SCAN_PARAMS_H_
