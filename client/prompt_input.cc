#include "client/prompt_input.h"

#include <iostream>
#include <iterator>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/file_io.h"
#include "common/status_macros.h"

namespace mamba_explain {
namespace {

// FILE, or standard input for "-".
absl::StatusOr<std::string> ReadFileOrStdin(const std::string& path) {
  if (path != "-") return ReadFile(path);
  std::string data((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (std::cin.bad()) return absl::DataLossError("cannot read standard input");
  return data;
}

int CountGiven(const CliArgs& args, const std::set<std::string>& flags) {
  int n = 0;
  for (const std::string& f : flags) n += args.Has(f) ? 1 : 0;
  return n;
}

}  // namespace

absl::StatusOr<std::vector<int32_t>> ParseIds(const std::string& text, const std::string& flag) {
  std::vector<int32_t> ids;
  for (absl::string_view piece :
       absl::StrSplit(text, absl::ByAnyChar(", \t\r\n"), absl::SkipEmpty())) {
    int32_t id = 0;
    if (!absl::SimpleAtoi(piece, &id) || id < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad token id '", piece.substr(0, 40), "' in --", flag));
    }
    ids.push_back(id);
  }
  if (ids.empty()) return absl::InvalidArgumentError(absl::StrCat("--", flag, " is empty"));
  return ids;
}

absl::StatusOr<std::string> ReadPromptText(const CliArgs& args) {
  if (CountGiven(args, TextFlags()) != 1) {
    return absl::InvalidArgumentError("give exactly one of --text and --text-file");
  }
  if (args.Has("text")) return args.Get("text");
  ASSIGN_OR_RETURN(std::string text, ReadFileOrStdin(args.Get("text-file")));
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
  return text;
}

absl::StatusOr<PromptInput> ReadPrompt(const CliArgs& args) {
  if (CountGiven(args, PromptFlags()) != 1) {
    return absl::InvalidArgumentError(
        "give exactly one of --text, --text-file, --ids and --ids-file (--text and --ids "
        "cannot be combined)");
  }
  PromptInput input;
  if (args.Has("text") || args.Has("text-file")) {
    ASSIGN_OR_RETURN(input.text, ReadPromptText(args));
  } else if (args.Has("ids")) {
    ASSIGN_OR_RETURN(input.ids, ParseIds(args.Get("ids"), "ids"));
  } else {
    ASSIGN_OR_RETURN(std::string data, ReadFileOrStdin(args.Get("ids-file")));
    ASSIGN_OR_RETURN(input.ids, ParseIds(data, "ids-file"));
  }
  return input;
}

}  // namespace mamba_explain
