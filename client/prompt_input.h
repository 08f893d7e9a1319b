// The prompt of a client command, from one of four flags: --text T, --text-file FILE, --ids
// 1,2,3 or --ids-file FILE (FILE "-" = standard input). The file forms exist because a command
// line cannot carry a long prompt (Linux limits one argument to 128 KiB). The same reader serves
// every command in both modes, so the flags mean the same offline and remote.
#ifndef MAMBA_EXPLAIN_CLIENT_PROMPT_INPUT_H_
#define MAMBA_EXPLAIN_CLIENT_PROMPT_INPUT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/cli_args.h"

namespace mamba_explain {

// The valued flags ReadPrompt reads ("text", "text-file", "ids", "ids-file"); the text-only
// subset for commands that tokenize.
inline const std::set<std::string>& PromptFlags() {
  static const std::set<std::string> flags = {"text", "text-file", "ids", "ids-file"};
  return flags;
}
inline const std::set<std::string>& TextFlags() {
  static const std::set<std::string> flags = {"text", "text-file"};
  return flags;
}

// Exactly one of text and ids is set.
struct PromptInput {
  std::optional<std::string> text;
  std::vector<int32_t> ids;
};

// Token ids separated by commas and/or whitespace ("1,2 3\n4"); INVALID_ARGUMENT naming `flag`
// and the bad element, or saying the list is empty.
absl::StatusOr<std::vector<int32_t>> ParseIds(const std::string& text, const std::string& flag);

// Reads the prompt: INVALID_ARGUMENT unless exactly one of the four flags is given ("give exactly
// one of --text, --text-file, --ids and --ids-file"). A text file loses one trailing newline
// (what `echo` and editors add), nothing else; NOT_FOUND names a file that cannot be opened.
absl::StatusOr<PromptInput> ReadPrompt(const CliArgs& args);

// Text only (tokenize): exactly one of --text and --text-file.
absl::StatusOr<std::string> ReadPromptText(const CliArgs& args);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_CLIENT_PROMPT_INPUT_H_
