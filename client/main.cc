// mamba-explain: command-line client. Offline commands load a model in-process; server commands
// (explain over gRPC, models, health) arrive with the service.
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/offline_commands.h"

namespace {

constexpr char kUsage[] = R"(usage: mamba-explain COMMAND [flags]

commands (offline, no server needed):
  tokenize  (--model-dir DIR | --tokenizer FILE) --text T
            prints {"ids": [...], "tokens": [...]}
  forward   --model-dir DIR (--text T | --ids 1,2,3) [--tokenizer FILE]
            [--device cpu|cuda] [--dtype fp32|bf16] [--last]
            prints {"ids": [...], "logits": [[...], ...]} (all positions, or the last with
            --last) and the top-5 next tokens on stderr
  explain   --model-dir DIR (--text T | --ids 1,2,3) --json OUT.json
            [--method latim-l2[,latim-l1,latim-alti,latim-alti-logit]]
            [--layers all|0,3,5-7] [--rows all|last|i,j] [--activation silu|identity|relu]
            [--target TOKEN_ID] [--memory-budget-mib M] [--device cpu|cuda] [--dtype fp32|bf16]
            [--tokenizer FILE]
            writes {"ids", "tokens", "results": [{"method", "layer", "rows", "matrix",
            "approx_error"}]} (LaTIM scores, docs/methods.md; layer -1 = ALTI-Logit over the model)
)";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "help") {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  absl::Status status;
  if (command == "tokenize") {
    status = mamba_explain::RunTokenize(args);
  } else if (command == "forward") {
    status = mamba_explain::RunForward(args);
  } else if (command == "explain") {
    status = mamba_explain::RunExplain(args);
  } else {
    std::cerr << "mamba-explain: unknown command '" << command << "'\n" << kUsage;
    return 2;
  }
  if (!status.ok()) {
    std::cerr << "mamba-explain " << command << ": " << status << "\n";
    return 1;
  }
  return 0;
}
