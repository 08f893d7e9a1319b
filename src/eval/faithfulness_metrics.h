// Per-instance faithfulness metrics of one attribution map against a binary gold map, as LaTIM
// §4.1 (Table 2) uses them, following Fomicheva et al. 2021 ("The Eval4NLP Shared Task on
// Explainable Quality Estimation: Overview and Results", §4): AUC, AP and Recall at Top-K.
// Scores are used as given (no abs, no normalisation): only their order matters. Ties are handled
// deterministically (average ranks, grouped thresholds, expected recall over the tied group), so
// the result does not depend on the order of the inputs. Torch-free and thread-safe.
// Undefined cases return NaN, never an error: AUC without positives or without negatives, AP and
// R@K without positives; callers skip NaN instances when averaging.
#ifndef MAMBA_EXPLAIN_EVAL_FAITHFULNESS_METRICS_H_
#define MAMBA_EXPLAIN_EVAL_FAITHFULNESS_METRICS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace mamba_explain {

// ROC AUC by the Mann–Whitney statistic with average ranks for ties (Mann & Whitney 1947; equals
// sklearn.metrics.roc_auc_score): AUC = (Σ_{i∈pos} rank_i − P(P+1)/2) / (P·N). NaN if P = 0 or
// N = 0.
double RocAuc(const std::vector<float>& scores, const std::vector<uint8_t>& gold);

// Average precision, sklearn.metrics.average_precision_score (the definition Fomicheva et al. 2021
// use): AP = Σ_k (R_k − R_{k−1}) · P_k with one threshold per distinct score (ties enter
// together), thresholds in decreasing order, R_0 = 0. NaN if P = 0.
double AveragePrecision(const std::vector<float>& scores, const std::vector<uint8_t>& gold);

// Recall at Top-K with K = P, the number of gold positives (Fomicheva et al. 2021, "Recall at
// Top-K"): the fraction of gold positives among the K highest scores. When the K-th place falls
// inside a group of tied scores, the group contributes its expected number of positives (ours:
// positives_in_group · places_left / group_size), i.e. the mean over random tie breaks. NaN if
// P = 0.
double RecallAtTopK(const std::vector<float>& scores, const std::vector<uint8_t>& gold);

struct InstanceMetrics {
  double auc = 0;
  double ap = 0;
  double recall_at_k = 0;
};

// All three at once. INVALID_ARGUMENT if the sizes differ, the input is empty, a score is not
// finite, or a gold entry is not 0/1. Undefined metrics are NaN (see above).
absl::StatusOr<InstanceMetrics> ComputeInstanceMetrics(const std::vector<float>& scores,
                                                       const std::vector<uint8_t>& gold);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_EVAL_FAITHFULNESS_METRICS_H_
