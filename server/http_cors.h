// Cross-origin resource sharing for the HTTP gateway (--http_cors_origins): which web origins
// other than the gateway's own may call the API from a browser (a dashboard served elsewhere).
// The console at / is same-origin and needs none of this. Default: no origin is allowed, so a
// page of another origin cannot read any response (the browser's same-origin policy).
//
// With origins allowed:
//  - a response to a request whose Origin is allowed carries Access-Control-Allow-Origin (the
//    origin itself, or "*" when every origin is allowed), Vary: Origin and
//    Access-Control-Expose-Headers (Retry-After, WWW-Authenticate);
//  - a preflight (OPTIONS with Origin and Access-Control-Request-Method) from an allowed origin
//    for GET or POST with only the headers the API reads (Authorization, Content-Type, Accept,
//    Grpc-Timeout) is answered 204 with the Allow-Methods/-Headers and Max-Age; any other
//    preflight gets 403 with the JSON error body naming why.
// No Access-Control-Allow-Credentials: the API's credential is a bearer token the page sends in
// the Authorization header itself, not a cookie; mTLS client certificates are not offered to
// cross-origin pages.
#ifndef MAMBA_EXPLAIN_SERVER_HTTP_CORS_H_
#define MAMBA_EXPLAIN_SERVER_HTTP_CORS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mamba_explain {

class CorsPolicy {
 public:
  // The flag's value: "" (none), "*" (any origin), or origins separated by commas, each
  // "http://host[:port]" or "https://host[:port]" exactly as a browser sends it in Origin (no
  // path, no trailing slash). INVALID_ARGUMENT naming the entry otherwise.
  static absl::StatusOr<CorsPolicy> Parse(absl::string_view flag);

  CorsPolicy() = default;
  bool enabled() const { return any_ || !origins_.empty(); }
  // Access-Control-Allow-Origin for a request's Origin header: "*", the origin, or "" (not
  // allowed, or no Origin).
  std::string AllowOrigin(absl::string_view origin) const;

  // Headers for a response to a request with `origin` (empty when it is not allowed).
  std::vector<std::pair<std::string, std::string>> ResponseHeaders(absl::string_view origin) const;

  struct Preflight {
    int status = 204;  // 204, or 403 with `error`
    std::string error;
    std::vector<std::pair<std::string, std::string>> headers;
  };
  // The answer to OPTIONS with Origin, Access-Control-Request-Method and (maybe)
  // Access-Control-Request-Headers.
  Preflight Answer(absl::string_view origin, absl::string_view method,
                   absl::string_view request_headers) const;

  static constexpr const char* kAllowedMethods = "GET, POST";
  static constexpr const char* kAllowedHeaders = "Authorization, Content-Type, Accept, Grpc-Timeout";
  static constexpr const char* kExposedHeaders = "Retry-After, WWW-Authenticate";
  static constexpr int kMaxAgeSeconds = 600;

 private:
  bool any_ = false;
  std::vector<std::string> origins_;  // lower case
};

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVER_HTTP_CORS_H_
