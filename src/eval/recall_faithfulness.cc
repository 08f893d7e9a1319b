#include "eval/recall_faithfulness.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "eval/faithfulness_metrics.h"

namespace mamba_explain {
namespace {

using Clock = std::chrono::steady_clock;
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

bool IsStepMultiplied(const std::string& m) {
  absl::StatusOr<Method> method = ParseMethod(m);
  if (!method.ok()) return false;
  const GradientPasses passes = GetMethodInfo(*method).cost.gradient_passes;
  return passes == GradientPasses::kIgSteps || passes == GradientPasses::kSmoothGradSamples;
}

struct Accumulator {
  std::vector<double> auc, ap, recall_at_k, pair_ap, gold_share, first_share, other_share,
      first_over_gold;
  void Add(const RecallRowScores& s) {
    auc.push_back(s.auc);
    ap.push_back(s.ap);
    recall_at_k.push_back(s.recall_at_k);
    pair_ap.push_back(s.pair_ap);
    gold_share.push_back(s.gold_share);
    first_share.push_back(s.first_share);
    other_share.push_back(s.other_share);
    first_over_gold.push_back(s.first_over_gold);
  }
};

absl::Status ValidateOptions(const Engine& engine, const RecallFaithfulnessOptions& o) {
  if (o.samples < 1) return absl::InvalidArgumentError("samples must be ≥ 1");
  if (o.keys.empty()) return absl::InvalidArgumentError("no key count requested");
  for (int k : o.keys) {
    RETURN_IF_ERROR(MakeRecallVocab(RecallSpec{o.length, k, engine.config().vocab_size}).status());
  }
  if (o.methods.empty()) return absl::InvalidArgumentError("no method requested");
  const std::vector<std::string>& all = AllFaithfulnessMethods();
  for (const std::string& m : o.methods) {
    if (std::find(all.begin(), all.end(), m) == all.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown method '", m, "' (", MethodChoices(), ")"));
    }
  }
  return ParseActivation(o.activation).status();
}

void Progress(const RecallFaithfulnessOptions& o, const std::string& line) {
  if (o.progress) o.progress(line);
}

// Accuracy, gold probability and the wrong-answer split of one sample.
void ScoreAnswer(const LogitRows& logits, const RecallSample& s, RecallKeysReport& r, int& correct,
                 int& first_correct, int& other_correct, double& gold_prob) {
  const float* row = &logits.values[s.query_pos * logits.vocab];
  const int64_t predicted = std::max_element(row, row + logits.vocab) - row;
  const int32_t gold = s.ids[s.query_pos + 1];
  const bool ok = predicted == gold;
  const float max = row[predicted];
  double z = 0;
  for (int64_t v = 0; v < logits.vocab; ++v) z += std::exp(static_cast<double>(row[v] - max));
  gold_prob += std::exp(static_cast<double>(row[gold] - max)) / z;
  correct += ok;
  if (s.gold_first) {
    ++r.gold_first_samples;
    first_correct += ok;
  } else {
    ++r.other_samples;
    other_correct += ok;
    if (!ok) {
      ++r.wrong_not_first;
      for (size_t i = 0; i < s.key_pos.size(); ++i) {
        if (static_cast<int>(i) == s.gold) continue;
        if (predicted == s.ids[s.key_pos[i] + 1]) {
          (i == 0 ? r.wrong_first_value : r.wrong_other_value) += 1;
          break;
        }
      }
    }
  }
}

}  // namespace

absl::StatusOr<RecallRowScores> ScoreRecallRow(const std::vector<float>& row,
                                               const RecallSample& sample) {
  const int64_t T = static_cast<int64_t>(sample.ids.size());
  if (static_cast<int64_t>(row.size()) != T || T < 5) {
    return absl::InvalidArgumentError(
        absl::StrCat("recall row of ", row.size(), " scores for a sample of ", T, " tokens"));
  }
  const int64_t n = T - 4;  // candidates: positions 1..n
  std::vector<float> scores(row.begin() + 1, row.begin() + 1 + n);
  std::vector<uint8_t> value_gold(n, 0), pair_gold(n, 0);
  value_gold[sample.gold_value_pos - 1] = 1;
  pair_gold[sample.gold_key_pos - 1] = pair_gold[sample.gold_value_pos - 1] = 1;
  RecallRowScores out;
  out.gold_share = out.first_share = out.other_share = out.first_over_gold = kNan;
  absl::StatusOr<InstanceMetrics> v = ComputeInstanceMetrics(scores, value_gold);
  if (!v.ok()) {  // a non-finite map: every metric undefined
    out.auc = out.ap = out.recall_at_k = out.pair_ap = kNan;
    return out;
  }
  out.auc = v->auc;
  out.ap = v->ap;
  out.recall_at_k = v->recall_at_k;
  out.pair_ap = AveragePrecision(scores, pair_gold);
  const int k = static_cast<int>(sample.key_pos.size());
  if (k < 2 || sample.gold_first) return out;
  double total = 0;
  for (float x : scores) total += std::abs(static_cast<double>(x));
  auto mass = [&](int pair) {
    const int64_t p = sample.key_pos[pair];
    return static_cast<double>(row[p]) + static_cast<double>(row[p + 1]);
  };
  const double gold_mass = mass(sample.gold), first_mass = mass(0);
  out.first_over_gold = first_mass > gold_mass ? 1.0 : first_mass == gold_mass ? 0.5 : 0.0;
  if (total <= 0) return out;  // an all-zero row: no shares
  out.gold_share = gold_mass / total;
  out.first_share = first_mass / total;
  if (k >= 3) {
    double other = 0;
    int count = 0;
    for (int i = 1; i < k; ++i) {
      if (i == sample.gold) continue;
      other += mass(i);
      ++count;
    }
    out.other_share = other / count / total;
  }
  return out;
}

absl::StatusOr<RecallFaithfulnessReport> EvaluateRecallFaithfulness(
    const Engine& engine, const RecallFaithfulnessOptions& options) {
  RETURN_IF_ERROR(ValidateOptions(engine, options));
  const RecallFaithfulnessOptions& o = options;
  RecallFaithfulnessReport report;
  report.options = o;
  report.n_layers = static_cast<int>(engine.config().n_layers);
  const auto t0 = Clock::now();
  const int grad_samples = o.grad_samples < 0 ? o.samples : o.grad_samples;
  for (int k : o.keys) {
    ASSIGN_OR_RETURN(
        std::vector<RecallSample> samples,
        MakeRecallSamples(RecallSpec{o.length, k, engine.config().vocab_size}, o.samples, o.seed));
    RecallKeysReport kr;
    kr.keys = k;
    kr.samples = o.samples;
    int correct = 0, first_correct = 0, other_correct = 0;
    double gold_prob = 0;
    std::map<std::pair<std::string, int>, Accumulator> acc;
    std::map<std::string, int> explained;
    for (int si = 0; si < o.samples; ++si) {
      const RecallSample& s = samples[si];
      ASSIGN_OR_RETURN(LogitRows logits, engine.Logits(s.ids, /*last_only=*/false));
      ScoreAnswer(logits, s, kr, correct, first_correct, other_correct, gold_prob);

      ExplainRequest request;
      request.methods.clear();
      for (const std::string& m : o.methods) {
        if (IsStepMultiplied(m) && si >= grad_samples) continue;
        ASSIGN_OR_RETURN(Method method, ParseMethod(m));
        request.methods.push_back(method);
        ++explained[m];
      }
      request.rows.kind = RowSelection::Kind::kList;
      request.rows.rows = {s.query_pos};
      ASSIGN_OR_RETURN(request.activation, ParseActivation(o.activation));
      request.params.ig_steps = o.ig_steps;
      request.params.smoothgrad_samples = o.sg_samples;
      request.params.seed = o.seed;
      ASSIGN_OR_RETURN(ValidatedRequest validated, Validate(request, {s.ids}, engine.shape()));
      absl::Status row_status;
      RETURN_IF_ERROR(engine.Explain(validated, [&](AttributionResult r) {
        if (r.rows.size() != 1 || r.rows[0] != s.query_pos ||
            r.columns != static_cast<int64_t>(s.ids.size())) {
          row_status = absl::InternalError(
              absl::StrCat(MethodName(r.method), " layer ", r.layer, ": not the query row"));
          return false;
        }
        std::vector<float> row(r.matrix.begin(), r.matrix.begin() + r.columns);
        absl::StatusOr<RecallRowScores> scores = ScoreRecallRow(row, s);
        if (!scores.ok()) {
          row_status = scores.status();
          return false;
        }
        acc[{MethodName(r.method), r.layer}].Add(*scores);
        return true;
      }));
      RETURN_IF_ERROR(row_status);
      if ((si + 1) % 16 == 0 || si + 1 == o.samples) {
        Progress(o,
                 absl::StrFormat("keys %d: explained %d/%d samples (%.1f s)", k, si + 1, o.samples,
                                 std::chrono::duration<double>(Clock::now() - t0).count()));
      }
    }
    kr.accuracy = static_cast<double>(correct) / o.samples;
    kr.gold_first_accuracy = kr.gold_first_samples > 0
                                 ? static_cast<double>(first_correct) / kr.gold_first_samples
                                 : kNan;
    kr.other_accuracy =
        kr.other_samples > 0 ? static_cast<double>(other_correct) / kr.other_samples : kNan;
    kr.gold_probability = gold_prob / o.samples;
    for (const std::string& m : o.methods) {
      RecallMethodFaithfulness method;
      method.method = m;
      method.samples = explained[m];
      for (const auto& [key, a] : acc) {  // map order: ascending layer within a method
        if (key.first != m) continue;
        RecallLayerFaithfulness l;
        l.layer = key.second;
        l.auc = Summarize(a.auc);
        l.ap = Summarize(a.ap);
        l.recall_at_k = Summarize(a.recall_at_k);
        l.pair_ap = Summarize(a.pair_ap);
        l.gold_share = Summarize(a.gold_share);
        l.first_share = Summarize(a.first_share);
        l.other_share = Summarize(a.other_share);
        l.first_over_gold = Summarize(a.first_over_gold);
        method.layers.push_back(l);
      }
      if (method.layers.empty()) return absl::InternalError(absl::StrCat(m, " returned nothing"));
      for (size_t i = 1; i < method.layers.size(); ++i) {
        if (method.layers[i].ap.mean > method.layers[method.best].ap.mean ||
            std::isnan(method.layers[method.best].ap.mean)) {
          method.best = static_cast<int>(i);
        }
      }
      kr.methods.push_back(std::move(method));
    }
    Progress(o, absl::StrFormat("keys %d: accuracy %.4f (gold first %.4f, not first %.4f)", k,
                                kr.accuracy, kr.gold_first_accuracy, kr.other_accuracy));
    report.by_keys.push_back(std::move(kr));
  }
  return report;
}

namespace {

nlohmann::json Number(double v) {
  return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v);
}

std::string Cell(double v, const char* format = "%.3f") {
  return std::isnan(v) ? "–" : absl::StrFormat(format, v);
}

std::string LayerName(int layer) { return layer < 0 ? "all (−1)" : absl::StrCat(layer); }

nlohmann::json LayerJson(const RecallLayerFaithfulness& l) {
  nlohmann::json j{{"layer", l.layer}, {"count", l.ap.count}, {"bias_count", l.gold_share.count}};
  auto put = [&](const char* name, const MetricSummary& m) {
    j[name] = Number(m.mean);
    j[absl::StrCat(name, "_std")] = Number(m.std);
  };
  put("auc", l.auc);
  put("ap", l.ap);
  put("r_at_k", l.recall_at_k);
  put("pair_ap", l.pair_ap);
  put("gold_share", l.gold_share);
  put("first_share", l.first_share);
  put("other_share", l.other_share);
  put("first_over_gold", l.first_over_gold);
  return j;
}

}  // namespace

nlohmann::json RecallReportToJson(const RecallFaithfulnessReport& report) {
  const RecallFaithfulnessOptions& o = report.options;
  nlohmann::json j;
  j["task"] = "recall";
  j["options"] = {{"model", o.model_name},
                  {"length", o.length},
                  {"keys", o.keys},
                  {"samples", o.samples},
                  {"seed", o.seed},
                  {"grad_samples", o.grad_samples},
                  {"ig_steps", o.ig_steps},
                  {"sg_samples", o.sg_samples},
                  {"activation", o.activation},
                  {"methods", o.methods}};
  j["n_layers"] = report.n_layers;
  nlohmann::json by_keys = nlohmann::json::array();
  for (const RecallKeysReport& k : report.by_keys) {
    nlohmann::json methods = nlohmann::json::array();
    for (const RecallMethodFaithfulness& m : k.methods) {
      nlohmann::json layers = nlohmann::json::array();
      for (const RecallLayerFaithfulness& l : m.layers) layers.push_back(LayerJson(l));
      methods.push_back({{"method", m.method},
                         {"samples", m.samples},
                         {"best_layer", m.layers[m.best].layer},
                         {"best", LayerJson(m.layers[m.best])},
                         {"layers", layers}});
    }
    by_keys.push_back(
        {{"keys", k.keys},
         {"samples", k.samples},
         {"accuracy", k.accuracy},
         {"gold_first",
          {{"samples", k.gold_first_samples}, {"accuracy", Number(k.gold_first_accuracy)}}},
         {"not_first", {{"samples", k.other_samples}, {"accuracy", Number(k.other_accuracy)}}},
         {"gold_probability", k.gold_probability},
         {"wrong_not_first", k.wrong_not_first},
         {"wrong_first_value", k.wrong_first_value},
         {"wrong_other_value", k.wrong_other_value},
         {"methods", methods}});
  }
  j["by_keys"] = by_keys;
  return j;
}

std::string RecallReportToMarkdown(const RecallFaithfulnessReport& report) {
  const RecallFaithfulnessOptions& o = report.options;
  std::string md = absl::StrFormat(
      "## Recall faithfulness: %s (context %d, %d samples per key count, seed %d)\n\n",
      o.model_name, o.length, o.samples, o.seed);
  md +=
      "| keys | accuracy | gold first (n) | not first (n) | p(gold) | wrong, not first: "
      "first value / other value / none |\n|---|---|---|---|---|---|\n";
  for (const RecallKeysReport& k : report.by_keys) {
    md += absl::StrFormat("| %d | %.4f | %s (%d) | %s (%d) | %.3f | %d: %d / %d / %d |\n", k.keys,
                          k.accuracy, Cell(k.gold_first_accuracy, "%.4f"), k.gold_first_samples,
                          Cell(k.other_accuracy, "%.4f"), k.other_samples, k.gold_probability,
                          k.wrong_not_first, k.wrong_first_value, k.wrong_other_value,
                          k.wrong_not_first - k.wrong_first_value - k.wrong_other_value);
  }
  for (const RecallKeysReport& k : report.by_keys) {
    md += absl::StrFormat(
        "\n### %d key%s: gold = the value token (AUC / AP / R@K), the key–value pair (pair AP); "
        "first-key bias on the %d samples whose gold pair is not first\n\n",
        k.keys, k.keys == 1 ? "" : "s", k.other_samples);
    md +=
        "| method | best layer | AUC | AP | R@K | pair AP | gold share | first share | "
        "other share | P(first > gold) | samples "
        "|\n|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const RecallMethodFaithfulness& m : k.methods) {
      const RecallLayerFaithfulness& l = m.layers[m.best];
      md += absl::StrFormat("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", m.method,
                            LayerName(l.layer), Cell(l.auc.mean), Cell(l.ap.mean),
                            Cell(l.recall_at_k.mean), Cell(l.pair_ap.mean), Cell(l.gold_share.mean),
                            Cell(l.first_share.mean), Cell(l.other_share.mean),
                            Cell(l.first_over_gold.mean), m.samples);
    }
  }
  double harmonic = 0;
  for (int i = 1; i <= o.length; ++i) harmonic += 1.0 / i;
  md += absl::StrFormat(
      "\nCandidates: the %d context positions; a random map scores AUC 0.5, AP %.3f (H_n/n) and "
      "R@K %.3f (1/n) on the value gold.\n",
      o.length, harmonic / o.length, 1.0 / o.length);
  return md;
}

}  // namespace mamba_explain
