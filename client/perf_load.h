// The load generator of `mamba-explain perf`: drives one load level against mamba-explaind from
// this process with gRPC's callback API (one reactor per Explain call, no thread or process per
// request), closed loop (a fixed number of requests in flight, each completion starts the next) or
// open loop (Poisson arrivals at a fixed rate, however many are in flight). A level is a warm-up
// window whose completions are discarded, then a measurement window whose completions are the
// samples; requests still in flight at its end are awaited (cancelled after a drain timeout) and
// not counted. Requests come from a RequestSource (seeded: the same seed sends the same requests).
// Thread-safe internally; RunLoadLevel blocks until the level has drained.
#ifndef MAMBA_EXPLAIN_CLIENT_PERF_LOAD_H_
#define MAMBA_EXPLAIN_CLIENT_PERF_LOAD_H_

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/remote_connection.h"
#include "mamba_explain/v1/explain.grpc.pb.h"

namespace mamba_explain {

// Makes the requests of a run: each one a `templates` entry (the method mix, drawn uniformly)
// with `input_lengths` (drawn uniformly) random token ids in [0, vocab_size). Not thread-safe;
// the generator calls it under its lock.
class RequestSource {
 public:
  RequestSource(std::vector<v1::ExplainRequest> templates, std::vector<int32_t> input_lengths,
                int32_t vocab_size, uint64_t seed);
  v1::ExplainRequest Next();

 private:
  std::vector<v1::ExplainRequest> templates_;
  std::vector<int32_t> input_lengths_;
  int32_t vocab_size_;
  std::mt19937_64 rng_;
  uint64_t issued_ = 0;
};

struct LoadLevelOptions {
  int concurrency = 1;      // closed loop: requests in flight (when request_rate == 0)
  double request_rate = 0;  // open loop: mean arrivals per second (Poisson); 0 = closed loop
  absl::Duration warmup = absl::Seconds(2);
  absl::Duration measurement = absl::Seconds(10);
  // After the measurement window, in-flight requests get this long to finish before they are
  // cancelled (they are not counted either way).
  absl::Duration drain_timeout = absl::Seconds(30);
  uint64_t seed = 0;  // open loop: arrival times
};

// One completed request.
struct RequestSample {
  absl::Time start;
  absl::Time end;
  int status_code = 0;  // grpc::StatusCode (same numbers as absl::StatusCode)
  std::string method;   // the request's methods, '+'-joined
  int32_t input_length = 0;
  int64_t messages = 0;        // responses received
  int64_t response_bytes = 0;  // their serialized size
  bool has_summary = false;
  v1::Summary summary;  // the server's Summary (when the stream ended with one)
};

struct LoadLevelResult {
  std::vector<RequestSample> samples;  // completed inside the measurement window
  double window_s = 0;                 // its length
  int64_t issued_in_window = 0;        // requests started inside it
  int64_t max_in_flight = 0;
  int64_t cancelled_at_drain = 0;  // still in flight after drain_timeout
};

// Progress of a running level, reported about once a second.
struct LoadProgress {
  bool measuring = false;  // false: warm-up
  double elapsed_s = 0;    // in the current window
  double window_s = 0;
  int64_t completed = 0;  // in the current window
  int64_t errors = 0;     // non-OK among them
  int64_t in_flight = 0;
};
using ProgressCallback = std::function<void(const LoadProgress&)>;

// Runs one level; INVALID_ARGUMENT for bad options. `progress` may be null.
absl::StatusOr<LoadLevelResult> RunLoadLevel(v1::Explainer::Stub* stub,
                                             const Connection& connection, RequestSource* source,
                                             const LoadLevelOptions& options,
                                             const ProgressCallback& progress);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_CLIENT_PERF_LOAD_H_
