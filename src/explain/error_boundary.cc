#include "explain/error_boundary.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/out_of_memory.h"

#ifdef ME_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace mamba_explain {

absl::Status OutOfMemoryStatus(const std::string& what) {
#ifdef ME_WITH_CUDA
  try {
    c10::cuda::CUDACachingAllocator::emptyCache();  // give the next batch a clean pool
  } catch (...) {
  }
#endif
  return absl::ResourceExhaustedError(absl::StrCat("out of memory: ", what));
}

absl::Status StatusOfTorchError(const c10::Error& error) {
  const std::string message = error.what_without_backtrace();
  if (IsOutOfMemory(error)) {
    return OutOfMemoryStatus(message);
  }
  return absl::InternalError(absl::StrCat("explain: ", message));
}

}  // namespace mamba_explain
