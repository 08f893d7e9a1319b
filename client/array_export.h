// explain's output as arrays (`--format npz|safetensors`): one file per explanation, the same
// content in both formats, read with numpy.load / safetensors.numpy.load_file (or any reader of
// the two formats). Built from explain's JSON shape (explanation_json.h, offline_commands.cc), so
// both modes export the same arrays.
//
// Arrays (P = "{method}.layer{L}", or "{method}.model" for whole-model results, layer -1):
//   ids                 int32 [N]        the input's token ids
//   P.matrix            float32 [R, N]   token-to-token methods, dense
//   P.data / P.indices / P.indptr        the same matrix as CSR (float32 / int32 / int32 [R+1]),
//                                        instead of P.matrix when `sparse` (remote --top-k,
//                                        --threshold, --mass): the entries the server kept
//   P.scores            float32 [R, N]   per-target methods' relevance rows
//   P.rows              int32 [R]        the explained positions
//   P.targets           int32 [R]        the explained token per row (when the method has one)
//   P.explained_logit   float32 [R]      per-target methods
// Strings: the tokens and an "info" JSON text — the output JSON without its large arrays
// ({"meta", "results": [{"method", "layer", "prefix", "approx_error", ...}], "generated", ...}).
// npz: `tokens` (numpy unicode array '<Uk') and `info` (a 0-d unicode array: str(d["info"]));
// safetensors: the "__metadata__" keys "tokens" (a JSON array) and "info".
// Torch-free, gRPC-free.
#ifndef MAMBA_EXPLAIN_CLIENT_ARRAY_EXPORT_H_
#define MAMBA_EXPLAIN_CLIENT_ARRAY_EXPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {

enum class ArrayFormat { kNpz, kSafetensors };

// One named little-endian array.
struct NamedArray {
  std::string name;
  char kind = 'f';  // 'f' float32, 'i' int32, 'U' UTF-32 strings of `width` code units (npy only)
  std::vector<int64_t> shape;
  int width = 0;
  std::string bytes;  // row-major
};

// The arrays and the info JSON of one explanation (see above). INVALID_ARGUMENT when `out` lacks
// "ids" or a result has ragged rows.
struct ExportedExplanation {
  std::vector<NamedArray> arrays;
  std::vector<std::string> tokens;
  nlohmann::json info;
};
absl::StatusOr<ExportedExplanation> ExportExplanation(const nlohmann::json& out, bool sparse);

// Writes `out` to `path` in `format` (the file is written whole or not at all: a temporary file
// in the same directory is renamed into place). UNIMPLEMENTED for npz in a build without libzip.
absl::Status WriteExplanationArrays(const std::string& path, const nlohmann::json& out,
                                    ArrayFormat format, bool sparse);

// The bytes of a .npy file (format 1.0) holding `array`.
std::string NpyBytes(const NamedArray& array);
// The bytes of a safetensors file of `arrays` with string `metadata`.
std::string SafetensorsBytes(const std::vector<NamedArray>& arrays,
                             const std::vector<std::pair<std::string, std::string>>& metadata);

// Whether this build can write npz (libzip).
bool HaveNpz();

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_CLIENT_ARRAY_EXPORT_H_
