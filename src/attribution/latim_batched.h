// Internal to LaTIM (latim.cc): the state of one sequence through the layer loop, the result
// builder, and the batched layer runner. The runner computes one layer's ℓ1/ℓ2/ALTI/ALTI-Logit
// terms for EVERY sequence of a padded batch through the decomposition kernels
// (kernels/latim_kernels.h): target rows of all sequences are cut into tiles, tiles sorted by
// position and packed into row blocks under the memory budget, and each block is one launch of
// the contribution kernel, one W_out contraction and one pair-score launch — the host does not
// loop over sequences except to hand out results and for ALTI-Logit's per-sequence rollout.
// Same numbers as the per-sequence reference RunLayer to fp32 rounding (tests compare them).
#ifndef MAMBA_EXPLAIN_ATTRIBUTION_LATIM_BATCHED_H_
#define MAMBA_EXPLAIN_ATTRIBUTION_LATIM_BATCHED_H_

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "attribution/attribution_types.h"
#include "attribution/latim.h"
#include "mamba/mamba_model.h"

namespace mamba_explain {

struct LatimSequenceState {
  int64_t n = 0;
  std::vector<int64_t> rows;     // requested target rows, ascending
  torch::Tensor row_index;       // [n] int64: position in `rows`, or −1 (reference path only)
  torch::Tensor u_eff;           // ALTI-Logit: [Q, D] U_w ⊙ norm_f ⊙ rstd_f,t
  std::vector<int64_t> targets;  // ALTI-Logit: w(t) per row
  torch::Tensor rollout;         // ALTI-Logit: [Q, n] Horner accumulator c
  double logit_err_num = 0, logit_err_den = 0;
};

// One result block from a [Q, ≥columns] matrix (any device/dtype), columns = the sequence length.
AttributionResult LatimResult(LatimScore score, int layer, int64_t seq,
                              const std::vector<int64_t>& rows, const torch::Tensor& matrix,
                              int64_t columns, double approx_error);

// Whether `scores` asks for `s`.
bool HasScore(const std::vector<LatimScore>& scores, LatimScore s);

// What one layer computes, for the reference and the batched path alike. ALTI-Logit needs P^(l)
// (ALTI with the residual) for every row ≤ t_max below the top layer, so those layers compute
// rows 0..t_max; T is formed only when ℓ1, ℓ2 or ALTI needs it.
struct LatimLayerPlan {
  bool want_l1 = false, want_l2 = false, want_alti = false;  // reported this layer
  bool need_p = false, need_alti = false, need_t = false;
};
LatimLayerPlan PlanLatimLayer(const std::vector<LatimScore>& scores, bool report_layer,
                              bool alti_logit, int layer, int n_layers);
// The target rows a layer computes for requested `rows` (ascending): the rows themselves, or
// 0..rows.back() when the plan needs P^(l).
std::vector<int64_t> LatimComputeRows(const std::vector<int64_t>& rows, const LatimLayerPlan& plan);

// One layer's per-layer score matrices of one sequence ([Q, ≥ columns], any device; undefined =
// not asked for), streamed in the order of `scores`. CANCELLED when the callback declines.
struct LatimLayerScores {
  torch::Tensor l1, l2, alti;
};
absl::Status EmitLatimLayerScores(const std::vector<LatimScore>& scores,
                                  const LatimLayerScores& matrices, int layer, int64_t seq,
                                  const std::vector<int64_t>& rows, int64_t columns, double err,
                                  const ResultCallback& callback);

// One layer's results on their way to the host: every device op and copy of the layer is
// enqueued, nothing waited for, so that the next layer's work can be launched before this one is
// emitted (the host's result handling overlaps the device's next layer).
struct LatimPendingLayer {
  int layer = 0;
  bool alti_logit = false;
  int64_t q_max = 0;      // rows per sequence slot in the host matrices
  LatimLayerScores host;  // [Bt·q_max + 1, L] fp32 on the host per reported score
  torch::Tensor err;      // [2, slots] fp32 host per slot: ‖Σ_s T − (y − b)‖², ‖y‖²
  std::function<void()> wait;  // blocks until the host tensors hold their values, or null
};

// Row-block plans of one call, reused across its layers: a layer's plan depends only on its
// compute rows, its pair budget and whether it forms ALTI, so the layers of a call share one or
// two (the host planning and its index copy are paid once per call, not once per layer). The
// plans are valid for one `states` vector; start each call with an empty cache.
struct LatimBlockPlan;
using LatimPlanCache =
    std::map<std::tuple<bool, int64_t, bool>, std::shared_ptr<const LatimBlockPlan>>;

// Enqueues one layer for every sequence of the batch (see the file comment). report_layer: emit
// this layer's ℓ1/ℓ2/ALTI; alti_logit: add this layer's ALTI-Logit term to each state's rollout
// (on the device, so the next layer may be launched at once).
absl::StatusOr<LatimPendingLayer> LaunchLatimLayerBatched(
    const MambaModel& model, const LayerTrace& trace, int layer, bool report_layer, bool alti_logit,
    std::vector<LatimSequenceState>& states, const LatimOptions& options, LatimPlanCache& plans);
// Waits for a launched layer and streams its results (and accumulates ALTI-Logit's error).
absl::Status EmitLatimLayerBatched(LatimPendingLayer& pending,
                                   const std::vector<LatimScore>& scores,
                                   std::vector<LatimSequenceState>& states,
                                   const ResultCallback& callback);
// With the environment variable ME_LATIM_PROFILE=1 the batched path synchronises the device after
// each stage and accumulates its wall time (for bench/latim_bench; off by default, no cost then).
// Returns "stage: ms, ..." since the last call and resets.
std::string LatimBatchedProfile();

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_ATTRIBUTION_LATIM_BATCHED_H_
