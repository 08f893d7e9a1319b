// Checkpoint: opens model.safetensors.index.json (preferred) or model.safetensors in one directory
// and merges the tensors of all shards into one name -> view map. Each shard is opened (mmapped)
// once; the index is cross-checked against the shards' own headers.
#include "model/checkpoint.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/file_io.h"
#include "common/status_macros.h"
#include "model/lenient_json.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {
namespace {

constexpr char kIndexName[] = "model.safetensors.index.json";
constexpr char kSingleName[] = "model.safetensors";

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// A shard must be a plain file name inside the model directory.
bool IsSafeShardName(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos && name.find("..") == std::string::npos &&
         name.find('\0') == std::string::npos;
}

// Parses the index into tensor -> shard file name.
absl::StatusOr<std::map<std::string, std::string>> ReadIndex(const std::string& index_path) {
  ASSIGN_OR_RETURN(const std::string text, ReadFile(index_path));
  ASSIGN_OR_RETURN(const nlohmann::json index, ParseLenientJson(text, index_path));
  if (!index.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(index_path, ": index must be a JSON object, got ", index.type_name()));
  }
  if (index.contains("metadata") && !index.at("metadata").is_object() &&
      !index.at("metadata").is_null()) {
    return absl::InvalidArgumentError(absl::StrCat(
        index_path, ": 'metadata' must be an object, got ", index.at("metadata").dump()));
  }
  if (!index.contains("weight_map") || !index.at("weight_map").is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(index_path, ": missing or non-object 'weight_map'"));
  }
  const nlohmann::json& weight_map = index.at("weight_map");
  if (weight_map.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(index_path, ": 'weight_map' is empty"));
  }
  std::map<std::string, std::string> shard_of;
  for (auto it = weight_map.begin(); it != weight_map.end(); ++it) {
    if (!it.value().is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(index_path, ": weight_map['", it.key(),
                                                     "'] must be a file name, got ",
                                                     it.value().dump()));
    }
    const std::string shard = it.value().get<std::string>();
    if (!IsSafeShardName(shard)) {
      return absl::InvalidArgumentError(
          absl::StrCat(index_path, ": weight_map['", it.key(), "'] = '", shard,
                       "' is not a plain file name inside the model directory"));
    }
    shard_of[it.key()] = shard;
  }
  return shard_of;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Checkpoint>> Checkpoint::Open(const std::string& model_dir) {
  std::unique_ptr<Checkpoint> checkpoint(new Checkpoint());
  checkpoint->dir_ = model_dir;
  const std::string index_path = absl::StrCat(model_dir, "/", kIndexName);
  const std::string single_path = absl::StrCat(model_dir, "/", kSingleName);

  if (FileExists(index_path)) {
    ASSIGN_OR_RETURN(const auto shard_of, ReadIndex(index_path));
    std::map<std::string, const SafetensorsFile*> shards;  // opened once each
    for (const auto& [tensor, shard] : shard_of) {
      if (shards.count(shard) != 0) continue;
      const std::string shard_path = absl::StrCat(model_dir, "/", shard);
      auto opened = SafetensorsFile::Open(shard_path);
      if (!opened.ok()) {
        if (absl::IsNotFound(opened.status())) {
          return absl::InvalidArgumentError(
              absl::StrCat(index_path, ": shard '", shard, "' (listed for tensor '", tensor,
                           "') does not exist: ", opened.status().message()));
        }
        return opened.status();
      }
      shards[shard] = opened->get();
      checkpoint->files_.push_back(std::move(opened).value());
    }
    for (const auto& [tensor, shard] : shard_of) {
      if (shards.at(shard)->Find(tensor) == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(index_path, ": tensor '", tensor, "' is not in its shard '", shard, "'"));
      }
    }
  } else if (FileExists(single_path)) {
    ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(single_path));
    checkpoint->files_.push_back(std::move(file));
  } else {
    return absl::NotFoundError(
        absl::StrCat("no ", kIndexName, " or ", kSingleName, " in '", model_dir, "'"));
  }

  // Merge; a tensor stored in two files is ambiguous even when the index names one of them.
  std::map<std::string, const SafetensorsFile*> owner;
  for (const auto& file : checkpoint->files_) {
    for (const std::string& name : file->TensorNames()) {
      auto [it, inserted] = owner.emplace(name, file.get());
      if (!inserted) {
        return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' appears in both ",
                                                       it->second->path(), " and ", file->path()));
      }
      checkpoint->tensors_[name] = file->Find(name);
    }
  }
  return checkpoint;
}

const TensorView* Checkpoint::Find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : it->second;
}

std::vector<std::string> Checkpoint::TensorNames() const {
  std::vector<std::string> names;
  names.reserve(tensors_.size());
  for (const auto& entry : tensors_) names.push_back(entry.first);
  return names;
}

}  // namespace mamba_explain
