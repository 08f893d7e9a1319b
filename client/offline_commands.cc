#include "client/offline_commands.h"

#include <algorithm>
#include <iostream>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/cli_args.h"
#include "common/status_macros.h"
#include "mamba/engine.h"
#include "model/tokenizer.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {
namespace {

// Reads the prompt as ids: --ids directly, or --text through the tokenizer.
absl::StatusOr<std::vector<int32_t>> PromptIds(const CliArgs& args, const Engine& engine) {
  if (args.Has("ids") == args.Has("text")) {
    return absl::InvalidArgumentError("give exactly one of --text and --ids");
  }
  if (args.Has("ids")) return ParseIdList(args.Get("ids"));
  return engine.Tokenize(args.Get("text"));
}

}  // namespace

absl::Status RunTokenize(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(CliArgs args,
                   CliArgs::Parse(argv, FlagSpec{{"model-dir", "tokenizer", "text"}, {}}));
  ASSIGN_OR_RETURN(std::string text, args.Require("text"));
  std::string path = args.Get("tokenizer");
  if (path.empty()) {
    if (!args.Has("model-dir")) {
      return absl::InvalidArgumentError("give --model-dir or --tokenizer");
    }
    path = args.Get("model-dir") + "/tokenizer.json";
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, Tokenizer::FromFile(path));
  ASSIGN_OR_RETURN(std::vector<int32_t> ids, tokenizer->Encode(text));
  nlohmann::json out;
  out["ids"] = ids;
  out["tokens"] = nlohmann::json::array();
  for (int32_t id : ids) out["tokens"].push_back(tokenizer->TokenText(id));
  std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return absl::OkStatus();
}

absl::Status RunForward(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(
      CliArgs args,
      CliArgs::Parse(
          argv, FlagSpec{{"model-dir", "tokenizer", "text", "ids", "device", "dtype"}, {"last"}}));
  ASSIGN_OR_RETURN(std::string model_dir, args.Require("model-dir"));
  EngineOptions options;
  options.device = args.Get("device", "cpu");
  options.precision = args.Get("dtype", "fp32");
  options.tokenizer_path = args.Get("tokenizer");
  ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Load(model_dir, options));
  ASSIGN_OR_RETURN(std::vector<int32_t> ids, PromptIds(args, *engine));
  const bool last_only = args.Has("last");
  ASSIGN_OR_RETURN(LogitRows logits, engine->Logits(ids, last_only));

  nlohmann::json out;
  out["ids"] = ids;
  out["logits"] = nlohmann::json::array();
  for (int64_t r = 0; r < logits.rows; ++r) {
    const float* row = logits.values.data() + r * logits.vocab;
    out["logits"].push_back(std::vector<float>(row, row + logits.vocab));
  }
  std::cout << out.dump() << "\n";

  // Top-5 next tokens after the last position, for humans.
  const float* last = logits.values.data() + (logits.rows - 1) * logits.vocab;
  std::vector<int32_t> order(logits.vocab);
  std::iota(order.begin(), order.end(), 0);
  const int k = static_cast<int>(std::min<int64_t>(5, logits.vocab));
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int32_t a, int32_t b) { return last[a] > last[b]; });
  std::cerr << "top-" << k << " next tokens:\n";
  for (int i = 0; i < k; ++i) {
    std::cerr << absl::StrFormat(
        "  %6d  %10.4f  %s\n", order[i], last[order[i]],
        nlohmann::json(engine->TokenText(order[i]))
            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  return absl::OkStatus();
}

}  // namespace mamba_explain
