#include "serving/request_validation.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "explain/explain_request.h"

namespace mamba_explain {
namespace {

bool Contains(const std::vector<std::string>& list, absl::string_view name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

// A closed choice of MethodParameters: empty keeps `*value` (the default), else one of the
// catalogue's spellings.
template <typename E>
absl::Status ParseChoice(const std::string& field, const std::string& text,
                         absl::StatusOr<E> (*parse)(absl::string_view),
                         std::vector<std::string> (*choices)(), E* value) {
  if (text.empty()) return absl::OkStatus();
  absl::StatusOr<E> parsed = parse(text);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("parameters.", field, "='", text, "' unknown (",
                                                   absl::StrJoin(choices(), ", "), ")"));
  }
  *value = *parsed;
  return absl::OkStatus();
}

// The wire's parameters against the server limits, into typed parameters (unset = default).
absl::StatusOr<ExplainParameters> ParseParameters(const MethodParameters& p,
                                                  const ServingLimits& limits) {
  ExplainParameters out;
  if (p.ig_steps < 0 || p.ig_steps > limits.max_ig_steps) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters.ig_steps=", p.ig_steps, " not in [0, ", limits.max_ig_steps, "]"));
  }
  if (p.ig_steps > 0) out.ig_steps = p.ig_steps;
  if (p.smoothgrad_samples < 0 || p.smoothgrad_samples > limits.max_smoothgrad_samples) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters.smoothgrad_samples=", p.smoothgrad_samples, " not in [0, ",
                     limits.max_smoothgrad_samples, "]"));
  }
  if (p.smoothgrad_samples > 0) out.smoothgrad_samples = p.smoothgrad_samples;
  if (p.smoothgrad_sigma.has_value()) {
    if (!(*p.smoothgrad_sigma >= 0.f && *p.smoothgrad_sigma <= limits.max_smoothgrad_sigma)) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameters.smoothgrad_sigma=", *p.smoothgrad_sigma, " not in [0, ",
                       limits.max_smoothgrad_sigma, "]"));
    }
    out.smoothgrad_sigma = *p.smoothgrad_sigma;
  }
  if (p.memory_budget_mib < 0 || p.memory_budget_mib > limits.max_memory_budget_mib) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters.memory_budget_mib=", p.memory_budget_mib, " not in [0, ",
                     limits.max_memory_budget_mib, "]"));
  }
  out.seed = p.seed;
  RETURN_IF_ERROR(
      ParseChoice("ig_rule", p.ig_rule, &ParseIgQuadrature, &IgQuadratureChoices, &out.ig_rule));
  RETURN_IF_ERROR(ParseChoice("smoothgrad_input", p.smoothgrad_input, &ParseSmoothGradInput,
                              &SmoothGradInputChoices, &out.smoothgrad_input));
  RETURN_IF_ERROR(ParseChoice("attention_norm", p.attention_norm, &ParseAttentionNorm,
                              &AttentionNormChoices, &out.attention_norm));
  if (!p.lrp_rules.empty()) {
    const std::vector<std::string> rules = LrpRuleChoices();
    for (absl::string_view rule : absl::StrSplit(p.lrp_rules, ',')) {
      if (!Contains(rules, rule)) {
        return absl::InvalidArgumentError(
            absl::StrCat("parameters.lrp_rules='", p.lrp_rules, "' has unknown rule '", rule,
                         "' (comma list of ", absl::StrJoin(rules, ", "), ")"));
      }
    }
    ASSIGN_OR_RETURN(out.lrp_rules, ParseLrpRules(p.lrp_rules));
  }
  out.start_layer = p.start_layer;
  return out;
}

// Matrix rows: every (method, layer, row) of a per-layer-cost method, every (method, row) of the
// others, is one row to compute and send. Gradient rows: every backward pass (one per row, IG step
// or SmoothGrad sample), the gradient methods' dominant cost. Both from the catalogue. Each also
// counts its tokens: target row t costs t + 1 (the columns it fills, the positions its backward
// pass carries), so matrix cells and gradient tokens grow with the sequence length where rows do
// not (reliability audit, defect 2d).
absl::Status CheckBudgets(const BatchOptions& options, const std::vector<int64_t>& target_rows,
                          const ServingLimits& limits) {
  const int64_t layers = static_cast<int64_t>(options.layers.size());
  const int64_t rows = static_cast<int64_t>(target_rows.size());
  int64_t row_tokens = 0;
  for (int64_t t : target_rows) row_tokens += t + 1;
  int64_t matrix_rows = 0, matrix_cells = 0, passes_per_row = 0;
  for (Method m : options.methods) {
    const CostModel& cost = GetMethodInfo(m).cost;
    matrix_rows += rows * (cost.rows_per_layer ? layers : 1);
    matrix_cells += row_tokens * (cost.rows_per_layer ? layers : 1);
    switch (cost.gradient_passes) {
      case GradientPasses::kNone:
        break;
      case GradientPasses::kOne:
        passes_per_row += 1;
        break;
      case GradientPasses::kIgSteps:
        passes_per_row += options.params.ig_steps;
        break;
      case GradientPasses::kSmoothGradSamples:
        passes_per_row += options.params.smoothgrad_samples;
        break;
    }
  }
  const int64_t gradient_rows = rows * passes_per_row;
  const int64_t gradient_tokens = row_tokens * passes_per_row;
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
  if (matrix_cells > limits.max_matrix_cells) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "request asks for ", matrix_cells,
        " matrix cells (target row t fills t + 1 columns; x layers, summed over the methods), "
        "over the server limit of ",
        limits.max_matrix_cells,
        "; ask for fewer or earlier target_rows, fewer layers or a shorter input"));
  }
  if (gradient_tokens > limits.max_gradient_tokens) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "request asks for ", gradient_tokens,
        " gradient tokens (a backward pass for target row t carries t + 1 positions; x "
        "ig_steps / smoothgrad_samples / 1, summed over the gradient methods), over the server "
        "limit of ",
        limits.max_gradient_tokens,
        "; ask for fewer or earlier target_rows, a shorter input, parameters.ig_steps or "
        "parameters.smoothgrad_samples"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ValidatedExplain> ValidateExplain(const ExplainSpec& spec,
                                                 const ExplainBackend& backend,
                                                 const ServingLimits& limits) {
  const BackendInfo& info = backend.info();
  ValidatedExplain out;

  // Input.
  std::vector<int32_t> ids;
  if (spec.text.has_value() == !spec.token_ids.empty()) {
    return absl::InvalidArgumentError("give exactly one of text and token_ids");
  }
  if (spec.text.has_value()) {
    if (!info.has_tokenizer) {
      return absl::FailedPreconditionError(
          absl::StrCat("model '", spec.model, "' has no tokenizer; send token_ids"));
    }
    // Only up to the limit: past max_tokens + 1 ids the answer is known (refused below).
    const size_t max_ids = static_cast<size_t>(std::max<int64_t>(limits.max_tokens, 0));
    ASSIGN_OR_RETURN(EncodedPrefix prefix, backend.TokenizeAtMost(*spec.text, max_ids));
    if (prefix.truncated) {
      return absl::ResourceExhaustedError(absl::StrCat("input text has more than ", max_ids,
                                                       " tokens, over the server limit of ",
                                                       limits.max_tokens));
    }
    ids = std::move(prefix.ids);
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] >= info.vocab_size) {
        return absl::InvalidArgumentError(
            absl::StrCat("text tokenizes to id ", ids[i], " at position ", i,
                         ", outside the model's vocabulary of ", info.vocab_size,
                         ": the tokenizer and the model have different vocabularies (the "
                         "tokenizer.json does not belong to this checkpoint); send token_ids"));
      }
    }
  } else {
    ids = spec.token_ids;  // their range: the explain Validate below
  }
  const int64_t length = static_cast<int64_t>(ids.size());
  if (length == 0) return absl::InvalidArgumentError("text is empty after tokenization");
  if (length > limits.max_tokens) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "input has ", length, " tokens, over the server limit of ", limits.max_tokens));
  }

  // Methods: catalogue names this backend serves (the explain Validate rejects repeats).
  const std::string supported =
      info.methods.empty() ? "none" : absl::StrJoin(MethodNames(info.methods), ", ");
  ExplainRequest request;
  request.methods.clear();
  if (spec.methods.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("methods is empty; model '", spec.model, "' supports: ", supported));
  }
  for (size_t i = 0; i < spec.methods.size(); ++i) {
    absl::StatusOr<Method> m = ParseMethod(spec.methods[i]);
    if (!m.ok() || std::find(info.methods.begin(), info.methods.end(), *m) == info.methods.end()) {
      return absl::InvalidArgumentError(absl::StrCat("methods[", i, "]='", spec.methods[i],
                                                     "' is not supported by model '", spec.model,
                                                     "' (supported: ", supported, ")"));
    }
    request.methods.push_back(*m);
  }

  // The explanation itself: one Validate for the CLI, the server and the evaluator.
  request.layers.assign(spec.layers.begin(), spec.layers.end());
  if (spec.last_row && !spec.target_rows.empty()) {
    return absl::InvalidArgumentError("row_selection=LAST together with target_rows");
  }
  if (spec.last_row) {
    request.rows.kind = RowSelection::Kind::kLast;
  } else if (!spec.target_rows.empty()) {
    request.rows.kind = RowSelection::Kind::kList;
    request.rows.rows.assign(spec.target_rows.begin(), spec.target_rows.end());
  }
  if (spec.target_token.has_value() && !spec.target_tokens.empty()) {
    return absl::InvalidArgumentError("give target_token or target_tokens, not both");
  }
  request.target_token = spec.target_token;
  request.target_tokens.assign(spec.target_tokens.begin(), spec.target_tokens.end());
  request.activation = spec.activation;
  request.precision = spec.precision;
  ASSIGN_OR_RETURN(request.params, ParseParameters(spec.params, limits));
  const int64_t budget_mib =
      spec.params.memory_budget_mib > 0 ? spec.params.memory_budget_mib : info.memory_budget_mib;
  request.memory_budget_bytes = budget_mib << 20;
  ModelShape shape;
  shape.n_layers = info.n_layers;
  shape.vocab_size = info.vocab_size;
  shape.precision = info.precision;
  shape.methods = info.methods;
  ASSIGN_OR_RETURN(ValidatedRequest v, Validate(request, {ids}, shape));

  out.options.methods = v.methods;
  out.options.layers.assign(v.layers.begin(), v.layers.end());
  out.options.activation = v.activation;
  out.options.precision = v.precision;
  out.options.memory_budget_bytes = v.memory_budget_bytes;
  out.options.params = v.params;
  const ValidatedSequence& seq = v.sequences[0];
  out.input.ids = seq.ids;
  out.input.target_rows.assign(seq.rows.begin(), seq.rows.end());
  out.input.target_tokens.assign(seq.targets.begin(), seq.targets.end());
  if (v.target_token.has_value() && v.NeedsTargets()) {
    // One token for every row, per row: the header echoes it and batches never split on it.
    out.input.target_tokens.assign(seq.rows.size(), static_cast<int32_t>(*v.target_token));
  }

  // Transport options.
  RETURN_IF_ERROR(ValidateSparsity(spec.sparsity));
  out.sparsity = spec.sparsity;
  const int64_t columns = static_cast<int64_t>(out.input.ids.size());
  if (columns > limits.max_dense_row) {
    for (Method m : out.options.methods) {
      const bool dense = spec.sparsity.mode == SparsityMode::kDense ||
                         GetMethodInfo(m).result_kind == ResultKind::kTokenScores;
      if (dense) {
        return absl::InvalidArgumentError(
            absl::StrCat("a dense row of ", columns, " columns (method '", MethodName(m),
                         "') does not fit one message; dense rows hold at most ",
                         limits.max_dense_row, " columns: ask for TOP_K, THRESHOLD or MASS",
                         GetMethodInfo(m).result_kind == ResultKind::kTokenScores
                             ? ", or a method with a matrix result"
                             : ""));
      }
    }
  }
  if (spec.priority < 0 || spec.priority > limits.max_priority) {
    return absl::InvalidArgumentError(
        absl::StrCat("priority=", spec.priority, " not in [0, ", limits.max_priority, "]"));
  }
  out.priority = spec.priority;
  RETURN_IF_ERROR(CheckBudgets(out.options, seq.rows, limits));
  // Last: whether the device could hold this request at all (it then fails alone, unqueued).
  RETURN_IF_ERROR(backend.CheckMemory(out.options, out.input));
  return out;
}

}  // namespace mamba_explain
