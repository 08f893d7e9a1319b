#include "common/precision.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace mamba_explain {

const char* PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::kFp32:
      return "fp32";
    case Precision::kTf32:
      return "tf32";
    case Precision::kBf16:
      return "bf16";
  }
  return "?";
}

absl::StatusOr<Precision> ParsePrecision(absl::string_view text) {
  for (Precision p : {Precision::kFp32, Precision::kTf32, Precision::kBf16}) {
    if (text == PrecisionName(p)) return p;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown precision '", text, "' (", PrecisionChoices(), ")"));
}

std::string PrecisionChoices() {
  return absl::StrJoin({PrecisionName(Precision::kFp32), PrecisionName(Precision::kTf32),
                        PrecisionName(Precision::kBf16)},
                       ", ");
}

bool ComputePrecisionSupported(Precision weights, Precision compute) {
  return weights == Precision::kBf16 ? compute == Precision::kBf16 : true;
}

}  // namespace mamba_explain
