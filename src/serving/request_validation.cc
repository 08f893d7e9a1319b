#include "serving/request_validation.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace mamba_explain {
namespace {

absl::Status OutOfRange(const std::string& field, size_t index, int64_t value, int64_t end) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, "[", index, "]=", value, " not in [0, ", end, ")"));
}

// Sorts, deduplicates and range-checks; empty -> [0, end).
absl::StatusOr<std::vector<int32_t>> ResolveIndexList(const std::string& field,
                                                      const std::vector<int32_t>& given,
                                                      int32_t end) {
  for (size_t i = 0; i < given.size(); ++i) {
    if (given[i] < 0 || given[i] >= end) return OutOfRange(field, i, given[i], end);
  }
  std::vector<int32_t> out = given;
  if (out.empty()) {
    for (int32_t i = 0; i < end; ++i) out.push_back(i);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool Contains(const std::vector<std::string>& list, const std::string& name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

// A named choice of MethodParameters: empty (the default) or one of `allowed`.
absl::Status CheckChoice(const std::string& field, const std::string& value,
                         const std::vector<std::string>& allowed) {
  if (value.empty() || Contains(allowed, value)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("parameters.", field, "='", value, "' unknown (",
                                                 absl::StrJoin(allowed, ", "), ")"));
}

// The method parameters against the limits; names as the engine spells them (engine.h).
absl::Status ValidateParameters(const MethodParameters& p, const BackendInfo& info,
                                const ServingLimits& limits) {
  if (p.ig_steps < 0 || p.ig_steps > limits.max_ig_steps) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters.ig_steps=", p.ig_steps, " not in [0, ", limits.max_ig_steps, "]"));
  }
  if (p.smoothgrad_samples < 0 || p.smoothgrad_samples > limits.max_smoothgrad_samples) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters.smoothgrad_samples=", p.smoothgrad_samples, " not in [0, ",
                     limits.max_smoothgrad_samples, "]"));
  }
  if (p.smoothgrad_sigma.has_value() &&
      !(*p.smoothgrad_sigma >= 0.f && *p.smoothgrad_sigma <= limits.max_smoothgrad_sigma)) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters.smoothgrad_sigma=", *p.smoothgrad_sigma, " not in [0, ",
                     limits.max_smoothgrad_sigma, "]"));
  }
  if (p.memory_budget_mib < 0 || p.memory_budget_mib > limits.max_memory_budget_mib) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters.memory_budget_mib=", p.memory_budget_mib, " not in [0, ",
                     limits.max_memory_budget_mib, "]"));
  }
  RETURN_IF_ERROR(CheckChoice("ig_rule", p.ig_rule, {"riemann", "gauss-legendre"}));
  RETURN_IF_ERROR(CheckChoice("smoothgrad_input", p.smoothgrad_input, {"noisy", "clean"}));
  RETURN_IF_ERROR(CheckChoice("attention_norm", p.attention_norm, {"raw", "minmax", "abs-minmax"}));
  if (!p.lrp_rules.empty()) {
    const std::vector<std::string> rules = {"all",    "none",    "no-silu",
                                            "no-ssm", "no-gate", "no-norm"};
    for (absl::string_view rule : absl::StrSplit(p.lrp_rules, ',')) {
      if (!Contains(rules, std::string(rule))) {
        return absl::InvalidArgumentError(
            absl::StrCat("parameters.lrp_rules='", p.lrp_rules, "' has unknown rule '", rule,
                         "' (comma list of ", absl::StrJoin(rules, ", "), ")"));
      }
    }
  }
  if (p.start_layer < 0 || p.start_layer >= info.n_layers) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters.start_layer=", p.start_layer, " not in [0, ", info.n_layers, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ValidatedRequest> ValidateExplain(const ExplainSpec& spec,
                                                 const ExplainBackend& backend,
                                                 const ServingLimits& limits) {
  const BackendInfo& info = backend.info();
  ValidatedRequest out;

  // Input.
  if (spec.text.has_value() == !spec.token_ids.empty()) {
    return absl::InvalidArgumentError("give exactly one of text and token_ids");
  }
  if (spec.text.has_value()) {
    if (!info.has_tokenizer) {
      return absl::FailedPreconditionError(
          absl::StrCat("model '", spec.model, "' has no tokenizer; send token_ids"));
    }
    ASSIGN_OR_RETURN(out.input.ids, backend.Tokenize(*spec.text));
    for (size_t i = 0; i < out.input.ids.size(); ++i) {
      if (out.input.ids[i] >= info.vocab_size) {
        return absl::InvalidArgumentError(
            absl::StrCat("text tokenizes to id ", out.input.ids[i], " at position ", i,
                         ", outside the model's vocabulary of ", info.vocab_size));
      }
    }
  } else {
    for (size_t i = 0; i < spec.token_ids.size(); ++i) {
      if (spec.token_ids[i] < 0 || spec.token_ids[i] >= info.vocab_size) {
        return OutOfRange("token_ids", i, spec.token_ids[i], info.vocab_size);
      }
    }
    out.input.ids = spec.token_ids;
  }
  const int64_t length = static_cast<int64_t>(out.input.ids.size());
  if (length == 0) return absl::InvalidArgumentError("text is empty after tokenization");
  if (length > limits.max_tokens) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "input has ", length, " tokens, over the server limit of ", limits.max_tokens));
  }

  // Methods.
  if (spec.methods.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "methods is empty; model '", spec.model,
        "' supports: ", info.methods.empty() ? "none" : absl::StrJoin(info.methods, ", ")));
  }
  std::set<std::string> seen;
  bool needs_target = false;
  for (size_t i = 0; i < spec.methods.size(); ++i) {
    const std::string& m = spec.methods[i];
    if (std::find(info.methods.begin(), info.methods.end(), m) == info.methods.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "methods[", i, "]='", m, "' is not supported by model '", spec.model, "' (supported: ",
          info.methods.empty() ? "none" : absl::StrJoin(info.methods, ", "), ")"));
    }
    if (!seen.insert(m).second) {
      return absl::InvalidArgumentError(absl::StrCat("methods[", i, "]='", m, "' is repeated"));
    }
    needs_target |= Contains(info.output_methods, m);
  }
  out.options.methods = spec.methods;

  // Layers and rows.
  ASSIGN_OR_RETURN(out.options.layers, ResolveIndexList("layers", spec.layers, info.n_layers));
  ASSIGN_OR_RETURN(out.input.target_rows,
                   ResolveIndexList("target_rows", spec.target_rows, static_cast<int32_t>(length)));
  if (!spec.target_tokens.empty()) {
    if (spec.target_tokens.size() != out.input.target_rows.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("target_tokens has ", spec.target_tokens.size(), " entries but there are ",
                       out.input.target_rows.size(), " target rows"));
    }
    for (size_t i = 0; i < spec.target_tokens.size(); ++i) {
      if (spec.target_tokens[i] < 0 || spec.target_tokens[i] >= info.vocab_size) {
        return OutOfRange("target_tokens", i, spec.target_tokens[i], info.vocab_size);
      }
    }
    if (needs_target) out.input.target_tokens = spec.target_tokens;
  }

  // Options.
  RETURN_IF_ERROR(ValidateSparsity(spec.sparsity));
  out.sparsity = spec.sparsity;
  if (spec.priority < 0 || spec.priority > limits.max_priority) {
    return absl::InvalidArgumentError(
        absl::StrCat("priority=", spec.priority, " not in [0, ", limits.max_priority, "]"));
  }
  out.priority = spec.priority;
  RETURN_IF_ERROR(ValidateParameters(spec.params, info, limits));
  if (spec.precision != Precision::kDefault && spec.precision != info.precision) {
    return absl::InvalidArgumentError(absl::StrCat("precision=", PrecisionName(spec.precision),
                                                   " but model '", spec.model, "' is loaded in ",
                                                   PrecisionName(info.precision)));
  }
  out.options.activation = spec.activation;
  out.options.precision = info.precision;
  out.options.params = spec.params;

  // Budgets. Matrix rows: every (method, layer, row) of a per-layer method, every (method, row)
  // of a whole-model one, is one row to compute and send. Gradient rows: every backward pass of
  // the gradient methods (one per row, IG step or SmoothGrad sample), their dominant cost.
  const int64_t rows = static_cast<int64_t>(out.input.target_rows.size());
  const int64_t layers = static_cast<int64_t>(out.options.layers.size());
  int64_t matrix_rows = 0, gradient_rows = 0;
  for (const std::string& m : out.options.methods) {
    matrix_rows += rows * (Contains(info.whole_model_methods, m) ? 1 : layers);
    if (!Contains(info.gradient_methods, m)) continue;
    int64_t passes = 1;
    if (m == "integrated-gradients") {
      passes = spec.params.ig_steps > 0 ? spec.params.ig_steps : MethodParameters::kDefaultIgSteps;
    } else if (m == "smoothgrad") {
      passes = spec.params.smoothgrad_samples > 0 ? spec.params.smoothgrad_samples
                                                  : MethodParameters::kDefaultSmoothgradSamples;
    }
    gradient_rows += rows * passes;
  }
  if (matrix_rows > limits.max_matrix_rows) {
    return absl::ResourceExhaustedError(
        absl::StrCat("request asks for ", matrix_rows,
                     " matrix rows (target rows x layers, summed over the methods; whole-model "
                     "methods count once), over the server limit of ",
                     limits.max_matrix_rows, "; ask for fewer layers or target_rows"));
  }
  if (gradient_rows > limits.max_gradient_rows) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "request asks for ", gradient_rows,
        " gradient rows (target rows x ig_steps / smoothgrad_samples / 1, summed over the "
        "gradient methods), over the server limit of ",
        limits.max_gradient_rows,
        "; ask for fewer target_rows, parameters.ig_steps or parameters.smoothgrad_samples"));
  }
  return out;
}

}  // namespace mamba_explain
