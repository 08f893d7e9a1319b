// explain's outputs beyond one JSON document, the same offline and remote: `--format
// json|npz|safetensors` (array_export.h), and `--input FILE.jsonl`, many prompts in one run.
//
// --input: one JSON object per line (blank lines skipped): {"text": "..."} or {"ids": [1, 2]},
// optionally "id" (a string or integer naming the prompt; unique), per-prompt overrides of the
// flags of the same name — "rows" ("all", "last", [3, 7]), "layers", "method" (a string or a
// list), "target" (an id or a token string), "target_tokens" (alias "targets": ids or token
// strings, one per row), "contrast_target", "generate" — and "meta" (any JSON, copied into the
// output as "input_meta"). Other keys are an error. Every line is read and checked before any work.
// Results: --format json writes JSONL, one line per prompt {"line", "id", "meta"?, and explain's
// JSON}, to --output FILE (or stdout); npz / safetensors write one file per prompt into the
// directory --output (created if missing), named after the "id" or "line-N".
// Resumable: prompts already in the JSONL (matched by "id", else by line number) or whose file
// already exists are skipped; a JSONL line cut short by an interrupted run is dropped first.
// --overwrite starts over. Progress (prompts done of those to do, elapsed, ETA) as progress.h.
// The first failing prompt stops the run with its line number; what was written stays.
// Torch-free, gRPC-free: the per-prompt explanation is a callback.
#ifndef MAMBA_EXPLAIN_CLIENT_DATASET_H_
#define MAMBA_EXPLAIN_CLIENT_DATASET_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/cli_args.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {

enum class OutputFormat { kJson, kNpz, kSafetensors };

// --format (default json); INVALID_ARGUMENT naming the value otherwise.
absl::StatusOr<OutputFormat> ParseOutputFormat(const CliArgs& args);

// The output flags of explain, checked before any work in both modes: --format and --output,
// --json only with json, --html and --json not with --input, paths writable (CheckOutputPaths),
// --output a directory (or creatable) for --input with npz / safetensors.
absl::Status CheckExplainOutputs(const CliArgs& args);

// Whether the arrays are written sparse (CSR): remote --top-k, --threshold or --mass.
bool SparseArrays(const CliArgs& args);

// --format npz / safetensors without --input: writes `out` to --output and says so on stderr.
// Does nothing for json (the callers write JSON and HTML themselves).
absl::Status WriteArrayOutput(const CliArgs& args, const nlohmann::json& out);

// One prompt of --input.
struct DatasetItem {
  int line = 0;                   // 1-based line number in the file
  std::optional<std::string> id;  // the line's "id"
  std::string stem;               // output file name without extension: the id, or "line-N"
  nlohmann::json meta;            // the line's "meta", or null
  CliArgs args;                   // the command's flags with the line's prompt and overrides
};

// Reads --input and applies each line to `args` (the prompt flags replaced, overrides set,
// --progress off and --quiet on for the prompt itself). INVALID_ARGUMENT "--input line N: ..."
// for a line that is not an object, has unknown keys or badly typed values, a repeated id, an id
// that is not a file name when files are written, or flags that fail CheckExplainFlags.
absl::StatusOr<std::vector<DatasetItem>> ReadDataset(const CliArgs& args);

// Explains one prompt (its args as ReadDataset made them) into explain's JSON.
using ExplainOneFn = std::function<absl::StatusOr<nlohmann::json>(const CliArgs& args)>;

// The whole --input run (see the top of this file) over ReadDataset's items (read once, before
// the model loads, so a bad line fails fast and --input - works).
absl::Status RunDataset(const CliArgs& args, const std::vector<DatasetItem>& items,
                        const ExplainOneFn& explain_one);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_CLIENT_DATASET_H_
