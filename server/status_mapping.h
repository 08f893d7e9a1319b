// The one place that turns absl::Status into grpc::Status (STYLE §3 "convert errors once per
// boundary"). absl and gRPC share the canonical code numbering, so codes map 1:1; nothing else in
// server/ invents codes. Messages are cut to kMaxStatusMessageBytes here: they may quote client
// strings (a model name, a method, lrp_rules), and a message of megabytes would exceed the
// client's metadata limit, so the client would see a transport error instead of the real code.
// Also names codes for metrics labels. Pure functions, thread-safe.
#ifndef MAMBA_EXPLAIN_SERVER_STATUS_MAPPING_H_
#define MAMBA_EXPLAIN_SERVER_STATUS_MAPPING_H_

#include <grpcpp/support/status.h>

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace mamba_explain {

// Well under gRPC's default 8 KiB metadata limit, with room for the other trailers.
inline constexpr size_t kMaxStatusMessageBytes = 1024;

grpc::Status ToGrpcStatus(const absl::Status& status);
// "OK", "INVALID_ARGUMENT", ... (the absl::StatusCodeToString spelling).
std::string CodeName(const absl::Status& status);
// `text` cut to at most `max_bytes` bytes at a UTF-8 character boundary, with a marker saying how
// much was cut when it was ("...[+N bytes]", counted within max_bytes); unchanged when it fits.
std::string TruncateUtf8(absl::string_view text, size_t max_bytes);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVER_STATUS_MAPPING_H_
