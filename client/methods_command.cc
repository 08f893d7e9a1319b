#include "client/methods_command.h"

#include <iostream>

#include "attribution/methods.h"
#include "client/client_flags.h"
#include "common/cli_args.h"
#include "common/status_macros.h"

namespace mamba_explain {

nlohmann::json MethodCatalogueJson() {
  nlohmann::json methods = nlohmann::json::array();
  for (const MethodInfo& info : MethodCatalogue()) {
    methods.push_back(
        {{"name", info.name},
         {"family", MethodFamilyName(info.family)},
         {"scope", info.scope == MethodScope::kPerLayer ? "per-layer" : "whole-model"},
         {"output_dependent", info.output_dependent},
         {"result", info.result_kind == ResultKind::kMatrix ? "matrix" : "token-scores"},
         {"approx_error", HasApproxError(info.id)},
         {"summary", info.summary}});
  }
  return {{"methods", std::move(methods)}};
}

absl::Status RunMethods(const std::vector<std::string>& argv) {
  FlagSpec spec;
  spec.valued = {"json"};
  ASSIGN_OR_RETURN(CliArgs args, CliArgs::Parse(argv, spec));
  if (!args.Has("json")) {
    std::cout << MethodHelp();
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(CheckOutputPaths(args, {"json"}));
  return WriteJsonOutput(args, MethodCatalogueJson().dump(2));
}

}  // namespace mamba_explain
