#include "serving/dynamic_batcher.h"

#include <algorithm>
#include <exception>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace mamba_explain {
namespace {

// Routes a backend's per-item callbacks to the jobs of one batch. An item the backend reports
// done or failed alone is finished at once through `finish` (its client need not wait for the
// rest of the batch).
class JobBatchSink : public BatchSink {
 public:
  using FinishFn = std::function<void(int item, absl::Status status)>;
  JobBatchSink(const std::vector<std::unique_ptr<ExplainJob>>& jobs, FinishFn finish)
      : jobs_(jobs), finish_(std::move(finish)) {}
  void OnLayer(int item, LayerMatrix matrix) override {
    ++layers_;
    jobs_[item]->sink->OnLayer(std::move(matrix));
  }
  void OnTokenScores(int item, TokenScoreRows scores) override {
    ++layers_;
    jobs_[item]->sink->OnTokenScores(std::move(scores));
  }
  // A finished item reads as cancelled: its job's sink may be gone (OnFinished was its last call).
  bool IsCancelled(int item) const override {
    if (finished_[item]) return true;
    const ExplainJob& job = *jobs_[item];
    return job.sink->IsCancelled() || absl::Now() > job.deadline;
  }
  void OnProgress(int item, Method method, int64_t done, int64_t total) override {
    if (!finished_[item]) jobs_[item]->sink->OnProgress(method, done, total);
  }
  void OnFailed(int item, absl::Status status) override { Finish(item, std::move(status)); }
  void OnDone(int item) override { Finish(item, absl::OkStatus()); }
  // Finishes every item not finished yet with `status` (the batch's end).
  void FinishAll(const absl::Status& status) {
    for (int i = 0; i < static_cast<int>(jobs_.size()); ++i) Finish(i, status);
  }
  int64_t layers() const { return layers_; }

 private:
  void Finish(int item, absl::Status status) {
    if (item < 0 || item >= static_cast<int>(jobs_.size()) || finished_[item]) return;
    finished_[item] = true;
    finish_(item, std::move(status));
  }
  const std::vector<std::unique_ptr<ExplainJob>>& jobs_;
  FinishFn finish_;
  std::vector<bool> finished_ = std::vector<bool>(jobs_.size(), false);
  int64_t layers_ = 0;
};

absl::Status DropStatus(const ExplainJob& job) {
  if (absl::Now() > job.deadline) {
    return absl::DeadlineExceededError("deadline passed before the request was computed");
  }
  return absl::CancelledError("request cancelled by the client");
}

}  // namespace

absl::StatusOr<std::unique_ptr<DynamicBatcher>> DynamicBatcher::Create(
    const BatcherOptions& options, ExplainBackend* backend, ServingMetrics* metrics) {
  if (options.max_batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_batch_size=", options.max_batch_size, " must be >= 1"));
  }
  if (options.max_queue < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_queue=", options.max_queue, " must be >= 1"));
  }
  if (options.max_batch_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_batch_tokens=", options.max_batch_tokens, " must be >= 1"));
  }
  if (backend == nullptr) return absl::InvalidArgumentError("backend is null");
  return std::unique_ptr<DynamicBatcher>(new DynamicBatcher(options, backend, metrics));
}

DynamicBatcher::DynamicBatcher(const BatcherOptions& options, ExplainBackend* backend,
                               ServingMetrics* metrics)
    : options_(options), backend_(backend), metrics_(metrics) {
  if (metrics_) metrics_->AddRunningBatches(options_.model_name, 0);  // the series exists at 0
  worker_ = std::thread([this] { Run(); });
}

DynamicBatcher::~DynamicBatcher() { Stop(); }

absl::Status DynamicBatcher::Enqueue(std::unique_ptr<ExplainJob> job) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("server is draining");
    if (static_cast<int>(queue_.size()) >= options_.max_queue) {
      // The queue has room again when the running batch ends (the worker then takes the next
      // batch out of it): hint its expected remainder. A batch past the mean is likely a long
      // one; expect it to run about half as long again as it has so far.
      absl::Duration hint = mean_batch_time_;
      if (running_since_ != absl::InfinitePast()) {
        const absl::Duration elapsed = absl::Now() - running_since_;
        hint = elapsed < mean_batch_time_ ? mean_batch_time_ - elapsed : elapsed / 2;
      }
      return absl::ResourceExhaustedError(
          absl::StrCat("queue of model '", options_.model_name, "' is full (", options_.max_queue,
                       " requests); retry after ",
                       std::max<int64_t>(1, absl::ToInt64Milliseconds(hint)), " ms"));
    }
    job->enqueued = absl::Now();
    job->sequence = next_sequence_++;
    queue_.push_back(std::move(job));
    PublishQueueDepthLocked();
  }
  return absl::OkStatus();
}

void DynamicBatcher::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (worker_.joinable()) worker_.join();
}

int64_t DynamicBatcher::queue_depth() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(queue_.size());
}

void DynamicBatcher::TakeDroppedLocked(std::vector<std::unique_ptr<ExplainJob>>* dropped) {
  const absl::Time now = absl::Now();
  auto keep = queue_.begin();
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if ((*it)->sink->IsCancelled() || now > (*it)->deadline) {
      dropped->push_back(std::move(*it));
    } else {
      *keep++ = std::move(*it);
    }
  }
  queue_.erase(keep, queue_.end());
}

void DynamicBatcher::PublishQueueDepthLocked() const {
  if (metrics_) metrics_->SetQueueDepth(options_.model_name, static_cast<int64_t>(queue_.size()));
}

size_t DynamicBatcher::HeadLocked() const {
  size_t head = 0;
  for (size_t i = 1; i < queue_.size(); ++i) {
    const ExplainJob& a = *queue_[i];
    const ExplainJob& b = *queue_[head];
    if (a.priority > b.priority || (a.priority == b.priority && a.sequence < b.sequence)) {
      head = i;
    }
  }
  return head;
}

std::vector<size_t> DynamicBatcher::GatherLocked(size_t head, bool* token_full) const {
  const std::string key = queue_[head]->options.Key();
  std::vector<size_t> candidates;
  for (size_t i = 0; i < queue_.size(); ++i) {
    if (i != head && queue_[i]->options.Key() == key) candidates.push_back(i);
  }
  std::sort(candidates.begin(), candidates.end(), [this](size_t x, size_t y) {
    const ExplainJob& a = *queue_[x];
    const ExplainJob& b = *queue_[y];
    return a.priority != b.priority ? a.priority > b.priority : a.sequence < b.sequence;
  });
  std::vector<size_t> chosen = {head};
  int64_t longest = static_cast<int64_t>(queue_[head]->input.ids.size());
  bool left_out = false;
  for (size_t i : candidates) {
    if (static_cast<int>(chosen.size()) >= options_.max_batch_size) break;
    const int64_t len = std::max<int64_t>(longest, queue_[i]->input.ids.size());
    if (len * static_cast<int64_t>(chosen.size() + 1) > options_.max_batch_tokens) {
      left_out = true;  // a shorter one may still fit
      continue;
    }
    longest = len;
    chosen.push_back(i);
  }
  // The token budget closes the batch when it left a queued request out, or when not even one
  // more sequence of the batch's longest length would fit: waiting cannot grow it.
  *token_full =
      left_out || longest * static_cast<int64_t>(chosen.size() + 1) > options_.max_batch_tokens;
  return chosen;
}

void DynamicBatcher::Run() {
  while (true) {
    std::vector<std::unique_ptr<ExplainJob>> dropped;
    std::vector<std::unique_ptr<ExplainJob>> batch;
    {
      absl::MutexLock lock(&mu_);
      // Wake at least every 50 ms so cancelled jobs leave the queue promptly.
      mu_.AwaitWithTimeout(absl::Condition(
                               +[](DynamicBatcher* b) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                 return b->stopping_ || !b->queue_.empty();
                               },
                               this),
                           absl::Milliseconds(50));
      TakeDroppedLocked(&dropped);
      if (queue_.empty()) {
        if (stopping_ && dropped.empty()) break;
      } else {
        const size_t head = HeadLocked();
        bool token_full = false;
        std::vector<size_t> chosen = GatherLocked(head, &token_full);
        const absl::Time ready_at = queue_[head]->enqueued + options_.max_queue_delay;
        const bool full = token_full || static_cast<int>(chosen.size()) >= options_.max_batch_size;
        if (full || stopping_ || absl::Now() >= ready_at) {
          std::sort(chosen.begin(), chosen.end());
          for (size_t i : chosen) batch.push_back(std::move(queue_[i]));
          queue_.erase(std::remove(queue_.begin(), queue_.end(), nullptr), queue_.end());
        } else {
          // Wait for more arrivals (or the delay to pass), then decide again.
          std::pair<DynamicBatcher*, size_t> arg(this, queue_.size());
          mu_.AwaitWithDeadline(
              absl::Condition(
                  +[](std::pair<DynamicBatcher*, size_t>* s) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                    return s->first->stopping_ || s->first->queue_.size() != s->second;
                  },
                  &arg),
              ready_at);
        }
      }
      PublishQueueDepthLocked();
    }
    for (auto& job : dropped) {
      JobStats stats;
      stats.queue_time = absl::Now() - job->enqueued;
      job->sink->OnFinished(DropStatus(*job), stats);
    }
    if (!batch.empty()) Execute(std::move(batch));
  }
}

void DynamicBatcher::Execute(std::vector<std::unique_ptr<ExplainJob>> batch) {
  const absl::Time start = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    running_since_ = start;
  }
  if (metrics_) metrics_->AddRunningBatches(options_.model_name, 1);
  // Each job keeps its own options (they share only the key); the backend plans the calls.
  std::vector<BatchItem> items;
  int64_t longest = 0;
  for (auto& job : batch) {
    items.push_back({job->options, job->input});
    longest = std::max<int64_t>(longest, job->input.ids.size());
  }
  JobStats stats;
  stats.batch_size = static_cast<int>(batch.size());
  stats.batch_tokens = longest * static_cast<int64_t>(batch.size());
  // Finishes job i (once: JobBatchSink): with its own failure, or the batch's status; a cancelled
  // or expired job with nothing worse to report gets CANCELLED / DEADLINE_EXCEEDED. Its compute
  // time runs to its finish.
  auto finish = [&](int i, absl::Status status) {
    ExplainJob& job = *batch[i];
    JobStats job_stats = stats;
    job_stats.queue_time = start - job.enqueued;
    job_stats.compute_time = absl::Now() - start;
    if (metrics_) {
      metrics_->ObserveQueue(options_.model_name, absl::ToDoubleSeconds(job_stats.queue_time));
    }
    if ((job.sink->IsCancelled() || absl::Now() > job.deadline) &&
        (status.ok() || absl::IsCancelled(status))) {
      status = DropStatus(job);
    }
    job.sink->OnFinished(std::move(status), job_stats);
  };
  JobBatchSink sink(batch, finish);
  absl::Status status;
  try {
    status = backend_->ExplainBatch(items, &sink);
  } catch (const std::exception& e) {
    status = absl::InternalError(absl::StrCat("backend threw: ", e.what()));
  }
  const absl::Time end = absl::Now();
  stats.compute_time = end - start;
  {
    absl::MutexLock lock(&mu_);
    running_since_ = absl::InfinitePast();
    // The first measurement replaces the initial guess instead of being averaged with it.
    mean_batch_time_ = batches_measured_++ == 0 ? stats.compute_time
                                                : (mean_batch_time_ * 3 + stats.compute_time) / 4;
  }
  if (metrics_) {
    metrics_->ObserveBatch(options_.model_name, stats.batch_size, stats.batch_tokens,
                           absl::ToDoubleSeconds(stats.compute_time));
    metrics_->AddLayersComputed(options_.model_name, sink.layers());
    const DeviceMemoryStats memory = backend_->DeviceMemory();
    metrics_->SetGpuMemoryBytes(memory.used, memory.reserved);
    metrics_->AddRunningBatches(options_.model_name, -1);
  }
  sink.FinishAll(status);
}

}  // namespace mamba_explain
