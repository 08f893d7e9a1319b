// Offline CLI commands: they load a model directory in-process (no server) through the Engine and
// print JSON to stdout; human-oriented extras (top-5 next tokens) go to stderr.
#ifndef MAMBA_EXPLAIN_CLIENT_OFFLINE_COMMANDS_H_
#define MAMBA_EXPLAIN_CLIENT_OFFLINE_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace mamba_explain {

// mamba-explain tokenize (--model-dir DIR | --tokenizer FILE) --text T
absl::Status RunTokenize(const std::vector<std::string>& args);

// mamba-explain forward --model-dir DIR (--text T | --ids 1,2,3) [--tokenizer FILE]
//   [--device cpu|cuda] [--dtype fp32|bf16] [--last]
absl::Status RunForward(const std::vector<std::string>& args);

// mamba-explain explain --model-dir DIR (--text T | --ids ...) --method latim-l2[,latim-l1,...]
//   [--layers all|0,3,5-7] [--rows all|last|i,j] [--activation silu|identity|relu]
//   [--target ID] [--memory-budget-mib M] [--device] [--dtype] [--tokenizer FILE] --json OUT.json
// writes {"ids", "tokens", "results": [{"method", "layer", "rows", "matrix", "approx_error"}]}.
absl::Status RunExplain(const std::vector<std::string>& args);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_CLIENT_OFFLINE_COMMANDS_H_
