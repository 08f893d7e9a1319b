#include "proto/wire_enums.h"

namespace mamba_explain {

v1::Activation ActivationToProto(Activation a) {
  switch (a) {
    case Activation::kSilu:
      return v1::ACTIVATION_SILU;
    case Activation::kIdentity:
      return v1::ACTIVATION_IDENTITY;
    case Activation::kRelu:
      return v1::ACTIVATION_RELU;
  }
  return v1::ACTIVATION_UNSPECIFIED;
}

v1::Precision PrecisionToProto(Precision p) {
  switch (p) {
    case Precision::kFp32:
      return v1::PRECISION_FP32;
    case Precision::kTf32:
      return v1::PRECISION_TF32;
    case Precision::kBf16:
      return v1::PRECISION_BF16;
  }
  return v1::PRECISION_UNSPECIFIED;
}

}  // namespace mamba_explain
