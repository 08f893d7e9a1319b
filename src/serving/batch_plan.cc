#include "serving/batch_plan.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace mamba_explain {
namespace {

// Whether `a` and `b` are in one call unit of a request (see the header).
bool SameUnit(Method a, Method b) {
  const MethodFamily fa = GetMethodInfo(a).family, fb = GetMethodInfo(b).family;
  if (fa != fb) return false;
  return fa == MethodFamily::kLatim || fa == MethodFamily::kHiddenAttention ||
         fa == MethodFamily::kSynthetic || a == b;
}

// The methods of `options` in `method`'s unit, in request order.
std::vector<Method> UnitMethods(const BatchOptions& options, Method method) {
  std::vector<Method> unit;
  for (Method m : options.methods) {
    if (SameUnit(m, method)) unit.push_back(m);
  }
  return unit;
}

bool Has(const std::vector<Method>& methods, Method m) {
  return std::find(methods.begin(), methods.end(), m) != methods.end();
}

}  // namespace

// What changes a result of each unit (the engine's calls, explain/engine.cc): LaTIM reads the
// layers, f and the compute precision (its W_out contraction); the gradient methods read only
// their own parameters (σ with all digits; the seed draws SmoothGrad's noise); the
// hidden-attention methods read the layers, mamba-attention its norm, rollout and
// mamba-attribution the start layer. The memory budget only blocks the work: never in a key.
std::string FamilyCallKey(const BatchOptions& options, Method method) {
  const ExplainParameters& p = options.params;
  const std::vector<Method> unit = UnitMethods(options, method);
  std::string key = absl::StrJoin(MethodNames(unit), ",");
  switch (GetMethodInfo(method).family) {
    case MethodFamily::kLatim:
      absl::StrAppend(&key, "|", PrecisionName(options.precision),
                      "|layers=", absl::StrJoin(options.layers, ","),
                      "|f=", ActivationName(options.activation));
      break;
    case MethodFamily::kGradient:
      if (method == Method::kIntegratedGradients) {
        absl::StrAppend(&key, "|", p.ig_steps, ",", IgQuadratureName(p.ig_rule));
      } else if (method == Method::kSmoothGrad) {
        absl::StrAppend(&key, "|", p.smoothgrad_samples, ",",
                        absl::StrFormat("%.17g", p.smoothgrad_sigma), ",",
                        SmoothGradInputName(p.smoothgrad_input), ",", p.seed);
      }
      break;
    case MethodFamily::kMambaLrp:
      absl::StrAppend(&key, "|", LrpRulesName(p.lrp_rules));
      break;
    case MethodFamily::kHiddenAttention:
      absl::StrAppend(&key, "|layers=", absl::StrJoin(options.layers, ","));
      if (Has(unit, Method::kMambaAttention)) {
        absl::StrAppend(&key, "|norm=", AttentionNormName(p.attention_norm));
      }
      if (Has(unit, Method::kRollout) || Has(unit, Method::kMambaAttribution)) {
        absl::StrAppend(&key, "|start=", p.start_layer);
      }
      break;
    case MethodFamily::kSynthetic:
      absl::StrAppend(&key, "|", options.Key());
      break;
  }
  return key;
}

std::vector<FamilyCall> PlanFamilyCalls(const std::vector<BatchItem>& items) {
  std::vector<FamilyCall> calls;
  std::map<std::string, size_t> index;  // key -> calls[]
  for (int i = 0; i < static_cast<int>(items.size()); ++i) {
    const BatchOptions& options = items[i].options;
    std::vector<Method> done;
    for (Method m : options.methods) {
      if (Has(done, m)) continue;
      const std::vector<Method> unit = UnitMethods(options, m);
      done.insert(done.end(), unit.begin(), unit.end());
      const std::string key = FamilyCallKey(options, m);
      auto [it, added] = index.emplace(key, calls.size());
      if (added) {
        FamilyCall call;
        call.key = key;
        call.options = options;
        call.options.methods = unit;
        calls.push_back(std::move(call));
      }
      FamilyCall& call = calls[it->second];
      call.items.push_back(i);
      call.options.memory_budget_bytes =
          std::min(call.options.memory_budget_bytes, options.memory_budget_bytes);
    }
  }
  // The engine's family order (a stable sort keeps first-request order within a family).
  std::stable_sort(calls.begin(), calls.end(), [](const FamilyCall& a, const FamilyCall& b) {
    return GetMethodInfo(a.options.methods[0]).family < GetMethodInfo(b.options.methods[0]).family;
  });
  return calls;
}

}  // namespace mamba_explain
