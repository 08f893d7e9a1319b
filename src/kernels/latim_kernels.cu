// CUDA LaTIM decomposition kernels (parameters and semantics: latim_kernels_params.h; plain
// LibTorch references: latim_kernels_ref.cc). Includes no LibTorch header.
//
// Contributions: one block of 256 threads owns a tile of kRows = 8 target rows of one sequence ×
// kSrc = 16 sources × 64 channels (each thread: one channel, two rows). It forms the hidden
// attention M[t, r, c] for the kSrc + K − 1 positions r its sources reach through the conv and
// writes u_{t←s}[c] = g_t[c] · Σ_k (M[t, s+k, c] + δ_{t,s+k} D) · tap_k[s, c] (eqs. 20–21), with
// the taps f(φ^(k)) of eq. 19 precomputed once per layer (MakeTaps).
//   Mamba-1: M[t,r,c] = Σ_n C[t,n] · exp(A[c,n]·(S_t − S_r)) · B[r,n] · Δ[r,c]. For positions
//   before
//            the tile's first row t₀ the decay is factorised at p = t₀ − 1 (LaTIM App. A; the
//            chunked form of the SSD paper): exp(A(S_t − S_r)) = exp(A(S_t − S_p))·exp(A(S_p −
//            S_r)), both exponents ≤ 0, so the right factor is computed once per block and shared
//            by its 8 rows, and M is a rank-N product per channel; positions from t₀ on use the
//            direct form.
//   Mamba-2: M[t,r,h] = (C[t,g]·B[r,g]) · exp(A[h]·(S_t − S_r)) · Δ[r,h], once per head in shared
//            memory and read by the head's channels; a block walks all channel tiles so that C·B is
//            formed once.
// S is the inclusive prefix sum of Δ kept as hi + lo floats, so S_t − S_r is exact to fp32
// rounding at any length and ≥ 0 for r ≤ t: no exponent is ever positive.
// Pair scores: one warp per (row, source) reduces a row of T over D.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/latim_kernels_params.h"

namespace mamba_explain {
namespace {

constexpr int kChan = 64;                     // channels per block
constexpr int kRows = kLatimRowTile;          // target rows per block (8)
constexpr int kRowGroups = 4;                 // threads along the rows; each owns 2 rows
constexpr int kThreads = kChan * kRowGroups;  // 256
constexpr int kSrc = 16;                      // sources per block
constexpr int kMaxConv = 4;                   // d_conv supported
constexpr int kWin = kSrc + kMaxConv - 1;     // positions a block's sources reach
constexpr int kStateChunk = 8;                // Mamba-1 states per pass over the window
constexpr float kLog2e = 1.4426950408889634f;
static_assert(kRows == 2 * kRowGroups, "two rows per thread");

// 2^x with one MUFU instruction; results below 2^-126 flush to 0 (they are negligible here).
__device__ __forceinline__ float Exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
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
  int64_t seq = 0;   // sequence of the tile's rows (0 for an all-pad tile)
  int t_first = -1;  // smallest row (rows ascend, pads last), −1 when all pads
  int t_max = -1;    // largest row
};

__device__ __forceinline__ RowTile ReadTile(const LatimContribParams& p, int64_t tile) {
  RowTile rt;
  rt.t_first = p.row_pos[tile * kRows];
  if (rt.t_first >= 0) rt.seq = p.row_seq[tile * kRows];
  for (int q = 0; q < kRows; ++q) {
    const int tq = p.row_pos[tile * kRows + q];
    if (tq > rt.t_max) rt.t_max = tq;
  }
  return rt;
}

// This thread's two rows × the source tile [s0, s0 + kSrc) of channel c are all zero (above the
// diagonal or pads).
__device__ __forceinline__ void ZeroSources(const LatimContribParams& p, const int64_t (&i)[2],
                                            int64_t s0, int64_t c) {
  const int64_t S = p.n_src, E = p.d_inner;
  const int n_s = static_cast<int>((s0 + kSrc < S ? s0 + kSrc : S) - s0);
#pragma unroll
  for (int rr = 0; rr < 2; ++rr) {
    const int64_t base = (i[rr] * S + s0) * E + c;
    for (int sl = 0; sl < n_s; ++sl) Store(p.out, p.out_type, base + sl * E, 0.0f);
  }
}

// For this thread's two rows: u_{t←s}[c] = g_t[c] · Σ_k m[s − s0 + k] · tap_k[s, c] over the
// block's sources (m = M[t, r, c] + δ D over the window, 0 past t), written out, and Σ_s u added to
// u_sum[i, c].
__device__ __forceinline__ void Epilogue(const LatimContribParams& p, const float (&m)[2][kWin],
                                         const int64_t (&i)[2], const int (&t)[2], int64_t seq,
                                         int64_t s0, int64_t c) {
  const int64_t S = p.n_src, E = p.d_inner, L = p.seq_len;
  const int K = static_cast<int>(p.d_conv);
  const int n_s = static_cast<int>((s0 + kSrc < S ? s0 + kSrc : S) - s0);
  const float* tap_base = p.taps + (seq * L + s0) * K * E + c;  // [s][k] at (s·K + k)·E
  float gain[2], total[2] = {0.0f, 0.0f};
  int64_t out_base[2];
#pragma unroll
  for (int rr = 0; rr < 2; ++rr) {
    gain[rr] = t[rr] >= 0 ? p.gain[(seq * L + t[rr]) * E + c] : 0.0f;
    out_base[rr] = (i[rr] * S + s0) * E + c;
  }
  const int last[2] = {t[0] - static_cast<int>(s0), t[1] - static_cast<int>(s0)};
#pragma unroll
  for (int sl = 0; sl < kSrc; ++sl) {
    if (sl >= n_s) break;
    float tap[kMaxConv];
#pragma unroll
    for (int k = 0; k < kMaxConv; ++k) tap[k] = k < K ? __ldg(tap_base + (sl * K + k) * E) : 0.0f;
#pragma unroll
    for (int rr = 0; rr < 2; ++rr) {
      float v = 0.0f;
      if (sl <= last[rr]) {
#pragma unroll
        for (int k = 0; k < kMaxConv; ++k) v += m[rr][sl + k] * tap[k];
        v *= gain[rr];
      }
      total[rr] += v;
      Store(p.out, p.out_type, out_base[rr] + sl * E, v);
    }
  }
  if (p.u_sum != nullptr) {
#pragma unroll
    for (int rr = 0; rr < 2; ++rr) {
      if (t[rr] >= 0) atomicAdd(p.u_sum + i[rr] * E + c, total[rr]);
    }
  }
}

// Mamba-1 smem (floats): right factors [kWin][kStateChunk][kChan] | S hi, S lo, Δ [kWin][kChan] |
// S_p hi, lo [kChan] | A·log2e [n_pad][kChan] | B [kWin][n_pad] | C [kRows][n_pad];
// n_pad = N rounded up to kStateChunk.
__host__ __device__ inline int Mamba1SmemFloats(int64_t N) {
  const int n_pad = static_cast<int>((N + kStateChunk - 1) / kStateChunk * kStateChunk);
  return kWin * kStateChunk * kChan + 3 * kWin * kChan + 2 * kChan + n_pad * kChan +
         (kWin + kRows) * n_pad;
}

// grid: (row tiles, channel tiles of kChan); a block walks the source tiles [0, n_src) so that
// A, C and the left-factor point are loaded once.
__global__ void __launch_bounds__(kThreads) Mamba1ContribKernel(const LatimContribParams p) {
  extern __shared__ __align__(16) float smem[];
  const int tid = threadIdx.x, cl = tid % kChan, g = tid / kChan;
  const int64_t tile = blockIdx.x;
  const int64_t c0 = static_cast<int64_t>(blockIdx.y) * kChan, c = c0 + cl;
  const int64_t E = p.d_inner, L = p.seq_len, S = p.n_src;
  const int N = static_cast<int>(p.d_state);
  const int n_pad = (N + kStateChunk - 1) / kStateChunk * kStateChunk;
  const bool live = c < E;
  const RowTile rt = ReadTile(p, tile);
  const int64_t seq = rt.seq;
  const int64_t i[2] = {tile * kRows + g, tile * kRows + g + kRowGroups};
  const int t[2] = {p.row_pos[i[0]], p.row_pos[i[1]]};
  const int pb = rt.t_first - 1;  // factorisation point: positions r ≤ pb are "far"
  float* rf_s = smem;
  float* cs_s = rf_s + kWin * kStateChunk * kChan;
  float* lo_s = cs_s + kWin * kChan;
  float* dl_s = lo_s + kWin * kChan;
  float* cp_s = dl_s + kWin * kChan;  // S_p hi, then lo
  float* a_s = cp_s + 2 * kChan;
  float* b_s = a_s + n_pad * kChan;
  float* c_s = b_s + kWin * n_pad;
  for (int e = tid; e < kChan; e += kThreads) {
    const int64_t ch = c0 + e;
    const bool ok = pb >= 0 && ch < E;
    cp_s[e] = ok ? p.cum_delta[(seq * L + pb) * E + ch] : 0.0f;
    cp_s[kChan + e] = ok ? p.cum_delta_lo[(seq * L + pb) * E + ch] : 0.0f;
  }
  for (int e = tid; e < n_pad * kChan; e += kThreads) {
    const int n = e / kChan, ce = e % kChan;
    const int64_t ch = c0 + ce;
    a_s[e] = (n < N && ch < E) ? p.A[ch * N + n] * kLog2e : 0.0f;
  }
  for (int e = tid; e < kRows * n_pad; e += kThreads) {
    const int q = e / n_pad, n = e % n_pad;
    const int tq = p.row_pos[tile * kRows + q];
    c_s[e] = (n < N && tq >= 0) ? p.C[(seq * L + tq) * N + n] : 0.0f;
  }
  float cs_t[2] = {0.0f, 0.0f}, lo_t[2] = {0.0f, 0.0f};
#pragma unroll
  for (int rr = 0; rr < 2; ++rr) {
    if (live && t[rr] >= 0) {
      cs_t[rr] = p.cum_delta[(seq * L + t[rr]) * E + c];
      lo_t[rr] = p.cum_delta_lo[(seq * L + t[rr]) * E + c];
    }
  }
  const float d_skip = live ? p.D[c] : 0.0f;
  __syncthreads();
  // S_t − S_p ≥ 0 for the left factors.
  const float dp[2] = {(cs_t[0] - cp_s[cl]) + (lo_t[0] - cp_s[kChan + cl]),
                       (cs_t[1] - cp_s[cl]) + (lo_t[1] - cp_s[kChan + cl])};

  for (int64_t s0 = 0; s0 < S; s0 += kSrc) {
    if (rt.t_max < s0) {  // the rest lies above the diagonal (or the tile is all pads)
      if (live) ZeroSources(p, i, s0, c);
      continue;
    }
    __syncthreads();  // the previous source tile's window is consumed
    for (int e = tid; e < kWin * kChan; e += kThreads) {
      const int w = e / kChan, ce = e % kChan;
      const int64_t r = s0 + w, ch = c0 + ce;
      const bool ok = r < L && ch < E;
      cs_s[e] = ok ? p.cum_delta[(seq * L + r) * E + ch] : 0.0f;
      lo_s[e] = ok ? p.cum_delta_lo[(seq * L + r) * E + ch] : 0.0f;
      dl_s[e] = ok ? p.delta[(seq * L + r) * E + ch] : 0.0f;
    }
    for (int e = tid; e < kWin * n_pad; e += kThreads) {
      const int w = e / n_pad, n = e % n_pad;
      const int64_t r = s0 + w;
      b_s[e] = (n < N && r < L) ? p.B[(seq * L + r) * N + n] : 0.0f;
    }
    __syncthreads();
    float m[2][kWin];
#pragma unroll
    for (int rr = 0; rr < 2; ++rr) {
#pragma unroll
      for (int w = 0; w < kWin; ++w) m[rr][w] = 0.0f;
    }
    const int far_end = pb - static_cast<int>(s0);  // window slots w ≤ far_end are far
    for (int n0 = 0; n0 < n_pad; n0 += kStateChunk) {
      if (far_end >= 0) {
        // Right factors exp(A(S_p − S_r))·B[r,n] of this chunk, shared by the block's rows.
        __syncthreads();  // the previous chunk's factors are consumed
        for (int e = tid; e < kWin * kStateChunk * kChan; e += kThreads) {
          const int w = e / (kStateChunk * kChan), q = (e / kChan) % kStateChunk, ce = e % kChan;
          float v = 0.0f;
          if (w <= far_end) {
            const float d =
                (cp_s[ce] - cs_s[w * kChan + ce]) + (cp_s[kChan + ce] - lo_s[w * kChan + ce]);
            v = Exp2(a_s[(n0 + q) * kChan + ce] * d) * b_s[w * n_pad + n0 + q];
          }
          rf_s[e] = v;
        }
        __syncthreads();
      }
      if (!live) continue;
      float a[kStateChunk];
#pragma unroll
      for (int q = 0; q < kStateChunk; ++q) a[q] = a_s[(n0 + q) * kChan + cl];
#pragma unroll
      for (int rr = 0; rr < 2; ++rr) {
        if (t[rr] < s0) continue;
        if (far_end >= 0) {
          float lf[kStateChunk];  // C[t,n]·exp(A(S_t − S_p))
#pragma unroll
          for (int q = 0; q < kStateChunk; ++q) {
            lf[q] = c_s[(g + rr * kRowGroups) * n_pad + n0 + q] * Exp2(a[q] * dp[rr]);
          }
#pragma unroll
          for (int w = 0; w < kWin; ++w) {
            if (w <= far_end) {
              float acc = 0.0f;
#pragma unroll
              for (int q = 0; q < kStateChunk; ++q) {
                acc += lf[q] * rf_s[(w * kStateChunk + q) * kChan + cl];
              }
              m[rr][w] += acc;
            }
          }
        }
#pragma unroll
        for (int w = 0; w < kWin; ++w) {
          if (w > far_end && s0 + w <= t[rr]) {
            // Direct form from the tile's first row on.
            const float d = (cs_t[rr] - cs_s[w * kChan + cl]) + (lo_t[rr] - lo_s[w * kChan + cl]);
            float acc = 0.0f;
#pragma unroll
            for (int q = 0; q < kStateChunk; ++q) {
              acc += c_s[(g + rr * kRowGroups) * n_pad + n0 + q] * Exp2(a[q] * d) *
                     b_s[w * n_pad + n0 + q];
            }
            m[rr][w] += acc;
          }
        }
      }
    }
    if (!live) continue;
#pragma unroll
    for (int rr = 0; rr < 2; ++rr) {
#pragma unroll
      for (int w = 0; w < kWin; ++w) {
        m[rr][w] *= dl_s[w * kChan + cl];
        if (s0 + w == t[rr]) m[rr][w] += d_skip;
      }
    }
    Epilogue(p, m, i, t, seq, s0, c);
  }
}

// Mamba-2 smem (floats): CB [G][kRows][kWin] | M [heads][kRows][kWin] | B [kWin][N+1] |
// C [kRows][N+1]; heads = the most a kChan-channel tile touches.
__host__ __device__ inline int Mamba2Heads(int64_t P) {
  return static_cast<int>((kChan + P - 1) / P + 1);
}
__host__ __device__ inline int Mamba2SmemFloats(int64_t N, int64_t G, int64_t P) {
  return static_cast<int>(G) * kRows * kWin + Mamba2Heads(P) * kRows * kWin +
         (kWin + kRows) * static_cast<int>(N + 1);
}

// grid: (row tiles, source tiles); each block walks every channel tile, so C·B of its rows and
// window is formed once per group and reused by all heads.
__global__ void __launch_bounds__(kThreads, 2) Mamba2ContribKernel(const LatimContribParams p) {
  extern __shared__ __align__(16) float smem[];
  const int tid = threadIdx.x, cl = tid % kChan, g = tid / kChan;
  const int64_t tile = blockIdx.x, s0 = static_cast<int64_t>(blockIdx.y) * kSrc;
  const int64_t E = p.d_inner, L = p.seq_len, G = p.n_groups, P = p.head_dim, H = p.units;
  const int N = static_cast<int>(p.d_state), ld = N + 1;
  const RowTile rt = ReadTile(p, tile);
  const int64_t seq = rt.seq;
  const int64_t i[2] = {tile * kRows + g, tile * kRows + g + kRowGroups};
  const int t[2] = {p.row_pos[i[0]], p.row_pos[i[1]]};
  if (rt.t_max < s0) {  // above the diagonal (or all pads): zeros for every channel
    for (int64_t c = cl; c < E; c += kChan) ZeroSources(p, i, s0, c);
    return;
  }
  float* cb_s = smem;
  float* m_s = cb_s + G * kRows * kWin;
  float* b_s = m_s + Mamba2Heads(P) * kRows * kWin;
  float* c_s = b_s + kWin * ld;
  // CB[g][q][w] = C[t_q, g] · B[s0 + w, g] for the causal entries (0 elsewhere).
  for (int64_t gr = 0; gr < G; ++gr) {
    for (int e = tid; e < kWin * N; e += kThreads) {
      const int w = e / N, n = e % N;
      const int64_t r = s0 + w;
      b_s[w * ld + n] = r < L ? p.B[((seq * L + r) * G + gr) * N + n] : 0.0f;
    }
    for (int e = tid; e < kRows * N; e += kThreads) {
      const int q = e / N, n = e % N;
      const int tq = p.row_pos[tile * kRows + q];
      c_s[q * ld + n] = tq >= 0 ? p.C[((seq * L + tq) * G + gr) * N + n] : 0.0f;
    }
    __syncthreads();
    for (int e = tid; e < kRows * kWin; e += kThreads) {
      const int q = e / kWin, w = e % kWin;
      const int tq = p.row_pos[tile * kRows + q];
      float cb = 0.0f;
      if (tq >= 0 && s0 + w <= tq) {
        for (int n = 0; n < N; ++n) cb += c_s[q * ld + n] * b_s[w * ld + n];
      }
      cb_s[gr * kRows * kWin + e] = cb;
    }
    __syncthreads();
  }
  const int64_t heads_per_group = H / G;
  for (int64_t c0 = 0; c0 < E; c0 += kChan) {
    const int64_t c = c0 + cl;
    const int64_t c_last = (c0 + kChan < E ? c0 + kChan : E) - 1;
    const int64_t h_lo = c0 / P, h_hi = c_last / P;
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
        v = cb_s[((h / heads_per_group) * kRows + q) * kWin + w] * Exp2(p.A[h] * kLog2e * d) *
            p.delta[ar];
        if (r == tq) v += p.D[h];
      }
      m_s[e] = v;
    }
    __syncthreads();
    if (c < E) {
      const int64_t hh = c / P - h_lo;
      float m[2][kWin];
#pragma unroll
      for (int rr = 0; rr < 2; ++rr) {
        const int q = g + rr * kRowGroups;
#pragma unroll
        for (int w = 0; w < kWin; ++w) m[rr][w] = m_s[(hh * kRows + q) * kWin + w];
      }
      Epilogue(p, m, i, t, seq, s0, c);
    }
    __syncthreads();  // M is rewritten for the next channel tile
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
      p.taps == nullptr || (p.mamba2 && p.n_groups > 16)) {
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
    Mamba1ContribKernel<<<dim3(row_tiles, chan_tiles), kThreads, bytes, stream>>>(p);
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
