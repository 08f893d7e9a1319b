#include "server/http_explain_stream.h"

#include <utility>

namespace mamba_explain {

HttpExplainStream::HttpExplainStream(v1::Explainer::StubInterface* stub,
                                     const v1::ExplainRequest& request,
                                     const std::string& authorization, absl::Time deadline,
                                     size_t max_buffered_bytes)
    : max_buffered_bytes_(max_buffered_bytes) {
  if (!authorization.empty()) context_.AddMetadata("authorization", authorization);
  if (deadline != absl::InfiniteFuture()) context_.set_deadline(absl::ToChronoTime(deadline));
  reader_ = stub->Explain(&context_, request);
  thread_ = std::thread([this] { Read(); });
}

HttpExplainStream::~HttpExplainStream() {
  Cancel();
  thread_.join();
}

void HttpExplainStream::Read() {
  v1::ExplainResponse message;
  while (reader_->Read(&message)) {
    const size_t bytes = message.ByteSizeLong();
    absl::MutexLock lock(&mu_);
    // One message always fits, so a message larger than the limit cannot stall the stream.
    auto room = [this, bytes]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return cancelled_ || queue_.empty() || queued_bytes_ + bytes <= max_buffered_bytes_;
    };
    mu_.Await(absl::Condition(&room));
    if (cancelled_) break;
    queued_bytes_ += bytes;
    queue_.push_back(std::move(message));
    message.Clear();
  }
  // After a cancellation Finish returns CANCELLED at once, unread messages or not.
  grpc::Status status = reader_->Finish();
  absl::MutexLock lock(&mu_);
  status_ = std::move(status);
  done_ = true;
}

HttpExplainStream::Event HttpExplainStream::Next(absl::Duration timeout,
                                                 v1::ExplainResponse* message,
                                                 grpc::Status* status) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queue_.empty() || done_; };
  if (!mu_.AwaitWithTimeout(absl::Condition(&ready), timeout)) return Event::kTimeout;
  if (!queue_.empty()) {
    *message = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= message->ByteSizeLong();
    return Event::kMessage;
  }
  *status = status_;
  return Event::kDone;
}

void HttpExplainStream::Cancel() {
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_ || done_) return;
    cancelled_ = true;
  }
  context_.TryCancel();
}

}  // namespace mamba_explain
