// The method catalogue: what every attribution method IS (name, family, per-layer or whole-model,
// output-dependent, result kind, cost model), and the closed parameter choices the methods take
// (activation f, IG rule, SmoothGrad input, MambaLRP rules, attention norm; precision lives in
// common/precision.h), each with exactly one parse/name pair. Every list of methods or choices in
// the project — serving capabilities, validation messages, budgets, CLI help, the evaluator's
// method sets, BatchOptions::Key — is generated from here, so adding a method is one entry below
// plus its family's code. Torch-free and dependency-free beyond Abseil; all functions are
// thread-safe (the tables are immutable).
#ifndef MAMBA_EXPLAIN_ATTRIBUTION_METHODS_H_
#define MAMBA_EXPLAIN_ATTRIBUTION_METHODS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/precision.h"

namespace mamba_explain {

enum class Method {
  kLatimL1,
  kLatimL2,
  kLatimAlti,
  kLatimAltiLogit,
  kGradientXInput,
  kIntegratedGradients,
  kSmoothGrad,
  kMambaLrp,
  kMambaAttention,
  kRollout,
  kMambaAttribution,
  // Deterministic stand-ins served only by the synthetic backend (transport tests, no model).
  kSyntheticDecay,
  kSyntheticLogit,
};

// Which code computes a method (one src/attribution file per family).
enum class MethodFamily { kLatim, kGradient, kMambaLrp, kHiddenAttention, kSynthetic };

// What a method's results are indexed by: one result per requested layer, or one per sequence
// (layer −1).
enum class MethodScope { kPerLayer, kWholeModel };

// The shape of a result: a token-to-token matrix (rows = targets, columns = sources), or per-target
// source relevance vectors that carry the explained logit of each row (wire: TokenScores).
enum class ResultKind { kMatrix, kTokenScores };

// Backward passes a method runs per target row; the dominant cost of the gradient methods.
enum class GradientPasses { kNone, kOne, kIgSteps, kSmoothGradSamples };

// What a request pays, for the serving budgets (request_validation.h).
struct CostModel {
  // Matrix rows counted once per requested layer (true) or once (false). latim-alti-logit is
  // whole-model but computes every layer's ALTI rows, so it counts per layer.
  bool rows_per_layer = true;
  GradientPasses gradient_passes = GradientPasses::kNone;
};

struct MethodInfo {
  Method id;
  const char* name;  // the wire / CLI spelling, e.g. "latim-l2"
  MethodFamily family;
  MethodScope scope;
  bool output_dependent;  // explains a target token per row (predicted next token by default)
  ResultKind result_kind;
  CostModel cost;
  const char* summary;  // one line for help texts and docs
};

// Every method, in catalogue order (the order of the enum).
const std::vector<MethodInfo>& MethodCatalogue();
const MethodInfo& GetMethodInfo(Method method);
const char* MethodName(Method method);
// Any catalogue name; INVALID_ARGUMENT "unknown method '<text>' (<engine methods>)" otherwise.
absl::StatusOr<Method> ParseMethod(absl::string_view text);
// The methods the LibTorch engine runs (every family but kSynthetic), in catalogue order.
std::vector<Method> EngineMethods();
std::vector<Method> MethodsOf(MethodFamily family);
std::vector<std::string> MethodNames(const std::vector<Method>& methods);
// Whether a method's results carry a meaningful approx_error (docs/methods.md): LaTIM's
// decomposition error, and the completeness gap of the gradient methods and MambaLRP. The
// hidden-attention methods (mamba-attention, rollout, mamba-attribution) and the synthetic ones
// have none; outputs write null for them rather than a misleading 0.
bool HasApproxError(Method method);
// "latim-l1, latim-l2, ...": the engine methods, for help texts and error messages.
std::string MethodChoices();
// One line per engine method: "  name  summary", for CLI help.
std::string MethodHelp();
// "LaTIM", "gradient", "MambaLRP", "hidden attention", "synthetic" (docs and the catalogue JSON).
const char* MethodFamilyName(MethodFamily family);
// The engine methods as a Markdown table (name, family, scope, output-dependent, result, backward
// passes per target row, summary): the table in docs/methods.md, which a test keeps equal to it.
std::string MethodTableMarkdown();

// --- Parameters -------------------------------------------------------------------------------
// Each enum has Parse<E> (INVALID_ARGUMENT "unknown <what> '<text>' (<choices>)"), <E>Name and
// <E>Choices (the accepted spellings in order).

// The additive f of LaTIM eq. 19 that replaces the SSM input activation on each conv tap.
enum class Activation { kSilu, kIdentity, kRelu };
absl::StatusOr<Activation> ParseActivation(absl::string_view text);
const char* ActivationName(Activation activation);  // "silu" | "identity" | "relu"
std::vector<std::string> ActivationChoices();

// Integrated Gradients quadrature on [0, 1].
enum class IgQuadrature { kRiemannMidpoint, kGaussLegendre };
absl::StatusOr<IgQuadrature> ParseIgQuadrature(absl::string_view text);
const char* IgQuadratureName(IgQuadrature rule);  // "riemann" | "gauss-legendre"
std::vector<std::string> IgQuadratureChoices();

// What SmoothGrad multiplies each sample's gradient by: the noisy input (Captum NoiseTunnel over
// InputXGradient) or the clean one.
enum class SmoothGradInput { kNoisy, kClean };
absl::StatusOr<SmoothGradInput> ParseSmoothGradInput(absl::string_view text);
const char* SmoothGradInputName(SmoothGradInput input);  // "noisy" | "clean"
std::vector<std::string> SmoothGradInputChoices();

// Normalisation of the hidden attention α before the unit mean (mamba-attention).
enum class AttentionNorm {
  kRaw,        // signed, none (what rollout uses)
  kMinMax,     // (α − min α) / (max α − min α): their generate_raw_attn
  kAbsMinMax,  // (|α| − min |α|) / (max |α| − min |α|): their notebook's per-channel pictures
};
absl::StatusOr<AttentionNorm> ParseAttentionNorm(absl::string_view text);
const char* AttentionNormName(AttentionNorm norm);  // "raw" | "minmax" | "abs-minmax"
std::vector<std::string> AttentionNormChoices();

// MambaLRP's rules, each on (the paper's MambaLRP) or off (plain gradient there; Table 2's
// ablation).
struct LrpRules {
  bool silu_identity = true;
  bool ssm_constant = true;
  bool gate_half = true;
  bool norm_constant = true;
  bool operator==(const LrpRules& o) const {
    return silu_identity == o.silu_identity && ssm_constant == o.ssm_constant &&
           gate_half == o.gate_half && norm_constant == o.norm_constant;
  }
  bool operator!=(const LrpRules& o) const { return !(*this == o); }
};
// Comma list of LrpRuleChoices(): "all" | "none" | "no-silu" | "no-ssm" | "no-gate" | "no-norm",
// applied in order starting from all rules on ("no-ssm,no-gate" = SiLU and norm rules only).
// INVALID_ARGUMENT "unknown lrp rule '<part>' (...)".
absl::StatusOr<LrpRules> ParseLrpRules(absl::string_view text);
// Canonical spelling: "all", "none", or the "no-…" list of the rules that are off.
std::string LrpRulesName(const LrpRules& rules);
std::vector<std::string> LrpRuleChoices();

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_ATTRIBUTION_METHODS_H_
