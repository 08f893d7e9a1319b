// The "meta" object of explain's JSON, the same keys offline and remote: what is needed to
// reproduce an output (issue 14 item 6). {"version", "mode", "model": {...}, "precision",
// "activation", "methods", "layers", "rows", "target", "parameters": {every method parameter,
// defaults resolved}}. Offline adds the model directory, its config.json's SHA-256, the
// tokenizer file and the device; remote adds the server address (the server does not expose a
// config hash). Torch-free, gRPC-free.
#ifndef MAMBA_EXPLAIN_CLIENT_EXPLANATION_META_H_
#define MAMBA_EXPLAIN_CLIENT_EXPLANATION_META_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/cli_args.h"
#include "explain/explain_request.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {

// The client's version (the build's ME_VERSION, "dev" by default).
const char* ClientVersion();

// Reads the method-parameter flags (--ig-steps, --ig-rule, --sg-*, --seed, --lrp-rules,
// --attention-norm, --start-layer) into `params`, keeping defaults for absent flags.
// INVALID_ARGUMENT naming the flag when one does not parse.
absl::Status ParseMethodParameters(const CliArgs& args, ExplainParameters* params);

// {"ig_steps", "ig_rule", "smoothgrad_samples", "smoothgrad_sigma", "smoothgrad_input", "seed",
// "lrp_rules", "attention_norm", "start_layer"} with the catalogue's spellings.
nlohmann::json ParametersJson(const ExplainParameters& params);

// Hex SHA-256 of `path`'s bytes; NOT_FOUND when unreadable, UNIMPLEMENTED in a build without
// OpenSSL.
absl::StatusOr<std::string> FileSha256(const std::string& path);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_CLIENT_EXPLANATION_META_H_
