// explain's flags -> the typed ExplainRequest (explain/explain_request.h), the one reading of them
// for both modes: offline hands the request to the explain Validate and the Engine, remote turns
// it into the wire message (remote_request.h). So a flag parses, defaults and fails the same way
// in both modes; what needs the model (layer, row and token ranges, the model's methods) is the
// explain Validate's, which the server runs too. Torch-free and gRPC-free.
#ifndef MAMBA_EXPLAIN_CLIENT_EXPLAIN_FLAGS_H_
#define MAMBA_EXPLAIN_CLIENT_EXPLAIN_FLAGS_H_

#include "absl/status/statusor.h"
#include "common/cli_args.h"
#include "explain/explain_request.h"

namespace mamba_explain {

// --method (or --methods), --layers, --rows (or its old remote spelling --targets), --target,
// --target-tokens, --activation, --precision, --memory-budget-mib and the method-parameter flags
// (explanation_meta.h ParseMethodParameters); absent flags keep ExplainRequest's defaults.
// INVALID_ARGUMENT naming the flag and the value when one does not parse. Token strings and
// --generate must already be resolved into ids (token_refs.h).
absl::StatusOr<ExplainRequest> ExplainRequestFromFlags(const CliArgs& args);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_CLIENT_EXPLAIN_FLAGS_H_
