#include "client/perf_load.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <memory>
#include <set>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace mamba_explain {

RequestSource::RequestSource(std::vector<v1::ExplainRequest> templates,
                             std::vector<int32_t> input_lengths, int32_t vocab_size, uint64_t seed)
    : templates_(std::move(templates)),
      input_lengths_(std::move(input_lengths)),
      vocab_size_(vocab_size),
      rng_(seed) {}

v1::ExplainRequest RequestSource::Next() {
  std::uniform_int_distribution<size_t> pick_template(0, templates_.size() - 1);
  std::uniform_int_distribution<size_t> pick_length(0, input_lengths_.size() - 1);
  std::uniform_int_distribution<int32_t> pick_id(0, vocab_size_ - 1);
  v1::ExplainRequest request = templates_[pick_template(rng_)];
  const int32_t length = input_lengths_[pick_length(rng_)];
  request.clear_token_ids();
  request.mutable_token_ids()->Reserve(length);
  for (int32_t i = 0; i < length; ++i) request.add_token_ids(pick_id(rng_));
  request.set_request_id(absl::StrCat("perf-", issued_++));
  return request;
}

namespace {

class ExplainCall;

// The shared state of one level. Calls hold it by shared_ptr, so it outlives the last reaction
// even when RunLoadLevel has returned (a call cancelled at drain may finish later).
class LoadLevel : public std::enable_shared_from_this<LoadLevel> {
 public:
  LoadLevel(v1::Explainer::Stub* stub, const Connection& connection, RequestSource* source,
            const LoadLevelOptions& options)
      : stub_(stub), connection_(&connection), source_(source), options_(options) {}

  void Begin(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    window_start_ = now;
    measure_start_ = now + options_.warmup;
    measure_end_ = measure_start_ + options_.measurement;
  }
  absl::Time measure_start() const { return measure_start_; }
  absl::Time measure_end() const { return measure_end_; }

  // Starts one request (open loop: one arrival; closed loop: one of the initial slots).
  void Issue() ABSL_LOCKS_EXCLUDED(mu_);
  // `call` is finishing: CancelAll no longer reaches it (it is deleted next).
  void Detach(ExplainCall* call) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    live_.erase(call);
  }
  // A call ended (and is deleted); in a closed loop this starts the next request. The count of
  // calls in flight drops only here, after the call's ClientContext is gone, so the owner never
  // tears the channel down under a live context.
  void Completed(RequestSample sample) ABSL_LOCKS_EXCLUDED(mu_);

  void StopIssuing() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    issuing_ = false;
  }
  // True when nothing is in flight before `deadline`.
  bool AwaitIdle(absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithDeadline(absl::Condition(
                                     +[](int64_t* n) { return *n == 0; }, &in_flight_),
                                 deadline);
  }
  int64_t CancelAll() ABSL_LOCKS_EXCLUDED(mu_);
  LoadProgress Progress(absl::Time now) const ABSL_LOCKS_EXCLUDED(mu_);
  LoadLevelResult TakeResult() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  ExplainCall* NewCallLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  v1::Explainer::Stub* const stub_;
  // Not owned, like stub_: both are used only to start calls, which happens inside RunLoadLevel.
  // (A copy would hold the channel, and the last call to end would then destroy it on a gRPC
  // thread.)
  const Connection* const connection_;
  RequestSource* const source_;
  const LoadLevelOptions options_;
  absl::Time window_start_, measure_start_, measure_end_;  // set once by Begin

  mutable absl::Mutex mu_;
  bool issuing_ ABSL_GUARDED_BY(mu_) = true;
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t max_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<ExplainCall*> live_ ABSL_GUARDED_BY(mu_);
  std::vector<RequestSample> samples_ ABSL_GUARDED_BY(mu_);
  int64_t issued_in_window_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t warmup_completed_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t warmup_errors_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t window_errors_ ABSL_GUARDED_BY(mu_) = 0;
};

// One Explain stream: reads every response, keeps the Summary, reports once in OnDone and
// deletes itself there (the last reaction).
class ExplainCall : public grpc::ClientReadReactor<v1::ExplainResponse> {
 public:
  ExplainCall(std::shared_ptr<LoadLevel> level, v1::ExplainRequest request,
              const Connection& connection)
      : level_(std::move(level)), request_(std::move(request)) {
    connection.Prepare(&context_);
    std::vector<std::string> methods(request_.methods().begin(), request_.methods().end());
    sample_.method = absl::StrJoin(methods, "+");
    sample_.input_length = request_.token_ids_size();
  }

  void Start(v1::Explainer::Stub* stub) {
    sample_.start = absl::Now();
    stub->async()->Explain(&context_, &request_, this);
    StartRead(&response_);
    StartCall();
  }
  void Cancel() { context_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // end of stream: OnDone follows
    ++sample_.messages;
    sample_.response_bytes += static_cast<int64_t>(response_.ByteSizeLong());
    if (response_.has_summary()) {
      sample_.has_summary = true;
      sample_.summary = response_.summary();
    }
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    sample_.end = absl::Now();
    sample_.status_code = static_cast<int>(status.error_code());
    std::shared_ptr<LoadLevel> level = std::move(level_);
    RequestSample sample = std::move(sample_);
    level->Detach(this);
    delete this;
    level->Completed(std::move(sample));
  }

 private:
  std::shared_ptr<LoadLevel> level_;
  grpc::ClientContext context_;
  v1::ExplainRequest request_;
  v1::ExplainResponse response_;
  RequestSample sample_;
};

ExplainCall* LoadLevel::NewCallLocked() {
  ExplainCall* call = new ExplainCall(shared_from_this(), source_->Next(), *connection_);
  live_.insert(call);
  ++in_flight_;
  max_in_flight_ = std::max(max_in_flight_, in_flight_);
  const absl::Time now = absl::Now();
  if (now >= measure_start_ && now < measure_end_) ++issued_in_window_;
  return call;
}

void LoadLevel::Issue() {
  ExplainCall* call = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (!issuing_) return;
    call = NewCallLocked();
  }
  call->Start(stub_);  // outside the lock: a reaction may run before Start returns
}

void LoadLevel::Completed(RequestSample sample) {
  ExplainCall* next = nullptr;
  {
    absl::MutexLock lock(&mu_);
    --in_flight_;
    const bool ok = sample.status_code == 0;
    if (sample.end < measure_start_) {
      ++warmup_completed_;
      warmup_errors_ += !ok;
    } else if (sample.end < measure_end_) {
      window_errors_ += !ok;
      samples_.push_back(std::move(sample));
    }
    if (issuing_ && options_.request_rate <= 0 && absl::Now() < measure_end_) {
      next = NewCallLocked();
    }
  }
  // `next` keeps in_flight_ above zero, so the level's owner is still waiting.
  if (next != nullptr) next->Start(stub_);
}

int64_t LoadLevel::CancelAll() {
  absl::MutexLock lock(&mu_);
  for (ExplainCall* call : live_) call->Cancel();
  return static_cast<int64_t>(live_.size());
}

LoadProgress LoadLevel::Progress(absl::Time now) const {
  absl::MutexLock lock(&mu_);
  LoadProgress p;
  p.measuring = now >= measure_start_;
  p.in_flight = in_flight_;
  if (p.measuring) {
    p.elapsed_s = absl::ToDoubleSeconds(std::min(now, measure_end_) - measure_start_);
    p.window_s = absl::ToDoubleSeconds(options_.measurement);
    p.completed = static_cast<int64_t>(samples_.size());
    p.errors = window_errors_;
  } else {
    p.elapsed_s = absl::ToDoubleSeconds(now - window_start_);
    p.window_s = absl::ToDoubleSeconds(options_.warmup);
    p.completed = warmup_completed_;
    p.errors = warmup_errors_;
  }
  return p;
}

LoadLevelResult LoadLevel::TakeResult() {
  absl::MutexLock lock(&mu_);
  LoadLevelResult r;
  r.samples = std::move(samples_);
  r.window_s = absl::ToDoubleSeconds(options_.measurement);
  r.issued_in_window = issued_in_window_;
  r.max_in_flight = max_in_flight_;
  return r;
}

}  // namespace

absl::StatusOr<LoadLevelResult> RunLoadLevel(v1::Explainer::Stub* stub,
                                             const Connection& connection, RequestSource* source,
                                             const LoadLevelOptions& options,
                                             const ProgressCallback& progress) {
  if (options.request_rate < 0 || (options.request_rate == 0 && options.concurrency < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("concurrency=", options.concurrency,
                                                   " must be >= 1 (or give a request rate)"));
  }
  if (options.measurement <= absl::ZeroDuration() || options.warmup < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the measurement window must be > 0 and warm-up >= 0");
  }
  auto level = std::make_shared<LoadLevel>(stub, connection, source, options);
  const absl::Time begin = absl::Now();
  level->Begin(begin);
  const bool open_loop = options.request_rate > 0;
  std::mt19937_64 arrivals(options.seed ^ 0x9e3779b97f4a7c15ULL);
  std::exponential_distribution<double> gap(open_loop ? options.request_rate : 1.0);
  absl::Time next_arrival = begin;
  if (!open_loop) {
    for (int i = 0; i < options.concurrency; ++i) level->Issue();
  }
  absl::Time next_report = begin + absl::Seconds(1);
  while (true) {
    const absl::Time now = absl::Now();
    if (now >= level->measure_end()) break;
    if (open_loop) {
      while (next_arrival <= now) {  // catch up when sleeping overshot
        level->Issue();
        next_arrival += absl::Seconds(gap(arrivals));
      }
    }
    if (progress && now >= next_report) {
      progress(level->Progress(now));
      next_report += absl::Seconds(1);
    }
    absl::Time wake = std::min(level->measure_end(), next_report);
    if (open_loop) wake = std::min(wake, next_arrival);
    absl::SleepFor(wake - absl::Now());
  }
  level->StopIssuing();
  int64_t cancelled = 0;
  if (!level->AwaitIdle(absl::Now() + options.drain_timeout)) {
    cancelled = level->CancelAll();
    level->AwaitIdle(absl::Now() + absl::Seconds(10));
  }
  LoadLevelResult result = level->TakeResult();
  result.cancelled_at_drain = cancelled;
  // Every call releases its reference as the very last step of its OnDone; wait for that, so no
  // reaction still runs our code when the caller tears the channel down.
  for (int i = 0; i < 1000 && level.use_count() > 1; ++i) absl::SleepFor(absl::Milliseconds(10));
  return result;
}

}  // namespace mamba_explain
