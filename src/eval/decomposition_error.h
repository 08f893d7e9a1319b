// LaTIM's decomposition error at scale (issue 16 item 4; LaTIM §4.4, Fig. 4): the relative error of
// the additive decomposition (docs/methods.md §3: latim-l2's approx_error, a Frobenius ratio over
// the requested rows of one sequence) per layer for several additive f (SiLU, ReLU, identity), on
// any model: random token ids (task "random", ids uniform in [0, vocab)), copy samples or recall
// samples. Mean and population std over samples per layer, and the means over binned layer
// ranges: `bins` contiguous ranges of (nearly) equal size, [⌊b·L/B⌋, ⌊(b+1)·L/B⌋ − 1] — for 24
// layers and 4 bins 0–5, 6–11, 12–17, 18–23 (a bin's value = the mean of its layers' means).
// Deterministic for a given model, device and options.
#ifndef MAMBA_EXPLAIN_EVAL_DECOMPOSITION_ERROR_H_
#define MAMBA_EXPLAIN_EVAL_DECOMPOSITION_ERROR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "eval/copy_faithfulness.h"
#include "explain/engine.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {

struct DecompositionErrorOptions {
  std::string task = "random";  // random | copy | recall
  int length = 256;  // random: tokens per sample; copy: source length L; recall: context tokens
  int keys = 2;      // recall
  int samples = 8;
  uint64_t seed = 4242;
  std::vector<std::string> activations = {"silu", "relu", "identity"};
  int bins = 4;
  bool last_row_only = false;  // rows: every position (default) or only the last
  std::string model_name = "model";
  std::function<void(const std::string&)> progress;
};

// The layer ranges [first, last] of `bins` bins over n_layers (bins clamped to [1, n_layers]).
std::vector<std::pair<int, int>> LayerBins(int n_layers, int bins);

struct DecompositionErrorReport {
  DecompositionErrorOptions options;
  int n_layers = 0;
  int64_t tokens = 0;                                           // per sample
  std::map<std::string, std::vector<MetricSummary>> per_layer;  // f → per layer over samples
  std::vector<std::pair<int, int>> bins;
  std::map<std::string, std::vector<double>> binned;  // f → per bin
  double seconds = 0;
};

// INVALID_ARGUMENT for bad options (unknown task or activation, samples < 1, a length that the
// task cannot use); errors of the Engine pass through.
absl::StatusOr<DecompositionErrorReport> EvaluateDecompositionError(
    const Engine& engine, const DecompositionErrorOptions& options);

// {"task": "decomposition", "options", "n_layers", "tokens", "seconds",
//  "bins": [[first, last], ...], "per_layer": {f: [{"layer", "mean", "std", "count"}]},
//  "binned": {f: [per bin]}}; NaN → null.
nlohmann::json DecompositionReportToJson(const DecompositionErrorReport& report);
// The binned table (rows f, columns layer ranges), then the per-layer table.
std::string DecompositionReportToMarkdown(const DecompositionErrorReport& report);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_EVAL_DECOMPOSITION_ERROR_H_
