// `mamba-explain methods`: the method catalogue (src/attribution/methods.h) for people and for
// other clients. Without flags, one line per method; with --json FILE|-, the catalogue as JSON:
// {"methods": [{"name", "family", "scope" ("per-layer" | "whole-model"), "output_dependent",
// "result" ("matrix" | "token-scores"), "approx_error" (whether results carry one), "summary"}]}
// in catalogue order, synthetic methods included (family "synthetic"). The Python client ships
// this JSON (proto/mamba_explain/v1/methods.json, which cli_test keeps equal to it), so its method
// set comes from the catalogue. Torch-free and gRPC-free; needs no model.
#ifndef MAMBA_EXPLAIN_CLIENT_METHODS_COMMAND_H_
#define MAMBA_EXPLAIN_CLIENT_METHODS_COMMAND_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {

// The catalogue JSON above.
nlohmann::json MethodCatalogueJson();

absl::Status RunMethods(const std::vector<std::string>& args);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_CLIENT_METHODS_COMMAND_H_
