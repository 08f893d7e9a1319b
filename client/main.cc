// mamba-explain: command-line client. Offline commands load a model in-process; remote commands
// (explain, models, tokenize, health with --server) talk to mamba-explaind over gRPC and are
// compiled in only when the build has gRPC (ME_WITH_GRPC_CLIENT).
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "attribution/methods.h"
#include "client/offline_commands.h"
#ifdef ME_WITH_GRPC_CLIENT
#include "client/perf_command.h"
#include "client/remote_commands.h"
#endif

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
            [--method latim-l2[,...] (the methods listed below)]
            [--layers all|0,3,5-7] [--rows all|last|i,j] [--activation silu|identity|relu]
            [--target TOKEN_ID] [--memory-budget-mib M] [--device cpu|cuda] [--dtype fp32|bf16]
            [--precision fp32|tf32|bf16 (compute; default the weights' --dtype)]
            [--ig-steps 30] [--ig-rule gauss-legendre|riemann] [--sg-samples 30]
            [--sg-sigma 0.15] [--sg-input noisy|clean] [--seed 0]
            [--lrp-rules all|none|no-silu,no-ssm,no-gate,no-norm]
            [--attention-norm minmax|raw|abs-minmax] [--start-layer 0] [--tokenizer FILE]
            writes {"ids", "tokens", "results": [{"method", "layer", "rows", "matrix",
            "approx_error"}]} (docs/methods.md; layer -1 = a whole-model result); per-target
            methods write {"method", "layer": -1, "rows", "scores", "explained_logit",
            "targets", "approx_error"}

commands (remote, against mamba-explaind; need a build with gRPC):
  explain   --server HOST:PORT --model NAME (--text T | --ids 1,2,3)
            the offline method flags, same names and defaults: [--method latim-l2[,...]] (every
            offline method) [--layers all|0,3,5-7] [--rows all|last|i,j] [--target TOKEN_ID]
            [--activation silu|identity|relu] [--dtype fp32|bf16] [--memory-budget-mib M]
            [--ig-steps 30] [--ig-rule gauss-legendre|riemann] [--sg-samples 30]
            [--sg-sigma 0.15] [--sg-input noisy|clean] [--seed 0]
            [--lrp-rules all|none|no-silu,no-ssm,no-gate,no-norm]
            [--attention-norm minmax|raw|abs-minmax] [--start-layer 0]
            (server limits: --ig-steps <= 256, --sg-samples <= 128);
            also [--target-tokens ID,... (per row)]
            [--top-k K | --threshold T | --mass P | --dense] [--priority 0-9]
            [--json OUT.json] [--html OUT.html] [--stream-log FILE] [--quiet]
            (--methods and --targets are accepted as old spellings of --method and --rows)
            JSON: the offline shape {"ids", "tokens", "results": [{"method", "layer", "rows",
            "matrix": [[...]], "approx_error", "kept_mass", "targets" (ALTI-Logit)}]} (sparse
            layers expanded back to dense rows, layer -1 last; per-target methods as offline:
            {"method", "layer": -1, "rows", "scores", "explained_logit", "targets",
            "approx_error"}) plus "model", "target_rows", "summary"; progress on stderr
  models    --server HOST:PORT [--model NAME]      ListModels, or GetModel with --model
  tokenize  --server HOST:PORT --model NAME --text T
  health    --server HOST:PORT [--service NAME]    prints SERVING / NOT_SERVING
  perf      --server HOST:PORT --model NAME [--method M[,M2|M+M2]] [--rows last|all]
            [--input-length N[,N2]] [--concurrency C[,C2] | --request-rate R[,R2]]
            [--duration 10] [--warmup 2] [--json OUT.json] [--csv OUT.csv] [--quiet]
            load generator (docs/perf.md); the explain request flags pass through
  connection flags (all remote commands): [--tls-ca CA.pem [--tls-cert C.pem --tls-key K.pem]]
            [--tls-server-name NAME] [--token-file FILE] [--timeout SECONDS (default 300)]

methods (--method; the catalogue, src/attribution/methods.h):
)";

bool HasServerFlag(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--server" || a.rfind("--server=", 0) == 0) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "help") {
    std::cout << kUsage << mamba_explain::MethodHelp();
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  absl::Status status;
  const bool remote = HasServerFlag(args) || command == "models" || command == "health";
  if (remote) {
#ifdef ME_WITH_GRPC_CLIENT
    if (command == "explain") {
      status = mamba_explain::RunRemoteExplain(args);
    } else if (command == "models") {
      status = mamba_explain::RunRemoteModels(args);
    } else if (command == "tokenize") {
      status = mamba_explain::RunRemoteTokenize(args);
    } else if (command == "health") {
      status = mamba_explain::RunRemoteHealth(args);
    } else if (command == "perf") {
      status = mamba_explain::RunRemotePerf(args);
    } else {
      std::cerr << "mamba-explain: command '" << command << "' has no remote form\n";
      return 2;
    }
#else
    std::cerr << "mamba-explain: this build has no gRPC; remote commands are unavailable\n";
    return 2;
#endif
  } else if (command == "tokenize") {
    status = mamba_explain::RunTokenize(args);
  } else if (command == "forward") {
    status = mamba_explain::RunForward(args);
  } else if (command == "explain") {
    status = mamba_explain::RunExplain(args);
  } else {
    std::cerr << "mamba-explain: unknown command '" << command << "'\n"
              << kUsage << mamba_explain::MethodHelp();
    return 2;
  }
  if (!status.ok()) {
    std::cerr << "mamba-explain " << command << ": " << status << "\n";
    return 1;
  }
  return 0;
}
