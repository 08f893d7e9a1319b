#include "serving/explain_types.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace mamba_explain {

// The key holds what changes a result of the batch's methods, and nothing else (σ with all
// digits; choices spelled by the catalogue): the methods and precision always; layers for the
// per-layer families (LaTIM, mamba-attention); the activation f for LaTIM; each method's own
// parameters only when that method is asked (the seed only with smoothgrad, whose noise it
// draws). The memory budget changes only how work is blocked, never a result, so it is not in
// the key (the batch runs with the smallest budget of its requests). The synthetic methods keep
// every field. Target rows, target tokens and lengths are per sequence (ExplainInput) and never
// split a batch.
std::string BatchOptions::Key() const {
  const ExplainParameters& p = params;
  bool latim = false, attention = false, ig = false, sg = false, lrp = false, start_layer = false,
       synthetic = false;
  for (Method m : methods) {
    latim |= GetMethodInfo(m).family == MethodFamily::kLatim;
    synthetic |= GetMethodInfo(m).family == MethodFamily::kSynthetic;
    attention |= m == Method::kMambaAttention;
    ig |= m == Method::kIntegratedGradients;
    sg |= m == Method::kSmoothGrad;
    lrp |= m == Method::kMambaLrp;
    start_layer |= m == Method::kRollout || m == Method::kMambaAttribution;
  }
  if (synthetic) latim = attention = ig = sg = lrp = start_layer = true;
  std::string key =
      absl::StrCat(absl::StrJoin(MethodNames(methods), ","), "|", PrecisionName(precision));
  if (latim || attention) absl::StrAppend(&key, "|layers=", absl::StrJoin(layers, ","));
  if (latim) absl::StrAppend(&key, "|f=", ActivationName(activation));
  if (ig) absl::StrAppend(&key, "|ig=", p.ig_steps, ",", IgQuadratureName(p.ig_rule));
  if (sg) {
    absl::StrAppend(&key, "|sg=", p.smoothgrad_samples, ",",
                    absl::StrFormat("%.17g", p.smoothgrad_sigma), ",",
                    SmoothGradInputName(p.smoothgrad_input), ",", p.seed);
  }
  if (lrp) absl::StrAppend(&key, "|lrp=", LrpRulesName(p.lrp_rules));
  if (attention) absl::StrAppend(&key, "|norm=", AttentionNormName(p.attention_norm));
  if (start_layer) absl::StrAppend(&key, "|start=", p.start_layer);
  return key;
}

}  // namespace mamba_explain
