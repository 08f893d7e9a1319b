#include "server/explain_service.h"

#include <cmath>
#include <deque>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "server/proto_convert.h"
#include "server/status_mapping.h"

namespace mamba_explain {
namespace {

// One Explain call. States: admitted (header queued) -> queued in the batcher -> streaming
// (layers queued as they arrive) -> job finished (summary queued) -> Finish -> OnDone (delete).
class ExplainReactor : public grpc::ServerWriteReactor<v1::ExplainResponse>, public JobSink {
 public:
  ExplainReactor(ExplainService* service, grpc::CallbackServerContext* context)
      : service_(service), context_(context), admitted_(absl::Now()) {
    service_->StreamStarted();
  }

  void Start(const v1::ExplainRequest& request) {
    model_ = request.model();
    absl::Status status = Admit(request);
    if (!status.ok()) {
      {
        absl::MutexLock lock(&mu_);
        pending_.clear();
        job_done_ = true;
        final_status_ = status;
      }
      Advance();
    }
  }

  // JobSink (batcher thread).
  void OnLayer(LayerMatrix matrix) override {
    LayerSendStats stats;
    std::vector<v1::ExplainResponse> messages =
        LayerMessages(matrix, sparsity_, service_->options().max_message_payload_bytes, &stats);
    {
      absl::MutexLock lock(&mu_);
      if (first_result_ == absl::InfinitePast()) first_result_ = absl::Now();
      nnz_ += stats.nnz;
      kept_sum_ += stats.kept_fraction;
      ++matrices_;
      if (!std::isnan(matrix.approx_error)) {
        max_error_ = std::isnan(max_error_) ? matrix.approx_error
                                            : std::max(max_error_, matrix.approx_error);
      }
      layer_messages_ += static_cast<int32_t>(messages.size());
      for (auto& m : messages) pending_.push_back(std::move(m));
    }
    Advance();
  }

  void OnTokenScores(TokenScoreRows scores) override {
    std::vector<v1::ExplainResponse> messages =
        TokenScoresMessages(scores, service_->options().max_message_payload_bytes);
    {
      absl::MutexLock lock(&mu_);
      if (first_result_ == absl::InfinitePast()) first_result_ = absl::Now();
      if (!std::isnan(scores.approx_error)) {
        max_error_ = std::isnan(max_error_) ? scores.approx_error
                                            : std::max(max_error_, scores.approx_error);
      }
      for (auto& m : messages) pending_.push_back(std::move(m));
    }
    Advance();
  }

  bool IsCancelled() const override { return cancelled_.load(); }

  void OnFinished(absl::Status status, const JobStats& stats) override {
    {
      absl::MutexLock lock(&mu_);
      final_status_ = status;
      job_done_ = true;
      if (status.ok()) {
        v1::ExplainResponse response;
        v1::Summary* s = response.mutable_summary();
        s->set_queue_ms(absl::ToDoubleMilliseconds(stats.queue_time));
        s->set_compute_ms(absl::ToDoubleMilliseconds(stats.compute_time));
        s->set_batch_size(stats.batch_size);
        s->set_batch_tokens(static_cast<int32_t>(stats.batch_tokens));
        s->set_layer_results(layer_messages_);
        s->set_nnz(nnz_);
        s->set_kept_mass(matrices_ > 0 ? static_cast<float>(kept_sum_ / matrices_) : 1.f);
        s->set_max_approx_error(max_error_);
        const absl::Time now = absl::Now();
        s->set_stream_ms(first_result_ == absl::InfinitePast()
                             ? 0.0
                             : absl::ToDoubleMilliseconds(now - first_result_));
        s->set_total_ms(absl::ToDoubleMilliseconds(now - admitted_));
        pending_.push_back(std::move(response));
      } else {
        pending_.clear();  // an error ends the stream now; partial results are dropped
      }
    }
    Advance();
  }

  // Reactions.
  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        broken_ = true;
        cancelled_ = true;
        pending_.clear();
      }
    }
    Advance();
  }

  void OnCancel() override { cancelled_ = true; }

  void OnDone() override {
    ServingMetrics* metrics = service_->metrics();
    if (metrics) {
      metrics->RequestFinished("Explain", model_, CodeName(final_status_));
      if (final_status_.ok()) {
        metrics->ObserveRequest(model_, absl::ToDoubleSeconds(absl::Now() - admitted_));
        if (first_result_ != absl::InfinitePast()) {
          metrics->ObserveStream(model_, absl::ToDoubleSeconds(absl::Now() - first_result_));
        }
      }
      metrics->AddStreamed(messages_written_, bytes_written_);
    }
    service_->StreamDone();
    delete this;
  }

 private:
  absl::Status Admit(const v1::ExplainRequest& request) {
    RETURN_IF_ERROR(service_->Authenticate(context_));
    if (service_->draining()) return absl::UnavailableError("server is draining");
    if (request.model().empty()) return absl::InvalidArgumentError("model is required");
    ASSIGN_OR_RETURN(ModelEntry * entry, service_->registry()->Ready(request.model()));
    ASSIGN_OR_RETURN(ExplainSpec spec, SpecFromProto(request));
    ASSIGN_OR_RETURN(ValidatedExplain validated,
                     ValidateExplain(spec, *entry->backend, service_->options().limits));
    sparsity_ = validated.sparsity;

    const absl::Time deadline = absl::FromChrono(context_->deadline());
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError("deadline passed before the request was queued");
    }
    v1::ExplainResponse header_message;
    v1::Header* h = header_message.mutable_header();
    h->set_request_id(request.request_id().empty() ? absl::StrCat("req-", service_->NextRequestId())
                                                   : request.request_id());
    const BackendInfo& info = entry->backend->info();
    h->set_model(request.model());
    h->set_architecture(info.architecture);
    h->set_n_layers(info.n_layers);
    for (int32_t id : validated.input.ids) {
      h->add_token_ids(id);
      h->add_tokens(entry->backend->TokenText(id));
    }
    for (Method m : validated.options.methods) h->add_methods(MethodName(m));
    h->mutable_layers()->Add(validated.options.layers.begin(), validated.options.layers.end());
    h->mutable_target_rows()->Add(validated.input.target_rows.begin(),
                                  validated.input.target_rows.end());
    h->mutable_target_tokens()->Add(validated.input.target_tokens.begin(),
                                    validated.input.target_tokens.end());
    h->set_num_columns(static_cast<int32_t>(validated.input.ids.size()));
    *h->mutable_sparsity() = SparsityToProto(validated.sparsity);
    h->set_precision(PrecisionToProto(validated.options.precision));
    h->set_activation(ActivationToProto(validated.options.activation));

    auto job = std::make_unique<ExplainJob>();
    job->options = std::move(validated.options);
    job->input = std::move(validated.input);
    job->priority = validated.priority;
    job->deadline = deadline;
    job->sink = this;
    {
      absl::MutexLock lock(&mu_);
      pending_.push_back(std::move(header_message));
    }
    RETURN_IF_ERROR(entry->batcher->Enqueue(std::move(job)));
    Advance();
    return absl::OkStatus();
  }

  // Starts the next write, or Finish()es once the job is done and everything is written.
  // Decides under the lock, acts outside it; after Finish nothing here touches `this`.
  void Advance() {
    enum { kNothing, kWrite, kFinish } action = kNothing;
    grpc::Status finish_status;
    {
      absl::MutexLock lock(&mu_);
      if (finished_ || writing_) return;
      if (!pending_.empty() && !broken_) {
        current_ = std::move(pending_.front());
        pending_.pop_front();
        writing_ = true;
        ++messages_written_;
        bytes_written_ += static_cast<int64_t>(current_.ByteSizeLong());
        action = kWrite;
      } else if (job_done_) {
        finished_ = true;
        if (final_status_.ok() && (broken_ || cancelled_)) {
          final_status_ = absl::CancelledError("request cancelled by the client");
        }
        finish_status = ToGrpcStatus(final_status_);
        action = kFinish;
      }
    }
    if (action == kWrite) StartWrite(&current_);
    if (action == kFinish) Finish(finish_status);
  }

  ExplainService* const service_;
  grpc::CallbackServerContext* const context_;
  const absl::Time admitted_;
  std::string model_;
  SparsityPolicy sparsity_;
  std::atomic<bool> cancelled_{false};

  absl::Mutex mu_;
  std::deque<v1::ExplainResponse> pending_ ABSL_GUARDED_BY(mu_);
  v1::ExplainResponse current_;  // the message of the write in flight
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool job_done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status final_status_;  // written before job_done_, read after Finish
  absl::Time first_result_ = absl::InfinitePast();
  int32_t layer_messages_ = 0;
  int64_t nnz_ = 0;
  double kept_sum_ = 0;
  int64_t matrices_ = 0;
  float max_error_ = std::nanf("");
  int64_t messages_written_ = 0;
  int64_t bytes_written_ = 0;
};

}  // namespace

ExplainService::ExplainService(const ServiceOptions& options, ModelRegistry* registry,
                               ServingMetrics* metrics, const TokenAuthenticator* authenticator)
    : options_(options), registry_(registry), metrics_(metrics), authenticator_(authenticator) {}

absl::Status ExplainService::Authenticate(const grpc::CallbackServerContext* context) const {
  if (authenticator_ == nullptr) return absl::OkStatus();
  return authenticator_->Check(context->client_metadata());
}

void ExplainService::StreamStarted() {
  const int64_t n = ++inflight_;
  if (metrics_) metrics_->SetInflightStreams(n);
}

void ExplainService::StreamDone() {
  const int64_t n = --inflight_;
  if (metrics_) metrics_->SetInflightStreams(n);
}

grpc::ServerWriteReactor<v1::ExplainResponse>* ExplainService::Explain(
    grpc::CallbackServerContext* context, const v1::ExplainRequest* request) {
  auto* reactor = new ExplainReactor(this, context);
  reactor->Start(*request);
  return reactor;
}

grpc::ServerUnaryReactor* ExplainService::FinishUnary(grpc::CallbackServerContext* context,
                                                      const char* rpc, const std::string& model,
                                                      const absl::Status& status) {
  if (metrics_) metrics_->RequestFinished(rpc, model, CodeName(status));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* ExplainService::ListModels(grpc::CallbackServerContext* context,
                                                     const v1::ListModelsRequest* request,
                                                     v1::ListModelsResponse* response) {
  absl::Status status = Authenticate(context);
  if (status.ok()) {
    for (const auto& entry : registry_->entries()) {
      FillModelInfo(*entry, options_.limits, response->add_models());
    }
  }
  return FinishUnary(context, "ListModels", "", status);
}

grpc::ServerUnaryReactor* ExplainService::GetModel(grpc::CallbackServerContext* context,
                                                   const v1::GetModelRequest* request,
                                                   v1::ModelInfo* response) {
  absl::Status status = Authenticate(context);
  if (status.ok() && request->name().empty()) {
    status = absl::InvalidArgumentError("name is required");
  }
  if (status.ok()) {
    absl::StatusOr<const ModelEntry*> entry = registry_->Find(request->name());
    status = entry.status();
    if (status.ok()) FillModelInfo(**entry, options_.limits, response);
  }
  return FinishUnary(context, "GetModel", request->name(), status);
}

grpc::ServerUnaryReactor* ExplainService::Tokenize(grpc::CallbackServerContext* context,
                                                   const v1::TokenizeRequest* request,
                                                   v1::TokenizeResponse* response) {
  absl::Status status = Authenticate(context);
  if (status.ok() && request->model().empty()) {
    status = absl::InvalidArgumentError("model is required");
  }
  if (status.ok()) {
    absl::StatusOr<ModelEntry*> entry = registry_->Ready(request->model());
    status = entry.status();
    if (status.ok()) {
      const ExplainBackend& backend = *(*entry)->backend;
      absl::StatusOr<std::vector<int32_t>> ids = backend.Tokenize(request->text());
      status = ids.status();
      if (status.ok()) {
        for (int32_t id : *ids) {
          response->add_token_ids(id);
          response->add_tokens(backend.TokenText(id));
        }
      }
    }
  }
  return FinishUnary(context, "Tokenize", request->model(), status);
}

}  // namespace mamba_explain
