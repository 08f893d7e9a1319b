// Remote CLI commands: thin gRPC clients of a mamba-explaind server (explain, models, tokenize,
// health). Connection flags: --server HOST:PORT, TLS with --tls-ca [--tls-cert --tls-key] (mTLS),
// --token-file F (bearer token), --timeout SECONDS (the RPC deadline). Errors come back as the
// server's status (same code names as the service: "RESOURCE_EXHAUSTED: ..."). Output JSON on
// stdout or --json FILE; explain can also write a self-contained --html FILE. explain lives in
// remote_explain.cc, the others in remote_commands.cc.
#ifndef MAMBA_EXPLAIN_CLIENT_REMOTE_COMMANDS_H_
#define MAMBA_EXPLAIN_CLIENT_REMOTE_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace mamba_explain {

absl::Status RunRemoteExplain(const std::vector<std::string>& args);
absl::Status RunRemoteModels(const std::vector<std::string>& args);
absl::Status RunRemoteTokenize(const std::vector<std::string>& args);
// Prints the serving status; NOT_FOUND / UNAVAILABLE-like errors when not SERVING.
absl::Status RunRemoteHealth(const std::vector<std::string>& args);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_CLIENT_REMOTE_COMMANDS_H_
