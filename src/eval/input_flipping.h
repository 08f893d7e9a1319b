// Perturbation faithfulness by input flipping (MambaLRP §5.3, after Blücher et al. 2024): does a
// method rank first the input tokens that matter to the explained logit? For each held-out sample
// one target position t is explained (rows = {t}, the predicted next token c of the clean input,
// as MambaLRP monitors "the output logit f_c for the predicted class c"); its features are the
// input tokens at positions 1..t−1 (not BOS, not the explained position itself). They are
// replaced by `baseline_token` in most-relevant-first (MoRF) and least-relevant-first (LeRF)
// order in K steps (flip_curve.h), and after each step the model is rerun on the flipped prefix
// 0..t and f_c(t) and p_c(t) = softmax(f(t))_c are recorded.
//   delta_af      = A_F^LeRF − A_F^MoRF of the logit curve divided by the clean logit f_c(x) (ours:
//                   MambaLRP states no normalisation; dividing makes models comparable, the curve
//                   starts at 1). Samples with |f_c(x)| < 1e-6 are skipped.
//   delta_af_raw  = the same on the raw logit (the scale of MambaLRP Table 1).
//   delta_af_prob = the same on p_c.
// Methods: every method whose result gives a relevance over input tokens for row t — the
// whole-model ones (latim-alti-logit, grad-x-input, integrated-gradients, smoothgrad, mamba-lrp,
// rollout, mamba-attribution) as "name", the per-layer maps (latim-l1, latim-l2, latim-alti,
// mamba-attention) at every layer as "name@layer": neither paper defines a cross-layer
// aggregation for them (docs/methods.md), so none is invented. "random" is the control: i.i.d.
// uniform scores per sample (seeded), whose expected ΔA_F is 0.
// Task "copy": copy samples (eval/tasks/copy_task.h, seed 4242 = the held-out set), t = L+1+i
// with i drawn per sample, so t predicts s_i.
// Baseline (replacement) token, `baseline_token` < 0 = the task's default: copy → id 2, the first
// content id (flipping s_j then leaves a well-formed string whose copy of s_i is unchanged for
// j ≠ i, while BOS in mid-sequence is out of distribution: on the committed models one BOS breaks
// the copy whatever is flipped, docs/faithfulness.md); recall → the first filler (distractor) id.
// Task "recall" (eval/tasks/recall_task.h, k = `keys` pairs among distractors in `length` context
// tokens): t = the query key's position, which predicts the gold value.
// Deterministic for a given model, device and options. Not thread-safe per call.
#ifndef MAMBA_EXPLAIN_EVAL_INPUT_FLIPPING_H_
#define MAMBA_EXPLAIN_EVAL_INPUT_FLIPPING_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "explain/engine.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {

constexpr char kRandomMethod[] = "random";

// The default method list: the catalogue's engine methods (catalogue order), then "random".
std::vector<std::string> AllFlipMethods();

struct InputFlippingOptions {
  std::string task = "copy";  // copy | recall
  int length = 16;            // copy: source string length L; recall: context tokens
  int keys = 1;               // recall: key–value pairs in the context
  int samples = 32;
  uint64_t seed = 4242;  // samples, explained positions, random scores, SmoothGrad noise
  std::vector<std::string> methods = AllFlipMethods();
  int steps = 16;               // K
  int32_t baseline_token = -1;  // < 0: the task's default (above)
  int ig_steps = 30;
  int sg_samples = 30;
  std::string activation = "silu";  // LaTIM's additive f
  std::string model_name = "model";
  std::function<void(const std::string&)> progress;  // optional progress lines
};

struct FlipCurves {
  std::vector<double> morf, lerf;  // K+1 points, mean over the counted samples
};

struct MethodFlipping {
  std::string name;                       // "grad-x-input", "latim-l2@1", "random"
  std::string method;                     // catalogue name or "random"
  int layer = -1;                         // per-layer maps: the layer; −1 otherwise
  double delta_af = 0, delta_af_std = 0;  // normalised logit; std over samples (population)
  double delta_af_raw = 0, delta_af_prob = 0;
  int count = 0;  // samples counted
  FlipCurves logit, logit_raw, prob;
};

struct InputFlippingReport {
  InputFlippingOptions options;
  int32_t baseline_token = 0;  // resolved
  int n_layers = 0;
  double mean_features = 0;     // features per sample
  double mean_clean_logit = 0;  // f_c(x)
  double mean_clean_prob = 0;
  std::vector<MethodFlipping> methods;  // options.methods order, per-layer ones expanded
};

// INVALID_ARGUMENT for bad options (unknown task or method, samples/steps < 1, a length or key
// count that does not fit the vocabulary, baseline token out of range); errors of the Engine pass
// through.
absl::StatusOr<InputFlippingReport> EvaluateInputFlipping(const Engine& engine,
                                                          const InputFlippingOptions& options);

nlohmann::json FlipReportToJson(const InputFlippingReport& report);
std::string FlipReportToMarkdown(const InputFlippingReport& report);
// Two SVGs of the normalised logit curves, one per order, every method a line (random dashed):
// <dir>/<model>_flip_morf.svg and <dir>/<model>_flip_lerf.svg. Returns the paths.
absl::StatusOr<std::vector<std::string>> WriteFlipPlots(const InputFlippingReport& report,
                                                        const std::string& dir);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_EVAL_INPUT_FLIPPING_H_
