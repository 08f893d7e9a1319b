// The connection of the remote CLI commands to mamba-explaind: the flags every remote command
// accepts (--server, TLS and mTLS files, --token-file, --timeout, --tls-server-name), the channel
// they describe, and the one conversion of a grpc::Status into an absl::Status (same codes).
#ifndef MAMBA_EXPLAIN_CLIENT_REMOTE_CONNECTION_H_
#define MAMBA_EXPLAIN_CLIENT_REMOTE_CONNECTION_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/cli_args.h"

namespace mamba_explain {

// `spec` plus the connection flags.
FlagSpec WithConnection(FlagSpec spec);

absl::Status FromGrpc(const grpc::Status& s);

struct Connection {
  std::shared_ptr<grpc::Channel> channel;
  std::string token;
  double timeout_s = 300;

  // Deadline and bearer token of one call.
  void Prepare(grpc::ClientContext* context) const {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
    if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  }
};

// INVALID_ARGUMENT for bad flags, NOT_FOUND for unreadable TLS or token files.
absl::StatusOr<Connection> Connect(const CliArgs& args);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_CLIENT_REMOTE_CONNECTION_H_
