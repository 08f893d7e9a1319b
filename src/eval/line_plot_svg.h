// A small SVG line-plot writer for the evaluator's curves (docs/faithfulness.md): one panel with
// axes, ticks, axis labels, a title and a legend, one polyline per series. SVG 1.1 text, no
// dependencies; the colours are a fixed qualitative palette (Okabe & Ito 2008) cycled per series,
// dashed when it wraps. Thread-safe, no state.
#ifndef MAMBA_EXPLAIN_EVAL_LINE_PLOT_SVG_H_
#define MAMBA_EXPLAIN_EVAL_LINE_PLOT_SVG_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mamba_explain {

struct PlotSeries {
  std::string label;
  std::vector<double> x, y;  // same length ≥ 1, finite
  bool dashed = false;
};

struct LinePlot {
  std::string title, x_label, y_label;
  std::vector<PlotSeries> series;
  int width = 640, height = 420;  // pixels
};

// The SVG document. INVALID_ARGUMENT without series, with x/y of different or zero length, or
// with a non-finite value. The axis ranges cover every point (a flat range is widened by ±0.5).
absl::StatusOr<std::string> RenderLinePlotSvg(const LinePlot& plot);
absl::Status WriteLinePlotSvg(const std::string& path, const LinePlot& plot);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_EVAL_LINE_PLOT_SVG_H_
