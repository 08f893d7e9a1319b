// DynamicBatcher: one model's bounded request queue and the worker thread that runs batches on
// its ExplainBackend (DESIGN §2 steps 3-5). Jobs are ordered by priority (higher first), FIFO
// within a priority. A batch takes the head job plus compatible jobs (equal BatchOptions::Key: for
// engine methods, any job; each keeps its own options and the backend splits the batch into
// family calls) up to max_batch_size and max_batch_tokens (padded tokens: batch_size x longest
// sequence), waiting at most max_queue_delay after the head's arrival for more to come; a batch
// that either limit closes (no queued or future job could join it) leaves at once. Cancelled or
// expired jobs are finished (CANCELLED / DEADLINE_EXCEEDED) before they cost compute; a job the
// backend fails alone (BatchSink::OnFailed) ends at once with its own status, and one the backend
// reports done (BatchSink::OnDone: its last family call ran) finishes before the rest of its batch.
// Ownership: a successful Enqueue takes the job; the batcher then calls its sink's OnFinished
// exactly once, as the last call on that sink. A failed Enqueue never calls the sink.
// Thread-safe. Stop() finishes every queued job (drains), then joins the worker.
#ifndef MAMBA_EXPLAIN_SERVING_DYNAMIC_BATCHER_H_
#define MAMBA_EXPLAIN_SERVING_DYNAMIC_BATCHER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "serving/explain_backend.h"
#include "serving/explain_types.h"
#include "serving/metrics.h"

namespace mamba_explain {

struct BatcherOptions {
  std::string model_name;
  int max_batch_size = 8;
  int64_t max_batch_tokens = 16384;
  absl::Duration max_queue_delay = absl::Milliseconds(5);
  int max_queue = 64;
};

// What the batcher reports to a job when it finishes.
struct JobStats {
  absl::Duration queue_time;    // enqueue -> compute start (or drop)
  absl::Duration compute_time;  // the batch's compute, up to this job's finish
  int batch_size = 0;
  int64_t batch_tokens = 0;
};

// Implemented by the transport. OnLayer/OnTokenScores/OnFinished run on the worker thread.
// OnLayer/OnTokenScores may block while the transport applies backpressure to a slow reader
// (bounded by its stall timeout, the request deadline and cancellation); OnFinished must not
// block. IsCancelled may be called from any thread.
class JobSink {
 public:
  virtual ~JobSink() = default;
  virtual void OnLayer(LayerMatrix matrix) = 0;
  virtual void OnTokenScores(TokenScoreRows scores) = 0;
  virtual bool IsCancelled() const = 0;
  virtual void OnFinished(absl::Status status, const JobStats& stats) = 0;
  // Progress inside a long method (BatchSink::OnProgress); advice, may be dropped.
  virtual void OnProgress(Method method, int64_t done, int64_t total) {}
};

struct ExplainJob {
  BatchOptions options;
  ExplainInput input;
  int32_t priority = 0;
  absl::Time deadline = absl::InfiniteFuture();
  JobSink* sink = nullptr;  // not owned; must stay valid until OnFinished returns
  // Set by the batcher.
  absl::Time enqueued;
  uint64_t sequence = 0;
};

class DynamicBatcher {
 public:
  // backend and metrics (may be null) must outlive the batcher.
  static absl::StatusOr<std::unique_ptr<DynamicBatcher>> Create(const BatcherOptions& options,
                                                                ExplainBackend* backend,
                                                                ServingMetrics* metrics);
  ~DynamicBatcher();  // Stop()s

  // RESOURCE_EXHAUSTED (with a retry hint) when the queue is full; UNAVAILABLE once stopping.
  absl::Status Enqueue(std::unique_ptr<ExplainJob> job) ABSL_LOCKS_EXCLUDED(mu_);
  // Stops admitting, runs what is queued, joins the worker. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);
  int64_t queue_depth() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  DynamicBatcher(const BatcherOptions& options, ExplainBackend* backend, ServingMetrics* metrics);
  void Run();
  // Removes cancelled/expired jobs from the queue into `dropped`.
  void TakeDroppedLocked(std::vector<std::unique_ptr<ExplainJob>>* dropped)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Index of the next job to serve (highest priority, oldest); queue must be non-empty.
  size_t HeadLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sets the queue-depth gauge from queue_. Under mu_: set after unlocking, Enqueue's 1 could land
  // after the worker took the job and set 0, and the gauge (the HPA's metric) would read 1 for as
  // long as that batch runs.
  void PublishQueueDepthLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Compatible jobs for a batch headed by queue_[head], within the limits; *token_full is set when
  // max_batch_tokens closes the batch (no more requests could join it).
  std::vector<size_t> GatherLocked(size_t head, bool* token_full) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Execute(std::vector<std::unique_ptr<ExplainJob>> batch);

  const BatcherOptions options_;
  ExplainBackend* const backend_;
  ServingMetrics* const metrics_;

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<ExplainJob>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  // For the retry hint of a full queue: moving mean of batch compute time, how many batches it
  // has seen, and when the running batch started (InfinitePast when none runs).
  absl::Duration mean_batch_time_ ABSL_GUARDED_BY(mu_) = absl::Milliseconds(100);
  int64_t batches_measured_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time running_since_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::thread worker_;
};

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVING_DYNAMIC_BATCHER_H_
