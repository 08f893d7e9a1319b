// Command-line arguments of the mamba-explain CLI: `mamba-explain COMMAND [--flag
// value|--flag=value
// |--switch] ...`. Flags are declared per command so that typos and missing values are errors
// (INVALID_ARGUMENT naming the flag), not silently ignored.
#ifndef MAMBA_EXPLAIN_COMMON_CLI_ARGS_H_
#define MAMBA_EXPLAIN_COMMON_CLI_ARGS_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mamba_explain {

struct FlagSpec {
  std::set<std::string> valued;    // flags that take a value
  std::set<std::string> switches;  // boolean flags
};

class CliArgs {
 public:
  // args excludes the program name and the command.
  static absl::StatusOr<CliArgs> Parse(const std::vector<std::string>& args, const FlagSpec& spec);

  bool Has(const std::string& flag) const { return values_.count(flag) > 0; }
  std::string Get(const std::string& flag, const std::string& fallback = "") const;
  // INVALID_ARGUMENT "--flag is required" when absent.
  absl::StatusOr<std::string> Require(const std::string& flag) const;
  // Optional numeric flags: `value` keeps its default when the flag is absent; INVALID_ARGUMENT
  // "--flag must be an integer" / "must be a number" when it does not parse.
  absl::Status GetInt(const std::string& flag, int& value) const;
  absl::Status GetDouble(const std::string& flag, double& value) const;

  // Sets or removes a flag after parsing (a switch is set to "true"): per-prompt overrides of
  // `explain --input`, or flags one option rewrites into others.
  void Set(const std::string& flag, const std::string& value) { values_[flag] = value; }
  void Erase(const std::string& flag) { values_.erase(flag); }

 private:
  std::map<std::string, std::string> values_;
};

// "1,2,3" -> ids; INVALID_ARGUMENT naming the bad element.
absl::StatusOr<std::vector<int32_t>> ParseIdList(const std::string& text);

// --layers: "all" -> {}; "0,3,5-7" -> {0, 3, 5, 6, 7}. INVALID_ARGUMENT naming the bad part.
absl::StatusOr<std::vector<int32_t>> ParseLayerSpec(const std::string& text);

// --rows: "all" | "last" | "i,j,...".
struct RowSpec {
  enum class Kind { kAll, kLast, kList };
  Kind kind = Kind::kAll;
  std::vector<int32_t> rows;  // kList
};
absl::StatusOr<RowSpec> ParseRowSpec(const std::string& text);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_COMMON_CLI_ARGS_H_
