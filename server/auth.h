// Bearer-token authentication for the Explainer RPCs: the tokens file holds one token per line
// (blank lines and lines starting with '#' are ignored); a call must carry
// "authorization: Bearer <token>" with one of them, else UNAUTHENTICATED. Comparison is
// constant-time per token. Health and reflection are not gated (Kubernetes probes carry no
// metadata). Immutable after creation, thread-safe.
#ifndef MAMBA_EXPLAIN_SERVER_AUTH_H_
#define MAMBA_EXPLAIN_SERVER_AUTH_H_

#include <grpcpp/support/string_ref.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mamba_explain {

// True when the two strings are equal, in time that depends only on presented.size() (no early
// return on a length mismatch or a first differing byte). Exposed for tests.
bool ConstantTimeEquals(const std::string& secret, const std::string& presented);

class TokenAuthenticator {
 public:
  // NOT_FOUND for a missing file, INVALID_ARGUMENT when it holds no token.
  static absl::StatusOr<std::unique_ptr<TokenAuthenticator>> FromFile(const std::string& path);
  absl::Status Check(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) const;

 private:
  std::vector<std::string> tokens_;
};

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVER_AUTH_H_
