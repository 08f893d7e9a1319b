// `mamba-explain perf`: a load generator for mamba-explaind in the manner of Triton's
// perf_analyzer. For each concurrency level (closed loop) or request rate (open loop, Poisson),
// it runs a warm-up and a measurement window of in-process asynchronous Explain calls with random
// token ids (input lengths and methods drawn from the given lists, seeded), prints a progress line
// on stderr and a table on stdout, and writes JSON (--json) and CSV (--csv): per level the OK
// throughput, latency percentiles, status counts and the server's queue/compute/stream split
// from each Summary. Every `explain` request flag passes through (client/remote_request.h).
#ifndef MAMBA_EXPLAIN_CLIENT_PERF_COMMAND_H_
#define MAMBA_EXPLAIN_CLIENT_PERF_COMMAND_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace mamba_explain {

// INVALID_ARGUMENT for bad flags; FAILED_PRECONDITION when the model is not ready or a level
// completed no request successfully (the report is still written).
absl::Status RunRemotePerf(const std::vector<std::string>& args);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_CLIENT_PERF_COMMAND_H_
