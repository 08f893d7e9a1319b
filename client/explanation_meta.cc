#include "client/explanation_meta.h"

#ifdef ME_HAVE_OPENSSL
#include <openssl/evp.h>
#endif

#include <algorithm>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/file_io.h"
#include "common/status_macros.h"

#ifndef ME_VERSION
#define ME_VERSION "dev"
#endif

namespace mamba_explain {
namespace {

absl::StatusOr<int64_t> NonNegative(const CliArgs& args, const std::string& flag) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(args.Get(flag)), &v) || v < 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad --", flag, " '", args.Get(flag), "'"));
  }
  return v;
}

}  // namespace

const char* ClientVersion() { return ME_VERSION; }

absl::Status ParseMethodParameters(const CliArgs& args, ExplainParameters* p) {
  RETURN_IF_ERROR(args.GetInt("ig-steps", p->ig_steps));
  RETURN_IF_ERROR(args.GetInt("sg-samples", p->smoothgrad_samples));
  if (args.Has("ig-rule")) {
    ASSIGN_OR_RETURN(p->ig_rule, ParseIgQuadrature(args.Get("ig-rule")));
  }
  if (args.Has("sg-sigma") && !absl::SimpleAtod(args.Get("sg-sigma"), &p->smoothgrad_sigma)) {
    return absl::InvalidArgumentError(absl::StrCat("bad sg sigma '", args.Get("sg-sigma"), "'"));
  }
  if (args.Has("sg-input")) {
    ASSIGN_OR_RETURN(p->smoothgrad_input, ParseSmoothGradInput(args.Get("sg-input")));
  }
  if (args.Has("seed")) {
    ASSIGN_OR_RETURN(int64_t seed, NonNegative(args, "seed"));
    p->seed = static_cast<uint64_t>(seed);
  }
  if (args.Has("lrp-rules")) {
    ASSIGN_OR_RETURN(p->lrp_rules, ParseLrpRules(args.Get("lrp-rules")));
  }
  if (args.Has("attention-norm")) {
    ASSIGN_OR_RETURN(p->attention_norm, ParseAttentionNorm(args.Get("attention-norm")));
  }
  if (args.Has("start-layer")) {
    ASSIGN_OR_RETURN(int64_t start, NonNegative(args, "start-layer"));
    p->start_layer = static_cast<int>(std::min<int64_t>(start, 1 << 20));
  }
  return absl::OkStatus();
}

nlohmann::json ParametersJson(const ExplainParameters& p) {
  return {{"ig_steps", p.ig_steps},
          {"ig_rule", IgQuadratureName(p.ig_rule)},
          {"smoothgrad_samples", p.smoothgrad_samples},
          {"smoothgrad_sigma", p.smoothgrad_sigma},
          {"smoothgrad_input", SmoothGradInputName(p.smoothgrad_input)},
          {"seed", p.seed},
          {"lrp_rules", LrpRulesName(p.lrp_rules)},
          {"attention_norm", AttentionNormName(p.attention_norm)},
          {"start_layer", p.start_layer}};
}

absl::StatusOr<std::string> FileSha256(const std::string& path) {
  ASSIGN_OR_RETURN(std::string data, ReadFile(path));
#ifndef ME_HAVE_OPENSSL
  return absl::UnimplementedError("built without OpenSSL: no SHA-256");
#else
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("SHA-256 failed");
  }
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), size));
#endif
}

}  // namespace mamba_explain
