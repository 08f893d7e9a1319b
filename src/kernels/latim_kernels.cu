// CUDA LaTIM decomposition kernels (parameters and semantics: latim_kernels_params.h; plain
// LibTorch references: latim_kernels_ref.cc). Includes no LibTorch header.
//
// Contributions: one block of 256 threads owns a tile of kLatimRowTile target rows of one sequence
// × kSrc sources × kChan channels. It stages what the tile reads (the prefix sums of Δ, Δ, B and C
// rows, the conv taps f(φ^(k)) of eq. 19) in shared memory, forms the hidden attention
// M[t, r, c] for the kSrc + K − 1 positions r the tile's sources reach through the conv, and
// writes u_{t←s}[c] = g_t[c] · Σ_k (M[t, s+k, c] + δ_{t,s+k} D) · tap_k[s, c] (eqs. 20–21).
//   Mamba-1: M[t,r,c] = Σ_n C[t,n] · exp(A[c,n]·(S_t,c − S_r,c)) · B[r,n] · Δ[r,c], per thread in
//            registers (one row, one channel, the whole window), 16 states at a time.
//   Mamba-2: M[t,r,h] = (C[t,g]·B[r,g]) · exp(A[h]·(S_t,h − S_r,h)) · Δ[r,h], once per head in
//            shared memory and read by the head's channels.
// S is the inclusive prefix sum of Δ; S_t − S_r ≥ 0 for r ≤ t (a prefix sum of positive terms is
// non-decreasing in fp32 too), so every exponent is ≤ 0: no exp(A·S_t)·exp(−A·S_r) overflow.
// Pair scores: one warp per (row, source) reduces a row of T over D.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/latim_kernels_params.h"

namespace mamba_explain {
namespace {

constexpr int kChan = 64;                  // channels per block
constexpr int kRows = kLatimRowTile;       // target rows per block
constexpr int kThreads = kChan * kRows;    // 256
constexpr int kSrc = 32;                   // sources per block
constexpr int kMaxConv = 4;                // d_conv supported
constexpr int kWin = kSrc + kMaxConv - 1;  // positions a block's sources reach
constexpr float kLog2e = 1.4426950408889634f;

__device__ __forceinline__ float Tap(float x, int act) {
  switch (act) {
    case kTapSilu:
      return x / (1.0f + expf(-x));
    case kTapRelu:
      return fmaxf(x, 0.0f);
    default:
      return x;
  }
}

__device__ __forceinline__ void Store(void* out, int type, int64_t index, float v) {
  if (type == kLatimOutBf16) {
    static_cast<__nv_bfloat16*>(out)[index] = __float2bfloat16(v);
  } else {
    static_cast<float*>(out)[index] = v;
  }
}

__device__ __forceinline__ float Load(const void* in, int type, int64_t index) {
  if (type == kLatimOutBf16) return __bfloat162float(static_cast<const __nv_bfloat16*>(in)[index]);
  return static_cast<const float*>(in)[index];
}

// The row tile of a block: every thread reads the same kRows entries.
struct RowTile {
  int64_t seq = 0;  // sequence of the tile's rows (0 for an all-pad tile)
  int t_max = -1;   // largest row, −1 when the tile is all pads
};

__device__ __forceinline__ RowTile ReadTile(const LatimContribParams& p, int64_t tile) {
  RowTile rt;
  bool found = false;
  for (int q = 0; q < kRows; ++q) {
    const int tq = p.row_pos[tile * kRows + q];
    if (tq > rt.t_max) rt.t_max = tq;
    if (tq >= 0 && !found) {
      rt.seq = p.row_seq[tile * kRows + q];
      found = true;
    }
  }
  return rt;
}

// A block wholly above the diagonal (or all pads): zeros for its rows × sources × channels
// [c_begin, c_end), and zero partial sums.
__device__ void WriteZeros(const LatimContribParams& p, int64_t tile, int64_t s0, int64_t c_begin,
                           int64_t c_end) {
  const int64_t S = p.n_src, E = p.d_inner;
  const int64_t s_end = s0 + kSrc < S ? s0 + kSrc : S;
  const int64_t width = c_end - c_begin;
  for (int64_t e = threadIdx.x; e < kRows * (s_end - s0) * width; e += kThreads) {
    const int64_t q = e / ((s_end - s0) * width), rem = e % ((s_end - s0) * width);
    const int64_t s = s0 + rem / width, c = c_begin + rem % width;
    Store(p.out, p.out_type, ((tile * kRows + q) * S + s) * E + c, 0.0f);
  }
}

// Conv taps of the block's sources for channels [c0, c0 + kChan):
// taps[k][sl][cl] = f(w[c, K−1−k]·x_in[s0 + sl, c] (+ β on the current-token tap k = 0), eq. 19.
__device__ void LoadTaps(const LatimContribParams& p, int64_t seq, int64_t s0, int64_t c0,
                         float* taps) {
  const int K = static_cast<int>(p.d_conv);
  const int64_t E = p.d_inner, L = p.seq_len;
  for (int e = threadIdx.x; e < K * kSrc * kChan; e += kThreads) {
    const int k = e / (kSrc * kChan), sl = (e / kChan) % kSrc, ce = e % kChan;
    const int64_t s = s0 + sl, ch = c0 + ce;
    float v = 0.0f;
    if (s < L && ch < E) {
      float phi = p.conv_w[ch * K + (K - 1 - k)] * p.x_in[(seq * L + s) * p.x_in_row_stride + ch];
      if (k == 0 && p.conv_b != nullptr) phi += p.conv_b[ch];
      v = Tap(phi, p.activation);
    }
    taps[e] = v;
  }
}

// u_{t←s}[c] = g_t[c] · Σ_k m[s − s0 + k] · tap_k[s, c] for the block's sources (m: this thread's
// M[t, r, c] + δ D over the window, 0 past t), written out, and Σ_s u added to u_sum[i, c].
__device__ __forceinline__ void Epilogue(const LatimContribParams& p, const float (&m)[kWin],
                                         const float* taps, int64_t i, int t, int64_t seq,
                                         int64_t s0, int64_t c, int cl) {
  const int64_t S = p.n_src, E = p.d_inner, L = p.seq_len;
  const int K = static_cast<int>(p.d_conv);
  const float gain = t >= 0 ? p.gain[(seq * L + t) * E + c] : 0.0f;
  float total = 0.0f;
#pragma unroll
  for (int sl = 0; sl < kSrc; ++sl) {
    const int64_t s = s0 + sl;
    if (s >= S) break;
    float v = 0.0f;
    if (t >= 0 && s <= t) {
#pragma unroll
      for (int k = 0; k < kMaxConv; ++k) {
        if (k < K) v += m[sl + k] * taps[(k * kSrc + sl) * kChan + cl];
      }
      v *= gain;
    }
    total += v;
    Store(p.out, p.out_type, (i * S + s) * E + c, v);
  }
  if (p.u_sum != nullptr && t >= 0) atomicAdd(p.u_sum + i * E + c, total);
}

// Mamba-1 smem (floats): taps [K][kSrc][kChan] | S hi, S lo, Δ [kWin][kChan] each |
// A·log2e [n_pad][kChan] | B [kWin][n_pad] | C [kRows][n_pad]; n_pad = N rounded up to 16.
__host__ __device__ inline int Mamba1SmemFloats(int64_t N) {
  const int n_pad = static_cast<int>((N + 15) / 16 * 16);
  return kMaxConv * kSrc * kChan + 3 * kWin * kChan + n_pad * kChan + (kWin + kRows) * n_pad;
}

// grid: (row tiles, source tiles, channel tiles of kChan).
__global__ void __launch_bounds__(kThreads) Mamba1ContribKernel(const LatimContribParams p) {
  extern __shared__ __align__(16) float smem[];
  const int tid = threadIdx.x, cl = tid % kChan, j = tid / kChan;
  const int64_t tile = blockIdx.x, s0 = static_cast<int64_t>(blockIdx.y) * kSrc;
  const int64_t c0 = static_cast<int64_t>(blockIdx.z) * kChan, c = c0 + cl;
  const int64_t E = p.d_inner, L = p.seq_len;
  const int N = static_cast<int>(p.d_state), n_pad = (N + 15) / 16 * 16;
  const RowTile rt = ReadTile(p, tile);
  if (rt.t_max < s0) {
    WriteZeros(p, tile, s0, c0, c0 + kChan < E ? c0 + kChan : E);
    return;
  }
  const int64_t seq = rt.seq, i = tile * kRows + j;
  const int t = p.row_pos[i];
  float* taps = smem;
  float* cs_s = taps + kMaxConv * kSrc * kChan;
  float* lo_s = cs_s + kWin * kChan;
  float* dl_s = lo_s + kWin * kChan;
  float* a_s = dl_s + kWin * kChan;
  float* b_s = a_s + n_pad * kChan;
  float* c_s = b_s + kWin * n_pad;
  LoadTaps(p, seq, s0, c0, taps);
  for (int e = tid; e < kWin * kChan; e += kThreads) {
    const int w = e / kChan, ce = e % kChan;
    const int64_t r = s0 + w, ch = c0 + ce;
    const bool ok = r < L && ch < E;
    cs_s[e] = ok ? p.cum_delta[(seq * L + r) * E + ch] : 0.0f;
    lo_s[e] = ok ? p.cum_delta_lo[(seq * L + r) * E + ch] : 0.0f;
    dl_s[e] = ok ? p.delta[(seq * L + r) * E + ch] : 0.0f;
  }
  for (int e = tid; e < n_pad * kChan; e += kThreads) {
    const int n = e / kChan, ce = e % kChan;
    const int64_t ch = c0 + ce;
    a_s[e] = (n < N && ch < E) ? p.A[ch * N + n] * kLog2e : 0.0f;
  }
  for (int e = tid; e < kWin * n_pad; e += kThreads) {
    const int w = e / n_pad, n = e % n_pad;
    const int64_t r = s0 + w;
    b_s[e] = (n < N && r < L) ? p.B[(seq * L + r) * N + n] : 0.0f;
  }
  for (int e = tid; e < kRows * n_pad; e += kThreads) {
    const int q = e / n_pad, n = e % n_pad;
    const int tq = p.row_pos[tile * kRows + q];
    c_s[e] = (n < N && tq >= 0) ? p.C[(seq * L + tq) * N + n] : 0.0f;
  }
  __syncthreads();
  if (c >= E) return;
  float m[kWin];
#pragma unroll
  for (int w = 0; w < kWin; ++w) m[w] = 0.0f;
  if (t >= s0) {
    const float cs_t = p.cum_delta[(seq * L + t) * E + c];
    const float lo_t = p.cum_delta_lo[(seq * L + t) * E + c];
    // M[t,r,c] = Σ_n C[t,n]·exp(A[c,n]·(S_t − S_r))·B[r,n], 16 states at a time (· Δ_r below).
    for (int n0 = 0; n0 < n_pad; n0 += 16) {
      float a[16], cc[16];
#pragma unroll
      for (int q = 0; q < 16; ++q) {
        a[q] = a_s[(n0 + q) * kChan + cl];
        cc[q] = c_s[j * n_pad + n0 + q];
      }
#pragma unroll
      for (int w = 0; w < kWin; ++w) {
        if (s0 + w <= t) {
          // Σ_{k=r+1..t} Δ ≥ 0: the hi difference exact to its rounding, plus the lo parts.
          const float d = (cs_t - cs_s[w * kChan + cl]) + (lo_t - lo_s[w * kChan + cl]);
          const float4* bq = reinterpret_cast<const float4*>(b_s + w * n_pad + n0);
          float acc = 0.0f;
#pragma unroll
          for (int q4 = 0; q4 < 4; ++q4) {
            const float4 bv = bq[q4];
            acc += cc[4 * q4 + 0] * exp2f(a[4 * q4 + 0] * d) * bv.x;
            acc += cc[4 * q4 + 1] * exp2f(a[4 * q4 + 1] * d) * bv.y;
            acc += cc[4 * q4 + 2] * exp2f(a[4 * q4 + 2] * d) * bv.z;
            acc += cc[4 * q4 + 3] * exp2f(a[4 * q4 + 3] * d) * bv.w;
          }
          m[w] += acc;
        }
      }
    }
    const float d_skip = p.D[c];
#pragma unroll
    for (int w = 0; w < kWin; ++w) {
      m[w] *= dl_s[w * kChan + cl];
      if (s0 + w == t) m[w] += d_skip;
    }
  }
  Epilogue(p, m, taps, i, t, seq, s0, c, cl);
}

// Mamba-2 smem (floats): taps [K][kSrc][kChan] | CB [G][kRows][kWin] | M [heads][kRows][kWin] |
// B [kWin][N+1] | C [kRows][N+1]; heads = the most a kChan-channel tile touches.
__host__ __device__ inline int Mamba2Heads(int64_t P) {
  return static_cast<int>((kChan + P - 1) / P + 1);
}
__host__ __device__ inline int Mamba2SmemFloats(int64_t N, int64_t G, int64_t P) {
  return kMaxConv * kSrc * kChan + static_cast<int>(G) * kRows * kWin +
         Mamba2Heads(P) * kRows * kWin + (kWin + kRows) * static_cast<int>(N + 1);
}

// grid: (row tiles, source tiles); each block walks every channel tile, so C·B of its rows and
// window is formed once per group and reused by all heads.
__global__ void __launch_bounds__(kThreads) Mamba2ContribKernel(const LatimContribParams p) {
  extern __shared__ __align__(16) float smem[];
  const int tid = threadIdx.x, cl = tid % kChan, j = tid / kChan;
  const int64_t tile = blockIdx.x, s0 = static_cast<int64_t>(blockIdx.y) * kSrc;
  const int64_t E = p.d_inner, L = p.seq_len, G = p.n_groups, P = p.head_dim, H = p.units;
  const int N = static_cast<int>(p.d_state), ld = N + 1;
  const RowTile rt = ReadTile(p, tile);
  if (rt.t_max < s0) {
    WriteZeros(p, tile, s0, 0, E);
    return;
  }
  const int64_t seq = rt.seq, i = tile * kRows + j;
  const int t = p.row_pos[i];
  float* taps = smem;
  float* cb_s = taps + kMaxConv * kSrc * kChan;
  float* m_s = cb_s + G * kRows * kWin;
  float* b_s = m_s + Mamba2Heads(P) * kRows * kWin;
  float* c_s = b_s + kWin * ld;
  // CB[g][q][w] = C[t_q, g] · B[s0 + w, g] for the causal entries (0 elsewhere).
  for (int64_t g = 0; g < G; ++g) {
    for (int e = tid; e < kWin * N; e += kThreads) {
      const int w = e / N, n = e % N;
      const int64_t r = s0 + w;
      b_s[w * ld + n] = r < L ? p.B[((seq * L + r) * G + g) * N + n] : 0.0f;
    }
    for (int e = tid; e < kRows * N; e += kThreads) {
      const int q = e / N, n = e % N;
      const int tq = p.row_pos[tile * kRows + q];
      c_s[q * ld + n] = tq >= 0 ? p.C[((seq * L + tq) * G + g) * N + n] : 0.0f;
    }
    __syncthreads();
    for (int e = tid; e < kRows * kWin; e += kThreads) {
      const int q = e / kWin, w = e % kWin;
      const int tq = p.row_pos[tile * kRows + q];
      float cb = 0.0f;
      if (tq >= 0 && s0 + w <= tq) {
        for (int n = 0; n < N; ++n) cb += c_s[q * ld + n] * b_s[w * ld + n];
      }
      cb_s[g * kRows * kWin + e] = cb;
    }
    __syncthreads();
  }
  const int64_t heads_per_group = H / G;
  for (int64_t c0 = 0; c0 < E; c0 += kChan) {
    const int64_t c = c0 + cl;
    const int64_t c_last = (c0 + kChan < E ? c0 + kChan : E) - 1;
    const int64_t h_lo = c0 / P, h_hi = c_last / P;
    LoadTaps(p, seq, s0, c0, taps);
    // M[h][q][w] = CB[g(h)] · exp(A[h]·(S_t − S_r)) · Δ[r, h] (+ D[h] on r = t).
    for (int64_t e = tid; e < (h_hi - h_lo + 1) * kRows * kWin; e += kThreads) {
      const int64_t h = h_lo + e / (kRows * kWin);
      const int q = static_cast<int>((e / kWin) % kRows), w = static_cast<int>(e % kWin);
      const int tq = p.row_pos[tile * kRows + q];
      const int64_t r = s0 + w;
      float v = 0.0f;
      if (tq >= 0 && r <= tq) {
        const int64_t at = (seq * L + tq) * H + h, ar = (seq * L + r) * H + h;
        const float d =
            (p.cum_delta[at] - p.cum_delta[ar]) + (p.cum_delta_lo[at] - p.cum_delta_lo[ar]);
        v = cb_s[((h / heads_per_group) * kRows + q) * kWin + w] * exp2f(p.A[h] * kLog2e * d) *
            p.delta[ar];
        if (r == tq) v += p.D[h];
      }
      m_s[e] = v;
    }
    __syncthreads();
    if (c < E) {
      const int64_t hh = c / P - h_lo;
      float m[kWin];
#pragma unroll
      for (int w = 0; w < kWin; ++w) m[w] = m_s[(hh * kRows + j) * kWin + w];
      Epilogue(p, m, taps, i, t, seq, s0, c, cl);
    }
    __syncthreads();  // taps and M are rewritten for the next channel tile
  }
}

__global__ void LatimPairScoresKernel(const LatimPairScoreParams p) {
  const int lane = threadIdx.x % 32;
  const int64_t pair = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (pair >= p.rows * p.n_src) return;
  const int64_t i = pair / p.n_src, s = pair % p.n_src, D = p.d_model;
  const int t = p.row_pos[i];
  float l1 = 0.0f, l2 = 0.0f, dist = 0.0f;
  if (t >= 0 && s <= t) {
    const bool diag = s == t;
    for (int64_t d = lane; d < D; d += 32) {
      const float v = Load(p.T, p.t_type, pair * D + d);
      l1 += fabsf(v);
      l2 += v * v;
      if (p.y != nullptr) {
        const float tv = diag ? v + p.resid[i * D + d] : v;
        dist += fabsf(p.y[i * D + d] - tv);
      }
    }
#pragma unroll
    for (int off = 16; off > 0; off /= 2) {
      l1 += __shfl_xor_sync(0xffffffffu, l1, off);
      l2 += __shfl_xor_sync(0xffffffffu, l2, off);
      dist += __shfl_xor_sync(0xffffffffu, dist, off);
    }
  }
  if (lane == 0) {
    if (p.l1 != nullptr) p.l1[pair] = l1;
    if (p.l2 != nullptr) p.l2[pair] = sqrtf(l2);
    if (p.dist != nullptr) p.dist[pair] = dist;
  }
}

}  // namespace

cudaError_t LaunchLatimContributions(const LatimContribParams& p, cudaStream_t stream) {
  if (!LatimContribCudaSupports(p.d_state, p.d_conv) || p.rows % kRows != 0 || p.rows <= 0 ||
      p.n_src <= 0 || p.head_dim <= 0 || p.n_groups <= 0 || p.units % p.n_groups != 0 ||
      (p.mamba2 && p.n_groups > 16)) {
    return cudaErrorInvalidValue;
  }
  const unsigned row_tiles = static_cast<unsigned>(p.rows / kRows);
  const unsigned src_tiles = static_cast<unsigned>((p.n_src + kSrc - 1) / kSrc);
  cudaError_t err;
  if (p.mamba2) {
    const int bytes = Mamba2SmemFloats(p.d_state, p.n_groups, p.head_dim) * sizeof(float);
    err = cudaFuncSetAttribute(Mamba2ContribKernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               bytes);
    if (err != cudaSuccess) return err;
    Mamba2ContribKernel<<<dim3(row_tiles, src_tiles), kThreads, bytes, stream>>>(p);
  } else {
    const int bytes = Mamba1SmemFloats(p.d_state) * sizeof(float);
    err = cudaFuncSetAttribute(Mamba1ContribKernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               bytes);
    if (err != cudaSuccess) return err;
    const unsigned chan_tiles = static_cast<unsigned>((p.d_inner + kChan - 1) / kChan);
    Mamba1ContribKernel<<<dim3(row_tiles, src_tiles, chan_tiles), kThreads, bytes, stream>>>(p);
  }
  return cudaGetLastError();
}

cudaError_t LaunchLatimPairScores(const LatimPairScoreParams& p, cudaStream_t stream) {
  if (p.rows <= 0 || p.n_src <= 0 || p.d_model <= 0) return cudaErrorInvalidValue;
  constexpr int kWarps = 8;
  const int64_t pairs = p.rows * p.n_src;
  const unsigned blocks = static_cast<unsigned>((pairs + kWarps - 1) / kWarps);
  LatimPairScoresKernel<<<blocks, kWarps * 32, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace mamba_explain
