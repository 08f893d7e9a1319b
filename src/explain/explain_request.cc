#include "explain/explain_request.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace mamba_explain {
namespace {

absl::Status OutOfRange(absl::string_view field, size_t index, int64_t value, int64_t end) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, "[", index, "]=", value, " not in [0, ", end, ")"));
}

bool Contains(const std::vector<Method>& methods, Method m) {
  return std::find(methods.begin(), methods.end(), m) != methods.end();
}

absl::Status ValidateParameters(const ExplainParameters& p, const ModelShape& shape) {
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

  // Methods: known to the model, no repeats.
  if (request.methods.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "methods is empty (supported: ", absl::StrJoin(MethodNames(shape.methods), ", "), ")"));
  }
  for (size_t i = 0; i < request.methods.size(); ++i) {
    const Method m = request.methods[i];
    if (!Contains(shape.methods, m)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "methods[", i, "]='", MethodName(m), "' is not supported by this model (supported: ",
          absl::StrJoin(MethodNames(shape.methods), ", "), ")"));
    }
    if (Contains(out.methods, m)) {
      return absl::InvalidArgumentError(
          absl::StrCat("methods[", i, "]='", MethodName(m), "' is repeated"));
    }
    out.methods.push_back(m);
  }
  const bool needs_target = [&] {
    for (Method m : out.methods) {
      if (GetMethodInfo(m).output_dependent) return true;
    }
    return false;
  }();

  // Layers: sorted, unique, all when none.
  for (size_t i = 0; i < request.layers.size(); ++i) {
    if (request.layers[i] < 0 || request.layers[i] >= shape.n_layers) {
      return OutOfRange("layers", i, request.layers[i], shape.n_layers);
    }
  }
  out.layers = request.layers;
  if (out.layers.empty()) {
    for (int l = 0; l < shape.n_layers; ++l) out.layers.push_back(l);
  }
  std::sort(out.layers.begin(), out.layers.end());
  out.layers.erase(std::unique(out.layers.begin(), out.layers.end()), out.layers.end());

  // Targets shared by every sequence.
  if (request.target_token.has_value() &&
      (*request.target_token < 0 || *request.target_token >= shape.vocab_size)) {
    return absl::InvalidArgumentError(absl::StrCat("target_token=", *request.target_token,
                                                   " not in [0, ", shape.vocab_size, ")"));
  }
  out.target_token = request.target_token;
  for (size_t i = 0; i < request.target_tokens.size(); ++i) {
    if (request.target_tokens[i] < 0 || request.target_tokens[i] >= shape.vocab_size) {
      return OutOfRange("target_tokens", i, request.target_tokens[i], shape.vocab_size);
    }
  }
  if (!request.target_tokens.empty() && sequences.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "target_tokens needs exactly one sequence, the request has ", sequences.size()));
  }

  // Sequences: ids and rows.
  if (sequences.empty()) return absl::InvalidArgumentError("no sequences to explain");
  if (request.rows.kind == RowSelection::Kind::kList && request.rows.rows.empty()) {
    return absl::InvalidArgumentError("target_rows is empty");
  }
  for (size_t b = 0; b < sequences.size(); ++b) {
    const std::vector<int32_t>& ids = sequences[b];
    const std::string where = sequences.size() > 1 ? absl::StrCat(" (sequence ", b, ")") : "";
    if (ids.empty()) return absl::InvalidArgumentError(absl::StrCat("no token ids", where));
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= shape.vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat(
            "token_ids[", i, "]=", ids[i], " not in [0, ", shape.vocab_size, ")", where));
      }
    }
    const int64_t n = static_cast<int64_t>(ids.size());
    if (request.rows.kind == RowSelection::Kind::kList) {
      for (size_t i = 0; i < request.rows.rows.size(); ++i) {
        const int64_t t = request.rows.rows[i];
        if (t < 0 || t >= n) {
          return absl::InvalidArgumentError(
              absl::StrCat("target_rows[", i, "]=", t, " not in [0, ", n, ")", where));
        }
      }
    }
    ValidatedSequence seq;
    seq.ids = ids;
    ASSIGN_OR_RETURN(seq.rows, ResolveRows(request.rows, n, static_cast<int64_t>(b)));
    if (!request.target_tokens.empty()) {
      if (request.target_tokens.size() != seq.rows.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("target_tokens has ", request.target_tokens.size(),
                         " entries but there are ", seq.rows.size(), " target rows"));
      }
      if (needs_target) seq.targets = request.target_tokens;
    }
    out.sequences.push_back(std::move(seq));
  }

  // Options.
  out.activation = request.activation;
  out.precision = request.precision.value_or(shape.precision);
  if (!ComputePrecisionSupported(shape.precision, out.precision)) {
    return absl::InvalidArgumentError(
        absl::StrCat("precision=", PrecisionName(out.precision), " but the model's weights are ",
                     PrecisionName(shape.precision), " (fp32 weights compute in ",
                     PrecisionChoices(), "; bf16 weights in bf16)"));
  }
  if (request.memory_budget_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory_budget_bytes=", request.memory_budget_bytes, " must be > 0"));
  }
  out.memory_budget_bytes = request.memory_budget_bytes;
  RETURN_IF_ERROR(ValidateParameters(request.params, shape));
  out.params = request.params;
  return out;
}

}  // namespace mamba_explain
