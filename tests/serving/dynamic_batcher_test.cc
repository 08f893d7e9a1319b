// DynamicBatcher with a recording fake backend: concurrent compatible requests share a batch
// (engine methods always: different methods, parameters, lengths; synthetic ones only with equal
// options), the token budget splits and closes batches, an item failed alone keeps its status,
// priority orders the queue, a full queue is RESOURCE_EXHAUSTED with a retry hint, cancelled and
// expired jobs never reach the backend, cancellation stops a running batch between layers, and
// every job is finished exactly once (also on Stop). No timing asserts: waits are bounded polls on
// observable state.
#include "serving/dynamic_batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "serving/metrics.h"

namespace mamba_explain {
namespace {

class FakeBackend : public ExplainBackend {
 public:
  FakeBackend() {
    info_.n_layers = 4;
    info_.vocab_size = 100;
    info_.methods = {Method::kSyntheticDecay, Method::kSyntheticLogit};
  }
  const BackendInfo& info() const override { return info_; }
  absl::StatusOr<std::vector<int32_t>> Tokenize(const std::string&) const override {
    return absl::FailedPreconditionError("none");
  }
  std::string TokenText(int32_t) const override { return ""; }
  absl::Status Warmup() override { return absl::OkStatus(); }
  // Items whose first id is kFailId fail alone (OnFailed); the others get one matrix per layer
  // of their own options.
  static constexpr int32_t kFailId = 99;
  // Items whose first id is kEarlyId are done at once (OnDone, no results), before the batch's
  // other work (which may block on release_).
  static constexpr int32_t kEarlyId = 98;
  absl::Status ExplainBatch(const std::vector<BatchItem>& items, BatchSink* sink) override {
    const int n = static_cast<int>(items.size());
    {
      absl::MutexLock lock(&mu_);
      std::vector<int32_t> first_ids;
      std::vector<std::vector<Method>> methods;
      for (const auto& item : items) {
        first_ids.push_back(item.input.ids[0]);
        methods.push_back(item.options.methods);
      }
      batches_.push_back(first_ids);
      methods_.push_back(methods);
    }
    std::vector<bool> failed(n, false);
    for (int i = 0; i < n; ++i) {
      if (items[i].input.ids[0] == kEarlyId) {
        failed[i] = true;  // nothing more for it
        sink->OnDone(i);
      }
    }
    if (block_) release_.WaitForNotification();
    for (int i = 0; i < n; ++i) {
      if (items[i].input.ids[0] == kFailId) {
        failed[i] = true;
        sink->OnFailed(i, absl::ResourceExhaustedError("out of memory in this item's call"));
      }
    }
    for (int32_t layer : items.front().options.layers) {
      if (sink->AllCancelled(n)) return absl::CancelledError("stopped");
      for (int i = 0; i < n; ++i) {
        if (failed[i] || sink->IsCancelled(i)) continue;
        LayerMatrix m;
        m.method = MethodName(items[i].options.methods[0]);
        m.layer = layer;
        m.rows = items[i].input.target_rows;
        m.cols = static_cast<int64_t>(items[i].input.ids.size());
        m.values.assign(m.rows.size() * m.cols, 1.f);
        sink->OnLayer(i, std::move(m));
      }
      ++layers_run_;
    }
    return absl::OkStatus();
  }
  std::vector<std::vector<int32_t>> batches() {
    absl::MutexLock lock(&mu_);
    return batches_;
  }
  std::vector<std::vector<std::vector<Method>>> methods() {
    absl::MutexLock lock(&mu_);
    return methods_;
  }
  bool block_ = false;
  absl::Notification release_;
  std::atomic<int> layers_run_{0};

 private:
  BackendInfo info_;
  absl::Mutex mu_;
  std::vector<std::vector<int32_t>> batches_;
  std::vector<std::vector<std::vector<Method>>> methods_;  // per batch, per item
};

class RecordingSink : public JobSink {
 public:
  void OnLayer(LayerMatrix m) override {
    ++layers;
    absl::MutexLock lock(&mu);
    methods.insert(m.method);
  }
  void OnTokenScores(TokenScoreRows) override {}
  bool IsCancelled() const override { return cancelled.load(); }
  void OnFinished(absl::Status s, const JobStats& st) override {
    status = s;
    stats = st;
    ++finished;
    done.Notify();
  }
  std::atomic<int> layers{0};
  std::atomic<int> finished{0};
  std::atomic<bool> cancelled{false};
  absl::Status status;
  JobStats stats;
  absl::Notification done;
  absl::Mutex mu;
  std::set<std::string> methods;  // of the results received
};

std::unique_ptr<ExplainJob> MakeJob(int32_t first_id, RecordingSink* sink, int priority = 0,
                                    Method method = Method::kSyntheticDecay) {
  auto job = std::make_unique<ExplainJob>();
  job->options.methods = {method};
  job->options.layers = {0, 1, 2, 3};
  job->input.ids = {first_id, 1, 2};
  job->input.target_rows = {0, 1, 2};
  job->priority = priority;
  job->sink = sink;
  return job;
}

void Wait(RecordingSink& s) {
  ASSERT_TRUE(s.done.WaitForNotificationWithTimeout(absl::Seconds(30)));
}

// Engine methods never split a batch (issue 11): requests with different methods, parameters,
// layers, rows, lengths and memory budgets share one, each keeping its own options (the backend
// plans the family calls, serving/batch_plan.h) and getting only its own results.
TEST(DynamicBatcherTest, DifferentMethodsRowsLengthsAndBudgetsShareOneBatch) {
  FakeBackend backend;
  BatcherOptions options;
  options.max_batch_size = 3;
  options.max_queue_delay = absl::Seconds(30);  // only a full batch dispatches early
  auto batcher = DynamicBatcher::Create(options, &backend, nullptr);
  ASSERT_TRUE(batcher.ok());
  RecordingSink sinks[3];
  const Method methods[3] = {Method::kLatimL2, Method::kGradientXInput,
                             Method::kIntegratedGradients};
  const int64_t budgets[3] = {int64_t{8} << 20, int64_t{2} << 20, int64_t{4} << 20};
  for (int i = 0; i < 3; ++i) {
    auto job = MakeJob(20 + i, &sinks[i], 0, methods[i]);
    job->options.memory_budget_bytes = budgets[i];
    job->options.params.ig_steps = 3 + i;
    job->input.ids.resize(3 + i, 1);  // lengths 3, 4, 5
    job->input.target_rows = {static_cast<int32_t>(i)};
    ASSERT_TRUE((*batcher)->Enqueue(std::move(job)).ok());
  }
  for (auto& s : sinks) Wait(s);
  ASSERT_EQ(backend.batches().size(), 1u);
  EXPECT_EQ(backend.batches()[0].size(), 3u);
  ASSERT_EQ(backend.methods()[0].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(backend.methods()[0][i], std::vector<Method>{methods[i]}) << i;
    EXPECT_TRUE(sinks[i].status.ok()) << sinks[i].status;
    EXPECT_EQ(sinks[i].stats.batch_size, 3);
    EXPECT_EQ(sinks[i].methods, std::set<std::string>{MethodName(methods[i])}) << i;
  }
}

// The synthetic methods keep every option in the key (their backend runs a batch as one call).
TEST(DynamicBatcherTest, SyntheticMethodsWithDifferentOptionsDoNotShareABatch) {
  FakeBackend backend;
  BatcherOptions options;
  options.max_batch_size = 2;
  options.max_queue_delay = absl::Milliseconds(100);
  auto batcher = DynamicBatcher::Create(options, &backend, nullptr);
  ASSERT_TRUE(batcher.ok());
  RecordingSink a, b;
  auto job = MakeJob(1, &a);
  ASSERT_TRUE((*batcher)->Enqueue(std::move(job)).ok());
  job = MakeJob(2, &b);
  job->options.params.seed = 7;
  ASSERT_TRUE((*batcher)->Enqueue(std::move(job)).ok());
  Wait(a);
  Wait(b);
  ASSERT_EQ(backend.batches().size(), 2u);
}

// A request the backend fails alone ends with its own status; the batch's others succeed.
TEST(DynamicBatcherTest, AnItemFailedAloneEndsWithItsOwnStatus) {
  FakeBackend backend;
  BatcherOptions options;
  options.max_batch_size = 2;
  options.max_queue_delay = absl::Seconds(30);
  auto batcher = DynamicBatcher::Create(options, &backend, nullptr);
  ASSERT_TRUE(batcher.ok());
  RecordingSink ok, failing;
  ASSERT_TRUE((*batcher)->Enqueue(MakeJob(1, &ok, 0, Method::kLatimL2)).ok());
  ASSERT_TRUE(
      (*batcher)->Enqueue(MakeJob(FakeBackend::kFailId, &failing, 0, Method::kSmoothGrad)).ok());
  Wait(ok);
  Wait(failing);
  ASSERT_EQ(backend.batches().size(), 1u);
  EXPECT_TRUE(ok.status.ok()) << ok.status;
  EXPECT_EQ(ok.layers.load(), 4);
  EXPECT_EQ(failing.status.code(), absl::StatusCode::kResourceExhausted) << failing.status;
  EXPECT_EQ(failing.layers.load(), 0);
}

// A request whose results are all out (its last family call ran) finishes before the rest of
// its batch is computed.
TEST(DynamicBatcherTest, AnItemDoneEarlyFinishesBeforeTheBatchEnds) {
  FakeBackend backend;
  backend.block_ = true;
  BatcherOptions options;
  options.max_batch_size = 2;
  options.max_queue_delay = absl::Seconds(30);
  auto batcher = DynamicBatcher::Create(options, &backend, nullptr);
  ASSERT_TRUE(batcher.ok());
  RecordingSink early, late;
  ASSERT_TRUE(
      (*batcher)->Enqueue(MakeJob(FakeBackend::kEarlyId, &early, 0, Method::kLatimL2)).ok());
  ASSERT_TRUE((*batcher)->Enqueue(MakeJob(1, &late, 0, Method::kIntegratedGradients)).ok());
  Wait(early);  // while the backend is still blocked inside the batch
  EXPECT_TRUE(early.status.ok()) << early.status;
  EXPECT_EQ(early.stats.batch_size, 2);
  EXPECT_EQ(late.finished.load(), 0);
  backend.release_.Notify();
  Wait(late);
  EXPECT_TRUE(late.status.ok()) << late.status;
  EXPECT_EQ(late.layers.load(), 4);
  EXPECT_EQ(early.finished.load(), 1);
  EXPECT_EQ(early.layers.load(), 0);
}

// --max_batch_tokens closes a batch: once the padded-token budget is full (a queued request left
// out, or not even one more of the longest length would fit) the batch leaves at once instead of
// waiting out max_queue_delay for more requests that could not join it.
TEST(DynamicBatcherTest, TokenBudgetClosesABatchWithoutWaiting) {
  FakeBackend backend;
  BatcherOptions options;
  options.max_batch_size = 8;
  options.max_batch_tokens = 7;                 // two 3-token sequences, not three
  options.max_queue_delay = absl::Seconds(60);  // the test's wait is shorter
  auto batcher = DynamicBatcher::Create(options, &backend, nullptr);
  ASSERT_TRUE(batcher.ok());
  RecordingSink a, b;
  ASSERT_TRUE((*batcher)->Enqueue(MakeJob(1, &a)).ok());
  ASSERT_TRUE((*batcher)->Enqueue(MakeJob(2, &b)).ok());
  ASSERT_TRUE(a.done.WaitForNotificationWithTimeout(absl::Seconds(20)))
      << "a batch the token budget filled waited for max_queue_delay";
  ASSERT_TRUE(b.done.WaitForNotificationWithTimeout(absl::Seconds(20)));
  ASSERT_EQ(backend.batches().size(), 1u);
  EXPECT_EQ(backend.batches()[0], (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(a.stats.batch_tokens, 6);
}

TEST(DynamicBatcherTest, ConcurrentCompatibleRequestsShareABatch) {
  FakeBackend backend;
  BatcherOptions options;
  options.max_batch_size = 4;
  options.max_queue_delay = absl::Seconds(30);  // only a full batch dispatches early
  auto batcher = DynamicBatcher::Create(options, &backend, nullptr);
  ASSERT_TRUE(batcher.ok());
  RecordingSink sinks[4];
  for (int i = 0; i < 4; ++i) ASSERT_TRUE((*batcher)->Enqueue(MakeJob(10 + i, &sinks[i])).ok());
  for (auto& s : sinks) Wait(s);
  ASSERT_EQ(backend.batches().size(), 1u);
  EXPECT_EQ(backend.batches()[0], (std::vector<int32_t>{10, 11, 12, 13}));
  for (auto& s : sinks) {
    EXPECT_TRUE(s.status.ok()) << s.status;
    EXPECT_EQ(s.stats.batch_size, 4);
    EXPECT_EQ(s.layers.load(), 4);
    EXPECT_EQ(s.finished.load(), 1);
  }
}

TEST(DynamicBatcherTest, IncompatibleOptionsRunInSeparateBatchesAndTokenBudgetSplits) {
  FakeBackend backend;
  BatcherOptions options;
  options.max_batch_size = 8;
  options.max_batch_tokens = 6;  // two 3-token sequences per batch
  options.max_queue_delay = absl::Milliseconds(200);
  auto batcher = DynamicBatcher::Create(options, &backend, nullptr);
  ASSERT_TRUE(batcher.ok());
  RecordingSink a, b, c, d;
  ASSERT_TRUE((*batcher)->Enqueue(MakeJob(1, &a)).ok());
  ASSERT_TRUE((*batcher)->Enqueue(MakeJob(2, &b, 0, Method::kSyntheticLogit)).ok());
  ASSERT_TRUE((*batcher)->Enqueue(MakeJob(3, &c)).ok());
  ASSERT_TRUE((*batcher)->Enqueue(MakeJob(4, &d)).ok());
  Wait(a);
  Wait(b);
  Wait(c);
  Wait(d);
  ASSERT_GE(backend.batches().size(), 3u);
  for (const auto& batch : backend.batches()) {
    EXPECT_LE(batch.size(), 2u);
    for (int32_t id : batch) EXPECT_TRUE(batch.size() == 1 || id != 2) << "mixed options";
  }
}

TEST(DynamicBatcherTest, HigherPriorityIsServedFirst) {
  FakeBackend backend;
  backend.block_ = true;
  BatcherOptions options;
  options.max_batch_size = 1;
  options.max_queue_delay = absl::ZeroDuration();
  auto batcher = DynamicBatcher::Create(options, &backend, nullptr);
  ASSERT_TRUE(batcher.ok());
  RecordingSink first, low, high;
  ASSERT_TRUE((*batcher)->Enqueue(MakeJob(1, &first)).ok());
  for (int i = 0; i < 3000 && backend.batches().empty(); ++i)
    absl::SleepFor(absl::Milliseconds(10));
  ASSERT_EQ(backend.batches().size(), 1u);  // the worker is busy with job 1
  ASSERT_TRUE((*batcher)->Enqueue(MakeJob(2, &low, 0)).ok());
  ASSERT_TRUE((*batcher)->Enqueue(MakeJob(3, &high, 5)).ok());
  backend.release_.Notify();
  Wait(first);
  Wait(low);
  Wait(high);
  ASSERT_EQ(backend.batches().size(), 3u);
  EXPECT_EQ(backend.batches()[1][0], 3);
  EXPECT_EQ(backend.batches()[2][0], 2);
}

TEST(DynamicBatcherTest, FullQueueIsResourceExhaustedWithRetryHint) {
  FakeBackend backend;
  backend.block_ = true;
  BatcherOptions options;
  options.max_batch_size = 1;
  options.max_queue = 1;
  options.max_queue_delay = absl::ZeroDuration();
  auto batcher = DynamicBatcher::Create(options, &backend, nullptr);
  ASSERT_TRUE(batcher.ok());
  RecordingSink running, queued, rejected;
  ASSERT_TRUE((*batcher)->Enqueue(MakeJob(1, &running)).ok());
  for (int i = 0; i < 3000 && backend.batches().empty(); ++i)
    absl::SleepFor(absl::Milliseconds(10));
  ASSERT_TRUE((*batcher)->Enqueue(MakeJob(2, &queued)).ok());
  absl::Status s = (*batcher)->Enqueue(MakeJob(3, &rejected));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("retry after"), absl::string_view::npos) << s;
  EXPECT_EQ(rejected.finished.load(), 0);  // a failed Enqueue never calls the sink
  backend.release_.Notify();
  Wait(running);
  Wait(queued);
}

TEST(DynamicBatcherTest, CancelledAndExpiredJobsNeverReachTheBackend) {
  FakeBackend backend;
  backend.block_ = true;
  BatcherOptions options;
  options.max_batch_size = 1;
  options.max_queue_delay = absl::ZeroDuration();
  auto batcher = DynamicBatcher::Create(options, &backend, nullptr);
  ASSERT_TRUE(batcher.ok());
  RecordingSink running, cancelled, expired;
  ASSERT_TRUE((*batcher)->Enqueue(MakeJob(1, &running)).ok());
  for (int i = 0; i < 3000 && backend.batches().empty(); ++i)
    absl::SleepFor(absl::Milliseconds(10));
  ASSERT_TRUE((*batcher)->Enqueue(MakeJob(2, &cancelled)).ok());
  auto job = MakeJob(3, &expired);
  job->deadline = absl::Now() - absl::Seconds(1);
  ASSERT_TRUE((*batcher)->Enqueue(std::move(job)).ok());
  cancelled.cancelled = true;
  backend.release_.Notify();
  Wait(running);
  Wait(cancelled);
  Wait(expired);
  EXPECT_EQ(cancelled.status.code(), absl::StatusCode::kCancelled) << cancelled.status;
  EXPECT_EQ(expired.status.code(), absl::StatusCode::kDeadlineExceeded) << expired.status;
  EXPECT_EQ(backend.batches().size(), 1u);
  EXPECT_EQ(cancelled.layers.load() + expired.layers.load(), 0);
}

TEST(DynamicBatcherTest, CancellationStopsARunningBatchBetweenLayers) {
  FakeBackend backend;
  backend.block_ = true;
  BatcherOptions options;
  options.max_batch_size = 1;
  options.max_queue_delay = absl::ZeroDuration();
  auto batcher = DynamicBatcher::Create(options, &backend, nullptr);
  ASSERT_TRUE(batcher.ok());
  RecordingSink sink;
  ASSERT_TRUE((*batcher)->Enqueue(MakeJob(1, &sink)).ok());
  for (int i = 0; i < 3000 && backend.batches().empty(); ++i)
    absl::SleepFor(absl::Milliseconds(10));
  sink.cancelled = true;  // while the backend is inside the batch
  backend.release_.Notify();
  Wait(sink);
  EXPECT_EQ(sink.status.code(), absl::StatusCode::kCancelled) << sink.status;
  EXPECT_EQ(backend.layers_run_.load(), 0);
}

// The value of the one series of gauge `name` labelled model=`model` (-1 when there is none).
double GaugeValue(const ServingMetrics& metrics, const std::string& name,
                  const std::string& model) {
  for (const prometheus::MetricFamily& family : metrics.registry()->Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        if (label.name == "model" && label.value == model) return metric.gauge.value;
      }
    }
  }
  return -1;
}

// mamba_explain_running_batches covers the whole backend call: a cancelled job's stream ends at
// once, but its batch computes until the backend returns, and the gauge says so (a request sent
// meanwhile waits in the queue).
TEST(DynamicBatcherTest, RunningBatchesGaugeCoversTheBackendCallPastACancelledJob) {
  FakeBackend backend;
  backend.block_ = true;
  ServingMetrics metrics;
  BatcherOptions options;
  options.model_name = "m";
  options.max_batch_size = 1;
  options.max_queue_delay = absl::ZeroDuration();
  auto batcher = DynamicBatcher::Create(options, &backend, &metrics);
  ASSERT_TRUE(batcher.ok());
  EXPECT_EQ(GaugeValue(metrics, "mamba_explain_running_batches", "m"), 0);
  RecordingSink sink;
  ASSERT_TRUE((*batcher)->Enqueue(MakeJob(1, &sink)).ok());
  for (int i = 0; i < 3000 && backend.batches().empty(); ++i)
    absl::SleepFor(absl::Milliseconds(10));
  ASSERT_EQ(backend.batches().size(), 1u);
  EXPECT_EQ(GaugeValue(metrics, "mamba_explain_running_batches", "m"), 1);
  sink.cancelled = true;
  EXPECT_EQ(GaugeValue(metrics, "mamba_explain_running_batches", "m"), 1);
  backend.release_.Notify();
  Wait(sink);
  batcher->reset();  // joins the worker: the batch has ended
  EXPECT_EQ(GaugeValue(metrics, "mamba_explain_running_batches", "m"), 0);
}

TEST(DynamicBatcherTest, StopDrainsQueuedJobsAndRejectsNewOnes) {
  FakeBackend backend;
  BatcherOptions options;
  options.max_queue_delay = absl::Seconds(30);
  options.max_batch_size = 8;
  auto batcher = DynamicBatcher::Create(options, &backend, nullptr);
  ASSERT_TRUE(batcher.ok());
  RecordingSink a, b;
  ASSERT_TRUE((*batcher)->Enqueue(MakeJob(1, &a)).ok());
  ASSERT_TRUE((*batcher)->Enqueue(MakeJob(2, &b)).ok());
  (*batcher)->Stop();
  EXPECT_TRUE(a.status.ok()) << a.status;
  EXPECT_TRUE(b.status.ok()) << b.status;
  EXPECT_EQ(a.finished.load() + b.finished.load(), 2);
  RecordingSink late;
  EXPECT_EQ((*batcher)->Enqueue(MakeJob(3, &late)).code(), absl::StatusCode::kUnavailable);
}

TEST(DynamicBatcherTest, CreateRejectsBadOptions) {
  FakeBackend backend;
  BatcherOptions options;
  options.max_batch_size = 0;
  EXPECT_EQ(DynamicBatcher::Create(options, &backend, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mamba_explain
