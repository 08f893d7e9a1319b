// One Explain call of the HTTP gateway, read from the gRPC service on a thread of its own so that
// the HTTP thread can wait for the next message with a timeout (and write keep-alives meanwhile,
// which is how it notices a client that went away). The reader holds at most max_buffered_bytes
// of messages the HTTP client has not taken yet and then stops reading, so the service's own
// backpressure (--max_stream_buffer_bytes, --stream_stall_timeout_s) applies to HTTP clients as
// it does to gRPC ones. Cancel() cancels the gRPC call (the service then stops the job at its
// next cancellation point); the destructor cancels and joins. Next() and Cancel() may be called
// from any one thread while the reader runs.
#ifndef MAMBA_EXPLAIN_SERVER_HTTP_EXPLAIN_STREAM_H_
#define MAMBA_EXPLAIN_SERVER_HTTP_EXPLAIN_STREAM_H_

#include <grpcpp/grpcpp.h>

#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mamba_explain/v1/explain.grpc.pb.h"

namespace mamba_explain {

class HttpExplainStream {
 public:
  // Starts the call. `authorization` (the HTTP Authorization header, may be empty) is sent as
  // the gRPC "authorization" metadata; `deadline` may be absl::InfiniteFuture().
  HttpExplainStream(v1::Explainer::StubInterface* stub, const v1::ExplainRequest& request,
                    const std::string& authorization, absl::Time deadline,
                    size_t max_buffered_bytes);
  ~HttpExplainStream();
  HttpExplainStream(const HttpExplainStream&) = delete;
  HttpExplainStream& operator=(const HttpExplainStream&) = delete;

  enum class Event { kMessage, kTimeout, kDone };
  // Waits up to `timeout` for the next message (kMessage, *message filled), or for the end of the
  // call once every message was taken (kDone, *status filled: the call's final status).
  Event Next(absl::Duration timeout, v1::ExplainResponse* message, grpc::Status* status);
  void Cancel();

 private:
  void Read();

  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderInterface<v1::ExplainResponse>> reader_;
  const size_t max_buffered_bytes_;
  absl::Mutex mu_;
  std::deque<v1::ExplainResponse> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // last: starts after everything above exists
};

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVER_HTTP_EXPLAIN_STREAM_H_
