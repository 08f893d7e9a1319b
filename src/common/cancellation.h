// Cooperative cancellation of a batch's long computations: the one type the serving layer hands
// through explain into the attribution families, which check it between steps of their long
// loops (gradient batches of IG steps / SmoothGrad samples / target rows and, inside a batch,
// every block of its forward and backward; LaTIM layers and row blocks) and stop with CANCELLED,
// so a cancelled or expired request stops costing compute within one step. Sequences are indexed as
// in the batch (the caller's own numbering). A default-made Cancellation never cancels.
// Cancellation is monotonic: once a sequence reads as cancelled it stays cancelled. Copyable;
// thread-safe as far as the predicate is.
#ifndef MAMBA_EXPLAIN_COMMON_CANCELLATION_H_
#define MAMBA_EXPLAIN_COMMON_CANCELLATION_H_

#include <cstdint>
#include <functional>
#include <utility>

#include "absl/status/status.h"

namespace mamba_explain {

class Cancellation {
 public:
  // True when sequence `sequence` is no longer wanted (client cancelled, deadline passed).
  using Predicate = std::function<bool(int64_t sequence)>;

  Cancellation() = default;
  explicit Cancellation(Predicate cancelled) : cancelled_(std::move(cancelled)) {}

  bool IsCancelled(int64_t sequence) const { return cancelled_ && cancelled_(sequence); }
  // OK while some sequence of [0, n) is still wanted; CANCELLED once none is (then the loop
  // stops: its results would go nowhere).
  absl::Status CheckAny(int64_t n) const {
    if (!cancelled_) return absl::OkStatus();
    for (int64_t s = 0; s < n; ++s) {
      if (!cancelled_(s)) return absl::OkStatus();
    }
    return absl::CancelledError("every sequence of the batch was cancelled");
  }
  // The same check for sequence `sequence` of the batch, renumbered as sequence 0 of a
  // one-sequence computation (the engine runs per-sequence work this way).
  Cancellation ForSequence(int64_t sequence) const {
    if (!cancelled_) return Cancellation();
    Predicate p = cancelled_;
    return Cancellation([p, sequence](int64_t) { return p(sequence); });
  }

 private:
  Predicate cancelled_;
};

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_COMMON_CANCELLATION_H_
