// Faithfulness on the retrieval task with known evidence (issue 16 item 2; LaTIM §4.3's passkey
// retrieval as multi-query associative recall, eval/tasks/recall_task.h): k key–value pairs among
// distractors, then the queried key q at position t = T − 2, which predicts the gold value.
// For every key count k of `keys`, `samples` samples (MakeRecallSamples(RecallSpec{length, k,
// vocab}, samples, seed): the stream of `mamba-explain-train eval-recall`) are explained at the one
// row t by every method (per-layer methods at every layer, whole-model ones at layer −1;
// output-dependent methods explain the predicted token, as in the copy evaluation).
//   Candidates: the context positions 1..n (BOS, SEP, the query itself excluded).
//   Gold "value": the gold pair's value position (1 positive among n) → AUC, AP, R@K (K = 1).
//   Gold "pair":  the gold pair's key and value positions (2 positives) → AP.
//   First-key bias (samples whose gold pair is not the first pair, k ≥ 2): the signed mass of a
//   pair = the sum of its key and value scores divided by Σ|scores| over the candidates;
//   gold_share, first_share (the first pair in the context), other_share (mean over the pairs
//   that are neither first nor gold; k ≥ 3), and first_over_gold = P(mass(first) > mass(gold))
//   (ties count ½). An attribution that follows the evidence gives first_share ≈ other_share and
//   first_over_gold ≈ 0; first_share > other_share is a bias toward the first key.
// Also the model's accuracy per k (argmax at t = gold value), split by gold first / not first,
// and for wrong answers with the gold pair not first, how often the answer is the first pair's
// value (the model's own first-key bias). Best layer of a method per k = highest mean value-AP
// (ties: the lower layer). Deterministic for a given model, device and options.
#ifndef MAMBA_EXPLAIN_EVAL_RECALL_FAITHFULNESS_H_
#define MAMBA_EXPLAIN_EVAL_RECALL_FAITHFULNESS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "eval/copy_faithfulness.h"
#include "eval/tasks/recall_task.h"
#include "explain/engine.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {

struct RecallFaithfulnessOptions {
  int length = 64;                    // context tokens n between BOS and SEP (T = n + 4)
  std::vector<int> keys = {1, 2, 4};  // key counts, each evaluated on its own samples
  int samples = 64;                   // per key count
  uint64_t seed = 4242;               // held out: the trainer uses RecallTrainSeed streams
  std::vector<std::string> methods = AllFaithfulnessMethods();
  int grad_samples = -1;  // integrated-gradients / smoothgrad on the first N samples per k
  int ig_steps = 30;
  int sg_samples = 30;
  std::string activation = "silu";
  std::string model_name = "model";
  std::function<void(const std::string&)> progress;
};

// The scores of one explained row against one sample (NaN where undefined).
struct RecallRowScores {
  double auc = 0, ap = 0, recall_at_k = 0;  // gold = the value position
  double pair_ap = 0;                       // gold = key + value positions
  double gold_share = 0, first_share = 0;   // NaN unless k ≥ 2 and the gold pair is not first
  double other_share = 0;                   // NaN unless additionally k ≥ 3
  double first_over_gold = 0;               // 1, ½ (tie) or 0; NaN as gold_share
};

// `row` = the explained row's scores over all T positions. INVALID_ARGUMENT if the row length
// is not the sample's length; a non-finite score gives NaN metrics.
absl::StatusOr<RecallRowScores> ScoreRecallRow(const std::vector<float>& row,
                                               const RecallSample& sample);

struct RecallLayerFaithfulness {
  int layer = -1;
  MetricSummary auc, ap, recall_at_k, pair_ap;
  MetricSummary gold_share, first_share, other_share, first_over_gold;
};

struct RecallMethodFaithfulness {
  std::string method;
  std::vector<RecallLayerFaithfulness> layers;  // ascending layer (−1 first)
  int best = 0;                                 // index into layers (highest value-AP)
  int samples = 0;
};

struct RecallKeysReport {
  int keys = 0;
  int samples = 0;
  double accuracy = 0;
  int gold_first_samples = 0;
  double gold_first_accuracy = 0;  // NaN when no sample
  int other_samples = 0;
  double other_accuracy = 0;    // NaN when no sample
  double gold_probability = 0;  // mean softmax probability of the gold value at t
  int wrong_not_first = 0;      // wrong answers whose gold pair is not first
  int wrong_first_value = 0;    // … of which the answer is the first pair's value
  int wrong_other_value = 0;    // … of which the answer is another pair's value
  std::vector<RecallMethodFaithfulness> methods;  // in options.methods order
};

struct RecallFaithfulnessReport {
  RecallFaithfulnessOptions options;
  int n_layers = 0;
  std::vector<RecallKeysReport> by_keys;
};

// INVALID_ARGUMENT for bad options (keys that do not fit the vocabulary or context, unknown
// method, samples < 1); errors of the Engine pass through.
absl::StatusOr<RecallFaithfulnessReport> EvaluateRecallFaithfulness(
    const Engine& engine, const RecallFaithfulnessOptions& options);

// {"task": "recall", "options", "n_layers", "by_keys": [{"keys", "samples", "accuracy",
//  "gold_first": {"samples", "accuracy"}, "not_first": {...}, "gold_probability",
//  "wrong_not_first", "wrong_first_value", "wrong_other_value",
//  "methods": [{"method", "samples", "best_layer", "best": {...}, "layers": [{"layer", "auc",
//  "ap", "r_at_k", "pair_ap", "gold_share", "first_share", "other_share", "first_over_gold",
//  "*_std", "count", "bias_count"}]}]}]}; NaN → null.
nlohmann::json RecallReportToJson(const RecallFaithfulnessReport& report);
std::string RecallReportToMarkdown(const RecallFaithfulnessReport& report);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_EVAL_RECALL_FAITHFULNESS_H_
