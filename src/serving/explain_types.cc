#include "serving/explain_types.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace mamba_explain {

const char* ActivationName(Activation a) {
  switch (a) {
    case Activation::kSilu:
      return "silu";
    case Activation::kIdentity:
      return "identity";
    case Activation::kRelu:
      return "relu";
  }
  return "?";
}

const char* PrecisionName(Precision p) {
  switch (p) {
    case Precision::kDefault:
      return "default";
    case Precision::kFp32:
      return "fp32";
    case Precision::kTf32:
      return "tf32";
    case Precision::kBf16:
      return "bf16";
  }
  return "?";
}

// Every field that changes a result is in the key (σ with all float digits), so a batch never
// mixes parameters.
std::string BatchOptions::Key() const {
  return absl::StrCat(
      absl::StrJoin(methods, ","), "|", absl::StrJoin(layers, ","), "|", ActivationName(activation),
      "|", PrecisionName(precision), "|", params.ig_steps, "|", params.smoothgrad_samples, "|",
      params.smoothgrad_sigma ? absl::StrFormat("%.9g", *params.smoothgrad_sigma) : "default", "|",
      params.seed, "|", params.memory_budget_mib, "|", params.ig_rule, "|", params.smoothgrad_input,
      "|", params.lrp_rules, "|", params.attention_norm, "|", params.start_layer);
}

}  // namespace mamba_explain
