// Faithfulness of every attribution method on the copying task (LaTIM §4.1, Table 2): held-out
// copy samples `[BOS] s_0 … s_{L-1} [SEP] s_0 … s_{L-1}` (eval/tasks/copy_task.h) are explained
// by the Engine, and each (method, layer) map is scored against the known interaction.
//   Block: rows = the L copy-token positions t_i = L+2+i, columns = the L source positions
//   p_j = 1+j (i, j ∈ [0, L)); gold(i, j) = 1 iff |i − j| ≤ 1 (the paper's "ones along the three
//   main diagonals"). Only these rows are requested (Rows::kList), so a gradient method costs L
//   backward passes per sample. Scores are used raw, as the method returns them (no abs).
// Per-instance AUC/AP/R@K (faithfulness_metrics.h) are averaged over samples (NaN instances
// skipped). Layer −1 = whole-model aggregates. Best layer of a method = the highest mean AP
// (ties: the lower layer). Also teacher-forced copy accuracy and the LaTIM decomposition error
// (latim-l2 approx_error, every row of the sample) per layer for several additive f.
// Not thread-safe per call; deterministic for a given model, device and options.
#ifndef MAMBA_EXPLAIN_EVAL_COPY_FAITHFULNESS_H_
#define MAMBA_EXPLAIN_EVAL_COPY_FAITHFULNESS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "explain/engine.h"

namespace mamba_explain {

// Every method of the Engine (the catalogue's engine methods), in catalogue order.
const std::vector<std::string>& AllFaithfulnessMethods();

struct CopyFaithfulnessOptions {
  int length = 16;    // source string length L (the model's training length)
  int samples = 128;  // held-out samples (LaTIM App. B.1: 128 evaluation samples)
  // Sample seed: 4242 is the models' README evaluation seed, never used in training (the trainer
  // draws its batches from seed·7919 + step and evaluates on seed + 1000003).
  uint64_t seed = 4242;
  std::vector<std::string> methods = AllFaithfulnessMethods();
  // Integrated gradients and SmoothGrad cost ig_steps / sg_samples backward passes per row; only
  // the first grad_samples samples are explained with them (< 0: all samples).
  int grad_samples = -1;
  int ig_steps = 30;
  int sg_samples = 30;
  std::string activation = "silu";  // LaTIM's additive f for the faithfulness maps (paper: SiLU)
  std::vector<std::string> error_activations = {"silu", "relu", "identity"};
  // Non-empty: one PNG per method (sample 0, full matrix at the best layer, the block outlined),
  // named <model-name>_<method>.png with model_name below.
  std::string heatmap_dir;
  std::string model_name = "model";
  std::function<void(const std::string&)> progress;  // optional progress lines
};

struct MetricSummary {
  double mean = 0;
  double std = 0;  // population standard deviation over the counted instances
  int count = 0;   // instances with a defined value
};

// Mean and population standard deviation of `values`, counting only the finite ones (an instance
// whose metric is undefined carries NaN); mean = std = NaN when none is. Shared by the copy, recall
// and decomposition-error evaluations.
MetricSummary Summarize(const std::vector<double>& values);

struct LayerFaithfulness {
  int layer = -1;
  MetricSummary auc, ap, recall_at_k;
};

struct MethodFaithfulness {
  std::string method;
  std::vector<LayerFaithfulness> layers;  // ascending layer (−1 first)
  int best = 0;                           // index into layers
  int samples = 0;                        // samples explained with this method
};

struct CopyFaithfulnessReport {
  CopyFaithfulnessOptions options;
  int n_layers = 0;
  std::vector<MethodFaithfulness> methods;  // in options.methods order
  double token_accuracy = 0;                // teacher-forced, over every copied token
  double sequence_accuracy = 0;             // whole copy correct
  // f → mean latim-l2 decomposition error per layer (docs/methods.md §3), over samples.
  std::map<std::string, std::vector<double>> decomposition_error;
  std::vector<std::string> heatmaps;  // written PNG paths
};

// INVALID_ARGUMENT for bad options (length that does not fit, unknown method, samples < 1);
// errors of the Engine pass through.
absl::StatusOr<CopyFaithfulnessReport> EvaluateCopyFaithfulness(
    const Engine& engine, const CopyFaithfulnessOptions& options);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_EVAL_COPY_FAITHFULNESS_H_
