#include "server/http_gateway.h"

#include <google/protobuf/util/json_util.h>
#include <httplib.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "server/http_explain_stream.h"
#include "server/http_status.h"
#include "server/httplib_listener.h"
#include "web/web_assets.h"

namespace mamba_explain {
namespace {

// Canonical proto3 JSON (lowerCamelCase names, enums by name, int64 as strings, NaN as "NaN"),
// with zero-valued fields printed: a dashboard then sees "layer": 0 and "rowBegin": 0 instead of
// missing keys.
std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) {
    return "{}";  // cannot happen for our messages (no Any, no maps with odd keys)
  }
  return out;
}

// INVALID_ARGUMENT naming the expected message when `body` is not its JSON; an empty body is {}.
grpc::Status ParseJson(const std::string& body, google::protobuf::Message* message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;  // a misspelt field is an error, not a silent default
  const auto status = google::protobuf::util::JsonStringToMessage(
      absl::StripAsciiWhitespace(body).empty() ? "{}" : body, message, options);
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(
      grpc::StatusCode::INVALID_ARGUMENT,
      absl::StrCat("the body is not a valid ", message->GetDescriptor()->full_name(),
                   " in JSON: ", std::string(status.message().data(), status.message().size())));
}

// The gRPC call's deadline from grpc-gateway's "Grpc-Timeout" header ("30S", "500m": an integer
// and a unit H, M, S, m (ms), u (us), n (ns)); InfiniteFuture without the header.
grpc::Status ParseTimeout(const httplib::Request& req, absl::Time* deadline) {
  *deadline = absl::InfiniteFuture();
  if (!req.has_header("Grpc-Timeout")) return grpc::Status::OK;
  const std::string value = req.get_header_value("Grpc-Timeout");
  int64_t n = 0;
  if (value.size() >= 2 && absl::SimpleAtoi(value.substr(0, value.size() - 1), &n) && n > 0) {
    absl::Duration unit;
    switch (value.back()) {
      case 'H':
        unit = absl::Hours(1);
        break;
      case 'M':
        unit = absl::Minutes(1);
        break;
      case 'S':
        unit = absl::Seconds(1);
        break;
      case 'm':
        unit = absl::Milliseconds(1);
        break;
      case 'u':
        unit = absl::Microseconds(1);
        break;
      case 'n':
        unit = absl::Nanoseconds(1);
        break;
      default:
        unit = absl::ZeroDuration();
    }
    if (unit != absl::ZeroDuration()) {
      *deadline = absl::Now() + n * unit;
      return grpc::Status::OK;
    }
  }
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      absl::StrCat("Grpc-Timeout '", value.substr(0, 32),
                                   "' is not a positive integer followed by H, M, S, m, u or n"));
}

void SetupContext(const httplib::Request& req, absl::Time deadline, grpc::ClientContext* context) {
  const std::string authorization = req.get_header_value("Authorization");
  if (!authorization.empty()) context->AddMetadata("authorization", authorization);
  if (deadline != absl::InfiniteFuture()) context->set_deadline(absl::ToChronoTime(deadline));
}

void ReplyError(const grpc::Status& status, httplib::Response& res) {
  res.status = HttpStatusFromGrpc(status.error_code());
  if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
    res.set_header("WWW-Authenticate", "Bearer");
  }
  // A full queue says "retry after N ms" (serving/dynamic_batcher); HTTP clients read Retry-After.
  const std::string& message = status.error_message();
  const size_t at = message.find("retry after ");
  int64_t ms = 0;
  if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED && at != std::string::npos) {
    const std::string digits = message.substr(at + 12, message.find(' ', at + 12) - (at + 12));
    if (absl::SimpleAtoi(digits, &ms)) {
      res.set_header("Retry-After", absl::StrCat(std::max<int64_t>(1, (ms + 999) / 1000)));
    }
  }
  res.set_content(ErrorJson(status), "application/json");
}

void Reply(const grpc::Status& status, const google::protobuf::Message& message,
           httplib::Response& res) {
  if (!status.ok()) return ReplyError(status, res);
  res.status = 200;
  res.set_content(ToJson(message), "application/json");
}

// One event of the Explain stream: SSE "event: <payload>" + "data: <ExplainResponse JSON>", or
// one NDJSON line.
std::string StreamEvent(const v1::ExplainResponse& message, bool ndjson) {
  if (ndjson) return ToJson(message) + "\n";
  const char* name = "message";
  switch (message.payload_case()) {
    case v1::ExplainResponse::kHeader:
      name = "header";
      break;
    case v1::ExplainResponse::kLayerResult:
      name = "layerResult";
      break;
    case v1::ExplainResponse::kTokenScores:
      name = "tokenScores";
      break;
    case v1::ExplainResponse::kSummary:
      name = "summary";
      break;
    case v1::ExplainResponse::kInputTokens:  // a long input's ids beyond the header's
      name = "inputTokens";
      break;
    case v1::ExplainResponse::kProgress:  // only when the request asked for it
      name = "progress";
      break;
    default:
      break;
  }
  return absl::StrCat("event: ", name, "\ndata: ", ToJson(message), "\n\n");
}

// The error that ends a stream after its 200 header was sent: SSE "event: error", or an NDJSON
// line {"error": {...}} (grpc-gateway's streaming error shape).
std::string StreamError(const grpc::Status& status, bool ndjson) {
  if (ndjson) return absl::StrCat("{\"error\":", ErrorJson(status), "}\n");
  return absl::StrCat("event: error\ndata: ", ErrorJson(status), "\n\n");
}

}  // namespace

HttpGateway::HttpGateway(const HttpGatewayOptions& options,
                         std::shared_ptr<grpc::ChannelInterface> channel)
    : options_(options), stub_(v1::Explainer::NewStub(std::move(channel))) {}

HttpGateway::~HttpGateway() { Stop(); }

absl::StatusOr<std::unique_ptr<HttpGateway>> HttpGateway::Start(
    const HttpGatewayOptions& options, std::shared_ptr<grpc::ChannelInterface> channel) {
  auto gateway = std::unique_ptr<HttpGateway>(new HttpGateway(options, std::move(channel)));
  if (options.tls_cert.empty()) {
    gateway->server_ = std::make_unique<httplib::Server>();
  } else {
    gateway->server_ = std::make_unique<httplib::SSLServer>(
        options.tls_cert.c_str(), options.tls_key.c_str(),
        options.tls_client_ca.empty() ? nullptr : options.tls_client_ca.c_str());
  }
  if (!gateway->server_->is_valid()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HTTP: cannot load the TLS certificate '", options.tls_cert, "', key '", options.tls_key,
        "'", options.tls_client_ca.empty() ? "" : " or client CA '" + options.tls_client_ca + "'"));
  }
  httplib::Server& server = *gateway->server_;
  const int threads = std::max(1, options.threads);
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_payload_max_length(options.max_body_bytes);
  server.set_read_timeout(absl::ToChronoSeconds(options.read_timeout));
  server.set_write_timeout(std::chrono::seconds(30));
  server.set_keep_alive_timeout(5);
  gateway->Route();
  ASSIGN_OR_RETURN(gateway->port_,
                   StartListening(server, options.host, options.port, "HTTP", &gateway->listener_));
  return gateway;
}

void HttpGateway::Stop() {
  if (server_) StopListening(*server_, listener_);
}

void HttpGateway::Route() {
  httplib::Server& server = *server_;
  server.set_default_headers({{"X-Content-Type-Options", "nosniff"}});

  // The console: static files compiled into the binary (no CDN, no network).
  auto serve_asset = [](const std::string& name, httplib::Response& res) {
    const WebAsset* asset = FindWebAsset(name);
    if (asset == nullptr) {
      return ReplyError(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                     absl::StrCat("no file '", name.substr(0, 64), "'")),
                        res);
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; img-src 'self' data: blob:; style-src 'self' "
                   "'unsafe-inline'");
    res.set_content(std::string(asset->content), std::string(asset->mime_type));
  };
  server.Get("/", [serve_asset](const httplib::Request&, httplib::Response& res) {
    serve_asset("console.html", res);
  });
  server.Get(R"(/web/([A-Za-z0-9_.-]+))",
             [serve_asset](const httplib::Request& req, httplib::Response& res) {
               serve_asset(req.matches[1], res);
             });

  server.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
    absl::Time deadline;
    grpc::Status status = ParseTimeout(req, &deadline);
    v1::ListModelsResponse response;
    if (status.ok()) {
      grpc::ClientContext context;
      SetupContext(req, deadline, &context);
      status = stub_->ListModels(&context, v1::ListModelsRequest(), &response);
    }
    Reply(status, response, res);
  });
  server.Get(R"(/v1/models/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    absl::Time deadline;
    grpc::Status status = ParseTimeout(req, &deadline);
    v1::ModelInfo response;
    if (status.ok()) {
      v1::GetModelRequest request;
      request.set_name(req.matches[1]);
      grpc::ClientContext context;
      SetupContext(req, deadline, &context);
      status = stub_->GetModel(&context, request, &response);
    }
    Reply(status, response, res);
  });
  server.Post("/v1/tokenize", [this](const httplib::Request& req, httplib::Response& res) {
    v1::TokenizeRequest request;
    v1::TokenizeResponse response;
    absl::Time deadline;
    grpc::Status status = ParseJson(req.body, &request);
    if (status.ok()) status = ParseTimeout(req, &deadline);
    if (status.ok()) {
      grpc::ClientContext context;
      SetupContext(req, deadline, &context);
      status = stub_->Tokenize(&context, request, &response);
    }
    Reply(status, response, res);
  });

  server.Post("/v1/explain", [this](const httplib::Request& req, httplib::Response& res) {
    v1::ExplainRequest request;
    absl::Time deadline;
    grpc::Status status = ParseJson(req.body, &request);
    if (status.ok()) status = ParseTimeout(req, &deadline);
    const std::string format = req.get_param_value("format");
    if (status.ok() && !format.empty() && format != "sse" && format != "ndjson") {
      status =
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                       absl::StrCat("format '", format.substr(0, 32), "' is not sse or ndjson"));
    }
    if (!status.ok()) return ReplyError(status, res);
    const bool ndjson = format == "ndjson" ||
                        (format.empty() &&
                         absl::StrContains(req.get_header_value("Accept"), "application/x-ndjson"));
    auto stream = std::make_shared<HttpExplainStream>(stub_.get(), request,
                                                      req.get_header_value("Authorization"),
                                                      deadline, options_.max_buffered_bytes);
    // Validation and admission happen before the service sends the Header, so waiting for the
    // first message is what lets a rejected request get its HTTP status (400, 404, 429, ...).
    auto first = std::make_shared<v1::ExplainResponse>();
    if (stream->Next(absl::InfiniteDuration(), first.get(), &status) ==
        HttpExplainStream::Event::kDone) {
      return ReplyError(status.ok() ? grpc::Status(grpc::StatusCode::INTERNAL,
                                                   "the Explain stream ended without a message")
                                    : status,
                        res);
    }
    res.status = 200;
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");  // proxies (nginx) must not buffer the stream
    const absl::Duration keepalive = options_.keepalive;
    res.set_chunked_content_provider(
        ndjson ? "application/x-ndjson" : "text/event-stream",
        [stream, first, ndjson, keepalive](size_t, httplib::DataSink& sink) {
          auto write = [&sink, &stream](const std::string& text) {
            if (sink.write(text.data(), text.size())) return true;
            stream->Cancel();  // the client went away: stop the computation
            return false;
          };
          if (!write(StreamEvent(*first, ndjson))) return false;
          first->Clear();
          v1::ExplainResponse message;
          grpc::Status end;
          for (;;) {
            switch (stream->Next(keepalive, &message, &end)) {
              case HttpExplainStream::Event::kMessage:
                if (!write(StreamEvent(message, ndjson))) return false;
                break;
              case HttpExplainStream::Event::kTimeout:
                if (!write(ndjson ? "\n" : ": keep-alive\n\n")) return false;
                break;
              case HttpExplainStream::Event::kDone:
                if (!end.ok() && !write(StreamError(end, ndjson))) return false;
                sink.done();
                return true;
            }
          }
        },
        [stream](bool success) {
          if (!success) stream->Cancel();
        });
  });

  // CORS (server/http_cors.h). OPTIONS on any path: a browser's preflight gets the policy's
  // answer; a plain OPTIONS (no Origin) learns the methods.
  const CorsPolicy cors = options_.cors;
  server.Options(R"(.*)", [cors](const httplib::Request& req, httplib::Response& res) {
    const std::string origin = req.get_header_value("Origin");
    if (origin.empty() || !req.has_header("Access-Control-Request-Method")) {
      res.status = 204;
      res.set_header("Allow", "GET, POST, OPTIONS");
      return;
    }
    const CorsPolicy::Preflight answer =
        cors.Answer(origin, req.get_header_value("Access-Control-Request-Method"),
                    req.get_header_value("Access-Control-Request-Headers"));
    if (answer.status != 204) {
      return ReplyError(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, answer.error), res);
    }
    res.status = 204;
    for (const auto& [name, value] : answer.headers) res.set_header(name, value);
  });
  // Every other response (errors and streams included; httplib calls this before it writes the
  // headers) to a request from an allowed origin.
  if (cors.enabled()) {
    server.set_post_routing_handler([cors](const httplib::Request& req, httplib::Response& res) {
      if (req.method == "OPTIONS") return;  // the preflight handler set its own
      for (const auto& [name, value] : cors.ResponseHeaders(req.get_header_value("Origin"))) {
        res.set_header(name, value);
      }
    });
  }

  // Unknown paths and library-level errors (413 body too large, 400 bad request line) get the
  // same JSON error body as the API's own errors.
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    grpc::StatusCode code = grpc::StatusCode::INVALID_ARGUMENT;
    std::string message = absl::StrCat("HTTP ", res.status);
    if (res.status == 404) {
      code = grpc::StatusCode::NOT_FOUND;
      message = absl::StrCat("no route ", req.method, " ", req.path.substr(0, 128));
    } else if (res.status == 413) {
      code = grpc::StatusCode::RESOURCE_EXHAUSTED;
      message = "the request body is larger than the server's limit (--max_receive_message_bytes)";
    }
    res.set_content(ErrorJson(grpc::Status(code, message)), "application/json");
  });
  server.set_exception_handler([](const httplib::Request&, httplib::Response& res,
                                  std::exception_ptr) {
    ReplyError(grpc::Status(grpc::StatusCode::INTERNAL, "internal error in the HTTP gateway"), res);
  });
}

}  // namespace mamba_explain
