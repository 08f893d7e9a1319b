#include "client/result_json.h"

#include <algorithm>
#include <limits>

namespace mamba_explain {

nlohmann::json ApproxErrorJson(const std::string& method, double approx_error) {
  absl::StatusOr<Method> m = ParseMethod(method);
  if (m.ok() && !HasApproxError(*m)) return nullptr;
  return approx_error;
}

nlohmann::json NewResultJson(const std::string& method, int layer, ResultKind kind,
                             double approx_error) {
  nlohmann::json r = {{"method", method},
                      {"layer", layer},
                      {"rows", nlohmann::json::array()},
                      {"approx_error", ApproxErrorJson(method, approx_error)}};
  if (kind == ResultKind::kTokenScores) {
    r["scores"] = nlohmann::json::array();
    r["explained_logit"] = nlohmann::json::array();
    r["targets"] = nlohmann::json::array();
  } else {
    r["matrix"] = nlohmann::json::array();
  }
  return r;
}

void SortResults(nlohmann::json* results) {
  auto key = [](const nlohmann::json& r) {
    const int layer = r["layer"].get<int>();
    return layer < 0 ? std::numeric_limits<int>::max() : layer;
  };
  std::stable_sort(
      results->begin(), results->end(),
      [&](const nlohmann::json& a, const nlohmann::json& b) { return key(a) < key(b); });
}

}  // namespace mamba_explain
