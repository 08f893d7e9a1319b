#include "client/remote_request.h"

#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "attribution/methods.h"
#include "client/client_flags.h"
#include "client/prompt_input.h"
#include "common/status_macros.h"

namespace mamba_explain {

namespace {

absl::StatusOr<std::vector<int32_t>> IntList(const CliArgs& args, const std::string& flag) {
  std::vector<int32_t> out;
  if (!args.Has(flag)) return out;
  for (absl::string_view piece : absl::StrSplit(args.Get(flag), ',', absl::SkipEmpty())) {
    int32_t v = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(piece), &v)) {
      return absl::InvalidArgumentError(absl::StrCat("bad value '", piece, "' in --", flag));
    }
    out.push_back(v);
  }
  return out;
}

template <typename T>
absl::Status ParseNumber(const CliArgs& args, const std::string& flag, T* out) {
  if (!args.Has(flag)) return absl::OkStatus();
  bool ok = false;
  if constexpr (std::is_floating_point_v<T>) {
    double v = 0;
    ok = absl::SimpleAtod(args.Get(flag), &v);
    *out = static_cast<T>(v);
  } else {
    ok = absl::SimpleAtoi(args.Get(flag), out);
  }
  if (!ok)
    return absl::InvalidArgumentError(absl::StrCat("bad --", flag, " '", args.Get(flag), "'"));
  return absl::OkStatus();
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

absl::StatusOr<v1::ExplainRequest> BuildRequest(const CliArgs& args) {
  v1::ExplainRequest r;
  ASSIGN_OR_RETURN(std::string model, args.Require("model"));
  r.set_model(model);
  ASSIGN_OR_RETURN(PromptInput prompt, ReadPrompt(args));
  ASSIGN_OR_RETURN(std::string methods, MethodList(args));
  for (absl::string_view m : absl::StrSplit(methods, ',', absl::SkipEmpty())) {
    r.add_methods(std::string(absl::StripAsciiWhitespace(m)));
  }
  ASSIGN_OR_RETURN(std::vector<int32_t> layers, ParseLayerSpec(args.Get("layers", "all")));
  r.mutable_layers()->Add(layers.begin(), layers.end());
  ASSIGN_OR_RETURN(std::string rows_text, FlagOrAlias(args, "rows", "targets", "all"));
  ASSIGN_OR_RETURN(RowSpec rows, ParseRowSpec(rows_text));
  // The last row and a single target are sent as such (row_selection, target_token): the server
  // resolves them against the tokenized input, so text needs no Tokenize round trip.
  if (prompt.text.has_value()) {
    r.set_text(*prompt.text);
  } else {
    r.mutable_token_ids()->Add(prompt.ids.begin(), prompt.ids.end());
  }
  if (rows.kind == RowSpec::Kind::kLast) {
    r.set_row_selection(v1::ROW_SELECTION_LAST);
  } else if (rows.kind == RowSpec::Kind::kList) {
    r.mutable_target_rows()->Add(rows.rows.begin(), rows.rows.end());
  }
  if (args.Has("target")) {
    int32_t token = 0;
    if (!absl::SimpleAtoi(args.Get("target"), &token) || token < 0) {
      return absl::InvalidArgumentError(absl::StrCat("bad --target '", args.Get("target"), "'"));
    }
    r.set_target_token(token);
  }
  ASSIGN_OR_RETURN(std::vector<int32_t> target_tokens, IntList(args, "target-tokens"));
  r.mutable_target_tokens()->Add(target_tokens.begin(), target_tokens.end());
  if (args.Has("memory-budget-mib")) {
    int32_t mib = 0;
    if (!absl::SimpleAtoi(args.Get("memory-budget-mib"), &mib) || mib <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad --memory-budget-mib '", args.Get("memory-budget-mib"), "'"));
    }
    r.mutable_parameters()->set_memory_budget_mib(mib);
  }
  const std::string activation = args.Get("activation", "silu");
  if (activation == "silu")
    r.set_activation(v1::ACTIVATION_SILU);
  else if (activation == "identity")
    r.set_activation(v1::ACTIVATION_IDENTITY);
  else if (activation == "relu")
    r.set_activation(v1::ACTIVATION_RELU);
  else
    return absl::InvalidArgumentError(absl::StrCat("bad --activation '", activation, "'"));
  // --precision, as offline; --dtype is its older remote spelling.
  if (args.Has("precision") && args.Has("dtype")) {
    return absl::InvalidArgumentError("give --precision or --dtype, not both");
  }
  const std::string dtype = args.Get("precision", args.Get("dtype", ""));
  if (dtype == "fp32")
    r.set_precision(v1::PRECISION_FP32);
  else if (dtype == "tf32")
    r.set_precision(v1::PRECISION_TF32);
  else if (dtype == "bf16")
    r.set_precision(v1::PRECISION_BF16);
  else if (!dtype.empty())
    return absl::InvalidArgumentError(
        absl::StrCat("bad --", args.Has("precision") ? "precision" : "dtype", " '", dtype, "'"));
  const int modes =
      args.Has("top-k") + args.Has("threshold") + args.Has("mass") + args.Has("dense");
  if (modes > 1) {
    return absl::InvalidArgumentError("give at most one of --top-k, --threshold, --mass, --dense");
  }
  v1::Sparsity* s = r.mutable_sparsity();
  s->set_mode(v1::Sparsity::DENSE);
  if (args.Has("top-k")) {
    s->set_mode(v1::Sparsity::TOP_K);
    int32_t k = 0;
    RETURN_IF_ERROR(ParseNumber(args, "top-k", &k));
    s->set_top_k(k);
  } else if (args.Has("threshold")) {
    s->set_mode(v1::Sparsity::THRESHOLD);
    float t = 0;
    RETURN_IF_ERROR(ParseNumber(args, "threshold", &t));
    s->set_threshold(t);
  } else if (args.Has("mass")) {
    s->set_mode(v1::Sparsity::MASS);
    float m = 0;
    RETURN_IF_ERROR(ParseNumber(args, "mass", &m));
    s->set_mass(m);
  }
  int32_t priority = 0;
  RETURN_IF_ERROR(ParseNumber(args, "priority", &priority));
  r.set_priority(priority);
  // The baseline flags of offline `explain`, by the same names; unset ones stay unset on the wire
  // (the server's defaults are the offline defaults). The server validates the values.
  v1::MethodParameters* p = r.mutable_parameters();
  int32_t ig_steps = 0, sg_samples = 0, start_layer = 0;
  float sg_sigma = 0;
  uint64_t seed = 0;
  RETURN_IF_ERROR(ParseNumber(args, "ig-steps", &ig_steps));
  RETURN_IF_ERROR(ParseNumber(args, "sg-samples", &sg_samples));
  RETURN_IF_ERROR(ParseNumber(args, "seed", &seed));
  RETURN_IF_ERROR(ParseNumber(args, "start-layer", &start_layer));
  p->set_ig_steps(ig_steps);
  p->set_smoothgrad_samples(sg_samples);
  p->set_seed(seed);
  p->set_start_layer(start_layer);
  if (args.Has("sg-sigma")) {
    RETURN_IF_ERROR(ParseNumber(args, "sg-sigma", &sg_sigma));
    p->set_smoothgrad_sigma(sg_sigma);
  }
  p->set_ig_rule(args.Get("ig-rule"));
  p->set_smoothgrad_input(args.Get("sg-input"));
  p->set_lrp_rules(args.Get("lrp-rules"));
  p->set_attention_norm(args.Get("attention-norm"));
  r.set_request_id(args.Get("request-id"));
  return r;
}

}  // namespace mamba_explain
