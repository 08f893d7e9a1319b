// Out-of-memory recognition for LibTorch exceptions, shared by every layer that turns c10::Error
// into a status: such code rethrows out-of-memory so that the explain layer's one error boundary
// (explain/error_boundary.h) reports it as RESOURCE_EXHAUSTED. By type where LibTorch gives one
// (c10::OutOfMemoryError: the CUDA caching allocator); by message only for LibTorch's host
// allocator, which throws a plain c10::Error in every version we build against (1.13 and 2.x).
#ifndef MAMBA_EXPLAIN_KERNELS_OUT_OF_MEMORY_H_
#define MAMBA_EXPLAIN_KERNELS_OUT_OF_MEMORY_H_

#include <c10/util/Exception.h>

#include <string>

namespace mamba_explain {

inline bool IsOutOfMemory(const c10::Error& error) {
  if (dynamic_cast<const c10::OutOfMemoryError*>(&error) != nullptr) return true;
  const std::string message = error.what_without_backtrace();
  return message.find("DefaultCPUAllocator: can't allocate memory") != std::string::npos ||
         message.find("DefaultCPUAllocator: not enough memory") != std::string::npos;
}

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_KERNELS_OUT_OF_MEMORY_H_
