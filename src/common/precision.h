// Precision: the one numerics-mode type of the project (DESIGN §4), torch-free so that the model
// loader, the attribution families, the explain layer and serving all speak it.
//   kFp32  reference mode: fp32 everywhere, TF32 off
//   kTf32  fp32 storage, tensor-core TF32 for the big contractions (a compute mode only)
//   kBf16  bf16 projections / contractions; the scan, exponentials, A_log, D, dt bias and norm
//          statistics stay fp32 in every mode
// As a weight-storage dtype only kFp32 and kBf16 exist (tf32 weights are fp32 weights). On the wire
// "default" means "the model's own precision" and is an unset std::optional<Precision>.
#ifndef MAMBA_EXPLAIN_COMMON_PRECISION_H_
#define MAMBA_EXPLAIN_COMMON_PRECISION_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mamba_explain {

enum class Precision { kFp32, kTf32, kBf16 };

// "fp32" | "tf32" | "bf16".
const char* PrecisionName(Precision precision);
// INVALID_ARGUMENT "unknown precision '<text>' (fp32, tf32, bf16)" otherwise.
absl::StatusOr<Precision> ParsePrecision(absl::string_view text);
// "fp32, tf32, bf16": for help texts and error messages.
std::string PrecisionChoices();

// Whether a model whose weights are stored in `weights` can compute in `compute`: fp32 weights
// run any mode (tf32 and bf16 cast the contractions down); bf16 weights only bf16 (an fp32 result
// from bf16 weights would only pretend to be the reference).
bool ComputePrecisionSupported(Precision weights, Precision compute);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_COMMON_PRECISION_H_
