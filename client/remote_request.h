// The remote `explain` request from the CLI flags: the typed ExplainRequest both modes read from
// them (explain_flags.h), as one wire message, plus the transport flags (sparsity, priority,
// request id). No Tokenize round trip: the last row and a single target token travel as
// row_selection / target_token. Unset method parameters stay unset on the wire (the server's
// defaults are the offline ones).
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
