// Serialises a CopyFaithfulnessReport (copy_faithfulness.h) as JSON (for scripts and the GPU
// run's archive) and as Markdown tables (for docs/faithfulness.md). Undefined values (NaN) are
// JSON null and "–" in Markdown. Pure functions.
#ifndef MAMBA_EXPLAIN_EVAL_FAITHFULNESS_REPORT_H_
#define MAMBA_EXPLAIN_EVAL_FAITHFULNESS_REPORT_H_

#include <string>

#include "eval/copy_faithfulness.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {

// {"task": "copy", "options": {...}, "n_layers", "copy_accuracy": {"token", "sequence"},
//  "methods": [{"method", "samples", "best_layer", "best": {"auc", "ap", "r_at_k"},
//               "layers": [{"layer", "auc", "auc_std", "ap", "ap_std", "r_at_k", "r_at_k_std",
//                           "count"}]}],
//  "decomposition_error": {"silu": [per layer], ...}, "heatmaps": [paths]}
nlohmann::json ReportToJson(const CopyFaithfulnessReport& report);

// Summary table (best layer per method), per-layer tables, decomposition error, accuracy.
std::string ReportToMarkdown(const CopyFaithfulnessReport& report);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_EVAL_FAITHFULNESS_REPORT_H_
