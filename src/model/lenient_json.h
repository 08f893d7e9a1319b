// Parses the JSON dialect that real HF configs are written in: strict JSON plus the bare
// tokens Infinity, -Infinity and NaN (Python's json.dumps default) and transformers' boxed
// {"__float__": "Infinity"} form. Non-finite numbers become doubles (±inf, NaN).
#ifndef MAMBA_EXPLAIN_MODEL_LENIENT_JSON_H_
#define MAMBA_EXPLAIN_MODEL_LENIENT_JSON_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {

// INVALID_ARGUMENT naming `source` and the byte offset on malformed input.
absl::StatusOr<nlohmann::json> ParseLenientJson(const std::string& text, const std::string& source);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_MODEL_LENIENT_JSON_H_
