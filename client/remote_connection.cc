#include "client/remote_connection.h"

#include <chrono>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/file_io.h"
#include "common/status_macros.h"

namespace mamba_explain {

namespace {

const std::set<std::string> kConnectionFlags = {
    "server", "tls-ca", "tls-cert", "tls-key", "token-file", "timeout", "tls-server-name"};

}  // namespace

FlagSpec WithConnection(FlagSpec spec) {
  spec.valued.insert(kConnectionFlags.begin(), kConnectionFlags.end());
  return spec;
}

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

absl::StatusOr<Connection> Connect(const CliArgs& args) {
  Connection c;
  ASSIGN_OR_RETURN(std::string server, args.Require("server"));
  if (args.Has("timeout") && !absl::SimpleAtod(args.Get("timeout"), &c.timeout_s)) {
    return absl::InvalidArgumentError(absl::StrCat("bad --timeout '", args.Get("timeout"), "'"));
  }
  if (args.Has("token-file")) {
    ASSIGN_OR_RETURN(std::string token, ReadFile(args.Get("token-file")));
    c.token = std::string(absl::StripAsciiWhitespace(token));
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (args.Has("tls-ca")) {
    grpc::SslCredentialsOptions options;
    ASSIGN_OR_RETURN(options.pem_root_certs, ReadFile(args.Get("tls-ca")));
    if (args.Has("tls-cert") != args.Has("tls-key")) {
      return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
    }
    if (args.Has("tls-cert")) {
      ASSIGN_OR_RETURN(options.pem_cert_chain, ReadFile(args.Get("tls-cert")));
      ASSIGN_OR_RETURN(options.pem_private_key, ReadFile(args.Get("tls-key")));
    }
    credentials = grpc::SslCredentials(options);
  } else {
    if (args.Has("tls-cert")) return absl::InvalidArgumentError("--tls-cert needs --tls-ca");
    credentials = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(16 << 20);
  if (args.Has("tls-server-name")) {
    channel_args.SetSslTargetNameOverride(args.Get("tls-server-name"));
  }
  c.channel = grpc::CreateCustomChannel(server, credentials, channel_args);
  return c;
}

}  // namespace mamba_explain
