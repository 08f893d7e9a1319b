// ExplainService: the Explainer gRPC service on the callback API. It only translates: auth ->
// readiness/drain gate -> proto to ExplainSpec -> validation -> the model's DynamicBatcher, and
// results back to messages. Explain runs one ServerWriteReactor per call (explain_reactor in the
// .cc): at most one write in flight, results queued under a mutex by the batcher's thread,
// Finish exactly once after the batcher released the job, delete only in OnDone. Reactions never
// block. Backpressure: a stream holds at most max_stream_buffer_bytes of unwritten messages; the
// batcher's thread (never a reaction) waits for the client to read, up to stream_stall_timeout,
// after which the stream is cancelled. Client strings never reach metric labels (only names of
// the repository's models, after authentication) and status messages are bounded
// (status_mapping.h). The methods are registered raw (ByteBuffer in and out) so that a request
// that is not a valid protobuf gets INVALID_ARGUMENT with a message and is counted, instead of
// gRPC's bare UNIMPLEMENTED; responses are serialized on the producing thread. Thread-safe;
// registry, metrics and authenticator must outlive the service.
#ifndef MAMBA_EXPLAIN_SERVER_EXPLAIN_SERVICE_H_
#define MAMBA_EXPLAIN_SERVER_EXPLAIN_SERVICE_H_

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"
#include "mamba_explain/v1/explain.grpc.pb.h"
#include "server/auth.h"
#include "serving/metrics.h"
#include "serving/model_registry.h"
#include "serving/request_validation.h"

namespace mamba_explain {

struct ServiceOptions {
  ServingLimits limits;
  size_t max_message_payload_bytes = 960 * 1024;  // < 1 MiB with framing
  // Unwritten response bytes one Explain stream may hold (the message in flight included); the
  // producer waits beyond it. One message always fits, so a stream never deadlocks on a limit
  // smaller than a message.
  size_t max_stream_buffer_bytes = 4 << 20;
  // How long the producer waits for a client that reads nothing before the stream is cancelled
  // (it holds the model's worker meanwhile).
  absl::Duration stream_stall_timeout = absl::Seconds(30);
  // Longest text accepted by Explain and Tokenize, checked before tokenizing.
  size_t max_text_bytes = 256 << 10;
  // request_id is echoed in the Header truncated to this many bytes.
  size_t max_request_id_bytes = 128;
};

// Every method of the Explainer service with ByteBuffer requests and responses.
using RawExplainerService = v1::Explainer::WithRawCallbackMethod_Explain<
    v1::Explainer::WithRawCallbackMethod_ListModels<v1::Explainer::WithRawCallbackMethod_GetModel<
        v1::Explainer::WithRawCallbackMethod_Tokenize<v1::Explainer::Service>>>>;

class ExplainService final : public RawExplainerService {
 public:
  // authenticator may be null (no token auth).
  ExplainService(const ServiceOptions& options, ModelRegistry* registry, ServingMetrics* metrics,
                 const TokenAuthenticator* authenticator);

  grpc::ServerWriteReactor<grpc::ByteBuffer>* Explain(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetModel(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;

  // New Explain calls get UNAVAILABLE from now on; running ones continue.
  void StartDraining() { draining_ = true; }
  bool draining() const { return draining_; }
  int64_t inflight_streams() const { return inflight_; }

  // Used by the reactor.
  const ServiceOptions& options() const { return options_; }
  ModelRegistry* registry() const { return registry_; }
  ServingMetrics* metrics() const { return metrics_; }
  absl::Status Authenticate(const grpc::CallbackServerContext* context) const;
  // The model label of a request's metrics: `name` when the repository has that model, else
  // "unknown" (client-chosen names never become series). Call only after authentication.
  std::string MetricModelLabel(const std::string& name) const;
  // RESOURCE_EXHAUSTED when `text` is longer than options().max_text_bytes; checked before the
  // tokenizer sees it.
  absl::Status CheckTextSize(const std::string& text) const;
  void StreamStarted();
  void StreamDone();

 private:
  // Serializes `message` into `response` when status is OK, counts the call and finishes it.
  grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context, const char* rpc,
                                        const std::string& model, absl::Status status,
                                        const google::protobuf::MessageLite& message,
                                        grpc::ByteBuffer* response);

  const ServiceOptions options_;
  ModelRegistry* const registry_;
  ServingMetrics* const metrics_;
  const TokenAuthenticator* const authenticator_;
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> inflight_{0};
  std::atomic<uint64_t> next_request_id_{1};

 public:
  uint64_t NextRequestId() { return next_request_id_++; }
};

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVER_EXPLAIN_SERVICE_H_
