// The report of `mamba-explain perf`: one LevelReport per load level (concurrency or request
// rate), summarised from its samples: throughput of OK requests, client-side latency percentiles
// (OK requests), status counts by code name, and the server's own split of each request's time
// from its Summary (queue, compute, stream, total; mean batch size). Printed as a table and
// written as JSON (one object per level) and CSV (one row per level).
#ifndef MAMBA_EXPLAIN_CLIENT_PERF_REPORT_H_
#define MAMBA_EXPLAIN_CLIENT_PERF_REPORT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "client/perf_load.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {

// Percentiles in milliseconds (nearest rank); zeros when there are no values.
struct LatencyStats {
  int64_t count = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
};
LatencyStats ComputeLatencyStats(std::vector<double> values_ms);

struct LevelReport {
  int concurrency = 0;      // closed loop; the configured value (open loop: max in flight)
  double request_rate = 0;  // open loop: the configured rate; 0 = closed loop
  double window_s = 0;
  int64_t completed = 0;  // every status, completed in the window
  int64_t ok = 0;
  double throughput_rps = 0;                     // OK completions per second of the window
  double issued_rps = 0;                         // requests started per second of the window
  LatencyStats latency_ms;                       // client-side, OK requests
  std::map<std::string, int64_t> status_counts;  // "OK", "RESOURCE_EXHAUSTED", ...
  // From the server's Summary of each OK request.
  LatencyStats server_queue_ms, server_compute_ms, server_stream_ms, server_total_ms;
  double mean_batch_size = 0;
  double mean_response_bytes = 0;
  int64_t max_in_flight = 0;
  int64_t cancelled_at_drain = 0;
};

LevelReport SummarizeLevel(const LoadLevelResult& result, int concurrency, double request_rate);

nlohmann::json LevelJson(const LevelReport& level);
// The CSV header and one row per level.
std::string LevelsCsv(const std::vector<LevelReport>& levels);
// A fixed-width table for the terminal.
std::string LevelsTable(const std::vector<LevelReport>& levels);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_CLIENT_PERF_REPORT_H_
