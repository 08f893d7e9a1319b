// Explain's target options that go beyond token ids, the same offline and remote (both resolve
// them into the id flags before building a request, so the request code is unchanged):
//  - token strings: --target, --target-tokens and --contrast-target take an id or a token string
//    (" Paris"), tokenized with the model's tokenizer (offline) or the server's Tokenize RPC; a
//    string that is not exactly one token is an error. A value that parses as an integer is an
//    id; a JSON string literal ('"7"') is always text; --target-tokens also takes a JSON list
//    ('[" Paris", 12]') besides the comma list.
//  - --generate N: N tokens generated greedily after the prompt, then one explanation of the
//    prompt + the generated tokens with rows P-1 .. P+N-2 and each generated token as the target
//    of the row that predicted it (inseq's generate-then-attribute; the model is causal, so row
//    t's scores are those of the prefix ending at t).
//  - --contrast-target B: explains logit(target) − logit(B) per row, for the methods that are
//    linear in the explained logit (Gradient×Input, Integrated Gradients, SmoothGrad at the same
//    seed, MambaLRP, LaTIM ALTI-Logit — linear in the unembedding row): the explanation of B is
//    subtracted from that of the target (two runs; docs/methods.md says why this is exact).
// Torch-free, gRPC-free.
#ifndef MAMBA_EXPLAIN_CLIENT_TOKEN_REFS_H_
#define MAMBA_EXPLAIN_CLIENT_TOKEN_REFS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/cli_args.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {

struct Tokenized {
  std::vector<int32_t> ids;
  std::vector<std::string> tokens;
};
using TokenizeFn = std::function<absl::StatusOr<Tokenized>(const std::string& text)>;

// Whether --target, --target-tokens or --contrast-target holds a token string.
absl::StatusOr<bool> HasTokenStrings(const CliArgs& args);

// Rewrites the token strings of those flags into ids with `tokenize`. INVALID_ARGUMENT
// "--target ' Paris,' is 2 tokens (" Paris", ","), not one: ..." for a string that is not one
// token.
absl::Status ResolveTokenStrings(CliArgs* args, const TokenizeFn& tokenize);

// Whether the --method list (MethodList) has a method that explains a target token.
absl::StatusOr<bool> AnyOutputDependent(const CliArgs& args);

// --generate: 0 when absent; INVALID_ARGUMENT for a count < 1 or together with --rows, --target
// or --target-tokens (generation decides them).
absl::StatusOr<int> GenerateCount(const CliArgs& args);

// The flags that explain `prompt` + `generated` (see above): --ids, --rows, and --target-tokens
// when a method explains a target token; the prompt flags and --generate are removed.
absl::Status ApplyGeneration(CliArgs* args, const std::vector<int32_t>& prompt,
                             const std::vector<int32_t>& generated);

// {"prompt_length", "ids", "tokens"} of the generated tokens, added to the output as "generated".
nlohmann::json GeneratedJson(size_t prompt_length, const std::vector<int32_t>& generated,
                             const std::vector<std::string>& tokens);

// --contrast-target: INVALID_ARGUMENT unless it is set with at least one contrast-linear method
// and no method that is output-dependent but not linear (mamba-attribution).
absl::Status CheckContrastFlags(const CliArgs& args);
// The flags of the foil's run: the target-dependent methods only, every row's target = the
// contrast token, --contrast-target removed.
absl::StatusOr<CliArgs> FoilArgs(const CliArgs& args);
// Turns `out` (the target's explanation) into the contrastive one by subtracting `foil`'s
// per-target results: scores, explained_logit and ALTI-Logit's matrix; adds "contrast_targets"
// per result and "contrast_target" to meta. approx_error: Gradient×Input, SmoothGrad and MambaLRP
// recompute their gap against logit(a) − logit(b); Integrated Gradients gets null (its gap needs
// f(0) of both tokens, which the output does not hold); ALTI-Logit keeps the larger of the two.
absl::Status CombineContrast(nlohmann::json* out, const nlohmann::json& foil, int64_t contrast);

// Runs `explain_one` with --generate and --contrast-target applied: the shared driver of both
// modes. `tokenize` resolves token strings, `next_token` gives the greedy next token of a
// sequence, `prompt_ids` gives the ids of the prompt flags.
struct ExplainHooks {
  std::function<absl::StatusOr<nlohmann::json>(const CliArgs&)> explain_one;
  TokenizeFn tokenize;
  std::function<absl::StatusOr<int32_t>(const std::vector<int32_t>&)> next_token;
  std::function<absl::StatusOr<std::vector<int32_t>>(const CliArgs&)> prompt_ids;
  std::function<std::string(int32_t)> token_text;
};
absl::StatusOr<nlohmann::json> ExplainWithOptions(CliArgs args, const ExplainHooks& hooks);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_CLIENT_TOKEN_REFS_H_
