#include "attribution/methods.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace mamba_explain {
namespace {

constexpr MethodScope kPerLayer = MethodScope::kPerLayer;
constexpr MethodScope kWholeModel = MethodScope::kWholeModel;
constexpr ResultKind kMatrix = ResultKind::kMatrix;
constexpr ResultKind kTokenScores = ResultKind::kTokenScores;

// THE catalogue. Order = enum order (checked when the table is built).
const std::vector<MethodInfo>& Table() {
  static const auto* table = new std::vector<MethodInfo>{
      {Method::kLatimL1,
       "latim-l1",
       MethodFamily::kLatim,
       kPerLayer,
       false,
       kMatrix,
       {true, GradientPasses::kNone},
       "LaTIM ||T_t(x_s)||_1 per layer"},
      {Method::kLatimL2,
       "latim-l2",
       MethodFamily::kLatim,
       kPerLayer,
       false,
       kMatrix,
       {true, GradientPasses::kNone},
       "LaTIM ||T_t(x_s)||_2 per layer"},
      {Method::kLatimAlti,
       "latim-alti",
       MethodFamily::kLatim,
       kPerLayer,
       false,
       kMatrix,
       {true, GradientPasses::kNone},
       "LaTIM ALTI contextual mixing (with the residual)"},
      {Method::kLatimAltiLogit,
       "latim-alti-logit",
       MethodFamily::kLatim,
       kWholeModel,
       true,
       kMatrix,
       {true, GradientPasses::kNone},
       "LaTIM ALTI-Logit rolled through the residual stream (layer -1)"},
      {Method::kGradientXInput,
       "grad-x-input",
       MethodFamily::kGradient,
       kWholeModel,
       true,
       kTokenScores,
       {false, GradientPasses::kOne},
       "Gradient x Input at the embeddings"},
      {Method::kIntegratedGradients,
       "integrated-gradients",
       MethodFamily::kGradient,
       kWholeModel,
       true,
       kTokenScores,
       {false, GradientPasses::kIgSteps},
       "Integrated Gradients, zero baseline"},
      {Method::kSmoothGrad,
       "smoothgrad",
       MethodFamily::kGradient,
       kWholeModel,
       true,
       kTokenScores,
       {false, GradientPasses::kSmoothGradSamples},
       "SmoothGrad, absolute sigma"},
      {Method::kMambaLrp,
       "mamba-lrp",
       MethodFamily::kMambaLrp,
       kWholeModel,
       true,
       kTokenScores,
       {false, GradientPasses::kOne},
       "MambaLRP (Gradient x Input of the relevance forward)"},
      {Method::kMambaAttention,
       "mamba-attention",
       MethodFamily::kHiddenAttention,
       kPerLayer,
       false,
       kMatrix,
       {true, GradientPasses::kNone},
       "hidden attention, unit mean per layer (Ali et al.)"},
      {Method::kRollout,
       "rollout",
       MethodFamily::kHiddenAttention,
       kWholeModel,
       false,
       kMatrix,
       {false, GradientPasses::kNone},
       "attention rollout of the hidden attention"},
      {Method::kMambaAttribution,
       "mamba-attribution",
       MethodFamily::kHiddenAttention,
       kWholeModel,
       true,
       kTokenScores,
       {false, GradientPasses::kOne},
       "Mamba-Attribution: rollout weighted by block-input gradients"},
      {Method::kSyntheticDecay,
       "synthetic-decay",
       MethodFamily::kSynthetic,
       kPerLayer,
       false,
       kMatrix,
       {true, GradientPasses::kNone},
       "synthetic backend: deterministic matrices"},
      {Method::kSyntheticLogit,
       "synthetic-logit",
       MethodFamily::kSynthetic,
       kPerLayer,
       true,
       kTokenScores,
       {true, GradientPasses::kNone},
       "synthetic backend: deterministic token scores"},
  };
  for (size_t i = 0; i < table->size(); ++i) {
    if (static_cast<size_t>((*table)[i].id) != i) std::abort();  // a misplaced entry
  }
  return *table;
}

// One closed choice set: values with their spellings, and what the set is called in messages.
template <typename E>
struct ChoiceSet {
  const char* what;
  std::vector<std::pair<E, const char*>> entries;

  absl::StatusOr<E> Parse(absl::string_view text) const {
    for (const auto& [value, name] : entries) {
      if (text == name) return value;
    }
    return absl::InvalidArgumentError(
        absl::StrCat("unknown ", what, " '", text, "' (", absl::StrJoin(Choices(), ", "), ")"));
  }
  const char* Name(E value) const {
    for (const auto& [v, name] : entries) {
      if (v == value) return name;
    }
    return "?";
  }
  std::vector<std::string> Choices() const {
    std::vector<std::string> out;
    for (const auto& entry : entries) out.push_back(entry.second);
    return out;
  }
};

const ChoiceSet<Activation>& Activations() {
  static const auto* set = new ChoiceSet<Activation>{"activation",
                                                     {{Activation::kSilu, "silu"},
                                                      {Activation::kIdentity, "identity"},
                                                      {Activation::kRelu, "relu"}}};
  return *set;
}

const ChoiceSet<IgQuadrature>& IgRules() {
  static const auto* set =
      new ChoiceSet<IgQuadrature>{"ig rule",
                                  {{IgQuadrature::kRiemannMidpoint, "riemann"},
                                   {IgQuadrature::kGaussLegendre, "gauss-legendre"}}};
  return *set;
}

const ChoiceSet<SmoothGradInput>& SmoothGradInputs() {
  static const auto* set = new ChoiceSet<SmoothGradInput>{
      "smoothgrad input", {{SmoothGradInput::kNoisy, "noisy"}, {SmoothGradInput::kClean, "clean"}}};
  return *set;
}

const ChoiceSet<AttentionNorm>& AttentionNorms() {
  static const auto* set =
      new ChoiceSet<AttentionNorm>{"attention norm",
                                   {{AttentionNorm::kRaw, "raw"},
                                    {AttentionNorm::kMinMax, "minmax"},
                                    {AttentionNorm::kAbsMinMax, "abs-minmax"}}};
  return *set;
}

// The "no-…" switches of LrpRules, in the order LrpRulesName writes them.
struct LrpSwitch {
  const char* name;
  bool LrpRules::*rule;
};
const std::vector<LrpSwitch>& LrpSwitches() {
  static const auto* switches = new std::vector<LrpSwitch>{
      {"no-silu", &LrpRules::silu_identity},
      {"no-ssm", &LrpRules::ssm_constant},
      {"no-gate", &LrpRules::gate_half},
      {"no-norm", &LrpRules::norm_constant},
  };
  return *switches;
}

}  // namespace

const std::vector<MethodInfo>& MethodCatalogue() { return Table(); }

const MethodInfo& GetMethodInfo(Method method) { return Table()[static_cast<size_t>(method)]; }

const char* MethodName(Method method) { return GetMethodInfo(method).name; }

absl::StatusOr<Method> ParseMethod(absl::string_view text) {
  for (const MethodInfo& info : Table()) {
    if (text == info.name) return info.id;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown method '", text, "' (", MethodChoices(), ")"));
}

std::vector<Method> EngineMethods() {
  std::vector<Method> out;
  for (const MethodInfo& info : Table()) {
    if (info.family != MethodFamily::kSynthetic) out.push_back(info.id);
  }
  return out;
}

std::vector<Method> MethodsOf(MethodFamily family) {
  std::vector<Method> out;
  for (const MethodInfo& info : Table()) {
    if (info.family == family) out.push_back(info.id);
  }
  return out;
}

bool HasApproxError(Method method) {
  const MethodFamily family = GetMethodInfo(method).family;
  return family == MethodFamily::kLatim || family == MethodFamily::kGradient ||
         family == MethodFamily::kMambaLrp;
}

std::vector<std::string> MethodNames(const std::vector<Method>& methods) {
  std::vector<std::string> out;
  for (Method m : methods) out.push_back(MethodName(m));
  return out;
}

std::string MethodChoices() { return absl::StrJoin(MethodNames(EngineMethods()), ", "); }

std::string MethodHelp() {
  std::string out;
  for (Method m : EngineMethods()) {
    const MethodInfo& info = GetMethodInfo(m);
    absl::StrAppend(&out, "  ", info.name, std::string(22 - std::string(info.name).size(), ' '),
                    info.summary, "\n");
  }
  return out;
}

const char* MethodFamilyName(MethodFamily family) {
  switch (family) {
    case MethodFamily::kLatim:
      return "LaTIM";
    case MethodFamily::kGradient:
      return "gradient";
    case MethodFamily::kMambaLrp:
      return "MambaLRP";
    case MethodFamily::kHiddenAttention:
      return "hidden attention";
    case MethodFamily::kSynthetic:
      return "synthetic";
  }
  return "";
}

std::string MethodTableMarkdown() {
  auto passes = [](GradientPasses p) -> const char* {
    switch (p) {
      case GradientPasses::kNone:
        return "0";
      case GradientPasses::kOne:
        return "1";
      case GradientPasses::kIgSteps:
        return "ig_steps";
      case GradientPasses::kSmoothGradSamples:
        return "smoothgrad_samples";
    }
    return "";
  };
  std::string out =
      "| method | family | scope | output-dependent | result | backward passes per row | "
      "summary |\n|---|---|---|---|---|---|---|\n";
  for (Method m : EngineMethods()) {
    const MethodInfo& info = GetMethodInfo(m);
    absl::StrAppend(&out, "| `", info.name, "` | ", MethodFamilyName(info.family), " | ",
                    info.scope == MethodScope::kPerLayer ? "per layer" : "whole model (layer -1)",
                    " | ", info.output_dependent ? "yes" : "no", " | ",
                    info.result_kind == ResultKind::kMatrix ? "matrix" : "token scores", " | ",
                    passes(info.cost.gradient_passes), " | ",
                    absl::StrReplaceAll(info.summary, {{"|", "\\|"}}), " |\n");
  }
  return out;
}

absl::StatusOr<Activation> ParseActivation(absl::string_view text) {
  return Activations().Parse(text);
}
const char* ActivationName(Activation activation) { return Activations().Name(activation); }
std::vector<std::string> ActivationChoices() { return Activations().Choices(); }

absl::StatusOr<IgQuadrature> ParseIgQuadrature(absl::string_view text) {
  return IgRules().Parse(text);
}
const char* IgQuadratureName(IgQuadrature rule) { return IgRules().Name(rule); }
std::vector<std::string> IgQuadratureChoices() { return IgRules().Choices(); }

absl::StatusOr<SmoothGradInput> ParseSmoothGradInput(absl::string_view text) {
  return SmoothGradInputs().Parse(text);
}
const char* SmoothGradInputName(SmoothGradInput input) { return SmoothGradInputs().Name(input); }
std::vector<std::string> SmoothGradInputChoices() { return SmoothGradInputs().Choices(); }

absl::StatusOr<AttentionNorm> ParseAttentionNorm(absl::string_view text) {
  return AttentionNorms().Parse(text);
}
const char* AttentionNormName(AttentionNorm norm) { return AttentionNorms().Name(norm); }
std::vector<std::string> AttentionNormChoices() { return AttentionNorms().Choices(); }

absl::StatusOr<LrpRules> ParseLrpRules(absl::string_view text) {
  LrpRules rules;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    bool known = false;
    if (part == "all") {
      rules = LrpRules();
      known = true;
    } else if (part == "none") {
      rules = LrpRules{false, false, false, false};
      known = true;
    }
    for (const LrpSwitch& s : LrpSwitches()) {
      if (part == s.name) {
        rules.*s.rule = false;
        known = true;
      }
    }
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat("unknown lrp rule '", part, "' (",
                                                     absl::StrJoin(LrpRuleChoices(), ", "), ")"));
    }
  }
  return rules;
}

std::string LrpRulesName(const LrpRules& rules) {
  std::vector<std::string> off;
  for (const LrpSwitch& s : LrpSwitches()) {
    if (!(rules.*s.rule)) off.push_back(s.name);
  }
  if (off.empty()) return "all";
  if (off.size() == LrpSwitches().size()) return "none";
  return absl::StrJoin(off, ",");
}

std::vector<std::string> LrpRuleChoices() {
  std::vector<std::string> out = {"all", "none"};
  for (const LrpSwitch& s : LrpSwitches()) out.push_back(s.name);
  return out;
}

}  // namespace mamba_explain
