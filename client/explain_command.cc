#include "client/explain_command.h"

#include "client/client_flags.h"
#include "common/status_macros.h"

namespace mamba_explain {

absl::StatusOr<std::vector<DatasetItem>> PrepareExplain(const CliArgs& args) {
  RETURN_IF_ERROR(CheckExplainOutputs(args));
  if (args.Has("input")) return ReadDataset(args);
  RETURN_IF_ERROR(CheckExplainFlags(args));
  RETURN_IF_ERROR(CheckContrastFlags(args));
  RETURN_IF_ERROR(GenerateCount(args).status());
  RETURN_IF_ERROR(HasTokenStrings(args).status());
  return std::vector<DatasetItem>();
}

absl::StatusOr<std::optional<nlohmann::json>> ExplainPrompts(const CliArgs& args,
                                                             const std::vector<DatasetItem>& items,
                                                             const ExplainHooks& hooks) {
  if (args.Has("input")) {
    RETURN_IF_ERROR(
        RunDataset(args, items, [&](const CliArgs& a) { return ExplainWithOptions(a, hooks); }));
    return std::optional<nlohmann::json>();
  }
  ASSIGN_OR_RETURN(nlohmann::json out, ExplainWithOptions(args, hooks));
  return std::optional<nlohmann::json>(std::move(out));
}

}  // namespace mamba_explain
