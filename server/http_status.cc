#include "server/http_status.h"

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {

int HttpStatusFromGrpc(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::CANCELLED:
      return 499;  // nginx's "client closed request", as grpc-gateway
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::ABORTED:
      return 409;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::UNIMPLEMENTED:
      return 501;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    default:  // UNKNOWN, INTERNAL, DATA_LOSS and codes this build does not know
      return 500;
  }
}

std::string GrpcCodeName(grpc::StatusCode code) {
  // absl and gRPC share the canonical numbering (status_mapping.cc relies on it too).
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

std::string ErrorJson(const grpc::Status& status) {
  nlohmann::json body;
  body["code"] = static_cast<int>(status.error_code());
  body["status"] = GrpcCodeName(status.error_code());
  body["message"] = status.error_message();
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace mamba_explain
