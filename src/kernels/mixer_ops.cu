// CUDA kernels of the fused inference-forward ops (formulas in mixer_ops_params.h). All three are
// memory-bound and tiny; what they remove is the launch and dispatch cost of the LibTorch chains
// they replace. The conv keeps the reference's summation order without FMA contraction
// (__fmul_rn/__fadd_rn), so its pre-activation is bit-identical to mamba_ops' CausalConv1d; the
// norms reduce in a different order than LibTorch's mean (fp32 rounding differences only).
// Includes no LibTorch header.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/mixer_ops_params.h"

namespace mamba_explain {
namespace {

constexpr int kThreads = 256;
constexpr int kWarpsPerBlock = kThreads / 32;

__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float Silu(float v) { return v / (1.f + expf(-v)); }

// One warp per row (b, t).
__global__ void __launch_bounds__(kThreads) RmsNormKernel(const RmsNormParams p) {
  const int lane = threadIdx.x % 32;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (row >= p.batch * p.seq_len) return;
  const int64_t b = row / p.seq_len, t = row % p.seq_len;
  const float* x = p.x + b * p.x_batch_stride + t * p.x_seq_stride;
  float* out = p.out + row * p.dim;
  float sum_sq = 0.f;
  for (int64_t i = lane; i < p.dim; i += 32) sum_sq += x[i] * x[i];
  sum_sq = WarpSum(sum_sq);
  const float rstd = rsqrtf(sum_sq / static_cast<float>(p.dim) + p.eps);
  for (int64_t i = lane; i < p.dim; i += 32) {
    float v = __fmul_rn(__fmul_rn(x[i], rstd), p.w[i]);
    if (p.round_bf16) v = __bfloat162float(__float2bfloat16_rn(v));
    out[i] = v;
  }
}

// One thread per output element (b, t, c); consecutive threads take consecutive channels, so the
// K input reads of a warp are coalesced.
__global__ void __launch_bounds__(kThreads) CausalConvKernel(const CausalConvParams p) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (i >= p.batch * p.seq_len * p.channels) return;
  const int64_t c = i % p.channels;
  const int64_t t = (i / p.channels) % p.seq_len;
  const int64_t b = i / (p.channels * p.seq_len);
  const int64_t K = p.width;
  const float* x = p.x + b * p.x_batch_stride + c;
  const float* w = p.w + c * K;
  // The input `back` positions before t: from x, from the history, or 0.
  auto input = [&](int64_t back) -> float {
    const int64_t s = t - back;
    if (s >= 0) return x[s * p.x_seq_stride];
    if (p.history != nullptr) return p.history[(b * (K - 1) + (K - 1 + s)) * p.channels + c];
    return 0.f;
  };
  float acc = __fmul_rn(input(0), w[K - 1]);
  for (int64_t k = 0; k + 1 < K; ++k) acc = __fadd_rn(acc, __fmul_rn(input(K - 1 - k), w[k]));
  if (p.bias != nullptr) acc = __fadd_rn(acc, p.bias[c]);
  p.pre[i] = acc;
  if (p.silu) p.act[i] = Silu(acc);
}

// One warp per (row, group).
__global__ void __launch_bounds__(kThreads) GatedRmsNormKernel(const GatedRmsNormParams p) {
  const int lane = threadIdx.x % 32;
  const int64_t groups = p.dim / p.group;
  const int64_t item = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (item >= p.batch * p.seq_len * groups) return;
  const int64_t row = item / groups, g = item % groups;
  const int64_t b = row / p.seq_len, t = row % p.seq_len;
  const int64_t first = g * p.group;
  const float* y = p.y + row * p.dim + first;
  const float* z = p.z + b * p.z_batch_stride + t * p.z_seq_stride + first;
  const float* w = p.w + first;
  float sum_sq = 0.f;
  for (int64_t i = lane; i < p.group; i += 32) {
    const float gated = y[i] * Silu(z[i]);
    sum_sq += gated * gated;
  }
  sum_sq = WarpSum(sum_sq);
  const float rstd = rsqrtf(sum_sq / static_cast<float>(p.group) + p.eps);
  if (lane == 0) p.rstd[item] = rstd;
  float* out = p.out + row * p.dim + first;
  for (int64_t i = lane; i < p.group; i += 32) {
    const float gated = y[i] * Silu(z[i]);
    out[i] = __fmul_rn(__fmul_rn(gated, rstd), w[i]);
  }
}

unsigned Blocks(int64_t items, int64_t per_block) {
  return static_cast<unsigned>((items + per_block - 1) / per_block);
}

}  // namespace

cudaError_t LaunchRmsNorm(const RmsNormParams& p, cudaStream_t stream) {
  if (p.batch <= 0 || p.seq_len <= 0 || p.dim <= 0 || p.x == nullptr || p.w == nullptr ||
      p.out == nullptr) {
    return cudaErrorInvalidValue;
  }
  RmsNormKernel<<<Blocks(p.batch * p.seq_len, kWarpsPerBlock), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchCausalConv(const CausalConvParams& p, cudaStream_t stream) {
  if (p.batch <= 0 || p.seq_len <= 0 || p.channels <= 0 || p.width <= 0 || p.x == nullptr ||
      p.w == nullptr || p.pre == nullptr || (p.silu && p.act == nullptr)) {
    return cudaErrorInvalidValue;
  }
  CausalConvKernel<<<Blocks(p.batch * p.seq_len * p.channels, kThreads), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchGatedRmsNorm(const GatedRmsNormParams& p, cudaStream_t stream) {
  if (p.batch <= 0 || p.seq_len <= 0 || p.dim <= 0 || p.group <= 0 || p.dim % p.group != 0 ||
      p.y == nullptr || p.z == nullptr || p.w == nullptr || p.out == nullptr || p.rstd == nullptr) {
    return cudaErrorInvalidValue;
  }
  const int64_t items = p.batch * p.seq_len * (p.dim / p.group);
  GatedRmsNormKernel<<<Blocks(items, kWarpsPerBlock), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace mamba_explain
