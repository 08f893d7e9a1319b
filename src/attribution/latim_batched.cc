// Batched LaTIM layer (latim_batched.h). Per layer: the traced tensors of the whole padded batch
// are prepared once (Δ and its prefix sums, taps' inputs, gate gains); per row block the kernels
// give u_{t←s} ([Rb, S, E], eqs. 20–21), Σ_s u → Σ_s T_t(x_s) for the decomposition error and
// ALTI's y_t, the ALTI-Logit dot products u · (W_outᵀ U_eff,t) (eq. 7, never forming T), and — only
// when ℓ1/ℓ2/ALTI need it — T = W_out u ([Rb, S, D], eqs. 22/25) reduced at once to the pair
// scores. Memory per block ≈ Rb·S·(E·|u| + D·|T| + 16) bytes, kept under the budget.
#include "attribution/latim_batched.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/latim_kernels.h"

#ifdef ME_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#endif

namespace mamba_explain {
namespace {

// ME_LATIM_PROFILE stage clock (latim_batched.h).
struct Profile {
  std::mutex mu;
  std::map<std::string, double> ms;
};
Profile& GlobalProfile() {
  static Profile* p = new Profile();
  return *p;
}
bool Profiling() {
  static const bool on = [] {
    const char* v = std::getenv("ME_LATIM_PROFILE");
    return v != nullptr && std::string(v) == "1";
  }();
  return on;
}
class StageClock {
 public:
  explicit StageClock(torch::Device device) : device_(device) { Mark(nullptr); }
  // Charges the time since the previous mark to `stage`.
  void Mark(const char* stage) {
    if (!Profiling()) return;
    if (device_.is_cuda()) torch::cuda::synchronize();
    const auto now = std::chrono::steady_clock::now();
    if (stage != nullptr) {
      std::lock_guard<std::mutex> lock(GlobalProfile().mu);
      GlobalProfile().ms[stage] += std::chrono::duration<double, std::milli>(now - last_).count();
    }
    last_ = now;
  }

 private:
  torch::Device device_;
  std::chrono::steady_clock::time_point last_;
};

int TapCode(Activation f) {
  switch (f) {
    case Activation::kSilu:
      return kTapSilu;
    case Activation::kRelu:
      return kTapRelu;
    case Activation::kIdentity:
      return kTapIdentity;
  }
  return kTapSilu;
}

LatimLayerTensors PrepareBatchedLayer(const LayerTrace& tr, const LayerWeights& w,
                                      const ModelConfig& cfg, Activation f) {
  const int64_t E = cfg.d_inner;
  auto f32 = [](const torch::Tensor& t) { return t.to(torch::kFloat32); };
  LatimLayerTensors in;
  in.mamba2 = cfg.arch == Architecture::kMamba2;
  in.head_dim = in.mamba2 ? cfg.head_dim : 1;
  in.activation = TapCode(f);
  in.A = -torch::exp(f32(w.A_log));
  in.B = f32(tr.B).contiguous();
  in.C = f32(tr.C).contiguous();
  in.D = f32(w.D).contiguous();
  // Only the x channels of the conv are decomposed (for Mamba-2, B and C belong to M); Mamba-2's
  // gated RMSNorm is frozen at the forward's statistics and grouping (eqs. 24–25).
  LatimTraceTensors trace;
  trace.delta = tr.delta;
  trace.x_in = tr.conv_in.narrow(2, 0, E);
  trace.gate = tr.gate;
  trace.conv_w = w.conv_w.narrow(0, 0, E).reshape({E, -1});
  if (w.conv_b.defined()) trace.conv_b = w.conv_b.narrow(0, 0, E);
  if (in.mamba2) {
    trace.norm_rstd = tr.norm_rstd;
    trace.gated_norm = w.gated_norm;
  }
  MakeLatimInputs(trace, in);
  return in;
}

// kLatimRowTile consecutive compute rows of one sequence.
struct Tile {
  int64_t seq = 0;
  int64_t begin = 0, end = 0;  // index range into that sequence's compute rows
  int64_t last = 0;            // largest row (rows ascend)
};

struct Block {
  std::vector<Tile> tiles;
  int64_t n_src = 0;
};

// Packs tiles (sorted by their last row) into blocks: each block holds at most `max_pairs`
// (row, source) pairs unless one tile alone needs more, and stops growing once more than a
// sixteenth of its pairs would lie above the diagonal (unless it is still small), so that the
// triangular work is not paid twice.
std::vector<Block> PackBlocks(std::vector<Tile> tiles,
                              const std::vector<std::vector<int64_t>>& compute_rows,
                              int64_t max_pairs) {
  std::stable_sort(tiles.begin(), tiles.end(),
                   [](const Tile& a, const Tile& b) { return a.last < b.last; });
  constexpr int64_t kSmallPairs = int64_t{1} << 15;
  std::vector<Block> blocks;
  Block cur;
  int64_t live = 0;  // Σ (t + 1) over the block's rows: pairs on or below the diagonal
  for (const Tile& tile : tiles) {
    int64_t tile_live = 0;
    for (int64_t k = tile.begin; k < tile.end; ++k) tile_live += compute_rows[tile.seq][k] + 1;
    const int64_t n_src = std::max(cur.n_src, tile.last + 1);
    const int64_t rows = static_cast<int64_t>(cur.tiles.size() + 1) * kLatimRowTile;
    const int64_t pairs = rows * n_src;
    const bool fits =
        pairs <= max_pairs && (pairs <= kSmallPairs || 16 * (pairs - live - tile_live) <= pairs);
    if (!cur.tiles.empty() && !fits) {
      blocks.push_back(std::move(cur));
      cur = Block();
      live = 0;
    }
    cur.tiles.push_back(tile);
    cur.n_src = std::max(cur.n_src, tile.last + 1);
    live += tile_live;
  }
  if (!cur.tiles.empty()) blocks.push_back(std::move(cur));
  return blocks;
}

}  // namespace

// See latim_batched.h (LatimPlanCache).
struct LatimBlockPlan {
  struct BlockIndex {
    int64_t rows = 0, n_src = 0;     // Rb, S
    int64_t n_real = 0;              // rows that are not pads
    bool any_reported = false;       // some row is reported (else the block only feeds ALTI-Logit)
    bool compact = false;            // contract only the real rows (few real rows, no ALTI)
    std::vector<int64_t> seq_begin;  // [Bt + 1]: rows of sequence b are grouped[seq_begin[b]..)
    torch::Tensor row_seq, row_pos;  // int32 [Rb] (pads: position −1)
    torch::Tensor b_idx, t_idx;      // int64 [Rb] (pads: 0, 0)
    torch::Tensor slot;              // int64 [Rb] output slot, the trash slot if not reported
    torch::Tensor grouped;           // int64 [Rb] real rows grouped by sequence, then 0s
    torch::Tensor keep;              // int64 [n_real] = grouped[:n_real]
    torch::Tensor pos_kept, slot_kept;  // row_pos / slot of the rows contracted
  };
  int64_t q_max = 1;
  std::vector<BlockIndex> blocks;
  torch::Tensor slot_b, slot_t;  // int64 [slots]: sequence (Bt for unused slots) and row
};

namespace {

// Plans the row blocks of a layer for `states` (see PackBlocks): all index arrays are made on the
// host and cross to the device in one asynchronous copy.
std::shared_ptr<const LatimBlockPlan> MakeBlockPlan(const std::vector<LatimSequenceState>& states,
                                                    const LatimLayerPlan& lp, int64_t max_pairs,
                                                    bool need_alti, torch::Device device) {
  auto plan = std::make_shared<LatimBlockPlan>();
  const int64_t Bt = static_cast<int64_t>(states.size());
  std::vector<std::vector<int64_t>> compute_rows(Bt);
  std::vector<std::vector<int64_t>> report_index(Bt);  // [n] → position in rows, or −1
  std::vector<Tile> tiles;
  for (int64_t b = 0; b < Bt; ++b) {
    const LatimSequenceState& st = states[b];
    plan->q_max = std::max<int64_t>(plan->q_max, st.rows.size());
    compute_rows[b] = LatimComputeRows(st.rows, lp);
    report_index[b].assign(st.n, -1);
    for (size_t q = 0; q < st.rows.size(); ++q) report_index[b][st.rows[q]] = q;
    const int64_t count = static_cast<int64_t>(compute_rows[b].size());
    for (int64_t k = 0; k < count; k += kLatimRowTile) {
      const int64_t end = std::min<int64_t>(count, k + kLatimRowTile);
      tiles.push_back({b, k, end, compute_rows[b][end - 1]});
    }
  }
  const int64_t q_max = plan->q_max, slots = Bt * q_max + 1, trash = Bt * q_max;
  const std::vector<Block> blocks = PackBlocks(std::move(tiles), compute_rows, max_pairs);

  // One host array: per block [seq | pos | b | t | slot | grouped] (Rb each), then [slot_b |
  // slot_t].
  int64_t total = 2 * slots;
  for (const Block& blk : blocks)
    total += 6 * static_cast<int64_t>(blk.tiles.size()) * kLatimRowTile;
  torch::Tensor host = torch::empty(
      {total}, torch::TensorOptions().dtype(torch::kLong).pinned_memory(device.is_cuda()));
  int64_t* h = host.data_ptr<int64_t>();
  std::vector<int64_t> offsets;
  int64_t at = 0;
  for (const Block& blk : blocks) {
    LatimBlockPlan::BlockIndex bi;
    const int64_t Rb = static_cast<int64_t>(blk.tiles.size()) * kLatimRowTile;
    bi.rows = Rb;
    bi.n_src = blk.n_src;
    int64_t* h_seq = h + at;
    int64_t* h_pos = h_seq + Rb;
    int64_t* h_b = h_seq + 2 * Rb;
    int64_t* h_t = h_seq + 3 * Rb;
    int64_t* h_slot = h_seq + 4 * Rb;
    int64_t* h_grouped = h_seq + 5 * Rb;
    bi.seq_begin.assign(Bt + 1, 0);
    for (size_t k = 0; k < blk.tiles.size(); ++k) {
      const Tile& tile = blk.tiles[k];
      for (int64_t j = 0; j < kLatimRowTile; ++j) {
        const int64_t i = static_cast<int64_t>(k) * kLatimRowTile + j;
        const bool real = tile.begin + j < tile.end;
        const int64_t t = real ? compute_rows[tile.seq][tile.begin + j] : -1;
        h_seq[i] = tile.seq;
        h_pos[i] = t;
        h_b[i] = real ? tile.seq : 0;
        h_t[i] = real ? t : 0;
        const int64_t q = real ? report_index[tile.seq][t] : -1;
        h_slot[i] = q >= 0 ? tile.seq * q_max + q : trash;
        bi.any_reported |= q >= 0;
        if (real) ++bi.seq_begin[tile.seq + 1];
      }
    }
    for (int64_t b = 0; b < Bt; ++b) bi.seq_begin[b + 1] += bi.seq_begin[b];
    std::vector<int64_t> fill(bi.seq_begin.begin(), bi.seq_begin.end() - 1);
    for (int64_t i = 0; i < Rb; ++i) {
      if (h_pos[i] >= 0) h_grouped[fill[h_seq[i]]++] = i;
    }
    bi.n_real = bi.seq_begin[Bt];
    for (int64_t i = bi.n_real; i < Rb; ++i) h_grouped[i] = 0;
    bi.compact = !need_alti && 2 * bi.n_real <= Rb;
    offsets.push_back(at);
    at += 6 * Rb;
    plan->blocks.push_back(std::move(bi));
  }
  int64_t* h_slot_b = h + at;
  int64_t* h_slot_t = h_slot_b + slots;
  for (int64_t k = 0; k < slots; ++k) {
    h_slot_b[k] = Bt;
    h_slot_t[k] = 0;
  }
  for (int64_t b = 0; b < Bt; ++b) {
    for (size_t q = 0; q < states[b].rows.size(); ++q) {
      h_slot_b[b * q_max + q] = b;
      h_slot_t[b * q_max + q] = states[b].rows[q];
    }
  }
  torch::Tensor dev = device.is_cuda() ? host.to(device, /*non_blocking=*/true) : host;
  for (size_t k = 0; k < plan->blocks.size(); ++k) {
    LatimBlockPlan::BlockIndex& bi = plan->blocks[k];
    const int64_t Rb = bi.rows, o = offsets[k];
    bi.row_seq = dev.narrow(0, o, Rb).to(torch::kInt);
    bi.row_pos = dev.narrow(0, o + Rb, Rb).to(torch::kInt);
    bi.b_idx = dev.narrow(0, o + 2 * Rb, Rb);
    bi.t_idx = dev.narrow(0, o + 3 * Rb, Rb);
    bi.slot = dev.narrow(0, o + 4 * Rb, Rb);
    bi.grouped = dev.narrow(0, o + 5 * Rb, Rb);
    bi.keep = bi.grouped.narrow(0, 0, bi.n_real);
    bi.pos_kept = bi.compact ? bi.row_pos.index_select(0, bi.keep) : bi.row_pos;
    bi.slot_kept = bi.compact ? bi.slot.index_select(0, bi.keep) : bi.slot;
  }
  plan->slot_b = dev.narrow(0, at, slots);
  plan->slot_t = dev.narrow(0, at + slots, slots);
  return plan;
}

// A device tensor's host copy, enqueued without waiting (valid after the pending layer's wait).
torch::Tensor ToHostAsync(const torch::Tensor& t) {
  if (!t.defined() || !t.is_cuda()) return t;
  torch::Tensor h = torch::empty(t.sizes(), t.options().device(torch::kCPU).pinned_memory(true));
  return h.copy_(t, /*non_blocking=*/true);
}

// Blocks until the work enqueued so far on `device`'s current stream is done (nothing on the CPU).
std::function<void()> MakeWait(torch::Device device) {
#ifdef ME_WITH_CUDA
  if (device.is_cuda()) {
    auto event = std::make_shared<at::cuda::CUDAEvent>();
    event->record(at::cuda::getCurrentCUDAStream(device.index()));
    return [event] { event->synchronize(); };
  }
#endif
  (void)device;
  return nullptr;
}

}  // namespace

bool HasScore(const std::vector<LatimScore>& scores, LatimScore s) {
  return std::find(scores.begin(), scores.end(), s) != scores.end();
}

LatimLayerPlan PlanLatimLayer(const std::vector<LatimScore>& scores, bool report_layer,
                              bool alti_logit, int layer, int n_layers) {
  LatimLayerPlan plan;
  plan.want_l1 = report_layer && HasScore(scores, LatimScore::kL1);
  plan.want_l2 = report_layer && HasScore(scores, LatimScore::kL2);
  plan.want_alti = report_layer && HasScore(scores, LatimScore::kAlti);
  plan.need_p = alti_logit && layer < n_layers - 1;
  plan.need_alti = plan.want_alti || plan.need_p;
  plan.need_t = plan.want_l1 || plan.want_l2 || plan.need_alti;
  return plan;
}

std::vector<int64_t> LatimComputeRows(const std::vector<int64_t>& rows,
                                      const LatimLayerPlan& plan) {
  if (!plan.need_p) return rows;
  std::vector<int64_t> all(rows.back() + 1);
  for (int64_t t = 0; t <= rows.back(); ++t) all[t] = t;
  return all;
}

std::string LatimBatchedProfile() {
  std::lock_guard<std::mutex> lock(GlobalProfile().mu);
  std::string out;
  for (const auto& [stage, ms] : GlobalProfile().ms) {
    out += absl::StrCat(out.empty() ? "" : ", ", stage, " ", static_cast<int64_t>(ms * 10) / 10.0,
                        " ms");
  }
  GlobalProfile().ms.clear();
  return out;
}

AttributionResult LatimResult(LatimScore score, int layer, int64_t seq,
                              const std::vector<int64_t>& rows, const torch::Tensor& matrix,
                              int64_t columns, double approx_error) {
  AttributionResult r = NewResult(LatimScoreMethod(score), layer, seq);
  r.rows = rows;
  r.columns = columns;
  torch::Tensor cpu = matrix.narrow(1, 0, columns).to(torch::kCPU, torch::kFloat32).contiguous();
  r.matrix.assign(cpu.data_ptr<float>(), cpu.data_ptr<float>() + cpu.numel());
  r.approx_error = approx_error;
  return r;
}

absl::Status EmitLatimLayerScores(const std::vector<LatimScore>& scores,
                                  const LatimLayerScores& matrices, int layer, int64_t seq,
                                  const std::vector<int64_t>& rows, int64_t columns, double err,
                                  const ResultCallback& callback) {
  for (LatimScore s : scores) {
    const torch::Tensor* m = s == LatimScore::kL1     ? &matrices.l1
                             : s == LatimScore::kL2   ? &matrices.l2
                             : s == LatimScore::kAlti ? &matrices.alti
                                                      : nullptr;
    if (m == nullptr || !m->defined()) continue;
    if (!callback(LatimResult(s, layer, seq, rows, *m, columns, err))) {
      return absl::CancelledError("cancelled by the result consumer");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<LatimPendingLayer> LaunchLatimLayerBatched(
    const MambaModel& model, const LayerTrace& tr, int layer, bool report_layer, bool alti_logit,
    std::vector<LatimSequenceState>& states, const LatimOptions& options, LatimPlanCache& plans) {
  const ModelConfig& cfg = model.config();
  const LayerWeights& weights = model.weights().layers[layer];
  const int64_t E = cfg.d_inner, D = cfg.d_model, Bt = static_cast<int64_t>(states.size());
  const int64_t L = tr.mixer_out.size(1);
  const auto& scores = options.scores;
  const LatimLayerPlan lp =
      PlanLatimLayer(scores, report_layer, alti_logit, layer, static_cast<int>(cfg.n_layers));
  const bool want_l1 = lp.want_l1, want_l2 = lp.want_l2, want_alti = lp.want_alti;
  const bool need_p = lp.need_p, need_alti = lp.need_alti, need_t = lp.need_t;
  const bool bf16 = options.precision == Precision::kBf16;
  const torch::ScalarType dtype = bf16 ? torch::kBFloat16 : torch::kFloat32;
  const torch::Device device = tr.mixer_out.device();

  StageClock clock(device);
  LatimLayerTensors in = PrepareBatchedLayer(tr, weights, cfg, options.activation);
  auto f32 = in.gain.options();
  auto i64 = f32.dtype(torch::kLong);
  torch::Tensor w_out = weights.out_proj_w.to(torch::kFloat32);  // [D, E]
  torch::Tensor w_out_lp = weights.out_proj_w.to(dtype);
  clock.Mark("prepare");

  const int64_t u_size = bf16 ? 2 : 4;
  const int64_t per_pair = E * u_size + (need_t ? D * 4 : 0) + 32;
  const int64_t max_pairs = std::max<int64_t>(options.memory_budget_bytes / per_pair, 1);
  const std::tuple<bool, int64_t, bool> key{need_p, max_pairs, need_alti};
  std::shared_ptr<const LatimBlockPlan>& cached = plans[key];
  if (!cached) cached = MakeBlockPlan(states, lp, max_pairs, need_alti, device);
  const LatimBlockPlan& plan = *cached;
  const int64_t q_max = plan.q_max;
  clock.Mark("plan");

  // Per-layer outputs, padded [Bt·Q_max + 1, L]: slot b·Q_max + q holds row q of sequence b, and
  // the last slot is a trash row for computed rows that are not reported, so that a whole block
  // is placed at once.
  const int64_t slots = Bt * q_max + 1;
  torch::Tensor l1, l2, alti, logit_delta;
  if (want_l1) l1 = torch::zeros({slots, L}, f32);
  if (want_l2) l2 = torch::zeros({slots, L}, f32);
  if (want_alti) alti = torch::zeros({slots, L}, f32);
  std::vector<torch::Tensor> rollout_next(Bt);
  torch::Tensor u_tilde;  // ALTI-Logit: [slots, E] U_eff,t W_out per reported row, 0 in the trash
  if (alti_logit) {
    logit_delta = torch::zeros({slots, L}, f32);
    u_tilde = torch::zeros({slots, E}, f32);
    for (int64_t b = 0; b < Bt; ++b) {
      LatimSequenceState& st = states[b];
      const int64_t Q = static_cast<int64_t>(st.rows.size());
      u_tilde.narrow(0, b * q_max, Q).copy_(torch::matmul(st.u_eff, w_out));
      if (need_p && st.rollout.defined()) rollout_next[b] = torch::zeros({Q, st.n}, f32);
    }
    u_tilde = u_tilde.to(dtype);
  }
  // Σ_s T_t(x_s) of every reported row, for the decomposition error after the blocks.
  torch::Tensor sum_rows = torch::zeros({slots, D}, f32);
  clock.Mark("outputs");

  for (const LatimBlockPlan::BlockIndex& blk : plan.blocks) {
    RETURN_IF_ERROR(options.cancel.CheckAny(Bt));
    const int64_t Rb = blk.rows, S = blk.n_src;
    LatimRowBlock rb;
    rb.row_seq = blk.row_seq;
    rb.row_pos = blk.row_pos;
    rb.n_src = S;

    // A block too large for the budget holds one tile alone (a long row): its sources are then
    // taken in windows, so u and T scale with the window, not with N. ALTI needs y_t (all
    // sources) before any pair score, so it keeps one window.
    const int64_t window =
        need_alti || Rb * S <= max_pairs ? S : std::max<int64_t>(max_pairs / Rb, kLatimRowTile);
    // A block of few real rows (a last row pads its tile with 15) contracts only those: the
    // W_out GEMM and T shrink by the padding (ALTI keeps the block's shape for its row algebra).
    const int64_t R = blk.compact ? blk.n_real : Rb;
    const bool put_l1 = want_l1 && blk.any_reported, put_l2 = want_l2 && blk.any_reported;
    LatimScoreSink sink;
    sink.slot = blk.slot_kept;
    sink.l1 = l1;
    sink.l2 = l2;
    // Scores of the window's T: ℓ1/ℓ2 straight into the layer's matrices, the ALTI distance back.
    auto score = [&](const torch::Tensor& u_block, int64_t s0, int64_t n, const torch::Tensor& y,
                     const torch::Tensor& resid) {
      const torch::Tensor u = blk.compact ? u_block.index_select(0, blk.keep) : u_block;
      torch::Tensor T = LatimGemm(u.view({R * n, E}), w_out_lp, options.precision, torch::kFloat32)
                            .view({R, n, D});
      clock.Mark("w_out gemm");
      LatimPairScores ps =
          ComputeLatimPairScores(T, blk.pos_kept, y, resid, put_l1, put_l2, need_alti, s0, &sink);
      clock.Mark("pair scores");
      return ps;
    };
    torch::Tensor u_sum;   // [Rb, E] fp32, Σ over every window
    torch::Tensor u_alti;  // the one window's u, scored once y_t is known
    for (int64_t s0 = 0; s0 < S; s0 += window) {
      rb.src_begin = s0;
      rb.n_src = std::min(window, S - s0);
      const int64_t n = rb.n_src;
      torch::Tensor part_sum;
      torch::Tensor u = LatimContributions(in, rb, dtype, &part_sum);  // [Rb, n, E]
      u_sum = u_sum.defined() ? u_sum.add_(part_sum) : part_sum;
      clock.Mark("contributions");
      if (alti_logit && blk.any_reported) {
        // Δ^(l)_{t,s} = u_{t←s} · (W_outᵀ U_eff,t) (eq. 7), fp32 accumulation, never forming T.
        torch::Tensor ut = u_tilde.index_select(0, blk.slot).unsqueeze(-1);  // [Rb, E, 1]
        torch::Tensor d = torch::bmm(u, ut).squeeze(-1).to(torch::kFloat32);
        logit_delta.narrow(1, s0, n).index_copy_(0, blk.slot, d);
      }
      // T in fp32 in every mode: bf16 rounds u once, not T as well (the ALTI distances and the
      // ranks of near-equal norms keep fp32 resolution).
      if (need_t && need_alti) u_alti = u;
      if (need_t && !need_alti) score(u, s0, n, torch::Tensor(), torch::Tensor());
    }
    // Σ_s T_t(x_s) [Rb, D] in fp32 in every mode: it is small, and ALTI's y_t and the
    // decomposition error hang on it.
    torch::Tensor sum_t = LatimGemm(u_sum, w_out, Precision::kFp32);
    if (blk.any_reported) sum_rows.index_copy_(0, blk.slot, sum_t);
    clock.Mark("sum+logit");
    if (!need_alti) continue;
    // ALTI with the residual (eq. 6): y_t = x_t + Σ_s T_t(x_s); T'_t(x_t) = T_t(x_t) + x_t.
    torch::Tensor resid = tr.residual_in.index({blk.b_idx, blk.t_idx}).to(torch::kFloat32);
    torch::Tensor y = resid + sum_t;
    LatimPairScores ps = score(u_alti, 0, S, y, resid);
    u_alti = torch::Tensor();
    torch::Tensor sources = torch::arange(S, i64).unsqueeze(0);
    torch::Tensor pos = blk.row_pos.to(torch::kLong).unsqueeze(1);
    torch::Tensor causal = ((sources <= pos) & (pos >= 0)).to(torch::kFloat32);  // [Rb, S]
    torch::Tensor p = (y.abs().sum(-1, true) - ps.dist).clamp_min(0) * causal;
    torch::Tensor total = p.sum(-1, true);
    // An all-zero row (nothing moves y closer than 0) puts all mass on the token itself.
    torch::Tensor empty = (total.squeeze(1) <= 0) & (pos.squeeze(1) >= 0);
    p = p / torch::where(total > 0, total, torch::ones_like(total));
    torch::Tensor rows = torch::arange(Rb, i64);
    p.index_put_({rows, blk.t_idx},
                 torch::where(empty, torch::ones({Rb}, f32), p.index({rows, blk.t_idx})));
    if (want_alti && blk.any_reported) alti.narrow(1, 0, S).index_copy_(0, blk.slot, p);
    if (need_p) {
      // Horner step of eq. 8: c ← c · P^(l) (+ Δ^(l) after the blocks), per sequence of the
      // block over the columns of P that are its rows.
      for (int64_t b = 0; b < Bt; ++b) {
        const int64_t count = blk.seq_begin[b + 1] - blk.seq_begin[b];
        if (count == 0 || !rollout_next[b].defined()) continue;
        torch::Tensor rows_b = blk.grouped.narrow(0, blk.seq_begin[b], count);
        const int64_t cols = std::min(S, states[b].n);
        torch::Tensor c_cols = states[b].rollout.index_select(1, blk.t_idx.index_select(0, rows_b));
        torch::Tensor p_rows = p.index_select(0, rows_b).narrow(1, 0, cols);
        rollout_next[b].narrow(1, 0, cols).add_(torch::matmul(c_cols, p_rows));
      }
    }
    clock.Mark("alti+rollout");
  }

  // Decomposition error terms per slot: ‖Σ_s T_t(x_s) − (y_t − b)‖², ‖y_t‖² (summed per sequence
  // on the host).
  torch::Tensor err =
      LatimRowErrors(sum_rows, plan.slot_b, plan.slot_t, tr.mixer_out, weights.out_proj_b);
  if (alti_logit) {
    // The rollout stays on the device: the next layer (below) may be launched at once.
    for (int64_t b = 0; b < Bt; ++b) {
      LatimSequenceState& st = states[b];
      const int64_t Q = static_cast<int64_t>(st.rows.size());
      torch::Tensor delta_b = logit_delta.narrow(0, b * q_max, Q).narrow(1, 0, st.n);
      st.rollout = rollout_next[b].defined() ? rollout_next[b].add_(delta_b) : delta_b.clone();
    }
  }
  // Results cross to the host through pinned buffers, asynchronously (one copy per score).
  LatimPendingLayer pending;
  pending.layer = layer;
  pending.alti_logit = alti_logit;
  pending.q_max = q_max;
  pending.host.l1 = ToHostAsync(l1);
  pending.host.l2 = ToHostAsync(l2);
  pending.host.alti = ToHostAsync(alti);
  pending.err = ToHostAsync(err);
  pending.wait = MakeWait(device);
  clock.Mark("error+to host");
  return pending;
}

absl::Status EmitLatimLayerBatched(LatimPendingLayer& pending,
                                   const std::vector<LatimScore>& scores,
                                   std::vector<LatimSequenceState>& states,
                                   const ResultCallback& callback) {
  if (pending.wait) pending.wait();
  StageClock clock(torch::kCPU);
  const int64_t Bt = static_cast<int64_t>(states.size()), q_max = pending.q_max;
  const torch::Tensor err = pending.err.to(torch::kFloat32).contiguous();  // [2, slots]
  const int64_t slots = err.size(1);
  const float* err_num = err.data_ptr<float>();
  const float* err_den = err_num + slots;
  for (int64_t b = 0; b < Bt; ++b) {
    LatimSequenceState& st = states[b];
    const int64_t Q = static_cast<int64_t>(st.rows.size());
    double en = 0, ed = 0;
    for (int64_t q = 0; q < Q; ++q) {
      en += err_num[b * q_max + q];
      ed += err_den[b * q_max + q];
    }
    const double e = ed > 0 ? std::sqrt(en / ed) : 0.0;
    LatimLayerScores mats;
    if (pending.host.l1.defined()) mats.l1 = pending.host.l1.narrow(0, b * q_max, Q);
    if (pending.host.l2.defined()) mats.l2 = pending.host.l2.narrow(0, b * q_max, Q);
    if (pending.host.alti.defined()) mats.alti = pending.host.alti.narrow(0, b * q_max, Q);
    RETURN_IF_ERROR(
        EmitLatimLayerScores(scores, mats, pending.layer, b, st.rows, st.n, e, callback));
    if (pending.alti_logit) {
      st.logit_err_num += en;
      st.logit_err_den += ed;
    }
  }
  clock.Mark("emit");
  return absl::OkStatus();
}

}  // namespace mamba_explain
