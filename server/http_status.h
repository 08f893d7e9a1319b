// The HTTP side of the gRPC status: the one mapping from gRPC codes to HTTP status codes used by
// the HTTP/JSON gateway (grpc-gateway's runtime.HTTPStatusFromCode, so a dashboard written for a
// grpc-gateway sees the same codes), and the JSON error body {"code", "status", "message"}
// (grpc-gateway's google.rpc.Status shape plus the code's name). The message is the one the gRPC
// service produced (already bounded by status_mapping.h). Pure functions, thread-safe.
#ifndef MAMBA_EXPLAIN_SERVER_HTTP_STATUS_H_
#define MAMBA_EXPLAIN_SERVER_HTTP_STATUS_H_

#include <grpcpp/support/status.h>

#include <string>

namespace mamba_explain {

// 200 for OK, 400 INVALID_ARGUMENT / FAILED_PRECONDITION / OUT_OF_RANGE, 401 UNAUTHENTICATED,
// 403 PERMISSION_DENIED, 404 NOT_FOUND, 409 ALREADY_EXISTS / ABORTED, 429 RESOURCE_EXHAUSTED,
// 499 CANCELLED, 501 UNIMPLEMENTED, 503 UNAVAILABLE, 504 DEADLINE_EXCEEDED, 500 otherwise.
int HttpStatusFromGrpc(grpc::StatusCode code);

// "OK", "INVALID_ARGUMENT", ... (the canonical spelling, as in absl::StatusCodeToString).
std::string GrpcCodeName(grpc::StatusCode code);

// {"code": <gRPC code number>, "status": "<name>", "message": "<message>"} (one line).
std::string ErrorJson(const grpc::Status& status);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVER_HTTP_STATUS_H_
