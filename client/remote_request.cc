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
#include "client/explain_flags.h"
#include "client/prompt_input.h"
#include "common/status_macros.h"
#include "proto/wire_enums.h"

namespace mamba_explain {

namespace {

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

// The typed request's parameters, each only where its flag was given: an unset wire field means
// the server's default, which is the offline default (so the message is what the flags say).
void SetParameters(const CliArgs& args, const ExplainParameters& p, v1::MethodParameters* wire) {
  if (args.Has("ig-steps")) wire->set_ig_steps(p.ig_steps);
  if (args.Has("sg-samples")) wire->set_smoothgrad_samples(p.smoothgrad_samples);
  if (args.Has("seed")) wire->set_seed(p.seed);
  if (args.Has("start-layer")) wire->set_start_layer(p.start_layer);
  if (args.Has("sg-sigma")) wire->set_smoothgrad_sigma(static_cast<float>(p.smoothgrad_sigma));
  if (args.Has("ig-rule")) wire->set_ig_rule(IgQuadratureName(p.ig_rule));
  if (args.Has("sg-input")) wire->set_smoothgrad_input(SmoothGradInputName(p.smoothgrad_input));
  if (args.Has("lrp-rules")) wire->set_lrp_rules(LrpRulesName(p.lrp_rules));
  if (args.Has("attention-norm")) wire->set_attention_norm(AttentionNormName(p.attention_norm));
}

}  // namespace

absl::StatusOr<v1::ExplainRequest> BuildRequest(const CliArgs& flags) {
  // --dtype is remote's older spelling of --precision (offline, --dtype is the weights' dtype).
  CliArgs args = flags;
  if (args.Has("dtype")) {
    if (args.Has("precision")) {
      return absl::InvalidArgumentError("give --precision or --dtype, not both");
    }
    args.Set("precision", args.Get("dtype"));
    args.Erase("dtype");
  }
  ASSIGN_OR_RETURN(const ExplainRequest typed, ExplainRequestFromFlags(args));
  v1::ExplainRequest r;
  ASSIGN_OR_RETURN(std::string model, args.Require("model"));
  r.set_model(model);
  ASSIGN_OR_RETURN(PromptInput prompt, ReadPrompt(args));
  // The last row and a single target are sent as such (row_selection, target_token): the server
  // resolves them against the tokenized input, so text needs no Tokenize round trip.
  if (prompt.text.has_value()) {
    r.set_text(*prompt.text);
  } else {
    r.mutable_token_ids()->Add(prompt.ids.begin(), prompt.ids.end());
  }
  for (Method m : typed.methods) r.add_methods(MethodName(m));
  r.mutable_layers()->Add(typed.layers.begin(), typed.layers.end());
  if (typed.rows.kind == RowSelection::Kind::kLast) {
    r.set_row_selection(v1::ROW_SELECTION_LAST);
  } else if (typed.rows.kind == RowSelection::Kind::kList) {
    r.mutable_target_rows()->Add(typed.rows.rows.begin(), typed.rows.rows.end());
  }
  if (typed.target_token.has_value()) {
    r.set_target_token(static_cast<int32_t>(*typed.target_token));
  }
  r.mutable_target_tokens()->Add(typed.target_tokens.begin(), typed.target_tokens.end());
  if (args.Has("memory-budget-mib")) {
    r.mutable_parameters()->set_memory_budget_mib(
        static_cast<int32_t>(typed.memory_budget_bytes >> 20));
  }
  r.set_activation(ActivationToProto(typed.activation));
  if (typed.precision.has_value()) r.set_precision(PrecisionToProto(*typed.precision));
  SetParameters(args, typed.params, r.mutable_parameters());

  // Transport: sparsity of the streamed matrices and scheduling.
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
  r.set_request_id(args.Get("request-id"));
  return r;
}

}  // namespace mamba_explain
