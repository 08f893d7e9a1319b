#include "client/offline_commands.h"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/client_flags.h"
#include "client/dataset.h"
#include "client/explain_command.h"
#include "client/explain_flags.h"
#include "client/explanation_meta.h"
#include "client/html_report.h"
#include "client/progress.h"
#include "client/prompt_input.h"
#include "client/result_json.h"
#include "client/token_refs.h"
#include "common/cli_args.h"
#include "common/cpu_blas.h"
#include "common/status_macros.h"
#include "explain/engine.h"
#include "explain/explain_request.h"
#include "mamba/mamba_model.h"
#include "model/tokenizer.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {
namespace {

std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The prompt as ids: given directly, or the text through the tokenizer. Text whose ids fall
// outside the model's vocabulary means the tokenizer belongs to another model (e.g. the GPT-NeoX
// tokenizer on a small fixture), which the error says instead of a bare id range.
absl::StatusOr<std::vector<int32_t>> PromptIds(const CliArgs& args, const Engine& engine) {
  ASSIGN_OR_RETURN(PromptInput input, ReadPrompt(args));
  if (!input.text.has_value()) return input.ids;
  ASSIGN_OR_RETURN(std::vector<int32_t> ids, engine.Tokenize(*input.text));
  const int64_t vocab = engine.shape().vocab_size;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat(
          "text tokenizes to id ", ids[i], " at position ", i,
          ", outside the model's vocabulary of ", vocab,
          ": the tokenizer and the model have different vocabularies (the tokenizer does not "
          "belong to this checkpoint); use the model's own tokenizer.json, or pass --ids"));
    }
  }
  return ids;
}

absl::StatusOr<std::unique_ptr<Engine>> LoadEngine(const CliArgs& args) {
  ASSIGN_OR_RETURN(std::string model_dir, args.Require("model-dir"));
  EngineOptions options;
  options.device = args.Get("device", "cpu");
  const std::string blas_warning = ReferenceBlasWarningForDevice(options.device);
  if (!blas_warning.empty()) std::cerr << "mamba-explain: " << blas_warning << "\n";
  ASSIGN_OR_RETURN(options.precision, ParsePrecision(args.Get("dtype", "fp32")));
  options.tokenizer_path = args.Get("tokenizer");
  return Engine::Load(model_dir, options);
}

// explanation_meta.h: what reproduces this output.
nlohmann::json OfflineMeta(const CliArgs& args, const Engine& engine,
                           const ValidatedRequest& request) {
  const std::string dir = args.Get("model-dir");
  std::string name = dir;
  while (name.size() > 1 && name.back() == '/') name.pop_back();
  name = name.substr(name.find_last_of('/') + 1);
  const ModelConfig& config = engine.model().config();
  nlohmann::json model = {
      {"name", name},
      {"dir", dir},
      {"architecture", config.arch == Architecture::kMamba2 ? "mamba2" : "mamba1"},
      {"n_layers", config.n_layers},
      {"vocab_size", config.vocab_size}};
  absl::StatusOr<std::string> hash = FileSha256(dir + "/config.json");
  model["config_sha256"] = hash.ok() ? nlohmann::json(*hash) : nlohmann::json(nullptr);
  nlohmann::json tokenizer = nullptr;
  if (args.Has("tokenizer")) {
    tokenizer = args.Get("tokenizer");
  } else if (engine.has_tokenizer()) {
    tokenizer = dir + "/tokenizer.json";
  }
  nlohmann::json target = nullptr;
  if (request.target_token.has_value()) target = *request.target_token;
  return {{"version", ClientVersion()},
          {"mode", "offline"},
          {"model", std::move(model)},
          {"tokenizer", std::move(tokenizer)},
          {"device", args.Get("device", "cpu")},
          {"weights_dtype", args.Get("dtype", "fp32")},
          {"precision", PrecisionName(request.precision)},
          {"activation", ActivationName(request.activation)},
          {"methods", MethodNames(request.methods)},
          {"layers", request.layers},
          {"rows", request.sequences.front().rows},
          {"target", std::move(target)},
          {"memory_budget_mib", request.memory_budget_bytes >> 20},
          {"parameters", ParametersJson(request.params)}};
}

}  // namespace

absl::Status RunTokenize(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(CliArgs args,
                   CliArgs::Parse(argv, ClientFlagSpec("tokenize", ClientMode::kOffline)));
  RETURN_IF_ERROR(CheckOutputPaths(args, {"json"}));
  ASSIGN_OR_RETURN(std::string text, ReadPromptText(args));
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
  return WriteJson(args, out);
}

absl::Status RunForward(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(CliArgs args,
                   CliArgs::Parse(argv, ClientFlagSpec("forward", ClientMode::kOffline)));
  RETURN_IF_ERROR(CheckOutputPaths(args, {"json"}));
  std::string logits_mode = args.Get("logits", args.Has("last") ? "last" : "none");
  if (logits_mode != "none" && logits_mode != "last" && logits_mode != "all") {
    return absl::InvalidArgumentError(
        absl::StrCat("bad --logits '", logits_mode, "' (none, last or all)"));
  }
  if (args.Has("last") && logits_mode != "last") {
    return absl::InvalidArgumentError("--last means --logits last; give one of them");
  }
  int top_k = 5;
  RETURN_IF_ERROR(args.GetInt("top-k", top_k));
  if (top_k < 0) return absl::InvalidArgumentError("bad --top-k (an integer >= 0)");
  ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, LoadEngine(args));
  ASSIGN_OR_RETURN(std::vector<int32_t> ids, PromptIds(args, *engine));
  ASSIGN_OR_RETURN(LogitRows logits, engine->Logits(ids, logits_mode != "all"));

  // The next-token prediction after the last position.
  const float* last = logits.values.data() + (logits.rows - 1) * logits.vocab;
  std::vector<int32_t> order(logits.vocab);
  std::iota(order.begin(), order.end(), 0);
  const int k = static_cast<int>(std::min<int64_t>(top_k, logits.vocab));
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int32_t a, int32_t b) { return last[a] > last[b]; });
  nlohmann::json out;
  out["ids"] = ids;
  out["position"] = ids.size() - 1;
  out["top_k"] = nlohmann::json::array();
  for (int i = 0; i < k; ++i) {
    out["top_k"].push_back(
        {{"id", order[i]}, {"token", engine->TokenText(order[i])}, {"logit", last[order[i]]}});
  }
  if (logits_mode != "none") {
    out["logits"] = nlohmann::json::array();
    for (int64_t r = 0; r < logits.rows; ++r) {
      const float* row = logits.values.data() + r * logits.vocab;
      out["logits"].push_back(std::vector<float>(row, row + logits.vocab));
    }
  }
  RETURN_IF_ERROR(WriteJson(args, out));
  std::cerr << "top-" << k << " next tokens:\n";
  for (int i = 0; i < k; ++i) {
    std::cerr << absl::StrFormat("  %6d  %10.4f  %s\n", order[i], last[order[i]],
                                 Dump(nlohmann::json(engine->TokenText(order[i]))));
  }
  return absl::OkStatus();
}

namespace {

// One explanation of the prompt in `args` as explain's JSON (no --generate or token strings
// left: ExplainWithOptions has applied them).
absl::StatusOr<nlohmann::json> ExplainJson(const CliArgs& args, const Engine& engine) {
  ASSIGN_OR_RETURN(ExplainRequest request, ExplainRequestFromFlags(args));
  ProgressReporter progress(args);
  ASSIGN_OR_RETURN(std::vector<int32_t> ids, PromptIds(args, engine));
  ASSIGN_OR_RETURN(ValidatedRequest validated, Validate(request, {ids}, engine.shape()));
  progress.Start(
      ExpectedResults(MethodNames(validated.methods), static_cast<int>(validated.layers.size())),
      "computing");
  std::vector<AttributionResult> results;
  RETURN_IF_ERROR(engine.Explain(
      validated,
      [&](AttributionResult r) {
        progress.ResultDone(MethodName(r.method), r.layer);
        results.push_back(std::move(r));
        return true;
      },
      Cancellation(),
      [&](Method method, int64_t done, int64_t total) {
        progress.Step(MethodName(method), done, total);
      }));
  progress.Finish();

  nlohmann::json out;
  out["ids"] = ids;
  out["tokens"] = nlohmann::json::array();
  for (int32_t id : ids) out["tokens"].push_back(engine.TokenText(id));
  out["results"] = nlohmann::json::array();
  for (const AttributionResult& r : results) {
    nlohmann::json m = nlohmann::json::array();
    for (size_t i = 0; i < r.rows.size(); ++i) {
      const float* row = r.matrix.data() + i * r.columns;
      m.push_back(std::vector<float>(row, row + r.columns));
    }
    WarnIfIncomplete(MethodName(r.method), r.approx_error, validated.params.ig_steps);
    nlohmann::json j = NewResultJson(MethodName(r.method), r.layer, r.kind, r.approx_error);
    j["rows"] = r.rows;
    if (r.kind == ResultKind::kTokenScores) {
      // Per-target methods: one relevance row per target row, with the explained logit.
      j["scores"] = std::move(m);
      j["explained_logit"] = r.explained_logits;
      j["targets"] = r.targets;
    } else {
      j["matrix"] = std::move(m);
    }
    out["results"].push_back(std::move(j));
  }
  // Layer order (the engine streams top-down when ALTI-Logit is asked); whole-model results last.
  SortResults(&out["results"]);
  out["meta"] = OfflineMeta(args, engine, validated);
  return out;
}

// token_refs.h's hooks on the in-process engine.
ExplainHooks OfflineHooks(const Engine& engine) {
  ExplainHooks hooks;
  hooks.explain_one = [&engine](const CliArgs& a) { return ExplainJson(a, engine); };
  hooks.tokenize = [&engine](const std::string& text) -> absl::StatusOr<Tokenized> {
    Tokenized t;
    ASSIGN_OR_RETURN(t.ids, engine.Tokenize(text));
    for (int32_t id : t.ids) t.tokens.push_back(engine.TokenText(id));
    return t;
  };
  hooks.next_token = [&engine](const std::vector<int32_t>& ids) -> absl::StatusOr<int32_t> {
    ASSIGN_OR_RETURN(LogitRows logits, engine.Logits(ids, /*last_only=*/true));
    const float* last = logits.values.data() + (logits.rows - 1) * logits.vocab;
    return static_cast<int32_t>(std::max_element(last, last + logits.vocab) - last);
  };
  hooks.prompt_ids = [&engine](const CliArgs& a) { return PromptIds(a, engine); };
  hooks.token_text = [&engine](int32_t id) { return engine.TokenText(id); };
  return hooks;
}

}  // namespace

absl::Status RunExplain(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(CliArgs args,
                   CliArgs::Parse(argv, ClientFlagSpec("explain", ClientMode::kOffline)));
  // Everything that can be checked without the model, before it loads.
  ASSIGN_OR_RETURN(const std::vector<DatasetItem> items, PrepareExplain(args));
  ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, LoadEngine(args));
  ASSIGN_OR_RETURN(std::optional<nlohmann::json> explained,
                   ExplainPrompts(args, items, OfflineHooks(*engine)));
  if (!explained.has_value()) return absl::OkStatus();  // --input wrote its own output
  nlohmann::json& out = *explained;
  const size_t n_results = out["results"].size();
  if (args.Has("html")) {
    std::ofstream html(args.Get("html"));
    if (!html) {
      return absl::InvalidArgumentError(absl::StrCat("cannot write --html ", args.Get("html")));
    }
    ReportOptions report;
    report.title = args.Get("model-dir");
    html << RenderHtmlReport(out, report);
    if (!html) return absl::InternalError(absl::StrCat("writing ", args.Get("html"), " failed"));
    std::cerr << "wrote the report to " << args.Get("html") << "\n";
  }
  RETURN_IF_ERROR(WriteArrayOutput(args, out));
  // JSON: to --json, or to stdout unless another output was asked for (--html, --format).
  if (!args.Has("json") && (args.Has("html") || args.Has("output"))) return absl::OkStatus();
  RETURN_IF_ERROR(WriteJson(args, out));
  const std::string where = args.Get("json", "-") == "-" ? "stdout" : args.Get("json");
  std::cerr << "wrote " << CountNoun(n_results, "result") << " to " << where << "\n";
  return absl::OkStatus();
}

}  // namespace mamba_explain
