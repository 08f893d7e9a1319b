#include "client/perf_report.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace mamba_explain {
namespace {

// Nearest rank: the smallest value with at least p% of the values at or below it.
double Percentile(const std::vector<double>& sorted, double p) {
  const size_t n = sorted.size();
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(n)));
  rank = std::min(std::max<size_t>(rank, 1), n);
  return sorted[rank - 1];
}

nlohmann::json StatsJson(const LatencyStats& s) {
  return {{"count", s.count}, {"mean", s.mean}, {"p50", s.p50},
          {"p90", s.p90},     {"p99", s.p99},   {"max", s.max}};
}

}  // namespace

LatencyStats ComputeLatencyStats(std::vector<double> values_ms) {
  LatencyStats s;
  if (values_ms.empty()) return s;
  std::sort(values_ms.begin(), values_ms.end());
  s.count = static_cast<int64_t>(values_ms.size());
  s.mean = std::accumulate(values_ms.begin(), values_ms.end(), 0.0) / values_ms.size();
  s.p50 = Percentile(values_ms, 50);
  s.p90 = Percentile(values_ms, 90);
  s.p99 = Percentile(values_ms, 99);
  s.max = values_ms.back();
  return s;
}

LevelReport SummarizeLevel(const LoadLevelResult& result, int concurrency, double request_rate) {
  LevelReport r;
  r.concurrency = request_rate > 0 ? static_cast<int>(result.max_in_flight) : concurrency;
  r.request_rate = request_rate;
  r.window_s = result.window_s;
  r.max_in_flight = result.max_in_flight;
  r.cancelled_at_drain = result.cancelled_at_drain;
  std::vector<double> latency, queue, compute, stream, total;
  double batch_sum = 0, bytes_sum = 0;
  int64_t with_summary = 0;
  for (const RequestSample& s : result.samples) {
    ++r.completed;
    ++r.status_counts[absl::StatusCodeToString(static_cast<absl::StatusCode>(s.status_code))];
    if (s.status_code != 0) continue;
    ++r.ok;
    latency.push_back(absl::ToDoubleMilliseconds(s.end - s.start));
    bytes_sum += static_cast<double>(s.response_bytes);
    if (!s.has_summary) continue;
    ++with_summary;
    queue.push_back(s.summary.queue_ms());
    compute.push_back(s.summary.compute_ms());
    stream.push_back(s.summary.stream_ms());
    total.push_back(s.summary.total_ms());
    batch_sum += s.summary.batch_size();
  }
  if (r.window_s > 0) {
    r.throughput_rps = static_cast<double>(r.ok) / r.window_s;
    r.issued_rps = static_cast<double>(result.issued_in_window) / r.window_s;
  }
  r.latency_ms = ComputeLatencyStats(std::move(latency));
  r.server_queue_ms = ComputeLatencyStats(std::move(queue));
  r.server_compute_ms = ComputeLatencyStats(std::move(compute));
  r.server_stream_ms = ComputeLatencyStats(std::move(stream));
  r.server_total_ms = ComputeLatencyStats(std::move(total));
  if (with_summary > 0) r.mean_batch_size = batch_sum / static_cast<double>(with_summary);
  if (r.ok > 0) r.mean_response_bytes = bytes_sum / static_cast<double>(r.ok);
  return r;
}

nlohmann::json LevelJson(const LevelReport& level) {
  nlohmann::json j;
  j["concurrency"] = level.concurrency;
  j["request_rate"] = level.request_rate;
  j["window_s"] = level.window_s;
  j["completed"] = level.completed;
  j["ok"] = level.ok;
  j["throughput_rps"] = level.throughput_rps;
  j["issued_rps"] = level.issued_rps;
  j["latency_ms"] = StatsJson(level.latency_ms);
  j["status_counts"] = level.status_counts;
  j["server_ms"] = {{"queue", StatsJson(level.server_queue_ms)},
                    {"compute", StatsJson(level.server_compute_ms)},
                    {"stream", StatsJson(level.server_stream_ms)},
                    {"total", StatsJson(level.server_total_ms)}};
  j["mean_batch_size"] = level.mean_batch_size;
  j["mean_response_bytes"] = level.mean_response_bytes;
  j["max_in_flight"] = level.max_in_flight;
  j["cancelled_at_drain"] = level.cancelled_at_drain;
  return j;
}

std::string LevelsCsv(const std::vector<LevelReport>& levels) {
  std::string out =
      "concurrency,request_rate,window_s,completed,ok,throughput_rps,latency_p50_ms,"
      "latency_p90_ms,latency_p99_ms,latency_mean_ms,server_queue_mean_ms,"
      "server_compute_mean_ms,server_stream_mean_ms,server_total_mean_ms,mean_batch_size,"
      "status_counts\n";
  for (const LevelReport& l : levels) {
    std::vector<std::string> codes;
    for (const auto& [code, n] : l.status_counts) codes.push_back(absl::StrCat(code, "=", n));
    absl::StrAppend(
        &out, absl::StrFormat(
                  "%d,%g,%g,%d,%d,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.2f,%s\n",
                  l.concurrency, l.request_rate, l.window_s, l.completed, l.ok, l.throughput_rps,
                  l.latency_ms.p50, l.latency_ms.p90, l.latency_ms.p99, l.latency_ms.mean,
                  l.server_queue_ms.mean, l.server_compute_ms.mean, l.server_stream_ms.mean,
                  l.server_total_ms.mean, l.mean_batch_size, absl::StrJoin(codes, ";")));
  }
  return out;
}

std::string LevelsTable(const std::vector<LevelReport>& levels) {
  std::string out = absl::StrFormat("%11s %9s %10s %9s %9s %9s %9s %9s %9s %6s  %s\n",
                                    "concurrency", "rate", "req/s", "p50 ms", "p90 ms", "p99 ms",
                                    "queue ms", "compute", "stream", "batch", "status");
  for (const LevelReport& l : levels) {
    std::vector<std::string> codes;
    for (const auto& [code, n] : l.status_counts) codes.push_back(absl::StrCat(code, "=", n));
    absl::StrAppend(
        &out, absl::StrFormat(
                  "%11d %9s %10.2f %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f %6.2f  %s\n", l.concurrency,
                  l.request_rate > 0 ? absl::StrFormat("%.1f", l.request_rate) : "-",
                  l.throughput_rps, l.latency_ms.p50, l.latency_ms.p90, l.latency_ms.p99,
                  l.server_queue_ms.mean, l.server_compute_ms.mean, l.server_stream_ms.mean,
                  l.mean_batch_size, absl::StrJoin(codes, " ")));
  }
  return out;
}

}  // namespace mamba_explain
