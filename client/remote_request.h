// The remote `explain` request from the CLI flags (the offline command's flag names and
// defaults): one ExplainRequest message, no Tokenize round trip (the last row and a single target
// token travel as row_selection / target_token).
#ifndef MAMBA_EXPLAIN_CLIENT_REMOTE_REQUEST_H_
#define MAMBA_EXPLAIN_CLIENT_REMOTE_REQUEST_H_

#include "absl/status/statusor.h"
#include "common/cli_args.h"
#include "mamba_explain/v1/explain.pb.h"

namespace mamba_explain {

// INVALID_ARGUMENT naming the flag when one does not parse.
absl::StatusOr<v1::ExplainRequest> BuildRequest(const CliArgs& args);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_CLIENT_REMOTE_REQUEST_H_
