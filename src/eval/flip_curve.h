// The torch-free arithmetic of input flipping (MambaLRP §5.3, after Blücher et al. 2024): the
// order in which features are flipped (most- or least-relevant first), how many are flipped after
// each of K steps, and the area under a perturbation curve. ΔA_F = A_F^LeRF − A_F^MoRF (MambaLRP
// §5.3, "The evaluation metrics are defined as ΔA_F = A_F^LeRF − A_F^MoRF"); the paper states no
// step size, area rule or normalisation, so ours are stated here: x_k = k/K ∈ [0, 1] is the
// fraction of flipping steps done, the area is the trapezoid rule over all K+1 points (both
// endpoints), and the caller normalises the curve (input_flipping.h). Thread-safe, no state.
#ifndef MAMBA_EXPLAIN_EVAL_FLIP_CURVE_H_
#define MAMBA_EXPLAIN_EVAL_FLIP_CURVE_H_

#include <vector>

#include "absl/status/statusor.h"

namespace mamba_explain {

// Feature indices by decreasing relevance (MoRF) or increasing relevance (LeRF), ties by
// ascending index in both orders, so the result does not depend on sort stability. Relevance is
// used signed, as the method returns it (NaN sorts as the least relevant).
std::vector<int> MostRelevantFirst(const std::vector<float>& relevance);
std::vector<int> LeastRelevantFirst(const std::vector<float>& relevance);

// Features flipped after step k = 0..K: round(k·n/K) (n/K per step, the last step ends at n).
// INVALID_ARGUMENT if n < 1 or K < 1. K > n repeats counts (a step may flip nothing).
absl::StatusOr<std::vector<int>> FlipSchedule(int n_features, int steps);

// Trapezoid area of y_0..y_K over x_k = k/K. INVALID_ARGUMENT with fewer than 2 points or a
// non-finite value.
absl::StatusOr<double> CurveArea(const std::vector<double>& curve);

// A_F^LeRF − A_F^MoRF of two curves of the same length (errors of CurveArea; INVALID_ARGUMENT if
// the lengths differ).
absl::StatusOr<double> DeltaAreaFlipping(const std::vector<double>& lerf,
                                         const std::vector<double>& morf);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_EVAL_FLIP_CURVE_H_
