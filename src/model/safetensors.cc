// safetensors reader (POSIX mmap, read-only) and atomic writer; format in
// research/mamba_reference.md §3. The header is parsed strictly (no Infinity/NaN) with a parser
// callback that rejects duplicate keys, which nlohmann would otherwise silently collapse.
#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {
namespace {

using json = nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr char kMetadataKey[] = "__metadata__";

struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::kBool, "BOOL", 1}, {DType::kU8, "U8", 1},   {DType::kI8, "I8", 1},
    {DType::kI16, "I16", 2},   {DType::kU16, "U16", 2}, {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2}, {DType::kI32, "I32", 4}, {DType::kU32, "U32", 4},
    {DType::kF32, "F32", 4},   {DType::kF64, "F64", 8}, {DType::kI64, "I64", 8},
    {DType::kU64, "U64", 8},
};

bool ParseDType(const std::string& name, DType* dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (name == info.name) {
      *dtype = info.dtype;
      return true;
    }
  }
  return false;
}

absl::Status ErrnoStatus(int err, const std::string& what) {
  const std::string message = absl::StrCat(what, ": ", std::strerror(err));
  if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(message);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
  return absl::InternalError(message);
}

// Product of `shape` (and the dtype size) without overflow; false on overflow or negative dim.
bool CheckedNumel(const std::vector<int64_t>& shape, uint64_t* numel) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return false;
  }
  *numel = n;
  return true;
}

// Parses the header JSON; duplicate keys at any depth are an error.
absl::StatusOr<json> ParseHeader(const char* begin, size_t length, const std::string& path) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  json::parser_callback_t callback = [&](int /*depth*/, json::parse_event_t event,
                                         json& parsed) -> bool {
    switch (event) {
      case json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_objects.empty() && parsed.is_string() &&
            !open_objects.back().insert(parsed.get<std::string>()).second && duplicate.empty()) {
          duplicate = parsed.get<std::string>();
        }
        break;
      default:
        break;
    }
    return true;
  };
  json header;
  try {
    header = json::parse(begin, begin + length, callback);
  } catch (const json::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrCat(path,
                                                   ": safetensors header is not valid JSON (byte ",
                                                   e.byte, " of the header): ", e.what()));
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": safetensors header is not valid JSON: ", e.what()));
  }
  if (!duplicate.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": safetensors header has duplicate key '", duplicate, "'"));
  }
  return header;
}

absl::StatusOr<uint64_t> NonNegativeInt(const json& v, const std::string& what) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  return absl::InvalidArgumentError(
      absl::StrCat(what, " must be a non-negative integer, got ", v.dump()));
}

// Validates one header entry and fills everything but `data`.
absl::Status ParseEntry(const std::string& name, const json& entry, const std::string& path,
                        TensorView* view, uint64_t* begin, uint64_t* end) {
  const std::string where = absl::StrCat(path, ": tensor '", name, "'");
  if (!entry.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": entry must be an object, got ", entry.dump()));
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!entry.contains(key)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": missing '", key, "'"));
    }
  }
  const json& dtype = entry.at("dtype");
  if (!dtype.is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": 'dtype' must be a string, got ", dtype.dump()));
  }
  if (!ParseDType(dtype.get<std::string>(), &view->dtype)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": unsupported dtype '", dtype.get<std::string>(), "'"));
  }
  const json& shape = entry.at("shape");
  if (!shape.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": 'shape' must be an array, got ", shape.dump()));
  }
  view->shape.clear();
  for (size_t i = 0; i < shape.size(); ++i) {
    const json& d = shape[i];
    if (d.is_number_integer() && !d.is_number_unsigned()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": negative dimension shape[", i, "] = ", d.dump()));
    }
    ASSIGN_OR_RETURN(const uint64_t dim,
                     NonNegativeInt(d, absl::StrCat(where, ": shape[", i, "]")));
    if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": shape[", i, "] = ", dim, " is out of range"));
    }
    view->shape.push_back(static_cast<int64_t>(dim));
  }
  const json& offsets = entry.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": 'data_offsets' must be an array [begin, end], got ", offsets.dump()));
  }
  ASSIGN_OR_RETURN(*begin, NonNegativeInt(offsets[0], absl::StrCat(where, ": data_offsets[0]")));
  ASSIGN_OR_RETURN(*end, NonNegativeInt(offsets[1], absl::StrCat(where, ": data_offsets[1]")));
  if (*end < *begin) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": data_offsets end ", *end, " < begin ", *begin));
  }
  uint64_t numel = 0;
  uint64_t nbytes = 0;
  if (!CheckedNumel(view->shape, &numel) ||
      __builtin_mul_overflow(numel, static_cast<uint64_t>(DTypeSize(view->dtype)), &nbytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": shape ", shape.dump(), " overflows the byte count"));
  }
  if (*end - *begin != nbytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": data_offsets [", *begin, ", ", *end, "] span ", *end - *begin,
        " bytes but shape ", shape.dump(), " of ", DTypeName(view->dtype), " needs ", nbytes));
  }
  view->name = name;
  view->nbytes = static_cast<size_t>(nbytes);
  return absl::OkStatus();
}

}  // namespace

size_t DTypeSize(DType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) return info.size;
  }
  return 0;
}

const char* DTypeName(DType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) return info.name;
  }
  return "?";
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile::~SafetensorsFile() {
  if (mapping_ != nullptr) munmap(mapping_, mapping_bytes_);
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("cannot open safetensors file ", path));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoStatus(err, absl::StrCat("cannot stat ", path));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  const uint64_t file_bytes = static_cast<uint64_t>(st.st_size);
  if (file_bytes < 8) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": file is ", file_bytes, " bytes, too short for the 8-byte header length"));
  }
  // The object owns the mapping from here on, so every early return unmaps it.
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  void* mapping = mmap(nullptr, file_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  const int mmap_errno = errno;
  ::close(fd);
  if (mapping == MAP_FAILED) return ErrnoStatus(mmap_errno, absl::StrCat("cannot mmap ", path));
  file->mapping_ = mapping;
  file->mapping_bytes_ = file_bytes;
  const uint8_t* bytes = static_cast<const uint8_t*>(mapping);

  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | bytes[i];
  if (header_bytes > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": header length ", header_bytes,
                                                   " exceeds the limit of ", kMaxHeaderBytes));
  }
  if (header_bytes > file_bytes - 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": header length ", header_bytes, " exceeds the file size ", file_bytes, " minus 8"));
  }
  ASSIGN_OR_RETURN(const json header,
                   ParseHeader(reinterpret_cast<const char*>(bytes + 8), header_bytes, path));
  if (!header.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": safetensors header must be a JSON object, got ", header.type_name()));
  }
  const uint64_t data_bytes = file_bytes - 8 - header_bytes;
  const uint8_t* data = bytes + 8 + header_bytes;

  struct Span {
    uint64_t begin;
    uint64_t end;
    const std::string* name;
  };
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == kMetadataKey) {
      if (!it.value().is_object()) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": '__metadata__' must be an object of strings, got ", it.value().dump()));
      }
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string()) {
          return absl::InvalidArgumentError(absl::StrCat(path, ": '__metadata__' value for '",
                                                         m.key(), "' must be a string, got ",
                                                         m.value().dump()));
        }
        file->metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    TensorView view;
    uint64_t begin = 0;
    uint64_t end = 0;
    RETURN_IF_ERROR(ParseEntry(it.key(), it.value(), path, &view, &begin, &end));
    if (end > data_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor '", it.key(), "': data_offsets end ", end,
                       " is beyond the data buffer of ", data_bytes, " bytes"));
    }
    view.data = data + begin;
    auto inserted = file->tensors_.emplace(it.key(), std::move(view));
    spans.push_back({begin, end, &inserted.first->first});
  }

  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  const std::string* previous = nullptr;
  for (const Span& span : spans) {
    if (span.begin > expected) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": gap in the data buffer: tensor '", *span.name, "' begins at ",
                       span.begin, " but the previous tensor ends at ", expected));
    }
    if (span.begin < expected) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": tensor '", *span.name, "' [", span.begin, ", ", span.end, ") overlaps tensor '",
          previous != nullptr ? *previous : "", "' ending at ", expected));
    }
    expected = span.end;
    previous = span.name;
  }
  if (expected != data_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": data buffer has ", data_bytes,
                                                   " bytes but the tensors cover ", expected, " (",
                                                   data_bytes - expected, " trailing bytes)"));
  }
  return file;
}

const TensorView* SafetensorsFile::Find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

std::vector<std::string> SafetensorsFile::TensorNames() const {
  std::vector<std::string> names;
  names.reserve(tensors_.size());
  for (const auto& entry : tensors_) names.push_back(entry.first);
  return names;
}

absl::Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) {
    json meta = json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header[kMetadataKey] = std::move(meta);
  }
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    const std::string where = absl::StrCat(path, ": tensor '", t.name, "'");
    if (t.name.empty() || t.name == kMetadataKey) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": invalid tensor name '", t.name, "'"));
    }
    if (header.contains(t.name)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": written twice"));
    }
    if (DTypeSize(t.dtype) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": unknown dtype"));
    }
    uint64_t numel = 0;
    uint64_t nbytes = 0;
    if (!CheckedNumel(t.shape, &numel) ||
        __builtin_mul_overflow(numel, static_cast<uint64_t>(DTypeSize(t.dtype)), &nbytes)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": negative or overflowing shape"));
    }
    if (nbytes != t.nbytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": nbytes ", t.nbytes, " but shape and dtype need ", nbytes));
    }
    if (nbytes > 0 && t.data == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": null data"));
    }
    header[t.name] = {{"dtype", DTypeName(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string header_text;
  try {
    header_text = header.dump();
  } catch (const json::exception& e) {  // e.g. a name that is not valid UTF-8
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot serialise safetensors header: ", e.what()));
  }
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  uint8_t length_bytes[8];
  for (int i = 0; i < 8; ++i) {
    length_bytes[i] = static_cast<uint8_t>(static_cast<uint64_t>(header_text.size()) >> (8 * i));
  }

  const std::string temp_path = absl::StrCat(path, ".tmp.", ::getpid());
  const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("cannot create ", temp_path));
  auto write_all = [fd](const void* buffer, size_t size) -> int {
    const char* p = static_cast<const char*>(buffer);
    while (size > 0) {
      const ssize_t n = ::write(fd, p, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      p += n;
      size -= static_cast<size_t>(n);
    }
    return 0;
  };
  int err = write_all(length_bytes, sizeof(length_bytes));
  if (err == 0) err = write_all(header_text.data(), header_text.size());
  for (size_t i = 0; err == 0 && i < tensors.size(); ++i) {
    if (tensors[i].nbytes > 0) err = write_all(tensors[i].data, tensors[i].nbytes);
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && std::rename(temp_path.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(temp_path.c_str());
    return ErrnoStatus(err, absl::StrCat("cannot write safetensors file ", path));
  }
  return absl::OkStatus();
}

}  // namespace mamba_explain
