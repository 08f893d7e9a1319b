// The HTTP/JSON gateway of mamba-explaind (docs/api.md, docs/openapi.yaml): GET /v1/models,
// GET /v1/models/{name}, POST /v1/tokenize, POST /v1/explain (Server-Sent Events, or NDJSON with
// "Accept: application/x-ndjson" or "?format=ndjson"), and the live console at / (static files
// embedded in the binary, web/). Bodies and events are the proto3 JSON mapping of the
// mamba_explain.v1 messages.
//
// It is a translation layer only, like grpc-gateway: every call goes to the Explainer service
// through the gRPC server's in-process channel, so HTTP requests take exactly the gRPC path
// (bearer-token auth from the Authorization header, drain, validation, limits, batching, metrics)
// and the gRPC status maps to the HTTP status (http_status.h). TLS/mTLS use the gRPC server's
// certificate, key and client CA. A client that disconnects cancels its Explain call: the HTTP
// thread writes keep-alives while it waits, and a failed write cancels the gRPC call. CORS
// (preflight OPTIONS, Access-Control-* headers) for the origins in options.cors only.
// Thread-safe; the channel must stay usable until Stop() returns.
#ifndef MAMBA_EXPLAIN_SERVER_HTTP_GATEWAY_H_
#define MAMBA_EXPLAIN_SERVER_HTTP_GATEWAY_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mamba_explain/v1/explain.grpc.pb.h"
#include "server/http_cors.h"

namespace httplib {
class Server;
}

namespace mamba_explain {

struct HttpGatewayOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: a free port (port() says which)
  // PEM files; an empty tls_cert serves plaintext. A tls_client_ca requires client certificates.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // Connections served at once; an Explain stream holds one for its whole duration.
  int threads = 16;
  // Largest request body (JSON); the gRPC limit on the message still applies after parsing.
  size_t max_body_bytes = 4 << 20;
  // Explain: how often an idle stream writes a keep-alive (an SSE comment, an empty NDJSON
  // line); a failed write is how a disconnected client is noticed.
  absl::Duration keepalive = absl::Milliseconds(500);
  // Explain: messages read from the service but not yet written to the HTTP client.
  size_t max_buffered_bytes = 4 << 20;
  // How long a connection may take to send its request.
  absl::Duration read_timeout = absl::Seconds(10);
  // Origins other than the gateway's own whose pages may call the API (--http_cors_origins,
  // server/http_cors.h); none by default.
  CorsPolicy cors;
};

class HttpGateway {
 public:
  // Binds and starts serving; UNAVAILABLE naming the address when it cannot listen,
  // INVALID_ARGUMENT when the TLS files do not load.
  static absl::StatusOr<std::unique_ptr<HttpGateway>> Start(
      const HttpGatewayOptions& options, std::shared_ptr<grpc::ChannelInterface> channel);
  ~HttpGateway();

  int port() const { return port_; }
  // Stops accepting, waits for the running requests (an Explain stream ends once its gRPC call
  // does: call after the gRPC server's Shutdown, which cancels them).
  void Stop();

 private:
  HttpGateway(const HttpGatewayOptions& options, std::shared_ptr<grpc::ChannelInterface> channel);
  void Route();

  const HttpGatewayOptions options_;
  std::unique_ptr<v1::Explainer::Stub> stub_;
  std::unique_ptr<httplib::Server> server_;
  std::thread listener_;
  int port_ = 0;
};

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVER_HTTP_GATEWAY_H_
