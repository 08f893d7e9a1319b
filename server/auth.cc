#include "server/auth.h"

#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace mamba_explain {

bool ConstantTimeEquals(const std::string& secret, const std::string& presented) {
  // The loop runs over the presented string, whose length the caller already knows, and reads
  // the secret cyclically: time depends neither on where the first difference is nor on the
  // secret's length. A length mismatch is folded into the result, not returned early.
  size_t diff = secret.size() ^ presented.size();
  const size_t n = secret.size();
  for (size_t i = 0; i < presented.size(); ++i) {
    const unsigned char s = n == 0 ? 0 : static_cast<unsigned char>(secret[i % n]);
    diff |= static_cast<unsigned char>(s ^ static_cast<unsigned char>(presented[i]));
  }
  return diff == 0;
}

absl::StatusOr<std::unique_ptr<TokenAuthenticator>> TokenAuthenticator::FromFile(
    const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read tokens file '", path, "'"));
  auto auth = std::unique_ptr<TokenAuthenticator>(new TokenAuthenticator());
  std::string line;
  while (std::getline(in, line)) {
    std::string token(absl::StripAsciiWhitespace(line));
    if (token.empty() || token[0] == '#') continue;
    auth->tokens_.push_back(token);
  }
  if (auth->tokens_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("tokens file '", path, "' has no token"));
  }
  return auth;
}

absl::Status TokenAuthenticator::Check(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) const {
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError("missing 'authorization: Bearer <token>' metadata");
  }
  std::string value(it->second.data(), it->second.size());
  if (!absl::StartsWithIgnoreCase(value, "Bearer ")) {
    return absl::UnauthenticatedError("authorization metadata is not a Bearer token");
  }
  const std::string presented(absl::StripAsciiWhitespace(value.substr(7)));
  bool match = false;
  for (const std::string& t : tokens_) match |= ConstantTimeEquals(t, presented);
  if (!match) return absl::UnauthenticatedError("invalid bearer token");
  return absl::OkStatus();
}

}  // namespace mamba_explain
