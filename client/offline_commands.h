// Offline CLI commands: they load a model directory in-process (no server) through the Engine and
// print JSON to stdout; human-oriented extras (top-5 next tokens) go to stderr.
#ifndef MAMBA_EXPLAIN_CLIENT_OFFLINE_COMMANDS_H_
#define MAMBA_EXPLAIN_CLIENT_OFFLINE_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace mamba_explain {

// The commands and their flags: client/usage.cc (help texts) and client/client_flags.cc (the
// flag table shared with the remote commands).
absl::Status RunTokenize(const std::vector<std::string>& args);
absl::Status RunForward(const std::vector<std::string>& args);
absl::Status RunExplain(const std::vector<std::string>& args);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_CLIENT_OFFLINE_COMMANDS_H_
