// The arithmetic of input flipping (eval/flip_curve.h) on hand-made curves and rankings, and the
// SVG line-plot writer the curves are drawn with.
#include "eval/flip_curve.h"

#include <gtest/gtest.h>

#include <cmath>

#include "eval/line_plot_svg.h"
#include "tests/status_matchers.h"

namespace mamba_explain {
namespace {

TEST(FlipOrderTest, MostAndLeastRelevantFirstWithTiesByIndex) {
  const std::vector<float> r = {0.5f, 2.0f, -1.0f, 2.0f, 0.5f};
  EXPECT_EQ(MostRelevantFirst(r), (std::vector<int>{1, 3, 0, 4, 2}));
  EXPECT_EQ(LeastRelevantFirst(r), (std::vector<int>{2, 0, 4, 1, 3}));
}

TEST(FlipOrderTest, SignedRelevanceAndNanLeast) {
  const std::vector<float> r = {-3.0f, NAN, 1.0f};
  EXPECT_EQ(MostRelevantFirst(r), (std::vector<int>{2, 0, 1}));
  EXPECT_EQ(LeastRelevantFirst(r), (std::vector<int>{1, 0, 2}));
}

TEST(FlipScheduleTest, EvenStepsEndAtAllFeatures) {
  ASSERT_OK_AND_ASSIGN(std::vector<int> s, FlipSchedule(10, 4));
  EXPECT_EQ(s, (std::vector<int>{0, 3, 5, 8, 10}));  // round(2.5) = 3, round(7.5) = 8
  ASSERT_OK_AND_ASSIGN(std::vector<int> one, FlipSchedule(3, 3));
  EXPECT_EQ(one, (std::vector<int>{0, 1, 2, 3}));
  ASSERT_OK_AND_ASSIGN(std::vector<int> more, FlipSchedule(2, 4));
  EXPECT_EQ(more, (std::vector<int>{0, 1, 1, 2, 2}));  // round(0.5) = 1, round(1.5) = 2
  EXPECT_FALSE(FlipSchedule(0, 4).ok());
  EXPECT_FALSE(FlipSchedule(4, 0).ok());
}

TEST(CurveAreaTest, TrapezoidOverTheUnitInterval) {
  ASSERT_OK_AND_ASSIGN(double flat, CurveArea({2, 2, 2, 2, 2}));
  EXPECT_DOUBLE_EQ(flat, 2.0);
  ASSERT_OK_AND_ASSIGN(double line, CurveArea({1, 0}));  // triangle
  EXPECT_DOUBLE_EQ(line, 0.5);
  // x = 0, 1/3, 2/3, 1: (1+0.5)/2/3 + (0.5+0.5)/2/3 + (0.5+0)/2/3 = 0.25 + 1/6 + 1/12 = 0.5.
  ASSERT_OK_AND_ASSIGN(double bent, CurveArea({1, 0.5, 0.5, 0}));
  EXPECT_NEAR(bent, 0.5, 1e-12);
  EXPECT_FALSE(CurveArea({1}).ok());
  EXPECT_FALSE(CurveArea({1, NAN}).ok());
}

TEST(DeltaAreaFlippingTest, LeRFMinusMoRF) {
  // A faithful ranking: MoRF drops at once, LeRF keeps the logit until the end.
  const std::vector<double> morf = {1, 0, 0, 0, 0}, lerf = {1, 1, 1, 1, 0};
  ASSERT_OK_AND_ASSIGN(double d, DeltaAreaFlipping(lerf, morf));
  EXPECT_NEAR(d, 0.875 - 0.125, 1e-12);  // A^LeRF = 3.5·0.25, A^MoRF = 0.5·0.25
  ASSERT_OK_AND_ASSIGN(double reversed, DeltaAreaFlipping(morf, lerf));
  EXPECT_NEAR(reversed, -d, 1e-12);
  ASSERT_OK_AND_ASSIGN(double same, DeltaAreaFlipping(morf, morf));
  EXPECT_EQ(same, 0.0);
  EXPECT_FALSE(DeltaAreaFlipping({1, 0}, {1, 0, 0}).ok());
}

TEST(LinePlotSvgTest, AxesLegendAndOnePolylinePerSeries) {
  LinePlot plot;
  plot.title = "flip <test>";
  plot.x_label = "fraction flipped";
  plot.y_label = "logit";
  plot.series.push_back({"a", {0, 0.5, 1}, {1, 0.4, 0.1}, false});
  plot.series.push_back({"random & co", {0, 1}, {1, 0.5}, true});
  ASSERT_OK_AND_ASSIGN(std::string svg, RenderLinePlotSvg(plot));
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  size_t polylines = 0;
  for (size_t p = svg.find("<polyline"); p != std::string::npos; p = svg.find("<polyline", p + 1))
    ++polylines;
  EXPECT_EQ(polylines, 2u);
  EXPECT_NE(svg.find("fraction flipped"), std::string::npos);
  EXPECT_NE(svg.find("flip &lt;test&gt;"), std::string::npos);
  EXPECT_NE(svg.find("random &amp; co"), std::string::npos);
  EXPECT_NE(svg.find("stroke-dasharray"), std::string::npos);
  EXPECT_FALSE(RenderLinePlotSvg(LinePlot{}).ok());
  plot.series[0].y.pop_back();
  EXPECT_FALSE(RenderLinePlotSvg(plot).ok());
}

}  // namespace
}  // namespace mamba_explain
