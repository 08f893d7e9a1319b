#include "serving/metrics.h"

namespace mamba_explain {
namespace {

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return *b;
}

}  // namespace

ServingMetrics::ServingMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("mamba_explain_requests_total")
                    .Help("RPCs finished, by RPC method, model and gRPC status code")
                    .Register(*registry_)),
      queue_depth_(prometheus::BuildGauge()
                       .Name("mamba_explain_pending_requests")
                       .Help("Explain requests waiting in the model's queue")
                       .Register(*registry_)),
      running_batches_(prometheus::BuildGauge()
                           .Name("mamba_explain_running_batches")
                           .Help("Batches of the model computing now (a cancelled request's "
                                 "batch runs until its next result)")
                           .Register(*registry_)),
      model_ready_(prometheus::BuildGauge()
                       .Name("mamba_explain_model_ready")
                       .Help("1 when the model is loaded, warmed up and serving")
                       .Register(*registry_)),
      inflight_(prometheus::BuildGauge()
                    .Name("mamba_explain_inflight_streams")
                    .Help("Explain streams open now")
                    .Register(*registry_)
                    .Add({})),
      batch_size_(prometheus::BuildHistogram()
                      .Name("mamba_explain_batch_size")
                      .Help("Requests per executed batch")
                      .Register(*registry_)),
      queue_seconds_(prometheus::BuildHistogram()
                         .Name("mamba_explain_queue_duration_seconds")
                         .Help("Time from admission to the start of compute")
                         .Register(*registry_)),
      compute_seconds_(prometheus::BuildHistogram()
                           .Name("mamba_explain_compute_duration_seconds")
                           .Help("Compute time of one batch (forward pass and methods)")
                           .Register(*registry_)),
      stream_seconds_(prometheus::BuildHistogram()
                          .Name("mamba_explain_stream_duration_seconds")
                          .Help("Time from the first result to the end of the stream")
                          .Register(*registry_)),
      request_seconds_(prometheus::BuildHistogram()
                           .Name("mamba_explain_request_duration_seconds")
                           .Help("Time from admission to the end of an Explain stream")
                           .Register(*registry_)),
      tokens_(prometheus::BuildCounter()
                  .Name("mamba_explain_tokens_processed_total")
                  .Help("Padded tokens run through the model (rate() gives tokens/s)")
                  .Register(*registry_)),
      tokens_per_second_(prometheus::BuildGauge()
                             .Name("mamba_explain_tokens_per_second")
                             .Help("Throughput of the last batch")
                             .Register(*registry_)),
      layers_(prometheus::BuildCounter()
                  .Name("mamba_explain_layer_results_total")
                  .Help("(method, layer) results computed and delivered to streams")
                  .Register(*registry_)),
      executions_(prometheus::BuildCounter()
                      .Name("mamba_explain_executions_total")
                      .Help("Batches executed")
                      .Register(*registry_)),
      stream_messages_(prometheus::BuildCounter()
                           .Name("mamba_explain_stream_messages_total")
                           .Help("Explain response messages written")
                           .Register(*registry_)
                           .Add({})),
      stream_bytes_(prometheus::BuildCounter()
                        .Name("mamba_explain_stream_bytes_total")
                        .Help("Serialized bytes of Explain response messages written")
                        .Register(*registry_)
                        .Add({})),
      gpu_memory_(prometheus::BuildGauge()
                      .Name("mamba_explain_gpu_memory_bytes")
                      .Help("GPU memory of the process (state = used | reserved)")
                      .Register(*registry_)) {
  gpu_memory_.Add({{"state", "used"}});
  gpu_memory_.Add({{"state", "reserved"}});
}

std::string ServingMetrics::ModelLabel(const std::string& model) const {
  if (model.empty()) return model;
  absl::MutexLock lock(&known_mu_);
  return known_models_.count(model) ? model : "unknown";
}

void ServingMetrics::RequestFinished(const std::string& rpc, const std::string& model,
                                     const std::string& code) {
  requests_.Add({{"method", rpc}, {"model", ModelLabel(model)}, {"code", code}}).Increment();
}

void ServingMetrics::SetQueueDepth(const std::string& model, int64_t depth) {
  queue_depth_.Add({{"model", model}}).Set(static_cast<double>(depth));
}

void ServingMetrics::AddRunningBatches(const std::string& model, int64_t delta) {
  running_batches_.Add({{"model", model}}).Increment(static_cast<double>(delta));
}

void ServingMetrics::SetModelReady(const std::string& model, bool ready) {
  {
    absl::MutexLock lock(&known_mu_);
    known_models_.insert(model);
  }
  model_ready_.Add({{"model", model}}).Set(ready ? 1 : 0);
}

void ServingMetrics::AddInflightStreams(int64_t delta) {
  inflight_.Increment(static_cast<double>(delta));
}

void ServingMetrics::ObserveBatch(const std::string& model, int batch_size, int64_t tokens,
                                  double compute_s) {
  batch_size_
      .Add({{"model", model}}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64})
      .Observe(batch_size);
  compute_seconds_.Add({{"model", model}}, LatencyBuckets()).Observe(compute_s);
  tokens_.Add({{"model", model}}).Increment(static_cast<double>(tokens));
  executions_.Add({{"model", model}}).Increment();
  if (compute_s > 0) tokens_per_second_.Add({{"model", model}}).Set(tokens / compute_s);
}

void ServingMetrics::ObserveQueue(const std::string& model, double seconds) {
  queue_seconds_.Add({{"model", model}}, LatencyBuckets()).Observe(seconds);
}

void ServingMetrics::ObserveStream(const std::string& model, double seconds) {
  stream_seconds_.Add({{"model", model}}, LatencyBuckets()).Observe(seconds);
}

void ServingMetrics::ObserveRequest(const std::string& model, double seconds) {
  request_seconds_.Add({{"model", model}}, LatencyBuckets()).Observe(seconds);
}

void ServingMetrics::AddLayersComputed(const std::string& model, int64_t n) {
  layers_.Add({{"model", model}}).Increment(static_cast<double>(n));
}

void ServingMetrics::AddStreamed(int64_t messages, int64_t bytes) {
  stream_messages_.Increment(static_cast<double>(messages));
  stream_bytes_.Increment(static_cast<double>(bytes));
}

void ServingMetrics::SetGpuMemoryBytes(int64_t used, int64_t reserved) {
  gpu_memory_.Add({{"state", "used"}}).Set(static_cast<double>(used));
  gpu_memory_.Add({{"state", "reserved"}}).Set(static_cast<double>(reserved));
}

}  // namespace mamba_explain
