// mamba-explain-eval: faithfulness evaluations of the attribution methods (docs/faithfulness.md).
// `copy`: the copying task of LaTIM §4.1 (Table 2); `flip`: input-flipping perturbation
// faithfulness (MambaLRP §5.3). Progress goes to stderr, the Markdown tables to stdout; --json /
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
#include "eval/faithfulness_report.h"
#include "eval/input_flipping.h"
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
    "  (the query position is explained). Details: docs/faithfulness.md\n";

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
  if (args.Has("seed") && !absl::SimpleAtoi(args.Get("seed"), &o.seed)) {
    return absl::InvalidArgumentError("--seed must be a non-negative integer");
  }
  const std::string methods = args.Get("methods", "all");
  if (methods != "all") o.methods = absl::StrSplit(methods, ',', absl::SkipEmpty());
  o.activation = args.Get("activation", o.activation);
  o.heatmap_dir = args.Get("heatmap-dir");
  o.model_name = ModelName(model_dir);
  o.progress = [](const std::string& line) { std::cerr << line << std::endl; };

  EngineOptions engine_options;
  engine_options.device = args.Get("device", "cpu");
  ASSIGN_OR_RETURN(auto engine, Engine::Load(model_dir, engine_options));
  ASSIGN_OR_RETURN(CopyFaithfulnessReport report, EvaluateCopyFaithfulness(*engine, o));
  const std::string markdown = ReportToMarkdown(report);
  std::cout << markdown;
  if (args.Has("json")) {
    RETURN_IF_ERROR(WriteText(args.Get("json"), ReportToJson(report).dump(1) + "\n", "--json"));
  }
  if (args.Has("markdown"))
    RETURN_IF_ERROR(WriteText(args.Get("markdown"), markdown, "--markdown"));
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
  if (args.Has("seed") && !absl::SimpleAtoi(args.Get("seed"), &o.seed)) {
    return absl::InvalidArgumentError("--seed must be a non-negative integer");
  }
  const std::string methods = args.Get("methods", "all");
  if (methods != "all") o.methods = absl::StrSplit(methods, ',', absl::SkipEmpty());
  o.activation = args.Get("activation", o.activation);
  o.model_name = ModelName(model_dir);
  o.progress = [](const std::string& line) { std::cerr << line << std::endl; };

  EngineOptions engine_options;
  engine_options.device = args.Get("device", "cpu");
  ASSIGN_OR_RETURN(auto engine, Engine::Load(model_dir, engine_options));
  ASSIGN_OR_RETURN(InputFlippingReport report, EvaluateInputFlipping(*engine, o));
  const std::string markdown = FlipReportToMarkdown(report);
  std::cout << markdown;
  if (args.Has("json")) {
    RETURN_IF_ERROR(WriteText(args.Get("json"), FlipReportToJson(report).dump(1) + "\n", "--json"));
  }
  if (args.Has("markdown")) {
    RETURN_IF_ERROR(WriteText(args.Get("markdown"), markdown, "--markdown"));
  }
  if (args.Has("plot-dir")) {
    ASSIGN_OR_RETURN(std::vector<std::string> plots, WriteFlipPlots(report, args.Get("plot-dir")));
    for (const std::string& p : plots) std::cerr << "plot " << p << std::endl;
  }
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
  if (command != "copy" && command != "flip") {
    std::cerr << "unknown command '" << command << "'\n" << mamba_explain::Usage();
    return 2;
  }
  const absl::Status status =
      command == "copy" ? mamba_explain::RunCopy(args) : mamba_explain::RunFlip(args);
  if (!status.ok()) {
    std::cerr << "error: " << status << "\n";
    return 1;
  }
  return 0;
}
