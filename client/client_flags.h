// The flags of every mamba-explain command, offline and remote, in one table: a flag that both
// modes accept is declared once, so its name (and, through the shared checks below, its meaning
// and its errors) cannot drift between them. Remote commands add the connection flags of
// remote_connection.h. Also the checks both modes run before any work: the method-parameter
// flags and --target, and that output paths are writable (so a long computation never ends in
// "cannot write"). Torch-free and gRPC-free.
#ifndef MAMBA_EXPLAIN_CLIENT_CLIENT_FLAGS_H_
#define MAMBA_EXPLAIN_CLIENT_CLIENT_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/cli_args.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {

enum class ClientMode { kOffline, kRemote };

// The flags `command` ("tokenize", "forward", "explain", "models", "health") accepts in `mode`;
// the connection flags are not included (WithConnection adds them).
FlagSpec ClientFlagSpec(const std::string& command, ClientMode mode);

// Checks shared by offline and remote explain, with the same messages in both modes:
// --ig-steps and --sg-samples are integers >= 1 (remote sends 0 as "unset", so 0 must not pass
// silently), and --target / --target-tokens need an output-dependent method among the catalogue
// methods asked for (LaTIM ℓ1/ℓ2/ALTI and the hidden-attention methods ignore a target).
absl::Status CheckExplainFlags(const CliArgs& args);

// The comma list of --method (or its old spelling --methods; not both), default latim-l2.
absl::StatusOr<std::string> MethodList(const CliArgs& args);

// FAILED_PRECONDITION "cannot write --json 'PATH': ..." unless each given output flag in `flags`
// names a path that can be created or overwritten ("-" = standard output always passes). Creates
// and removes nothing.
absl::Status CheckOutputPaths(const CliArgs& args, const std::vector<std::string>& flags);

// Writes `text` + "\n" to --json's path (or standard output when --json is absent or "-").
absl::Status WriteJsonOutput(const CliArgs& args, const std::string& text);
// `out` on one line (invalid UTF-8 replaced), written as WriteJsonOutput: every command's JSON.
absl::Status WriteJson(const CliArgs& args, const nlohmann::json& out);

// Integrated Gradients whose completeness gap (approx_error, relative) exceeds
// kIgGapWarning: prints a warning to stderr suggesting more --ig-steps. Both modes call it.
inline constexpr double kIgGapWarning = 0.05;
void WarnIfIncomplete(const std::string& method, double approx_error, int ig_steps);

// "1 result", "3 results".
std::string CountNoun(size_t n, const std::string& noun);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_CLIENT_CLIENT_FLAGS_H_
