#include "client/token_refs.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "attribution/methods.h"
#include "client/client_flags.h"
#include "common/status_macros.h"

namespace mamba_explain {
namespace {

// An id, or a token string.
struct TokenRef {
  std::optional<int64_t> id;
  std::string text;
};

constexpr const char* kTokenFlags[] = {"target", "contrast-target", "target-tokens"};

std::string Quote(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::StatusOr<TokenRef> ParseOne(const std::string& value, const std::string& flag) {
  TokenRef ref;
  const absl::string_view stripped = absl::StripAsciiWhitespace(value);
  int64_t id = 0;
  if (absl::SimpleAtoi(stripped, &id)) {
    if (id < 0) return absl::InvalidArgumentError(absl::StrCat("bad --", flag, " '", value, "'"));
    ref.id = id;
    return ref;
  }
  if (!stripped.empty() && stripped.front() == '"') {
    nlohmann::json j = nlohmann::json::parse(stripped, nullptr, /*allow_exceptions=*/false);
    if (!j.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad --", flag, " '", value, "' (not a JSON string literal)"));
    }
    ref.text = j.get<std::string>();
  } else {
    ref.text = value;
  }
  if (ref.text.empty()) return absl::InvalidArgumentError(absl::StrCat("--", flag, " is empty"));
  return ref;
}

absl::StatusOr<std::vector<TokenRef>> ParseRefs(const std::string& value, const std::string& flag) {
  if (flag != "target-tokens") {
    ASSIGN_OR_RETURN(TokenRef one, ParseOne(value, flag));
    return std::vector<TokenRef>{one};
  }
  std::vector<TokenRef> refs;
  const absl::string_view stripped = absl::StripAsciiWhitespace(value);
  if (!stripped.empty() && stripped.front() == '[') {
    nlohmann::json j = nlohmann::json::parse(stripped, nullptr, /*allow_exceptions=*/false);
    if (!j.is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad --target-tokens '", value, "' (not a JSON list)"));
    }
    for (const nlohmann::json& e : j) {
      if (e.is_number_integer() && e.get<int64_t>() >= 0) {
        refs.push_back({e.get<int64_t>(), ""});
      } else if (e.is_string() && !e.get<std::string>().empty()) {
        refs.push_back({std::nullopt, e.get<std::string>()});
      } else {
        return absl::InvalidArgumentError(absl::StrCat(
            "bad element ", e.dump(), " in --target-tokens (a token id or a token string)"));
      }
    }
  } else {
    for (absl::string_view piece : absl::StrSplit(value, ',', absl::SkipEmpty())) {
      ASSIGN_OR_RETURN(TokenRef ref, ParseOne(std::string(piece), flag));
      refs.push_back(ref);
    }
  }
  if (refs.empty()) return absl::InvalidArgumentError("--target-tokens is empty");
  return refs;
}

bool IsContrastLinear(Method m) {
  return m == Method::kGradientXInput || m == Method::kIntegratedGradients ||
         m == Method::kSmoothGrad || m == Method::kMambaLrp || m == Method::kLatimAltiLogit;
}

absl::StatusOr<std::vector<Method>> Methods(const CliArgs& args) {
  ASSIGN_OR_RETURN(std::string list, MethodList(args));
  std::vector<Method> methods;
  for (absl::string_view name : absl::StrSplit(list, ',', absl::SkipEmpty())) {
    ASSIGN_OR_RETURN(Method m, ParseMethod(absl::StripAsciiWhitespace(name)));
    methods.push_back(m);
  }
  return methods;
}

// max_t |Σ_s R_t[s] − f_t| / |f_t| (docs/methods.md), over the rows of a scores result.
nlohmann::json CompletenessGap(const nlohmann::json& scores, const nlohmann::json& logits) {
  double gap = 0;
  for (size_t t = 0; t < scores.size() && t < logits.size(); ++t) {
    double sum = 0;
    for (const nlohmann::json& v : scores[t]) sum += v.get<double>();
    const double f = logits[t].get<double>();
    gap = std::max(gap, std::abs(sum - f) / std::max(std::abs(f), 1e-12));
  }
  return gap;
}

}  // namespace

absl::StatusOr<bool> HasTokenStrings(const CliArgs& args) {
  for (const char* flag : kTokenFlags) {
    if (!args.Has(flag)) continue;
    ASSIGN_OR_RETURN(std::vector<TokenRef> refs, ParseRefs(args.Get(flag), flag));
    for (const TokenRef& r : refs) {
      if (!r.id.has_value()) return true;
    }
  }
  return false;
}

absl::Status ResolveTokenStrings(CliArgs* args, const TokenizeFn& tokenize) {
  for (const char* flag : kTokenFlags) {
    if (!args->Has(flag)) continue;
    ASSIGN_OR_RETURN(std::vector<TokenRef> refs, ParseRefs(args->Get(flag), flag));
    std::vector<int64_t> ids;
    for (const TokenRef& r : refs) {
      if (r.id.has_value()) {
        ids.push_back(*r.id);
        continue;
      }
      ASSIGN_OR_RETURN(Tokenized t, tokenize(r.text));
      if (t.ids.size() != 1) {
        std::vector<std::string> quoted;
        for (const std::string& s : t.tokens) quoted.push_back(Quote(s));
        return absl::InvalidArgumentError(absl::StrCat(
            "--", flag, " ", Quote(r.text), " is ", t.ids.size(), " tokens (",
            absl::StrJoin(quoted, ", "), "), not one: give a single token of the model's "
            "tokenizer (mind the leading space, e.g. \" Paris\") or its id"));
      }
      ids.push_back(t.ids[0]);
    }
    args->Set(flag, absl::StrJoin(ids, ","));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> AnyOutputDependent(const CliArgs& args) {
  ASSIGN_OR_RETURN(std::vector<Method> methods, Methods(args));
  for (Method m : methods) {
    if (GetMethodInfo(m).output_dependent) return true;
  }
  return false;
}

absl::StatusOr<int> GenerateCount(const CliArgs& args) {
  if (!args.Has("generate")) return 0;
  int n = 0;
  if (!absl::SimpleAtoi(args.Get("generate"), &n) || n < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad --generate '", args.Get("generate"), "' (an integer >= 1)"));
  }
  for (const char* flag : {"rows", "targets", "target", "target-tokens"}) {
    if (args.Has(flag)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--generate decides the rows and targets (each generated token is explained at the "
          "row that predicted it); drop --", flag));
    }
  }
  return n;
}

absl::Status ApplyGeneration(CliArgs* args, const std::vector<int32_t>& prompt,
                             const std::vector<int32_t>& generated) {
  std::vector<int32_t> ids = prompt;
  ids.insert(ids.end(), generated.begin(), generated.end());
  std::vector<size_t> rows;
  for (size_t k = 0; k < generated.size(); ++k) rows.push_back(prompt.size() - 1 + k);
  for (const char* f : {"text", "text-file", "ids-file", "generate"}) args->Erase(f);
  args->Set("ids", absl::StrJoin(ids, ","));
  args->Set("rows", absl::StrJoin(rows, ","));
  ASSIGN_OR_RETURN(bool dependent, AnyOutputDependent(*args));
  if (dependent) args->Set("target-tokens", absl::StrJoin(generated, ","));
  return absl::OkStatus();
}

nlohmann::json GeneratedJson(size_t prompt_length, const std::vector<int32_t>& generated,
                             const std::vector<std::string>& tokens) {
  return {{"prompt_length", prompt_length}, {"ids", generated}, {"tokens", tokens}};
}

absl::Status CheckContrastFlags(const CliArgs& args) {
  if (!args.Has("contrast-target")) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::vector<Method> methods, Methods(args));
  std::vector<std::string> linear;
  for (Method m : methods) {
    if (IsContrastLinear(m)) linear.push_back(MethodName(m));
    if (GetMethodInfo(m).output_dependent && !IsContrastLinear(m)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--contrast-target does not go with ", MethodName(m),
          ": it is not linear in the explained logit, so logit(a) - logit(b) has no "
          "explanation as a difference (contrastive methods: grad-x-input, "
          "integrated-gradients, smoothgrad, mamba-lrp, latim-alti-logit)"));
    }
  }
  if (linear.empty()) {
    return absl::InvalidArgumentError(
        "--contrast-target is given but no method asked for explains a target token "
        "(contrastive methods: grad-x-input, integrated-gradients, smoothgrad, mamba-lrp, "
        "latim-alti-logit)");
  }
  return absl::OkStatus();
}

absl::StatusOr<CliArgs> FoilArgs(const CliArgs& args) {
  ASSIGN_OR_RETURN(std::vector<Method> methods, Methods(args));
  std::vector<std::string> linear;
  for (Method m : methods) {
    if (IsContrastLinear(m)) linear.push_back(MethodName(m));
  }
  CliArgs foil = args;
  foil.Erase("methods");
  foil.Set("method", absl::StrJoin(linear, ","));
  foil.Erase("target-tokens");
  foil.Set("target", foil.Get("contrast-target"));
  foil.Erase("contrast-target");
  return foil;
}

absl::Status CombineContrast(nlohmann::json* out, const nlohmann::json& foil, int64_t contrast) {
  for (nlohmann::json& r : (*out)["results"]) {
    const nlohmann::json* match = nullptr;
    for (const nlohmann::json& f : foil["results"]) {
      if (f["method"] == r["method"] && f["layer"] == r["layer"]) match = &f;
    }
    if (match == nullptr) continue;
    absl::StatusOr<Method> m = ParseMethod(r["method"].get<std::string>());
    if (!m.ok() || !IsContrastLinear(*m)) continue;
    const char* key = r.contains("scores") ? "scores" : "matrix";
    if (!match->contains(key) || (*match)[key].size() != r[key].size()) {
      return absl::InternalError(absl::StrCat("the foil's ", r["method"].get<std::string>(),
                                              " result does not match the target's"));
    }
    for (size_t t = 0; t < r[key].size(); ++t) {
      for (size_t s = 0; s < r[key][t].size(); ++s) {
        r[key][t][s] = r[key][t][s].get<double>() - (*match)[key][t][s].get<double>();
      }
    }
    if (r.contains("explained_logit") && match->contains("explained_logit")) {
      for (size_t t = 0; t < r["explained_logit"].size(); ++t) {
        r["explained_logit"][t] =
            r["explained_logit"][t].get<double>() - (*match)["explained_logit"][t].get<double>();
      }
    }
    r["contrast_targets"] = std::vector<int64_t>(r["rows"].size(), contrast);
    if (*m == Method::kIntegratedGradients) {
      r["approx_error"] = nullptr;
    } else if (*m == Method::kLatimAltiLogit) {
      if (r["approx_error"].is_number() && (*match)["approx_error"].is_number()) {
        r["approx_error"] =
            std::max(r["approx_error"].get<double>(), (*match)["approx_error"].get<double>());
      }
    } else if (r.contains("explained_logit")) {
      r["approx_error"] = CompletenessGap(r["scores"], r["explained_logit"]);
    }
  }
  if (out->contains("meta")) (*out)["meta"]["contrast_target"] = contrast;
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> ExplainWithOptions(CliArgs args, const ExplainHooks& hooks) {
  // Also normalises ids given as a JSON list into the comma list the request builders read;
  // `tokenize` is called only for strings.
  RETURN_IF_ERROR(ResolveTokenStrings(&args, hooks.tokenize));
  RETURN_IF_ERROR(CheckExplainFlags(args));
  RETURN_IF_ERROR(CheckContrastFlags(args));
  ASSIGN_OR_RETURN(int n, GenerateCount(args));
  std::vector<int32_t> prompt, generated;
  if (n > 0) {
    ASSIGN_OR_RETURN(prompt, hooks.prompt_ids(args));
    std::vector<int32_t> ids = prompt;
    for (int k = 0; k < n; ++k) {
      ASSIGN_OR_RETURN(int32_t next, hooks.next_token(ids));
      generated.push_back(next);
      ids.push_back(next);
    }
    RETURN_IF_ERROR(ApplyGeneration(&args, prompt, generated));
  }
  ASSIGN_OR_RETURN(nlohmann::json out, hooks.explain_one(args));
  if (n > 0) {
    // The explanation's tokens hold the generated ones (remote has no detokenizing RPC).
    std::vector<std::string> tokens;
    const bool have = out.contains("tokens") && out["tokens"].size() == prompt.size() + n;
    for (int k = 0; k < n; ++k) {
      tokens.push_back(have ? out["tokens"][prompt.size() + k].get<std::string>()
                            : hooks.token_text(generated[k]));
    }
    out["generated"] = GeneratedJson(prompt.size(), generated, tokens);
  }
  if (args.Has("contrast-target")) {
    int64_t contrast = 0;
    if (!absl::SimpleAtoi(args.Get("contrast-target"), &contrast)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad --contrast-target '", args.Get("contrast-target"), "'"));
    }
    ASSIGN_OR_RETURN(CliArgs foil_args, FoilArgs(args));
    ASSIGN_OR_RETURN(nlohmann::json foil, hooks.explain_one(foil_args));
    RETURN_IF_ERROR(CombineContrast(&out, foil, contrast));
  }
  return out;
}

}  // namespace mamba_explain
