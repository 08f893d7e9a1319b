// Engine: the LibTorch-free door into a loaded model, for the CLI and (later) the serving layer.
// It owns a MambaModel and its tokenizer and speaks plain C++ types; every LibTorch exception is
// caught inside and returned as a status. Thread-compatible: const methods may run concurrently.
#ifndef MAMBA_EXPLAIN_MAMBA_ENGINE_H_
#define MAMBA_EXPLAIN_MAMBA_ENGINE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/config.h"
#include "model/tokenizer.h"

namespace mamba_explain {

class MambaModel;

struct EngineOptions {
  std::string device = "cpu";      // cpu | cuda | cuda:N
  std::string precision = "fp32";  // fp32 | bf16
  // Tokenizer file; empty means <model_dir>/tokenizer.json when it exists, else none.
  std::string tokenizer_path;
};

// Row-major logits of some positions.
struct LogitRows {
  int64_t rows = 0;
  int64_t vocab = 0;
  std::vector<float> values;  // rows × vocab
};

class Engine {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> Load(const std::string& model_dir,
                                                      const EngineOptions& options);
  ~Engine();

  const ModelConfig& config() const;
  bool has_tokenizer() const { return tokenizer_ != nullptr; }
  // FAILED_PRECONDITION when no tokenizer was loaded.
  absl::StatusOr<std::vector<int32_t>> Tokenize(const std::string& text) const;
  std::string TokenText(int32_t id) const;

  // Logits of a single sequence: every position, or only the last one.
  absl::StatusOr<LogitRows> Logits(const std::vector<int32_t>& ids, bool last_only) const;

  MambaModel& model() const { return *model_; }

 private:
  Engine() = default;
  std::unique_ptr<MambaModel> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_MAMBA_ENGINE_H_
