#include "serving/model_registry.h"

#include <algorithm>
#include <exception>
#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"

namespace mamba_explain {

absl::StatusOr<std::unique_ptr<ModelRegistry>> ModelRegistry::Create(const RegistryOptions& options,
                                                                     ServingMetrics* metrics) {
  namespace fs = std::filesystem;
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
    try {
      auto backend = options.factory(name, entry->dir);
      status = backend.status();
      if (status.ok()) {
        entry->backend = *std::move(backend);
        status = entry->backend->Warmup();
      }
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
      entry->error = status;
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
