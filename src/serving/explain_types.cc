#include "serving/explain_types.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace mamba_explain {

// Engine methods never split a batch: each family runs over the requests that asked for it, in
// calls keyed by that family's parameters (batch_plan.cc), so nothing has to be shared by the
// whole batch. The synthetic backend runs a batch as one call with the first request's options,
// so for its methods every field that can change a result is in the key (σ with all digits). The
// memory budget changes only how work is blocked, never a result, so it is never in the key.
std::string BatchOptions::Key() const {
  bool synthetic = false;
  for (Method m : methods) synthetic |= GetMethodInfo(m).family == MethodFamily::kSynthetic;
  if (!synthetic) return "";
  const ExplainParameters& p = params;
  return absl::StrCat(
      absl::StrJoin(MethodNames(methods), ","), "|", PrecisionName(precision),
      "|layers=", absl::StrJoin(layers, ","), "|f=", ActivationName(activation), "|ig=", p.ig_steps,
      ",", IgQuadratureName(p.ig_rule), "|sg=", p.smoothgrad_samples, ",",
      absl::StrFormat("%.17g", p.smoothgrad_sigma), ",", SmoothGradInputName(p.smoothgrad_input),
      ",", p.seed, "|lrp=", LrpRulesName(p.lrp_rules),
      "|norm=", AttentionNormName(p.attention_norm), "|start=", p.start_layer);
}

}  // namespace mamba_explain
