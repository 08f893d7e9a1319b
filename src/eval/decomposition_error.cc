#include "eval/decomposition_error.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "eval/tasks/copy_task.h"
#include "eval/tasks/recall_task.h"

namespace mamba_explain {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

absl::StatusOr<std::vector<std::vector<int32_t>>> MakeInputs(const DecompositionErrorOptions& o,
                                                             int64_t vocab) {
  if (o.task == "random") {
    if (o.length < 1) return absl::InvalidArgumentError("random: length must be ≥ 1");
    std::mt19937_64 rng(o.seed);
    std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(vocab - 1));
    std::vector<std::vector<int32_t>> out(o.samples, std::vector<int32_t>(o.length));
    for (auto& ids : out) {
      for (int32_t& t : ids) t = id(rng);
    }
    return out;
  }
  if (o.task == "copy") {
    if (o.length < 1 || vocab <= kCopyFirstContent) {
      return absl::InvalidArgumentError("copy: length ≥ 1 and a vocabulary with content ids");
    }
    return MakeCopySamples(o.samples, o.length, vocab, o.seed);
  }
  if (o.task == "recall") {
    ASSIGN_OR_RETURN(std::vector<RecallSample> samples,
                     MakeRecallSamples(RecallSpec{o.length, o.keys, vocab}, o.samples, o.seed));
    std::vector<std::vector<int32_t>> out;
    for (RecallSample& s : samples) out.push_back(std::move(s.ids));
    return out;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown task '", o.task, "' (random, copy, recall)"));
}

nlohmann::json Number(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

std::string Cell(double v) { return std::isfinite(v) ? absl::StrFormat("%.3g", v) : "–"; }

}  // namespace

std::vector<std::pair<int, int>> LayerBins(int n_layers, int bins) {
  std::vector<std::pair<int, int>> out;
  if (n_layers < 1) return out;
  bins = std::clamp(bins, 1, n_layers);
  for (int b = 0; b < bins; ++b) {
    out.emplace_back(static_cast<int>(static_cast<int64_t>(b) * n_layers / bins),
                     static_cast<int>(static_cast<int64_t>(b + 1) * n_layers / bins) - 1);
  }
  return out;
}

absl::StatusOr<DecompositionErrorReport> EvaluateDecompositionError(
    const Engine& engine, const DecompositionErrorOptions& options) {
  const DecompositionErrorOptions& o = options;
  if (o.samples < 1) return absl::InvalidArgumentError("samples must be ≥ 1");
  if (o.activations.empty()) return absl::InvalidArgumentError("no activation requested");
  for (const std::string& f : o.activations) RETURN_IF_ERROR(ParseActivation(f).status());
  ASSIGN_OR_RETURN(std::vector<std::vector<int32_t>> inputs,
                   MakeInputs(o, engine.config().vocab_size));
  const auto t0 = std::chrono::steady_clock::now();
  DecompositionErrorReport report;
  report.options = o;
  report.n_layers = static_cast<int>(engine.config().n_layers);
  report.tokens = static_cast<int64_t>(inputs[0].size());
  report.bins = LayerBins(report.n_layers, o.bins);
  for (const std::string& f : o.activations) {
    std::vector<std::vector<double>> errors(report.n_layers);
    for (const std::vector<int32_t>& ids : inputs) {
      ExplainRequest request;
      request.methods = {Method::kLatimL2};
      request.rows.kind = o.last_row_only ? RowSelection::Kind::kLast : RowSelection::Kind::kAll;
      ASSIGN_OR_RETURN(request.activation, ParseActivation(f));
      ASSIGN_OR_RETURN(ValidatedRequest validated, Validate(request, {ids}, engine.shape()));
      RETURN_IF_ERROR(engine.Explain(validated, [&](AttributionResult r) {
        if (r.layer >= 0 && r.layer < report.n_layers) errors[r.layer].push_back(r.approx_error);
        return true;
      }));
    }
    std::vector<MetricSummary>& per_layer = report.per_layer[f];
    for (const std::vector<double>& e : errors) per_layer.push_back(Summarize(e));
    std::vector<double>& binned = report.binned[f];
    for (const auto& [first, last] : report.bins) {
      double sum = 0;
      int count = 0;
      for (int l = first; l <= last; ++l) {
        if (!std::isfinite(per_layer[l].mean)) continue;
        sum += per_layer[l].mean;
        ++count;
      }
      binned.push_back(count > 0 ? sum / count : kNan);
    }
    if (o.progress) {
      o.progress(absl::StrFormat(
          "decomposition error f=%s done (%.1f s)", f,
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()));
    }
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

nlohmann::json DecompositionReportToJson(const DecompositionErrorReport& report) {
  const DecompositionErrorOptions& o = report.options;
  nlohmann::json j;
  j["task"] = "decomposition";
  j["options"] = {{"model", o.model_name},
                  {"task", o.task},
                  {"length", o.length},
                  {"keys", o.keys},
                  {"samples", o.samples},
                  {"seed", o.seed},
                  {"activations", o.activations},
                  {"bins", o.bins},
                  {"rows", o.last_row_only ? "last" : "all"}};
  j["n_layers"] = report.n_layers;
  j["tokens"] = report.tokens;
  j["seconds"] = report.seconds;
  nlohmann::json bins = nlohmann::json::array();
  for (const auto& [first, last] : report.bins) bins.push_back({first, last});
  j["bins"] = bins;
  nlohmann::json per_layer = nlohmann::json::object(), binned = nlohmann::json::object();
  for (const auto& [f, layers] : report.per_layer) {
    nlohmann::json arr = nlohmann::json::array();
    for (size_t l = 0; l < layers.size(); ++l) {
      arr.push_back({{"layer", l},
                     {"mean", Number(layers[l].mean)},
                     {"std", Number(layers[l].std)},
                     {"count", layers[l].count}});
    }
    per_layer[f] = arr;
    nlohmann::json b = nlohmann::json::array();
    for (double v : report.binned.at(f)) b.push_back(Number(v));
    binned[f] = b;
  }
  j["per_layer"] = per_layer;
  j["binned"] = binned;
  return j;
}

std::string DecompositionReportToMarkdown(const DecompositionErrorReport& report) {
  const DecompositionErrorOptions& o = report.options;
  std::string md = absl::StrFormat(
      "## Decomposition error: %s (latim-l2, task %s, %d samples × %d tokens, rows %s, seed %d)"
      "\n\n",
      o.model_name, o.task, o.samples, report.tokens, o.last_row_only ? "last" : "all", o.seed);
  md += "| additive f |";
  std::string rule = "|---|";
  for (const auto& [first, last] : report.bins) {
    md += first == last ? absl::StrFormat(" layer %d |", first)
                        : absl::StrFormat(" layers %d–%d |", first, last);
    rule += "---|";
  }
  md += "\n" + rule + "\n";
  for (const std::string& f : o.activations) {
    md += absl::StrCat("| ", f, " |");
    for (double v : report.binned.at(f)) md += absl::StrCat(" ", Cell(v), " |");
    md += "\n";
  }
  md += "\n| layer |";
  for (const std::string& f : o.activations) md += absl::StrCat(" f = ", f, " (mean ± std) |");
  md += "\n|---|";
  for (size_t i = 0; i < o.activations.size(); ++i) md += "---|";
  md += "\n";
  for (int l = 0; l < report.n_layers; ++l) {
    md += absl::StrCat("| ", l, " |");
    for (const std::string& f : o.activations) {
      const MetricSummary& m = report.per_layer.at(f)[l];
      md += absl::StrCat(" ", Cell(m.mean), " ± ", Cell(m.std), " |");
    }
    md += "\n";
  }
  return md;
}

}  // namespace mamba_explain
