#include "eval/flip_curve.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace mamba_explain {
namespace {

// NaN maps to −∞ so that it is least relevant in both orders.
float Key(float v) { return std::isnan(v) ? -INFINITY : v; }

std::vector<int> Order(const std::vector<float>& relevance, bool descending) {
  std::vector<int> order(relevance.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    const float ka = Key(relevance[a]), kb = Key(relevance[b]);
    if (ka != kb) return descending ? ka > kb : ka < kb;
    return a < b;
  });
  return order;
}

}  // namespace

std::vector<int> MostRelevantFirst(const std::vector<float>& relevance) {
  return Order(relevance, /*descending=*/true);
}

std::vector<int> LeastRelevantFirst(const std::vector<float>& relevance) {
  return Order(relevance, /*descending=*/false);
}

absl::StatusOr<std::vector<int>> FlipSchedule(int n_features, int steps) {
  if (n_features < 1 || steps < 1) {
    return absl::InvalidArgumentError(absl::StrCat("flip schedule needs ≥ 1 feature and ≥ 1 step (",
                                                   n_features, " features, ", steps, " steps)"));
  }
  std::vector<int> counts(steps + 1);
  for (int k = 0; k <= steps; ++k) {
    counts[k] = static_cast<int>(std::lround(static_cast<double>(k) * n_features / steps));
  }
  return counts;
}

absl::StatusOr<double> CurveArea(const std::vector<double>& curve) {
  if (curve.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat("a curve needs ≥ 2 points, got ", curve.size()));
  }
  for (double y : curve) {
    if (!std::isfinite(y)) return absl::InvalidArgumentError("non-finite curve value");
  }
  const double dx = 1.0 / static_cast<double>(curve.size() - 1);
  double area = 0;
  for (size_t k = 1; k < curve.size(); ++k) area += 0.5 * (curve[k - 1] + curve[k]) * dx;
  return area;
}

absl::StatusOr<double> DeltaAreaFlipping(const std::vector<double>& lerf,
                                         const std::vector<double>& morf) {
  if (lerf.size() != morf.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("LeRF curve has ", lerf.size(), " points, MoRF ", morf.size()));
  }
  absl::StatusOr<double> a_lerf = CurveArea(lerf);
  if (!a_lerf.ok()) return a_lerf.status();
  absl::StatusOr<double> a_morf = CurveArea(morf);
  if (!a_morf.ok()) return a_morf.status();
  return *a_lerf - *a_morf;
}

}  // namespace mamba_explain
