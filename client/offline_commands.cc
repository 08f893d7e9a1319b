#include "client/offline_commands.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <limits>
#include <numeric>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "client/html_report.h"
#include "common/cli_args.h"
#include "common/status_macros.h"
#include "explain/engine.h"
#include "explain/explain_request.h"
#include "model/tokenizer.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {
namespace {

// Reads the prompt as ids: --ids directly, or --text through the tokenizer.
absl::StatusOr<std::vector<int32_t>> PromptIds(const CliArgs& args, const Engine& engine) {
  if (args.Has("ids") == args.Has("text")) {
    return absl::InvalidArgumentError("give exactly one of --text and --ids");
  }
  if (args.Has("ids")) return ParseIdList(args.Get("ids"));
  return engine.Tokenize(args.Get("text"));
}

// "12" -> 12; INVALID_ARGUMENT naming `what` and the text otherwise.
absl::StatusOr<int64_t> ParseIndex(absl::string_view text, const std::string& what) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(text, &v) || v < 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad ", what, " '", text, "'"));
  }
  return v;
}

// "all" -> {}; "0,3,5-7" -> {0, 3, 5, 6, 7}.
absl::StatusOr<std::vector<int>> ParseLayers(const std::string& text) {
  std::vector<int> layers;
  if (text == "all") return layers;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    std::vector<absl::string_view> range = absl::StrSplit(part, absl::MaxSplits('-', 1));
    ASSIGN_OR_RETURN(int64_t lo, ParseIndex(range[0], "layer"));
    int64_t hi = lo;
    if (range.size() == 2) {
      ASSIGN_OR_RETURN(hi, ParseIndex(range[1], "layer"));
      if (hi < lo) return absl::InvalidArgumentError(absl::StrCat("bad layer range '", part, "'"));
    }
    for (int64_t l = lo; l <= hi; ++l) layers.push_back(static_cast<int>(l));
  }
  return layers;
}

}  // namespace

absl::Status RunTokenize(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(CliArgs args,
                   CliArgs::Parse(argv, FlagSpec{{"model-dir", "tokenizer", "text"}, {}}));
  ASSIGN_OR_RETURN(std::string text, args.Require("text"));
  std::string path = args.Get("tokenizer");
  if (path.empty()) {
    if (!args.Has("model-dir")) {
      return absl::InvalidArgumentError("give --model-dir or --tokenizer");
    }
    path = args.Get("model-dir") + "/tokenizer.json";
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, Tokenizer::FromFile(path));
  ASSIGN_OR_RETURN(std::vector<int32_t> ids, tokenizer->Encode(text));
  nlohmann::json out;
  out["ids"] = ids;
  out["tokens"] = nlohmann::json::array();
  for (int32_t id : ids) out["tokens"].push_back(tokenizer->TokenText(id));
  std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return absl::OkStatus();
}

absl::Status RunForward(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(
      CliArgs args,
      CliArgs::Parse(
          argv, FlagSpec{{"model-dir", "tokenizer", "text", "ids", "device", "dtype"}, {"last"}}));
  ASSIGN_OR_RETURN(std::string model_dir, args.Require("model-dir"));
  EngineOptions options;
  options.device = args.Get("device", "cpu");
  ASSIGN_OR_RETURN(options.precision, ParsePrecision(args.Get("dtype", "fp32")));
  options.tokenizer_path = args.Get("tokenizer");
  ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Load(model_dir, options));
  ASSIGN_OR_RETURN(std::vector<int32_t> ids, PromptIds(args, *engine));
  const bool last_only = args.Has("last");
  ASSIGN_OR_RETURN(LogitRows logits, engine->Logits(ids, last_only));

  nlohmann::json out;
  out["ids"] = ids;
  out["logits"] = nlohmann::json::array();
  for (int64_t r = 0; r < logits.rows; ++r) {
    const float* row = logits.values.data() + r * logits.vocab;
    out["logits"].push_back(std::vector<float>(row, row + logits.vocab));
  }
  std::cout << out.dump() << "\n";

  // Top-5 next tokens after the last position, for humans.
  const float* last = logits.values.data() + (logits.rows - 1) * logits.vocab;
  std::vector<int32_t> order(logits.vocab);
  std::iota(order.begin(), order.end(), 0);
  const int k = static_cast<int>(std::min<int64_t>(5, logits.vocab));
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int32_t a, int32_t b) { return last[a] > last[b]; });
  std::cerr << "top-" << k << " next tokens:\n";
  for (int i = 0; i < k; ++i) {
    std::cerr << absl::StrFormat(
        "  %6d  %10.4f  %s\n", order[i], last[order[i]],
        nlohmann::json(engine->TokenText(order[i]))
            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  return absl::OkStatus();
}

absl::Status RunExplain(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(CliArgs args, CliArgs::Parse(argv, FlagSpec{{"model-dir",
                                                                "tokenizer",
                                                                "text",
                                                                "ids",
                                                                "device",
                                                                "dtype",
                                                                "precision",
                                                                "method",
                                                                "layers",
                                                                "rows",
                                                                "activation",
                                                                "target",
                                                                "memory-budget-mib",
                                                                "json",
                                                                "html",
                                                                "ig-steps",
                                                                "ig-rule",
                                                                "sg-samples",
                                                                "sg-sigma",
                                                                "sg-input",
                                                                "seed",
                                                                "lrp-rules",
                                                                "attention-norm",
                                                                "start-layer"},
                                                               {}}));
  ASSIGN_OR_RETURN(std::string model_dir, args.Require("model-dir"));
  if (!args.Has("json") && !args.Has("html")) {
    return absl::InvalidArgumentError("--json is required (or --html OUT.html, or both)");
  }
  const std::string json_path = args.Get("json");
  ExplainRequest request;
  request.methods.clear();
  const std::string default_method = MethodName(ExplainRequest().methods.front());
  for (absl::string_view name : absl::StrSplit(args.Get("method", default_method), ',')) {
    ASSIGN_OR_RETURN(Method m, ParseMethod(name));
    request.methods.push_back(m);
  }
  ASSIGN_OR_RETURN(request.layers, ParseLayers(args.Get("layers", "all")));
  const std::string rows = args.Get("rows", "all");
  if (rows == "all") {
    request.rows.kind = RowSelection::Kind::kAll;
  } else if (rows == "last") {
    request.rows.kind = RowSelection::Kind::kLast;
  } else {
    request.rows.kind = RowSelection::Kind::kList;
    for (absl::string_view part : absl::StrSplit(rows, ',')) {
      ASSIGN_OR_RETURN(int64_t r, ParseIndex(part, "row"));
      request.rows.rows.push_back(r);
    }
  }
  ASSIGN_OR_RETURN(request.activation, ParseActivation(args.Get("activation", "silu")));
  if (args.Has("target")) {
    ASSIGN_OR_RETURN(request.target_token, ParseIndex(args.Get("target"), "target token"));
  }
  if (args.Has("precision")) {
    ASSIGN_OR_RETURN(request.precision, ParsePrecision(args.Get("precision")));
  }
  if (args.Has("memory-budget-mib")) {
    ASSIGN_OR_RETURN(int64_t mib, ParseIndex(args.Get("memory-budget-mib"), "memory budget"));
    if (mib == 0) return absl::InvalidArgumentError("bad memory budget '0'");
    request.memory_budget_bytes = mib << 20;
  }
  ExplainParameters& p = request.params;
  if (args.Has("ig-steps")) {
    ASSIGN_OR_RETURN(int64_t steps, ParseIndex(args.Get("ig-steps"), "ig steps"));
    if (steps < 1 || steps > 100000) {
      return absl::InvalidArgumentError(absl::StrCat("bad ig steps '", steps, "'"));
    }
    p.ig_steps = static_cast<int>(steps);
  }
  if (args.Has("ig-rule")) {
    ASSIGN_OR_RETURN(p.ig_rule, ParseIgQuadrature(args.Get("ig-rule")));
  }
  if (args.Has("sg-samples")) {
    ASSIGN_OR_RETURN(int64_t samples, ParseIndex(args.Get("sg-samples"), "sg samples"));
    if (samples < 1 || samples > 100000) {
      return absl::InvalidArgumentError(absl::StrCat("bad sg samples '", samples, "'"));
    }
    p.smoothgrad_samples = static_cast<int>(samples);
  }
  if (args.Has("sg-sigma")) {
    const std::string text = args.Get("sg-sigma");
    if (!absl::SimpleAtod(text, &p.smoothgrad_sigma) || !(p.smoothgrad_sigma >= 0) ||
        !std::isfinite(p.smoothgrad_sigma)) {
      return absl::InvalidArgumentError(absl::StrCat("bad sg sigma '", text, "'"));
    }
  }
  if (args.Has("sg-input")) {
    ASSIGN_OR_RETURN(p.smoothgrad_input, ParseSmoothGradInput(args.Get("sg-input")));
  }
  if (args.Has("seed")) {
    ASSIGN_OR_RETURN(int64_t seed, ParseIndex(args.Get("seed"), "seed"));
    p.seed = static_cast<uint64_t>(seed);
  }
  if (args.Has("lrp-rules")) {
    ASSIGN_OR_RETURN(p.lrp_rules, ParseLrpRules(args.Get("lrp-rules")));
  }
  if (args.Has("attention-norm")) {
    ASSIGN_OR_RETURN(p.attention_norm, ParseAttentionNorm(args.Get("attention-norm")));
  }
  if (args.Has("start-layer")) {
    ASSIGN_OR_RETURN(int64_t start, ParseIndex(args.Get("start-layer"), "start layer"));
    p.start_layer = static_cast<int>(std::min<int64_t>(start, 1 << 20));
  }
  EngineOptions engine_options;
  engine_options.device = args.Get("device", "cpu");
  ASSIGN_OR_RETURN(engine_options.precision, ParsePrecision(args.Get("dtype", "fp32")));
  engine_options.tokenizer_path = args.Get("tokenizer");
  ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Load(model_dir, engine_options));
  ASSIGN_OR_RETURN(std::vector<int32_t> ids, PromptIds(args, *engine));
  ASSIGN_OR_RETURN(ValidatedRequest validated, Validate(request, {ids}, engine->shape()));
  ASSIGN_OR_RETURN(std::vector<AttributionResult> results, engine->Explain(validated));
  // Layer order (the engine streams top-down when ALTI-Logit is asked); whole-model results last.
  std::stable_sort(results.begin(), results.end(), [](const auto& a, const auto& b) {
    auto key = [](int l) { return l < 0 ? std::numeric_limits<int>::max() : l; };
    return key(a.layer) < key(b.layer);
  });

  nlohmann::json out;
  out["ids"] = ids;
  out["tokens"] = nlohmann::json::array();
  for (int32_t id : ids) out["tokens"].push_back(engine->TokenText(id));
  out["results"] = nlohmann::json::array();
  for (const AttributionResult& r : results) {
    nlohmann::json m = nlohmann::json::array();
    for (size_t i = 0; i < r.rows.size(); ++i) {
      const float* row = r.matrix.data() + i * r.columns;
      m.push_back(std::vector<float>(row, row + r.columns));
    }
    if (r.kind == ResultKind::kTokenScores) {
      // Per-target methods: one relevance row per target row, with the explained logit.
      out["results"].push_back({{"method", MethodName(r.method)},
                                {"layer", r.layer},
                                {"rows", r.rows},
                                {"scores", std::move(m)},
                                {"explained_logit", r.explained_logits},
                                {"targets", r.targets},
                                {"approx_error", r.approx_error}});
      continue;
    }
    out["results"].push_back({{"method", MethodName(r.method)},
                              {"layer", r.layer},
                              {"rows", r.rows},
                              {"matrix", std::move(m)},
                              {"approx_error", r.approx_error}});
  }
  if (args.Has("html")) {
    std::ofstream html(args.Get("html"));
    if (!html)
      return absl::InvalidArgumentError(absl::StrCat("cannot write --html ", args.Get("html")));
    ReportOptions report;
    report.title = model_dir;
    html << RenderHtmlReport(out, report);
    if (!html) return absl::InternalError(absl::StrCat("writing ", args.Get("html"), " failed"));
    std::cerr << "wrote the report to " << args.Get("html") << "\n";
  }
  if (json_path.empty()) return absl::OkStatus();
  std::ofstream file(json_path);
  if (!file) return absl::InvalidArgumentError(absl::StrCat("cannot write --json ", json_path));
  file << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  if (!file) return absl::InternalError(absl::StrCat("writing ", json_path, " failed"));
  std::cerr << "wrote " << results.size() << " results to " << json_path << "\n";
  return absl::OkStatus();
}

}  // namespace mamba_explain
