#include "server/status_mapping.h"

#include "absl/strings/str_cat.h"

namespace mamba_explain {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      TruncateUtf8(status.message(), kMaxStatusMessageBytes));
}

std::string CodeName(const absl::Status& status) { return absl::StatusCodeToString(status.code()); }

std::string TruncateUtf8(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  // The marker with the whole size is at least as long as the one with the bytes actually cut.
  const std::string probe = absl::StrCat("...[+", text.size(), " bytes]");
  if (probe.size() >= max_bytes) return std::string();
  size_t keep = max_bytes - probe.size();
  // Back up over UTF-8 continuation bytes (10xxxxxx) so no character is split.
  while (keep > 0 && (static_cast<unsigned char>(text[keep]) & 0xC0) == 0x80) --keep;
  return absl::StrCat(text.substr(0, keep), "...[+", text.size() - keep, " bytes]");
}

}  // namespace mamba_explain
