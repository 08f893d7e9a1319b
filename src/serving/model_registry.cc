#include "serving/model_registry.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/status_macros.h"

namespace mamba_explain {
namespace {

namespace fs = std::filesystem;

// True when `path` (canonical) is `root` (canonical) or below it.
bool IsWithin(const fs::path& path, const fs::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

// PERMISSION_DENIED when the model directory, or a file in it, resolves outside the repository.
absl::Status CheckContained(const fs::path& repository, const std::string& name) {
  std::error_code ec;
  const fs::path root = fs::canonical(repository, ec);
  if (ec) return absl::NotFoundError("cannot resolve the model repository");
  const fs::path dir = fs::canonical(root / name, ec);
  if (ec || !IsWithin(dir, root)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "model directory '", name,
        "' resolves outside the model repository (symlink; see --follow_external_symlinks)"));
  }
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const fs::path target = fs::canonical(e.path(), ec);
    if (ec || !IsWithin(target, root)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "'", name, "/", e.path().filename().string(),
          "' resolves outside the model repository (symlink; see --follow_external_symlinks)"));
    }
  }
  if (ec) return absl::NotFoundError(absl::StrCat("cannot list model directory '", name, "'"));
  return absl::OkStatus();
}

// The status with the repository's absolute path (as given and canonical) cut from its message,
// so that "<repo>/m/config.json: ..." reads "m/config.json: ...".
absl::Status WithoutServerPaths(const absl::Status& status, const std::string& repository) {
  if (status.ok()) return status;
  std::error_code ec;
  std::string message(status.message());
  std::vector<std::string> prefixes = {fs::path(repository).lexically_normal().string()};
  const fs::path canonical = fs::canonical(repository, ec);
  if (!ec) prefixes.push_back(canonical.string());
  fs::path absolute = fs::absolute(repository, ec);
  if (!ec) prefixes.push_back(absolute.lexically_normal().string());
  for (std::string prefix : prefixes) {
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    if (prefix.empty()) continue;
    message = absl::StrReplaceAll(message, {{prefix + "/", ""}, {prefix, "<repository>"}});
  }
  return absl::Status(status.code(), message);
}

// Collects the first non-finite value a backend delivers.
class FiniteCheckSink : public BatchSink {
 public:
  void OnLayer(int item, LayerMatrix matrix) override {
    Check(matrix.method, matrix.layer, matrix.values);
  }
  void OnTokenScores(int item, TokenScoreRows scores) override {
    Check(scores.method, scores.layer, scores.scores);
  }
  bool IsCancelled(int item) const override { return false; }
  void OnFailed(int item, absl::Status status) override {
    if (status_.ok()) status_ = std::move(status);
  }
  const absl::Status& status() const { return status_; }
  int64_t results() const { return results_; }

 private:
  void Check(const std::string& method, int32_t layer, const std::vector<float>& values) {
    ++results_;
    if (!status_.ok()) return;
    for (float v : values) {
      if (!std::isfinite(v)) {
        status_ = absl::FailedPreconditionError(
            absl::StrCat("warm-up: ", method, " layer ", layer,
                         " gave a non-finite value (NaN or Inf weights in the checkpoint?)"));
        return;
      }
    }
  }
  absl::Status status_;
  int64_t results_ = 0;
};

}  // namespace

absl::Status CheckFiniteOutputs(ExplainBackend* backend) {
  const BackendInfo& info = backend->info();
  BatchOptions options;
  options.methods = info.methods;
  // The top layer sees the residual stream through every layer below it, and the whole-model
  // and per-target methods see the logits: a non-finite weight anywhere shows.
  options.layers = {std::max(info.n_layers - 1, 0)};
  options.params.ig_steps = 1;
  options.params.smoothgrad_samples = 1;
  ExplainInput input;
  for (int32_t i = 0; i < 4; ++i) input.ids.push_back(i % std::max(info.vocab_size, 1));
  input.target_rows = {3};
  FiniteCheckSink sink;
  RETURN_IF_ERROR(backend->ExplainBatch({{options, input}}, &sink));
  return sink.status();
}

absl::StatusOr<std::unique_ptr<ModelRegistry>> ModelRegistry::Create(const RegistryOptions& options,
                                                                     ServingMetrics* metrics) {
  std::error_code ec;
  if (!fs::is_directory(options.repository, ec)) {
    return absl::NotFoundError(
        absl::StrCat("model repository '", options.repository, "' is not a directory"));
  }
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(options.repository, ec)) {
    if (e.is_directory() && fs::exists(e.path() / "config.json")) {
      names.push_back(e.path().filename().string());
    }
  }
  if (names.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model repository '", options.repository, "' has no <name>/config.json"));
  }
  std::sort(names.begin(), names.end());
  std::unique_ptr<ModelRegistry> registry(new ModelRegistry());
  for (const std::string& name : names) {
    auto entry = std::make_unique<ModelEntry>();
    entry->name = name;
    entry->dir = (fs::path(options.repository) / name).string();
    absl::Status status;
    if (!options.follow_external_symlinks) status = CheckContained(options.repository, name);
    try {
      if (status.ok()) {
        auto backend = options.factory(name, entry->dir);
        status = backend.status();
        if (status.ok()) {
          entry->backend = *std::move(backend);
          status = entry->backend->Warmup();
        }
      }
      if (status.ok()) status = CheckFiniteOutputs(entry->backend.get());
      if (status.ok()) {
        BatcherOptions batcher_options = options.batcher;
        batcher_options.model_name = name;
        auto batcher = DynamicBatcher::Create(batcher_options, entry->backend.get(), metrics);
        status = batcher.status();
        if (status.ok()) entry->batcher = *std::move(batcher);
      }
    } catch (const std::exception& e) {
      status = absl::InternalError(absl::StrCat("loading threw: ", e.what()));
    }
    if (status.ok()) {
      entry->state = ModelState::kReady;
      std::cerr << "mamba-explaind: model '" << name << "' ready ("
                << entry->backend->info().architecture << ", " << entry->backend->info().n_layers
                << " layers, backend " << entry->backend->info().backend << ")\n";
    } else {
      entry->state = ModelState::kFailed;
      entry->error = WithoutServerPaths(status, options.repository);
      entry->batcher.reset();
      entry->backend.reset();
      std::cerr << "mamba-explaind: model '" << name << "' failed to load, skipped: " << status
                << "\n";
    }
    if (metrics) metrics->SetModelReady(name, entry->state == ModelState::kReady);
    registry->by_name_[name] = entry.get();
    registry->entries_.push_back(std::move(entry));
  }
  return registry;
}

ModelRegistry::~ModelRegistry() { StopAll(); }

void ModelRegistry::StopAll() {
  for (auto& e : entries_) {
    if (e->batcher) e->batcher->Stop();
  }
}

absl::StatusOr<const ModelEntry*> ModelRegistry::Find(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' not found"));
  }
  return it->second;
}

absl::StatusOr<ModelEntry*> ModelRegistry::Ready(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' not found"));
  }
  if (it->second->state != ModelState::kReady) {
    return absl::UnavailableError(
        absl::StrCat("model '", name, "' is not ready: ", it->second->error.ToString()));
  }
  return it->second;
}

}  // namespace mamba_explain
