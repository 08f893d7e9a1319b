// The one place where LibTorch exceptions become statuses (STYLE §6): the Engine runs every
// attribution call inside GuardTorch, and nothing below it catches c10::Error. Out-of-memory is
// recognised by exception type — c10::OutOfMemoryError (CUDA caching allocator), std::bad_alloc —
// and, only for LibTorch's host allocator, which throws a plain c10::Error, by its message. It
// becomes RESOURCE_EXHAUSTED after emptying the CUDA cache, so the next batch gets a clean pool;
// every other LibTorch error is INTERNAL with the LibTorch message.
#ifndef MAMBA_EXPLAIN_EXPLAIN_ERROR_BOUNDARY_H_
#define MAMBA_EXPLAIN_EXPLAIN_ERROR_BOUNDARY_H_

#include <torch/torch.h>

#include <new>

#include "absl/status/status.h"

namespace mamba_explain {

// The status of a LibTorch exception caught at the boundary.
absl::Status StatusOfTorchError(const c10::Error& error);
// RESOURCE_EXHAUSTED "out of memory: <what>", after emptying the CUDA cache.
absl::Status OutOfMemoryStatus(const std::string& what);

template <typename Body>
absl::Status GuardTorch(Body&& body) {
  try {
    return body();
  } catch (const c10::Error& e) {
    return StatusOfTorchError(e);
  } catch (const std::bad_alloc&) {
    return OutOfMemoryStatus("host allocation failed");
  }
}

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_EXPLAIN_ERROR_BOUNDARY_H_
