#include "eval/input_flipping.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "eval/flip_curve.h"
#include "eval/line_plot_svg.h"
#include "eval/tasks/copy_task.h"
#include "eval/tasks/recall_task.h"
#include "explain/explain_request.h"

namespace mamba_explain {
namespace {

// One (method, layer) line of the report, with its per-sample sums.
struct Entry {
  MethodFlipping out;
  std::vector<double> deltas, deltas_raw, deltas_prob;
  std::vector<double> sum_morf, sum_lerf, sum_morf_raw, sum_lerf_raw, sum_morf_p, sum_lerf_p;
};

bool IsPerLayer(Method m) { return GetMethodInfo(m).scope == MethodScope::kPerLayer; }

absl::Status ValidateOptions(const Engine& engine, const InputFlippingOptions& o) {
  if (o.task != "copy" && o.task != "recall") {
    return absl::InvalidArgumentError(absl::StrCat("unknown task '", o.task, "' (copy, recall)"));
  }
  if (o.samples < 1 || o.steps < 1 || o.length < 1) {
    return absl::InvalidArgumentError(absl::StrCat("samples=", o.samples, ", steps=", o.steps,
                                                   " and length=", o.length, " must be ≥ 1"));
  }
  const int64_t vocab = engine.config().vocab_size;
  if (vocab <= kCopyFirstContent) {
    return absl::InvalidArgumentError(
        absl::StrCat("vocab_size=", vocab, " leaves no content tokens"));
  }
  if (o.task == "recall") {
    RETURN_IF_ERROR(MakeRecallVocab(RecallSpec{o.length, o.keys, vocab}).status());
  }
  if (o.baseline_token >= vocab) {
    return absl::InvalidArgumentError(
        absl::StrCat("baseline token ", o.baseline_token, " out of range [0, ", vocab, ")"));
  }
  if (o.methods.empty()) return absl::InvalidArgumentError("no method requested");
  const std::vector<Method> engine_methods = EngineMethods();
  for (const std::string& name : o.methods) {
    if (name == kRandomMethod) continue;
    absl::StatusOr<Method> m = ParseMethod(name);
    if (!m.ok() ||
        std::find(engine_methods.begin(), engine_methods.end(), *m) == engine_methods.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown method '", name, "' (", MethodChoices(), ", random)"));
    }
  }
  return ParseActivation(o.activation).status();
}

// Logit and probability of `token` at the last position of `ids`.
absl::Status TargetOutputs(const Engine& engine, const std::vector<int32_t>& ids, int64_t token,
                           double& logit, double& prob) {
  ASSIGN_OR_RETURN(LogitRows rows, engine.Logits(ids, /*last_only=*/true));
  const float* row = &rows.values[(rows.rows - 1) * rows.vocab];
  const float max = *std::max_element(row, row + rows.vocab);
  double z = 0;
  for (int64_t v = 0; v < rows.vocab; ++v) z += std::exp(static_cast<double>(row[v]) - max);
  logit = row[token];
  prob = std::exp(static_cast<double>(row[token]) - max) / z;
  return absl::OkStatus();
}

// The curves of one ordering: features (positions features[order[..]]) flipped per `schedule`.
absl::Status FlipCurve(const Engine& engine, const std::vector<int32_t>& ids,
                       const std::vector<int64_t>& features, const std::vector<int>& order,
                       const std::vector<int>& schedule, int64_t token, int32_t baseline,
                       std::vector<double>& logits, std::vector<double>& probs) {
  std::vector<int32_t> flipped = ids;
  logits.assign(schedule.size(), 0);
  probs.assign(schedule.size(), 0);
  int done = 0;
  for (size_t k = 0; k < schedule.size(); ++k) {
    for (; done < schedule[k]; ++done) flipped[features[order[done]]] = baseline;
    RETURN_IF_ERROR(TargetOutputs(engine, flipped, token, logits[k], probs[k]));
  }
  return absl::OkStatus();
}

void AddTo(std::vector<double>& sum, const std::vector<double>& v) {
  if (sum.empty()) sum.assign(v.size(), 0);
  for (size_t i = 0; i < v.size(); ++i) sum[i] += v[i];
}

std::vector<double> Divide(std::vector<double> v, int n) {
  for (double& x : v) x /= std::max(1, n);
  return v;
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? NAN : s / v.size();
}

double Std(const std::vector<double>& v) {
  if (v.empty()) return NAN;
  const double m = Mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / v.size());
}

// The explained prefixes of the task: each ends at its explained position t.
//   copy: t = L+1+i (predicts s_i), i uniform per sample from `rng`;
//   recall: t = the query position (predicts the gold value).
absl::StatusOr<std::vector<std::vector<int32_t>>> TaskPrefixes(const Engine& engine,
                                                               const InputFlippingOptions& o,
                                                               std::mt19937_64& rng) {
  std::vector<std::vector<int32_t>> prefixes;
  const int64_t vocab = engine.config().vocab_size;
  if (o.task == "recall") {
    ASSIGN_OR_RETURN(std::vector<RecallSample> samples,
                     MakeRecallSamples(RecallSpec{o.length, o.keys, vocab}, o.samples, o.seed));
    for (const RecallSample& r : samples) {
      prefixes.emplace_back(r.ids.begin(), r.ids.begin() + r.query_pos + 1);
    }
    return prefixes;
  }
  const int L = o.length;
  ASSIGN_OR_RETURN(std::vector<std::vector<int32_t>> samples,
                   MakeCopySamples(o.samples, L, vocab, o.seed));
  for (const std::vector<int32_t>& ids : samples) {
    const int i = std::uniform_int_distribution<int>(0, L - 1)(rng);
    prefixes.emplace_back(ids.begin(), ids.begin() + L + 2 + i);
  }
  return prefixes;
}

nlohmann::json Number(double v) {
  return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v);
}

}  // namespace

std::vector<std::string> AllFlipMethods() {
  std::vector<std::string> all = MethodNames(EngineMethods());
  all.push_back(kRandomMethod);
  return all;
}

absl::StatusOr<InputFlippingReport> EvaluateInputFlipping(const Engine& engine,
                                                          const InputFlippingOptions& o) {
  RETURN_IF_ERROR(ValidateOptions(engine, o));
  InputFlippingReport report;
  report.options = o;
  report.n_layers = static_cast<int>(engine.config().n_layers);
  report.baseline_token = o.baseline_token;
  if (report.baseline_token < 0) {
    if (o.task == "recall") {
      ASSIGN_OR_RETURN(RecallVocab v,
                       MakeRecallVocab(RecallSpec{o.length, o.keys, engine.config().vocab_size}));
      report.baseline_token = v.filler_first;
    } else {
      report.baseline_token = static_cast<int32_t>(kCopyFirstContent);
    }
  }

  // The entries, in options order, per-layer methods expanded.
  std::vector<Entry> entries;
  std::vector<Method> methods;
  for (const std::string& name : o.methods) {
    if (name == kRandomMethod) {
      entries.push_back({});
      entries.back().out.name = entries.back().out.method = name;
      continue;
    }
    ASSIGN_OR_RETURN(Method m, ParseMethod(name));
    methods.push_back(m);
    const auto add = [&](int layer) {
      entries.push_back({});
      MethodFlipping& e = entries.back().out;
      e.method = name;
      e.layer = layer;
      e.name = layer < 0 ? name : absl::StrCat(name, "@", layer);
    };
    if (IsPerLayer(m)) {
      for (int l = 0; l < report.n_layers; ++l) add(l);
    } else {
      add(-1);
    }
  }

  std::mt19937_64 rng(o.seed);
  ASSIGN_OR_RETURN(std::vector<std::vector<int32_t>> samples, TaskPrefixes(engine, o, rng));
  double sum_features = 0, sum_logit = 0, sum_prob = 0;
  for (size_t s = 0; s < samples.size(); ++s) {
    const std::vector<int32_t>& ids = samples[s];
    const int64_t t = static_cast<int64_t>(ids.size()) - 1;  // the explained position
    std::vector<int64_t> features;
    for (int64_t p = 1; p < t; ++p) features.push_back(p);
    ASSIGN_OR_RETURN(std::vector<int> schedule,
                     FlipSchedule(static_cast<int>(features.size()), o.steps));

    // Target: the predicted token of the clean prefix.
    ASSIGN_OR_RETURN(LogitRows clean, engine.Logits(ids, /*last_only=*/true));
    const float* row = &clean.values[(clean.rows - 1) * clean.vocab];
    const int64_t token = std::max_element(row, row + clean.vocab) - row;

    // Every method's relevance row at t, in one request.
    std::vector<std::vector<float>> relevance(entries.size());
    if (!methods.empty()) {
      ExplainRequest request;
      request.methods = methods;
      request.rows.kind = RowSelection::Kind::kLast;
      request.target_token = token;
      ASSIGN_OR_RETURN(request.activation, ParseActivation(o.activation));
      request.params.ig_steps = o.ig_steps;
      request.params.smoothgrad_samples = o.sg_samples;
      request.params.seed = o.seed + s;
      ASSIGN_OR_RETURN(ValidatedRequest validated, Validate(request, {ids}, engine.shape()));
      RETURN_IF_ERROR(engine.Explain(validated, [&](AttributionResult r) {
        const std::string name = MethodName(r.method);
        for (size_t e = 0; e < entries.size(); ++e) {
          if (entries[e].out.method == name && entries[e].out.layer == r.layer) {
            relevance[e].resize(features.size());
            for (size_t f = 0; f < features.size(); ++f) relevance[e][f] = r.at(0, features[f]);
          }
        }
        return true;
      }));
    }
    std::uniform_real_distribution<float> uniform(0.f, 1.f);
    for (size_t e = 0; e < entries.size(); ++e) {
      if (entries[e].out.method != kRandomMethod) continue;
      relevance[e].resize(features.size());
      for (float& r : relevance[e]) r = uniform(rng);
    }

    double clean_logit = 0, clean_prob = 0;
    RETURN_IF_ERROR(TargetOutputs(engine, ids, token, clean_logit, clean_prob));
    sum_features += features.size();
    sum_logit += clean_logit;
    sum_prob += clean_prob;
    for (size_t e = 0; e < entries.size(); ++e) {
      Entry& entry = entries[e];
      if (relevance[e].size() != features.size()) {
        return absl::InternalError(absl::StrCat(entry.out.name, ": no relevance for row ", t));
      }
      std::vector<double> morf, lerf, morf_p, lerf_p;
      RETURN_IF_ERROR(FlipCurve(engine, ids, features, MostRelevantFirst(relevance[e]), schedule,
                                token, report.baseline_token, morf, morf_p));
      RETURN_IF_ERROR(FlipCurve(engine, ids, features, LeastRelevantFirst(relevance[e]), schedule,
                                token, report.baseline_token, lerf, lerf_p));
      ASSIGN_OR_RETURN(double raw, DeltaAreaFlipping(lerf, morf));
      ASSIGN_OR_RETURN(double prob, DeltaAreaFlipping(lerf_p, morf_p));
      entry.deltas_raw.push_back(raw);
      entry.deltas_prob.push_back(prob);
      AddTo(entry.sum_morf_raw, morf);
      AddTo(entry.sum_lerf_raw, lerf);
      AddTo(entry.sum_morf_p, morf_p);
      AddTo(entry.sum_lerf_p, lerf_p);
      if (std::abs(clean_logit) >= 1e-6) {
        for (double& v : morf) v /= clean_logit;
        for (double& v : lerf) v /= clean_logit;
        entry.deltas.push_back(raw / clean_logit);
        AddTo(entry.sum_morf, morf);
        AddTo(entry.sum_lerf, lerf);
      }
    }
    if (o.progress && ((s + 1) % 8 == 0 || s + 1 == samples.size())) {
      o.progress(absl::StrCat("flip: ", s + 1, "/", samples.size(), " samples"));
    }
  }

  const int n = static_cast<int>(samples.size());
  report.mean_features = sum_features / n;
  report.mean_clean_logit = sum_logit / n;
  report.mean_clean_prob = sum_prob / n;
  for (Entry& entry : entries) {
    MethodFlipping& m = entry.out;
    m.count = static_cast<int>(entry.deltas.size());
    m.delta_af = Mean(entry.deltas);
    m.delta_af_std = Std(entry.deltas);
    m.delta_af_raw = Mean(entry.deltas_raw);
    m.delta_af_prob = Mean(entry.deltas_prob);
    m.logit = {Divide(entry.sum_morf, m.count), Divide(entry.sum_lerf, m.count)};
    m.logit_raw = {Divide(entry.sum_morf_raw, n), Divide(entry.sum_lerf_raw, n)};
    m.prob = {Divide(entry.sum_morf_p, n), Divide(entry.sum_lerf_p, n)};
    report.methods.push_back(std::move(m));
  }
  return report;
}

nlohmann::json FlipReportToJson(const InputFlippingReport& report) {
  const InputFlippingOptions& o = report.options;
  nlohmann::json j;
  j["evaluation"] = "input-flipping";
  j["options"] = {{"model", o.model_name},
                  {"task", o.task},
                  {"length", o.length},
                  {"samples", o.samples},
                  {"seed", o.seed},
                  {"steps", o.steps},
                  {"baseline_token", report.baseline_token},
                  {"ig_steps", o.ig_steps},
                  {"sg_samples", o.sg_samples},
                  {"activation", o.activation},
                  {"methods", o.methods}};
  j["n_layers"] = report.n_layers;
  j["mean_features"] = report.mean_features;
  j["mean_clean_logit"] = report.mean_clean_logit;
  j["mean_clean_prob"] = report.mean_clean_prob;
  std::vector<double> x(o.steps + 1);
  for (int k = 0; k <= o.steps; ++k) x[k] = static_cast<double>(k) / o.steps;
  j["fraction_flipped"] = x;
  nlohmann::json methods = nlohmann::json::array();
  for (const MethodFlipping& m : report.methods) {
    methods.push_back({{"name", m.name},
                       {"method", m.method},
                       {"layer", m.layer},
                       {"delta_af", Number(m.delta_af)},
                       {"delta_af_std", Number(m.delta_af_std)},
                       {"delta_af_raw", Number(m.delta_af_raw)},
                       {"delta_af_prob", Number(m.delta_af_prob)},
                       {"samples", m.count},
                       {"curves",
                        {{"logit", {{"morf", m.logit.morf}, {"lerf", m.logit.lerf}}},
                         {"logit_raw", {{"morf", m.logit_raw.morf}, {"lerf", m.logit_raw.lerf}}},
                         {"prob", {{"morf", m.prob.morf}, {"lerf", m.prob.lerf}}}}}});
  }
  j["methods"] = methods;
  return j;
}

std::string FlipReportToMarkdown(const InputFlippingReport& report) {
  const InputFlippingOptions& o = report.options;
  std::string md = absl::StrFormat(
      "### Input flipping: %s, task %s (L=%d), %d samples, K=%d steps, baseline token %d\n\n"
      "Mean features per sample %.1f; clean target logit %.3f, probability %.4f.\n\n"
      "| method | ΔA_F (logit / clean logit) | ± std | ΔA_F raw logit | ΔA_F probability |\n"
      "|---|---|---|---|---|\n",
      o.model_name, o.task, o.length, o.samples, o.steps, report.baseline_token,
      report.mean_features, report.mean_clean_logit, report.mean_clean_prob);
  for (const MethodFlipping& m : report.methods) {
    absl::StrAppendFormat(&md, "| %s | %.3f | %.3f | %.3f | %.3f |\n", m.name, m.delta_af,
                          m.delta_af_std, m.delta_af_raw, m.delta_af_prob);
  }
  return md;
}

absl::StatusOr<std::vector<std::string>> WriteFlipPlots(const InputFlippingReport& report,
                                                        const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", dir));
  const int K = report.options.steps;
  std::vector<double> x(K + 1);
  for (int k = 0; k <= K; ++k) x[k] = static_cast<double>(k) / K;
  std::vector<std::string> paths;
  for (const bool morf : {true, false}) {
    LinePlot plot;
    plot.title = absl::StrCat(report.options.model_name, ": ", morf ? "MoRF" : "LeRF",
                              " flipping (", report.options.task, ")");
    plot.x_label = "fraction of input tokens flipped";
    plot.y_label = "target logit / clean logit";
    for (const MethodFlipping& m : report.methods) {
      const std::vector<double>& y = morf ? m.logit.morf : m.logit.lerf;
      if (y.size() != x.size()) continue;
      plot.series.push_back({m.name, x, y, m.method == kRandomMethod});
    }
    const std::string path =
        (std::filesystem::path(dir) /
         absl::StrCat(report.options.model_name, "_flip_", morf ? "morf" : "lerf", ".svg"))
            .string();
    RETURN_IF_ERROR(WriteLinePlotSvg(path, plot));
    paths.push_back(path);
  }
  return paths;
}

}  // namespace mamba_explain
