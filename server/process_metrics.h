// Process and build metrics for the server's /metrics, in Prometheus's naming conventions:
// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds (from /proc/self on Linux), and
// mamba_explain_build_info{version, backend, device} = 1. Read at scrape time; no state.
#ifndef MAMBA_EXPLAIN_SERVER_PROCESS_METRICS_H_
#define MAMBA_EXPLAIN_SERVER_PROCESS_METRICS_H_

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <string>
#include <vector>

namespace mamba_explain {

class ProcessMetrics : public prometheus::Collectable {
 public:
  // version: the build's version (CMake ME_VERSION); backend, device: the server's flags.
  ProcessMetrics(std::string version, std::string backend, std::string device);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string version_;
  std::string backend_;
  std::string device_;
};

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVER_PROCESS_METRICS_H_
