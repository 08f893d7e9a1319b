// ExplainService: the Explainer gRPC service on the callback API. It only translates: auth ->
// readiness/drain gate -> proto to ExplainSpec -> validation -> the model's DynamicBatcher, and
// results back to messages. Explain runs one ServerWriteReactor per call (explain_reactor in the
// .cc): at most one write in flight, results queued under a mutex by the batcher's thread,
// Finish exactly once after the batcher released the job, delete only in OnDone. Reactions never
// block. Thread-safe; registry, metrics and authenticator must outlive the service.
#ifndef MAMBA_EXPLAIN_SERVER_EXPLAIN_SERVICE_H_
#define MAMBA_EXPLAIN_SERVER_EXPLAIN_SERVICE_H_

#include <atomic>
#include <cstdint>

#include "mamba_explain/v1/explain.grpc.pb.h"
#include "server/auth.h"
#include "serving/metrics.h"
#include "serving/model_registry.h"
#include "serving/request_validation.h"

namespace mamba_explain {

struct ServiceOptions {
  ServingLimits limits;
  size_t max_message_payload_bytes = 960 * 1024;  // < 1 MiB with framing
};

class ExplainService final : public v1::Explainer::CallbackService {
 public:
  // authenticator may be null (no token auth).
  ExplainService(const ServiceOptions& options, ModelRegistry* registry, ServingMetrics* metrics,
                 const TokenAuthenticator* authenticator);

  grpc::ServerWriteReactor<v1::ExplainResponse>* Explain(
      grpc::CallbackServerContext* context, const v1::ExplainRequest* request) override;
  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context,
                                       const v1::ListModelsRequest* request,
                                       v1::ListModelsResponse* response) override;
  grpc::ServerUnaryReactor* GetModel(grpc::CallbackServerContext* context,
                                     const v1::GetModelRequest* request,
                                     v1::ModelInfo* response) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const v1::TokenizeRequest* request,
                                     v1::TokenizeResponse* response) override;

  // New Explain calls get UNAVAILABLE from now on; running ones continue.
  void StartDraining() { draining_ = true; }
  bool draining() const { return draining_; }
  int64_t inflight_streams() const { return inflight_; }

  // Used by the reactor.
  const ServiceOptions& options() const { return options_; }
  ModelRegistry* registry() const { return registry_; }
  ServingMetrics* metrics() const { return metrics_; }
  absl::Status Authenticate(const grpc::CallbackServerContext* context) const;
  void StreamStarted();
  void StreamDone();

 private:
  grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context, const char* rpc,
                                        const std::string& model, const absl::Status& status);

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
