// CUDA LaTIM decomposition kernels (parameters and semantics: latim_kernels_params.h; plain
// LibTorch references: latim_kernels_ref.cc). Includes no LibTorch header.
//
// Contributions u_{t←s}[c] = g_t[c] · Σ_k (M[t, s+k, c] + δ_{t,s+k} D) · tap_k[s, c] (eqs. 20–21),
// with the taps f(φ^(k)) of eq. 19 precomputed once per layer (MakeTaps). S is the inclusive
// prefix sum of Δ kept as hi + lo floats, so S_t − S_r is exact to fp32 rounding at any length and
// ≥ 0 for r ≤ t: no exponent is ever positive.
//
// Mamba-1 (Mamba1ContribKernel): M[t,r,c] = Σ_n C[t,n] · exp(A[c,n]·(S_t − S_r)) · B[r,n] · Δ[r,c].
//   A block owns one 16-row tile × 32 channels (lane = channel, warp = a group of rows) × a range
//   of sources. For positions before the tile's first row t₀ the decay is factorised at
//   p = t₀ − 1 (LaTIM App. A; the chunked form of the SSD paper): exp(A(S_t − S_r)) =
//   exp(A(S_t − S_p)) · exp(A(S_p − S_r)), both exponents ≤ 0. The left factors C·exp(A(S_t − S_p))
//   live in registers for the whole source walk; the right factors exp(A(S_p − S_r))·B[r] are made
//   once per position and channel in shared memory and shared by the tile's rows, so M costs
//   d_state FMAs per (t, r, c) and one exponential per (r, c) per tile. Positions from t₀ on use
//   the direct form. The thread walks the positions in order and folds each M[t, r] into the
//   (at most K) sources it feeds through a ring of accumulators, so the conv taps need no halo and
//   every u is written once, coalesced over channels. Source ranges split over blocks when the
//   grid would otherwise be small (few rows); Σ_s u is then added atomically.
// Mamba-2 (Mamba2ContribKernel): M[t,r,h] = (C[t,g]·B[r,g]) · exp(A[h]·(S_t − S_r)) · Δ[r,h].
//   A block owns one 16-row tile × 16 sources × a range of heads: C·B once per group, M for a
//   chunk of heads at a time in shared memory (read by the heads' channels), the taps applied per
//   channel.
// Pair scores: one warp per (row, source) reduces a row of T over D. Preparation (Δ, S, taps,
// gains from the trace) and the decomposition error terms are plain element-wise / row kernels.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/latim_kernels_params.h"

namespace mamba_explain {
namespace {

constexpr int kTile = kLatimRowTile;  // rows per tile (16)
constexpr int kLanes = 32;            // channels per warp step (lane = channel)
constexpr int kMaxConv = 4;           // d_conv supported
constexpr float kLog2e = 1.4426950408889634f;

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

// The row tile of a block: every thread reads the same kTile entries.
struct RowTile {
  int64_t seq = 0;   // sequence of the tile's rows (0 for an all-pad tile)
  int t_first = -1;  // smallest row (rows ascend, pads last), −1 when all pads
  int t_max = -1;    // largest row
};

__device__ __forceinline__ RowTile ReadTile(const LatimContribParams& p, int64_t tile) {
  RowTile rt;
  rt.t_first = p.row_pos[tile * kTile];
  if (rt.t_first >= 0) rt.seq = p.row_seq[tile * kTile];
  for (int q = 0; q < kTile; ++q) {
    const int tq = p.row_pos[tile * kTile + q];
    if (tq > rt.t_max) rt.t_max = tq;
  }
  return rt;
}

// ---------------------------------------------------------------------------------------------
// Mamba-1.
// kNs states are held per thread (d_state ≤ kNs, zero-padded); kRpt rows per thread (the left
// factors take kRpt·kNs registers); kPos positions per shared-memory chunk. Everything the inner
// loop reads (right factors, S, Δ, taps) is staged in shared memory per chunk, so the walk over
// positions waits on no global load.
template <int kNs>
struct M1Geometry {
  static constexpr int kRpt = kNs <= 32 ? 32 / kNs : 1;  // rows per thread: q = warp + kWarps·j
  static constexpr int kWarps = kTile / kRpt;            // row groups (8 or 16)
  static constexpr int kThreads = kLanes * kWarps;
  static constexpr int kSt = kNs / kWarps;             // right-factor states made per warp
  static constexpr int kPos = 256 / kNs;               // positions per chunk (16, 8, 4)
  static constexpr int kTapWin = kPos + kMaxConv - 1;  // sources whose taps a chunk reads
  static constexpr int kRfLd = kNs + 4;                // padded: conflict-free 16-byte loads
  static constexpr int kALd = kNs + 1;
  static_assert(kSt >= 1 && kNs % kWarps == 0, "right factors split evenly over the warps");
  static_assert(kPos % 4 == 0, "the accumulator ring needs chunks aligned to 4 positions");
  // Shared memory in floats: rf [kPos][kLanes][kRfLd] | A·log2e [kLanes][kALd] | C [kTile][kNs] |
  // two staging buffers (chunk c in buffer c mod 2, the next one loading meanwhile), each
  // B [kPos][kNs] | S hi, S lo, Δ [kPos][kLanes] | taps [kTapWin][kMaxConv][kLanes].
  static constexpr int kRf = 0;
  static constexpr int kA = kRf + kPos * kLanes * kRfLd;
  static constexpr int kC = kA + kLanes * kALd;
  static constexpr int kStage0 = kC + kTile * kNs;
  static constexpr int kB = 0;  // offsets inside a staging buffer
  static constexpr int kCs = kB + kPos * kNs;
  static constexpr int kLo = kCs + kPos * kLanes;
  static constexpr int kDl = kLo + kPos * kLanes;
  static constexpr int kTp = kDl + kPos * kLanes;
  static constexpr int kStage = kTp + kTapWin * kMaxConv * kLanes;
  static constexpr int kFloats = kStage0 + 2 * kStage;
};

// 4-byte asynchronous copy global → shared (sm_80+), zero-filled when !ok (src is then not read).
__device__ __forceinline__ void CpAsync4(float* dst, const float* src, bool ok) {
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(d), "l"(src),
               "r"(ok ? 4 : 0));
}
__device__ __forceinline__ void CpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int kPending>
__device__ __forceinline__ void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

// grid: (row tiles, channel tiles of 32, source splits of `span` sources).
template <int K, int kNs>
__global__ void __launch_bounds__(M1Geometry<kNs>::kThreads,
                                  M1Geometry<kNs>::kThreads <= 256 ? 2 : 1)
    Mamba1ContribKernel(const LatimContribParams p, int64_t span) {
  using G = M1Geometry<kNs>;
  constexpr int kRpt = G::kRpt, kWarps = G::kWarps, kPos = G::kPos, kSt = G::kSt;
  extern __shared__ __align__(16) float smem[];
  float* rf_s = smem + G::kRf;
  float* a_s = smem + G::kA;
  float* c_s = smem + G::kC;
  float* stage_s = smem + G::kStage0;  // the two staging buffers (see M1Geometry)

  const int tid = threadIdx.x, lane = tid % kLanes, warp = tid / kLanes;
  const int64_t tile = blockIdx.x;
  const int64_t c0 = static_cast<int64_t>(blockIdx.y) * kLanes, c = c0 + lane;
  const int64_t E = p.d_inner, L = p.seq_len, S = p.src_begin + p.n_src;  // S: sources' end
  const int N = static_cast<int>(p.d_state);
  const bool live = c < E;
  const int64_t src_begin = p.src_begin + static_cast<int64_t>(blockIdx.z) * span;
  if (src_begin >= S) return;
  const int64_t src_end = src_begin + span < S ? src_begin + span : S;
  const RowTile rt = ReadTile(p, tile);
  const int64_t seq = rt.seq;
  int64_t out_row[kRpt];  // u_{t←s} of row j at out_row[j] + s·E
  int t[kRpt];
#pragma unroll
  for (int j = 0; j < kRpt; ++j) {
    const int64_t i = tile * kTile + warp + kWarps * j;
    t[j] = p.row_pos[i];
    out_row[j] = (i * p.n_src - p.src_begin) * E + c;
  }
  // Sources past the tile's last row are zero for every row.
  const int64_t live_end = rt.t_max + 1 < src_end ? rt.t_max + 1 : src_end;
  if (live) {
    for (int64_t s = live_end > src_begin ? live_end : src_begin; s < src_end; ++s) {
#pragma unroll
      for (int j = 0; j < kRpt; ++j) Store(p.out, p.out_type, out_row[j] + s * E, 0.0f);
    }
  }
  if (live_end <= src_begin) return;  // uniform over the block: no barrier is skipped

  const int pb = rt.t_first - 1;  // factorisation point: positions r ≤ pb are "far"
  for (int e = tid; e < kLanes * kNs; e += G::kThreads) {
    const int cc = e / kNs, n = e % kNs;
    const int64_t ch = c0 + cc;
    a_s[cc * G::kALd + n] = (n < N && ch < E) ? p.A[ch * N + n] * kLog2e : 0.0f;
  }
  for (int e = tid; e < kTile * kNs; e += G::kThreads) {
    const int q = e / kNs, n = e % kNs;
    const int tq = p.row_pos[tile * kTile + q];
    c_s[e] = (n < N && tq >= 0) ? p.C[(seq * L + tq) * N + n] : 0.0f;
  }
  float st_hi[kRpt], st_lo[kRpt], gain[kRpt];
#pragma unroll
  for (int j = 0; j < kRpt; ++j) {
    const bool ok = live && t[j] >= 0;
    const int64_t at = (seq * L + (ok ? t[j] : 0)) * E + c;
    st_hi[j] = ok ? p.cum_delta[at] : 0.0f;
    st_lo[j] = ok ? p.cum_delta_lo[at] : 0.0f;
    gain[j] = ok ? p.gain[at] : 0.0f;
  }
  float sp_hi = 0.0f, sp_lo = 0.0f;
  if (live && pb >= 0) {
    sp_hi = p.cum_delta[(seq * L + pb) * E + c];
    sp_lo = p.cum_delta_lo[(seq * L + pb) * E + c];
  }
  const float d_skip = live ? p.D[c] : 0.0f;
  __syncthreads();
  // Left factors C[t,n]·exp(A(S_t − S_p)), S_t − S_p ≥ 0 (t ≥ t₀ > p).
  float lf[kRpt][kNs];
#pragma unroll
  for (int j = 0; j < kRpt; ++j) {
    const float dp = (st_hi[j] - sp_hi) + (st_lo[j] - sp_lo);
    const bool ok = pb >= 0 && t[j] >= 0;
#pragma unroll
    for (int n = 0; n < kNs; ++n) {
      lf[j][n] =
          ok ? c_s[(warp + kWarps * j) * kNs + n] * Exp2(a_s[lane * G::kALd + n] * dp) : 0.0f;
    }
  }
  // The right-factor states this warp makes, and their A.
  float a_rf[kSt];
#pragma unroll
  for (int q = 0; q < kSt; ++q) a_rf[q] = a_s[lane * G::kALd + kSt * warp + q];

  // acc[j][s mod 4]: the partial u of the (at most K) sources the current position feeds.
  float acc[kRpt][4], total[kRpt];
#pragma unroll
  for (int j = 0; j < kRpt; ++j) {
    total[j] = 0.0f;
#pragma unroll
    for (int q = 0; q < 4; ++q) acc[j][q] = 0.0f;
  }
  const int64_t r_end = live_end + K - 1;  // positions that feed [src_begin, live_end)
  // Chunk c of kPos positions from rc: S, Δ, B and the taps of the sources [rc − K + 1, rc + kPos)
  // (tap_k[s] at (x·kMaxConv + k)·32, x = s − rc + K − 1; 0 outside [src_begin, live_end)).
  auto stage = [&](int64_t rc, float* buf) {
    for (int e = tid; e < kPos * kLanes; e += G::kThreads) {
      const int w = e / kLanes, cc = e % kLanes;
      const int64_t r = rc + w, ch = c0 + cc;
      const bool ok = r < L && ch < E;
      const int64_t at = (seq * L + (ok ? r : 0)) * E + (ok ? ch : 0);
      CpAsync4(buf + G::kCs + e, p.cum_delta + at, ok);
      CpAsync4(buf + G::kLo + e, p.cum_delta_lo + at, ok);
      CpAsync4(buf + G::kDl + e, p.delta + at, ok);
    }
    for (int e = tid; e < kPos * kNs; e += G::kThreads) {
      const int w = e / kNs, n = e % kNs;
      const int64_t r = rc + w;
      const bool ok = n < N && r < L;
      CpAsync4(buf + G::kB + e, p.B + (ok ? (seq * L + r) * N + n : 0), ok);
    }
    for (int e = tid; e < G::kTapWin * K * kLanes; e += G::kThreads) {
      const int x = e / (K * kLanes), k = (e / kLanes) % K, cc = e % kLanes;
      const int64_t sv = rc - (K - 1) + x, ch = c0 + cc;
      const bool ok = sv >= src_begin && sv < live_end && ch < E;
      CpAsync4(buf + G::kTp + (x * kMaxConv + k) * kLanes + cc,
               p.taps + (ok ? ((seq * L + sv) * K + k) * E + ch : 0), ok);
    }
    CpAsyncCommit();
  };
  const int64_t n_chunks = (r_end - src_begin + kPos - 1) / kPos;
  stage(src_begin, stage_s);
  for (int64_t ci = 0; ci < n_chunks; ++ci) {
    const int64_t rc = src_begin + ci * kPos;
    float* buf = stage_s + (ci & 1) * G::kStage;
    const float* b_s = buf + G::kB;
    const float* cs_s = buf + G::kCs;
    const float* lo_s = buf + G::kLo;
    const float* dl_s = buf + G::kDl;
    const float* tp_s = buf + G::kTp;
    __syncthreads();  // chunk ci − 1 is consumed: its buffer and rf_s may be rewritten
    if (ci + 1 < n_chunks) {
      stage(rc + kPos, stage_s + ((ci + 1) & 1) * G::kStage);
      CpAsyncWait<1>();  // this thread's copies of chunk ci have landed
    } else {
      CpAsyncWait<0>();
    }
    __syncthreads();                      // ... and everyone's
    const int64_t far_n64 = pb - rc + 1;  // positions w < far_n lie at or before p
    const int far_n = far_n64 <= 0 ? 0 : (far_n64 >= kPos ? kPos : static_cast<int>(far_n64));
    if (far_n > 0) {
      for (int w = 0; w < far_n; ++w) {
        const float d = (sp_hi - cs_s[w * kLanes + lane]) + (sp_lo - lo_s[w * kLanes + lane]);
        float* dst = rf_s + (w * kLanes + lane) * G::kRfLd + kSt * warp;
#pragma unroll
        for (int q = 0; q < kSt; ++q) dst[q] = Exp2(a_rf[q] * d) * b_s[w * kNs + kSt * warp + q];
      }
      __syncthreads();
    }
    if (!live) continue;
#pragma unroll 1
    for (int w4 = 0; w4 < kPos; w4 += 4) {
#pragma unroll
      for (int ww = 0; ww < 4; ++ww) {
        const int w = w4 + ww;
        const int64_t r = rc + w;
        if (r <= rt.t_max) {
          float m[kRpt];
          if (w < far_n) {
            const float4* rf4 =
                reinterpret_cast<const float4*>(rf_s + (w * kLanes + lane) * G::kRfLd);
#pragma unroll
            for (int j = 0; j < kRpt; ++j) m[j] = 0.0f;
#pragma unroll
            for (int n4 = 0; n4 < kNs / 4; ++n4) {
              const float4 v = rf4[n4];
#pragma unroll
              for (int j = 0; j < kRpt; ++j) {
                m[j] += lf[j][4 * n4] * v.x + lf[j][4 * n4 + 1] * v.y + lf[j][4 * n4 + 2] * v.z +
                        lf[j][4 * n4 + 3] * v.w;
              }
            }
          } else {
            // Direct form from the tile's first row on.
            const float cs_r = cs_s[w * kLanes + lane], lo_r = lo_s[w * kLanes + lane];
#pragma unroll
            for (int j = 0; j < kRpt; ++j) {
              m[j] = 0.0f;
              if (r <= t[j]) {
                const float d = (st_hi[j] - cs_r) + (st_lo[j] - lo_r);
                const float* cq = c_s + (warp + kWarps * j) * kNs;
                for (int n = 0; n < N; ++n) {
                  m[j] += cq[n] * Exp2(a_s[lane * G::kALd + n] * d) * b_s[w * kNs + n];
                }
              }
            }
          }
          const float dl = dl_s[w * kLanes + lane];
#pragma unroll
          for (int j = 0; j < kRpt; ++j) {
            m[j] *= dl;
            if (r == t[j]) m[j] += d_skip;
          }
          // Position r feeds sources s = r − k through tap k (staged: 0 outside the range).
#pragma unroll
          for (int k = 0; k < K; ++k) {
            const float tap = tp_s[((w + K - 1 - k) * kMaxConv + k) * kLanes + lane];
#pragma unroll
            for (int j = 0; j < kRpt; ++j) acc[j][(ww - k) & 3] += m[j] * tap;
          }
        }
        // Source r − (K − 1) has all its taps.
        const int64_t s = r - (K - 1);
        if (s >= src_begin && s < live_end) {
#pragma unroll
          for (int j = 0; j < kRpt; ++j) {
            const int slot = (ww - (K - 1)) & 3;
            const float u = gain[j] * acc[j][slot];
            acc[j][slot] = 0.0f;
            total[j] += u;
            Store(p.out, p.out_type, out_row[j] + s * E, u);
          }
        }
      }
    }
  }
  if (live && p.u_sum != nullptr) {
#pragma unroll
    for (int j = 0; j < kRpt; ++j) {
      if (t[j] >= 0) {
        const int64_t i = tile * kTile + warp + kWarps * j;
        atomicAdd(p.u_sum + i * E + c, total[j]);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Mamba-2.
constexpr int kM2Warps = 8;                    // row groups; 2 rows per thread: q = warp, warp + 8
constexpr int kM2Threads = kLanes * kM2Warps;  // 256
constexpr int kSrc = 16;                       // sources per block
constexpr int kWin = kSrc + kMaxConv - 1;      // positions a block's sources reach
constexpr int kHeadChunk = 8;                  // heads whose M is in shared memory at once
static_assert(kTile == 2 * kM2Warps, "two rows per thread");

// This thread's two rows × the source tile [s0, s0 + kSrc) of channel c are all zero (above the
// diagonal or pads).
__device__ __forceinline__ void ZeroSources(const LatimContribParams& p, const int64_t (&i)[2],
                                            int64_t s0, int64_t c) {
  const int64_t S = p.src_begin + p.n_src, E = p.d_inner;
  const int n_s = static_cast<int>((s0 + kSrc < S ? s0 + kSrc : S) - s0);
#pragma unroll
  for (int rr = 0; rr < 2; ++rr) {
    const int64_t base = (i[rr] * p.n_src + s0 - p.src_begin) * E + c;
    for (int sl = 0; sl < n_s; ++sl) Store(p.out, p.out_type, base + sl * E, 0.0f);
  }
}

// For this thread's two rows: u_{t←s}[c] = g_t[c] · Σ_k m[s − s0 + k] · tap_k[s, c] over the
// block's sources (m = M[t, r, c] + δ D over the window, 0 past t), written out, and Σ_s u added to
// u_sum[i, c].
// tp: the block's taps staged in shared memory, tap_k[s0 + sl] of this lane's channel at
// (sl·kMaxConv + k)·kLanes (0 for k ≥ K).
__device__ __forceinline__ void Epilogue(const LatimContribParams& p, const float (&m)[2][kWin],
                                         const int64_t (&i)[2], const int (&t)[2], int64_t seq,
                                         int64_t s0, int64_t c, const float* tp) {
  const int64_t S = p.src_begin + p.n_src, E = p.d_inner, L = p.seq_len;
  const int n_s = static_cast<int>((s0 + kSrc < S ? s0 + kSrc : S) - s0);
  float gain[2], total[2] = {0.0f, 0.0f};
  int64_t out_base[2];
#pragma unroll
  for (int rr = 0; rr < 2; ++rr) {
    gain[rr] = t[rr] >= 0 ? p.gain[(seq * L + t[rr]) * E + c] : 0.0f;
    out_base[rr] = (i[rr] * p.n_src + s0 - p.src_begin) * E + c;
  }
  const int last[2] = {t[0] - static_cast<int>(s0), t[1] - static_cast<int>(s0)};
#pragma unroll
  for (int sl = 0; sl < kSrc; ++sl) {
    if (sl >= n_s) break;
    float tap[kMaxConv];
#pragma unroll
    for (int k = 0; k < kMaxConv; ++k) tap[k] = tp[(sl * kMaxConv + k) * kLanes];
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

// Mamba-2 smem (floats): taps [2][kSrc][kMaxConv][kLanes] (double-buffered per channel step) |
// CB [groups][kTile][kWin] | M [kHeadChunk][kTile][kWin] | B [kWin][N+1] | C [kTile][N+1];
// groups = the most a block's head range touches (≤ G).
constexpr int kM2Taps = kSrc * kMaxConv * kLanes;
__host__ __device__ inline int Mamba2SmemFloats(int64_t N, int64_t G) {
  return 2 * kM2Taps + static_cast<int>(G) * kTile * kWin + kHeadChunk * kTile * kWin +
         (kWin + kTile) * static_cast<int>(N + 1);
}

// grid: (row tiles, source tiles of kSrc, head splits of `heads_per_split` heads). C·B of the
// block's rows and window is formed once per group and reused by the group's heads.
__global__ void __launch_bounds__(kM2Threads, 2)
    Mamba2ContribKernel(const LatimContribParams p, int64_t heads_per_split) {
  extern __shared__ __align__(16) float smem[];
  const int tid = threadIdx.x, lane = tid % kLanes, warp = tid / kLanes;
  const int64_t tile = blockIdx.x, s0 = p.src_begin + static_cast<int64_t>(blockIdx.y) * kSrc;
  const int64_t E = p.d_inner, L = p.seq_len, G = p.n_groups, P = p.head_dim, H = p.units;
  const int N = static_cast<int>(p.d_state), ld = N + 1;
  const int64_t h_begin = static_cast<int64_t>(blockIdx.z) * heads_per_split;
  if (h_begin >= H) return;
  const int64_t h_end = h_begin + heads_per_split < H ? h_begin + heads_per_split : H;
  const int64_t ch_end = h_end * P;
  const RowTile rt = ReadTile(p, tile);
  const int64_t seq = rt.seq;
  const int64_t i[2] = {tile * kTile + warp, tile * kTile + warp + kM2Warps};
  const int t[2] = {p.row_pos[i[0]], p.row_pos[i[1]]};
  if (rt.t_max < s0) {  // above the diagonal (or all pads): zeros for every channel
    for (int64_t c = h_begin * P + lane; c < ch_end; c += kLanes) ZeroSources(p, i, s0, c);
    return;
  }
  const int64_t heads_per_group = H / G;
  const int64_t g_lo = h_begin / heads_per_group, g_hi = (h_end - 1) / heads_per_group;
  float* tp_s = smem;  // two buffers of kM2Taps
  float* cb_s = tp_s + 2 * kM2Taps;
  float* m_s = cb_s + (g_hi - g_lo + 1) * kTile * kWin;
  float* b_s = m_s + kHeadChunk * kTile * kWin;
  float* c_s = b_s + kWin * ld;
  // CB[g][q][w] = C[t_q, g] · B[s0 + w, g] for the causal entries (0 elsewhere).
  for (int64_t gr = g_lo; gr <= g_hi; ++gr) {
    for (int e = tid; e < kWin * N; e += kM2Threads) {
      const int w = e / N, n = e % N;
      const int64_t r = s0 + w;
      b_s[w * ld + n] = r < L ? p.B[((seq * L + r) * G + gr) * N + n] : 0.0f;
    }
    for (int e = tid; e < kTile * N; e += kM2Threads) {
      const int q = e / N, n = e % N;
      const int tq = p.row_pos[tile * kTile + q];
      c_s[q * ld + n] = tq >= 0 ? p.C[((seq * L + tq) * G + gr) * N + n] : 0.0f;
    }
    __syncthreads();
    for (int e = tid; e < kTile * kWin; e += kM2Threads) {
      const int q = e / kWin, w = e % kWin;
      const int tq = p.row_pos[tile * kTile + q];
      float cb = 0.0f;
      if (tq >= 0 && s0 + w <= tq) {
        for (int n = 0; n < N; ++n) cb += c_s[q * ld + n] * b_s[w * ld + n];
      }
      cb_s[(gr - g_lo) * kTile * kWin + e] = cb;
    }
    __syncthreads();
  }
  for (int64_t h0 = h_begin; h0 < h_end; h0 += kHeadChunk) {
    const int hc = static_cast<int>(h_end - h0 < kHeadChunk ? h_end - h0 : kHeadChunk);
    // M[h][q][w] = CB[g(h)] · exp(A[h]·(S_t − S_r)) · Δ[r, h] (+ D[h] on r = t).
    for (int e = tid; e < hc * kTile * kWin; e += kM2Threads) {
      const int64_t h = h0 + e / (kTile * kWin);
      const int q = (e / kWin) % kTile, w = e % kWin;
      const int tq = p.row_pos[tile * kTile + q];
      const int64_t r = s0 + w;
      float v = 0.0f;
      if (tq >= 0 && r <= tq) {
        const int64_t at = (seq * L + tq) * H + h, ar = (seq * L + r) * H + h;
        const float d =
            (p.cum_delta[at] - p.cum_delta[ar]) + (p.cum_delta_lo[at] - p.cum_delta_lo[ar]);
        v = cb_s[((h / heads_per_group - g_lo) * kTile + q) * kWin + w] *
            Exp2(p.A[h] * kLog2e * d) * p.delta[ar];
        if (r == tq) v += p.D[h];
      }
      m_s[e] = v;
    }
    __syncthreads();
    const int64_t c_stop = (h0 + hc) * P;
    int buf = 0;
    for (int64_t cs0 = h0 * P; cs0 < c_stop; cs0 += kLanes, buf ^= 1) {
      // Stage this step's taps (the other buffer may still be read by the previous step; the
      // barrier below orders every read of this buffer two steps ago before this write).
      float* tp = tp_s + buf * kM2Taps;
      const int K = static_cast<int>(p.d_conv);
      for (int e = tid; e < kM2Taps; e += kM2Threads) {
        const int sl = e / (kMaxConv * kLanes), k = (e / kLanes) % kMaxConv, cc = e % kLanes;
        const int64_t sv = s0 + sl, ch = cs0 + cc;
        const bool ok = k < K && sv < L && ch < c_stop;
        tp[e] = ok ? p.taps[((seq * L + sv) * K + k) * E + ch] : 0.0f;
      }
      __syncthreads();
      const int64_t c = cs0 + lane;
      if (c < c_stop) {
        const int64_t hh = c / P - h0;
        float m[2][kWin];
#pragma unroll
        for (int rr = 0; rr < 2; ++rr) {
          const int q = warp + rr * kM2Warps;
#pragma unroll
          for (int w = 0; w < kWin; ++w) m[rr][w] = m_s[(hh * kTile + q) * kWin + w];
        }
        Epilogue(p, m, i, t, seq, s0, c, tp + lane);
      }
    }
    __syncthreads();  // M and the tap buffers are rewritten for the next chunk of heads
  }
}

__global__ void LatimPairScoresKernel(const LatimPairScoreParams p) {
  const int lane = threadIdx.x % 32;
  const int64_t pair = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (pair >= p.rows * p.n_src) return;
  const int64_t i = pair / p.n_src, s = p.src_begin + pair % p.n_src, D = p.d_model;
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
    const int64_t at = p.out_slot != nullptr ? p.out_slot[i] * p.out_ld + s : pair;
    if (p.l1 != nullptr) p.l1[at] = l1;
    if (p.l2 != nullptr) p.l2[at] = sqrtf(l2);
    if (p.dist != nullptr) p.dist[pair] = dist;
  }
}

// One block per (batch, position): Δ, S hi/lo over the units, taps and gains over the channels.
__global__ void LatimPrepareKernel(const LatimPrepareParams p) {
  const int64_t row = blockIdx.x, b = row / p.seq_len, l = row % p.seq_len;
  const int64_t E = p.d_inner, K = p.d_conv;
  for (int64_t u = threadIdx.x; u < p.units; u += blockDim.x) {
    const int64_t o = row * p.units + u;
    p.delta_out[o] = Load(p.delta, p.delta_type, b * p.delta_sb + l * p.delta_sl + u);
    const double sum = p.cum[o];
    const float hi = __double2float_rn(sum);
    p.cum_hi[o] = hi;
    p.cum_lo[o] = __double2float_rn(sum - static_cast<double>(hi));
  }
  for (int64_t c = threadIdx.x; c < E; c += blockDim.x) {
    const float x = Load(p.x_in, p.x_type, b * p.x_sb + l * p.x_sl + c);
    for (int64_t k = 0; k < K; ++k) {
      float phi = x * p.conv_w[c * K + (K - 1 - k)];
      if (k == 0 && p.conv_b != nullptr) phi += p.conv_b[c];
      float tap = phi;
      if (p.activation == kTapSilu) {
        tap = phi / (1.0f + expf(-phi));
      } else if (p.activation == kTapRelu) {
        tap = phi > 0.0f ? phi : 0.0f;
      }
      p.taps[(row * K + k) * E + c] = tap;
    }
    const float z = Load(p.gate, p.gate_type, b * p.gate_sb + l * p.gate_sl + c);
    float g = z / (1.0f + expf(-z));
    if (p.rstd != nullptr) {
      g = g * Load(p.rstd, p.rstd_type, b * p.rstd_sb + l * p.rstd_sl + c / p.norm_group);
      g = g * p.gamma[c];
    }
    p.gain[row * E + c] = g;
  }
}

// One warp per slot.
__global__ void LatimRowErrorsKernel(const LatimRowErrorParams p) {
  const int lane = threadIdx.x % 32;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (i >= p.slots) return;
  const int64_t b = p.slot_b[i], t = p.slot_t[i];
  float num = 0.0f, den = 0.0f;
  if (b >= 0 && b < p.batch) {
    for (int64_t d = lane; d < p.d_model; d += 32) {
      const float y = Load(p.y, p.y_type, b * p.y_sb + t * p.y_sl + d);
      const float diff = p.sum_t[i * p.d_model + d] - (y - (p.bias != nullptr ? p.bias[d] : 0.0f));
      num += diff * diff;
      den += y * y;
    }
  }
#pragma unroll
  for (int off = 16; off > 0; off /= 2) {
    num += __shfl_xor_sync(0xffffffffu, num, off);
    den += __shfl_xor_sync(0xffffffffu, den, off);
  }
  if (lane == 0) {
    p.err[i] = num;
    p.err[p.slots + i] = den;
  }
}

// Blocks to aim for so that every SM has work (splits are only made when the natural grid is
// smaller: few rows, as for last-row requests).
int TargetBlocks() {
  static const int sms = [] {
    int device = 0, count = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
      return 108;
    }
    return count;
  }();
  return 4 * sms;
}

template <int K, int kNs>
cudaError_t LaunchMamba1(const LatimContribParams& p, cudaStream_t stream) {
  using G = M1Geometry<kNs>;
  const int64_t row_tiles = p.rows / kTile, chan_tiles = (p.d_inner + kLanes - 1) / kLanes;
  const int64_t base = row_tiles * chan_tiles;
  int64_t splits = (TargetBlocks() + base - 1) / base;
  const int64_t max_splits = (p.n_src + 63) / 64;  // at least 64 sources per block
  splits = splits < 1 ? 1 : (splits > max_splits ? max_splits : splits);
  int64_t span = (p.n_src + splits - 1) / splits;
  span = (span + G::kPos - 1) / G::kPos * G::kPos;  // chunks stay aligned to the ring
  splits = (p.n_src + span - 1) / span;
  const int bytes = G::kFloats * static_cast<int>(sizeof(float));
  cudaError_t err = cudaFuncSetAttribute(Mamba1ContribKernel<K, kNs>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  if (err != cudaSuccess) return err;
  const dim3 grid(static_cast<unsigned>(row_tiles), static_cast<unsigned>(chan_tiles),
                  static_cast<unsigned>(splits));
  Mamba1ContribKernel<K, kNs><<<grid, G::kThreads, bytes, stream>>>(p, span);
  return cudaGetLastError();
}

template <int K>
cudaError_t LaunchMamba1States(const LatimContribParams& p, cudaStream_t stream) {
  if (p.d_state <= 16) return LaunchMamba1<K, 16>(p, stream);
  if (p.d_state <= 32) return LaunchMamba1<K, 32>(p, stream);
  return LaunchMamba1<K, 64>(p, stream);
}

}  // namespace

cudaError_t LaunchLatimContributions(const LatimContribParams& p, cudaStream_t stream) {
  if (!LatimContribCudaSupports(p.mamba2, p.d_state, p.d_conv) || p.rows % kTile != 0 ||
      p.rows <= 0 || p.n_src <= 0 || p.src_begin < 0 || p.src_begin + p.n_src > p.seq_len ||
      p.head_dim <= 0 || p.n_groups <= 0 || p.units % p.n_groups != 0 || p.taps == nullptr ||
      (p.mamba2 && p.n_groups > 16)) {
    return cudaErrorInvalidValue;
  }
  if (p.mamba2) {
    const int64_t row_tiles = p.rows / kTile, src_tiles = (p.n_src + kSrc - 1) / kSrc;
    const int64_t base = row_tiles * src_tiles;
    int64_t splits = (TargetBlocks() + base - 1) / base;
    splits = splits < 1 ? 1 : (splits > p.units ? p.units : splits);
    const int64_t heads_per_split = (p.units + splits - 1) / splits;
    splits = (p.units + heads_per_split - 1) / heads_per_split;
    const int bytes = Mamba2SmemFloats(p.d_state, p.n_groups) * static_cast<int>(sizeof(float));
    cudaError_t err = cudaFuncSetAttribute(Mamba2ContribKernel,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    if (err != cudaSuccess) return err;
    const dim3 grid(static_cast<unsigned>(row_tiles), static_cast<unsigned>(src_tiles),
                    static_cast<unsigned>(splits));
    Mamba2ContribKernel<<<grid, kM2Threads, bytes, stream>>>(p, heads_per_split);
    return cudaGetLastError();
  }
  switch (p.d_conv) {
    case 1:
      return LaunchMamba1States<1>(p, stream);
    case 2:
      return LaunchMamba1States<2>(p, stream);
    case 3:
      return LaunchMamba1States<3>(p, stream);
    default:
      return LaunchMamba1States<4>(p, stream);
  }
}

cudaError_t LaunchLatimPairScores(const LatimPairScoreParams& p, cudaStream_t stream) {
  if (p.rows <= 0 || p.n_src <= 0 || p.src_begin < 0 || p.d_model <= 0) {
    return cudaErrorInvalidValue;
  }
  constexpr int kWarps = 8;
  const int64_t pairs = p.rows * p.n_src;
  const unsigned blocks = static_cast<unsigned>((pairs + kWarps - 1) / kWarps);
  LatimPairScoresKernel<<<blocks, kWarps * 32, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchLatimPrepare(const LatimPrepareParams& p, cudaStream_t stream) {
  if (p.batch <= 0 || p.seq_len <= 0 || p.d_inner <= 0 || p.units <= 0 || p.d_conv <= 0 ||
      p.norm_group <= 0 || (p.rstd != nullptr && p.gamma == nullptr)) {
    return cudaErrorInvalidValue;
  }
  const int64_t rows = p.batch * p.seq_len;
  if (rows > 0x7fffffff) return cudaErrorInvalidValue;
  LatimPrepareKernel<<<static_cast<unsigned>(rows), 256, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchLatimRowErrors(const LatimRowErrorParams& p, cudaStream_t stream) {
  if (p.slots <= 0 || p.d_model <= 0) return cudaErrorInvalidValue;
  constexpr int kWarps = 8;
  const unsigned blocks = static_cast<unsigned>((p.slots + kWarps - 1) / kWarps);
  LatimRowErrorsKernel<<<blocks, kWarps * 32, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace mamba_explain
