// Read-only, memory-mapped safetensors file (research/mamba_reference.md §3).
// Open() validates everything before any tensor is handed out: 8-byte little-endian header length
// (≤ 100 MB and within the file), UTF-8 JSON object, known dtypes, non-negative shapes, data_offsets
// with end - begin == numel × dtype size, entries contiguous from 0 without gaps or overlaps, and
// the last end equal to the data-buffer size. Views stay valid while the file object lives.
// Thread-safe after Open (immutable).
#ifndef MAMBA_EXPLAIN_MODEL_SAFETENSORS_H_
#define MAMBA_EXPLAIN_MODEL_SAFETENSORS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mamba_explain {

enum class DType { kBool, kU8, kI8, kI16, kU16, kF16, kBF16, kI32, kU32, kF32, kF64, kI64, kU64 };

size_t DTypeSize(DType dtype);
const char* DTypeName(DType dtype);  // "F32", ...

struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // points into the mapping; little-endian, row-major
  size_t nbytes = 0;
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  // NOT_FOUND if the file does not exist; INVALID_ARGUMENT naming the file (and tensor) otherwise.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // nullptr when absent.
  const TensorView* Find(const std::string& name) const;
  std::vector<std::string> TensorNames() const;  // sorted
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* mapping_ = nullptr;
  size_t mapping_bytes_ = 0;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Writes a safetensors file (used by the trainer and tests). Tensors are written in the given
// order; the header is padded with spaces to a multiple of 8.
struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;
  size_t nbytes;
};
absl::Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_MODEL_SAFETENSORS_H_
