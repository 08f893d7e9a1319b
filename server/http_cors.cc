#include "server/http_cors.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace mamba_explain {
namespace {

// "scheme://host[:port]" with scheme http or https, a non-empty host (a name, an IPv4 address or
// a bracketed IPv6 address) and a port in 1..65535: the serialized origin of RFC 6454.
bool IsOrigin(absl::string_view origin) {
  absl::string_view rest = origin;
  if (!absl::ConsumePrefix(&rest, "http://") && !absl::ConsumePrefix(&rest, "https://")) {
    return false;
  }
  if (rest.empty() || rest.find_first_of("/?#@ \t") != absl::string_view::npos) return false;
  size_t host_end = 0;
  if (rest.front() == '[') {
    host_end = rest.find(']');
    if (host_end == absl::string_view::npos || host_end == 1) return false;
    ++host_end;
  } else {
    host_end = std::min(rest.find(':'), rest.size());
    if (host_end == 0) return false;
  }
  absl::string_view port = rest.substr(host_end);
  if (port.empty()) return true;
  int n = 0;
  return absl::ConsumePrefix(&port, ":") && !port.empty() &&
         std::all_of(port.begin(), port.end(), absl::ascii_isdigit) &&
         absl::SimpleAtoi(port, &n) && n >= 1 && n <= 65535;
}

}  // namespace

absl::StatusOr<CorsPolicy> CorsPolicy::Parse(absl::string_view flag) {
  CorsPolicy policy;
  for (absl::string_view entry : absl::StrSplit(flag, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    if (entry == "*") {
      policy.any_ = true;
      continue;
    }
    if (!IsOrigin(entry)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--http_cors_origins: '", entry.substr(0, 128),
          "' is not an origin: http://host[:port] or https://host[:port] (no path, no trailing "
          "slash), or * for any"));
    }
    policy.origins_.push_back(absl::AsciiStrToLower(entry));
  }
  return policy;
}

std::string CorsPolicy::AllowOrigin(absl::string_view origin) const {
  if (origin.empty()) return "";
  if (any_) return "*";
  const std::string lower = absl::AsciiStrToLower(origin);
  for (const std::string& allowed : origins_) {
    if (allowed == lower) return std::string(origin);
  }
  return "";
}

std::vector<std::pair<std::string, std::string>> CorsPolicy::ResponseHeaders(
    absl::string_view origin) const {
  const std::string allow = AllowOrigin(origin);
  if (allow.empty()) return {};
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Access-Control-Allow-Origin", allow},
      {"Access-Control-Expose-Headers", kExposedHeaders}};
  // The answer depends on Origin unless every origin gets "*": caches must key on it.
  if (allow != "*") headers.emplace_back("Vary", "Origin");
  return headers;
}

CorsPolicy::Preflight CorsPolicy::Answer(absl::string_view origin, absl::string_view method,
                                         absl::string_view request_headers) const {
  Preflight answer;
  if (AllowOrigin(origin).empty()) {
    answer.status = 403;
    answer.error = enabled() ? absl::StrCat("origin '", origin.substr(0, 128),
                                            "' is not in the server's --http_cors_origins")
                             : absl::StrCat("cross-origin requests are not enabled on this server "
                                            "(--http_cors_origins); origin '",
                                            origin.substr(0, 128), "'");
    return answer;
  }
  if (method != "GET" && method != "POST") {
    answer.status = 403;
    answer.error = absl::StrCat("method '", method.substr(0, 32), "' is not one of ",
                                kAllowedMethods);
    return answer;
  }
  const std::string allowed_headers = absl::AsciiStrToLower(kAllowedHeaders);
  const std::vector<absl::string_view> allowed =
      absl::StrSplit(allowed_headers, ", ", absl::SkipEmpty());
  for (absl::string_view header : absl::StrSplit(request_headers, ',', absl::SkipWhitespace())) {
    const std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(header));
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      answer.status = 403;
      answer.error = absl::StrCat("request header '", name.substr(0, 64), "' is not one of ",
                                  kAllowedHeaders);
      return answer;
    }
  }
  answer.headers = ResponseHeaders(origin);
  answer.headers.emplace_back("Access-Control-Allow-Methods", kAllowedMethods);
  answer.headers.emplace_back("Access-Control-Allow-Headers", kAllowedHeaders);
  answer.headers.emplace_back("Access-Control-Max-Age", absl::StrCat(kMaxAgeSeconds));
  return answer;
}

}  // namespace mamba_explain
