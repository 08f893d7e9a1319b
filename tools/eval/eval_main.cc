// mamba-explain-eval: faithfulness evaluations of the attribution methods (docs/faithfulness.md).
// `copy`: the copying task of LaTIM §4.1 (Table 2); `flip`: input-flipping perturbation
// faithfulness (MambaLRP §5.3); `recall`: retrieval with known evidence (LaTIM §4.3 passkey /
// associative recall, issue 16); `decomposition`: LaTIM's decomposition error per layer and
// binned layer range for several additive f (LaTIM §4.4). Progress goes to stderr, the Markdown
// tables to stdout; --json /
// --markdown also write them to files.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "attribution/methods.h"
#include "common/cli_args.h"
#include "common/status_macros.h"
#include "eval/copy_faithfulness.h"
#include "eval/decomposition_error.h"
#include "eval/faithfulness_report.h"
#include "eval/input_flipping.h"
#include "eval/recall_faithfulness.h"
#include "explain/engine.h"

namespace mamba_explain {
namespace {

constexpr char kUsage[] =
    "usage: mamba-explain-eval copy --model-dir DIR --length L [--samples 128] [--seed 4242]\n"
    "         [--methods all|a,b,c] [--device cpu|cuda] [--grad-samples N] [--ig-steps 30]\n"
    "         [--sg-samples 30] [--activation silu|identity|relu] [--json OUT.json]\n"
    "         [--markdown OUT.md] [--heatmap-dir DIR]\n"
    "  Scores every method's source->copy block against the gold three-diagonal matrix\n"
    "  (AUC, AP, R@K; LaTIM section 4.1, Table 2), per layer, on held-out copy samples;\n"
    "  also the teacher-forced copy accuracy and the LaTIM decomposition error per layer\n"
    "  for f in {silu, relu, identity}. Methods: the engine's (below). --grad-samples caps\n"
    "  the samples explained with the multi-pass gradient methods (IG, SmoothGrad; default:\n"
    "  all). Details: docs/faithfulness.md\n"
    "\n"
    "usage: mamba-explain-eval flip --model-dir DIR [--task copy|recall] [--length 16] [--keys 1]\n"
    "         [--samples 32] [--methods all|a,b,c] [--steps 32] [--seed 4242]\n"
    "         [--baseline-token ID] [--device cpu|cuda] [--ig-steps 30] [--sg-samples 30]\n"
    "         [--activation silu] [--json OUT.json] [--markdown OUT.md] [--plot-dir DIR]\n"
    "  Input flipping (MambaLRP section 5.3): replaces the input tokens by the baseline token\n"
    "  (default: copy 2, the first content id; recall the first filler id) most- and\n"
    "  least-relevant first in K steps and reports, per method,\n"
    "  dA_F = area(LeRF) - area(MoRF) of the target logit / clean logit (also raw logit and\n"
    "  probability) and the curves. Methods: the ones above (per-layer maps at every layer,\n"
    "  as name@layer) and 'random' (the control). --plot-dir writes SVG curves.\n"
    "  --task recall: --keys key-value pairs among distractors in --length context tokens\n"
    "  (the query position is explained). Details: docs/faithfulness.md\n"
    "\n"
    "usage: mamba-explain-eval recall --model-dir DIR --length N [--keys 1,2,4] [--samples 64]\n"
    "         [--seed 4242] [--methods all|a,b,c] [--device cpu|cuda] [--grad-samples N]\n"
    "         [--ig-steps 30] [--sg-samples 30] [--activation silu] [--json OUT.json]\n"
    "         [--markdown OUT.md]\n"
    "  Retrieval with known evidence: per key count, the model's accuracy at the query\n"
    "  position (split by whether the gold pair comes first), and per method the AUC, AP and\n"
    "  R@K of the query row over the N context positions against the gold value position,\n"
    "  the AP against the gold key+value, and the first-key bias (attribution mass on the first\n"
    "  pair vs the gold pair when the gold pair is not first). Details: docs/faithfulness.md\n"
    "\n"
    "usage: mamba-explain-eval decomposition --model-dir DIR [--task random|copy|recall]\n"
    "         [--length 256] [--keys 2] [--samples 8] [--seed 4242]\n"
    "         [--activations silu,relu,identity] [--bins 4] [--rows all|last]\n"
    "         [--device cpu|cuda] [--json OUT.json] [--markdown OUT.md]\n"
    "  LaTIM's relative decomposition error (latim-l2) per layer and per binned layer range\n"
    "  for each additive f, on random ids (default), copy or recall samples.\n";

// The usage text with the method list generated from the catalogue (attribution/methods.h).
std::string Usage() { return absl::StrCat(kUsage, "\nmethods:\n", MethodHelp()); }

absl::Status WriteText(const std::string& path, const std::string& text, const char* flag) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out) return absl::PermissionDeniedError(absl::StrCat(flag, ": cannot write ", path));
  return absl::OkStatus();
}

std::string ModelName(const std::string& model_dir) {
  std::string name = std::filesystem::path(model_dir).lexically_normal().filename().string();
  if (name.empty()) {  // "dir/" normalises to an empty file name
    name = std::filesystem::path(model_dir).lexically_normal().parent_path().filename().string();
  }
  return name;
}

// The engine of --model-dir on --device (cpu unless given).
absl::StatusOr<std::unique_ptr<Engine>> LoadEngine(const CliArgs& args,
                                                   const std::string& model_dir) {
  EngineOptions engine_options;
  engine_options.device = args.Get("device", "cpu");
  return Engine::Load(model_dir, engine_options);
}

// --seed, the same in every subcommand: a non-negative integer; absent keeps `*seed`.
absl::Status ReadSeed(const CliArgs& args, uint64_t* seed) {
  if (args.Has("seed") && !absl::SimpleAtoi(args.Get("seed"), seed)) {
    return absl::InvalidArgumentError("--seed must be a non-negative integer");
  }
  return absl::OkStatus();
}

// --methods, the same in every subcommand that takes it: "all" (the default) keeps the
// subcommand's own set, else a comma list (each evaluator checks its names).
void ReadMethods(const CliArgs& args, std::vector<std::string>* methods) {
  const std::string list = args.Get("methods", "all");
  if (list != "all") *methods = absl::StrSplit(list, ',', absl::SkipEmpty());
}

// Every subcommand's output: the Markdown report on stdout, and the --json / --markdown files
// when asked.
absl::Status EmitReport(const CliArgs& args, const std::string& markdown,
                        const nlohmann::json& json) {
  std::cout << markdown;
  if (args.Has("json")) RETURN_IF_ERROR(WriteText(args.Get("json"), json.dump(1) + "\n", "--json"));
  if (args.Has("markdown")) {
    RETURN_IF_ERROR(WriteText(args.Get("markdown"), markdown, "--markdown"));
  }
  return absl::OkStatus();
}

absl::Status RunCopy(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(
      CliArgs args,
      CliArgs::Parse(argv, FlagSpec{{"model-dir", "length", "samples", "seed", "methods", "device",
                                     "grad-samples", "ig-steps", "sg-samples", "activation", "json",
                                     "markdown", "heatmap-dir"},
                                    {}}));
  CopyFaithfulnessOptions o;
  ASSIGN_OR_RETURN(const std::string model_dir, args.Require("model-dir"));
  ASSIGN_OR_RETURN(const std::string length, args.Require("length"));
  if (!absl::SimpleAtoi(length, &o.length)) {
    return absl::InvalidArgumentError("--length must be an integer");
  }
  RETURN_IF_ERROR(args.GetInt("samples", o.samples));
  RETURN_IF_ERROR(args.GetInt("grad-samples", o.grad_samples));
  RETURN_IF_ERROR(args.GetInt("ig-steps", o.ig_steps));
  RETURN_IF_ERROR(args.GetInt("sg-samples", o.sg_samples));
  RETURN_IF_ERROR(ReadSeed(args, &o.seed));
  ReadMethods(args, &o.methods);
  o.activation = args.Get("activation", o.activation);
  o.heatmap_dir = args.Get("heatmap-dir");
  o.model_name = ModelName(model_dir);
  o.progress = [](const std::string& line) { std::cerr << line << std::endl; };

  ASSIGN_OR_RETURN(auto engine, LoadEngine(args, model_dir));
  ASSIGN_OR_RETURN(CopyFaithfulnessReport report, EvaluateCopyFaithfulness(*engine, o));
  const std::string markdown = ReportToMarkdown(report);
  RETURN_IF_ERROR(EmitReport(args, markdown, ReportToJson(report)));
  return absl::OkStatus();
}

absl::Status RunFlip(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(
      CliArgs args,
      CliArgs::Parse(argv, FlagSpec{{"model-dir", "task", "length", "keys", "samples", "seed",
                                     "methods", "steps", "baseline-token", "device", "ig-steps",
                                     "sg-samples", "activation", "json", "markdown", "plot-dir"},
                                    {}}));
  InputFlippingOptions o;
  ASSIGN_OR_RETURN(const std::string model_dir, args.Require("model-dir"));
  o.task = args.Get("task", o.task);
  RETURN_IF_ERROR(args.GetInt("length", o.length));
  RETURN_IF_ERROR(args.GetInt("keys", o.keys));
  RETURN_IF_ERROR(args.GetInt("samples", o.samples));
  RETURN_IF_ERROR(args.GetInt("steps", o.steps));
  RETURN_IF_ERROR(args.GetInt("ig-steps", o.ig_steps));
  RETURN_IF_ERROR(args.GetInt("sg-samples", o.sg_samples));
  int baseline = o.baseline_token;
  RETURN_IF_ERROR(args.GetInt("baseline-token", baseline));
  o.baseline_token = baseline;
  RETURN_IF_ERROR(ReadSeed(args, &o.seed));
  ReadMethods(args, &o.methods);
  o.activation = args.Get("activation", o.activation);
  o.model_name = ModelName(model_dir);
  o.progress = [](const std::string& line) { std::cerr << line << std::endl; };

  ASSIGN_OR_RETURN(auto engine, LoadEngine(args, model_dir));
  ASSIGN_OR_RETURN(InputFlippingReport report, EvaluateInputFlipping(*engine, o));
  const std::string markdown = FlipReportToMarkdown(report);
  RETURN_IF_ERROR(EmitReport(args, markdown, FlipReportToJson(report)));
  if (args.Has("plot-dir")) {
    ASSIGN_OR_RETURN(std::vector<std::string> plots, WriteFlipPlots(report, args.Get("plot-dir")));
    for (const std::string& p : plots) std::cerr << "plot " << p << std::endl;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int>> ParseKeyList(const std::string& text) {
  std::vector<int> keys;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int k = 0;
    if (!absl::SimpleAtoi(part, &k) || k < 1) {
      return absl::InvalidArgumentError(absl::StrCat("--keys '", text, "': positive integers"));
    }
    keys.push_back(k);
  }
  if (keys.empty()) return absl::InvalidArgumentError("--keys: at least one key count");
  return keys;
}

absl::Status RunRecall(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(CliArgs args,
                   CliArgs::Parse(argv, FlagSpec{{"model-dir", "length", "keys", "samples", "seed",
                                                  "methods", "device", "grad-samples", "ig-steps",
                                                  "sg-samples", "activation", "json", "markdown"},
                                                 {}}));
  RecallFaithfulnessOptions o;
  ASSIGN_OR_RETURN(const std::string model_dir, args.Require("model-dir"));
  ASSIGN_OR_RETURN(const std::string length, args.Require("length"));
  if (!absl::SimpleAtoi(length, &o.length)) {
    return absl::InvalidArgumentError("--length must be an integer");
  }
  if (args.Has("keys")) {
    ASSIGN_OR_RETURN(o.keys, ParseKeyList(args.Get("keys")));
  }
  RETURN_IF_ERROR(args.GetInt("samples", o.samples));
  RETURN_IF_ERROR(args.GetInt("grad-samples", o.grad_samples));
  RETURN_IF_ERROR(args.GetInt("ig-steps", o.ig_steps));
  RETURN_IF_ERROR(args.GetInt("sg-samples", o.sg_samples));
  RETURN_IF_ERROR(ReadSeed(args, &o.seed));
  ReadMethods(args, &o.methods);
  o.activation = args.Get("activation", o.activation);
  o.model_name = ModelName(model_dir);
  o.progress = [](const std::string& line) { std::cerr << line << std::endl; };
  ASSIGN_OR_RETURN(auto engine, LoadEngine(args, model_dir));
  ASSIGN_OR_RETURN(RecallFaithfulnessReport report, EvaluateRecallFaithfulness(*engine, o));
  const std::string markdown = RecallReportToMarkdown(report);
  RETURN_IF_ERROR(EmitReport(args, markdown, RecallReportToJson(report)));
  return absl::OkStatus();
}

absl::Status RunDecomposition(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(
      CliArgs args,
      CliArgs::Parse(argv, FlagSpec{{"model-dir", "task", "length", "keys", "samples", "seed",
                                     "activations", "bins", "rows", "device", "json", "markdown"},
                                    {}}));
  DecompositionErrorOptions o;
  ASSIGN_OR_RETURN(const std::string model_dir, args.Require("model-dir"));
  o.task = args.Get("task", o.task);
  RETURN_IF_ERROR(args.GetInt("length", o.length));
  RETURN_IF_ERROR(args.GetInt("keys", o.keys));
  RETURN_IF_ERROR(args.GetInt("samples", o.samples));
  RETURN_IF_ERROR(args.GetInt("bins", o.bins));
  RETURN_IF_ERROR(ReadSeed(args, &o.seed));
  if (args.Has("activations")) {
    o.activations = absl::StrSplit(args.Get("activations"), ',', absl::SkipEmpty());
  }
  const std::string rows = args.Get("rows", "all");
  if (rows != "all" && rows != "last") {
    return absl::InvalidArgumentError(absl::StrCat("--rows '", rows, "' (all, last)"));
  }
  o.last_row_only = rows == "last";
  o.model_name = ModelName(model_dir);
  o.progress = [](const std::string& line) { std::cerr << line << std::endl; };
  ASSIGN_OR_RETURN(auto engine, LoadEngine(args, model_dir));
  ASSIGN_OR_RETURN(DecompositionErrorReport report, EvaluateDecompositionError(*engine, o));
  const std::string markdown = DecompositionReportToMarkdown(report);
  RETURN_IF_ERROR(EmitReport(args, markdown, DecompositionReportToJson(report)));
  return absl::OkStatus();
}

}  // namespace
}  // namespace mamba_explain

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << mamba_explain::Usage();
    return args.empty() ? 2 : 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << mamba_explain::Usage();
      return 0;
    }
  }
  absl::Status status;
  if (command == "copy") {
    status = mamba_explain::RunCopy(args);
  } else if (command == "flip") {
    status = mamba_explain::RunFlip(args);
  } else if (command == "recall") {
    status = mamba_explain::RunRecall(args);
  } else if (command == "decomposition") {
    status = mamba_explain::RunDecomposition(args);
  } else {
    std::cerr << "unknown command '" << command << "'\n" << mamba_explain::Usage();
    return 2;
  }
  if (!status.ok()) {
    std::cerr << "error: " << status << "\n";
    return 1;
  }
  return 0;
}
