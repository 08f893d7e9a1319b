#include "client/client_flags.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "attribution/methods.h"
#include "common/status_macros.h"

namespace mamba_explain {
namespace {

// Commands (bits).
constexpr unsigned kTokenize = 1, kForward = 2, kExplain = 4, kModels = 8, kHealth = 16;
// Modes (bits).
constexpr unsigned kOff = 1, kRem = 2, kBoth = kOff | kRem;

struct ClientFlag {
  const char* name;
  bool valued;  // false: a switch
  unsigned commands;
  unsigned modes;
};

// Every client flag. Keep README.md's CLI section and client/usage.cc in step with it.
constexpr ClientFlag kFlags[] = {
    // Model and prompt.
    {"model-dir", true, kTokenize | kForward | kExplain, kOff},
    {"tokenizer", true, kTokenize | kForward | kExplain, kOff},
    {"model", true, kTokenize | kExplain | kModels, kRem},
    {"text", true, kTokenize | kForward | kExplain, kBoth},
    {"text-file", true, kTokenize | kForward | kExplain, kBoth},
    {"ids", true, kForward | kExplain, kBoth},
    {"ids-file", true, kForward | kExplain, kBoth},
    // Compute.
    {"device", true, kForward | kExplain, kOff},
    {"dtype", true, kForward | kExplain, kBoth},
    {"precision", true, kExplain, kBoth},
    {"memory-budget-mib", true, kExplain, kBoth},
    // forward's output.
    {"last", false, kForward, kOff},
    {"logits", true, kForward, kOff},
    {"top-k", true, kForward, kOff},
    // What to explain, and the method parameters.
    {"method", true, kExplain, kBoth},
    {"methods", true, kExplain, kRem},  // old spelling of --method
    {"layers", true, kExplain, kBoth},
    {"rows", true, kExplain, kBoth},
    {"targets", true, kExplain, kRem},  // old spelling of --rows
    {"target", true, kExplain, kBoth},
    {"target-tokens", true, kExplain, kBoth},
    {"activation", true, kExplain, kBoth},
    {"ig-steps", true, kExplain, kBoth},
    {"ig-rule", true, kExplain, kBoth},
    {"sg-samples", true, kExplain, kBoth},
    {"sg-sigma", true, kExplain, kBoth},
    {"sg-input", true, kExplain, kBoth},
    {"seed", true, kExplain, kBoth},
    {"lrp-rules", true, kExplain, kBoth},
    {"attention-norm", true, kExplain, kBoth},
    {"start-layer", true, kExplain, kBoth},
    // Transport (remote explain): sparsity of the streamed matrices, scheduling, logs.
    {"top-k", true, kExplain, kRem},
    {"threshold", true, kExplain, kRem},
    {"mass", true, kExplain, kRem},
    {"dense", false, kExplain, kRem},
    {"priority", true, kExplain, kRem},
    {"request-id", true, kExplain, kRem},
    {"stream-log", true, kExplain, kRem},
    // Outputs and progress.
    {"json", true, kTokenize | kForward | kExplain | kModels, kBoth},
    {"html", true, kExplain, kBoth},
    {"progress", false, kExplain, kBoth},
    {"quiet", false, kExplain, kBoth},
    {"service", true, kHealth, kRem},
    // Datasets, other formats, generation, contrast (dataset.h, token_refs.h).
    {"input", true, kExplain, kBoth},
    {"output", true, kExplain, kBoth},
    {"format", true, kExplain, kBoth},
    {"overwrite", false, kExplain, kBoth},
    {"generate", true, kExplain, kBoth},
    {"contrast-target", true, kExplain, kBoth},
};

unsigned CommandBit(const std::string& command) {
  if (command == "tokenize") return kTokenize;
  if (command == "forward") return kForward;
  if (command == "explain") return kExplain;
  if (command == "models") return kModels;
  if (command == "health") return kHealth;
  return 0;
}

// --flag as an integer >= 1, when given.
absl::Status CheckCount(const CliArgs& args, const std::string& flag) {
  if (!args.Has(flag)) return absl::OkStatus();
  int64_t v = 0;
  if (!absl::SimpleAtoi(args.Get(flag), &v) || v < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad --", flag, " '", args.Get(flag), "' (an integer >= 1)"));
  }
  return absl::OkStatus();
}

}  // namespace

FlagSpec ClientFlagSpec(const std::string& command, ClientMode mode) {
  const unsigned command_bit = CommandBit(command);
  const unsigned mode_bit = mode == ClientMode::kOffline ? kOff : kRem;
  FlagSpec spec;
  for (const ClientFlag& f : kFlags) {
    if ((f.commands & command_bit) == 0 || (f.modes & mode_bit) == 0) continue;
    (f.valued ? spec.valued : spec.switches).insert(f.name);
  }
  return spec;
}

absl::StatusOr<std::string> MethodList(const CliArgs& args) {
  if (args.Has("method") && args.Has("methods")) {
    return absl::InvalidArgumentError("give --method or --methods, not both");
  }
  if (args.Has("methods")) return args.Get("methods");
  return args.Get("method", MethodName(Method::kLatimL2));
}

absl::Status CheckExplainFlags(const CliArgs& args) {
  RETURN_IF_ERROR(CheckCount(args, "ig-steps"));
  RETURN_IF_ERROR(CheckCount(args, "sg-samples"));
  if (args.Has("target") && args.Has("target-tokens")) {
    return absl::InvalidArgumentError("give --target or --target-tokens, not both");
  }
  if (args.Has("target") || args.Has("target-tokens")) {
    ASSIGN_OR_RETURN(std::string list, MethodList(args));
    std::vector<std::string> names;
    for (absl::string_view name : absl::StrSplit(list, ',', absl::SkipEmpty())) {
      absl::StatusOr<Method> m = ParseMethod(absl::StripAsciiWhitespace(name));
      // An unknown name is the method check's business (offline Validate, or the server, which
      // may serve methods this client does not know).
      if (!m.ok() || GetMethodInfo(*m).output_dependent) return absl::OkStatus();
      names.push_back(MethodName(*m));
    }
    std::vector<std::string> dependent;
    for (const MethodInfo& info : MethodCatalogue()) {
      if (info.output_dependent && info.family != MethodFamily::kSynthetic) {
        dependent.push_back(info.name);
      }
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "--", args.Has("target") ? "target" : "target-tokens",
        " is given but no method asked for explains a target token (", absl::StrJoin(names, ", "),
        "); the target is used only by ", absl::StrJoin(dependent, ", ")));
  }
  return absl::OkStatus();
}

absl::Status CheckOutputPaths(const CliArgs& args, const std::vector<std::string>& flags) {
  for (const std::string& flag : flags) {
    if (!args.Has(flag) || (flag == "json" && args.Get(flag) == "-")) continue;
    const std::string path = args.Get(flag);
    auto fail = [&](const std::string& why) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot write --", flag, " '", path, "': ", why));
    };
    if (path.empty()) return fail("empty path");
    struct stat st;
    if (stat(path.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) return fail("is a directory");
      if (access(path.c_str(), W_OK) != 0) return fail(std::strerror(errno));
      continue;
    }
    // A new file: its directory must exist and be writable.
    const size_t slash = path.find_last_of('/');
    const std::string dir =
        slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    if (stat(dir.c_str(), &st) != 0) return fail(absl::StrCat("no directory '", dir, "'"));
    if (!S_ISDIR(st.st_mode)) return fail(absl::StrCat("'", dir, "' is not a directory"));
    if (access(dir.c_str(), W_OK | X_OK) != 0) {
      return fail(absl::StrCat("directory '", dir, "': ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

absl::Status WriteJsonOutput(const CliArgs& args, const std::string& text) {
  const std::string path = args.Get("json", "-");
  if (path == "-") {
    std::cout << text << "\n" << std::flush;
    if (!std::cout) return absl::DataLossError("writing standard output failed");
    return absl::OkStatus();
  }
  std::ofstream file(path);
  if (!file) return absl::FailedPreconditionError(absl::StrCat("cannot write --json '", path, "'"));
  file << text << "\n";
  file.close();
  if (!file) return absl::DataLossError(absl::StrCat("writing '", path, "' failed"));
  return absl::OkStatus();
}

absl::Status WriteJson(const CliArgs& args, const nlohmann::json& out) {
  return WriteJsonOutput(args, out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void WarnIfIncomplete(const std::string& method, double approx_error, int ig_steps) {
  if (method != MethodName(Method::kIntegratedGradients) || !(approx_error > kIgGapWarning)) {
    return;
  }
  std::cerr << "mamba-explain: warning: " << method << " completeness gap " << approx_error
            << " exceeds " << kIgGapWarning << " at --ig-steps " << ig_steps
            << "; the attributions do not add up to the explained logit change. Try --ig-steps "
            << ig_steps * 4 << " (docs/methods.md, Integrated Gradients)\n";
}

std::string CountNoun(size_t n, const std::string& noun) {
  return absl::StrCat(n, " ", noun, n == 1 ? "" : "s");
}

}  // namespace mamba_explain
