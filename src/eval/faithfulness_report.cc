#include "eval/faithfulness_report.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "attribution/methods.h"

namespace mamba_explain {
namespace {

nlohmann::json Number(double v) {
  return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v);
}

std::string Cell(double v, const char* format = "%.3f") {
  return std::isnan(v) ? "–" : absl::StrFormat(format, v);
}

std::string LayerName(int layer) { return layer < 0 ? "all (−1)" : absl::StrCat(layer); }

}  // namespace

nlohmann::json ReportToJson(const CopyFaithfulnessReport& report) {
  const CopyFaithfulnessOptions& o = report.options;
  nlohmann::json j;
  j["task"] = "copy";
  j["options"] = {{"model", o.model_name},
                  {"length", o.length},
                  {"samples", o.samples},
                  {"seed", o.seed},
                  {"grad_samples", o.grad_samples},
                  {"ig_steps", o.ig_steps},
                  {"sg_samples", o.sg_samples},
                  {"activation", o.activation},
                  {"methods", o.methods}};
  j["n_layers"] = report.n_layers;
  j["copy_accuracy"] = {{"token", report.token_accuracy}, {"sequence", report.sequence_accuracy}};
  nlohmann::json methods = nlohmann::json::array();
  for (const MethodFaithfulness& m : report.methods) {
    nlohmann::json layers = nlohmann::json::array();
    for (const LayerFaithfulness& l : m.layers) {
      layers.push_back({{"layer", l.layer},
                        {"auc", Number(l.auc.mean)},
                        {"auc_std", Number(l.auc.std)},
                        {"ap", Number(l.ap.mean)},
                        {"ap_std", Number(l.ap.std)},
                        {"r_at_k", Number(l.recall_at_k.mean)},
                        {"r_at_k_std", Number(l.recall_at_k.std)},
                        {"count", l.ap.count}});
    }
    const LayerFaithfulness& best = m.layers[m.best];
    methods.push_back({{"method", m.method},
                       {"samples", m.samples},
                       {"best_layer", best.layer},
                       {"best",
                        {{"auc", Number(best.auc.mean)},
                         {"ap", Number(best.ap.mean)},
                         {"r_at_k", Number(best.recall_at_k.mean)}}},
                       {"layers", layers}});
  }
  j["methods"] = methods;
  nlohmann::json errors = nlohmann::json::object();
  for (const auto& [f, per_layer] : report.decomposition_error) {
    nlohmann::json values = nlohmann::json::array();
    for (double v : per_layer) values.push_back(Number(v));
    errors[f] = values;
  }
  j["decomposition_error"] = errors;
  j["heatmaps"] = report.heatmaps;
  return j;
}

std::string ReportToMarkdown(const CopyFaithfulnessReport& report) {
  const CopyFaithfulnessOptions& o = report.options;
  std::string md = absl::StrFormat(
      "### Copying task: %s (L = %d, %d samples, seed %d)\n\n"
      "Teacher-forced copy accuracy: token %.4f, sequence %.4f.\n\n"
      "Best layer per method (highest mean AP; layer −1 = whole-model aggregate):\n\n"
      "| method | best layer | AUC | AP | R@K | samples |\n|---|---|---|---|---|---|\n",
      o.model_name, o.length, o.samples, o.seed, report.token_accuracy, report.sequence_accuracy);
  for (const MethodFaithfulness& m : report.methods) {
    const LayerFaithfulness& b = m.layers[m.best];
    absl::StrAppend(&md, "| ", m.method, " | ", LayerName(b.layer), " | ", Cell(b.auc.mean), " | ",
                    Cell(b.ap.mean), " | ", Cell(b.recall_at_k.mean), " | ", m.samples, " |\n");
  }
  absl::StrAppend(&md,
                  "\nEvery layer (mean ± population std over samples):\n\n"
                  "| method | layer | AUC | AP | R@K |\n|---|---|---|---|---|\n");
  for (const MethodFaithfulness& m : report.methods) {
    for (const LayerFaithfulness& l : m.layers) {
      absl::StrAppend(&md, "| ", m.method, " | ", LayerName(l.layer), " | ", Cell(l.auc.mean),
                      " ± ", Cell(l.auc.std), " | ", Cell(l.ap.mean), " ± ", Cell(l.ap.std), " | ",
                      Cell(l.recall_at_k.mean), " ± ", Cell(l.recall_at_k.std), " |\n");
    }
  }
  if (!report.decomposition_error.empty()) {
    absl::StrAppend(&md,
                    "\nLaTIM decomposition error (", MethodName(Method::kLatimL2),
                    " approx_error, every row, mean over samples) per layer and additive f:\n\n"
                    "| layer |");
    std::vector<std::string> names;
    for (const auto& [f, unused] : report.decomposition_error) names.push_back(f);
    absl::StrAppend(&md, " ", absl::StrJoin(names, " | "), " |\n|---|");
    for (size_t i = 0; i < names.size(); ++i) absl::StrAppend(&md, "---|");
    absl::StrAppend(&md, "\n");
    for (int layer = 0; layer < report.n_layers; ++layer) {
      absl::StrAppend(&md, "| ", layer, " |");
      for (const std::string& f : names) {
        absl::StrAppend(&md, " ", Cell(report.decomposition_error.at(f)[layer], "%.2e"), " |");
      }
      absl::StrAppend(&md, "\n");
    }
  }
  return md;
}

}  // namespace mamba_explain
