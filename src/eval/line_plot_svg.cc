#include "eval/line_plot_svg.h"

#include <algorithm>
#include <cmath>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace mamba_explain {
namespace {

// Okabe & Ito's colour-blind-safe palette (black last).
constexpr const char* kPalette[] = {"#E69F00", "#56B4E9", "#009E73", "#F0E442",
                                    "#0072B2", "#D55E00", "#CC79A7", "#000000"};
constexpr int kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

struct Range {
  double lo = INFINITY, hi = -INFINITY;
  void Add(double v) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  void Widen() {
    if (hi - lo < 1e-12) {
      lo -= 0.5;
      hi += 0.5;
    }
  }
};

// About five "nice" ticks (1, 2, 5 × 10^k) covering [lo, hi].
std::vector<double> Ticks(double lo, double hi) {
  const double raw = (hi - lo) / 5;
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

}  // namespace

absl::StatusOr<std::string> RenderLinePlotSvg(const LinePlot& plot) {
  if (plot.series.empty()) return absl::InvalidArgumentError("plot without series");
  Range xr, yr;
  for (const PlotSeries& s : plot.series) {
    if (s.x.empty() || s.x.size() != s.y.size()) {
      return absl::InvalidArgumentError(absl::StrCat("series '", s.label, "': ", s.x.size(),
                                                     " x values, ", s.y.size(), " y values"));
    }
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
        return absl::InvalidArgumentError(absl::StrCat("series '", s.label, "': non-finite"));
      }
      xr.Add(s.x[i]);
      yr.Add(s.y[i]);
    }
  }
  xr.Widen();
  yr.Widen();
  const std::vector<double> xticks = Ticks(xr.lo, xr.hi), yticks = Ticks(yr.lo, yr.hi);
  xr.lo = std::min(xr.lo, xticks.front());
  xr.hi = std::max(xr.hi, xticks.back());
  yr.lo = std::min(yr.lo, yticks.front());
  yr.hi = std::max(yr.hi, yticks.back());

  const double left = 64, right = 190, top = 36, bottom = 52;  // margins; legend on the right
  const double pw = plot.width - left - right, ph = plot.height - top - bottom;
  auto px = [&](double x) { return left + (x - xr.lo) / (xr.hi - xr.lo) * pw; };
  auto py = [&](double y) { return top + (1 - (y - yr.lo) / (yr.hi - yr.lo)) * ph; };

  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
      "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      plot.width, plot.height, plot.width, plot.height);
  absl::StrAppendFormat(
      &svg, "<text x=\"%.1f\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">%s</text>\n",
      left + pw / 2, Escape(plot.title));
  // Grid and ticks.
  for (double t : xticks) {
    absl::StrAppendFormat(
        &svg,
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
        px(t), top, px(t), top + ph, px(t), top + ph + 16, t);
  }
  for (double t : yticks) {
    absl::StrAppendFormat(
        &svg,
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
        left, py(t), left + pw, py(t), left - 6, py(t) + 4, t);
  }
  absl::StrAppendFormat(&svg,
                        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                        "stroke=\"black\"/>\n",
                        left, top, pw, ph);
  absl::StrAppendFormat(&svg,
                        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n"
                        "<text transform=\"translate(16 %.1f) rotate(-90)\" "
                        "text-anchor=\"middle\">%s</text>\n",
                        left + pw / 2, top + ph + 38, Escape(plot.x_label), top + ph / 2,
                        Escape(plot.y_label));
  // Series and legend.
  for (size_t i = 0; i < plot.series.size(); ++i) {
    const PlotSeries& s = plot.series[i];
    const char* colour = kPalette[i % kPaletteSize];
    const bool dashed = s.dashed || i >= kPaletteSize;
    const std::string dash = dashed ? " stroke-dasharray=\"6 3\"" : "";
    std::string points;
    for (size_t k = 0; k < s.x.size(); ++k) {
      absl::StrAppendFormat(&points, "%s%.1f,%.1f", k ? " " : "", px(s.x[k]), py(s.y[k]));
    }
    absl::StrAppendFormat(&svg,
                          "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" "
                          "stroke-width=\"2\"%s/>\n",
                          points, colour, dash);
    const double ly = top + 10 + 18 * static_cast<double>(i);
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                          "stroke-width=\"2\"%s/>\n"
                          "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                          left + pw + 12, ly, left + pw + 36, ly, colour, dash, left + pw + 42,
                          ly + 4, Escape(s.label));
  }
  svg += "</svg>\n";
  return svg;
}

absl::Status WriteLinePlotSvg(const std::string& path, const LinePlot& plot) {
  absl::StatusOr<std::string> svg = RenderLinePlotSvg(plot);
  if (!svg.ok()) return svg.status();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << *svg;
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace mamba_explain
