// ModelRegistry: the models of a repository directory (<repo>/<name>/config.json ...), each
// loaded through a BackendFactory, warmed up, and given its own DynamicBatcher (DESIGN §6).
// A model that fails to load or warm up is kept as FAILED with its error and skipped; the others
// serve. Warm-up includes a finiteness check (every method once on a short input; a NaN or Inf
// value fails the model: NaN weights load fine but explain nothing). A model directory or file
// that resolves outside the repository (a symlink) is refused unless follow_external_symlinks.
// Errors kept for clients (ModelEntry::error) name files relative to the repository, never the
// server's absolute paths. Models load in Create(); afterwards the set is fixed, so lookups are
// lock-free reads of immutable entries and the registry is thread-safe. Owns backends and batchers.
#ifndef MAMBA_EXPLAIN_SERVING_MODEL_REGISTRY_H_
#define MAMBA_EXPLAIN_SERVING_MODEL_REGISTRY_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "serving/dynamic_batcher.h"
#include "serving/explain_backend.h"
#include "serving/metrics.h"

namespace mamba_explain {

enum class ModelState { kLoading, kReady, kFailed };

struct ModelEntry {
  std::string name;
  std::string dir;
  ModelState state = ModelState::kLoading;
  absl::Status error;  // why it failed (kFailed); paths relative to the repository
  std::unique_ptr<ExplainBackend> backend;  // null unless kReady
  std::unique_ptr<DynamicBatcher> batcher;  // null unless kReady
};

struct RegistryOptions {
  std::string repository;
  bool follow_external_symlinks = false;
  BackendFactory factory;
  BatcherOptions batcher;  // model_name is filled per model
};

// Runs every method of `backend` once (top layer, the last row of a 4-token input, one IG step
// and one SmoothGrad sample) and returns FAILED_PRECONDITION naming the first method and layer
// whose values are not all finite. For the registry's warm-up; exposed for tests.
absl::Status CheckFiniteOutputs(ExplainBackend* backend);

class ModelRegistry {
 public:
  // NOT_FOUND when the repository is missing, INVALID_ARGUMENT when it holds no model
  // directory. Individual model failures are not errors (see entries()).
  static absl::StatusOr<std::unique_ptr<ModelRegistry>> Create(const RegistryOptions& options,
                                                               ServingMetrics* metrics);
  ~ModelRegistry();  // stops the batchers

  // NOT_FOUND for an unknown name, UNAVAILABLE when the model is not ready.
  absl::StatusOr<ModelEntry*> Ready(const std::string& name) const;
  // NOT_FOUND for an unknown name.
  absl::StatusOr<const ModelEntry*> Find(const std::string& name) const;
  const std::vector<std::unique_ptr<ModelEntry>>& entries() const { return entries_; }
  // Stops every batcher after draining its queue.
  void StopAll();

 private:
  ModelRegistry() = default;
  std::vector<std::unique_ptr<ModelEntry>> entries_;  // sorted by name
  std::map<std::string, ModelEntry*> by_name_;
};

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVING_MODEL_REGISTRY_H_
