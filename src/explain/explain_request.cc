#include "explain/explain_request.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace mamba_explain {
namespace {

// --- The rules, each stated once; Validate applies them to a request, CheckValidated to what
// Validate (or a batcher) made. ---------------------------------------------------------------

// Every entry of `values` in [0, end).
template <typename T>
absl::Status CheckIndices(absl::string_view field, const std::vector<T>& values, int64_t end,
                          absl::string_view where = "") {
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] < 0 || values[i] >= end) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", i, "]=", values[i], " not in [0, ", end, ")", where));
    }
  }
  return absl::OkStatus();
}

bool Contains(const std::vector<Method>& methods, Method m) {
  return std::find(methods.begin(), methods.end(), m) != methods.end();
}

// Methods: at least one, each served by the model, none repeated.
absl::Status CheckMethods(const std::vector<Method>& methods, const ModelShape& shape) {
  if (methods.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "methods is empty (supported: ", absl::StrJoin(MethodNames(shape.methods), ", "), ")"));
  }
  for (size_t i = 0; i < methods.size(); ++i) {
    const Method m = methods[i];
    if (!Contains(shape.methods, m)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "methods[", i, "]='", MethodName(m), "' is not supported by this model (supported: ",
          absl::StrJoin(MethodNames(shape.methods), ", "), ")"));
    }
    if (std::find(methods.begin(), methods.begin() + i, m) != methods.begin() + i) {
      return absl::InvalidArgumentError(
          absl::StrCat("methods[", i, "]='", MethodName(m), "' is repeated"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckTargetToken(const std::optional<int64_t>& token, const ModelShape& shape) {
  if (token.has_value() && (*token < 0 || *token >= shape.vocab_size)) {
    return absl::InvalidArgumentError(
        absl::StrCat("target_token=", *token, " not in [0, ", shape.vocab_size, ")"));
  }
  return absl::OkStatus();
}

// One sequence's ids: at least one, each in the vocabulary.
absl::Status CheckIds(const std::vector<int32_t>& ids, const ModelShape& shape,
                      absl::string_view where) {
  if (ids.empty()) return absl::InvalidArgumentError(absl::StrCat("no token ids", where));
  return CheckIndices("token_ids", ids, shape.vocab_size, where);
}

absl::Status CheckTargetCount(size_t targets, size_t rows) {
  if (targets == rows) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("target_tokens has ", targets, " entries but there are ", rows, " target rows"));
}

// Precision, memory budget and the method parameters.
absl::Status CheckOptions(Precision precision, int64_t memory_budget_bytes,
                          const ModelShape& shape) {
  if (!ComputePrecisionSupported(shape.precision, precision)) {
    return absl::InvalidArgumentError(
        absl::StrCat("precision=", PrecisionName(precision), " but the model's weights are ",
                     PrecisionName(shape.precision), " (fp32 weights compute in ",
                     PrecisionChoices(), "; bf16 weights in bf16)"));
  }
  if (memory_budget_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory_budget_bytes=", memory_budget_bytes, " must be > 0"));
  }
  return absl::OkStatus();
}

absl::Status CheckParameters(const ExplainParameters& p, const ModelShape& shape) {
  if (p.ig_steps < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters.ig_steps=", p.ig_steps, " must be >= 1"));
  }
  if (p.smoothgrad_samples < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters.smoothgrad_samples=", p.smoothgrad_samples, " must be >= 1"));
  }
  if (!(p.smoothgrad_sigma >= 0) || !std::isfinite(p.smoothgrad_sigma)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parameters.smoothgrad_sigma=", p.smoothgrad_sigma, " must be finite and >= 0"));
  }
  if (p.start_layer < 0 || p.start_layer >= shape.n_layers) {
    return absl::InvalidArgumentError(absl::StrCat("parameters.start_layer=", p.start_layer,
                                                   " not in [0, ", shape.n_layers, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

bool ValidatedRequest::HasFamily(MethodFamily family) const {
  for (Method m : methods) {
    if (GetMethodInfo(m).family == family) return true;
  }
  return false;
}

bool ValidatedRequest::NeedsTargets() const {
  for (Method m : methods) {
    if (GetMethodInfo(m).output_dependent) return true;
  }
  return false;
}

absl::StatusOr<ValidatedRequest> Validate(const ExplainRequest& request,
                                          const std::vector<std::vector<int32_t>>& sequences,
                                          const ModelShape& shape) {
  ValidatedRequest out;
  RETURN_IF_ERROR(CheckMethods(request.methods, shape));
  out.methods = request.methods;

  // Layers: sorted, unique, all when none.
  RETURN_IF_ERROR(CheckIndices("layers", request.layers, shape.n_layers));
  out.layers = request.layers;
  if (out.layers.empty()) {
    for (int l = 0; l < shape.n_layers; ++l) out.layers.push_back(l);
  }
  std::sort(out.layers.begin(), out.layers.end());
  out.layers.erase(std::unique(out.layers.begin(), out.layers.end()), out.layers.end());

  // Targets shared by every sequence.
  RETURN_IF_ERROR(CheckTargetToken(request.target_token, shape));
  out.target_token = request.target_token;
  RETURN_IF_ERROR(CheckIndices("target_tokens", request.target_tokens, shape.vocab_size));
  if (!request.target_tokens.empty() && sequences.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "target_tokens needs exactly one sequence, the request has ", sequences.size()));
  }

  // Sequences: ids and rows (the row rule and resolution: attribution_types.h).
  if (sequences.empty()) return absl::InvalidArgumentError("no sequences to explain");
  for (size_t b = 0; b < sequences.size(); ++b) {
    const std::string where = sequences.size() > 1 ? absl::StrCat(" (sequence ", b, ")") : "";
    RETURN_IF_ERROR(CheckIds(sequences[b], shape, where));
    ValidatedSequence seq;
    seq.ids = sequences[b];
    const absl::Status rows = CheckRowSelection(request.rows, static_cast<int64_t>(seq.ids.size()));
    if (!rows.ok()) return absl::InvalidArgumentError(absl::StrCat(rows.message(), where));
    ASSIGN_OR_RETURN(seq.rows, ResolveRows(request.rows, static_cast<int64_t>(seq.ids.size()),
                                           static_cast<int64_t>(b)));
    if (!request.target_tokens.empty()) {
      RETURN_IF_ERROR(CheckTargetCount(request.target_tokens.size(), seq.rows.size()));
      if (out.NeedsTargets()) seq.targets = request.target_tokens;
    }
    out.sequences.push_back(std::move(seq));
  }

  out.activation = request.activation;
  out.precision = request.precision.value_or(shape.precision);
  out.memory_budget_bytes = request.memory_budget_bytes;
  RETURN_IF_ERROR(CheckOptions(out.precision, out.memory_budget_bytes, shape));
  RETURN_IF_ERROR(CheckParameters(request.params, shape));
  out.params = request.params;
  return out;
}

absl::Status CheckValidated(const ValidatedRequest& request, const ModelShape& shape) {
  RETURN_IF_ERROR(CheckMethods(request.methods, shape));
  RETURN_IF_ERROR(CheckIndices("layers", request.layers, shape.n_layers));
  if (!std::is_sorted(request.layers.begin(), request.layers.end()) ||
      std::adjacent_find(request.layers.begin(), request.layers.end()) != request.layers.end()) {
    return absl::InvalidArgumentError("layers must be ascending and unique");
  }
  RETURN_IF_ERROR(CheckTargetToken(request.target_token, shape));
  if (request.sequences.empty()) return absl::InvalidArgumentError("no sequences to explain");
  for (size_t b = 0; b < request.sequences.size(); ++b) {
    const ValidatedSequence& seq = request.sequences[b];
    const std::string where = absl::StrCat(" (sequence ", b, ")");
    RETURN_IF_ERROR(CheckIds(seq.ids, shape, where));
    // The rows are what ResolveRows makes of them: valid, ascending, unique.
    RowSelection listed;
    listed.kind = RowSelection::Kind::kList;
    listed.rows = seq.rows;
    const absl::Status rows = CheckRowSelection(listed, static_cast<int64_t>(seq.ids.size()));
    if (!rows.ok()) return absl::InvalidArgumentError(absl::StrCat(rows.message(), where));
    if (!std::is_sorted(seq.rows.begin(), seq.rows.end()) ||
        std::adjacent_find(seq.rows.begin(), seq.rows.end()) != seq.rows.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("target rows must be ascending and unique", where));
    }
    if (!seq.targets.empty()) {
      RETURN_IF_ERROR(CheckTargetCount(seq.targets.size(), seq.rows.size()));
      RETURN_IF_ERROR(CheckIndices("target_tokens", seq.targets, shape.vocab_size, where));
    }
  }
  RETURN_IF_ERROR(CheckOptions(request.precision, request.memory_budget_bytes, shape));
  return CheckParameters(request.params, shape);
}

}  // namespace mamba_explain
