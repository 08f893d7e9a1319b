#include "serving/explain_types.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace mamba_explain {

// Every field that changes a result is in the key (σ with all digits), so a batch never mixes
// parameters; choices are spelled by the catalogue.
std::string BatchOptions::Key() const {
  const ExplainParameters& p = params;
  return absl::StrCat(absl::StrJoin(MethodNames(methods), ","), "|", absl::StrJoin(layers, ","),
                      "|", ActivationName(activation), "|", PrecisionName(precision), "|",
                      memory_budget_bytes, "|", p.ig_steps, "|", IgQuadratureName(p.ig_rule), "|",
                      p.smoothgrad_samples, "|", absl::StrFormat("%.17g", p.smoothgrad_sigma), "|",
                      SmoothGradInputName(p.smoothgrad_input), "|", p.seed, "|",
                      LrpRulesName(p.lrp_rules), "|", AttentionNormName(p.attention_norm), "|",
                      p.start_layer);
}

}  // namespace mamba_explain
