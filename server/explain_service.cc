#include "server/explain_service.h"

#include <cmath>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "server/proto_convert.h"
#include "server/status_mapping.h"

namespace mamba_explain {
namespace {

// Progress messages of one stream are at least this far apart (a method's last excepted): about
// four a second is enough for a bar and an ETA.
constexpr absl::Duration kProgressInterval = absl::Milliseconds(250);

// INVALID_ARGUMENT naming the expected type when `buffer` is not a `Message`.
template <typename Message>
absl::Status ParseRequest(const grpc::ByteBuffer& buffer, Message* message) {
  grpc::ByteBuffer copy(buffer);  // Deserialize consumes its buffer; the copy shares the slices
  if (grpc::SerializationTraits<Message>::Deserialize(&copy, message).ok()) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("the request is not a valid ",
                                                 Message::descriptor()->full_name(), " (",
                                                 buffer.Length(), " bytes of malformed protobuf)"));
}

absl::StatusOr<grpc::ByteBuffer> Serialize(const google::protobuf::MessageLite& message) {
  grpc::ByteBuffer buffer;
  bool own_buffer = false;
  const grpc::Status s = grpc::SerializationTraits<google::protobuf::MessageLite>::Serialize(
      message, &buffer, &own_buffer);
  if (!s.ok())
    return absl::InternalError(absl::StrCat("serializing a response: ", s.error_message()));
  return buffer;
}

// One Explain call. States: admitted (header queued) -> queued in the batcher -> streaming
// (layers queued as they arrive) -> job finished (summary queued) -> Finish -> OnDone (delete).
class ExplainReactor : public grpc::ServerWriteReactor<grpc::ByteBuffer>, public JobSink {
 public:
  ExplainReactor(ExplainService* service, grpc::CallbackServerContext* context)
      : service_(service), context_(context), admitted_(absl::Now()) {
    service_->StreamStarted();
  }

  void Start(const grpc::ByteBuffer& bytes) {
    absl::Status status = service_->Authenticate(context_);
    v1::ExplainRequest request;
    if (status.ok()) status = ParseRequest(bytes, &request);
    if (status.ok()) status = Admit(request);
    if (!status.ok()) {
      {
        absl::MutexLock lock(&mu_);
        DropPendingLocked();
        job_done_ = true;
        final_status_ = status;
      }
      Advance();
    }
  }

  // JobSink (batcher thread). Each message is handed to Push, which waits while the stream's
  // buffer is full: the batcher's thread is the only producer and may block; reactions never do.
  void OnLayer(LayerMatrix matrix) override {
    LayerSendStats stats;
    std::vector<v1::ExplainResponse> messages =
        LayerMessages(matrix, sparsity_, service_->options().max_message_payload_bytes, &stats);
    const float approx_error = matrix.approx_error;
    matrix = LayerMatrix();  // the messages hold the values now
    {
      absl::MutexLock lock(&mu_);
      if (first_result_ == absl::InfinitePast()) first_result_ = absl::Now();
      nnz_ += stats.nnz;
      kept_sum_ += stats.kept_fraction;
      ++matrices_;
      if (!std::isnan(approx_error)) {
        max_error_ = std::isnan(max_error_) ? approx_error : std::max(max_error_, approx_error);
      }
      layer_messages_ += static_cast<int32_t>(messages.size());
    }
    for (const auto& m : messages) Push(m);
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
    }
    for (const auto& m : messages) Push(m);
  }

  bool IsCancelled() const override { return cancelled_.load(); }

  // Only for a request that asked (ExplainRequest.progress): at most one every
  // kProgressInterval, and a method's last (done == total) always. Never waits for the client:
  // an intermediate one is dropped when the stream's buffer is not empty (instead of holding the
  // batch as a result would); a method's last is queued anyway (a few bytes per method).
  void OnProgress(Method method, int64_t done, int64_t total) override {
    if (!want_progress_) return;
    const absl::Time now = absl::Now();
    if (done < total && now - last_progress_ < kProgressInterval) return;
    v1::ExplainResponse response;
    v1::Progress* progress = response.mutable_progress();
    progress->set_method(MethodName(method));
    progress->set_done(done);
    progress->set_total(total);
    absl::StatusOr<grpc::ByteBuffer> serialized = Serialize(response);
    if (!serialized.ok()) return;
    {
      absl::MutexLock lock(&mu_);
      if ((pending_bytes_ > 0 && done < total) || cancelled_.load() || broken_ || finished_) return;
      last_progress_ = now;
      pending_bytes_ += serialized->Length();
      pending_.push_back(*std::move(serialized));
    }
    Advance();
  }

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
        absl::StatusOr<grpc::ByteBuffer> summary = Serialize(response);
        if (summary.ok()) {
          pending_bytes_ += summary->Length();
          pending_.push_back(*std::move(summary));
        } else {
          final_status_ = summary.status();
          DropPendingLocked();
        }
      } else {
        DropPendingLocked();  // an error ends the stream now; partial results are dropped
      }
    }
    Advance();
  }

  // Reactions.
  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      ++messages_done_;
      pending_bytes_ -= current_bytes_;
      current_bytes_ = 0;
      if (!ok) {
        broken_ = true;
        cancelled_ = true;
        DropPendingLocked();
      }
    }
    Advance();
  }

  // Under the lock, so that a producer waiting in Push wakes up; the queued messages are freed
  // now, not when the batcher gets round to finishing the job.
  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    DropPendingLocked();
  }

  // Reads the stream's record under mu_: the batcher thread wrote it (under mu_) before it called
  // Finish, and gRPC runs OnDone after Finish on one of its threads. gRPC's core orders the two,
  // but ThreadSanitizer cannot see that (libgrpc is not instrumented); the lock makes the order
  // one it checks (tools/tsan_check.sh).
  void OnDone() override {
    absl::Status final_status;
    absl::Time first_result;
    int64_t messages_written = 0;
    int64_t bytes_written = 0;
    {
      absl::MutexLock lock(&mu_);
      final_status = final_status_;
      first_result = first_result_;
      messages_written = messages_written_;
      bytes_written = bytes_written_;
    }
    ServingMetrics* metrics = service_->metrics();
    if (metrics) {
      metrics->RequestFinished("Explain", metric_model_, CodeName(final_status));
      if (final_status.ok()) {
        metrics->ObserveRequest(metric_model_, absl::ToDoubleSeconds(absl::Now() - admitted_));
        if (first_result != absl::InfinitePast()) {
          metrics->ObserveStream(metric_model_, absl::ToDoubleSeconds(absl::Now() - first_result));
        }
      }
      metrics->AddStreamed(messages_written, bytes_written);
    }
    service_->StreamDone();
    delete this;
  }

 private:
  absl::Status Admit(const v1::ExplainRequest& request) {
    // Authenticated (Start); only now may the client's model name become a label value (and only a
    // repository's).
    metric_model_ = service_->MetricModelLabel(request.model());
    if (service_->draining()) return absl::UnavailableError("server is draining");
    if (request.model().empty()) return absl::InvalidArgumentError("model is required");
    ASSIGN_OR_RETURN(ModelEntry * entry, service_->registry()->Ready(request.model()));
    RETURN_IF_ERROR(service_->CheckTextSize(request.text()));
    ASSIGN_OR_RETURN(ExplainSpec spec, SpecFromProto(request));
    ASSIGN_OR_RETURN(ValidatedExplain validated,
                     ValidateExplain(spec, *entry->backend, service_->options().limits));
    sparsity_ = validated.sparsity;
    want_progress_ = request.progress();

    const absl::Time deadline = absl::FromChrono(context_->deadline());
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError("deadline passed before the request was queued");
    }
    v1::Header header;
    v1::Header* h = &header;
    h->set_request_id(
        request.request_id().empty()
            ? absl::StrCat("req-", service_->NextRequestId())
            : TruncateUtf8(request.request_id(), service_->options().max_request_id_bytes));
    const BackendInfo& info = entry->backend->info();
    h->set_model(request.model());
    h->set_architecture(info.architecture);
    h->set_n_layers(info.n_layers);
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

    // The proto promises messages <= 1 MiB, and ids and token strings grow with the input: what
    // does not fit in the Header follows it in InputTokens messages. They are all queued now,
    // before the job, so they precede every result (the stream buffer may hold more than its
    // limit for a moment; the first result then waits for the client to read them).
    const size_t max_bytes = service_->options().max_message_payload_bytes;
    std::vector<std::string> token_text;
    token_text.reserve(validated.input.ids.size());
    for (int32_t id : validated.input.ids) token_text.push_back(entry->backend->TokenText(id));
    ASSIGN_OR_RETURN(std::vector<v1::ExplainResponse> first_messages,
                     HeaderMessages(header, validated.input.ids, token_text, max_bytes));
    token_text = std::vector<std::string>();
    std::vector<grpc::ByteBuffer> serialized;
    serialized.reserve(first_messages.size());
    size_t first_bytes = 0;
    for (const v1::ExplainResponse& m : first_messages) {
      ASSIGN_OR_RETURN(grpc::ByteBuffer buffer, Serialize(m));
      if (buffer.Length() > max_bytes) {  // HeaderMessages' bound is exact or over; never here
        return absl::InternalError(
            absl::StrCat(m.has_header() ? "the Header" : "an InputTokens message", " of ",
                         buffer.Length(), " bytes, more than ", max_bytes));
      }
      first_bytes += buffer.Length();
      serialized.push_back(std::move(buffer));
    }
    first_messages.clear();
    deadline_ = deadline;

    auto job = std::make_unique<ExplainJob>();
    job->options = std::move(validated.options);
    job->input = std::move(validated.input);
    job->priority = validated.priority;
    job->deadline = deadline;
    job->sink = this;
    {
      absl::MutexLock lock(&mu_);
      pending_bytes_ += first_bytes;
      for (grpc::ByteBuffer& b : serialized) pending_.push_back(std::move(b));
    }
    RETURN_IF_ERROR(entry->batcher->Enqueue(std::move(job)));
    Advance();
    return absl::OkStatus();
  }

  // Queues one result message once the stream's buffer has room for it (an empty buffer always
  // has), waiting for the client to read: this is the backpressure that keeps a slow reader from
  // holding a whole explanation in memory. Gives up (drops the message) once the stream is
  // cancelled or broken, its deadline passed, or the client read nothing for the stall timeout;
  // then it cancels the call so that the write in flight completes and the job stops.
  void Push(const v1::ExplainResponse& response) {
    absl::StatusOr<grpc::ByteBuffer> serialized = Serialize(response);
    if (!serialized.ok()) {
      absl::MutexLock lock(&mu_);
      if (serialize_error_.ok()) serialize_error_ = serialized.status();
      cancelled_ = true;
      DropPendingLocked();
      return;
    }
    grpc::ByteBuffer message = *std::move(serialized);
    const size_t bytes = message.Length();
    const size_t limit = service_->options().max_stream_buffer_bytes;
    bool give_up = false;
    {
      absl::MutexLock lock(&mu_);
      auto room = [this, bytes, limit]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return pending_bytes_ == 0 || pending_bytes_ + bytes <= limit || cancelled_.load() ||
               broken_ || finished_;
      };
      while (!room()) {
        const int64_t written = messages_done_;
        const absl::Time wait_until =
            std::min(deadline_, absl::Now() + service_->options().stream_stall_timeout);
        mu_.AwaitWithDeadline(absl::Condition(&room), wait_until);
        if (room()) break;
        if (absl::Now() >= deadline_) {
          give_up = true;  // the batcher reports DEADLINE_EXCEEDED
          break;
        }
        if (messages_done_ == written) {  // nothing read for a whole stall timeout
          stalled_ = true;
          give_up = true;
          break;
        }
      }
      if (give_up || cancelled_.load() || broken_ || finished_) {
        cancelled_ = true;
        DropPendingLocked();
      } else {
        pending_bytes_ += bytes;
        pending_.push_back(std::move(message));
      }
    }
    if (give_up) {
      context_->TryCancel();
      return;
    }
    Advance();
  }

  // Frees every queued message; the one in flight stays counted until its OnWriteDone.
  void DropPendingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::deque<grpc::ByteBuffer>().swap(pending_);
    pending_bytes_ = writing_ ? current_bytes_ : 0;
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
        current_bytes_ = current_.Length();
        ++messages_written_;
        bytes_written_ += static_cast<int64_t>(current_bytes_);
        action = kWrite;
      } else if (job_done_) {
        finished_ = true;
        if (stalled_) {
          final_status_ = absl::ResourceExhaustedError(
              absl::StrCat("the client read no results for ",
                           absl::FormatDuration(service_->options().stream_stall_timeout),
                           " with the stream buffer full; stream abandoned"));
        } else if (final_status_.ok() && !serialize_error_.ok()) {
          final_status_ = serialize_error_;
        } else if (final_status_.ok() && (broken_ || cancelled_)) {
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
  std::string metric_model_;  // label value: "" before auth, else a repository model or "unknown"
  absl::Time deadline_ = absl::InfiniteFuture();
  SparsityPolicy sparsity_;
  bool want_progress_ = false;  // ExplainRequest.progress; set before the job is queued
  absl::Time last_progress_ = absl::InfinitePast();  // batcher thread only
  std::atomic<bool> cancelled_{false};

  absl::Mutex mu_;
  std::deque<grpc::ByteBuffer> pending_ ABSL_GUARDED_BY(mu_);  // serialized responses
  grpc::ByteBuffer current_;                                   // the message of the write in flight
  size_t current_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Bytes of pending_ plus the message in flight: what the backpressure bounds.
  size_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t messages_done_ ABSL_GUARDED_BY(mu_) = 0;  // writes completed: progress of the reader
  bool stalled_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status serialize_error_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool job_done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status final_status_ ABSL_GUARDED_BY(mu_);
  absl::Time first_result_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int32_t layer_messages_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t nnz_ ABSL_GUARDED_BY(mu_) = 0;
  double kept_sum_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t matrices_ ABSL_GUARDED_BY(mu_) = 0;
  float max_error_ ABSL_GUARDED_BY(mu_) = std::nanf("");
  int64_t messages_written_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t bytes_written_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

ExplainService::ExplainService(const ServiceOptions& options, ModelRegistry* registry,
                               ServingMetrics* metrics, const TokenAuthenticator* authenticator)
    : options_(options), registry_(registry), metrics_(metrics), authenticator_(authenticator) {}

absl::Status ExplainService::Authenticate(const grpc::CallbackServerContext* context) const {
  if (authenticator_ == nullptr) return absl::OkStatus();
  return authenticator_->Check(context->client_metadata());
}

std::string ExplainService::MetricModelLabel(const std::string& name) const {
  return registry_->Find(name).ok() ? name : "unknown";
}

absl::Status ExplainService::CheckTextSize(const std::string& text) const {
  if (text.size() <= options_.max_text_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat("text is ", text.size(),
                                                   " bytes, more than the server's limit of ",
                                                   options_.max_text_bytes, " (--max_text_bytes)"));
}

void ExplainService::StreamStarted() {
  ++inflight_;
  if (metrics_) metrics_->AddInflightStreams(1);
}

void ExplainService::StreamDone() {
  --inflight_;
  if (metrics_) metrics_->AddInflightStreams(-1);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* ExplainService::Explain(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  auto* reactor = new ExplainReactor(this, context);
  reactor->Start(*request);
  return reactor;
}

grpc::ServerUnaryReactor* ExplainService::FinishUnary(grpc::CallbackServerContext* context,
                                                      const char* rpc, const std::string& model,
                                                      absl::Status status,
                                                      const google::protobuf::MessageLite& message,
                                                      grpc::ByteBuffer* response) {
  if (status.ok()) {
    absl::StatusOr<grpc::ByteBuffer> bytes = Serialize(message);
    if (bytes.ok()) {
      *response = *std::move(bytes);
    } else {
      status = bytes.status();
    }
  }
  if (metrics_) metrics_->RequestFinished(rpc, model, CodeName(status));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* ExplainService::ListModels(grpc::CallbackServerContext* context,
                                                     const grpc::ByteBuffer* bytes,
                                                     grpc::ByteBuffer* response_bytes) {
  absl::Status status = Authenticate(context);
  v1::ListModelsRequest request;
  v1::ListModelsResponse response;
  if (status.ok()) status = ParseRequest(*bytes, &request);
  if (status.ok()) {
    for (const auto& entry : registry_->entries()) {
      FillModelInfo(*entry, options_.limits, response.add_models());
    }
  }
  return FinishUnary(context, "ListModels", "", status, response, response_bytes);
}

grpc::ServerUnaryReactor* ExplainService::GetModel(grpc::CallbackServerContext* context,
                                                   const grpc::ByteBuffer* bytes,
                                                   grpc::ByteBuffer* response_bytes) {
  absl::Status status = Authenticate(context);
  const bool authenticated = status.ok();
  v1::GetModelRequest parsed;
  v1::ModelInfo info;
  const v1::GetModelRequest* request = &parsed;
  v1::ModelInfo* response = &info;
  if (status.ok()) status = ParseRequest(*bytes, &parsed);
  if (status.ok() && request->name().empty()) {
    status = absl::InvalidArgumentError("name is required");
  }
  if (status.ok()) {
    absl::StatusOr<const ModelEntry*> entry = registry_->Find(request->name());
    status = entry.status();
    if (status.ok()) FillModelInfo(**entry, options_.limits, response);
  }
  return FinishUnary(context, "GetModel", authenticated ? MetricModelLabel(request->name()) : "",
                     status, info, response_bytes);
}

grpc::ServerUnaryReactor* ExplainService::Tokenize(grpc::CallbackServerContext* context,
                                                   const grpc::ByteBuffer* bytes,
                                                   grpc::ByteBuffer* response_bytes) {
  absl::Status status = Authenticate(context);
  const bool authenticated = status.ok();
  v1::TokenizeRequest parsed;
  v1::TokenizeResponse tokens;
  const v1::TokenizeRequest* request = &parsed;
  v1::TokenizeResponse* response = &tokens;
  if (status.ok()) status = ParseRequest(*bytes, &parsed);
  if (status.ok() && request->model().empty()) {
    status = absl::InvalidArgumentError("model is required");
  }
  if (status.ok()) {
    absl::StatusOr<ModelEntry*> entry = registry_->Ready(request->model());
    status = entry.status();
    if (status.ok()) status = CheckTextSize(request->text());
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
  return FinishUnary(context, "Tokenize", authenticated ? MetricModelLabel(request->model()) : "",
                     status, tokens, response_bytes);
}

}  // namespace mamba_explain
