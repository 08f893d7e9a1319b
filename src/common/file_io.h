// Whole-file reads for every layer (model files, tokenizer, TLS material, token lists): one
// function, so a missing file is the same status everywhere. Thread-safe; no caching.
#ifndef MAMBA_EXPLAIN_COMMON_FILE_IO_H_
#define MAMBA_EXPLAIN_COMMON_FILE_IO_H_

#include <string>

#include "absl/status/statusor.h"

namespace mamba_explain {

// The bytes of `path`. NOT_FOUND "cannot open '<path>'" when it cannot be opened (missing or
// unreadable), DATA_LOSS "cannot read '<path>'" when reading fails midway.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_COMMON_FILE_IO_H_
