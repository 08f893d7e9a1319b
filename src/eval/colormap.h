// Colormaps for the faithfulness heatmaps (heatmap_png.h): a sequential one for non-negative
// scores and a diverging one for signed scores. Pure functions, inputs clamped to their range.
#ifndef MAMBA_EXPLAIN_EVAL_COLORMAP_H_
#define MAMBA_EXPLAIN_EVAL_COLORMAP_H_

#include <cstdint>

namespace mamba_explain {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

// Viridis (van der Walt & Smith, matplotlib's default), t ∈ [0, 1] (dark purple → yellow),
// piecewise linear through 9 of its samples: close enough for pictures, not for colour science.
Rgb ViridisColor(double t);

// Blue → white → red, t ∈ [−1, 1]; 0 is white, so the sign of a score reads at a glance.
Rgb DivergingColor(double t);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_EVAL_COLORMAP_H_
