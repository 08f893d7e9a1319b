// The results of explain's JSON, one writer for both modes (offline from the Engine's results,
// remote from the stream, explanation_json.h): each result is {"method", "layer", "rows",
// "approx_error"} plus "matrix" (token-to-token methods) or "scores", "explained_logit" and
// "targets" (per-target methods, ResultKind::kTokenScores); approx_error is null for methods that
// define none (HasApproxError). The results are listed in layer order, whole-model results
// (layer -1) last, request order within a layer. Torch-free and gRPC-free.
#ifndef MAMBA_EXPLAIN_CLIENT_RESULT_JSON_H_
#define MAMBA_EXPLAIN_CLIENT_RESULT_JSON_H_

#include <string>

#include "attribution/methods.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {

// A result with no rows yet: "rows" and the value arrays empty, approx_error from `approx_error`.
// `method` is a catalogue name, or a name this client does not know (a newer server's), which
// keeps its approx_error and is written as a matrix unless `kind` says otherwise.
nlohmann::json NewResultJson(const std::string& method, int layer, ResultKind kind,
                             double approx_error);

// approx_error as written: null for a catalogue method without one, else the value.
nlohmann::json ApproxErrorJson(const std::string& method, double approx_error);

// Puts `results` (a JSON array of results) in the output order above (a stable sort).
void SortResults(nlohmann::json* results);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_CLIENT_RESULT_JSON_H_
