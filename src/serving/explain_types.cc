#include "serving/explain_types.h"

#include "absl/strings/str_cat.h"
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

std::string BatchOptions::Key() const {
  return absl::StrCat(absl::StrJoin(methods, ","), "|", absl::StrJoin(layers, ","), "|",
                      ActivationName(activation), "|", PrecisionName(precision), "|",
                      params.ig_steps, "|", params.smoothgrad_samples, "|", params.smoothgrad_sigma,
                      "|", params.seed, "|", params.memory_budget_mib);
}

}  // namespace mamba_explain
