#include "eval/colormap.h"

#include <algorithm>
#include <cmath>

namespace mamba_explain {
namespace {

uint8_t Lerp(uint8_t a, uint8_t b, double f) {
  return static_cast<uint8_t>(std::lround(a + (static_cast<double>(b) - a) * f));
}

Rgb Mix(const Rgb& a, const Rgb& b, double f) {
  return Rgb{Lerp(a.r, b.r, f), Lerp(a.g, b.g, f), Lerp(a.b, b.b, f)};
}

}  // namespace

Rgb ViridisColor(double t) {
  // matplotlib's viridis at t = 0, 1/8, …, 1.
  static constexpr Rgb kStops[] = {{68, 1, 84},    {71, 44, 122},  {59, 81, 139},
                                   {44, 113, 142}, {33, 144, 141}, {39, 173, 129},
                                   {92, 200, 99},  {170, 220, 50}, {253, 231, 37}};
  constexpr int kIntervals = 8;
  if (!(t > 0)) return kStops[0];  // also NaN
  if (t >= 1) return kStops[kIntervals];
  const double x = t * kIntervals;
  const int i = std::min(kIntervals - 1, static_cast<int>(x));
  return Mix(kStops[i], kStops[i + 1], x - i);
}

Rgb DivergingColor(double t) {
  static constexpr Rgb kBlue{33, 102, 172}, kWhite{247, 247, 247}, kRed{178, 24, 43};
  if (std::isnan(t)) return kWhite;
  t = std::clamp(t, -1.0, 1.0);
  return t < 0 ? Mix(kWhite, kBlue, -t) : Mix(kWhite, kRed, t);
}

}  // namespace mamba_explain
