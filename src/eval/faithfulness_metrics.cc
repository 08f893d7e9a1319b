#include "eval/faithfulness_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace mamba_explain {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Indices sorted by decreasing score; the order inside a tie group does not matter to any caller.
std::vector<size_t> DescendingOrder(const std::vector<float>& scores) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  return order;
}

int64_t CountPositives(const std::vector<uint8_t>& gold) {
  return std::count_if(gold.begin(), gold.end(), [](uint8_t g) { return g != 0; });
}

}  // namespace

double RocAuc(const std::vector<float>& scores, const std::vector<uint8_t>& gold) {
  const int64_t n = static_cast<int64_t>(scores.size());
  const int64_t positives = CountPositives(gold);
  const int64_t negatives = n - positives;
  if (positives == 0 || negatives == 0) return kNaN;
  // Ascending ranks 1..n; a tie group over places [a, b) gets the average rank (a + 1 + b) / 2.
  std::vector<size_t> order = DescendingOrder(scores);
  std::reverse(order.begin(), order.end());
  double positive_rank_sum = 0;
  for (int64_t a = 0; a < n;) {
    int64_t b = a + 1;
    while (b < n && scores[order[b]] == scores[order[a]]) ++b;
    const double rank = 0.5 * static_cast<double>(a + 1 + b);
    for (int64_t k = a; k < b; ++k) {
      if (gold[order[k]] != 0) positive_rank_sum += rank;
    }
    a = b;
  }
  const double p = static_cast<double>(positives);
  return (positive_rank_sum - p * (p + 1) / 2) / (p * static_cast<double>(negatives));
}

double AveragePrecision(const std::vector<float>& scores, const std::vector<uint8_t>& gold) {
  const int64_t n = static_cast<int64_t>(scores.size());
  const int64_t positives = CountPositives(gold);
  if (positives == 0) return kNaN;
  const std::vector<size_t> order = DescendingOrder(scores);
  double ap = 0;
  int64_t true_positives = 0;
  double previous_recall = 0;
  for (int64_t a = 0; a < n;) {
    int64_t b = a;
    while (b < n && scores[order[b]] == scores[order[a]]) {
      if (gold[order[b]] != 0) ++true_positives;
      ++b;
    }
    // Threshold = this group's score: everything in [0, b) is predicted positive.
    const double recall = static_cast<double>(true_positives) / static_cast<double>(positives);
    const double precision = static_cast<double>(true_positives) / static_cast<double>(b);
    ap += (recall - previous_recall) * precision;
    previous_recall = recall;
    a = b;
  }
  return ap;
}

double RecallAtTopK(const std::vector<float>& scores, const std::vector<uint8_t>& gold) {
  const int64_t n = static_cast<int64_t>(scores.size());
  const int64_t k = CountPositives(gold);
  if (k == 0) return kNaN;
  const std::vector<size_t> order = DescendingOrder(scores);
  double hits = 0;
  for (int64_t a = 0; a < k;) {
    int64_t b = a;
    int64_t group_positives = 0;
    while (b < n && scores[order[b]] == scores[order[a]]) {
      if (gold[order[b]] != 0) ++group_positives;
      ++b;
    }
    const int64_t taken = std::min(b, k) - a;  // places of the top K this group fills
    hits += static_cast<double>(group_positives) * static_cast<double>(taken) /
            static_cast<double>(b - a);
    a = b;
  }
  return hits / static_cast<double>(k);
}

absl::StatusOr<InstanceMetrics> ComputeInstanceMetrics(const std::vector<float>& scores,
                                                       const std::vector<uint8_t>& gold) {
  if (scores.empty() || scores.size() != gold.size()) {
    return absl::InvalidArgumentError(absl::StrCat("scores (", scores.size(), ") and gold (",
                                                   gold.size(), ") must be non-empty and equal"));
  }
  for (size_t i = 0; i < scores.size(); ++i) {
    if (!std::isfinite(scores[i])) {
      return absl::InvalidArgumentError(absl::StrCat("scores[", i, "]=", scores[i], " not finite"));
    }
    if (gold[i] > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("gold[", i, "]=", static_cast<int>(gold[i]), " not 0/1"));
    }
  }
  InstanceMetrics m;
  m.auc = RocAuc(scores, gold);
  m.ap = AveragePrecision(scores, gold);
  m.recall_at_k = RecallAtTopK(scores, gold);
  return m;
}

}  // namespace mamba_explain
