#include "client/usage.h"

#include "absl/strings/str_cat.h"
#include "attribution/methods.h"

namespace mamba_explain {
namespace {

constexpr char kHeader[] =
    R"(usage: mamba-explain COMMAND [flags]    (mamba-explain COMMAND --help: one command)

Offline commands load a model directory in-process; with --server HOST:PORT the same command
asks mamba-explaind instead (explain, tokenize; models and health are remote only). Client flags
use hyphens (--model-dir); the server's own flags use underscores (--model_repository).
The prompt: --text T | --text-file FILE | --ids 1,2,3 | --ids-file FILE (FILE "-" = stdin; ids
separated by commas and/or whitespace; a text file loses one trailing newline).
)";

constexpr char kPrompt[] = R"(
  prompt flags: --text T | --text-file FILE | --ids 1,2,3 | --ids-file FILE (FILE "-" = stdin)
)";

constexpr char kTokenize[] = R"(
  tokenize  (--model-dir DIR | --tokenizer FILE) (--text T | --text-file FILE) [--json OUT|-]
  tokenize  --server HOST:PORT --model NAME (--text T | --text-file FILE) [--json OUT|-]
            prints {"ids": [...], "tokens": [...]}
)";

constexpr char kForward[] = R"(
  forward   --model-dir DIR (prompt flags) [--tokenizer FILE] [--device cpu|cuda[:N]]
            [--dtype fp32|bf16] [--logits none|last|all (default none)] [--top-k K (default 5)]
            [--json OUT|-]
            prints {"ids", "position" (the last), "top_k": [{"id", "token", "logit"}]} and, with
            --logits, "logits": [[...]] (the last position, or every position with all; a
            50k-token vocabulary makes ~0.5 MB per position). --last = --logits last.
)";

constexpr char kExplain[] = R"(
  explain   --model-dir DIR (prompt flags) [--json OUT.json|- (default stdout)] [--html OUT.html]
            [--tokenizer FILE] [--device cpu|cuda] [--dtype fp32|bf16 (weights)]
  explain   --server HOST:PORT --model NAME (prompt flags) [--json OUT.json|-] [--html OUT.html]
            [--top-k K | --threshold T | --mass P | --dense] [--priority 0-9]
            [--stream-log FILE] [--request-id ID]
            (--methods and --targets are accepted as old spellings of --method and --rows)
    both:   [--method latim-l2[,...] (the methods listed below)] [--layers all|0,3,5-7]
            [--rows all|last|i,j] [--target TOKEN_ID | --target-tokens ID,... (one per row)]
            [--activation silu|identity|relu] [--precision fp32|tf32|bf16 (compute; default
            the weights'; remote --dtype means the same)] [--memory-budget-mib M]
            [--ig-steps 30] [--ig-rule gauss-legendre|riemann] [--sg-samples 30]
            [--sg-sigma 0.15] [--sg-input noisy|clean] [--seed 0]
            [--lrp-rules all|none|no-silu,no-ssm,no-gate,no-norm]
            [--attention-norm minmax|raw|abs-minmax] [--start-layer 0]
            [--progress | --quiet] [--format json|npz|safetensors --output FILE]
            [--generate N] [--contrast-target ID|TOKEN]
            [--input FILE.jsonl [--output OUT.jsonl|DIR] [--overwrite]]
            (server limits: --ig-steps <= 256, --sg-samples <= 128)
            --target, --target-tokens and --contrast-target take ids or token strings
            (" Paris"; one token each, the model's tokenizer; '"7"' is the string 7;
            --target-tokens also takes a JSON list '[" Paris", 12]').
            --format npz|safetensors: arrays per result ({method}.layer{L}|.model .matrix
            (.data/.indices/.indptr with remote --top-k/--threshold/--mass), .scores, .rows,
            .targets, .explained_logit), ids, tokens and an "info" JSON (meta) in --output.
            --input: one JSON object per line {"text"|"ids", "id"?, "meta"?, overrides "rows",
            "layers", "method", "target", "target_tokens", "contrast_target", "generate"};
            JSONL to --output (stdout without it) or, with npz|safetensors, one file per
            prompt in the directory --output; rerunning skips prompts already written
            (--overwrite starts over); progress per prompt.
            --generate N: N greedy tokens, each explained at the row that predicted it
            (remote: one grad-x-input call per token to learn the prediction).
            --contrast-target B: logit(target) - logit(B) for grad-x-input, integrated-gradients,
            smoothgrad, mamba-lrp and latim-alti-logit (two runs subtracted).
            Output paths are checked before any work. Progress (per result, with total and
            ETA) goes to stderr when it is a terminal, or always with --progress.
            --target applies only to output-dependent methods (ALTI-Logit and the per-target
            methods); with none of them it is an error. Integrated Gradients warns on stderr when
            its completeness gap exceeds 5 % (raise --ig-steps).
            JSON {"ids", "tokens", "results": [{"method", "layer", "rows", "matrix",
            "approx_error"}]} (docs/methods.md; layer -1 = a whole-model result, last);
            per-target methods {"method", "layer": -1, "rows", "scores", "explained_logit",
            "targets", "approx_error"}; approx_error is null for methods that define none
            (mamba-attention, rollout, mamba-attribution). Remote adds "model", "target_rows",
            "summary", and "kept_mass" per matrix (sparse layers expanded to dense rows).
)";

constexpr char kModels[] = R"(
  models    --server HOST:PORT [--model NAME] [--json OUT|-]   ListModels, or GetModel
)";

constexpr char kHealth[] = R"(
  health    --server HOST:PORT [--service NAME]    prints SERVING / NOT_SERVING
)";

constexpr char kPerf[] = R"(
  perf      --server HOST:PORT --model NAME [--method M[,M2|M+M2]] [--rows last|all]
            [--input-length N[,N2]] [--concurrency C[,C2] | --request-rate R[,R2]]
            [--duration 10] [--warmup 2] [--json OUT.json] [--csv OUT.csv] [--quiet]
            load generator (docs/perf.md); the explain request flags pass through
)";

constexpr char kMethodsCommand[] = R"(
  methods   [--json OUT|-]
            the method catalogue: one line per method, or with --json {"methods": [{"name",
            "family", "scope", "output_dependent", "result", "approx_error", "summary"}]}
)";

constexpr char kConnection[] = R"(
  connection flags (every remote command): [--tls-ca CA.pem [--tls-cert C.pem --tls-key K.pem]]
            [--tls-server-name NAME] [--token-file FILE] [--timeout SECONDS (default 300)]
)";

constexpr char kMethods[] = "\nmethods (--method; the catalogue, src/attribution/methods.h):\n";

}  // namespace

std::string Usage() {
  return absl::StrCat(kHeader, kTokenize, kForward, kExplain, kModels, kHealth, kPerf,
                      kMethodsCommand, kConnection, kMethods, MethodHelp());
}

std::string CommandUsage(const std::string& command) {
  std::string body;
  if (command == "tokenize") {
    body = absl::StrCat(kTokenize, kPrompt, kConnection);
  } else if (command == "forward") {
    body = absl::StrCat(kForward, kPrompt);
  } else if (command == "explain") {
    body = absl::StrCat(kExplain, kPrompt, kConnection, kMethods, MethodHelp());
  } else if (command == "models") {
    body = absl::StrCat(kModels, kConnection);
  } else if (command == "health") {
    body = absl::StrCat(kHealth, kConnection);
  } else if (command == "perf") {
    body = absl::StrCat(kPerf, kConnection);
  } else if (command == "methods") {
    body = kMethodsCommand;
  } else {
    return "";
  }
  return absl::StrCat("usage: mamba-explain ", command, " [flags]\n", body);
}

}  // namespace mamba_explain
