// ServingMetrics: the Prometheus metrics of the server (DESIGN §6), registered in one
// prometheus::Registry that the server exposes on /metrics. Names use base units and the
// mamba_explain_ prefix; labels are low-cardinality (model, method = RPC name, code = gRPC code
// name, stage). A model label value is a name given to SetModelReady (the repository's models),
// "" (no model) or "unknown": a client choosing model names cannot grow the series (each series
// lives as long as the process). Thread-safe (prometheus-cpp children are atomic, the known names
// are under a mutex); the object must outlive every component that records into it.
#ifndef MAMBA_EXPLAIN_SERVING_METRICS_H_
#define MAMBA_EXPLAIN_SERVING_METRICS_H_

#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace mamba_explain {

class ServingMetrics {
 public:
  ServingMetrics();
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // `model` outside the known names (and not "") is recorded as "unknown".
  void RequestFinished(const std::string& rpc, const std::string& model, const std::string& code);
  void SetQueueDepth(const std::string& model, int64_t depth);
  // +1 when a batch of `model` starts computing, -1 when its backend call returns (its layer
  // results are counted by then).
  void AddRunningBatches(const std::string& model, int64_t delta);
  // Also makes `model` a known label value (the registry calls it for every model it lists).
  void SetModelReady(const std::string& model, bool ready);
  // +1 when an Explain stream opens, -1 when it ends. Deltas, not a value set after counting
  // elsewhere: two streams ending and starting at once cannot leave a stale count behind.
  void AddInflightStreams(int64_t delta);
  void ObserveBatch(const std::string& model, int batch_size, int64_t tokens, double compute_s);
  void ObserveQueue(const std::string& model, double seconds);
  void ObserveStream(const std::string& model, double seconds);
  void ObserveRequest(const std::string& model, double seconds);
  void AddLayersComputed(const std::string& model, int64_t n);
  void AddStreamed(int64_t messages, int64_t bytes);
  void SetGpuMemoryBytes(int64_t used, int64_t reserved);

 private:
  std::string ModelLabel(const std::string& model) const ABSL_LOCKS_EXCLUDED(known_mu_);

  mutable absl::Mutex known_mu_;
  std::set<std::string> known_models_ ABSL_GUARDED_BY(known_mu_);
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  prometheus::Family<prometheus::Gauge>& running_batches_;
  prometheus::Family<prometheus::Gauge>& model_ready_;
  prometheus::Gauge& inflight_;
  prometheus::Family<prometheus::Histogram>& batch_size_;
  prometheus::Family<prometheus::Histogram>& queue_seconds_;
  prometheus::Family<prometheus::Histogram>& compute_seconds_;
  prometheus::Family<prometheus::Histogram>& stream_seconds_;
  prometheus::Family<prometheus::Histogram>& request_seconds_;
  prometheus::Family<prometheus::Counter>& tokens_;
  prometheus::Family<prometheus::Gauge>& tokens_per_second_;
  prometheus::Family<prometheus::Counter>& layers_;
  prometheus::Family<prometheus::Counter>& executions_;
  prometheus::Counter& stream_messages_;
  prometheus::Counter& stream_bytes_;
  prometheus::Family<prometheus::Gauge>& gpu_memory_;
};

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVING_METRICS_H_
