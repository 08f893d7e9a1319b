// The steps of `explain` that offline and remote share around their own way of explaining one
// prompt (the ExplainHooks of token_refs.h): the checks before the model loads or the connection
// opens, and the choice between --input's many prompts (dataset.h) and the one prompt of the
// flags (with --generate and --contrast-target applied). Torch-free and gRPC-free.
#ifndef MAMBA_EXPLAIN_CLIENT_EXPLAIN_COMMAND_H_
#define MAMBA_EXPLAIN_CLIENT_EXPLAIN_COMMAND_H_

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "client/dataset.h"
#include "client/token_refs.h"
#include "common/cli_args.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {

// Everything checkable without the model: the output flags (CheckExplainOutputs), then --input's
// lines (ReadDataset) or the one prompt's flags (CheckExplainFlags, CheckContrastFlags,
// --generate, token strings). The dataset's items; empty without --input.
absl::StatusOr<std::vector<DatasetItem>> PrepareExplain(const CliArgs& args);

// With --input: runs every item (RunDataset, which writes its own output) and returns nullopt.
// Without: the one prompt's explanation (ExplainWithOptions), for the caller to write.
absl::StatusOr<std::optional<nlohmann::json>> ExplainPrompts(const CliArgs& args,
                                                             const std::vector<DatasetItem>& items,
                                                             const ExplainHooks& hooks);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_CLIENT_EXPLAIN_COMMAND_H_
