// ServingMetrics: label values of the model label are bounded by the repository's models, so a
// client sending thousands of invented (or megabyte-long) model names adds no series.
#include "serving/metrics.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace mamba_explain {
namespace {

// The model label values of every series of `family_name`.
std::multiset<std::string> ModelLabels(const ServingMetrics& metrics,
                                       const std::string& family_name) {
  std::multiset<std::string> out;
  for (const prometheus::MetricFamily& family : metrics.registry()->Collect()) {
    if (family.name != family_name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        if (label.name == "model") out.insert(label.value);
      }
    }
  }
  return out;
}

TEST(ServingMetricsTest, UnknownModelNamesShareOneLabelValue) {
  ServingMetrics metrics;
  metrics.SetModelReady("m1", true);
  metrics.SetModelReady("broken", false);
  for (int i = 0; i < 1000; ++i) {
    metrics.RequestFinished("Explain", "invented-" + std::to_string(i), "NOT_FOUND");
  }
  metrics.RequestFinished("Explain", std::string(1 << 20, 'm'), "NOT_FOUND");
  metrics.RequestFinished("Explain", "m1", "OK");
  metrics.RequestFinished("GetModel", "broken", "OK");
  metrics.RequestFinished("ListModels", "", "OK");
  const std::multiset<std::string> labels = ModelLabels(metrics, "mamba_explain_requests_total");
  EXPECT_EQ(labels, (std::multiset<std::string>{"", "broken", "m1", "unknown"}));
}

TEST(ServingMetricsTest, UnknownSeriesCountsEveryCall) {
  ServingMetrics metrics;
  for (int i = 0; i < 5; ++i)
    metrics.RequestFinished("Tokenize", "x" + std::to_string(i), "NOT_FOUND");
  double total = 0;
  for (const prometheus::MetricFamily& family : metrics.registry()->Collect()) {
    if (family.name != "mamba_explain_requests_total") continue;
    ASSERT_EQ(family.metric.size(), 1u);
    total = family.metric[0].counter.value;
  }
  EXPECT_EQ(total, 5);
}

}  // namespace
}  // namespace mamba_explain
