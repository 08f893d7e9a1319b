#include "client/explain_flags.h"

#include <limits>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/client_flags.h"
#include "client/explanation_meta.h"
#include "client/prompt_input.h"
#include "common/status_macros.h"

namespace mamba_explain {
namespace {

// --flag as an integer in [low, int32 max] (the wire's width, which both modes accept).
absl::StatusOr<int32_t> FlagInt(const CliArgs& args, const std::string& flag, int32_t low) {
  int32_t v = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(args.Get(flag)), &v) || v < low) {
    return absl::InvalidArgumentError(absl::StrCat("bad --", flag, " '", args.Get(flag), "'"));
  }
  return v;
}

// The value of `flag` or of its older spelling `alias` (not both).
absl::StatusOr<std::string> FlagOrAlias(const CliArgs& args, const std::string& flag,
                                        const std::string& alias, const std::string& fallback) {
  if (args.Has(flag) && args.Has(alias)) {
    return absl::InvalidArgumentError(absl::StrCat("give --", flag, " or --", alias, ", not both"));
  }
  if (args.Has(alias)) return args.Get(alias);
  return args.Get(flag, fallback);
}

}  // namespace

absl::StatusOr<ExplainRequest> ExplainRequestFromFlags(const CliArgs& args) {
  ExplainRequest request;
  request.methods.clear();
  ASSIGN_OR_RETURN(std::string methods, MethodList(args));
  for (absl::string_view name : absl::StrSplit(methods, ',', absl::SkipEmpty())) {
    ASSIGN_OR_RETURN(Method m, ParseMethod(absl::StripAsciiWhitespace(name)));
    request.methods.push_back(m);
  }
  ASSIGN_OR_RETURN(std::vector<int32_t> layers, ParseLayerSpec(args.Get("layers", "all")));
  request.layers.assign(layers.begin(), layers.end());
  ASSIGN_OR_RETURN(std::string rows_text, FlagOrAlias(args, "rows", "targets", "all"));
  ASSIGN_OR_RETURN(RowSpec rows, ParseRowSpec(rows_text));
  request.rows.kind = rows.kind == RowSpec::Kind::kAll    ? RowSelection::Kind::kAll
                      : rows.kind == RowSpec::Kind::kLast ? RowSelection::Kind::kLast
                                                          : RowSelection::Kind::kList;
  request.rows.rows.assign(rows.rows.begin(), rows.rows.end());
  ASSIGN_OR_RETURN(request.activation, ParseActivation(args.Get("activation", "silu")));
  if (args.Has("target")) {
    ASSIGN_OR_RETURN(request.target_token, FlagInt(args, "target", 0));
  }
  if (args.Has("target-tokens")) {
    ASSIGN_OR_RETURN(std::vector<int32_t> targets,
                     ParseIds(args.Get("target-tokens"), "target-tokens"));
    request.target_tokens.assign(targets.begin(), targets.end());
  }
  if (args.Has("precision")) {
    ASSIGN_OR_RETURN(request.precision, ParsePrecision(args.Get("precision")));
  }
  if (args.Has("memory-budget-mib")) {
    ASSIGN_OR_RETURN(int32_t mib, FlagInt(args, "memory-budget-mib", 1));
    request.memory_budget_bytes = int64_t{mib} << 20;
  }
  RETURN_IF_ERROR(ParseMethodParameters(args, &request.params));
  return request;
}

}  // namespace mamba_explain
