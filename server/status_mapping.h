// The one place that turns absl::Status into grpc::Status (STYLE §3 "convert errors once per
// boundary"). absl and gRPC share the canonical code numbering, so codes map 1:1; nothing else in
// server/ invents codes. Also names codes for metrics labels. Pure functions, thread-safe.
#ifndef MAMBA_EXPLAIN_SERVER_STATUS_MAPPING_H_
#define MAMBA_EXPLAIN_SERVER_STATUS_MAPPING_H_

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"

namespace mamba_explain {

grpc::Status ToGrpcStatus(const absl::Status& status);
// "OK", "INVALID_ARGUMENT", ... (the absl::StatusCodeToString spelling).
std::string CodeName(const absl::Status& status);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVER_STATUS_MAPPING_H_
