// Checkpoint: the tensors of one model directory, from a single model.safetensors or from the
// shards listed in model.safetensors.index.json ({"weight_map": {tensor: shard file}}).
// Validates that each indexed tensor exists in its shard, that no tensor appears in two shards,
// and that shard file names stay inside the directory. Immutable after Open; thread-safe.
#ifndef MAMBA_EXPLAIN_MODEL_CHECKPOINT_H_
#define MAMBA_EXPLAIN_MODEL_CHECKPOINT_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/safetensors.h"

namespace mamba_explain {

class Checkpoint {
 public:
  // Prefers model.safetensors.index.json when present, else model.safetensors.
  // NOT_FOUND when neither exists; INVALID_ARGUMENT naming file and tensor otherwise.
  static absl::StatusOr<std::unique_ptr<Checkpoint>> Open(const std::string& model_dir);

  const TensorView* Find(const std::string& name) const;  // nullptr when absent
  std::vector<std::string> TensorNames() const;           // sorted
  int num_files() const { return static_cast<int>(files_.size()); }
  const std::string& dir() const { return dir_; }

 private:
  Checkpoint() = default;
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView*> tensors_;  // views owned by files_
};

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_MODEL_CHECKPOINT_H_
