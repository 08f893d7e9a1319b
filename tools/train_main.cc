// mamba-explain-train: trains the project's own Mamba models on synthetic tasks (LaTIM §4.1).
//   mamba-explain-train copy --arch mamba1|mamba2 --out DIR [--layers N --d-model D --d-state N
//     --head-dim P --vocab V --length L --steps S --batch B --lr LR --warmup W --seed S
//     --activation silu|identity --mimetic-layer I --device cpu|cuda --max-minutes M --resume]
//   mamba-explain-train eval-copy --model-dir DIR --length L [--samples N --seed S --device D]
//   mamba-explain-train recall ... (= copy --task recall; --length = context tokens, --keys 1,2,4)
//   mamba-explain-train eval-recall --model-dir DIR --length N [--keys 1,2,4 --samples N --seed S
//     --device D]
//   mamba-explain-train text ... (= copy --task text; --corpus DIR with train.txt + valid.txt,
//     --tokenizer FILE, --length = window tokens; models/text-mamba1/README.md)
//   mamba-explain-train eval-text --model-dir DIR --text FILE [--length 128 --windows N --device D]
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/cli_args.h"
#include "common/cpu_blas.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "tools/train/copy_trainer.h"
#include "tools/train/text_eval.h"

namespace mamba_explain {
namespace {

nlohmann::json Number(double v) {
  return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v);
}

void PrintEval(const CopyEvalResult& r) {
  nlohmann::json j{{"token_accuracy", r.token_accuracy},
                   {"sequence_accuracy", Number(r.sequence_accuracy)},
                   {"loss", r.loss}};
  if (!std::isnan(r.baseline_loss)) j["unigram_loss"] = r.baseline_loss;
  if (!r.recall.empty()) {
    nlohmann::json by_keys = nlohmann::json::array();
    for (const RecallKeysAccuracy& a : r.recall) {
      by_keys.push_back({{"keys", a.keys},
                         {"samples", a.samples},
                         {"accuracy", a.accuracy},
                         {"gold_first_samples", a.gold_first_samples},
                         {"gold_first_accuracy", Number(a.gold_first_accuracy)},
                         {"other_samples", a.other_samples},
                         {"other_accuracy", Number(a.other_accuracy)},
                         {"loss", a.loss}});
    }
    j["recall"] = by_keys;
  }
  std::cout << j.dump() << "\n";
}

absl::StatusOr<std::vector<int>> ParseKeys(const std::string& text) {
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

absl::Status RunCopy(const std::vector<std::string>& argv, const std::string& default_task) {
  ASSIGN_OR_RETURN(
      CliArgs args,
      CliArgs::Parse(
          argv, FlagSpec{{"arch",      "layers",       "d-model",     "d-state",    "head-dim",
                          "vocab",     "length",       "steps",       "batch",      "lr",
                          "warmup",    "weight-decay", "seed",        "activation", "mimetic-layer",
                          "device",    "out",          "max-minutes", "log-every",  "eval-samples",
                          "clip-norm", "task",         "keys",        "corpus",     "tokenizer"},
                         {"resume", "tf32"}}));
  CopyTrainOptions o;
  ASSIGN_OR_RETURN(o.out_dir, args.Require("out"));
  o.task = args.Get("task", default_task);
  o.corpus_dir = args.Get("corpus", "");
  o.tokenizer = args.Get("tokenizer", "");
  if (args.Has("keys")) {
    ASSIGN_OR_RETURN(o.keys, ParseKeys(args.Get("keys")));
  }
  const std::string arch = args.Get("arch", "mamba1");
  if (arch == "mamba1") {
    o.arch = Architecture::kMamba1;
  } else if (arch == "mamba2") {
    o.arch = Architecture::kMamba2;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("--arch '", arch, "' (mamba1, mamba2)"));
  }
  const std::string act = args.Get("activation", "silu");
  if (act == "silu") {
    o.activation = SsmActivation::kSilu;
  } else if (act == "identity") {
    o.activation = SsmActivation::kIdentity;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("--activation '", act, "' (silu, identity)"));
  }
  int seed = 0;
  RETURN_IF_ERROR(args.GetInt("layers", o.n_layers));
  RETURN_IF_ERROR(args.GetInt("d-model", o.d_model));
  RETURN_IF_ERROR(args.GetInt("d-state", o.d_state));
  RETURN_IF_ERROR(args.GetInt("head-dim", o.head_dim));
  RETURN_IF_ERROR(args.GetInt("vocab", o.vocab));
  RETURN_IF_ERROR(args.GetInt("length", o.length));
  RETURN_IF_ERROR(args.GetInt("steps", o.steps));
  RETURN_IF_ERROR(args.GetInt("batch", o.batch));
  RETURN_IF_ERROR(args.GetInt("warmup", o.warmup));
  RETURN_IF_ERROR(args.GetInt("seed", seed));
  RETURN_IF_ERROR(args.GetInt("mimetic-layer", o.mimetic_layer));
  RETURN_IF_ERROR(args.GetInt("log-every", o.log_every));
  RETURN_IF_ERROR(args.GetInt("eval-samples", o.eval_samples));
  RETURN_IF_ERROR(args.GetDouble("lr", o.lr));
  RETURN_IF_ERROR(args.GetDouble("weight-decay", o.weight_decay));
  RETURN_IF_ERROR(args.GetDouble("max-minutes", o.max_minutes));
  RETURN_IF_ERROR(args.GetDouble("clip-norm", o.clip_norm));
  o.tf32 = args.Has("tf32");
  o.seed = static_cast<uint64_t>(seed);
  o.device = args.Get("device", "cpu");
  const std::string blas_warning = ReferenceBlasWarningForDevice(o.device);
  if (!blas_warning.empty()) std::cerr << "mamba-explain-train: " << blas_warning << "\n";
  o.resume = args.Has("resume");
  ASSIGN_OR_RETURN(CopyEvalResult r, TrainCopyModel(o));
  PrintEval(r);
  return absl::OkStatus();
}

absl::Status RunEvalRecall(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(
      CliArgs args,
      CliArgs::Parse(argv,
                     FlagSpec{{"model-dir", "length", "keys", "samples", "seed", "device"}, {}}));
  ASSIGN_OR_RETURN(std::string dir, args.Require("model-dir"));
  int length = 0, samples = 1024, seed = 4242;
  RETURN_IF_ERROR(args.GetInt("length", length));
  RETURN_IF_ERROR(args.GetInt("samples", samples));
  RETURN_IF_ERROR(args.GetInt("seed", seed));
  if (length < 2) return absl::InvalidArgumentError("--length is required (context tokens)");
  ASSIGN_OR_RETURN(std::vector<int> keys, ParseKeys(args.Get("keys", "1,2,4")));
  ASSIGN_OR_RETURN(CopyEvalResult r, EvaluateRecallModel(dir, length, keys, samples, seed,
                                                         args.Get("device", "cpu")));
  PrintEval(r);
  return absl::OkStatus();
}

absl::Status RunEvalText(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(
      CliArgs args,
      CliArgs::Parse(argv, FlagSpec{{"model-dir", "text", "length", "windows", "device"}, {}}));
  ASSIGN_OR_RETURN(std::string dir, args.Require("model-dir"));
  ASSIGN_OR_RETURN(std::string text, args.Require("text"));
  int length = 128, windows = 1 << 30;
  RETURN_IF_ERROR(args.GetInt("length", length));
  RETURN_IF_ERROR(args.GetInt("windows", windows));
  ASSIGN_OR_RETURN(TextEvalResult r,
                   EvaluateTextModel(dir, text, length, windows, args.Get("device", "cpu")));
  std::cout << nlohmann::json{{"loss", r.loss},
                              {"token_accuracy", r.token_accuracy},
                              {"tokens", r.tokens}}
                   .dump()
            << "\n";
  return absl::OkStatus();
}

absl::Status RunEvalCopy(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(
      CliArgs args,
      CliArgs::Parse(argv, FlagSpec{{"model-dir", "length", "samples", "seed", "device"}, {}}));
  ASSIGN_OR_RETURN(std::string dir, args.Require("model-dir"));
  int length = 0, samples = 1024, seed = 12345;
  RETURN_IF_ERROR(args.GetInt("length", length));
  RETURN_IF_ERROR(args.GetInt("samples", samples));
  RETURN_IF_ERROR(args.GetInt("seed", seed));
  if (length < 1) return absl::InvalidArgumentError("--length is required (source length)");
  ASSIGN_OR_RETURN(CopyEvalResult r,
                   EvaluateCopyModel(dir, length, samples, seed, args.Get("device", "cpu")));
  PrintEval(r);
  return absl::OkStatus();
}

}  // namespace
}  // namespace mamba_explain

int main(int argc, char** argv) {
  const std::string usage =
      "usage: mamba-explain-train copy --out DIR [--arch mamba1|mamba2 ...]\n"
      "       mamba-explain-train eval-copy --model-dir DIR --length L\n"
      "       mamba-explain-train recall --out DIR --length N [--keys 1,2,4 ...] (copy flags)\n"
      "       mamba-explain-train eval-recall --model-dir DIR --length N [--keys 1,2,4]\n"
      "       mamba-explain-train text --out DIR --corpus DIR --tokenizer FILE [--length 128 ...]\n"
      "       mamba-explain-train eval-text --model-dir DIR --text FILE [--length 128]\n"
      "(see tools/train_main.cc and models/README.md for every flag)\n";
  if (argc < 2) {
    std::cerr << usage;
    return 2;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  absl::Status status;
  if (command == "copy" || command == "recall" || command == "text") {
    status = mamba_explain::RunCopy(args, command);
  } else if (command == "eval-copy") {
    status = mamba_explain::RunEvalCopy(args);
  } else if (command == "eval-recall") {
    status = mamba_explain::RunEvalRecall(args);
  } else if (command == "eval-text") {
    status = mamba_explain::RunEvalText(args);
  } else {
    std::cerr << usage;
    return 2;
  }
  if (!status.ok()) {
    std::cerr << "mamba-explain-train " << command << ": " << status << "\n";
    return status.code() == absl::StatusCode::kDeadlineExceeded ? 3 : 1;
  }
  return 0;
}
